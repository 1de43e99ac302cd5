"""What every conversation pays for: the size of tools/list as a client receives it, and no schema noise in it."""

from __future__ import annotations

import json
from typing import Any

from mcp import Client
from mcp.server.mcpserver import MCPServer

LISTED_BYTES_AT_MOST = 26_500
"""Measured 26,240 bytes for the nine tools (29,355 before titles were dropped). Issue 15 asks for 12 KB: not yet."""


def keys(value: Any) -> set[str]:
    if isinstance(value, dict):
        return set(value) | {k for item in value.values() for k in keys(item)}
    if isinstance(value, list):
        return {k for item in value for k in keys(item)}
    return set()


async def test_tools_list_size_is_measured_and_bounded(server: MCPServer, capsys: Any) -> None:
    async with Client(server) as client:
        tools = (await client.list_tools()).tools
    listed = json.dumps([tool.model_dump(mode="json", by_alias=True, exclude_none=True) for tool in tools])
    with capsys.disabled():
        print(f"\ntools/list: {len(tools)} tools, {len(listed):,} bytes")
    assert len(listed) <= LISTED_BYTES_AT_MOST
    assert "title" not in keys([tool.input_schema for tool in tools] + [tool.output_schema for tool in tools])
    assert all(tool.title for tool in tools)  # the tools' own titles stay: hosts show them to people
