"""The REST API beside MCP: /api/v1 on the same server and tokens, errors as problem details, OpenAPI 3.1."""

from __future__ import annotations

from http import HTTPStatus
from typing import Annotated, Any, Final, Literal

from fastapi import Body, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from .. import projects
from ..engine import MemoryEngine
from ..errors import (
    DuplicateError,
    ForbiddenError,
    InvalidInputError,
    LanguageModelError,
    MemoryMCPError,
    NotFoundError,
)
from ..models import Scope
from ..protocols import LanguageModel
from ..schemas import (
    AddMemoryOut,
    ConversationIn,
    GetMemoryOut,
    HistoryEntryOut,
    HistoryOut,
    LinkMemoriesOut,
    LinkOut,
    MemoryOut,
    MemoryPageOut,
    RememberOut,
    SearchHitOut,
    SearchResultOut,
    SummaryOut,
    UnlinkOut,
    UserStatsOut,
)
from ..transcripts import MAX_CHARS, Message
from ..validation import wordings
from ..version import __version__
from .arguments import problems
from .auth import acting_user, authenticated_user

PROBLEM: Final = "application/problem+json"
_STATUS: Final = (
    (NotFoundError, 404, "Not found"),
    (DuplicateError, 409, "Conflict"),
    (InvalidInputError, 400, "Bad input"),
    (ForbiddenError, 403, "Forbidden"),
    (LanguageModelError, 502, "The language model failed"),
)


class Problem(Exception):
    """An error answered as RFC 9457 problem details: its status, a title, and the same message a tool gives."""

    def __init__(self, status: int, title: str, detail: str) -> None:
        super().__init__(detail)
        self.status, self.title, self.detail = status, title, detail


class ProblemOut(BaseModel):
    """An error (RFC 9457 problem details): `detail` says what was wrong and what to do."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str


class AddIn(BaseModel):
    """A memory to store."""

    model_config = ConfigDict(extra="forbid")

    text: str = Field(description="One self-contained fact in plain words.")
    metadata: dict[str, Any] | None = Field(default=None, description="Your own fields.")
    entities: list[str] | None = Field(default=None, description="Who or what it is about.")
    valid_from: str | None = Field(default=None, description="Since when it is true, if before now (e.g. 2024-03).")
    project: str | None = Field(default=None, description="Keep it to one project; omit for the user everywhere.")
    if_similar: Literal["store", "skip"] = Field(default="store", description='"skip": not when a near-duplicate is.')


class UpdateIn(BaseModel):
    """A change to a memory: give what changes."""

    model_config = ConfigDict(extra="forbid")

    text: str | None = Field(default=None, description="The corrected fact, or with keep_history the new one.")
    metadata: dict[str, Any] | None = Field(default=None, description="New metadata, replacing the old object.")
    entities: list[str] | None = Field(default=None, description="New entities, replacing the old ones.")
    keep_history: bool = Field(default=False, description="The fact changed: keep the old one as past, add the new.")
    valid_from: str | None = Field(default=None, description="With keep_history: since when the new fact is true.")


class SearchIn(BaseModel):
    """A search of the user's memories."""

    model_config = ConfigDict(extra="forbid")

    query: str | None = Field(default=None, description="What to look for, in a few words.")
    queries: list[str] | None = Field(default=None, description="Other wordings, searched at once.")
    limit: int = Field(default=10, description="How many results at most.")
    threshold: float | None = Field(default=None, description="Minimum score, -1 to 1.")
    filters: dict[str, Any] | None = Field(default=None, description="Metadata filter (as the MCP tools take).")
    entity: str | None = Field(default=None, description="Only memories about this entity.")
    as_of: str | None = Field(default=None, description="What was true then (an ISO date or time).")
    include_superseded: bool = Field(default=False, description="Also memories a newer one superseded.")
    neighbors: int = Field(default=0, description="Also the memories linked to the results (hops, 0-2).")
    project: str | None = Field(
        default=None, description='One project (besides the general memories); "*" or none: all.'
    )


