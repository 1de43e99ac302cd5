"""The MCP tools: add, search, read, list, correct and forget memories, each a thin call into the engine.

Long because each tool's argument types are built at registration from the configured limits (closures over
them); splitting it into small registrars with a shared context is issue 25's next step.
"""

# No `from __future__ import annotations`: the tool signatures use Annotated types built for this server's
# limits (see `fields`), which only resolve when evaluated eagerly.

import inspect
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, Any, Final, Literal, TypeVar

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import ToolAnnotations
from pydantic import Field

from ..engine import MemoryEngine
from ..errors import MemoryMCPError
from ..models import Scope
from ..projects import ALL, CURRENT
from ..schemas import (
    AddMemoriesOut,
    AddMemoryOut,
    BatchItemOut,
    DeleteAllOut,
    GetMemoryOut,
    HistoryEntryOut,
    HistoryOut,
    LinkMemoriesOut,
    LinkOut,
    MemoryIn,
    MemoryOut,
    MemoryPageOut,
    SearchHitOut,
    SearchResultOut,
    SummaryOut,
    UnlinkOut,
)
from ..validation import MAX_QUERIES, wordings
from .auth import authenticated_user, require_own_user
from .fields import (
    ADD,
    AS_OF,
    DESTRUCTIVE,
    ENTITY,
    FILTERS,
    OLDER,
    READ,
    VALID_FROM,
    agent_id_field,
    entities_field,
    memory_id_field,
    metadata_field,
    optional_user_signature,
    project_field,
    run_id_field,
    user_id_field,
)
from .roots import Projects
from .uris import memories_uri, memory_uri
from .view import VIEW_META

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


def _tool(
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


def register_tools(
    mcp: MCPServer,
    engine: MemoryEngine,
    *,
    default_user: str | None,
    tokens: bool,
    tools: str = "all",
    projects: Projects | None = None,
) -> None:
    """Add the memory tools to `mcp` (the `core` five, or `all`), their arguments limited as `engine` is.

    With a `default_user` (one person's server) or `tokens` (each request's token names its user), `user_id`
    may be left out of every call and means that user. `projects` says which project a connection works in
    (searches and lists see the general memories and that project's).
    """
    projects = projects or Projects(None)
    limits = engine.limits
    extra = mcp if tools == "all" else None  # where the tools beyond the core five are registered
    lean = ADVANCED if tools != "all" else ()
    lean_search = tuple(name for name in lean if name not in ("as_of", "include_superseded"))
    lean_update = tuple(name for name in lean if name not in ("valid_from",))
    user_id_t = Annotated[str, user_id_field(limits)]
    optional_user: Any = None
    if default_user is not None or tokens:
        optional_user = Annotated[str | None, user_id_field(limits, default=default_user, tokens=tokens)]
    agent_id_t = Annotated[str | None, agent_id_field(limits)]
    run_id_t = Annotated[str | None, run_id_field(limits)]
    write_agent_t = Annotated[str | None, agent_id_field(limits, write=True)]
    write_run_t = Annotated[str | None, run_id_field(limits, write=True)]
    write_project_t = Annotated[str | None, project_field(limits, "write")]
    read_project_t = Annotated[str | None, project_field(limits, "read")]
    forget_project_t = Annotated[str | None, project_field(limits, "forget")]
    memory_id_t = Annotated[str, memory_id_field(limits)]
    metadata_t = Annotated[dict[str, Any] | None, metadata_field(limits)]
    filters_t = Annotated[dict[str, Any] | None, FILTERS]
    entities_t = Annotated[list[Annotated[str, Field(max_length=200)]] | None, entities_field(limits)]
    valid_from_t = Annotated[str | None, VALID_FROM]
    as_of_t = Annotated[str | None, AS_OF]
    older_t = Annotated[bool, OLDER]
    entity_t = Annotated[str | None, ENTITY]

    def user(user_id: str | None) -> str:
        """The user a call acts for: the one it names (its token's own, over HTTP), else the server's."""
        if user_id is not None:
            require_own_user(user_id)
            return user_id
        chosen = authenticated_user() or default_user
        if chosen is None:
            raise ToolError("user_id is required: pass a stable id for the person, the same in every call.")
        return chosen

    def scope(user_id: str | None, agent_id: str | None, run_id: str | None, project: str | None = None) -> Scope:
        with tool_errors():
            return engine.scope(user(user_id), agent_id, run_id, project)

    async def place(ctx: Context[Any, Any], project: str | None, *, read: bool) -> str | None:
        """The project a call names, resolved: on a read, omitted means the current one and "*" every one; on a
        write, omitted means none (the user everywhere) and "current" the current one."""
        if project == ALL:
            if not read:
                raise ToolError('project "*" (every project) is only for reads; name one project, or omit it.')
            return None
        if project is None and not read:
            return None
        if project is not None and project != CURRENT:
            return project
        current = await projects.current(ctx.session)
        if current is None and project == CURRENT:
            raise ToolError(
                'project "current": the host shares no workspace (MCP roots) and MEMORY_MCP_PROJECT is not set. '
                "Name the project, or omit project to keep the memory for the user everywhere."
            )
        return current

    @_tool(mcp, "Remember a fact", ADD, optional_user, without=lean)
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

    @_tool(extra, "Remember many facts", ADD, optional_user)
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

    @_tool(mcp, "Search memories", READ, optional_user, without=lean_search, meta=VIEW_META)
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

    @_tool(extra, "Get a memory", READ, optional_user)
    async def get_memory(
        user_id: user_id_t,
        memory_id: memory_id_t,
    ) -> GetMemoryOut:
        """Read one memory by its id, with its links to other memories (both ways)."""
        with tool_errors():
            memory, links = await engine.get_linked(memory_id, scope(user_id, None, None))
        return GetMemoryOut.of_linked(memory, links)

    @_tool(mcp, "List memories", READ, optional_user, without=lean, meta=VIEW_META)
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

    @_tool(mcp, "Correct a memory", DESTRUCTIVE, optional_user, without=lean_update)
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

    @_tool(extra, "Link two memories", ADD, optional_user)
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

    @_tool(extra, "Unlink two memories", DESTRUCTIVE, optional_user)
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

    @_tool(mcp, "Forget a memory", DESTRUCTIVE, optional_user)
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

    @_tool(extra, "Forget everything", DESTRUCTIVE, optional_user)
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

    @_tool(extra, "Count memories", READ, optional_user)
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

    @_tool(extra, "Memory history", READ, optional_user)
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
