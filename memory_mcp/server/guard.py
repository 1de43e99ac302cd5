"""The HTTP guard around the whole app: this server's own host names only, no changes from another site, bounded
bodies read with a deadline."""

from __future__ import annotations

import ipaddress
import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import urlparse

import anyio
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

logger = logging.getLogger(__name__)

LOOPBACK_NAMES: Final = frozenset({"localhost", "127.0.0.1", "::1"})
SAFE_METHODS: Final = frozenset({"GET", "HEAD", "OPTIONS"})
CROSS_SITE_PATHS: Final = frozenset({"/token", "/register", "/revoke"})
"""The OAuth endpoints that browser clients of other sites call by design (the SDK answers them with CORS); they
take no ambient credential, so a request from another site can do nothing there that it could not do anyway."""
MCP_PATH: Final = "/mcp"
BODY_LIMITS: Final = (("/mcp", 4 * 1024 * 1024), ("/api/", 1024 * 1024))
"""The largest request body per path prefix (bytes): MCP carries batches of up to 1,000 memories (the SDK's own limit
is the same 4 MiB); one REST call carries one memory; any other route a small form or JSON object."""
OTHER_BODY_LIMIT: Final = 64 * 1024
BODY_TIMEOUT: Final = 30.0
"""Seconds a client may pause while sending a request body."""


def host_name(value: str) -> str:
    """The host of a Host header or URL authority, lowercased, without port, brackets or a final dot."""
    value = value.strip().lower()
    if value.startswith("["):
        return value[1 : value.find("]")] if "]" in value else value
    if value.count(":") == 1:
        value = value.partition(":")[0]
    return value.rstrip(".")


def is_address(host: str) -> bool:
    """True for an IP literal. A page cannot rebind an address (only a name it controls), so a request naming an
    address of this machine was sent to that address on purpose."""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


@dataclass(frozen=True)
class Rules:
    """Which Host names the server answers to, and how big a request body may be.

    `names`: the host names besides IP literals and localhost (the `--public-url` host, each `--allowed-host`);
    `"*"` among them turns the Host check off (a proxy in front checks it). `body_timeout`: seconds a client may
    pause within a body.
    """

    names: frozenset[str] = frozenset()
    body_limits: tuple[tuple[str, int], ...] = BODY_LIMITS
    other_body_limit: int = OTHER_BODY_LIMIT
    body_timeout: float = BODY_TIMEOUT
    any_host: bool = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "any_host", "*" in self.names)
        object.__setattr__(self, "names", frozenset(host_name(name) for name in self.names if name != "*"))

    @classmethod
    def of(cls, public_url: str | None, allowed: Iterable[str] = ()) -> Rules:
        """The rules of a server reached at `public_url` (if any) and under the `allowed` host names."""
        names = set(allowed)
        if public_url:
            names.add(urlparse(public_url).hostname or "")
        return cls(frozenset(name for name in names if name))

    def host_allowed(self, host: str) -> bool:
        """True when a request with this Host header is meant for this server."""
        name = host_name(host)
        if not name:
            return False
        return self.any_host or name in LOOPBACK_NAMES or name in self.names or is_address(name)

    def origin_allowed(self, origin: str, host: str, path: str) -> bool:
        """True when a page at `origin` may change something here: a page of this server itself, or of a name
        it answers to; the MCP endpoint also takes pages on this machine (the MCP Inspector in a browser)."""
        parsed = urlparse(origin)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            return False  # "null" (sandboxed frames, file: pages) and anything stranger
        if parsed.netloc.lower() == host.strip().lower():
            return True
        name = host_name(parsed.netloc)
        if name in self.names:
            return True
        return (path == MCP_PATH or path.startswith(MCP_PATH + "/")) and name in LOOPBACK_NAMES

    def body_limit(self, path: str) -> int:
        """The largest body a request to `path` may carry."""
        return next((limit for prefix, limit in self.body_limits if path.startswith(prefix)), self.other_body_limit)


