"""Client ID metadata documents: an OAuth client named by an https URL whose JSON describes it, fetched with bounds."""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
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


def redirect_allowed(uri: str) -> bool:
    """https anywhere, http on this machine only (RFC 8252 loopback), or an app's own scheme (cursor://...)."""
    parsed = urlparse(uri)
    if parsed.scheme == "https":
        return bool(parsed.hostname)
    if parsed.scheme == "http":
        return parsed.hostname in LOOPBACK_HOSTS
    return parsed.scheme not in ("", "javascript", "data", "file", "vbscript", "about", "blob")


def is_document_url(client_id: str) -> bool:
    """True for a client id that names a metadata document: https, a host and a path."""
    parsed = urlparse(client_id)
    return parsed.scheme == "https" and bool(parsed.hostname) and parsed.path not in ("", "/")


def _public(address: str) -> bool:
    ip = ipaddress.ip_address(address)
    return not (
        ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_multicast or ip.is_reserved or ip.is_unspecified
    )


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

    async def _check_host(self, host: str, port: int) -> None:
        loop = asyncio.get_running_loop()
        try:
            infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError as exc:
            raise ClientDocumentError(f"cannot resolve {host}: {exc}") from exc
        for info in infos:
            address = str(info[4][0])
            if _public(address):
                continue
            if self.allow_loopback and ipaddress.ip_address(address).is_loopback:
                continue
            raise ClientDocumentError(f"{host} resolves to {address}, a private address")

    async def _fetch(self, client_id: str) -> OAuthClientInformationFull:
        parsed = urlparse(client_id)
        await self._check_host(parsed.hostname or "", parsed.port or 443)
        try:
            async with (
                httpx2.AsyncClient(timeout=TIMEOUT, follow_redirects=False) as http,
                asyncio.timeout(TIMEOUT),
                http.stream("GET", client_id, headers={"Accept": "application/json"}) as answer,
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
