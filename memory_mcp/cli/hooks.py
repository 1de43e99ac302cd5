"""Claude Code hooks: recall at session start and on each prompt, a reminder to save before a session ends."""

from __future__ import annotations

import json
import os
import shlex
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import click

from .. import capture, recall
from ..app import configured_model, open_configured
from ..engine import MemoryEngine
from ..errors import MemoryMCPError
from ..locations import database_key, login_user
from ._common import (
    BadInput,
    data_options,
    emit,
    installed_command,
    read_json_file,
    run,
    settings_of,
    with_engine,
    write_json_file,
)

_MARK: Final = "memory-mcp hook "
"""Every command we install contains this, so that install and uninstall find ours and leave the others alone."""
_EVENTS: Final = {
    "SessionStart": ("session-start", "startup|resume|clear|compact"),
    "UserPromptSubmit": ("prompt", None),
    "Stop": ("stop", None),
    "PreCompact": ("pre-compact", None),
}
"""Claude Code's hook events (documented in its hooks reference: settings.json `hooks.<Event>` holds matcher groups
of `{"type": "command", "command", "timeout"}`; on exit 0, SessionStart's and UserPromptSubmit's stdout reaches the
model; a Stop hook's `{"decision": "block", "reason"}` makes the model continue with the reason)."""
SCOPES: Final = {
    "user": Path("~/.claude/settings.json"),
    "project": Path(".claude/settings.json"),
    "local": Path(".claude/settings.local.json"),
}


def _settings_file(scope: str) -> Path:
    return SCOPES[scope].expanduser()


def _ours(group: Any) -> bool:
    return isinstance(group, dict) and any(_MARK in str(hook.get("command", "")) for hook in group.get("hooks", []))


def _command(step: str, user: str, database: str | None, model: tuple[str, str] | None = None) -> str:
    """The hook's shell command: the user and (unless the default) the database named, as the server's are, so
    that both read the same memories and a running server can answer; for the capturing steps, the language
    model's address and name (never its key: that stays in the environment)."""
    binary = installed_command()
    where = "" if database is None else f"MEMORY_MCP_DB={shlex.quote(database)} "
    if model is not None and step in ("stop", "pre-compact"):
        where += f"MEMORY_MCP_LLM_BASE_URL={shlex.quote(model[0])} MEMORY_MCP_LLM_MODEL={shlex.quote(model[1])} "
    return f"MEMORY_MCP_USER={shlex.quote(user)} {where}{shlex.quote(binary)} hook {step}"


def with_hooks(
    settings: dict[str, Any], user: str, database: str | None = None, model: tuple[str, str] | None = None
) -> dict[str, Any]:
    """`settings` with our hooks in place of any earlier ones of ours; every other hook and key kept as it was.
    With `model` (base URL, model name) the Stop and PreCompact hooks remember the session in the background."""
    updated = without_hooks(settings)
    hooks = updated.setdefault("hooks", {})
    for event, (step, matcher) in _EVENTS.items():
        if step == "pre-compact" and model is None:
            continue  # it only captures
        command = _command(step, user, database, model)
        group: dict[str, Any] = {"hooks": [{"type": "command", "command": command, "timeout": 10}]}
        if matcher is not None:
            group = {"matcher": matcher, **group}
        hooks.setdefault(event, []).append(group)
    return updated


def without_hooks(settings: dict[str, Any]) -> dict[str, Any]:
    """`settings` without our hooks (and without events left empty by removing them)."""
    updated: dict[str, Any] = json.loads(json.dumps(settings))
    hooks = updated.get("hooks")
    if isinstance(hooks, dict):
        for event in list(hooks):
            if isinstance(hooks[event], list):
                hooks[event] = [group for group in hooks[event] if not _ours(group)]
                if not hooks[event]:
                    del hooks[event]
        if not hooks:
            del updated["hooks"]
    return updated


def _write(path: Path, settings: dict[str, Any], before: dict[str, Any]) -> None:
    if write_json_file(path, settings, before):
        added = set(settings.get("hooks", {})) - set(before.get("hooks", {}))
        click.echo(
            f"{path}: hooks now {', '.join(sorted(settings.get('hooks', {}))) or 'none'}"
            + (f" (added {', '.join(sorted(added))})" if added else "")
        )


@click.group("hooks")
def hooks_group() -> None:
    """Install or remove Claude Code hooks that recall memories and remind the model to save them."""


