"""build_server(engine): the MCP tools and resources, thin wiring over one MemoryEngine."""

# No `from __future__ import annotations` here: the tool signatures use Annotated types built inside
# build_server (their limits come from the engine's settings), which only resolve when evaluated eagerly.

import hmac
import inspect
import logging
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Annotated, Any, Final, TypeVar

from mcp.server.auth.middleware.auth_context import get_access_token
from mcp.server.auth.provider import AccessToken
from mcp.server.auth.settings import AuthSettings
from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ResourceError, ResourceNotFoundError, ToolError
from mcp.shared.exceptions import MCPError
from mcp.types import INVALID_PARAMS, ToolAnnotations
from pydantic import AnyHttpUrl, Field
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from . import __version__
from .engine import MemoryEngine
from .errors import InvalidInputError, MemoryMCPError, NotFoundError
from .filters import OPERATORS
from .models import Scope
from .schemas import (
    AddMemoriesOut,
    AddMemoryOut,
    BatchItemOut,
    DeleteAllOut,
    HistoryEntryOut,
    HistoryOut,
    MemoriesResourceOut,
    MemoryIn,
    MemoryOut,
    MemoryPageOut,
    SearchHitOut,
    SearchResultOut,
    UserStatsOut,
)
from .validation import ID_PATTERN

logger = logging.getLogger(__name__)
_F = TypeVar("_F", bound=Callable[..., Any])

INSTRUCTIONS: Final = """\
Long-term memory about the people you talk with, kept between conversations.
- Before answering anything that may depend on what you know about the user (preferences, plans, people,
  past decisions), call search_memory with a short query.
- When the user tells you a lasting fact, call add_memory with one short self-contained fact per call.
  Search first: if a stored memory says something older or different, call update_memory on it instead.
- When the user asks you to forget something, find it with search_memory and call delete_memory.
Always pass the same user_id for the same person."""

ADD: Final = ToolAnnotations(read_only_hint=False, destructive_hint=False, idempotent_hint=True, open_world_hint=False)
READ: Final = ToolAnnotations(read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=False)
DESTRUCTIVE: Final = ToolAnnotations(
    read_only_hint=False, destructive_hint=True, idempotent_hint=True, open_world_hint=False
)

FILTER_HELP: Final = (
    'Optional metadata filter. Equality: {"topic": "food"}. Operators: '
    + ", ".join(OPERATORS)
    + ' as in {"rating": {"gte": 4}} or {"tags": {"contains": "work"}}. Combine with '
    '{"AND": [...]}, {"OR": [...]}, {"NOT": {...}}. Unknown operators are an error.'
)


def memories_uri(user_id: str) -> str:
    """URI of a user's memories resource."""
    return f"memory://users/{user_id}/memories"


def memory_uri(user_id: str, memory_id: str) -> str:
    """URI of one memory's resource."""
    return f"memory://users/{user_id}/memories/{memory_id}"


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


def _tool(mcp: MCPServer, title: str, annotations: ToolAnnotations) -> Callable[[_F], _F]:
    """Register a tool whose description is its docstring without the source indentation."""

    def register(fn: _F) -> _F:
        description = inspect.cleandoc(fn.__doc__ or "")
        return mcp.tool(title=title, description=description, annotations=annotations, structured_output=True)(fn)

    return register


