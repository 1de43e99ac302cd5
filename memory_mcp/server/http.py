"""Serving the HTTP app with uvicorn: the guard in front, timeouts for slow clients, a connection cap, proxies only
when named, and the periodic purge of what expired."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Final

import anyio
import uvicorn
from mcp.server.mcpserver import MCPServer
from mcp.server.transport_security import TransportSecuritySettings
from starlette.types import ASGIApp
from uvicorn.protocols.http.h11_impl import H11Protocol

from .guard import BODY_LIMITS, Guard, Rules

logger = logging.getLogger(__name__)

HEADER_TIMEOUT: Final = 10.0
"""Seconds a client has to send a request's headers (a connection that sends nothing is closed after it too)."""
KEEP_ALIVE: Final = 5
"""Seconds an idle kept-alive connection stays open."""
MAX_CONNECTIONS: Final = 500
"""Most connections open at once (fewer when the process may open fewer files): more are closed at once."""
TIDY_EVERY: Final = 600.0
DRAIN: Final = 30
"""Seconds a stopping server gives the calls in flight to finish before it closes their connections."""
"""Seconds between purges of expired sign-in state."""


@dataclass(frozen=True)
class Timeouts:
    """How long slow clients are waited for, and how many connections are kept."""

    header: float = HEADER_TIMEOUT
    keep_alive: int = KEEP_ALIVE
    max_connections: int = MAX_CONNECTIONS


def connection_cap(wanted: int) -> int:
    """`wanted`, or half the files this process may open if that is fewer (the rest are for the database and logs)."""
    try:
        import resource  # not on Windows, where the limit is not a file count
    except ImportError:
        return wanted
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return wanted if soft == resource.RLIM_INFINITY else max(16, min(wanted, soft // 2))


def guarded_protocol(timeouts: Timeouts) -> type[H11Protocol]:
    """uvicorn's HTTP/1.1 protocol, closing connections past the cap at once and those whose headers do not
    arrive within `timeouts.header` seconds (uvicorn itself waits for them forever)."""
    cap = connection_cap(timeouts.max_connections)

    class GuardedProtocol(H11Protocol):
        _header_timer: asyncio.TimerHandle | None = None

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            if len(self.connections) > cap:
                logger.warning("more than %d connections open: closing a new one", cap)
                transport.close()
                return
            self._arm()

        def _arm(self) -> None:
            """Wait at most `timeouts.header` seconds for the next request's headers."""
            if self._header_timer is not None:
                self._header_timer.cancel()
            waiting_since = self.cycle
            self._header_timer = self.loop.call_later(timeouts.header, self._too_slow, waiting_since)

        def _too_slow(self, waiting_since: Any) -> None:
            if self.cycle is waiting_since and not self.transport.is_closing():
                logger.info("closing a connection whose request headers did not arrive in time")
                self.transport.close()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            if not self.transport.is_closing():
                self._arm()

        def connection_lost(self, exc: Exception | None) -> None:
            if self._header_timer is not None:
                self._header_timer.cancel()
            super().connection_lost(exc)

    return GuardedProtocol


def http_app(server: MCPServer, rules: Rules, *, stateless: bool = False) -> ASGIApp:
    """The server's streamable-HTTP app (MCP at /mcp, the routes it carries) behind the guard, which checks the
    Host of every route, so the SDK's own check of /mcp alone is off. `stateless`: no MCP session is kept
    between requests (for several processes on one port)."""
    app = server.streamable_http_app(
        transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False),
        max_request_body_size=dict(BODY_LIMITS)["/mcp"],
        stateless_http=stateless,
    )
    return Guard(app, rules)


def uvicorn_config(
    server: MCPServer,
    *,
    host: str,
    port: int,
    rules: Rules,
    trusted_proxies: str | None = None,
    timeouts: Timeouts = Timeouts(),
    log_level: str = "warning",
    stateless: bool = False,
) -> uvicorn.Config:
    """How uvicorn serves the app: the guard in front, our protocol, proxies' headers believed only from
    `trusted_proxies` (comma-separated addresses, or "*"), records through our log handler; on SIGTERM the calls
    in flight get `DRAIN` seconds to finish."""
    return uvicorn.Config(
        http_app(server, rules, stateless=stateless),
        host=host,
        port=port,
        http=guarded_protocol(timeouts),
        proxy_headers=bool(trusted_proxies),
        forwarded_allow_ips=trusted_proxies or "",
        timeout_keep_alive=timeouts.keep_alive,
        limit_concurrency=connection_cap(timeouts.max_connections),
        log_level=log_level,
        log_config=None,  # uvicorn's records go through our handler, whose lines input cannot forge
        timeout_graceful_shutdown=DRAIN,
    )


async def serve_http(
    server: MCPServer,
    *,
    tidy: Callable[[], Awaitable[Any]] | None = None,
    listener: socket.socket | None = None,
    **options: Any,
) -> None:
    """Serve until stopped (SIGINT or SIGTERM: calls in flight finish first); `options` as for `uvicorn_config`.
    Without trusted proxies a client's address is the one it connects from (X-Forwarded-For is ignored). `tidy`
    runs at the start and then every `TIDY_EVERY` seconds. `listener`: a socket bound already (a worker's, shared
    with the others: `workers`); the worker stops as on SIGTERM when its supervisor is gone."""
    running = uvicorn.Server(uvicorn_config(server, **options))
    async with anyio.create_task_group() as tasks:
        if tidy is not None:
            tasks.start_soon(every, TIDY_EVERY, tidy)
        if listener is not None:
            tasks.start_soon(_orphaned, running, os.getppid())
        await running.serve(sockets=None if listener is None else [listener])
        tasks.cancel_scope.cancel()


async def _orphaned(running: uvicorn.Server, parent: int) -> None:
    """Stop `running` (draining, as on SIGTERM) once the process that started this one has ended."""
    while os.getppid() == parent:  # noqa: ASYNC110 (no event tells of a parent's end: polled)
        await anyio.sleep(1)
    logger.warning("the supervisor is gone: stopping this worker")
    running.should_exit = True


async def every(seconds: float, work: Callable[[], Awaitable[Any]]) -> None:
    """Run `work` now and then every `seconds`, for ever; a failure is logged and the next run comes as planned."""
    while True:
        try:
            await work()
        except Exception:  # a failed purge is retried next time; the server keeps serving
            logger.exception("the periodic purge of expired sign-in state failed")
        await anyio.sleep(seconds)
