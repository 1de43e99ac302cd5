"""The `memory-mcp` command group: serve MCP (what it does bare), and look at, correct, move and back up memories."""

from __future__ import annotations

import asyncio
import importlib
import os
import socket
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import replace
from typing import Any, Final

import click

from ..locations import login_user
from ..version import __version__
from ..workers import LISTEN_FD, supervise
from ._common import BadInput, run, settings_of, settings_options

__all__ = ["app"]


_MODULES: Final = {
    "memories": ("list", "search", "show", "history", "add", "edit", "link", "unlink", "delete"),
    "admin": ("users", "stats", "export", "import", "backup", "check", "migrate"),
    "hosts": ("config", "instructions"),
    "hooks": ("hooks", "hook"),
    "remembering": ("remember",),
}
"""Which module of this package holds each command: a command loads only its own (a listing never imports what
serving, importing or the hooks need)."""
ONE_SHOT: Final = frozenset(name for names in _MODULES.values() for name in names)
"""The commands that do one thing and end (everything but serving): `main` ends their process without tearing the
interpreter down."""


class LazyGroup(click.Group):
    """A command group that imports a command's module when the command is asked for."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *(name for names in _MODULES.values() for name in names)})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        found = super().get_command(ctx, cmd_name)
        if found is not None:
            return found
        module = next((module for module, names in _MODULES.items() if cmd_name in names), None)
        if module is None:
            return None
        loaded = importlib.import_module(f"{__package__}.{module}")
        for command in loaded.COMMANDS:
            self.add_command(command)
        return super().get_command(ctx, cmd_name)


@click.group(
    cls=LazyGroup,
    invoke_without_command=True,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110},
    epilog="Without a command it serves MCP on stdio, as MCP hosts launch it; it takes the options of `serve` "
    "(`memory-mcp serve --help` lists them). Every option also reads an env var MEMORY_MCP_*; "
    "`memory-mcp COMMAND --help` shows a command's options.",
)
@click.version_option(__version__, "--version", "-V", prog_name="memory-mcp")
@settings_options(serving=True, hidden=True)
@click.pass_context
def app(context: click.Context, /, **given: Any) -> None:
    """Long-term memory for AI assistants, over the Model Context Protocol (MCP)."""
    context.obj = {name: value for name, value in given.items() if value is not None}
    if context.invoked_subcommand is None:
        _serve({})


def _serve(given: Mapping[str, Any]) -> None:
    settings = settings_of(given)
    if settings.workers > 1 and settings.transport != "http":
        raise BadInput("--workers serves HTTP: add --transport http (a host starts one stdio server itself).")
    if settings.workers > 1 and not os.environ.get(LISTEN_FD):
        host = f"[{settings.host}]" if ":" in settings.host else settings.host
        sys.stderr.write(
            f"memory-mcp {__version__}: serving MCP at {settings.public_url or f'http://{host}:{settings.port}/mcp'} "
            f"with {settings.workers} worker processes (MCP over HTTP is stateless). Ctrl-C stops it.\n"
        )
        try:
            sys.exit(supervise(settings.workers, settings.host, settings.port, sys.argv[1:]))
        except OSError as exc:
            raise BadInput(f"Cannot listen on {settings.host}:{settings.port}: {exc}.") from None
    from ..app import serve  # here: the listing and `--help` need neither the engine nor the server

    try:
        run(serve(settings))
    except (KeyboardInterrupt, asyncio.CancelledError):
        sys.exit(130)


@app.command("serve")
@settings_options(serving=True)
def serve_command(**given: Any) -> None:
    """Serve MCP over stdio (for MCP hosts) or streamable HTTP (--transport http)."""
    _serve(given)


@app.command("ui")
@click.option("--port", type=int, default=0, help="Port on 127.0.0.1 (default: a free one).")
@click.option("--no-browser", is_flag=True, help="Print the address instead of opening a browser.")
@click.option(
    "--user", "-u", "user", metavar="USER", help="Whose memories (default: MEMORY_MCP_USER, else your login)."
)
@settings_options(serving=False)
def ui_command(port: int, no_browser: bool, **given: Any) -> None:
    """See and tend your memories in a web page, on this machine only, without sign-in (the user of --user, else
    your login name; the same database as the stdio server)."""
    settings = settings_of(given)
    chosen = port or free_port()
    settings = replace(
        settings, transport="http", host="127.0.0.1", port=chosen, user=settings.user or login_user(), public_url=None
    )
    url = f"http://127.0.0.1:{chosen}/"
    sys.stderr.write(f"memory-mcp: the memories of {settings.user} at {url} (Ctrl-C stops it)\n")
    if not no_browser:
        threading.Thread(target=_open_when_up, args=(url,), daemon=True).start()
    from ..app import serve

    try:
        run(serve(settings, sign_in=False))
    except (KeyboardInterrupt, asyncio.CancelledError):
        sys.exit(130)


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _open_when_up(url: str) -> None:
    import urllib.request  # here: only `ui` opens a browser
    import webbrowser

    for _ in range(100):
        try:
            with urllib.request.urlopen(url + "health", timeout=1):
                break
        except OSError:
            time.sleep(0.1)
    webbrowser.open(url)
