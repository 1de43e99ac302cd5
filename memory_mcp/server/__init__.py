"""build_server(engine): the MCP server, thin wiring over one MemoryEngine (the only package importing `mcp`)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from mcp.server.auth.settings import AuthSettings
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError, UnexpectedToolError
from mcp.types import CallToolResult, InputRequiredResult, Tool
from pydantic import AnyHttpUrl, ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ..engine import MemoryEngine
from ..guidance import INSTRUCTIONS, instructions
from ..version import __version__
from .arguments import explain
from .auth import StaticTokens, listen_to_own_user_only
from .prompts import register_prompts
from .resources import register_resources
from .tools import register_tools
from .uris import memories_uri, memory_uri

__all__ = ["INSTRUCTIONS", "build_server", "instructions", "memories_uri", "memory_uri"]

logger = logging.getLogger(__name__)


def _untitled(schema: Any) -> Any:
    """A JSON schema without pydantic's "title" keys: they repeat each property's name ("User Id") and cost
    every conversation tokens; descriptions say what the model needs."""
    if isinstance(schema, dict):
        return {key: _untitled(value) for key, value in schema.items() if key != "title" or not isinstance(value, str)}
    if isinstance(schema, list):
        return [_untitled(item) for item in schema]
    return schema


class MemoryServer(MCPServer):
    """The SDK's server, with arguments a tool's schema rejects explained in plain words (see `arguments`) and
    tool schemas listed without title noise."""

    async def list_tools(self) -> list[Tool]:
        """The tools, their input and output schemas without "title" keys."""
        return [
            tool.model_copy(
                update={
                    "input_schema": _untitled(tool.input_schema),
                    "output_schema": None if tool.output_schema is None else _untitled(tool.output_schema),
                }
            )
            for tool in await super().list_tools()
        ]

    async def call_tool(
        self, name: str, arguments: dict[str, Any], context: Context[Any, Any] | None = None
    ) -> CallToolResult | InputRequiredResult:
        """Call a tool; a schema violation becomes a ToolError that says what was wrong and what to send."""
        try:
            return await super().call_tool(name, arguments, context)
        except ToolError as exc:
            cause = exc.__cause__
            if not isinstance(cause, ValidationError) or isinstance(exc, UnexpectedToolError):
                raise
            schema = next((tool.input_schema for tool in await self.list_tools() if tool.name == name), {})
            raise ToolError(explain(name, cause, schema)) from cause


def build_server(
    engine: MemoryEngine,
    *,
    resource_limit: int = 100,
    tokens: Mapping[str, str] | None = None,
    url: str = "http://127.0.0.1:8000/mcp",
    default_user: str | None = None,
    tools: str = "all",
) -> MCPServer:
    """An MCPServer whose tools and resources delegate to `engine`.

    With `tokens` ({token: user_id}), every HTTP request needs `Authorization: Bearer <token>` and may only
    use the token's user; `url` is where the server is reached (named in its 401 answers). With `default_user`
    (one person's server) or tokens, tools may leave `user_id` out, and `resources/list` lists the default
    user's resources.
    """
    auth = None
    if tokens:
        auth = AuthSettings(
            issuer_url=AnyHttpUrl(url),
            resource_server_url=AnyHttpUrl(url),
            required_scopes=["memory"],
            validate_token_resource=False,  # our tokens are not issued per resource: the file binds them here
        )
    mcp = MemoryServer(
        "memory-mcp",
        title="Memory",
        version=__version__,
        instructions=instructions(default_user, bool(tokens)),
        token_verifier=StaticTokens(tokens) if tokens else None,
        auth=auth,
        middleware=[listen_to_own_user_only],
    )

    @mcp.custom_route("/health", methods=["GET"])  # type: ignore[untyped-decorator]
    async def health(request: Request) -> Response:
        return JSONResponse({"status": "ok", "memories": engine.indexed, "index_ready": engine.ready})

    register_tools(mcp, engine, default_user=default_user, tokens=bool(tokens), tools=tools)
    register_resources(mcp, engine, resource_limit=resource_limit, default_user=default_user)
    register_prompts(mcp, default_user=default_user)
    return mcp
