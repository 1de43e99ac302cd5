"""The `memory-mcp` command: serve MCP (what it does bare), and look at, correct, move and back up memories."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import sys
from collections.abc import Callable, Coroutine, Iterator, Mapping
from dataclasses import replace
from pathlib import Path
from typing import IO, Any, Final, NoReturn, TypeVar

import click
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, DownloadColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from . import __version__, archive
from .checkup import check
from .config import Settings, click_options, resolve
from .errors import ConfigError, InvalidInputError, MemoryMCPError
from .pg_store import POSTGRES_SCHEMES, redact
from .schemas import HistoryEntryOut, MemoryOut, MemoryPageOut, SearchHitOut, UserStatsOut
from .serving import open_embedder, open_engine, serve
from .store import SqliteStore

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])

# Tables for people; piped, they are laid out 120 wide (scripts should use --json).
out = Console(highlight=False, width=None if sys.stdout.isatty() else 120)
err = Console(stderr=True, highlight=False)


class Failure(click.ClickException):
    """A failure, reported as `memory-mcp: <what went wrong and what to do>`; exit code 1."""

    def show(self, file: IO[Any] | None = None) -> None:
        click.echo(f"memory-mcp: {self.format_message()}", err=True)


class BadInput(Failure):
    """A failure caused by what the user gave; exit code 2, as for a usage error."""

    exit_code = 2


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run one command's async body; our errors become a message and exit code (2: bad input, 1: other)."""
    try:
        return asyncio.run(coroutine)
    except (ConfigError, InvalidInputError) as exc:
        raise BadInput(str(exc)) from None
    except MemoryMCPError as exc:
        raise Failure(str(exc)) from None


def settings_of(given: Mapping[str, Any]) -> Settings:
    """Settings from this command's flags, the main command's flags, then env vars and defaults."""
    context = click.get_current_context()
    root = context.find_root().obj or {}
    merged = {**root, **{name: value for name, value in given.items() if value is not None}}
    try:
        settings = resolve(merged, os.environ)
    except ConfigError as exc:
        raise BadInput(str(exc)) from None
    logging.getLogger("memory_mcp").setLevel(settings.log_level)
    return settings


def with_options(params: list[click.Option]) -> Callable[[F], F]:
    """Attach generated click options to a command function."""

    def attach(function: F) -> F:
        for param in reversed(params):
            click.decorators._param_memo(function, param)
        return function

    return attach


def scope_options(*, required: bool = True) -> Callable[[F], F]:
    """--user (or MEMORY_MCP_USER), --agent and --run."""

    def attach(function: F) -> F:
        function = click.option(
            "--run", "run_id", metavar="RUN", help="Only the memories of this run (conversation or session)."
        )(function)
        function = click.option("--agent", "agent_id", metavar="AGENT", help="Only the memories of this agent.")(
            function
        )
        return click.option(
            "--user",
            "-u",
            "user_id",
            metavar="USER",
            envvar="MEMORY_MCP_USER",
            required=required,
            help="Whose memories (env MEMORY_MCP_USER).",
        )(function)

    return attach


json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts instead of a table.")
data_options = with_options(click_options(serving=False))


def emit(value: Any) -> None:
    """Print JSON on stdout."""
    click.echo(json.dumps(value, indent=2, ensure_ascii=False))


def memory_table(memories: list[MemoryOut], *, scores: list[float] | None = None, title: str | None = None) -> Table:
    """Memories as a table for people."""
    table = Table(title=title, show_lines=False, expand=False)
    if scores is not None:
        table.add_column("score", justify="right", no_wrap=True)
    table.add_column("id", no_wrap=True, style="cyan")
    table.add_column("text", overflow="fold", min_width=24, ratio=3)
    table.add_column("stored", no_wrap=True)
    table.add_column("metadata", overflow="fold", ratio=1)
    for position, memory in enumerate(memories):
        row = [
            escape(memory.id),
            escape(memory.text),
            _day(memory.created_at),
            escape(json.dumps(memory.metadata, ensure_ascii=False)) if memory.metadata else "",
        ]
        if scores is not None:
            row.insert(0, f"{scores[position]:.3f}")
        table.add_row(*row)
    return table


