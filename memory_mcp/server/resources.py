"""The per-user resources: memory://users/{user_id}/memories, one memory, what is stored (stats), and entities."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ResourceError, ResourceNotFoundError

from ..engine import MemoryEngine
from ..errors import InvalidInputError, NotFoundError
from ..schemas import EntitiesResourceOut, GetMemoryOut, MemoriesResourceOut, MemoryOut, UserStatsOut
from ..tally import ENTITY
from .auth import require_own_resource
from .uris import memories_uri, stats_uri


@contextmanager
def resource_errors() -> Iterator[None]:
    """An unknown memory is a missing resource; a malformed id says what is wrong with it."""
    try:
        yield
    except NotFoundError as exc:
        raise ResourceNotFoundError(str(exc)) from exc
    except InvalidInputError as exc:
        raise ResourceError(str(exc)) from exc


def register_resources(
    mcp: MCPServer, engine: MemoryEngine, *, resource_limit: int, default_user: str | None = None
) -> None:
    """Add the per-user resources to `mcp`; the memories resource shows at most `resource_limit` memories.

    With a `default_user`, that user's memories and stats are also listed resources (a host's resource picker
    shows them; the templates stay for any user)."""

    @mcp.resource(
        "memory://users/{user_id}/memories",
        name="user_memories",
        title="A user's memories",
        description=f"The user's memories as JSON, newest first (at most {resource_limit}; says when more exist).",
        mime_type="application/json",
    )
    async def user_memories(user_id: str) -> str:
        require_own_resource(user_id, f"No memories resource for user {user_id!r} on this connection.")
        with resource_errors():
            page = await engine.page(engine.scope(user_id), limit=min(resource_limit, engine.limits.max_results))
        truncated = page.next_cursor is not None
        content = MemoriesResourceOut(
            user_id=user_id,
            total=page.total,
            shown=len(page.memories),
            truncated=truncated,
            note=f"Showing the newest {len(page.memories)} of {page.total}; use the list_memories tool to page "
            "through all of them."
            if truncated
            else None,
            memories=[MemoryOut.of(m) for m in page.memories],
        )
        return content.model_dump_json(indent=2)

    @mcp.resource(
        "memory://users/{user_id}/memories/{memory_id}",
        name="user_memory",
        title="One memory",
        description="One memory of the user as JSON, with its links to other memories.",
        mime_type="application/json",
    )
    async def user_memory(user_id: str, memory_id: str) -> str:
        require_own_resource(user_id, str(NotFoundError(memory_id)))
        with resource_errors():
            scope = engine.scope(user_id)
            memory, links = await engine.get_linked(memory_id, scope)
        return GetMemoryOut.of_linked(memory, links).model_dump_json(indent=2)

    @mcp.resource(
        "memory://users/{user_id}/stats",
        name="user_stats",
        title="What is stored about a user",
        description="How many memories the user has, the oldest and newest, across how many agents and runs.",
        mime_type="application/json",
    )
    async def user_stats(user_id: str) -> str:
        require_own_resource(user_id, f"No stats resource for user {user_id!r} on this connection.")
        with resource_errors():
            summary = await engine.summary(engine.scope(user_id))
        return UserStatsOut.of(summary, engine.embedder.id).model_dump_json(indent=2)

    @mcp.resource(
        "memory://users/{user_id}/entities",
        name="user_entities",
        title="Who and what a user's memories are about",
        description=f"The entities the user's current memories name, with how many name each, most first (at most "
        f"{resource_limit}).",
        mime_type="application/json",
    )
    async def user_entities(user_id: str) -> str:
        require_own_resource(user_id, f"No entities resource for user {user_id!r} on this connection.")
        with resource_errors():
            scope = engine.scope(user_id)
            counted = await engine.summarize(scope, ENTITY, limit=min(resource_limit, engine.limits.max_results))
        return EntitiesResourceOut.of(user_id, counted).model_dump_json(indent=2)

    if default_user is None:
        return
    user = default_user

    @mcp.resource(
        memories_uri(user),
        name="my_memories",
        title="My memories",
        description=f"The memories of {user!r} as JSON, newest first (at most {resource_limit}).",
        mime_type="application/json",
    )
    async def my_memories() -> str:
        return await user_memories(user)

    @mcp.resource(
        stats_uri(user),
        name="my_stats",
        title="What is stored about me",
        description=f"How many memories {user!r} has, the oldest and newest, across how many agents and runs.",
        mime_type="application/json",
    )
    async def my_stats() -> str:
        return await user_stats(user)
