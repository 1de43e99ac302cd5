"""The MCP tools update_memory, link_memories, unlink_memories, delete_memory and delete_all_memories."""

# No `from __future__ import annotations`: the tool signatures use Annotated types built for this server's
# limits (see `fields`), which only resolve when evaluated eagerly.

from typing import Annotated, Any

from mcp.server.mcpserver import Context
from pydantic import Field

from ...schemas import DeleteAllOut, LinkMemoriesOut, LinkOut, MemoryOut, UnlinkOut
from ..fields import ADD, DESTRUCTIVE
from .kit import Toolkit, announce, tool, tool_errors


def register_changing(kit: Toolkit) -> None:
    """The tools that correct, link and forget: update_memory, delete_memory; link_memories, unlink_memories and
    delete_all_memories in the `all` set."""

    mcp = kit.mcp
    extra = kit.extra
    engine = kit.engine
    limits = kit.limits
    lean_update = kit.lean_update
    optional_user = kit.optional_user
    user = kit.user
    scope = kit.scope
    place = kit.place
    user_id_t = Annotated[str, kit.user_id_field]
    agent_id_t = Annotated[str | None, kit.agent_id_field]
    run_id_t = Annotated[str | None, kit.run_id_field]
    forget_project_t = Annotated[str | None, kit.forget_project_field]
    memory_id_t = Annotated[str, kit.memory_id_field]
    metadata_t = Annotated[dict[str, Any] | None, kit.metadata_field]
    entities_t = Annotated[list[Annotated[str, Field(max_length=200)]] | None, kit.entities_field]

    @tool(mcp, "Correct a memory", DESTRUCTIVE, optional_user, without=lean_update)
    async def update_memory(
        user_id: user_id_t,
        memory_id: memory_id_t,
        ctx: Context[Any, Any],
        text: Annotated[
            str | None,
            Field(
                description="The corrected fact (with keep_history: the fact as it is now). Omit to keep it.",
                max_length=limits.max_text_chars,
            ),
        ] = None,
        metadata: Annotated[
            dict[str, Any] | None,
            Field(description="New metadata, replacing the old object entirely. Omit to keep it."),
        ] = None,
        entities: entities_t = None,
        keep_history: Annotated[
            bool,
            Field(
                description="true if the fact changed (moved, new job) rather than was wrong: the old one is kept "
                "as past, a new one returned."
            ),
        ] = False,
        valid_from: Annotated[
            str | None, Field(description='With keep_history: since when the new fact is true, e.g. "2024-03".')
        ] = None,
    ) -> MemoryOut:
        """Change a stored memory: correct it when it was wrong, or replace it when the fact has changed.

        Give the new text and/or metadata; the change is kept in its history. With keep_history=true the
        old fact is not overwritten: it stays findable with as_of or include_superseded.
        """
        with tool_errors():
            closed, memory = await engine.revise(
                memory_id,
                scope(user_id, None, None),
                text=text,
                metadata=metadata,
                entities=entities,
                keep_history=keep_history,
                valid_from=valid_from,
            )
        await announce(ctx, user(user_id), *([closed.id] if closed else []), memory.id)
        return MemoryOut.of(memory)

    @tool(extra, "Link two memories", ADD, optional_user)
    async def link_memories(
        user_id: user_id_t,
        source_id: memory_id_t,
        target_id: memory_id_t,
        type: Annotated[
            str,
            Field(
                description="relates_to, contradicts, part_of, supersedes, or a short label of your own (e.g. "
                "'works_at').",
                max_length=64,
            ),
        ],
        ctx: Context[Any, Any],
        metadata: metadata_t = None,
    ) -> LinkMemoriesOut:
        """Link one memory to another (directed: source -> target), e.g. a detail `part_of` an event.

        search_memory with neighbors=1 then also returns the linked memories of its results, even when they
        share no word with the query; get_memory shows a memory's links.
        """
        with tool_errors():
            link, created = await engine.link(scope(user_id, None, None), source_id, target_id, type, metadata)
        if created:
            await announce(ctx, user(user_id), link.source_id, link.target_id)
        return LinkMemoriesOut(link=LinkOut.of(link), created=created)

    @tool(extra, "Unlink two memories", DESTRUCTIVE, optional_user)
    async def unlink_memories(
        user_id: user_id_t,
        source_id: memory_id_t,
        target_id: memory_id_t,
        ctx: Context[Any, Any],
        type: Annotated[str | None, Field(description="Only links of this type; omit for all.", max_length=64)] = None,
    ) -> UnlinkOut:
        """Remove the links from one memory to another (the memories stay). Returns the links removed."""
        with tool_errors():
            removed = await engine.unlink(scope(user_id, None, None), source_id, target_id, type)
        await announce(ctx, user(user_id), removed[0].source_id, removed[0].target_id)
        return UnlinkOut(removed=[LinkOut.of(link) for link in removed])

    @tool(mcp, "Forget a memory", DESTRUCTIVE, optional_user)
    async def delete_memory(
        user_id: user_id_t,
        memory_id: memory_id_t,
        ctx: Context[Any, Any],
    ) -> MemoryOut:
        """Forget one memory, e.g. when the user asks you to or it was never true.

        Its links go with it. Returns it as it was; its history is kept.
        """
        with tool_errors():
            memory = await engine.delete(memory_id, scope(user_id, None, None))
        await announce(ctx, user(user_id), memory.id)
        return MemoryOut.of(memory)

    @tool(extra, "Forget everything", DESTRUCTIVE, optional_user)
    async def delete_all_memories(
        user_id: user_id_t,
        ctx: Context[Any, Any],
        project: forget_project_t = None,
        agent_id: agent_id_t = None,
        run_id: run_id_t = None,
    ) -> DeleteAllOut:
        """Forget all of the user's memories (or only one project's, agent's or run's, when given).

        Only call this when the user clearly asks to erase everything. Returns how many were deleted.
        """

        async def progress(done: int, total: int) -> None:
            await ctx.report_progress(done, total, "deleted" if done == total and done else f"deleting {total}")

        with tool_errors():
            where = scope(user_id, agent_id, run_id, await place(ctx, project, read=False))
            deleted = await engine.delete_all(where, progress=progress)
        if deleted:
            await announce(ctx, user(user_id))
        return DeleteAllOut(deleted=deleted)
