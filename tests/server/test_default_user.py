"""One person's server: MEMORY_MCP_USER makes user_id optional; over HTTP the token's user is the default."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from mcp import Client, StdioServerParameters
from mcp.server.mcpserver import MCPServer

from memory_mcp.engine import MemoryEngine
from memory_mcp.server import build_server
from memory_mcp.server.tools import CORE

from ..helpers import ALL_TOOLS, data, error_text
from ..helpers.servers import ALICE, client, start

COMMAND = Path(sys.executable).parent / "memory-mcp"


async def test_a_stdio_server_with_a_default_user_needs_no_user_id(tmp_path: Path) -> None:
    """What a host launches with `memory-mcp config`'s snippet: the model never has to invent a user id."""
    env = {"MEMORY_MCP_DB": str(tmp_path / "m.db"), "MEMORY_MCP_USER": "sam"}
    async with Client(StdioServerParameters(command=str(COMMAND), env=env)) as session:
        tools = {tool.name: tool for tool in (await session.list_tools()).tools}
        assert sorted(tools) == sorted(CORE)  # the default tool set
        for name in CORE:
            assert "user_id" not in tools[name].input_schema.get("required", []), name
            assert "'sam'" in tools[name].input_schema["properties"]["user_id"]["description"]
        added = data(await session.call_tool("add_memory", {"text": "I'm vegetarian"}))
        assert added["user_id"] == "sam"
        found = data(await session.call_tool("search_memory", {"query": "diet"}))
        assert [hit["id"] for hit in found["results"]] == [added["id"]]
        # Naming a user still works, and reaches only that user's memories.
        other = data(await session.call_tool("list_memories", {"user_id": "someone-else"}))
        assert other["total"] == 0
        listed = [str(resource.uri) for resource in (await session.list_resources()).resources]
        assert listed == ["ui://memory/view", "memory://users/sam/memories", "memory://users/sam/stats"]
        mine = await session.read_resource("memory://users/sam/memories")
        assert json.loads(mine.contents[0].text)["total"] == 1  # type: ignore[union-attr]


async def test_the_model_is_told_who_the_user_is(engine: MemoryEngine) -> None:
    async with Client(build_server(engine, default_user="sam")) as session:
        assert "memories of 'sam'" in (session.instructions or "")
    async with Client(build_server(engine)) as session:
        assert "Always pass the same user_id" in (session.instructions or "")


async def test_without_a_default_user_user_id_stays_required(server: MCPServer) -> None:
    async with Client(server) as session:
        tools = {tool.name: tool for tool in (await session.list_tools()).tools}
        for name in ALL_TOOLS:
            assert "user_id" in tools[name].input_schema["required"], name
        result = await session.call_tool("add_memory", {"text": "orphan fact"})
        assert "user_id is required but was not sent" in error_text(result)
        listed = [str(resource.uri) for resource in (await session.list_resources()).resources]
        assert listed == ["ui://memory/view"]  # no user's resources without a default user; the MCP App view only


async def test_write_tools_say_that_agent_and_run_store_the_memory_under_them(server: MCPServer) -> None:
    async with Client(server) as session:
        tools = {tool.name: tool for tool in (await session.list_tools()).tools}
    for name in ("add_memory", "add_memories"):
        described = tools[name].input_schema["properties"]
        assert described["agent_id"]["description"].startswith("Optional: store the memory for one agent")
        assert described["run_id"]["description"].startswith("Optional: store the memory for one run")
    assert tools["search_memory"].input_schema["properties"]["agent_id"]["description"].startswith("Optional: only")


async def test_over_http_the_tokens_user_is_the_default(tmp_path: Path) -> None:
    tokens = tmp_path / "tokens.json"
    tokens.write_text(json.dumps({ALICE: "alice"}))
    process, base = start(tmp_path, env={"MEMORY_MCP_TOKENS_FILE": str(tokens)})
    try:
        async with client(base, ALICE) as alice:
            tool = next(t for t in (await alice.list_tools()).tools if t.name == "add_memory")
            assert "user_id" not in tool.input_schema["required"]
            added = data(await alice.call_tool("add_memory", {"text": "Alice keeps bees"}))
            assert added["user_id"] == "alice"
            refused = await alice.call_tool("list_memories", {"user_id": "bob"})
            assert "token belongs to user 'alice'" in error_text(refused)
    finally:
        process.terminate()
        process.wait(timeout=30)


async def test_prompts_need_no_user_when_the_server_has_one(engine: MemoryEngine) -> None:
    async with Client(build_server(engine, default_user="sam")) as session:
        prompts = {prompt.name: prompt for prompt in (await session.list_prompts()).prompts}
        forget = await session.get_prompt("forget_about", {"topic": "my old job"})
        named = await session.get_prompt("what_do_you_remember", {"user_id": "alice"})
    arguments = {a.name: a.required for a in prompts["forget_about"].arguments or []}
    assert arguments == {"user_id": False, "topic": True}
    text = forget.messages[0].content.text  # type: ignore[union-attr]
    assert "search_memory for 'my old job'" in text
    assert "user_id" not in text
    assert "with user_id 'alice'" in named.messages[0].content.text  # type: ignore[union-attr]
