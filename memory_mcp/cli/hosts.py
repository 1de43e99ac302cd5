"""Connecting MCP hosts: `memory-mcp config` prints what to paste into each to launch this server."""

from __future__ import annotations

import json
import os
import shlex
import sys
from pathlib import Path
from typing import Any, Final

import click

from ..config import resolve
from ..errors import ConfigError
from ..guidance import RULES_FILES, rules
from ..locations import login_user
from ._common import BadInput, data_options, installed_command, read_json_file, settings_of, write_json_file

HOSTS: Final = ("claude-desktop", "cursor", "vscode", "claude-code")


def host_file(host: str) -> Path:
    """Where a host keeps its MCP servers: Claude Desktop's config in the user's application data, Cursor's
    ~/.cursor/mcp.json, VS Code's workspace .vscode/mcp.json (in the working directory)."""
    if host == "cursor":
        return Path("~/.cursor/mcp.json").expanduser()
    if host == "vscode":
        return Path(".vscode/mcp.json")
    if sys.platform == "darwin":
        return Path("~/Library/Application Support/Claude/claude_desktop_config.json").expanduser()
    if sys.platform == "win32" and os.environ.get("APPDATA"):
        return Path(os.environ["APPDATA"]) / "Claude" / "claude_desktop_config.json"
    return Path("~/.config/Claude/claude_desktop_config.json").expanduser()


WRITABLE: Final = ("claude-desktop", "cursor", "vscode")
"""The hosts whose settings are a JSON file `config --write` can edit (Claude Code has its own `claude mcp add`)."""


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
@click.option(
    "--write",
    is_flag=True,
    help="Add the server to HOST's own file (claude-desktop, cursor, or vscode's .vscode/mcp.json), keeping the "
    "rest; for claude-code, run the printed `claude mcp add` command instead.",
)
@data_options
def config_command(host: str | None, user_id: str | None, write: bool, **given: Any) -> None:
    """Print what to paste into an MCP host (all of them, or HOST) to launch this server on this database.

    The server is told whose memories it keeps (MEMORY_MCP_USER), so the assistant needs no user_id.
    """
    settings = settings_of(given)
    try:
        user = resolve({"user": user_id or login_user()}, {}).user or login_user()
    except ConfigError as exc:
        raise BadInput(str(exc)) from None
    command = installed_command()
    db = str(Path(settings.db).expanduser().resolve())
    entry = {"command": command, "env": {"MEMORY_MCP_DB": db, "MEMORY_MCP_USER": user}}
    vscode_entry = {"type": "stdio", **entry}
    add_mcp = json.dumps({"name": "memory", **vscode_entry})
    # The name comes first: Claude Code's -e takes several values and would swallow a name after it.
    claude_add = (
        f"claude mcp add memory -e MEMORY_MCP_DB={shlex.quote(db)} -e MEMORY_MCP_USER={shlex.quote(user)} "
        f"-- {shlex.quote(command)}"
    )
    files = {
        "claude-desktop": {"mcpServers": {"memory": entry}},
        "cursor": {"mcpServers": {"memory": entry}},
        "vscode": {"servers": {"memory": vscode_entry}},
    }
    if write:
        if host not in WRITABLE:
            raise BadInput(f"--write edits the file of {', '.join(WRITABLE)}; for Claude Code run: {claude_add}")
        path = host_file(host)
        before = read_json_file(path)
        key = "servers" if host == "vscode" else "mcpServers"
        after = {**before, key: {**(before.get(key) or {}), **files[host][key]}}
        if write_json_file(path, after, before):
            click.echo(f"{path}: server 'memory' added; restart {host} to start it.")
        return
    snippets = {
        "claude-desktop": (
            f"Claude Desktop: {host_file('claude-desktop')}",
            json.dumps(files["claude-desktop"], indent=2),
        ),
        "cursor": ("Cursor: ~/.cursor/mcp.json or .cursor/mcp.json", json.dumps(files["cursor"], indent=2)),
        "vscode": (
            f".vscode/mcp.json (or run: code --add-mcp {shlex.quote(add_mcp)})",
            json.dumps(files["vscode"], indent=2),
        ),
        "claude-code": ("Claude Code: run", claude_add),
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
