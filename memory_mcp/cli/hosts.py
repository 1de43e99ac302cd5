"""Connecting MCP hosts: `memory-mcp config` prints what to paste into each to launch this server."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Final

import click

from ..config import login_user, resolve
from ..errors import ConfigError
from ..guidance import RULES_FILES, rules
from ._common import BadInput, data_options, settings_of

HOSTS: Final = ("claude-desktop", "cursor", "vscode", "claude-code")


@click.command("config")
@click.argument("host", required=False, type=click.Choice(HOSTS))
@click.option(
    "--user",
    "-u",
    "user_id",
    metavar="USER",
    envvar="MEMORY_MCP_USER",
    help="Whose memories the host's assistant keeps (env MEMORY_MCP_USER; default: your login name).",
)
@data_options
def config_command(host: str | None, user_id: str | None, **given: Any) -> None:
    """Print what to paste into an MCP host (all of them, or HOST) to launch this server on this database.

    The server is told whose memories it keeps (MEMORY_MCP_USER), so the assistant needs no user_id.
    """
    settings = settings_of(given)
    try:
        user = resolve({"user": user_id or login_user()}, {}).user
    except ConfigError as exc:
        raise BadInput(str(exc)) from None
    script = Path(sys.executable).parent / ("memory-mcp.exe" if sys.platform == "win32" else "memory-mcp")
    command = str(script) if script.exists() else "memory-mcp"
    db = str(Path(settings.db).expanduser().resolve())
    entry = {"command": command, "env": {"MEMORY_MCP_DB": db, "MEMORY_MCP_USER": user}}
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
        "claude-code": (
            "Claude Code: run",
            f"claude mcp add -e MEMORY_MCP_DB={db} -e MEMORY_MCP_USER={user} memory -- {command}",
        ),
    }
    if host is not None:
        click.echo(snippets[host][1])
        return
    for where, text in snippets.values():
        click.echo(f"# {where}\n{text}\n")
    click.echo("# Restart the host afterwards, then ask it to remember something about you.")


@click.command("instructions")
@click.argument("host", required=False, default="agents", type=click.Choice(sorted(RULES_FILES)))
@click.option(
    "--user",
    "-u",
    "user_id",
    metavar="USER",
    envvar="MEMORY_MCP_USER",
    help="The user the server keeps memories for, if it has one (env MEMORY_MCP_USER).",
)
def instructions_command(host: str, user_id: str | None) -> None:
    """Print always-on instructions for the model of a host without hooks (cursor, vscode, claude-code, agents).

    Save them where the host reads them (the first line says where), so the model uses memory unasked.
    """
    click.echo(f"# save as {RULES_FILES[host]}", err=True)
    click.echo(rules(host, user_id), nl=False)


COMMANDS = (config_command, instructions_command)
