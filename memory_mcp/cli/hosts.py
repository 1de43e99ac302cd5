"""Connecting MCP hosts: `memory-mcp config` prints what to paste into each to launch this server."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Final

import click

from ._common import data_options, settings_of

HOSTS: Final = ("claude-desktop", "cursor", "vscode", "claude-code")


@click.command("config")
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


COMMANDS = (config_command,)