@contextlib.contextmanager
def progress_bar(description: str, total: int | None, *, in_bytes: bool = False) -> Iterator[Callable[[int], None]]:
    """A progress bar on stderr (shown on a terminal only); yields `advance(n)`."""
    columns = [TextColumn("{task.description}"), BarColumn()]
    columns += [DownloadColumn()] if in_bytes else [MofNCompleteColumn()]
    with Progress(*columns, TimeRemainingColumn(), console=err, disable=not err.is_terminal, transient=True) as bar:
        task = bar.add_task(description, total=total)
        yield lambda n: bar.advance(task, n)


# -- the commands ----------------------------------------------------------------------------------


@click.group(
    invoke_without_command=True,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110},
    epilog="Without a command it serves MCP on stdio, as MCP hosts launch it. "
    "Every option also reads an env var MEMORY_MCP_*; `memory-mcp COMMAND --help` shows a command's options.",
)
@click.version_option(__version__, "--version", "-V", prog_name="memory-mcp")
@with_options(click_options(serving=True))
@click.pass_context
def app(context: click.Context, /, **given: Any) -> None:
    """Long-term memory for AI assistants, over the Model Context Protocol (MCP)."""
    context.obj = {name: value for name, value in given.items() if value is not None}
    if context.invoked_subcommand is None:
        _serve({})


def _serve(given: Mapping[str, Any]) -> None:
    settings = settings_of(given)
    try:
        run(serve(settings))
    except (KeyboardInterrupt, asyncio.CancelledError):
        sys.exit(130)


@app.command("serve")
@with_options(click_options(serving=True))
def serve_command(**given: Any) -> None:
    """Serve MCP over stdio (for MCP hosts) or streamable HTTP (--transport http)."""
    _serve(given)


@app.command("list")
@scope_options()
@click.option("--limit", "-n", default=20, show_default=True, help="How many, newest first.")
@click.option("--cursor", help="Continue after a previous page (its next_cursor).")
@click.option("--filter", "filter_json", metavar="JSON", help='Metadata filter, e.g. \'{"topic": "food"}\'.')
@json_option
@data_options
def list_command(
    user_id: str,
    agent_id: str | None,
    run_id: str | None,
    limit: int,
    cursor: str | None,
    filter_json: str | None,
    as_json: bool,
    **given: Any,
) -> None:
    """List a user's memories, newest first."""

    async def body() -> None:
        async with open_engine(settings_of(given), index=False) as engine:
            page = await engine.page(
                engine.scope(user_id, agent_id, run_id), cursor=cursor, limit=limit, filters=parse_json(filter_json)
            )
        result = MemoryPageOut.of(page)
        if as_json:
            emit(result.model_dump())
            return
        out.print(memory_table(result.memories, title=f"{user_id}: {len(page.memories)} of {page.total}"))
        if page.next_cursor:
            out.print(f"More: memory-mcp list --user {user_id} --cursor {page.next_cursor}")

    run(body())


@app.command("search")
@click.argument("query")
@scope_options()
@click.option("--limit", "-n", default=10, show_default=True, help="How many results at most.")
@click.option("--threshold", type=float, help="Minimum score, from -1 to 1.")
@click.option("--filter", "filter_json", metavar="JSON", help="Metadata filter (see list).")
@json_option
@data_options
def search_command(
    query: str,
    user_id: str,
    agent_id: str | None,
    run_id: str | None,
    limit: int,
    threshold: float | None,
    filter_json: str | None,
    as_json: bool,
    **given: Any,
) -> None:
    """Find a user's memories most related to QUERY, best first."""

    async def body() -> None:
        async with open_engine(settings_of(given)) as engine:
            hits = await engine.search(
                query,
                engine.scope(user_id, agent_id, run_id),
                limit=limit,
                threshold=threshold,
                filters=parse_json(filter_json),
            )
        results = [SearchHitOut.of_hit(hit) for hit in hits]
        if as_json:
            emit({"results": [hit.model_dump() for hit in results]})
        elif not results:
            err.print(f"Nothing stored for {user_id} matches {query!r}.")
        else:
            out.print(memory_table(list(results), scores=[hit.score for hit in results]))

    run(body())


@app.command("show")
@click.argument("memory_id")
@scope_options()
@json_option
@data_options
def show_command(
    memory_id: str, user_id: str, agent_id: str | None, run_id: str | None, as_json: bool, **given: Any
) -> None:
    """Show one memory."""

    async def body() -> None:
        async with open_engine(settings_of(given), index=False) as engine:
            memory = MemoryOut.of(await engine.get(memory_id, engine.scope(user_id, agent_id, run_id)))
        if as_json:
            emit(memory.model_dump())
            return
        for name, value in memory.model_dump().items():
            if value not in (None, {}):
                shown = json.dumps(value, ensure_ascii=False) if isinstance(value, dict) else str(value)
                out.print(f"[bold]{name:>10}[/bold]  {escape(shown)}")

    run(body())


