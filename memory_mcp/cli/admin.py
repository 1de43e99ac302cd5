"""The commands on the whole database: users, stats, export, import, backup, check, migrate."""

from __future__ import annotations

import contextlib
import sys
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any, Final

import click

from .. import archive
from ..app import open_configured
from ..config import Settings
from ..embedders import open_embedder
from ..engine import MemoryEngine
from ..locations import is_postgres, redact
from ..models import UserSummary
from ..private import open_private
from ..stores.sqlite import SqliteStore, maintenance
from ..tally import Tally
from ..wire import user_stats_json
from . import accounts
from ._common import (
    BadInput,
    data_options,
    day,
    emit,
    err,
    file_size,
    json_option,
    out,
    parse_json,
    progress_bar,
    run,
    scope_options,
    settings_of,
    with_engine,
)
from .terminal import Table, escape


@click.group("users", invoke_without_command=True)
@json_option
@data_options
@click.pass_context
def users_command(context: click.Context, /, as_json: bool, **given: Any) -> None:
    """List the users who have memories, with counts; its commands keep the accounts that sign in over HTTP."""
    if context.invoked_subcommand is not None:
        return

    async def users(engine: MemoryEngine) -> list[UserSummary]:
        return await engine.summaries()

    summaries = with_engine(given, users)
    if as_json:
        emit({"users": [{k: v for k, v in user_stats_json(s, "").items() if k != "embedder"} for s in summaries]})
        return
    table = Table(title=f"{len(summaries)} user{'' if len(summaries) == 1 else 's'}")
    for column in ("user", "memories", "agents", "runs", "oldest", "newest"):
        table.add_column(column, justify="right" if column in ("memories", "agents", "runs") else "left")
    for s in summaries:
        table.add_row(escape(s.user_id), str(s.memories), str(s.agents), str(s.runs), day(s.oldest), day(s.newest))
    out.print(table)


@click.command("stats")
@click.option("--user", "-u", "user_id", metavar="USER", help="One user's figures instead of the database's.")
@click.option(
    "--by",
    "group_by",
    metavar="FIELD",
    help='Count the user\'s memories by "month", "valid_from", "entity", "link" or a metadata field (e.g. topic), '
    "drawn as bars.",
)
@click.option("--filter", "filter_json", metavar="JSON", help="With --by: count only the memories it matches.")
@click.option("--limit", "-n", default=20, show_default=True, help="With --by: most groups shown.")
@json_option
@data_options
def stats_command(
    user_id: str | None,
    group_by: str | None,
    filter_json: str | None,
    limit: int,
    as_json: bool,
    **given: Any,
) -> None:
    """Figures about the database (or one user): memories, users, time span, embedder, size; or, with --by, one
    user's memories counted by month, entity, link type or a metadata field."""
    if group_by is not None:
        if user_id is None:
            raise click.UsageError("--by counts one user's memories: give --user (or MEMORY_MCP_USER).")
        _counts(user_id, group_by, parse_json(filter_json), limit, as_json, given)
        return
    settings = settings_of(given)

    async def figures(engine: MemoryEngine) -> dict[str, Any]:
        if user_id is not None:
            return user_stats_json(await engine.summary(engine.scope(user_id)), engine.embedder.id)
        summaries = await engine.summaries()
        return {
            "database": redact(settings.location),
            "size_bytes": None if settings.database_url else file_size(settings.db),
            "embedder": engine.embedder.id,
            "users": len(summaries),
            "memories": sum(s.memories for s in summaries),
            "oldest": min((s.oldest for s in summaries if s.oldest), default=None),
            "newest": max((s.newest for s in summaries if s.newest), default=None),
        }

    found = with_engine(given, figures)
    if as_json:
        emit(found)
        return
    for name, value in found.items():
        out.print(f"[bold]{name:>10}[/bold]  {escape(str(value))}")


_BAR: Final = 40
"""Characters of the longest bar."""


for _account_command in accounts.COMMANDS:
    users_command.add_command(_account_command)


def bars(counted: Tally) -> list[str]:
    """A plain-text bar chart of a tally: one line a group, the bar as long as its share of the largest."""
    rows = [(group.value, group.count) for group in counted.groups]
    if counted.missing:
        rows.append(("(none)", counted.missing))
    if not rows:
        return []
    width = max(len(value) for value, _ in rows)
    largest = max(count for _, count in rows)
    return [f"{value:<{width}}  {'█' * max(1, round(_BAR * count / largest))} {count}" for value, count in rows]


def _counts(user_id: str, group_by: str, filters: Any, limit: int, as_json: bool, given: dict[str, Any]) -> None:
    async def count(engine: MemoryEngine) -> Tally:
        return await engine.summarize(engine.scope(user_id), group_by, filters=filters, limit=limit)

    counted = with_engine(given, count)
    if as_json:
        emit({**asdict(counted), "groups": [asdict(group) for group in counted.groups]})
        return
    more = " (more groups than shown: raise --limit)" if counted.truncated else ""
    out.print(f"{user_id}: {counted.total} memories by {counted.group_by}{more}")
    for line in bars(counted):
        out.print(escape(line))


