"""The project a connection works in: the server's setting, else the first of the client's MCP roots."""

from __future__ import annotations

import contextlib
import logging
import warnings
import weakref
from typing import Any, Final

import anyio
from mcp.server.lowlevel import Server
from mcp.types import ClientCapabilities, NotificationParams, RootsCapability

from ..projects import name_of_uri

logger = logging.getLogger(__name__)

_ASK_FOR: Final = 2.0
"""Seconds a client has to answer roots/list before the call goes on without a project."""


class Projects:
    """Finds each connection's project once (asking the client for its roots when it offers them) and forgets
    the answers when a client says its roots changed."""

    def __init__(self, fixed: str | None) -> None:
        self.fixed = fixed
        self._known: weakref.WeakKeyDictionary[Any, str | None] = weakref.WeakKeyDictionary()

    def listen(self, server: Server[Any]) -> None:
        """Forget what was found when a client sends notifications/roots/list_changed."""

        async def changed(ctx: Any, params: NotificationParams) -> None:
            self._known.clear()

        server.add_notification_handler("notifications/roots/list_changed", NotificationParams, changed)

    async def current(self, session: Any) -> str | None:
        """The project of the connection `session`: the setting, else its first root's folder name, else None."""
        if self.fixed is not None:
            return self.fixed
        try:
            return self._known[session]
        except (KeyError, TypeError):
            pass
        found = await self._ask(session)
        with contextlib.suppress(TypeError):  # a session that cannot be weakly referenced is asked each time
            self._known[session] = found
        return found

    async def _ask(self, session: Any) -> str | None:
        try:
            if not session.check_client_capability(ClientCapabilities(roots=RootsCapability())):
                return None
            with anyio.fail_after(_ASK_FOR), warnings.catch_warnings():
                warnings.simplefilter("ignore")  # roots are deprecated in the 2026-07-28 protocol, still in use
                roots = (await session.list_roots()).roots
        except Exception:  # no back channel (stateless HTTP), a timeout, an error answer: no project
            logger.debug("could not list the client's roots", exc_info=True)
            return None
        for root in roots:
            name = name_of_uri(str(root.uri))
            if name is not None:
                return name
        return None
