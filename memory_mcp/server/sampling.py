"""The host's own model, asked through MCP sampling (`sampling/createMessage`), as a `protocols.LanguageModel`."""

from __future__ import annotations

import json
import re
import warnings
from collections.abc import Mapping
from typing import Any, Final

import mcp.types as types
from mcp.server.mcpserver import Context
from mcp.shared.exceptions import MCPDeprecationWarning, MCPError

from ..errors import LanguageModelError

MAX_TOKENS: Final = 4_000
_FENCE = re.compile(r"\A```(?:json)?\s*\n(.*)\n```\s*\Z", re.DOTALL)


def can_sample(ctx: Context[Any, Any]) -> bool:
    """True when the client said it runs sampling requests and this request can carry one."""
    capabilities = ctx.session.client_capabilities
    return capabilities is not None and capabilities.sampling is not None and ctx.session.can_send_request


class SamplingModel:
    """Asks the MCP client's model (no key, no cost to configure): the schema goes in the prompt, as sampling has
    no structured output; the answer is parsed strictly by the caller (one enclosing ```json fence is allowed)."""

    name = "the host's model (MCP sampling)"

    def __init__(self, ctx: Context[Any, Any]) -> None:
        self._ctx = ctx

    async def complete(self, system: str, prompt: str, schema: Mapping[str, Any], name: str) -> str:
        asked = f"{prompt}\n\nAnswer with one JSON object ({name}) and nothing else, fitting this JSON schema:\n"
        try:
            with warnings.catch_warnings():  # sampling is deprecated by the 2026-07-28 spec; hosts still run it
                warnings.simplefilter("ignore", MCPDeprecationWarning)
                result = await self._ctx.session.create_message(
                    [
                        types.SamplingMessage(
                            role="user", content=types.TextContent(type="text", text=asked + json.dumps(schema))
                        )
                    ],
                    max_tokens=MAX_TOKENS,
                    system_prompt=system,
                    temperature=0,
                )
        except MCPError as exc:
            raise LanguageModelError(
                f"The host's model did not answer the sampling request: {exc}; nothing was stored."
            ) from None
        content = result.content
        if not isinstance(content, types.TextContent):
            raise LanguageModelError("The host's model answered the sampling request without text; nothing was stored.")
        fenced = _FENCE.match(content.text.strip())
        return fenced.group(1) if fenced else content.text
