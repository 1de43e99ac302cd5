"""build_server(engine): the MCP server, thin wiring over one MemoryEngine (the only package importing `mcp`)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlparse

from mcp.server.auth.routes import build_metadata, cors_middleware
from mcp.server.auth.settings import AuthSettings, ClientRegistrationOptions, RevocationOptions
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError, UnexpectedToolError
from mcp.types import CallToolResult, InputRequiredResult, Tool
from pydantic import AnyHttpUrl, ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ..engine import MemoryEngine
from ..guidance import INSTRUCTIONS, instructions
from ..protocols import AccountStore, LanguageModel
from ..version import __version__
from .arguments import explain, explain_problems, unknown
from .auth import StaticTokens, listen_to_own_user_only
from .client_auth import secret_checking_routes
from .clients import ClientDocuments
from .guard import token_first
from .oauth import SCOPE, Authority, with_documents
from .page import Access, page_routes
from .prompts import register_prompts
from .resources import register_resources
from .roots import Projects
from .signin import signin_routes
from .stdio import stdio_streams
from .tools import register_tools
from .uris import memories_uri, memory_uri
from .view import memory_view

__all__ = ["INSTRUCTIONS", "build_server", "instructions", "memories_uri", "memory_uri"]

logger = logging.getLogger(__name__)

METADATA_PATH = "/.well-known/oauth-authorization-server"


def compact(schema: Any, *, described: bool = True) -> Any:
    """A JSON schema that says the same in fewer bytes, for the tool list every conversation pays for: without
    pydantic's "title" keys (they repeat each property's name), `"default": null` and `"additionalProperties":
    true` (the default), with `anyOf: [T, null]`
    as `type: [T, "null"]`, and (`described=False`, for output schemas) without descriptions and `required`."""
    if isinstance(schema, list):
        return [compact(item, described=described) for item in schema]
    if not isinstance(schema, dict):
        return schema
    kept = {}
    for key, value in schema.items():
        if (key == "title" and isinstance(value, str)) or (key == "default" and value is None):
            continue
        if key == "additionalProperties" and value is True:  # JSON Schema's default
            continue
        if key in ("description", "required") and not described:  # an output's fields are listed, not explained
            continue
        kept[key] = compact(value, described=described)
    options = kept.get("anyOf")
    if isinstance(options, list) and len(options) == 2 and {"type": "null"} in options:
        [other] = [option for option in options if option != {"type": "null"}]
        if isinstance(other, dict) and isinstance(other.get("type"), str):
            del kept["anyOf"]
            kept = {**other, **kept, "type": [other["type"], "null"]}
    return kept


class MemoryServer(MCPServer):
    """The SDK's server, with arguments a tool's schema rejects explained in plain words (see `arguments`) and
    tool schemas listed compactly (see `compact`)."""

    async def list_tools(self) -> list[Tool]:
        """The tools, their input and output schemas compacted."""
        return [
            tool.model_copy(
                update={
                    "input_schema": compact(tool.input_schema),
                    "output_schema": None
                    if tool.output_schema is None
                    else compact(tool.output_schema, described=False),
                }
            )
            for tool in await super().list_tools()
        ]

    def streamable_http_app(self, **options: Any) -> Starlette:
        """The SDK's HTTP app; as an authorization server, its metadata also says that clients may name themselves
        by a client id metadata document (`clients`), which the SDK's metadata leaves out, and its token and
        revocation endpoints check client secrets kept as hashes (`client_auth`)."""
        app = super().streamable_http_app(**options)
        auth = self.settings.auth
        if self._auth_server_provider is not None and auth is not None:
            metadata = build_metadata(
                auth.issuer_url,
                auth.service_documentation_url,
                auth.client_registration_options or ClientRegistrationOptions(),
                auth.revocation_options or RevocationOptions(),
            )
            document = with_documents(metadata.model_dump(mode="json", exclude_none=True))

            async def authorization_server(request: Request) -> Response:
                return JSONResponse(document, headers={"Cache-Control": "public, max-age=3600"})

            endpoint = cors_middleware(authorization_server, ["GET", "OPTIONS"])
            app.router.routes.insert(0, Route(METADATA_PATH, endpoint=endpoint, methods=["GET", "OPTIONS"]))
            app.router.routes[:] = secret_checking_routes(app.router.routes, self._auth_server_provider)
        return app

    async def run_stdio_async(self) -> None:
        """Serve over stdio, every request answered (see `stdio.verdict`)."""
        async with stdio_streams() as (read_stream, write_stream):
            await self._lowlevel_server.run(
                read_stream, write_stream, self._lowlevel_server.create_initialization_options()
            )

    async def call_tool(
        self, name: str, arguments: dict[str, Any], context: Context[Any, Any] | None = None
    ) -> CallToolResult | InputRequiredResult:
        """Call a tool; a schema violation, or an argument the tool does not take (the SDK would drop it without a
        word), becomes a ToolError that says what was wrong and what to send."""
        tool = self._tool_manager.get_tool(name)
        if tool is not None:
            taken = tool.parameters.get("properties", {})
            extra = [key for key in arguments if key not in taken]
            if extra:
                raise ToolError(explain_problems(name, [unknown(key, tool.parameters) for key in extra]))
        try:
            return await super().call_tool(name, arguments, context)
        except ToolError as exc:
            cause = exc.__cause__
            if not isinstance(cause, ValidationError) or isinstance(exc, UnexpectedToolError):
                raise
            schema = next((tool.input_schema for tool in await self.list_tools() if tool.name == name), {})
            raise ToolError(explain(name, cause, schema)) from cause


def origin(url: str) -> str:
    """scheme://host[:port] of a URL: the issuer of the tokens for the /mcp at `url`."""
    parsed = urlparse(url)
    return f"{parsed.scheme}://{parsed.netloc}"


