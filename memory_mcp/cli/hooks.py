"""Claude Code hooks: recall at session start and on each prompt, a reminder to save before a session ends."""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any, Final

import click

from ..engine import MemoryEngine
from ..errors import MemoryMCPError
from ._common import BadInput, data_options, emit, with_engine, working_project
from .hosts import login_user

SESSION_BUDGET: Final = 6_000
"""Characters of memories printed at session start (about 1,500 tokens)."""
PROMPT_HITS: Final = 3
"""At most this many memories added to a prompt, and only strong matches."""
_MARK: Final = "memory-mcp hook "
"""Every command we install contains this, so that install and uninstall find ours and leave the others alone."""
_EVENTS: Final = {
    "SessionStart": ("session-start", "startup|resume|clear|compact"),
    "UserPromptSubmit": ("prompt", None),
    "Stop": ("stop", None),
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


def _command(step: str, user: str) -> str:
    program = Path(sys.executable).parent / ("memory-mcp.exe" if sys.platform == "win32" else "memory-mcp")
    binary = str(program) if program.exists() else "memory-mcp"
    return f"MEMORY_MCP_USER={user} {binary} hook {step}"


def with_hooks(settings: dict[str, Any], user: str) -> dict[str, Any]:
    """`settings` with our hooks in place of any earlier ones of ours; every other hook and key kept as it was."""
    updated = without_hooks(settings)
    hooks = updated.setdefault("hooks", {})
    for event, (step, matcher) in _EVENTS.items():
        group: dict[str, Any] = {"hooks": [{"type": "command", "command": _command(step, user), "timeout": 10}]}
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


def _read(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    try:
        found = json.loads(path.read_text(encoding="utf-8") or "{}")
    except ValueError as exc:
        raise BadInput(f"{path} is not valid JSON ({exc}); fix it first, nothing was changed.") from None
    if not isinstance(found, dict):
        raise BadInput(f"{path} does not hold a JSON object; fix it first, nothing was changed.")
    return found


def _write(path: Path, settings: dict[str, Any], before: dict[str, Any]) -> None:
    if settings == before:
        click.echo(f"{path}: already as it should be; nothing changed.")
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(settings, indent=2) + "\n", encoding="utf-8")
    partial.replace(path)
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
def install_command(host: str, scope: str, user_id: str | None, dry_run: bool) -> None:
    """Register the hooks in Claude Code's settings (idempotent: ours are replaced, others kept)."""
    path = _settings_file(scope)
    before = _read(path)
    after = with_hooks(before, user_id or login_user())
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
    before = _read(path)
    _write(path, without_hooks(before), before)


def _event() -> dict[str, Any]:
    """The JSON Claude Code sends a hook on stdin ({} when there is none or it is not JSON)."""
    try:
        found = json.loads(sys.stdin.read() or "{}")
    except ValueError:
        return {}
    return found if isinstance(found, dict) else {}


@click.group("hook", hidden=True)
def hook_group() -> None:
    """What the installed hooks run (they read Claude Code's event on stdin and print context for the model)."""


def _project(event: dict[str, Any]) -> str | None:
    """The project of the session: MEMORY_MCP_PROJECT, else the git repository of the event's `cwd` (Claude Code
    sends the session's working directory), else of ours."""
    cwd = event.get("cwd")
    return working_project(Path(cwd) if isinstance(cwd, str) and cwd else None)


@hook_group.command("session-start")
@data_options
def session_start_command(**given: Any) -> None:
    """Print the user's newest memories (general, and the project's), within about 1,500 tokens."""
    project = _project(_event())
    user = os.environ.get("MEMORY_MCP_USER") or login_user()

    async def newest(engine: MemoryEngine) -> list[str]:
        page = await engine.page(engine.scope(user, project=project), limit=100)
        return [memory.text for memory in page.memories]

    try:
        texts = with_engine(given, newest)
    except (click.ClickException, MemoryMCPError):
        return  # a hook must never stand in the user's way
    if not texts:
        return
    lines, used = [], 0
    for text in texts:
        line = f"- {text}"
        if used + len(line) > SESSION_BUDGET:
            break
        lines.append(line)
        used += len(line) + 1
    where = "" if project is None else f", general and of project {project}"
    click.echo(
        f"What you remember about the user (memory-mcp, {len(lines)} of their newest memories{where}; "
        "search_memory finds others, add_memory keeps new facts):\n" + "\n".join(lines)
    )


@hook_group.command("prompt")
@data_options
def prompt_command(**given: Any) -> None:
    """Print the few memories that match the prompt well (nothing when none does)."""
    event = _event()
    prompt = str(event.get("prompt") or "").strip()
    if not prompt:
        return
    user = os.environ.get("MEMORY_MCP_USER") or login_user()
    project = _project(event)

    async def matches(engine: MemoryEngine) -> list[str]:
        hits = await engine.search(prompt[:2_000], engine.scope(user, project=project), limit=PROMPT_HITS)
        return [hit.memory.text for hit in hits if hit.match == "strong"]

    try:
        found = with_engine(given, matches, index=True)
    except (click.ClickException, MemoryMCPError):
        return
    if found:
        click.echo("Memories that may bear on this (memory-mcp):\n" + "\n".join(f"- {text}" for text in found))


@hook_group.command("stop")
def stop_command() -> None:
    """Once per session, before the model stops: ask it to save what it learned about the user."""
    event = _event()
    session = "".join(ch for ch in str(event.get("session_id") or "") if ch.isalnum() or ch in "-_")
    if event.get("stop_hook_active") or not session:
        return
    marker = Path(tempfile.gettempdir()) / "memory-mcp-reminded" / session
    if marker.exists():
        return
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.touch()
    reason = (
        "Before you finish: if the user told you lasting facts about themselves in this session (preferences, "
        "plans, people, decisions) that are not in memory yet, save each with add_memory; if not, just finish."
    )
    click.echo(json.dumps({"decision": "block", "reason": reason}))


COMMANDS = (hooks_group, hook_group)
