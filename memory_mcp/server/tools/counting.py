"""The MCP tools summarize_memories and memory_history: the tools that count and trace."""

# No `from __future__ import annotations`: the tool signatures use Annotated types built for this server's
# limits (see `fields`), which only resolve when evaluated eagerly.

from typing import Annotated, Any

from mcp.server.mcpserver import Context
from pydantic import Field

from ...schemas import HistoryEntryOut, HistoryOut, SummaryOut
from ..fields import AS_OF, ENTITY, FILTERS, OLDER, READ
from .kit import Toolkit, tool, tool_errors


def register_counting(kit: Toolkit) -> None:
    """The tools that count and trace (the `all` set): summarize_memories, memory_history."""

    extra = kit.extra
    engine = kit.engine
    limits = kit.limits
    optional_user = kit.optional_user
    scope = kit.scope
    place = kit.place
    user_id_t = Annotated[str, kit.user_id_field]
    agent_id_t = Annotated[str | None, kit.agent_id_field]
    run_id_t = Annotated[str | None, kit.run_id_field]
    read_project_t = Annotated[str | None, kit.read_project_field]
    memory_id_t = Annotated[str, kit.memory_id_field]
    filters_t = Annotated[dict[str, Any] | None, FILTERS]
    as_of_t = Annotated[str | None, AS_OF]
    older_t = Annotated[bool, OLDER]
    entity_t = Annotated[str | None, ENTITY]

    @tool(extra, "Count memories", READ, optional_user)
    async def summarize_memories(
        user_id: user_id_t,
        group_by: Annotated[
            str,
            Field(
                description='"month" (stored), "valid_from" (month), "entity", "link" (type), or a metadata field '
                'such as "topic" (a list counts each item; "metadata.month" for a field named month).',
                max_length=limits.id_max_chars,
            ),
        ],
        ctx: Context[Any, Any],
        filters: filters_t = None,
        entity: entity_t = None,
        as_of: as_of_t = None,
        include_superseded: older_t = False,
        limit: Annotated[int, Field(description="Most groups shown.", ge=1, le=limits.max_results)] = 20,
        project: read_project_t = None,
        agent_id: agent_id_t = None,
        run_id: run_id_t = None,
    ) -> SummaryOut:
        """Count the user's memories by month, entity, link type or a metadata field's values (e.g. per topic).

        Use it for questions about amounts or spread ("how many things do you know about my work?", "what topics
        do you remember?"). Counts every memory the filters match, exactly; memories without the field are
        counted in `missing`.
        """
        where = scope(user_id, agent_id, run_id, await place(ctx, project, read=True))
        with tool_errors():
            validity = engine.validity(as_of, include_superseded)
            counted = await engine.summarize(
                where, group_by, filters=filters, limit=limit, validity=validity, entity=entity
            )
        return SummaryOut.of(counted)

    @tool(extra, "Memory history", READ, optional_user)
    async def memory_history(
        user_id: user_id_t,
        memory_id: memory_id_t,
    ) -> HistoryOut:
        """Show how one memory changed over time (ADD, UPDATE, SUPERSEDE, DELETE), oldest first.

        A superseded fact shows its whole chain (each entry names its memory). Works for deleted memories too.
        """
        with tool_errors():
            entries = await engine.history(memory_id, scope(user_id, None, None))
        return HistoryOut(memory_id=memory_id, history=[HistoryEntryOut.of(entry) for entry in entries])