@app.command("history")
@click.argument("memory_id")
@scope_options()
@json_option
@data_options
def history_command(
    memory_id: str, user_id: str, agent_id: str | None, run_id: str | None, as_json: bool, **given: Any
) -> None:
    """Show how one memory changed (also after it was deleted)."""

    async def body() -> None:
        async with open_engine(settings_of(given), index=False) as engine:
            entries = [
                HistoryEntryOut.of(e) for e in await engine.history(memory_id, engine.scope(user_id, agent_id, run_id))
            ]
        if as_json:
            emit({"memory_id": memory_id, "history": [entry.model_dump() for entry in entries]})
            return
        table = Table(title=f"history of {memory_id}")
        for column in ("when", "event", "before", "after"):
            table.add_column(column, overflow="fold", no_wrap=column == "when")
        for entry in entries:
            table.add_row(
                entry.created_at[:19].replace("T", " "),
                entry.event,
                escape(entry.old_text or ""),
                escape(entry.new_text or ""),
            )
        out.print(table)

    run(body())


@app.command("add")
@click.argument("text")
@scope_options()
@click.option("--metadata", "metadata_json", metavar="JSON", help='Your own fields, e.g. \'{"topic": "food"}\'.')
@json_option
@data_options
def add_command(
    text: str,
    user_id: str,
    agent_id: str | None,
    run_id: str | None,
    metadata_json: str | None,
    as_json: bool,
    **given: Any,
) -> None:
    """Remember TEXT for a user (an exact duplicate is not stored twice)."""

    async def body() -> None:
        async with open_engine(settings_of(given), index=False) as engine:
            result = await engine.add(text, engine.scope(user_id, agent_id, run_id), parse_json(metadata_json))
        memory = MemoryOut.of(result.memory)
        if as_json:
            emit({**memory.model_dump(), "event": "ADD" if result.created else "NOOP"})
        elif result.created:
            out.print(f"Added {memory.id}")
        else:
            out.print(f"Already remembered as {memory.id}; nothing added.")

    run(body())


@app.command("edit")
@click.argument("memory_id")
@scope_options()
@click.option("--text", help="The new text (without --text or --metadata, your $EDITOR opens on the old one).")
@click.option("--metadata", "metadata_json", metavar="JSON", help="New metadata, replacing the old object.")
@json_option
@data_options
def edit_command(
    memory_id: str,
    user_id: str,
    agent_id: str | None,
    run_id: str | None,
    text: str | None,
    metadata_json: str | None,
    as_json: bool,
    **given: Any,
) -> None:
    """Correct a memory's text and/or metadata (the change is kept in its history)."""

    async def body() -> None:
        async with open_engine(settings_of(given), index=False) as engine:
            where = engine.scope(user_id, agent_id, run_id)
            new_text = text
            if text is None and metadata_json is None:
                old = await engine.get(memory_id, where)
                edited = click.edit(old.text + "\n", require_save=True)
                if edited is None or edited.strip() == old.text:
                    raise Failure("Nothing changed: the text was not edited.")
                new_text = edited
            memory = MemoryOut.of(
                await engine.update(memory_id, where, text=new_text, metadata=parse_json(metadata_json))
            )
        if as_json:
            emit(memory.model_dump())
        else:
            out.print(f"Updated {memory.id}: {escape(memory.text)}")

    run(body())