class LinkIn(BaseModel):
    """A link from one memory to another."""

    model_config = ConfigDict(extra="forbid")

    source_id: str
    target_id: str
    type: str = Field(description="relates_to, part_of, contradicts, supersedes, or a label of your own.")
    metadata: dict[str, Any] | None = None


_BODIES: Final[dict[str, type[BaseModel]]] = {
    "add_memory": AddIn,
    "update_memory": UpdateIn,
    "search_memory": SearchIn,
    "link_memories": LinkIn,
    "remember_conversation": ConversationIn,
}
"""The body model of each route that takes one, by route name (the name of its function below)."""

UserQuery = Annotated[
    str | None,
    Query(description="Whose memories: required unless the token (or the server's own user) says it."),
]
Project = Annotated[str | None, Query(description='One project besides the general memories; "*" or omitted: all.')]
AsOf = Annotated[str | None, Query(description="What was true then: an ISO date or time, e.g. 2024-03.")]
Older = Annotated[bool, Query(description="Also the memories a newer one superseded.")]
Entity = Annotated[str | None, Query(description="Only memories about this entity (any case).")]
ERRORS: Final[dict[int | str, dict[str, Any]]] = {
    status: {"model": ProblemOut, "content": {PROBLEM: {}}, "description": title}
    for status, title in [
        *((status, title) for _, status, title in _STATUS),
        (401, "No valid bearer token"),
        (403, "Another user's memories"),
        (422, "A request that does not fit the schema"),
    ]
}


_NO_CURRENT: Final = "the REST API works in no project of its own"


def security_schemes(issuer: str | None) -> dict[str, Any]:
    """The OpenAPI security schemes: a bearer token (the tokens file's, or one from sign-in), and with an issuer
    (a server with accounts) OAuth 2.1's authorization code flow."""
    schemes: dict[str, Any] = {
        "bearer": {
            "type": "http",
            "scheme": "bearer",
            "description": "A token of the server's tokens file, or an access token from its OAuth sign-in.",
        }
    }
    if issuer is not None:
        schemes["oauth2"] = {
            "type": "oauth2",
            "description": "Sign in with an account of this server (PKCE with S256; clients may register).",
            "flows": {
                "authorizationCode": {
                    "authorizationUrl": f"{issuer}/authorize",
                    "tokenUrl": f"{issuer}/token",
                    "refreshUrl": f"{issuer}/token",
                    "scopes": {"memory": "Read and change the signed-in user's memories."},
                }
            },
        }
    return schemes