def build_server(
    engine: MemoryEngine,
    *,
    resource_limit: int = 100,
    tokens: Mapping[str, str] | None = None,
    url: str = "http://127.0.0.1:8000/mcp",
) -> MCPServer:
    """An MCPServer whose tools and resources delegate to `engine`.

    With `tokens` ({token: user_id}), every HTTP request needs `Authorization: Bearer <token>` and may only
    use the token's user; `url` is where the server is reached (named in its 401 answers).
    """
    limits = engine.limits
    auth = None
    if tokens:
        auth = AuthSettings(
            issuer_url=AnyHttpUrl(url),
            resource_server_url=AnyHttpUrl(url),
            required_scopes=["memory"],
            validate_token_resource=False,  # our tokens are not issued per resource: the file binds them here
        )
    mcp = MCPServer(
        "memory-mcp",
        title="Memory",
        version=__version__,
        instructions=INSTRUCTIONS,
        token_verifier=StaticTokens(tokens) if tokens else None,
        auth=auth,
        middleware=[listen_to_own_user_only],
    )

    @mcp.custom_route("/health", methods=["GET"])  # type: ignore[untyped-decorator]
    async def health(request: Request) -> Response:
        indexed = None if engine.index is None else len(engine.index)
        return JSONResponse({"status": "ok", "memories": indexed, "index_ready": engine.ready})

    user_id_t = Annotated[
        str,
        Field(
            description="Whose memories to use: a stable id for the person (e.g. their username). "
            "Always the same for the same person.",
            min_length=1,
            max_length=limits.id_max_chars,
            pattern=ID_PATTERN,
        ),
    ]
    agent_id_t = Annotated[
        str | None,
        Field(
            description="Optional: limit to memories of one agent (assistant persona). Omit to use all.",
            min_length=1,
            max_length=limits.id_max_chars,
            pattern=ID_PATTERN,
        ),
    ]
    run_id_t = Annotated[
        str | None,
        Field(
            description="Optional: limit to memories of one run (conversation or session). Omit to use all.",
            min_length=1,
            max_length=limits.id_max_chars,
            pattern=ID_PATTERN,
        ),
    ]
    memory_id_t = Annotated[
        str,
        Field(
            description="The id of a memory, as returned by search_memory, list_memories or add_memory.",
            max_length=limits.id_max_chars,
        ),
    ]
    metadata_t = Annotated[
        dict[str, Any] | None,
        Field(
            description='Optional JSON object of your own fields, e.g. {"topic": "food", "confidence": 0.9}. '
            f"At most {limits.max_metadata_bytes} bytes; keys user_id, agent_id and run_id are not allowed."
        ),
    ]
    filters_t = Annotated[dict[str, Any] | None, Field(description=FILTER_HELP)]

    def scope(user_id: str, agent_id: str | None, run_id: str | None) -> Scope:
        bound = authenticated_user()
        if bound is not None and user_id != bound:
            raise ToolError(
                f"This connection's token belongs to user {bound!r}: pass user_id {bound!r}. "
                "A token only ever reads and writes its own user's memories."
            )
        return engine.scope(user_id, agent_id, run_id)

    @_tool(mcp, "Remember a fact", ADD)
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
        agent_id: agent_id_t = None,
        run_id: run_id_t = None,
    ) -> AddMemoryOut:
        """Store a lasting fact about the user so it can be recalled in later conversations.

        Use it when the user shares a preference, plan, relationship or decision worth keeping. Store one
        fact per call. If exactly this text is already stored for the user, nothing is duplicated: the
        existing memory comes back with event NOOP. Returns the memory with its id.
        """
        with tool_errors():
            result = await engine.add(text, scope(user_id, agent_id, run_id), metadata)
        if result.created:
            await announce(ctx, user_id, result.memory.id)
        return AddMemoryOut(**MemoryOut.of(result.memory).model_dump(), event="ADD" if result.created else "NOOP")

    @_tool(mcp, "Remember many facts", ADD)
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
        agent_id: agent_id_t = None,
        run_id: run_id_t = None,
    ) -> AddMemoriesOut:
        """Store many facts about the user in one call (e.g. when importing notes or a long conversation).

        All are stored together in one transaction. Each item gets its own outcome, in input order: added,
        noop (already remembered; the existing memory is returned) or error (with the reason; the other
        items are still stored).
        """
        items = [(item.text, item.metadata) for item in memories]
        await ctx.report_progress(0, len(items), "embedding")

        async def progress(done: int, total: int) -> None:
            await ctx.report_progress(done, total, "stored" if done == total else "embedding")

        with tool_errors():
            outcomes = await engine.add_many(items, scope(user_id, agent_id, run_id), progress=progress)
        if any(outcome.status == "added" for outcome in outcomes):
            await announce(ctx, user_id)
        return AddMemoriesOut(results=[BatchItemOut.of(outcome) for outcome in outcomes])

    @_tool(mcp, "Search memories", READ)
    async def search_memory(
        user_id: user_id_t,
        query: Annotated[
            str,
            Field(
                description="What to look for, in a few words, e.g. 'favourite food'.",
                min_length=1,
                max_length=limits.max_text_chars,
            ),
        ],
        limit: Annotated[int, Field(description="How many results at most.", ge=1, le=limits.max_results)] = 10,
        threshold: Annotated[
            float | None,
            Field(
                description="Optional minimum score from -1 to 1. Without it, every memory related to the query "
                "can come back: one that shares a word with it, or is close in spelling or meaning.",
                ge=-1,
                le=1,
            ),
        ] = None,
        filters: filters_t = None,
        agent_id: agent_id_t = None,
        run_id: run_id_t = None,
    ) -> SearchResultOut:
        """Find the user's stored memories most related to a query, best first.

        Call it before answering anything that may depend on what you know about the user. Each result
        has the memory's id, text, score (higher is closer) and metadata. An empty list means nothing
        relevant is stored.
        """
        with tool_errors():
            hits = await engine.search(
                query, scope(user_id, agent_id, run_id), limit=limit, threshold=threshold, filters=filters
            )
        return SearchResultOut(results=[SearchHitOut.of_hit(hit) for hit in hits])

    @_tool(mcp, "Get a memory", READ)
    async def get_memory(
        user_id: user_id_t,
        memory_id: memory_id_t,
        agent_id: agent_id_t = None,
        run_id: run_id_t = None,
    ) -> MemoryOut:
        """Read one memory by its id."""
        with tool_errors():
            return MemoryOut.of(await engine.get(memory_id, scope(user_id, agent_id, run_id)))

    @_tool(mcp, "List memories", READ)
    async def list_memories(
        user_id: user_id_t,
        cursor: Annotated[
            str | None, Field(description="The next_cursor of the previous page; omit for the first page.")
        ] = None,
        limit: Annotated[int, Field(description="Page size.", ge=1, le=limits.max_results)] = 20,
        filters: filters_t = None,
        agent_id: agent_id_t = None,
        run_id: run_id_t = None,
    ) -> MemoryPageOut:
        """List the user's memories, newest first, one page at a time.

        Use it to browse everything stored (search_memory is better for finding something specific).
        Returns the page, `total` (how many in all) and `next_cursor` (null on the last page).
        """
        with tool_errors():
            page = await engine.page(scope(user_id, agent_id, run_id), cursor=cursor, limit=limit, filters=filters)
        return MemoryPageOut.of(page)

    @_tool(mcp, "Correct a memory", DESTRUCTIVE)
    async def update_memory(
        user_id: user_id_t,
        memory_id: memory_id_t,
        ctx: Context[Any, Any],
        text: Annotated[
            str | None,
            Field(
                description="The corrected fact, replacing the old text. Omit to keep it.",
                max_length=limits.max_text_chars,
            ),
        ] = None,
        metadata: Annotated[
            dict[str, Any] | None,
            Field(description="New metadata, replacing the old object entirely. Omit to keep it."),
        ] = None,
        agent_id: agent_id_t = None,
        run_id: run_id_t = None,
    ) -> MemoryOut:
        """Change a stored memory when a fact has changed or was wrong, instead of adding a contradicting one.

        Give a new text, new metadata, or both. The change is recorded in memory_history. Returns the
        updated memory.
        """
        with tool_errors():
            memory = await engine.update(memory_id, scope(user_id, agent_id, run_id), text=text, metadata=metadata)
        await announce(ctx, user_id, memory.id)
        return MemoryOut.of(memory)

    @_tool(mcp, "Forget a memory", DESTRUCTIVE)
    async def delete_memory(
        user_id: user_id_t,
        memory_id: memory_id_t,
        ctx: Context[Any, Any],
        agent_id: agent_id_t = None,
        run_id: run_id_t = None,
    ) -> MemoryOut:
        """Forget one memory, e.g. when the user asks you to or it is no longer true.

        Returns the memory as it was before deletion. Its history stays readable with memory_history.
        """
        with tool_errors():
            memory = await engine.delete(memory_id, scope(user_id, agent_id, run_id))
        await announce(ctx, user_id, memory.id)
        return MemoryOut.of(memory)

    @_tool(mcp, "Forget everything", DESTRUCTIVE)
    async def delete_all_memories(
        user_id: user_id_t,
        ctx: Context[Any, Any],
        agent_id: agent_id_t = None,
        run_id: run_id_t = None,
    ) -> DeleteAllOut:
        """Forget all of the user's memories (or only one agent's or run's, when given).

        Only call this when the user clearly asks to erase everything. Returns how many were deleted.
        """

        async def progress(done: int, total: int) -> None:
            await ctx.report_progress(done, total, "deleted" if done == total and done else f"deleting {total}")

        with tool_errors():
            deleted = await engine.delete_all(scope(user_id, agent_id, run_id), progress=progress)
        if deleted:
            await announce(ctx, user_id)
        return DeleteAllOut(deleted=deleted)

    @_tool(mcp, "Memory history", READ)
    async def memory_history(
        user_id: user_id_t,
        memory_id: memory_id_t,
        agent_id: agent_id_t = None,
        run_id: run_id_t = None,
    ) -> HistoryOut:
        """Show how one memory changed over time (ADD, UPDATE, DELETE), oldest first.

        Works for deleted memories too, so you can tell the user what was forgotten.
        """
        with tool_errors():
            entries = await engine.history(memory_id, scope(user_id, agent_id, run_id))
        return HistoryOut(memory_id=memory_id, history=[HistoryEntryOut.of(entry) for entry in entries])

    @mcp.resource(
        "memory://users/{user_id}/memories",
        name="user_memories",
        title="A user's memories",
        description=f"The user's memories as JSON, newest first (at most {resource_limit}; says when more exist).",
        mime_type="application/json",
    )
    async def user_memories(user_id: str) -> str:
        if authenticated_user() not in (None, user_id):
            raise ResourceNotFoundError(f"No memories resource for user {user_id!r} on this connection.")
        try:
            page = await engine.page(engine.scope(user_id), limit=min(resource_limit, limits.max_results))
        except InvalidInputError as exc:
            raise ResourceError(str(exc)) from exc
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
        description="One memory of the user as JSON.",
        mime_type="application/json",
    )
    async def user_memory(user_id: str, memory_id: str) -> str:
        if authenticated_user() not in (None, user_id):
            raise ResourceNotFoundError(str(NotFoundError(memory_id)))
        try:
            memory = await engine.get(memory_id, engine.scope(user_id))
        except NotFoundError as exc:
            raise ResourceNotFoundError(str(exc)) from exc
        except InvalidInputError as exc:
            raise ResourceError(str(exc)) from exc
        return MemoryOut.of(memory).model_dump_json(indent=2)

    @mcp.resource(
        "memory://users/{user_id}/stats",
        name="user_stats",
        title="What is stored about a user",
        description="How many memories the user has, the oldest and newest, across how many agents and runs.",
        mime_type="application/json",
    )
    async def user_stats(user_id: str) -> str:
        if authenticated_user() not in (None, user_id):
            raise ResourceNotFoundError(f"No stats resource for user {user_id!r} on this connection.")
        try:
            summary = await engine.summary(engine.scope(user_id))
        except InvalidInputError as exc:
            raise ResourceError(str(exc)) from exc
        return UserStatsOut.of(summary, engine.embedder.id).model_dump_json(indent=2)

    prompt_user_t = Annotated[str, Field(description="Whose memories: the user id the assistant uses for you.")]

    @mcp.prompt(name="what_do_you_remember", title="What do you remember about me?")
    def what_do_you_remember(user_id: prompt_user_t) -> str:
        """Review everything the assistant has stored about you, grouped by topic."""
        return (
            f"What do you remember about me? Call list_memories with user_id {user_id!r} (follow next_cursor until "
            "it is null) to read everything stored about me. Then summarise it for me grouped by topic, each point "
            "with its memory id. Point out anything that looks outdated or contradictory and offer to correct it "
            "with update_memory or remove it with delete_memory. Do not change anything until I say so."
        )

    @mcp.prompt(name="forget_about", title="Forget everything about a topic")
    def forget_about(
        user_id: prompt_user_t,
        topic: Annotated[str, Field(description="What to forget, in a few words, e.g. 'my old job'.")],
    ) -> str:
        """Find every memory about a topic, confirm with you, then delete them."""
        return (
            f"Forget everything you remember about {topic!r}. Call search_memory with user_id {user_id!r}, query "
            f"{topic!r} and limit 50 (and again with other wordings of it), and show me every memory that is "
            "really about it, with its id. Leave out memories that only mention it in passing. After I confirm, "
            "call delete_memory for each one I approved and tell me what was forgotten; memory_history still "
            "shows what was deleted."
        )

    return mcp
