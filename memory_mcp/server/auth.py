"""Who a request acts for: static bearer tokens bound to one user, and the checks that keep users apart."""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from typing import Any

from mcp.server.auth.middleware.auth_context import get_access_token
from mcp.server.auth.provider import AccessToken
from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.server.mcpserver.exceptions import ResourceNotFoundError
from mcp.shared.exceptions import MCPError
from mcp.types import INVALID_PARAMS

from ..errors import ForbiddenError, InvalidInputError
from .uris import memories_uri


class StaticTokens:
    """Bearer tokens from a file, each bound to one user: the user of a request is the token's, never an argument."""

    def __init__(self, tokens: Mapping[str, str]) -> None:
        self._tokens = dict(tokens)

    async def verify_token(self, token: str) -> AccessToken | None:
        """The access of a known token (compared in constant time), None for any other."""
        user = None
        for known, owner in self._tokens.items():
            if hmac.compare_digest(known.encode(), token.encode()):
                user = owner
        if user is None:
            return None
        return AccessToken(token=token, client_id=user, scopes=["memory"], subject=user)


def authenticated_user() -> str | None:
    """The user bound to this request's token; None on stdio or unauthenticated HTTP."""
    token = get_access_token()
    return None if token is None else token.subject


def acting_user(named: str | None, default: str | None) -> str:
    """The user a call acts for, one rule for the tools and the REST API: its token's user (a call naming another
    is refused: ForbiddenError), else the user it names, else the server's own (MEMORY_MCP_USER); InvalidInputError
    when there is none."""
    bound = authenticated_user()
    if bound is not None and named not in (None, bound):
        raise ForbiddenError(bound)
    chosen = bound or named or default
    if chosen is None:
        raise InvalidInputError("user_id is required: pass a stable id for the person, the same in every call.")
    return chosen


def require_own_resource(user_id: str, missing: str) -> None:
    """Another user's resource does not exist for this connection (`missing` says what was asked for)."""
    if authenticated_user() not in (None, user_id):
        raise ResourceNotFoundError(missing)


async def listen_to_own_user_only(ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
    """Middleware: with tokens, `subscriptions/listen` may only name the token's own user's resources.

    The SDK lets any caller listen to any URI; without this, one user could watch when another's memories change.
    """
    user = authenticated_user()
    if user is not None and ctx.method == "subscriptions/listen":
        wanted = ((ctx.params or {}).get("notifications") or {}).get("resourceSubscriptions") or []
        own = f"{memories_uri(user)}"
        foreign = [uri for uri in wanted if not (str(uri) == own or str(uri).startswith(own + "/"))]
        if foreign:
            raise MCPError(INVALID_PARAMS, f"This token may only listen to {own} and the memories under it.")
    return await call_next(ctx)
