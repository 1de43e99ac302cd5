"""Confidential OAuth clients whose secrets are kept as SHA-256 only: the SDK's client check, told which secret
was presented, compares it against the stored hash."""

from __future__ import annotations

import base64
import binascii
import hmac
import secrets
from contextvars import ContextVar
from typing import Any, Final
from urllib.parse import unquote

from mcp.server.auth.handlers.revoke import RevocationHandler
from mcp.server.auth.handlers.token import TokenHandler
from mcp.server.auth.middleware.client_auth import ClientAuthenticator
from mcp.server.auth.provider import OAuthAuthorizationServerProvider
from mcp.server.auth.routes import REVOCATION_PATH, TOKEN_PATH, cors_middleware
from mcp.shared.auth import OAuthClientInformationFull
from starlette.requests import Request
from starlette.routing import BaseRoute, Route

HASHED: Final = "sha256:"
"""How a stored client secret starts: the rest is its SHA-256 (hex)."""

_PRESENTED: ContextVar[str | None] = ContextVar("memory_mcp_presented_client_secret", default=None)


async def presented_secret(request: Request) -> str | None:
    """The client secret a token or revocation request carries: HTTP Basic, else the form's `client_secret`."""
    scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(encoded, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None
        return unquote(decoded.partition(":")[2]) or None
    value = (await request.form()).get("client_secret")
    return value if isinstance(value, str) and value else None


def stored(client: OAuthClientInformationFull, digest: str) -> OAuthClientInformationFull:
    """The client as it is kept: its secret (if it has one) replaced by the secret's `digest`."""
    if not client.client_secret:
        return client
    return client.model_copy(update={"client_secret": HASHED + digest})


def unsealed(client: OAuthClientInformationFull, digest_of: Any) -> OAuthClientInformationFull:
    """The client as the SDK's check sees it: a hashed secret becomes the secret presented with this request when
    its hash is the one kept, else a random string that no request can present."""
    kept = client.client_secret
    if not kept or not kept.startswith(HASHED):
        return client  # no secret, or kept before secrets were hashed
    presented = _PRESENTED.get()
    matches = presented is not None and hmac.compare_digest(digest_of(presented), kept[len(HASHED) :])
    return client.model_copy(update={"client_secret": presented if matches else secrets.token_urlsafe(32)})


class HashedSecretAuthenticator(ClientAuthenticator):
    """The SDK's client authentication, with the presented secret made known to the provider's `get_client`."""

    async def authenticate_request(self, request: Request) -> OAuthClientInformationFull:
        token = _PRESENTED.set(await presented_secret(request))
        try:
            return await super().authenticate_request(request)
        finally:
            _PRESENTED.reset(token)


def secret_checking_routes(
    routes: list[BaseRoute], provider: OAuthAuthorizationServerProvider[Any, Any, Any]
) -> list[BaseRoute]:
    """`routes` with the SDK's /token and /revoke answered by handlers that check hashed secrets (the same
    handlers, CORS and methods; bodies are bounded by the guard in front of every route)."""
    authenticator = HashedSecretAuthenticator(provider)
    handlers = {
        TOKEN_PATH: TokenHandler(provider, authenticator).handle,
        REVOCATION_PATH: RevocationHandler(provider, authenticator).handle,
    }
    methods = ["POST", "OPTIONS"]
    return [
        Route(route.path, endpoint=cors_middleware(handlers[route.path], methods), methods=methods)
        if isinstance(route, Route) and route.path in handlers
        else route
        for route in routes
    ]
