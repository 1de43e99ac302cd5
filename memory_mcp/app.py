"""The wiring: settings -> embedder, store and retriever -> engine -> server, and serving it until stopped."""

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
from typing import TYPE_CHECKING

from .chat import OpenAIChat
from .config import Settings
from .embedders import (
    default_embedder,
    meaning_of,
    meaning_room_for,
    min_similarity_for,
    open_embedder,
    ranker_for,
    vector_weight_for,
)
from .engine import MemoryEngine, Progress
from .errors import ConfigError
from .locations import database_key, is_postgres, redact
from .models import Limits, Meaning
from .private import exposed
from .protocols import AccountStore, Embedder, Retriever
from .search import LocalSearch, NoSearch, NumpyIndex, StoreSearch
from .stores import SqliteStore, open_store
from .validation import ID_PATTERN
from .version import __version__
from .workers import inherited_socket

if TYPE_CHECKING:
    from .stores import PostgresStore

logger = logging.getLogger("memory_mcp")

_POOL = (Settings.pg_pool_min, Settings.pg_pool_max)
_LOCAL_IDS = ("hash-v", "minilm-static-")


def retriever_for(
    store: SqliteStore | PostgresStore,
    *,
    dim: int,
    vector_weight: float,
    min_similarity: float,
    meaning: Meaning | None = None,
) -> Retriever:
    """How the engine searches this store: PostgreSQL searches itself; a SQLite file gets an in-process index.
    `meaning`: where the vectors carry meaning, for the meaning leg (`embedders.meaning_of`)."""
    if isinstance(store, SqliteStore):
        index = NumpyIndex(dim, vector_weight=vector_weight, min_similarity=min_similarity, meaning=meaning)
        return LocalSearch(store, index)
    return StoreSearch(store, vector_weight=vector_weight, min_similarity=min_similarity, meaning=meaning)


@asynccontextmanager
async def open_engine(
    location: str | Path,
    *,
    embedder: Embedder | None = None,
    limits: Limits | None = None,
    reembed: bool = False,
    vector_weight: float | None = None,
    index: bool = True,
    background: bool = False,
    progress: Progress | None = None,
    pool: tuple[int, int] = _POOL,
    mapped: bool = False,
) -> AsyncIterator[MemoryEngine]:
    """An engine on the database at `location` (a SQLite file, or a `postgresql://` URL); closed on exit.

    `embedder` defaults to the default embedder (spelling + meaning), and `vector_weight` to the one measured
    for the embedder (`embedders.vector_weight_for`). Vectors of another embedder are refused unless `reembed`,
    except between memory-mcp's own local embedders (hash, default), which re-embed by themselves: cheap,
    deterministic and offline. `index=False` builds no search (for tools that read and
    write but never search; search is then refused). `background=True` returns as soon as the database
    is checked and fills the index meanwhile: reads answer at once, searches wait for it, writes queue
    behind it. `progress` follows a re-embedding; `pool` = (min, max) PostgreSQL connections; `mapped`: a SQLite
    file is read through a memory map (for a process that ends after one command: a server's resident memory would
    count the mapped pages).
    """
    chosen = embedder or default_embedder()
    weight = vector_weight_for(chosen) if vector_weight is None else vector_weight
    store = await open_store(location, dim=chosen.dim, pool=pool, mapped=mapped)
    try:
        retriever: Retriever = NoSearch()
        if index:
            related = min_similarity_for(chosen)
            retriever = retriever_for(
                store, dim=chosen.dim, vector_weight=weight, min_similarity=related, meaning=meaning_of(chosen)
            )
        engine = MemoryEngine(
            store, retriever, chosen, limits, meaning_room=meaning_room_for(chosen), ranker=ranker_for(chosen)
        )
        try:
            automatic = _local(chosen.id)
            await engine.start(
                reembed=reembed or (lambda stored: automatic and _local(stored)),
                background=background,
                progress=progress,
            )
            yield engine
        finally:
            await engine.stop()
    finally:
        await store.close()


