"""What every command shares: options made from the settings table, opening the engine, errors, output.

Small helpers side by side, each used by several command modules (which is why they are here, not in one of them).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import re
import sys
from collections.abc import Awaitable, Callable, Coroutine, Iterator, Mapping, Sequence
from dataclasses import fields
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Final, TypeVar

import click

from ..config import OPTIONS, SERVE_ONLY, Settings, resolve
from ..errors import ConfigError, InvalidInputError, MemoryMCPError
from ..locations import login_user
from ..models import Scope
from ..projects import asks_for_current, chosen, working_project
from .terminal import Console, Table, escape

if TYPE_CHECKING:  # the engine (and numpy with it) loads when a command opens it: `--help` and `config` never do
    from ..engine import MemoryEngine

T = TypeVar("T")
_SHORTEST_ID: Final = 4  # shorter starts of an id are refused as ambiguous in all but tiny databases
F = TypeVar("F", bound=Callable[..., Any])


# Markup styled on a terminal, tables laid out to its width (120 cells when piped); rich loads for progress bars only.
out = Console()
err = Console(stderr=True)


class Failure(click.ClickException):
    """A failure, reported as `memory-mcp: <what went wrong and what to do>`; exit code 1."""

    def show(self, file: IO[Any] | None = None) -> None:
        click.echo(f"memory-mcp: {self.format_message()}", err=True)


class BadInput(Failure):
    """A failure caused by what the user gave; exit code 2, as for a usage error."""

    exit_code = 2


_COMMANDS: Final = {
    "search_memory": "memory-mcp search",
    "list_memories": "memory-mcp list",
    "get_memory": "memory-mcp show",
    "add_memory": "memory-mcp add",
    "update_memory": "memory-mcp edit",
    "delete_memory": "memory-mcp delete",
    "memory_history": "memory-mcp history",
}
_TOOL_NAME: Final = re.compile("|".join(_COMMANDS))


def on_the_command_line(message: str) -> str:
    """The engine's advice, which names MCP tools, naming this program's commands instead."""
    return _TOOL_NAME.sub(lambda found: _COMMANDS[found.group(0)], message)


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run one command's async body; our errors become a message and exit code (2: bad input, 1: other)."""
    try:
        return asyncio.run(coroutine)
    except (ConfigError, InvalidInputError) as exc:
        raise BadInput(on_the_command_line(str(exc))) from None
    except MemoryMCPError as exc:
        raise Failure(on_the_command_line(str(exc))) from None


async def full_id(engine: MemoryEngine, memory_id: str, scope: Scope) -> str:
    """The id of a memory given whole or by an unambiguous start of it (at least 4 characters), as people type."""
    if len(memory_id) < _SHORTEST_ID:
        try:
            return (await engine.get(memory_id, scope)).id  # an id that really is this short
        except MemoryMCPError:
            raise BadInput(
                f"{memory_id!r} is too short to find a memory by: give at least {_SHORTEST_ID} characters of its id "
                "(memory-mcp list shows them)."
            ) from None
    found = await engine.ids_starting(memory_id, scope, limit=2)
    if memory_id in found or not found:
        return memory_id  # the whole id, or none: the command says it is unknown
    if len(found) > 1:
        raise BadInput(f"{memory_id!r} starts more than one memory's id ({', '.join(found)}, ...): give more of it.")
    return found[0]


# -- settings and options ----------------------------------------------------------------------------


def settings_options(*, serving: bool, hidden: bool = False) -> Callable[[F], F]:
    """One click option per setting (all of them, or those of the non-serving commands); `hidden` accepts them
    without listing them in --help (the bare command's, whose help should show the commands first).

    Values stay None unless given, so `resolve` can fall back to the env var and then the default.
    """
    defaults = {f.name: f.default for f in fields(Settings)}
    shown = {
        "db": "the user data folder",
        "openai_api_key": "none",
        "tokens_file": "none",
        "database_url": "none",
        "allowed_hosts": "none",
        "trusted_proxies": "none",
    }

    def attach(function: F) -> F:
        for option in reversed(OPTIONS):
            if not serving and option.name in SERVE_ONLY:
                continue
            if option.is_switch:
                decorator = click.option(
                    option.flag,
                    option.name,
                    is_flag=True,
                    flag_value="true",
                    default=None,
                    hidden=hidden,
                    help=f"{option.help} (env {option.env})",
                )
            else:
                default = shown.get(option.name, defaults.get(option.name))
                default = "none" if default is None else default
                decorator = click.option(
                    option.flag,
                    option.name,
                    default=None,
                    hidden=hidden,
                    metavar=option.name.upper(),
                    help=f"{option.help} (env {option.env}; default: {default})",
                )
            function = decorator(function)
        return function

    return attach


