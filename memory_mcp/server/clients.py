"""Client ID metadata documents: an OAuth client named by an https URL whose JSON describes it, fetched with bounds."""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
import re
import socket
import time
from typing import Final
from urllib.parse import urlparse

import httpx2
from mcp.shared.auth import OAuthClientInformationFull
from pydantic import ValidationError

logger = logging.getLogger(__name__)

MAX_BYTES: Final = 16 * 1024
"""The largest document read."""
TIMEOUT: Final = 5.0
"""Seconds for the whole fetch."""
LOOPBACK_HOSTS: Final = ("localhost", "127.0.0.1", "::1")
KEEP: Final = 300.0
"""Seconds a fetched document is used before it is fetched again."""


class ClientDocumentError(Exception):
    """A client id URL whose document cannot be used; the message says why."""


APP_SCHEMES: Final = frozenset({"cursor", "vscode", "vscode-insiders", "windsurf", "zed"})
"""Own schemes of MCP hosts in use that predate the reverse-DNS rule (Cursor sends people back to cursor://...)."""
_SCHEME: Final = re.compile(r"[a-z][a-z0-9+\-]*(\.[a-z0-9+\-]+)+")
"""A private-use scheme of reverse-DNS form (RFC 8252 section 7.1): com.example.app."""
NOT_PUBLIC: Final = (
    ipaddress.ip_network("100.64.0.0/10"),  # carrier-grade NAT: addresses inside a provider's network
    ipaddress.ip_network("2002::/16"),  # 6to4: an IPv4 address inside, possibly a private one
    ipaddress.ip_network("64:ff9b::/96"),  # NAT64: the same
    ipaddress.ip_network("64:ff9b:1::/48"),
)


def redirect_allowed(uri: str) -> bool:
    """Where a client may send a person back: https anywhere, http on this machine only (RFC 8252 loopback), or an
    app's own scheme of reverse-DNS form (com.example.app:/cb) or of a known MCP host (cursor://...); never with
    a user name or password before the host (https://good@evil.example) or a #fragment."""
    parsed = urlparse(uri)
    if "@" in parsed.netloc or parsed.fragment or "#" in uri:
        return False
    if parsed.scheme == "https":
        return bool(parsed.hostname)
    if parsed.scheme == "http":
        return parsed.hostname in LOOPBACK_HOSTS
    return bool(_SCHEME.fullmatch(parsed.scheme)) or parsed.scheme in APP_SCHEMES


def is_document_url(client_id: str) -> bool:
    """True for a client id that names a metadata document: https, a host and a path."""
    parsed = urlparse(client_id)
    return parsed.scheme == "https" and bool(parsed.hostname) and parsed.path not in ("", "/")


def public(address: str) -> bool:
    """True for an address on the public internet: not private, loopback, link-local, carrier-grade NAT, nor one
    that carries another address inside (6to4, NAT64, IPv4-mapped)."""
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast and not any(ip in network for network in NOT_PUBLIC)


class ClientDocuments:
    """Fetches and caches client metadata documents: https only, no redirects, a size and time bound, and only
    public addresses (loopback too when `allow_loopback`, for tests and one-machine setups)."""

    def __init__(self, *, allow_loopback: bool = False) -> None:
        self.allow_loopback = allow_loopback
        self._cache: dict[str, tuple[float, OAuthClientInformationFull]] = {}

    async def get(self, client_id: str) -> OAuthClientInformationFull:
        cached = self._cache.get(client_id)
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        client = await self._fetch(client_id)
        self._cache[client_id] = (time.monotonic() + KEEP, client)
        return client

    async def _check_host(self, host: str, port: int) -> str:
        """The address to fetch from: the first `host` resolves to, once every address it resolves to is checked."""
        loop = asyncio.get_running_loop()
        try:
            infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError as exc:
            raise ClientDocumentError(f"cannot resolve {host}: {exc}") from exc
        for info in infos:
            address = str(info[4][0])
            if public(address):
                continue
            if self.allow_loopback and ipaddress.ip_address(address).is_loopback:
                continue
            raise ClientDocumentError(f"{host} resolves to {address}, a private address")
        if not infos:
            raise ClientDocumentError(f"cannot resolve {host}")
        return str(infos[0][4][0])

    async def _fetch(self, client_id: str) -> OAuthClientInformationFull:
        parsed = urlparse(client_id)
        host = parsed.hostname or ""
        address = await self._check_host(host, parsed.port or 443)
        # The request goes to the address just checked (a second lookup could answer otherwise: DNS rebinding),
        # while TLS still checks the certificate of the host name.
        literal = f"[{address}]" if ":" in address else address
        pinned = parsed._replace(netloc=f"{literal}:{parsed.port or 443}").geturl()
        headers = {"Accept": "application/json", "Host": parsed.netloc.rpartition("@")[2]}
        try:
            async with (
                httpx2.AsyncClient(timeout=TIMEOUT, follow_redirects=False) as http,
                asyncio.timeout(TIMEOUT),
                http.stream("GET", pinned, headers=headers, extensions={"sni_hostname": host}) as answer,
            ):
                if answer.status_code != 200:
                    raise ClientDocumentError(f"{client_id} answered {answer.status_code}")
                body = b""
                async for chunk in answer.aiter_bytes():
                    body += chunk
                    if len(body) > MAX_BYTES:
                        raise ClientDocumentError(f"{client_id} is larger than {MAX_BYTES} bytes")
        except (httpx2.HTTPError, TimeoutError) as exc:
            raise ClientDocumentError(f"cannot fetch {client_id}: {exc}") from exc
        try:
            document = json.loads(body)
        except ValueError as exc:
            raise ClientDocumentError(f"{client_id} is not JSON") from exc
        if not isinstance(document, dict) or document.get("client_id") != client_id:
            raise ClientDocumentError(f"the document's client_id is not {client_id}")
        uris = document.get("redirect_uris")
        if not isinstance(uris, list) or not uris or not all(isinstance(u, str) and redirect_allowed(u) for u in uris):
            raise ClientDocumentError("redirect_uris must list https, loopback http or app-scheme URIs")
        if "client_secret" in document or document.get("token_endpoint_auth_method", "none") != "none":
            raise ClientDocumentError(
                "a metadata document client is public: no secret, token_endpoint_auth_method none"
            )
        try:
            return OAuthClientInformationFull.model_validate(document | {"token_endpoint_auth_method": "none"})
        except ValidationError as exc:
            raise ClientDocumentError(f"the document is not client metadata: {exc.errors()[0]['msg']}") from exc