@asynccontextmanager
async def configured_model(settings: Settings) -> AsyncIterator[OpenAIChat | None]:
    """The language model of MEMORY_MCP_LLM_BASE_URL and _MODEL (None without both), closed afterwards."""
    if not settings.llm_base_url or not settings.llm_model:
        yield None
        return
    model = OpenAIChat(
        base_url=settings.llm_base_url,
        model=settings.llm_model,
        api_key=settings.llm_api_key,
        timeout=settings.llm_timeout,
    )
    try:
        yield model
    finally:
        await model.aclose()


def accounts_of(engine: MemoryEngine) -> AccountStore:
    """The accounts, OAuth clients and secrets kept in the engine's database (both stores the app opens keep them
    beside the memories); for the server's sign-in and the account commands, never for the engine."""
    store = engine.store
    if not isinstance(store, AccountStore):
        raise ConfigError(f"The database of this engine ({type(store).__name__}) keeps no accounts for sign-in.")
    return store


def _local(embedder_id: str) -> bool:
    """True for the ids of memory-mcp's own embedders, which need no model, no network and no key."""
    return all(part.startswith(_LOCAL_IDS) for part in embedder_id.split("+"))


@asynccontextmanager
async def open_configured(
    settings: Settings,
    *,
    index: bool = True,
    background: bool = False,
    progress: Progress | None = None,
    mapped: bool = False,
) -> AsyncIterator[MemoryEngine]:
    """The engine on the configured database and embedder (see `open_engine` for the keywords)."""
    async with (
        open_embedder(settings) as embedder,
        open_engine(
            settings.location,
            embedder=embedder,
            limits=settings.limits,
            reembed=settings.reembed,
            vector_weight=settings.search_vector_weight,
            index=index,
            background=background,
            progress=progress,
            pool=settings.pool,
            mapped=mapped,
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
    _warn_if_exposed(path, "tokens file (anyone who reads it can act as its users)")
    if not isinstance(tokens, dict) or not tokens:
        raise ConfigError(f'The tokens file {path!r} must hold a non-empty JSON object {{"<token>": "<user_id>"}}.')
    for token, user in tokens.items():
        if len(token) < 16:
            raise ConfigError(f"A token in {path!r} is shorter than 16 characters; use long random tokens.")
        if not isinstance(user, str) or not re.fullmatch(ID_PATTERN, user):
            raise ConfigError(f"The user of a token in {path!r} is not a valid user id: {user!r}.")
    return tokens


def _warn_if_exposed(location: str, what: str) -> None:
    """Log a warning when someone besides the owner may read the file at `location`."""
    path = Path(location).expanduser()
    readers = exposed(path)
    if readers is not None:
        logger.warning("the %s %s can be read by %s: run chmod 600 %s", what, path, readers, path)


def http_access(settings: Settings, accounts: int = 0) -> dict[str, str] | None:
    """The static tokens HTTP will accept, or None; refuses to serve a non-loopback address with no way to sign in
    (no tokens file and no account) unless allowed."""
    if settings.tokens_file:
        return load_tokens(settings.tokens_file)
    if accounts:
        return None
    if settings.host not in LOOPBACK and not settings.allow_unauthenticated:
        raise ConfigError(
            f"Refusing to serve HTTP on {settings.host} without sign-in: anyone reaching it could read every "
            "user's memories. Add an account (memory-mcp users add NAME) for OAuth sign-in, or set "
            "MEMORY_MCP_TOKENS_FILE, or listen on 127.0.0.1, or pass --allow-unauthenticated if something in front "
            "of it authenticates."
        )
    logger.warning(
        "HTTP without tokens on %s:%d: every local process can read and change every user's memories",
        settings.host,
        settings.port,
    )
    return None


async def serve(settings: Settings, *, sign_in: bool = True) -> None:
    """Open the engine on the configured database and serve MCP (stdio, or HTTP) until stopped.

    `sign_in=False` (`memory-mcp ui`: one person on loopback) serves HTTP with neither tokens nor OAuth."""
    # the MCP SDK loads only when serving, so other commands start fast
    from .server import build_server
    from .server.guard import Rules
    from .server.http import serve_http
    from .server.oauth import tidy
    from .server.signin import WINDOW

    if settings.transport == "http" and settings.tokens_file and sign_in:
        load_tokens(settings.tokens_file)  # a broken tokens file stops the start before the database opens
    # The index fills in the background: hosts get their handshake and tool list at once, searches wait for it.
    if not is_postgres(settings.location):
        _warn_if_exposed(settings.db, "database (every memory and the password hashes)")
    async with open_configured(settings, background=True) as engine, configured_model(settings) as model:
        stored = sum(summary.memories for summary in await engine.summaries())  # current memories, as shown
        logger.info("serving %s (%d memories) on %s", redact(settings.location), stored, settings.transport)
        if settings.transport == "stdio" and sys.stdin.isatty():  # started by hand, not by a host: say so
            sys.stderr.write(
                f"memory-mcp {__version__}: serving MCP on stdio, database {redact(settings.location)} "
                f"({stored} memories).\nIt waits for an MCP host (Claude Desktop, VS Code, Cursor, "
                "Claude Code, the MCP Inspector) to talk to it: `memory-mcp config` prints what to paste into one. "
                "Ctrl-C stops it.\n"
            )
        if settings.transport == "http":
            keeper = accounts_of(engine)
            accounts = len(await keeper.account_names()) if sign_in else 0
            tokens = http_access(settings, accounts) if sign_in else None
            host = f"[{settings.host}]" if ":" in settings.host else settings.host
            url = settings.public_url or f"http://{host}:{settings.port}/mcp"
            server = build_server(
                engine,
                resource_limit=settings.resource_limit,
                tokens=tokens,
                url=url,
                default_user=settings.user,
                project=settings.project,
                tools=settings.tools,
                rest=True,
                accounts=keeper if accounts > 0 else None,
                loopback_clients=settings.allow_loopback_clients,
                language_model=model,
            )
            access = f"OAuth sign-in for {accounts} account(s)" if accounts else "no sign-in"
            if tokens:
                access += " and static bearer tokens" if accounts else "; static bearer tokens required"
            # Where to connect is news for the person who started it, not a warning: said on stderr as it is.
            listener = inherited_socket()
            if listener is None:  # a worker's supervisor says it once for all
                sys.stderr.write(f"memory-mcp {__version__}: serving MCP at {url} ({access}). Ctrl-C stops it.\n")
            await serve_http(
                server,
                listener=listener,
                stateless=settings.workers > 1,
                host=settings.host,
                port=settings.port,
                rules=Rules.of(settings.public_url, settings.allowed_hosts),
                trusted_proxies=",".join(settings.trusted_proxies) or None,
                tidy=(lambda: tidy(keeper, WINDOW)) if accounts else None,
                log_level=settings.log_level.lower(),
            )
            return
        server = build_server(
            engine,
            resource_limit=settings.resource_limit,
            default_user=settings.user,
            project=settings.project,
            tools=settings.tools,
            language_model=model,
        )
        _stop_on_interrupt()
        # One person's server also answers their hooks (memory_mcp.recall), on a socket only they can reach.
        from . import recall

        searching = recall.search_settings(
            settings.embedder, settings.embed_dim, settings.vector_weight, settings.max_results
        )
        async with recall.listening(engine, database_key(settings.location), searching):
            await server.run_stdio_async()


def _stop_on_interrupt(grace: float = 1.0) -> None:
    """Make Ctrl-C (and SIGTERM) stop the server even while it waits for input.

    The SDK reads stdin in a worker thread that a cancellation cannot interrupt (it waits for a line or
    EOF), so after cancelling we give shutdown `grace` seconds and then exit. Every acknowledged write is
    already committed, and SQLite rolls back anything unfinished, so no memory is lost either way.
    """
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()

    def interrupted(code: int) -> None:
        logger.info("interrupted: stopping")
        from . import recall  # loaded already by the stdio server that installed this handler

        recall.stop_listening()
        if task is not None:
            task.cancel()
        timer = threading.Timer(grace, os._exit, args=(code,))
        timer.daemon = True
        timer.start()

    with contextlib.suppress(NotImplementedError, RuntimeError):  # no signal handlers on Windows event loops
        loop.add_signal_handler(signal.SIGINT, interrupted, 130)
        # SIGTERM (a host or a service manager stopping it) ends it the same way: the hooks' socket is removed.
        loop.add_signal_handler(signal.SIGTERM, interrupted, 143)