data_options = settings_options(serving=False)
json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts instead of a table.")


def parse_settings(argv: Sequence[str], env: Mapping[str, str]) -> Settings:
    """Settings from a command line alone (for tests and embedding)."""
    command = settings_options(serving=True)(click.Command("memory-mcp", callback=lambda **_: None))
    with command.make_context("memory-mcp", list(argv)) as context:
        return resolve(context.params, env)


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


def scope_options(*, required: bool = True) -> Callable[[F], F]:
    """--user (or MEMORY_MCP_USER), --agent and --run."""

    def attach(function: F) -> F:
        function = click.option(
            "--run", "run_id", metavar="RUN", help="Only the memories of this run (conversation or session)."
        )(function)
        function = click.option("--agent", "agent_id", metavar="AGENT", help="Only the memories of this agent.")(
            function
        )
        # Without --user a one-user command acts for the login name (as `config`, `ui` and the hooks do); a
        # command on the whole database (export) acts for every user.
        everyone = {"help": "Only this user's memories (env MEMORY_MCP_USER; default: every user's)."}
        one = {
            "default": login_user,
            "show_default": "your login name, as `config`, `ui` and the hooks use",
            "help": "Whose memories (env MEMORY_MCP_USER).",
        }
        chosen: dict[str, Any] = one if required else everyone
        return click.option("--user", "-u", "user_id", metavar="USER", envvar="MEMORY_MCP_USER", **chosen)(function)

    return attach


def validity_options(function: F) -> F:
    """--as-of WHEN and --include-superseded: which memories a read sees by time (default: the current ones)."""
    function = click.option("--include-superseded", is_flag=True, help="Also the memories a newer one has superseded.")(
        function
    )
    return click.option(
        "--as-of", "as_of", metavar="WHEN", help="What was true then: an ISO date or time, e.g. 2024-03."
    )(function)


def entity_option(function: F) -> F:
    """--entity NAME: only the memories about it."""
    return click.option("--entity", metavar="NAME", help="Only memories about this entity (any case).")(function)


def project_option(use: str) -> Callable[[F], F]:
    """--project: on a read (`use="read"`) what is seen besides the general memories (default: the working
    project), on a write (`"write"`) or for delete --all (`"forget"`) where (default: the user everywhere)."""
    helps = {
        "read": "Also this project's memories, besides the general ones (default: MEMORY_MCP_PROJECT, else the git "
        "repository you are in); '*' for every project.",
        "write": "Keep it to this project ('current': MEMORY_MCP_PROJECT, else the git repository you are in). "
        "Default: the user everywhere.",
        "forget": "With --all: only this project's own memories ('current' for the one you are in).",
    }
    return click.option("--project", "-p", metavar="NAME", help=helps[use])


def chosen_project(value: str | None, *, read: bool) -> str | None:
    """The project a command's --project names, resolved by the rules every face shares (`projects.chosen`); the
    current one is MEMORY_MCP_PROJECT or the git repository of the working directory."""
    current = working_project() if asks_for_current(value, read=read) else None
    try:
        return chosen(value, read=read, current=current, argument="--project", no_current=_NO_REPOSITORY)
    except InvalidInputError as exc:
        raise BadInput(str(exc)) from None


_NO_REPOSITORY: Final = "MEMORY_MCP_PROJECT is not set and you are not in a git repository"


def with_engine(given: Mapping[str, Any], work: Callable[[MemoryEngine], Awaitable[T]], *, index: bool = False) -> T:
    """Open the configured engine, run `work` on it, close it; errors become messages (see `run`).

    `index=False` (reads and writes without search) skips loading the search index, so commands start fast.
    """
    from ..app import open_configured

    settings = settings_of(given)

    async def body() -> T:
        async with open_configured(settings, index=index, mapped=True) as engine:  # one command: map the file
            return await work(engine)

    return run(body())