def rest_api(
    engine: MemoryEngine,
    *,
    default_user: str | None,
    tokens: bool,
    issuer: str | None = None,
    language_model: LanguageModel | None = None,
) -> FastAPI:
    """The REST API as an ASGI app to mount at /api: every route acts for one user (the token's, over HTTP with
    tokens), through the same engine calls and the same pydantic shapes as the MCP tools. With `tokens` its OpenAPI
    document declares bearer security (and OAuth with the `issuer` of a server that signs people in).
    `language_model` reads the conversations POSTed to /v1/conversations."""
    api = FastAPI(
        title="memory-mcp",
        version=__version__,
        summary="Long-term memories of a user: add, search, list, correct, supersede, link and forget them.",
        openapi_url="/openapi.json",
        docs_url=None,
        redoc_url=None,
        responses=ERRORS,
    )

    if tokens:
        generate = api.openapi

        def openapi() -> dict[str, Any]:
            if api.openapi_schema is None:
                document = generate()
                schemes = security_schemes(issuer)
                document.setdefault("components", {})["securitySchemes"] = schemes
                document["security"] = [{name: ["memory"] if name == "oauth2" else []} for name in schemes]
            return api.openapi_schema or generate()

        api.openapi = openapi  # type: ignore[method-assign]

    def problem(status: int, title: str, detail: str) -> JSONResponse:
        body = ProblemOut(title=title, status=status, detail=detail).model_dump()
        return JSONResponse(body, status_code=status, media_type=PROBLEM)

    @api.exception_handler(Problem)
    async def on_problem(request: Request, exc: Problem) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        answer = problem(exc.status, exc.title, exc.detail)
        answer.headers.update(headers or {})
        return answer

    @api.exception_handler(MemoryMCPError)
    async def on_engine_error(request: Request, exc: MemoryMCPError) -> JSONResponse:
        for kind, status, title in _STATUS:
            if isinstance(exc, kind):
                return problem(status, title, str(exc))
        return problem(503, "Unavailable", str(exc))

    @api.exception_handler(RequestValidationError)
    async def on_bad_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        # The same sentences as a tool's for the same mistake (server.arguments), about the body's own fields.
        route = request.scope.get("route")
        body = _BODIES.get(getattr(route, "name", ""))
        schema = body.model_json_schema() if body is not None else {}
        errors = [{**error, "loc": tuple(error["loc"][1:])} for error in exc.errors()]
        said = " ".join(problems(errors, schema))  # type: ignore[arg-type]
        return problem(422, "Bad input", f"{said} Nothing was changed.")

    @api.exception_handler(StarletteHTTPException)
    async def on_http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 404 and exc.detail == "Not Found":
            detail = f"There is no {request.method} {request.url.path}: the routes are listed in /api/openapi.json."
        elif exc.status_code == 405:
            detail = f"{request.url.path} does not take {request.method}: see /api/openapi.json for what it takes."
        else:
            detail = str(exc.detail)
        return problem(exc.status_code, HTTPStatus(exc.status_code).phrase, detail)

    def scope(user_id: str | None, project: str | None = None, *, read: bool = True) -> Scope:
        """The scope a request acts in: its token's user (naming another is refused), else the one it names; its
        project by the rules every face shares (`projects.chosen`: the REST API has no current project, so an
        omitted project is every one on a read and none on a write)."""
        if tokens and authenticated_user() is None:
            raise Problem(401, "Unauthorized", "Send Authorization: Bearer <token> (the same token as for /mcp).")
        chosen = acting_user(user_id, default_user)  # a token's own user only: ForbiddenError, answered 403
        place = projects.chosen(project, read=read, current=None, argument="project", no_current=_NO_CURRENT)
        return engine.scope(chosen, project=place)

    @api.get("/v1/memories", response_model=MemoryPageOut, summary="List memories, newest first")
    async def list_memories(
        user_id: UserQuery = None,
        cursor: Annotated[str | None, Query(description="The next_cursor of the previous page.")] = None,
        limit: Annotated[int, Query(description="Page size.")] = 20,
        entity: Entity = None,
        as_of: AsOf = None,
        include_superseded: Older = False,
        project: Project = None,
    ) -> MemoryPageOut:
        validity = engine.validity(as_of, include_superseded)
        where = scope(user_id, project)
        page = await engine.page(where, cursor=cursor, limit=limit, validity=validity, entity=entity)
        return MemoryPageOut.of(page)

    @api.post("/v1/memories", response_model=AddMemoryOut, status_code=201, summary="Remember a fact")
    async def add_memory(body: Annotated[AddIn, Body()], user_id: UserQuery = None) -> AddMemoryOut:
        result = await engine.add(
            body.text,
            scope(user_id, body.project, read=False),
            body.metadata,
            if_similar=body.if_similar,
            entities=body.entities,
            valid_from=body.valid_from,
        )
        return AddMemoryOut.of_add(result)

    @api.get("/v1/memories/{memory_id}", response_model=GetMemoryOut, summary="One memory, with its links")
    async def get_memory(memory_id: str, user_id: UserQuery = None) -> GetMemoryOut:
        memory, links = await engine.get_linked(memory_id, scope(user_id))
        return GetMemoryOut.of_linked(memory, links)

    @api.patch("/v1/memories/{memory_id}", response_model=MemoryOut, summary="Correct or supersede a memory")
    async def update_memory(memory_id: str, body: Annotated[UpdateIn, Body()], user_id: UserQuery = None) -> MemoryOut:
        _, memory = await engine.revise(memory_id, scope(user_id), **body.model_dump())
        return MemoryOut.of(memory)

    @api.delete("/v1/memories/{memory_id}", response_model=MemoryOut, summary="Forget a memory")
    async def delete_memory(memory_id: str, user_id: UserQuery = None) -> MemoryOut:
        return MemoryOut.of(await engine.delete(memory_id, scope(user_id)))

    @api.get("/v1/memories/{memory_id}/history", response_model=HistoryOut, summary="How a memory changed")
    async def memory_history(memory_id: str, user_id: UserQuery = None) -> HistoryOut:
        entries = await engine.history(memory_id, scope(user_id))
        return HistoryOut(memory_id=memory_id, history=[HistoryEntryOut.of(entry) for entry in entries])

    @api.post("/v1/conversations", response_model=RememberOut, summary="Remember a conversation's facts")
    async def remember_conversation(body: Annotated[ConversationIn, Body()], user_id: UserQuery = None) -> RememberOut:
        where = scope(user_id, read=False)
        if language_model is None:
            raise Problem(
                503,
                "No language model",
                "This server has no MEMORY_MCP_LLM_BASE_URL to read conversations with: POST the facts to "
                "/v1/memories instead.",
            )
        said = [Message(message.role, message.content) for message in body.messages]
        if sum(len(message.content) for message in said) > MAX_CHARS:
            raise Problem(
                413, "Too long", f"The conversation is longer than {MAX_CHARS:,} characters: send it in parts."
            )
        return RememberOut.of(await engine.remember(said, where, language_model), language_model.name)

    @api.post("/v1/search", response_model=SearchResultOut, summary="Search memories, best first")
    async def search_memory(body: Annotated[SearchIn, Body()], user_id: UserQuery = None) -> SearchResultOut:
        hits = await engine.search(
            wordings(body.query, body.queries),
            scope(user_id, body.project),
            limit=body.limit,
            threshold=body.threshold,
            filters=body.filters,
            validity=engine.validity(body.as_of, body.include_superseded),
            entity=body.entity,
            neighbors=body.neighbors,
        )
        return SearchResultOut(results=[SearchHitOut.of_hit(hit) for hit in hits])

    @api.get("/v1/stats", response_model=UserStatsOut | SummaryOut, summary="What is stored, or counts by a group")
    async def stats(
        user_id: UserQuery = None,
        group_by: Annotated[
            str | None, Query(description='"month", "valid_from", "entity", "link" or a metadata field.')
        ] = None,
        limit: Annotated[int, Query(description="Most groups shown.")] = 20,
        entity: Entity = None,
        as_of: AsOf = None,
        include_superseded: Older = False,
    ) -> UserStatsOut | SummaryOut:
        where = scope(user_id)
        if group_by is None:
            return UserStatsOut.of(await engine.summary(where), engine.embedder.id)
        validity = engine.validity(as_of, include_superseded)
        counted = await engine.summarize(where, group_by, limit=limit, validity=validity, entity=entity)
        return SummaryOut.of(counted)

    @api.post("/v1/links", response_model=LinkMemoriesOut, summary="Link one memory to another")
    async def link_memories(body: Annotated[LinkIn, Body()], user_id: UserQuery = None) -> LinkMemoriesOut:
        link, created = await engine.link(scope(user_id), body.source_id, body.target_id, body.type, body.metadata)
        return LinkMemoriesOut(link=LinkOut.of(link), created=created)

    @api.delete("/v1/links", response_model=UnlinkOut, summary="Remove the links from one memory to another")
    async def unlink_memories(
        source_id: str,
        target_id: str,
        user_id: UserQuery = None,
        type: Annotated[str | None, Query(description="Only links of this type.")] = None,
    ) -> UnlinkOut:
        removed = await engine.unlink(scope(user_id), source_id, target_id, type)
        return UnlinkOut(removed=[LinkOut.of(link) for link in removed])

    return api