@hooks_group.command("install")
@click.argument("host", type=click.Choice(["claude-code"]))
@click.option(
    "--scope", type=click.Choice(sorted(SCOPES)), default="user", show_default=True, help="Which settings file."
)
@click.option(
    "--user", "-u", "user_id", metavar="USER", envvar="MEMORY_MCP_USER", help="Whose memories (default: login name)."
)
@click.option("--dry-run", is_flag=True, help="Print the settings file as it would be, change nothing.")
@click.option(
    "--db",
    metavar="PATH",
    envvar="MEMORY_MCP_DB",
    help="The SQLite file the hooks read (env MEMORY_MCP_DB; default: the default database): the server's.",
)
@click.option(
    "--llm-base-url",
    metavar="URL",
    envvar="MEMORY_MCP_LLM_BASE_URL",
    help="With --llm-model: capture each session in the background with this OpenAI-compatible chat API (env "
    "MEMORY_MCP_LLM_BASE_URL; its key, if any, is read from MEMORY_MCP_LLM_API_KEY when the hook runs).",
)
@click.option("--llm-model", metavar="NAME", envvar="MEMORY_MCP_LLM_MODEL", help="The chat model of --llm-base-url.")
def install_command(
    host: str,
    scope: str,
    user_id: str | None,
    dry_run: bool,
    db: str | None,
    llm_base_url: str | None,
    llm_model: str | None,
) -> None:
    """Register the hooks in Claude Code's settings (idempotent: ours are replaced, others kept).

    With a language model (--llm-base-url and --llm-model, or their env vars) the Stop and PreCompact hooks
    remember each session's new messages in the background; without one, Stop asks the model once per session
    to save what it learned."""
    if bool(llm_base_url) != bool(llm_model):
        raise BadInput(
            "Give both --llm-base-url and --llm-model (or neither), e.g. http://localhost:11434/v1 llama3.2."
        )
    path = _settings_file(scope)
    before = read_json_file(path)
    model = (llm_base_url, llm_model) if llm_base_url and llm_model else None
    after = with_hooks(before, user_id or login_user(), None if db is None else database_key(db), model)
    if dry_run:
        emit(after)
        return
    _write(path, after, before)


@hooks_group.command("uninstall")
@click.argument("host", type=click.Choice(["claude-code"]))
@click.option(
    "--scope", type=click.Choice(sorted(SCOPES)), default="user", show_default=True, help="Which settings file."
)
def uninstall_command(host: str, scope: str) -> None:
    """Remove our hooks from Claude Code's settings (idempotent; other hooks and settings are kept)."""
    path = _settings_file(scope)
    before = read_json_file(path)
    _write(path, without_hooks(before), before)


@click.group("hook", hidden=True)
def hook_group() -> None:
    """What the installed hooks run (they read Claude Code's event on stdin and print context for the model)."""


def _recall(step: str, given: dict[str, Any]) -> None:
    """Print what hook `step` recalls, opening the database (`memory-mcp` tried a running server first)."""
    request = recall.request_for(step, recall.event_of(sys.stdin.read()), os.environ)

    async def work(engine: MemoryEngine) -> str:
        return await recall.answer(engine, request)

    if step == "prompt" and not request["prompt"].strip():
        return
    try:
        context = with_engine(given, work, index=step == "prompt")
    except (click.ClickException, MemoryMCPError, ValueError):
        return  # a hook must never stand in the user's way
    if context:
        click.echo(context)


@hook_group.command("session-start")
@data_options
def session_start_command(**given: Any) -> None:
    """Print the user's newest memories (general, and the project's), within about 1,500 tokens."""
    _recall("session-start", given)


@hook_group.command("prompt")
@data_options
def prompt_command(**given: Any) -> None:
    """Print the few memories that match the prompt well (nothing when none does)."""
    _recall("prompt", given)


@hook_group.command("stop")
def stop_command() -> None:
    """Before the model stops: with a language model named, remember the session's new messages in the background;
    without one, ask the model once per session to save what it learned about the user."""
    said = recall.fast("stop", sys.stdin.read(), os.environ)
    if said:
        click.echo(said)


@hook_group.command("pre-compact")
def pre_compact_command() -> None:
    """Before the host compacts the conversation: with a language model named, remember its new messages in the
    background (nothing without one)."""
    recall.fast("pre-compact", sys.stdin.read(), os.environ)


@hook_group.command("capture")
@click.option("--session", required=True, help="The host's session id.")
@click.option("--transcript", required=True, type=click.Path(path_type=Path), help="The session's transcript.")
@data_options
def capture_command(session: str, transcript: Path, **given: Any) -> None:
    """Remember what a session's transcript says since the last capture (what the Stop and PreCompact hooks start
    in the background; `memory_mcp.capture`)."""
    settings = settings_of(given)
    if not settings.llm_base_url or not settings.llm_model:
        raise BadInput("capture needs MEMORY_MCP_LLM_BASE_URL and MEMORY_MCP_LLM_MODEL.")
    user = os.environ.get("MEMORY_MCP_USER") or login_user()
    folder = capture.state_folder(os.environ)
    position = capture.position_file(
        folder, database_key(settings.location), user, capture.session_of({"session_id": session})
    )
    stamp = f"{datetime.now(UTC):%Y-%m-%dT%H:%M:%SZ} session {session}:"
    with capture.only_one(position) as mine:
        if not mine:
            click.echo(f"{stamp} another capture of this session is running; it will take these messages too")
            return
        try:
            parts, skipped = capture.new_parts(transcript, capture.read_position(position, transcript))
        except OSError as exc:
            raise BadInput(f"Cannot read the transcript {transcript}: {exc}.") from None
        for reason in skipped:
            click.echo(f"{stamp} skipped: {reason}")

        async def body() -> list[str]:
            told = []
            async with open_configured(settings, index=True) as engine, configured_model(settings) as model:
                assert model is not None  # checked above
                for part in parts:
                    if part.messages:
                        done = await engine.remember(part.messages, engine.scope(user), model)
                        told += [f"{item.action} {item.fact}" for item in done]
                    capture.save_position(position, transcript, part.end)
            return told

        try:
            told = run(body())
        except click.ClickException as exc:  # the part that failed is read again by the next capture
            raise click.ClickException(f"{stamp} failed, to be tried again by the next hook: {exc.message}") from None
        for line in told:
            click.echo(f"{stamp} {line}")
        click.echo(f"{stamp} remembered up to byte {capture.read_position(position, transcript)} of {transcript}")


COMMANDS = (hooks_group, hook_group)