def parse_json(text: str | None) -> Any:
    """A JSON option's value (None when not given); a usage error says what is wrong with it."""
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError as exc:
        raise BadInput(f'Not valid JSON: {exc}. Quote it for the shell, e.g. \'{{"topic": "food"}}\'.') from None


# -- a host's JSON settings ----------------------------------------------------------------------------


def installed_command() -> str:
    """The absolute path of this installation's `memory-mcp` (what a host or a hook should run), else the name."""
    script = Path(sys.executable).parent / ("memory-mcp.exe" if sys.platform == "win32" else "memory-mcp")
    return str(script) if script.exists() else "memory-mcp"


def read_json_file(path: Path) -> dict[str, Any]:
    """A host's JSON settings file ({} when there is none); BadInput when it is not a JSON object."""
    if not path.exists():
        return {}
    try:
        found = json.loads(path.read_text(encoding="utf-8") or "{}")
    except ValueError as exc:
        raise BadInput(f"{path} is not valid JSON ({exc}); fix it first, nothing was changed.") from None
    if not isinstance(found, dict):
        raise BadInput(f"{path} does not hold a JSON object; fix it first, nothing was changed.")
    return found


def write_json_file(path: Path, settings: dict[str, Any], before: dict[str, Any]) -> bool:
    """Replace `path` with `settings` at once (a partial file renamed over it); False, and a message, when
    it already holds them."""
    if settings == before:
        click.echo(f"{path}: already as it should be; nothing changed.")
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(settings, indent=2) + "\n", encoding="utf-8")
    partial.replace(path)
    return True


# -- output ------------------------------------------------------------------------------------------


def emit(value: Any) -> None:
    """Print JSON on stdout."""
    click.echo(json.dumps(value, indent=2, ensure_ascii=False))


def memory_table(
    memories: Sequence[Mapping[str, Any]],
    *,
    scores: list[float] | None = None,
    marks: list[str] | None = None,
    title: str | None = None,
) -> Any:
    """Memories (as `wire.memory_json` gives them) as a table for people; search results show their score, followed
    by its mark in `marks` (a * when they did not really match, a ~ when they came by meaning)."""
    table = Table(title=title)
    if scores is not None:
        table.add_column("score", justify="right", no_wrap=True)
    table.add_column("id", no_wrap=True, style="cyan")
    table.add_column("text", min_width=24, ratio=3)
    table.add_column("stored", no_wrap=True)
    table.add_column("metadata", ratio=1)
    for position, memory in enumerate(memories):
        row = [
            escape(memory["id"]),
            escape(memory["text"]),
            day(memory["created_at"]),
            escape(json.dumps(memory["metadata"], ensure_ascii=False)) if memory["metadata"] else "",
        ]
        if scores is not None:
            row.insert(0, f"{scores[position]:.3f}" + (marks[position] if marks else ""))
        table.add_row(*row)
    return table


@contextlib.contextmanager
def progress_bar(description: str, total: int | None, *, in_bytes: bool = False) -> Iterator[Callable[[int], None]]:
    """A progress bar on stderr (shown on a terminal only); yields `advance(n)`."""
    from rich.progress import BarColumn, DownloadColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    columns = [TextColumn("{task.description}"), BarColumn()]
    columns += [DownloadColumn()] if in_bytes else [MofNCompleteColumn()]
    console = err.real()
    with Progress(
        *columns, TimeRemainingColumn(), console=console, disable=not console.is_terminal, transient=True
    ) as bar:
        task = bar.add_task(description, total=total)
        yield lambda n: bar.advance(task, n)


def advancer(advance: Callable[[int], None]) -> Callable[[int, int], Coroutine[Any, Any, None]]:
    """An engine progress callback (done, total) that moves a bar."""
    seen = 0

    async def report(done: int, total: int) -> None:
        nonlocal seen
        advance(done - seen)
        seen = done

    return report


def day(stamp: str | None) -> str:
    """The date part of a timestamp ("" for none)."""
    return "" if stamp is None else stamp[:10]


def file_size(path: str) -> int | None:
    """The size of a file in bytes, None when it cannot be read."""
    try:
        return Path(path).expanduser().stat().st_size
    except OSError:
        return None