@app.command("delete")
@click.argument("memory_ids", metavar="[ID]...", nargs=-1)
@scope_options()
@click.option("--all", "everything", is_flag=True, help="Delete every memory of the user (or of --agent/--run).")
@click.option("--yes", "-y", is_flag=True, help="Do not ask before deleting everything.")
@json_option
@data_options
def delete_command(
    memory_ids: tuple[str, ...],
    user_id: str,
    agent_id: str | None,
    run_id: str | None,
    everything: bool,
    yes: bool,
    as_json: bool,
    **given: Any,
) -> None:
    """Forget memories by id, or all of a user's with --all (their history is kept)."""
    if everything == bool(memory_ids):
        raise click.UsageError("Give memory ids, or --all (not both).")

    async def body() -> None:
        async with open_engine(settings_of(given), index=False) as engine:
            where = engine.scope(user_id, agent_id, run_id)
            if everything:
                count = await engine.count(where)
                if count and not yes:
                    if not sys.stdin.isatty():
                        raise BadInput(f"This deletes all {count} memories of {user_id}; add --yes to confirm.")
                    click.confirm(f"Delete all {count} memories of {user_id}?", abort=True, err=True)
                with progress_bar("deleting", count) as advance:
                    deleted = await engine.delete_all(where, progress=_advancer(advance))
                if as_json:
                    emit({"deleted": deleted})
                else:
                    out.print(f"Deleted {deleted} memories of {user_id}.")
                return
            gone = [MemoryOut.of(await engine.delete(memory_id, where)) for memory_id in memory_ids]
        if as_json:
            emit({"deleted": [memory.model_dump() for memory in gone]})
        else:
            for memory in gone:
                out.print(f"Deleted {memory.id}: {escape(memory.text)}")

    run(body())


@app.command("users")
@json_option
@data_options
def users_command(as_json: bool, **given: Any) -> None:
    """List the users who have memories, with counts."""

    async def body() -> None:
        async with open_engine(settings_of(given), index=False) as engine:
            summaries = [UserStatsOut.of(s, engine.embedder.id) for s in await engine.summaries()]
        if as_json:
            emit({"users": [summary.model_dump(exclude={"embedder"}) for summary in summaries]})
            return
        table = Table(title=f"{len(summaries)} users")
        for column in ("user", "memories", "agents", "runs", "oldest", "newest"):
            table.add_column(column, justify="right" if column in ("memories", "agents", "runs") else "left")
        for s in summaries:
            table.add_row(
                escape(s.user_id), str(s.memories), str(s.agents), str(s.runs), _day(s.oldest), _day(s.newest)
            )
        out.print(table)

    run(body())


@app.command("stats")
@click.option("--user", "-u", "user_id", metavar="USER", help="One user's figures instead of the database's.")
@json_option
@data_options
def stats_command(user_id: str | None, as_json: bool, **given: Any) -> None:
    """Figures about the database (or one user): memories, users, time span, embedder, size."""

    async def body() -> None:
        settings = settings_of(given)
        async with open_engine(settings, index=False) as engine:
            if user_id is not None:
                figures: dict[str, Any] = UserStatsOut.of(
                    await engine.summary(engine.scope(user_id)), engine.embedder.id
                ).model_dump()
            else:
                summaries = await engine.summaries()
                figures = {
                    "database": redact(settings.location),
                    "size_bytes": None if settings.database_url else _size(settings.db),
                    "embedder": engine.embedder.id,
                    "users": len(summaries),
                    "memories": sum(s.memories for s in summaries),
                    "oldest": min((s.oldest for s in summaries if s.oldest), default=None),
                    "newest": max((s.newest for s in summaries if s.newest), default=None),
                }
        if as_json:
            emit(figures)
            return
        for name, value in figures.items():
            out.print(f"[bold]{name:>10}[/bold]  {escape(str(value))}")

    run(body())


@app.command("export")
@click.argument("path", required=False, type=click.Path(dir_okay=False, writable=True, path_type=Path))
@scope_options(required=False)
@click.option("--vectors", is_flag=True, help="Include the vectors (an import with the same embedder reuses them).")
@click.option("--history", "with_history", is_flag=True, help="Include each memory's change history.")
@data_options
def export_command(
    path: Path | None,
    user_id: str | None,
    agent_id: str | None,
    run_id: str | None,
    vectors: bool,
    with_history: bool,
    **given: Any,
) -> None:
    """Write memories as JSONL to PATH (stdout without it): every user's, or one user's with --user."""
    if user_id is None and (agent_id or run_id):
        raise click.UsageError("--agent and --run need --user.")

    async def body() -> int:
        async with open_engine(settings_of(given), index=False) as engine:
            where = None if user_id is None else engine.scope(user_id, agent_id, run_id)
            if path is None:
                return await archive.export(engine, sys.stdout, where, vectors=vectors, history=with_history)
            partial = path.with_name(path.name + ".partial")
            total = await engine.count(where) if where else None
            with partial.open("w", encoding="utf-8") as file, progress_bar("exporting", total) as advance:
                written = await archive.export(
                    engine, file, where, vectors=vectors, history=with_history, advance=advance
                )
            partial.replace(path)
            return written

    written = run(body())
    if path is not None:
        err.print(f"Exported {written} memories to {path}.")


