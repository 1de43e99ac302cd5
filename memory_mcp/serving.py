"""Serving: open the configured embedder and engine, and serve MCP over stdio or HTTP until stopped."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import re
import signal
import sys
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio.to_thread

from . import __version__
from .config import Settings
from .embedder import HashEmbedder
from .engine import MemoryEngine, Progress
from .errors import ConfigError
from .local_embedder import LocalEmbedder
from .pg_store import redact
from .protocols import Embedder
from .remote_embedder import OpenAIEmbedder
from .validation import ID_PATTERN

logger = logging.getLogger("memory_mcp")


@asynccontextmanager
async def open_embedder(settings: Settings) -> AsyncIterator[Embedder]:
    """The configured embedder, ready to use (an HTTP one has connected and learnt its vector length)."""
    if settings.embedder == "openai":
        remote = await OpenAIEmbedder.connect(
            base_url=settings.openai_base_url,
            model=settings.openai_model,
            api_key=settings.openai_api_key,
            timeout=settings.openai_timeout,
        )
        try:
            yield remote
        finally:
            await remote.aclose()
    elif settings.embedder == "local":
        yield await anyio.to_thread.run_sync(LocalEmbedder, settings.local_model)
    else:
        yield HashEmbedder(settings.embed_dim)


@asynccontextmanager
async def open_engine(
    settings: Settings, *, index: bool = True, background: bool = False, progress: Progress | None = None
) -> AsyncIterator[MemoryEngine]:
    """The engine on the configured database and embedder (see `MemoryEngine.open` for the keywords)."""
    async with (
        open_embedder(settings) as embedder,
        MemoryEngine.open(
            settings.location,
            embedder=embedder,
            limits=settings.limits,
            reembed=settings.reembed,
            vector_weight=settings.search_vector_weight,
            index=index,
            background=background,
            progress=progress,
            pool=settings.pool,
        ) as engine,
    ):
        yield engine


LOOPBACK = ("127.0.0.1", "localhost", "::1")


def load_tokens(path: str) -> dict[str, str]:
    """The {token: user_id} object of a tokens file; ConfigError says what is wrong with it."""
    try:
        tokens = json.loads(Path(path).expanduser().read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"Cannot read the tokens file {path!r}: {exc.strerror}.") from None
    except ValueError as exc:
        raise ConfigError(f"The tokens file {path!r} is not valid JSON: {exc}.") from None
    if not isinstance(tokens, dict) or not tokens:
        raise ConfigError(f'The tokens file {path!r} must hold a non-empty JSON object {{"<token>": "<user_id>"}}.')
    for token, user in tokens.items():
        if len(token) < 16:
            raise ConfigError(f"A token in {path!r} is shorter than 16 characters; use long random tokens.")
        if not isinstance(user, str) or not re.fullmatch(ID_PATTERN, user):
            raise ConfigError(f"The user of a token in {path!r} is not a valid user id: {user!r}.")
    return tokens


def http_access(settings: Settings) -> dict[str, str] | None:
    """The tokens HTTP will require, or None after checking that serving without them is allowed."""
    if settings.tokens_file:
        return load_tokens(settings.tokens_file)
    if settings.host not in LOOPBACK and not settings.allow_unauthenticated:
        raise ConfigError(
            f"Refusing to serve HTTP on {settings.host} without tokens: anyone reaching it could read every "
            "user's memories. Set MEMORY_MCP_TOKENS_FILE, or listen on 127.0.0.1, or pass "
            "--allow-unauthenticated if something in front of it authenticates."
        )
    logger.warning(
        "HTTP without tokens on %s:%d: every local process can read and change every user's memories",
        settings.host,
        settings.port,
    )
    return None


async def serve(settings: Settings) -> None:
    """Open the engine on the configured database and serve MCP (stdio, or HTTP) until stopped."""
    from .server import build_server  # the MCP SDK loads only when serving, so other commands start fast

    tokens = http_access(settings) if settings.transport == "http" else None
    # The index fills in the background: hosts get their handshake and tool list at once, searches wait for it.
    async with open_engine(settings, background=True) as engine:
        stored = await engine.store.count_all()
        logger.info("serving %s (%d memories) on %s", redact(settings.location), stored, settings.transport)
        if settings.transport == "stdio" and sys.stdin.isatty():  # started by hand, not by a host: say so
            sys.stderr.write(
                f"memory-mcp {__version__}: serving MCP on stdio, database {redact(settings.location)} "
                f"({stored} memories).\nIt waits for an MCP host (Claude Desktop, VS Code, Cursor, "
                "Claude Code, the MCP Inspector) to talk to it: `memory-mcp config` prints what to paste into one. "
                "Ctrl-C stops it.\n"
            )
        if settings.transport == "http":
            host = f"[{settings.host}]" if ":" in settings.host else settings.host
            url = f"http://{host}:{settings.port}/mcp"
            server = build_server(engine, resource_limit=settings.resource_limit, tokens=tokens, url=url)
            logger.warning("serving MCP at %s (%s)", url, "bearer tokens required" if tokens else "no tokens")
            await server.run_streamable_http_async(host=settings.host, port=settings.port)
            return
        server = build_server(engine, resource_limit=settings.resource_limit)
        _stop_on_interrupt()
        await server.run_stdio_async()


def _stop_on_interrupt(grace: float = 1.0) -> None:
    """Make Ctrl-C stop the server even while it waits for input.

    The SDK reads stdin in a worker thread that a cancellation cannot interrupt (it waits for a line or
    EOF), so after cancelling we give shutdown `grace` seconds and then exit. Every acknowledged write is
    already committed, and SQLite rolls back anything unfinished, so no memory is lost either way.
    """
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()

    def interrupted() -> None:
        logger.info("interrupted: stopping")
        if task is not None:
            task.cancel()
        timer = threading.Timer(grace, os._exit, args=(130,))
        timer.daemon = True
        timer.start()

    with contextlib.suppress(NotImplementedError, RuntimeError):  # no signal handlers on Windows event loops
        loop.add_signal_handler(signal.SIGINT, interrupted)