async def problem(send: Send, status: int, title: str, detail: str, headers: dict[str, str] | None = None) -> None:
    """Answer with RFC 9457 problem details and close the connection."""
    body = json.dumps({"type": "about:blank", "title": title, "status": status, "detail": detail}).encode()
    raw = [
        (b"content-type", b"application/problem+json"),
        (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),
        *((name.lower().encode(), value.encode()) for name, value in (headers or {}).items()),
    ]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


class Guard:
    """ASGI middleware in front of every route: a foreign Host is refused (421) before any handler runs (DNS
    rebinding), a state-changing request from another site's page is refused (403), and a body over the route's
    limit (413) or paused past the deadline (408) is cut off while it is read, never buffered whole."""

    def __init__(self, app: ASGIApp, rules: Rules) -> None:
        self.app, self.rules = app, rules

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        host, path, method = headers.get("host", ""), str(scope.get("path", "")), str(scope.get("method", "GET"))
        if not self.rules.host_allowed(host):
            logger.warning("refused a request for host %r (not a name this server answers to)", host)
            await problem(
                send,
                421,
                "Misdirected request",
                f"This server does not answer to the host name {host_name(host)!r}. If that name is really "
                f"this server's, start it with --allowed-host {host_name(host) or 'NAME'} (or --public-url).",
            )
            return
        origin = headers.get("origin")
        if (
            method not in SAFE_METHODS
            and origin is not None
            and path not in CROSS_SITE_PATHS
            and not self.rules.origin_allowed(origin, host, path)
        ):
            logger.warning("refused a %s %s from a page at %r", method, path, origin)
            await problem(
                send,
                403,
                "Forbidden",
                f"A page at {origin!r} may not change anything on this server: only its own pages may. "
                "Nothing was changed.",
            )
            return
        limit = self.rules.body_limit(path)
        length = headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > limit):
            await problem(send, 413, "Request too large", _too_large(limit))
            return
        await self._bounded(scope, receive, send, limit)

    async def _bounded(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        """Run the app with a body counted as it arrives: past `limit` bytes, or after a pause longer than the
        deadline, the app is told the client left, its answer is dropped, and 413 or 408 goes out instead."""
        received, cut, body_done, started = 0, 0, False, False

        async def counted() -> Message:
            nonlocal received, cut, body_done
            if cut:
                return {"type": "http.disconnect"}
            if body_done:
                return await receive()
            try:
                with anyio.fail_after(self.rules.body_timeout):
                    message = await receive()
            except TimeoutError:
                cut = 408
                return {"type": "http.disconnect"}
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    cut = 413
                    return {"type": "http.disconnect"}
                body_done = not message.get("more_body", False)
            return message

        async def guarded(message: Message) -> None:
            nonlocal started
            if cut and not started:
                return  # the app's answer to a body it never got whole
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counted, guarded)
        except Exception:
            if not cut or started:
                raise
        if cut and not started:
            if cut == 413:
                await problem(send, 413, "Request too large", _too_large(limit))
            else:
                await problem(send, 408, "Request timeout", "The request body stopped arriving; send it again.")


def _too_large(limit: int) -> str:
    return f"The request body is larger than {limit:,} bytes, the most this route takes. Nothing was changed."


def is_authenticated(scope: Scope) -> bool:
    """True when the SDK's authentication middleware found a valid bearer token for this request."""
    user: Any = scope.get("user")
    return bool(getattr(user, "is_authenticated", False))


def token_first(app: ASGIApp) -> ASGIApp:
    """ASGI middleware for routes that need a token: a request that could carry a body (any but GET, HEAD,
    OPTIONS) without a valid token is answered 401 before a byte of its body is read."""

    async def checked(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope.get("method") not in SAFE_METHODS and not is_authenticated(scope):
            await problem(
                send,
                401,
                "Unauthorized",
                "Send Authorization: Bearer <token> (the same token as for /mcp).",
                {"WWW-Authenticate": "Bearer"},
            )
            return
        await app(scope, receive, send)

    return checked