@app.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, allow_dash=True, path_type=Path))
@click.option(
    "--from",
    "source",
    type=click.Choice(archive.SOURCES),
    default="auto",
    show_default=True,
    help=f"The file's format: a memory-mcp export, or the reference server's memory.jsonl ({archive.OFFICIAL}).",
)
@click.option(
    "--user",
    "-u",
    "user_id",
    metavar="USER",
    help=f"Store everything under this user (required for {archive.OFFICIAL}).",
)
@click.option("--new-ids", is_flag=True, help="Give the memories new ids instead of keeping theirs.")
@json_option
@data_options
def import_command(path: Path, source: str, user_id: str | None, new_ids: bool, as_json: bool, **given: Any) -> None:
    """Import memories from a JSONL file (- for stdin); importing the same file again adds nothing."""

    size = None if str(path) == "-" else path.stat().st_size

    async def body() -> archive.ImportReport:
        async with open_engine(settings_of(given), index=False) as engine:
            if size is None:
                return await archive.import_lines(engine, sys.stdin, source=source, user_id=user_id, new_ids=new_ids)
            with path.open(encoding="utf-8") as file, progress_bar("importing", size, in_bytes=True) as advance:
                return await archive.import_lines(
                    engine, file, source=source, user_id=user_id, new_ids=new_ids, advance=advance
                )

    report = run(body())
    if as_json:
        emit({"added": report.added, "skipped": report.skipped, "failed": report.failed})
    else:
        out.print(
            f"Imported {path}: {report.added} added, {report.skipped} already there, {len(report.failed)} failed."
        )
        for line in report.failed[:20]:
            err.print(f"  {escape(line)}")
        if len(report.failed) > 20:
            err.print(f"  ... and {len(report.failed) - 20} more")
    if report.failed:
        sys.exit(1)


@app.command("backup")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Overwrite PATH if it exists.")
@data_options
def backup_command(path: Path, force: bool, **given: Any) -> None:
    """Copy the database to PATH, consistently, even while servers are using it."""
    target = path.resolve()
    if settings_of(given).database_url:
        raise BadInput("backup copies the SQLite file; for PostgreSQL use pg_dump (see the README).")
    if target.exists() and not force:
        raise BadInput(f"{path} exists; choose another path or add --force to overwrite it.")

    async def body() -> None:
        settings = settings_of(given)
        async with await SqliteStore.open(settings.db) as store, contextlib.AsyncExitStack() as stack:
            bar = Progress(console=err, disable=not err.is_terminal, transient=True)
            stack.enter_context(bar)
            task = bar.add_task("backing up", total=None)
            await store.backup(target, lambda done, total: bar.update(task, completed=done, total=total))

    run(body())
    err.print(f"Backed up to {path} ({_size(str(path))} bytes).")


@app.command("check")
@json_option
@data_options
def check_command(as_json: bool, **given: Any) -> None:
    """Check the database: SQLite integrity, schema, embedder, vectors, history and the search index."""

    settings = settings_of(given)
    if settings.database_url:
        raise BadInput(
            "check examines a SQLite file; PostgreSQL checks itself (amcheck) and keeps no index to compare."
        )

    async def body() -> Any:
        async with open_embedder(settings) as embedder:
            return await check(settings.db, embedder)

    report = run(body())
    if as_json:
        emit({"ok": report.ok, "problems": report.problems, **report.figures})
    else:
        for name, value in report.figures.items():
            out.print(f"[bold]{name:>14}[/bold]  {escape(str(value))}")
        for problem in report.problems:
            err.print(f"[red]problem:[/red] {escape(problem)}")
        out.print("ok" if report.ok else f"{len(report.problems)} problem(s) found")
    if not report.ok:
        sys.exit(1)


