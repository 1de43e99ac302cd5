"""The MCP tools add_memory and add_memories: the tools that remember."""

# No `from __future__ import annotations`: the tool signatures use Annotated types built for this server's
# limits (see `fields`), which only resolve when evaluated eagerly.

from typing import Annotated, Any, Literal

from mcp.server.mcpserver import Context
from pydantic import Field

from ...schemas import AddMemoriesOut, AddMemoryOut, BatchItemOut, MemoryIn
from ..fields import ADD, VALID_FROM
from .kit import Toolkit, announce, tool, tool_errors


def register_adding(kit: Toolkit) -> None:
    """The tools that remember: add_memory, and add_memories in the `all` set."""

    mcp = kit.mcp
    extra = kit.extra
    engine = kit.engine
    projects = kit.projects
    limits = kit.limits
    lean = kit.lean
    optional_user = kit.optional_user
    user = kit.user
    scope = kit.scope
    place = kit.place
    user_id_t = Annotated[str, kit.user_id_field]
    write_agent_t = Annotated[str | None, kit.write_agent_field]
    write_run_t = Annotated[str | None, kit.write_run_field]
    write_project_t = Annotated[str | None, kit.write_project_field]
    metadata_t = Annotated[dict[str, Any] | None, kit.metadata_field]
    entities_t = Annotated[list[Annotated[str, Field(max_length=200)]] | None, kit.entities_field]
    valid_from_t = Annotated[str | None, VALID_FROM]

    @tool(mcp, "Remember a fact", ADD, optional_user, without=lean)
    async def add_memory(
        user_id: user_id_t,
        text: Annotated[
            str,
            Field(
                description="One self-contained fact in plain words, e.g. 'Prefers window seats on flights'.",
                min_length=1,
                max_length=limits.max_text_chars,
            ),
        ],
        ctx: Context[Any, Any],
        metadata: metadata_t = None,
        entities: entities_t = None,
        valid_from: valid_from_t = None,
        project: write_project_t = None,
        agent_id: write_agent_t = None,
        run_id: write_run_t = None,
        if_similar: Annotated[
            Literal["store", "skip"],
            Field(description='"skip": do not store it when a near-duplicate is already stored. Default "store".'),
        ] = "store",
    ) -> AddMemoryOut:
        """Store a lasting fact about the user for later conversations.

        Use it when the user shares a preference, plan, relationship or decision worth keeping; one fact per
        call. The same text stored again is not duplicated (event NOOP). `similar` lists stored memories that
        resemble it (by search, not by truth): a `duplicate` likely states the same fact (keep one); a `related`
        one may be an older state: if the new fact replaces it, update_memory that one with keep_history=true.
        """
        kept_in = await place(ctx, project, read=False)
        seen_from = kept_in if kept_in is not None else await projects.current(ctx.session)
        with tool_errors():
            result = await engine.add(
                text,
                scope(user_id, agent_id, run_id, kept_in),
                metadata,
                if_similar=if_similar,
                current_project=seen_from,
                entities=entities,
                valid_from=valid_from,
            )
        if result.created:
            await announce(ctx, user(user_id), result.memory.id)
        return AddMemoryOut.of_add(result)

    @tool(extra, "Remember many facts", ADD, optional_user)
    async def add_memories(
        user_id: user_id_t,
        memories: Annotated[
            list[MemoryIn],
            Field(
                description=f'The facts to store, 1 to {limits.max_batch}: [{{"text": ..., "metadata": {{...}}}}, '
                f"...]. Each text at most {limits.max_text_chars} characters.",
                min_length=1,
                max_length=limits.max_batch,
            ),
        ],
        ctx: Context[Any, Any],
        project: write_project_t = None,
        agent_id: write_agent_t = None,
        run_id: write_run_t = None,
        if_similar: Annotated[
            Literal["store", "skip", "ignore"],
            Field(
                description='"store" (default): store and report each item\'s `similar` stored memories; "skip": '
                'leave out items with a near-duplicate; "ignore": do not compare (fastest, for bulk imports).'
            ),
        ] = "store",
    ) -> AddMemoriesOut:
        """Store many facts about the user in one call (e.g. when importing notes or a long conversation).

        All are stored together in one transaction. Each item gets its own outcome, in input order: added,
        noop (already remembered; the existing memory is returned), skipped (a near-duplicate is stored) or
        error (with the reason; the other items are still stored), and the memories stored before that it
        resembles, as add_memory reports them.
        """
        items = [(item.text, item.metadata, item.entities, item.valid_from) for item in memories]
        where = scope(user_id, agent_id, run_id, await place(ctx, project, read=False))
        await ctx.report_progress(0, len(items), "embedding")

        async def progress(done: int, total: int) -> None:
            await ctx.report_progress(done, total, "stored" if done == total else "embedding")

        with tool_errors():
            outcomes = await engine.add_many(items, where, progress=progress, if_similar=if_similar)
        if any(outcome.status == "added" for outcome in outcomes):
            await announce(ctx, user(user_id))
        return AddMemoriesOut(results=[BatchItemOut.of(outcome) for outcome in outcomes])
