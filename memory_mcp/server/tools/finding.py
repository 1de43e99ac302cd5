"""The MCP tools search_memory, list_memories and get_memory: the tools that find."""

# No `from __future__ import annotations`: the tool signatures use Annotated types built for this server's
# limits (see `fields`), which only resolve when evaluated eagerly.

from typing import Annotated, Any

from mcp.server.mcpserver import Context
from pydantic import Field

from ...schemas import GetMemoryOut, MemoryPageOut, SearchHitOut, SearchResultOut
from ...validation import MAX_QUERIES, wordings
from ..fields import AS_OF, ENTITY, FILTERS, OLDER, READ
from ..view import VIEW_META
from .kit import Toolkit, tool, tool_errors


def register_finding(kit: Toolkit) -> None:
    """The tools that find: search_memory, list_memories, and get_memory in the `all` set."""

    mcp = kit.mcp
    extra = kit.extra
    engine = kit.engine
    limits = kit.limits
    lean = kit.lean
    lean_search = kit.lean_search
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

    @tool(mcp, "Search memories", READ, optional_user, without=lean_search, meta=VIEW_META)
    async def search_memory(
        user_id: user_id_t,
        ctx: Context[Any, Any],
        query: Annotated[
            str | None,
            Field(
                description="What to look for, in a few words, e.g. 'favourite food' or 'what should I cook'.",
                min_length=1,
                max_length=limits.max_text_chars,
            ),
        ] = None,
        queries: Annotated[
            list[Annotated[str, Field(min_length=1, max_length=limits.max_text_chars)]] | None,
            Field(
                description="Other wordings of the same question (synonyms, related words), e.g. ['diet', "
                f"'food preferences'], searched at once with query or instead of it. At most {MAX_QUERIES} in all.",
                min_length=1,
                max_length=MAX_QUERIES,
            ),
        ] = None,
        limit: Annotated[int, Field(description="How many results at most.", ge=1, le=limits.max_results)] = 10,
        threshold: Annotated[
            float | None,
            Field(
                description="Optional minimum score (-1 to 1); without it, weak matches may follow related ones.",
                ge=-1,
                le=1,
            ),
        ] = None,
        filters: filters_t = None,
        entity: entity_t = None,
        as_of: as_of_t = None,
        include_superseded: older_t = False,
        neighbors: Annotated[
            int, Field(description="1: add memories linked to the results (marked linked).", ge=0, le=2)
        ] = 0,
        project: read_project_t = None,
        agent_id: agent_id_t = None,
        run_id: run_id_t = None,
    ) -> SearchResultOut:
        """Find the user's stored memories that best match a question, best first.

        Call it before answering anything that may depend on what you know about the user. It matches words
        (any form: 'hiking' finds 'hikes') and, loosely, meaning ('job' finds 'works as a nurse'); it does not
        reason, so what is only implied may be missed. Put other wordings in `queries`. match=meaning: found
        by meaning alone; match=weak: only the nearest. Judge them; if none fits, try other words or
        list_memories before telling the user you don't know.
        """
        with tool_errors():
            asked = wordings(query, queries)
        where = scope(user_id, agent_id, run_id, await place(ctx, project, read=True))
        with tool_errors():
            validity = engine.validity(as_of, include_superseded)
            hits = await engine.search(
                asked,
                where,
                limit=limit,
                threshold=threshold,
                filters=filters,
                validity=validity,
                entity=entity,
                neighbors=neighbors,
            )
            results = [SearchHitOut.of_hit(hit) for hit in hits]
            note = None
            if hits and all(hit.match == "weak" for hit in hits):
                note = (
                    "Nothing stored matches this query well; these are the nearest memories and may be unrelated. "
                    "Try other words, synonyms or a broader query (several at once in `queries`)."
                )
            elif not hits and await engine.count(where, validity) == 0:
                if validity.as_of is not None and await engine.count(where) > 0:
                    note = (
                        f"Nothing this user has stored was true at {as_of} (in this scope): their memories start "
                        "later or had ended by then. Leave out as_of to search what is true now."
                    )
                else:
                    note = "This user has no memories stored yet (in this scope): there is nothing to find."
            elif not hits:
                note = "No memory passed the filters or threshold. Loosen them, or try other words."
        return SearchResultOut(results=results, note=note)

    @tool(extra, "Get a memory", READ, optional_user)
    async def get_memory(
        user_id: user_id_t,
        memory_id: memory_id_t,
    ) -> GetMemoryOut:
        """Read one memory by its id, with its links to other memories (both ways)."""
        with tool_errors():
            memory, links = await engine.get_linked(memory_id, scope(user_id, None, None))
        return GetMemoryOut.of_linked(memory, links)

    @tool(mcp, "List memories", READ, optional_user, without=lean, meta=VIEW_META)
    async def list_memories(
        user_id: user_id_t,
        ctx: Context[Any, Any],
        cursor: Annotated[
            str | None, Field(description="The next_cursor of the previous page; omit for the first page.")
        ] = None,
        limit: Annotated[int, Field(description="Page size.", ge=1, le=limits.max_results)] = 20,
        filters: filters_t = None,
        entity: entity_t = None,
        as_of: as_of_t = None,
        include_superseded: older_t = False,
        project: read_project_t = None,
        agent_id: agent_id_t = None,
        run_id: run_id_t = None,
    ) -> MemoryPageOut:
        """List the user's memories, newest first, one page at a time.

        Use it to browse everything stored; search_memory finds something specific better.
        Returns the page, `total` (how many in all), `next_cursor` (null on the last page).
        """
        where = scope(user_id, agent_id, run_id, await place(ctx, project, read=True))
        with tool_errors():
            page = await engine.page(
                where,
                cursor=cursor,
                limit=limit,
                filters=filters,
                validity=engine.validity(as_of, include_superseded),
                entity=entity,
            )
        return MemoryPageOut.of(page)