@app.command("migrate")
@click.option(
    "--from", "source", required=True, metavar="SOURCE", help="sqlite:PATH (or a path), or a postgresql:// URL."
)
@click.option(
    "--to", "target", required=True, metavar="TARGET", help="A postgresql:// URL, or sqlite:PATH (or a path)."
)
@click.option("--user", "-u", "user_id", metavar="USER", help="Move only this user's memories (default: everyone's).")
@json_option
@data_options
def migrate_command(source: str, target: str, user_id: str | None, as_json: bool, **given: Any) -> None:
    """Copy memories, with their history, from one database to another (e.g. SQLite to PostgreSQL), then check."""
    settings = settings_of(given)
    origin, destination = _location(source), _location(target)
    if origin == destination:
        raise BadInput("--from and --to name the same database.")

    async def body() -> archive.CopyReport:
        async with (
            open_engine(_at(settings, origin), index=False) as old,
            open_engine(_at(settings, destination), index=False) as new,
        ):
            where = None if user_id is None else old.scope(user_id)
            total = await old.count(where) if where else sum(s.memories for s in await old.summaries())
            with progress_bar("migrating", total) as advance:
                return await archive.copy(old, new, where, advance=advance)

    report = run(body())
    if as_json:
        emit(
            {
                "copied": report.copied,
                "already": report.already,
                "missing": report.missing,
                "source": report.source_total,
            }
        )
    else:
        out.print(
            f"Migrated {report.source_total} memories: {report.copied} copied, {report.already} already there; "
            + ("every one is in the destination." if not report.missing else f"{len(report.missing)} MISSING.")
        )
    if report.missing:
        err.print(f"Missing from the destination: {', '.join(report.missing[:10])}")
        sys.exit(1)


def _location(text: str) -> str:
    """A database named on the command line: a postgresql:// URL, or a SQLite file (`sqlite:PATH` or a path)."""
    if _is_url(text):
        return text
    path = text.removeprefix("sqlite:")
    return str(Path(path).expanduser().resolve())


def _at(settings: Settings, location: str) -> Settings:
    """The settings with the database replaced by `location`."""
    if _is_url(location):
        return replace(settings, database_url=location)
    return replace(settings, database_url=None, db=location)


def _is_url(text: str) -> bool:
    return text.startswith(POSTGRES_SCHEMES)


HOSTS: Final = ("claude-desktop", "cursor", "vscode", "claude-code")


@app.command("config")
@click.argument("host", required=False, type=click.Choice(HOSTS))
@data_options
def config_command(host: str | None, **given: Any) -> None:
    """Print what to paste into an MCP host (all of them, or HOST) to launch this server on this database."""
    settings = settings_of(given)
    script = Path(sys.executable).parent / ("memory-mcp.exe" if sys.platform == "win32" else "memory-mcp")
    command = str(script) if script.exists() else "memory-mcp"
    db = str(Path(settings.db).expanduser().resolve())
    entry = {"command": command, "env": {"MEMORY_MCP_DB": db}}
    snippets = {
        "claude-desktop": (
            "Claude Desktop: claude_desktop_config.json (macOS ~/Library/Application Support/Claude/, "
            "Windows %APPDATA%\\Claude\\)",
            json.dumps({"mcpServers": {"memory": entry}}, indent=2),
        ),
        "cursor": (
            "Cursor: ~/.cursor/mcp.json or .cursor/mcp.json",
            json.dumps({"mcpServers": {"memory": entry}}, indent=2),
        ),
        "vscode": (".vscode/mcp.json", json.dumps({"servers": {"memory": {"type": "stdio", **entry}}}, indent=2)),
        "claude-code": ("Claude Code: run", f"claude mcp add -e MEMORY_MCP_DB={db} memory -- {command}"),
    }
    if host is not None:
        click.echo(snippets[host][1])
        return
    for where, text in snippets.values():
        click.echo(f"# {where}\n{text}\n")
    click.echo("# Restart the host afterwards, then ask it to remember something about you.")


# -- helpers ---------------------------------------------------------------------------------------


def parse_json(text: str | None) -> Any:
    """A JSON option's value (None when not given); a usage error says what is wrong with it."""
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError as exc:
        raise BadInput(f'Not valid JSON: {exc}. Quote it for the shell, e.g. \'{{"topic": "food"}}\'.') from None


def _advancer(advance: Callable[[int], None]) -> Callable[[int, int], Coroutine[Any, Any, None]]:
    """An engine progress callback (done, total) that moves a bar."""
    seen = 0

    async def report(done: int, total: int) -> None:
        nonlocal seen
        advance(done - seen)
        seen = done

    return report


def _day(stamp: str | None) -> str:
    return "" if stamp is None else stamp[:10]


def _size(path: str) -> int | None:
    try:
        return Path(path).expanduser().stat().st_size
    except OSError:
        return None


def main() -> NoReturn:
    """Entry point of the console script."""
    # stdout carries the protocol when serving: every log line goes to stderr.
    logging.basicConfig(stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    app.main(prog_name="memory-mcp")
