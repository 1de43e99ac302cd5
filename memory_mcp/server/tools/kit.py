"""What every tool registrar shares: the Toolkit (the server, engine, argument fields, user, scope, project)."""

# No `from __future__ import annotations`: the tool signatures use Annotated types built for this server's
# limits (see `fields`), which only resolve when evaluated eagerly.

import inspect
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, Any, Final, TypeVar

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import ToolAnnotations

from ...engine import MemoryEngine
from ...errors import MemoryMCPError
from ...models import Scope
from ...projects import asks_for_current, chosen
from ...protocols import LanguageModel
from ..auth import acting_user
from ..fields import (
    agent_id_field,
    entities_field,
    memory_id_field,
    metadata_field,
    optional_user_signature,
    project_field,
    run_id_field,
    user_id_field,
)
from ..roots import Projects
from ..uris import memories_uri, memory_uri

logger = logging.getLogger(__name__)
_F = TypeVar("_F", bound=Callable[..., Any])


@contextmanager
def tool_errors() -> Iterator[None]:
    """Turn the engine's expected errors into ToolErrors whose text the model can act on."""
    try:
        yield
    except MemoryMCPError as exc:
        raise ToolError(str(exc)) from exc


async def announce(ctx: Context[Any, Any], user_id: str, *memory_ids: str) -> None:
    """Tell subscribers that a user's memories changed, on both protocol eras."""
    uris = [memories_uri(user_id), *(memory_uri(user_id, memory_id) for memory_id in memory_ids)]
    for uri in uris:
        try:
            await ctx.notify_resource_updated(uri)  # 2026-07-28: subscriptions/listen streams
            await ctx.session.send_resource_updated(uri)  # handshake era: notifications/resources/updated
        except Exception:  # a lost notification must never fail a committed write
            logger.debug("could not send resource-updated for %s", uri, exc_info=True)


ADVANCED: Final = ("entities", "entity", "neighbors", "valid_from", "as_of", "include_superseded")
"""Arguments the core tool set leaves out (they have defaults), to keep its tools/list small: entities and links
need the tools of `all`; add, list and update keep to the present there. (search_memory keeps `as_of` and
`include_superseded` and update_memory `keep_history` and `valid_from`: a changed fact is kept, and found.)"""


def tool(
    mcp: MCPServer | None,
    title: str,
    annotations: ToolAnnotations,
    optional_user: Any = None,
    *,
    without: tuple[str, ...] = (),
    meta: dict[str, Any] | None = None,
) -> Callable[[_F], _F]:
    """Register a tool whose description is its docstring without the source indentation; with `optional_user`
    (the Annotated type of an optional user_id), the tool's user_id may be left out; the arguments `without`
    names are not offered (their defaults apply); `meta` is the tool's `_meta`. `mcp=None`: the tool is not offered."""

    def register(fn: _F) -> _F:
        if mcp is None:
            return fn
        if optional_user is not None:
            fn.__signature__ = optional_user_signature(fn, optional_user)  # type: ignore[attr-defined]
        if without:
            signature = inspect.signature(fn)
            kept = [parameter for name, parameter in signature.parameters.items() if name not in without]
            fn.__signature__ = signature.replace(parameters=kept)  # type: ignore[attr-defined]
        description = inspect.cleandoc(fn.__doc__ or "")
        return mcp.tool(
            title=title, description=description, annotations=annotations, structured_output=True, meta=meta
        )(fn)

    return register


CORE: Final = ("add_memory", "search_memory", "list_memories", "update_memory", "delete_memory")
"""The tools a server offers with MEMORY_MCP_TOOLS=core; `all` adds add_memories, get_memory, link_memories,
unlink_memories, delete_all_memories, memory_history and summarize_memories."""


_NO_WORKSPACE: Final = "the host shares no workspace (MCP roots) and MEMORY_MCP_PROJECT is not set"


class Toolkit:
    """The tools' shared context for one server: where they register (`mcp`, and `extra` for the `all` set, None
    for `core`), the engine, the argument types built from its limits, and the user, scope and project a call acts
    on. A registrar takes what it uses from it under the names its tools' signatures use."""

    def __init__(
        self,
        mcp: MCPServer,
        engine: MemoryEngine,
        *,
        default_user: str | None,
        tokens: bool,
        tools: str = "all",
        projects: Projects | None = None,
    ) -> None:
        self.mcp = mcp
        self.engine = engine
        self.language_model: LanguageModel | None = None  # remember_conversation's, when a client cannot sample
        self.default_user = default_user
        self.projects = projects or Projects(None)
        self.limits = limits = engine.limits
        self.extra = mcp if tools == "all" else None  # where the tools beyond the core five are registered
        self.lean = ADVANCED if tools != "all" else ()
        self.lean_search = tuple(name for name in self.lean if name not in ("as_of", "include_superseded"))
        self.lean_update = tuple(name for name in self.lean if name not in ("valid_from",))
        self.optional_user: Any = None  # the Annotated type of user_id when calls may leave it out
        if default_user is not None or tokens:
            self.optional_user = Annotated[str | None, user_id_field(limits, default=default_user, tokens=tokens)]
        # The fields of the arguments, made for these limits; each registrar names its argument types with them.
        self.user_id_field = user_id_field(limits)
        self.agent_id_field = agent_id_field(limits)
        self.run_id_field = run_id_field(limits)
        self.write_agent_field = agent_id_field(limits, write=True)
        self.write_run_field = run_id_field(limits, write=True)
        self.write_project_field = project_field(limits, "write")
        self.read_project_field = project_field(limits, "read")
        self.forget_project_field = project_field(limits, "forget")
        self.memory_id_field = memory_id_field(limits)
        self.metadata_field = metadata_field(limits)
        self.entities_field = entities_field(limits)

    def user(self, user_id: str | None) -> str:
        """The user a call acts for (`auth.acting_user`: its token's, else the one it names, else the server's)."""
        with tool_errors():
            return acting_user(user_id, self.default_user)

    def scope(self, user_id: str | None, agent_id: str | None, run_id: str | None, project: str | None = None) -> Scope:
        """The scope a call acts on (a ToolError naming what is wrong when an id is malformed)."""
        with tool_errors():
            return self.engine.scope(self.user(user_id), agent_id, run_id, project)

    async def place(self, ctx: Context[Any, Any], project: str | None, *, read: bool) -> str | None:
        """The project a call names, resolved by the rules every face shares (`projects.chosen`); the current one
        is the workspace the host shares (MCP roots) or MEMORY_MCP_PROJECT."""
        current = await self.projects.current(ctx.session) if asks_for_current(project, read=read) else None
        with tool_errors():
            return chosen(project, read=read, current=current, argument="project", no_current=_NO_WORKSPACE)