def build_server(
    engine: MemoryEngine,
    *,
    resource_limit: int = 100,
    tokens: Mapping[str, str] | None = None,
    url: str = "http://127.0.0.1:8000/mcp",
    default_user: str | None = None,
    project: str | None = None,
    tools: str = "all",
    rest: bool = False,
    accounts: AccountStore | None = None,
    loopback_clients: bool = False,
    language_model: LanguageModel | None = None,
) -> MCPServer:
    """An MCPServer whose tools and resources delegate to `engine`.

    With `tokens` ({token: user_id}), every HTTP request needs `Authorization: Bearer <token>` and may only
    use the token's user; `url` is where the server is reached (named in its 401 answers). With `default_user`
    (one person's server) or tokens, tools may leave `user_id` out, and `resources/list` lists the default
    user's resources. `project` fixes the project (workspace) the server works in; without it, each connection's
    is the client's first MCP root, if it shares any. `rest` mounts the REST API at /api of the HTTP app (see
    `rest`), with the same tokens. `accounts` (the database's `AccountStore`) makes the server its own OAuth 2.1
    authorization server (`oauth`, `signin`): those accounts sign in, remote hosts get tokens bound to one user and
    to `url`; the `tokens` keep working beside it; `loopback_clients` lets a client's metadata document live on this
    machine. `language_model` reads conversations for remember_conversation when the client offers no sampling.
    """
    authority = None
    static = StaticTokens(tokens) if tokens else None
    verifier: StaticTokens | Authority | None = static
    auth = None
    oauth = accounts is not None
    if accounts is not None:
        issuer = origin(url)
        documents = ClientDocuments(allow_loopback=loopback_clients)
        authority = Authority(accounts, issuer=issuer, resource=url, static=static, documents=documents)
        verifier = authority
        auth = AuthSettings(
            issuer_url=AnyHttpUrl(issuer),
            resource_server_url=AnyHttpUrl(url),
            required_scopes=[SCOPE],
            validate_token_resource=True,  # a token issued for another server's /mcp is refused
            client_registration_options=ClientRegistrationOptions(
                enabled=True, valid_scopes=[SCOPE], default_scopes=[SCOPE]
            ),
            revocation_options=RevocationOptions(enabled=True),
        )
    elif tokens:
        auth = AuthSettings(
            issuer_url=AnyHttpUrl(url),
            resource_server_url=AnyHttpUrl(url),
            required_scopes=[SCOPE],
            validate_token_resource=False,  # our tokens are not issued per resource: the file binds them here
        )
    signed = bool(tokens) or oauth
    mcp = MemoryServer(
        "memory-mcp",
        title="Memory",
        version=__version__,
        instructions=instructions(default_user, signed),
        token_verifier=None if authority else verifier,
        auth_server_provider=authority,
        auth=auth,
        middleware=[listen_to_own_user_only],
        extensions=[memory_view()],
    )
    if authority is not None:
        mcp._custom_starlette_routes.extend(signin_routes(authority))

    @mcp.custom_route("/health", methods=["GET"])  # type: ignore[untyped-decorator]
    async def health(request: Request) -> Response:
        """Up and whether searches are ready; how many memories only to a caller with a valid token (or on a
        server without tokens, whose tools anyone may call anyway)."""
        answer: dict[str, Any] = {"status": "ok", "index_ready": engine.ready}
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if verifier is None:
            answer["memories"] = engine.indexed
        elif scheme.lower() == "bearer" and (access := await verifier.verify_token(token.strip())) is not None:
            answer["memories"] = await engine.count(engine.scope(access.subject or ""))  # the token's user's only
        return JSONResponse(answer)

    if rest:  # FastAPI loads only for an HTTP server
        from starlette.routing import Mount

        from .rest import rest_api

        api = rest_api(
            engine,
            default_user=default_user,
            tokens=signed,
            issuer=origin(url) if oauth else None,
            language_model=language_model,
        )
        # The SDK offers `custom_route` for single routes; a mounted app joins the same list of Starlette routes,
        # behind the same bearer-token middleware as /mcp.
        # With tokens, a request that could carry a body is refused before its body is read when it has no token.
        mounted = token_first(api) if signed else api
        mcp._custom_starlette_routes.append(Mount("/api", app=mounted))  # type: ignore[arg-type]
        access: Access = "oauth" if oauth else "token" if tokens else "none"
        mcp._custom_starlette_routes.extend(page_routes(access=access, user=default_user, resource=url))

    projects = Projects(project)
    projects.listen(mcp._lowlevel_server)
    register_tools(
        mcp,
        engine,
        default_user=default_user,
        tokens=signed,
        tools=tools,
        projects=projects,
        language_model=language_model,
    )
    register_resources(mcp, engine, resource_limit=resource_limit, default_user=default_user)
    register_prompts(mcp, default_user=default_user)
    return mcp
