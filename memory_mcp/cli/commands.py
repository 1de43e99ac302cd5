"""The `memory-mcp` command group: serve MCP (what it does bare), and look at, correct, move and back up memories."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Mapping
from typing import Any

import click

from ..app import serve
from ..version import __version__
from . import admin, hooks, hosts, memories
from ._common import run, settings_of, settings_options

__all__ = ["app"]


@click.group(
    invoke_without_command=True,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110},
    epilog="Without a command it serves MCP on stdio, as MCP hosts launch it. "
    "Every option also reads an env var MEMORY_MCP_*; `memory-mcp COMMAND --help` shows a command's options.",
)
@click.version_option(__version__, "--version", "-V", prog_name="memory-mcp")
@settings_options(serving=True)
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
@settings_options(serving=True)
def serve_command(**given: Any) -> None:
    """Serve MCP over stdio (for MCP hosts) or streamable HTTP (--transport http)."""
    _serve(given)


for _command in (*memories.COMMANDS, *admin.COMMANDS, *hosts.COMMANDS, *hooks.COMMANDS):
    app.add_command(_command)