@click.command("export")
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

    async def export(engine: MemoryEngine) -> int:
        where = None if user_id is None else engine.scope(user_id, agent_id, run_id)
        if path is None:
            return await archive.export(engine, sys.stdout, where, vectors=vectors, history=with_history)
        partial = path.with_name(path.name + ".partial")
        total = await engine.count(where) if where else None
        with open_private(partial) as file, progress_bar("exporting", total) as advance:
            written = await archive.export(engine, file, where, vectors=vectors, history=with_history, advance=advance)
        partial.replace(path)
        return written

    written = with_engine(given, export)
    if path is not None:
        err.print(f"Exported {written} memories to {path}.")


@click.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, allow_dash=True, path_type=Path))
@click.option(
    "--from",
    "source",
    type=click.Choice(archive.SOURCES),
    default="auto",
    show_default=True,
    help=f"The file's format: a memory-mcp export, the reference server's memory.jsonl ({archive.OFFICIAL}), or "
    f'plain lines of {{"text": ..., "metadata": ...}} ({archive.PLAIN}); auto tells them apart by the first line.',
)
@click.option(
    "--user",
    "-u",
    "user_id",
    metavar="USER",
    help=f"Store everything under this user (required for {archive.OFFICIAL}, and for {archive.PLAIN} lines "
    "without a user_id).",
)
@click.option("--new-ids", is_flag=True, help="Give the memories new ids instead of keeping theirs.")
@json_option
@data_options
def import_command(path: Path, source: str, user_id: str | None, new_ids: bool, as_json: bool, **given: Any) -> None:
    """Import memories from a JSONL file (- for stdin); importing the same file again adds nothing."""
    size = None if str(path) == "-" else path.stat().st_size

    async def load(engine: MemoryEngine) -> archive.ImportReport:
        if size is None:
            return await archive.import_lines(engine, sys.stdin, source=source, user_id=user_id, new_ids=new_ids)
        with path.open(encoding="utf-8") as file, progress_bar("importing", size, in_bytes=True) as advance:
            return await archive.import_lines(
                engine, file, source=source, user_id=user_id, new_ids=new_ids, advance=advance
            )

    report = with_engine(given, load)
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


@click.command("backup")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Overwrite PATH if it exists.")
@data_options
def backup_command(path: Path, force: bool, **given: Any) -> None:
    """Copy the database to PATH, consistently, even while servers are using it."""
    target = path.resolve()
    settings = settings_of(given)
    if settings.database_url:
        raise BadInput("backup copies the SQLite file; for PostgreSQL use pg_dump (see the README).")
    if target.exists() and not force:
        raise BadInput(f"{path} exists; choose another path or add --force to overwrite it.")

    async def body() -> None:
        async with await SqliteStore.open(settings.db) as store, contextlib.AsyncExitStack() as stack:
            from rich.progress import Progress

            bar = Progress(console=err.real(), disable=not err.is_terminal, transient=True)
            stack.enter_context(bar)
            task = bar.add_task("backing up", total=None)
            await maintenance.backup(store, target, lambda done, total: bar.update(task, completed=done, total=total))

    run(body())
    err.print(f"Backed up to {path} ({file_size(str(path))} bytes).")


@click.command("check")
@click.option(
    "--deep",
    is_flag=True,
    help="Also run SQLite's full integrity check, check every text's duplicate-check hash, and build the search "
    "index from every text to compare it, and the kept index snapshot, with the memories (0.7 s at 10,000 memories, "
    "where the quick check takes 0.25 s).",
)
@json_option
@data_options
def check_command(deep: bool, as_json: bool, **given: Any) -> None:
    """Check the database: SQLite's quick check, schema, embedder, vectors, metadata, history, links; --deep: more."""
    settings = settings_of(given)
    if settings.database_url:
        raise BadInput(
            "check examines a SQLite file; PostgreSQL checks itself (amcheck) and keeps no index to compare."
        )

    from ..checkup import CheckReport, check  # here: the check builds a search index, other commands do not

    async def body() -> CheckReport:
        async with open_embedder(settings) as embedder:
            return await check(settings.db, embedder, deep=deep)

    report = run(body())
    if as_json:
        emit({"ok": report.ok, "problems": report.problems, **report.figures})
    else:
        for name, value in report.figures.items():
            unset = (
                "none yet (the server keeps one once it has built its index)" if name == "index_snapshot" else "none"
            )
            shown = unset if value is None else str(value)
            out.print(f"[bold]{name:>14}[/bold]  {escape(shown)}")
        for problem in report.problems:
            err.print(f"[red]problem:[/red] {escape(problem)}")
        out.print("ok" if report.ok else f"{len(report.problems)} problem(s) found")
    if not report.ok:
        sys.exit(1)


@click.command("migrate")
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
            open_configured(_at(settings, origin), index=False) as old,
            open_configured(_at(settings, destination), index=False) as new,
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
    if is_postgres(text):
        return text
    path = text.removeprefix("sqlite:")
    return str(Path(path).expanduser().resolve())


def _at(settings: Settings, location: str) -> Settings:
    """The settings with the database replaced by `location`."""
    if is_postgres(location):
        return replace(settings, database_url=location)
    return replace(settings, database_url=None, db=location)


COMMANDS = (
    users_command,
    stats_command,
    export_command,
    import_command,
    backup_command,
    check_command,
    migrate_command,
)
