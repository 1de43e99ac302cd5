"""Hostile and malformed input through the MCP tools and resources (hypothesis): always a clear answer, never damage."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import anyio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mcp import Client, MCPError
from mcp.server.mcpserver import MCPServer
from mcp.types import TextContent, TextResourceContents

from memory_mcp.engine import MemoryEngine

from .helpers import history_position

NASTY = [
    "",
    " ",
    "\x00",
    "nul\x00inside",
    "\u202eevil\u202c",  # right-to-left override
    "zero\u200bwidth\u200d",
    "'; DROP TABLE memories; --",
    '" OR 1=1 --',
    "../../etc/passwd",
    "..%2F..%2Fsecret",
    "u/../v",
    "%00",
    "${jndi:ldap://x}",
    "x" * 20_000,
    "user_id",
    "agent_id",
    "🦄" * 50,
]
TOOLS = {
    "add_memory": [
        "user_id",
        "text",
        "metadata",
        "entities",
        "valid_from",
        "project",
        "agent_id",
        "run_id",
        "if_similar",
    ],
    "add_memories": ["user_id", "memories", "project", "agent_id", "run_id", "if_similar"],
    "search_memory": [
        "user_id",
        "query",
        "queries",
        "limit",
        "threshold",
        "filters",
        "entity",
        "as_of",
        "include_superseded",
        "neighbors",
        "project",
        "agent_id",
        "run_id",
    ],
    "get_memory": ["user_id", "memory_id"],
    "list_memories": [
        "user_id",
        "cursor",
        "limit",
        "filters",
        "entity",
        "as_of",
        "include_superseded",
        "project",
        "agent_id",
        "run_id",
    ],
    "update_memory": ["user_id", "memory_id", "text", "metadata", "entities", "keep_history", "valid_from"],
    "link_memories": ["user_id", "source_id", "target_id", "type", "metadata"],
    "unlink_memories": ["user_id", "source_id", "target_id", "type"],
    "delete_memory": ["user_id", "memory_id"],
    "delete_all_memories": ["user_id", "project", "agent_id", "run_id"],
    "memory_history": ["user_id", "memory_id"],
    "summarize_memories": [
        "user_id",
        "group_by",
        "filters",
        "entity",
        "as_of",
        "include_superseded",
        "limit",
        "project",
        "agent_id",
        "run_id",
    ],
}
AIMED = {"memory_id": "@a", "source_id": "@a", "target_id": "@b"}
"""Id arguments that may name one of the two stored memories (the test puts their ids in), so that calls reach
the code behind the id check: supersession, links."""

OPERATOR_WORDS = ["eq", "gt", "in", "contains", "AND", "OR", "NOT", "user_id", "$gt"]
# Lone surrogates cannot travel as UTF-8 (the client cannot even send them): the raw-wire test below covers them.
texts = st.one_of(st.sampled_from(NASTY), st.text(st.characters(codec="utf-8"), max_size=50))
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    texts,
)
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(
            st.one_of(texts, st.sampled_from(["eq", "gt", "in", "AND", "OR", "NOT", "user_id"])), inner, max_size=4
        ),
    ),
    max_leaves=12,
)
deep = st.integers(1, 200).map(lambda depth: _nest(depth))


def _nest(depth: int) -> Any:
    value: Any = "bottom"
    for _ in range(depth):
        value = {"k": value}
    return value


@st.composite
def tool_calls(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    tool = draw(st.sampled_from(sorted(TOOLS)))
    arguments: dict[str, Any] = {}
    for name in TOOLS[tool]:
        choice = draw(st.integers(0, 3))
        if choice == 0:
            continue  # missing
        if choice == 1:
            arguments[name] = draw(st.one_of(json_values, deep))
        elif name == "user_id":
            arguments[name] = "u"
        elif name in AIMED and choice == 2:
            arguments[name] = AIMED[name]
        else:
            arguments[name] = draw(texts)
    if draw(st.booleans()):
        arguments[draw(texts)] = draw(json_values)  # an argument the tool does not have
    return tool, arguments


async def snapshot(engine: MemoryEngine) -> tuple[Any, ...]:
    """Everything stored, all users together, with history, plus the newest change's sequence number."""
    records = [record async for batch in engine.records(None, history=True) for record in batch]
    return tuple(records), await history_position(engine)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(call=tool_calls())
async def test_any_tool_call_gets_a_clear_answer_and_a_rejected_one_changes_nothing(
    engine: MemoryEngine, server: MCPServer, call: tuple[str, dict[str, Any]]
) -> None:
    tool, arguments = call
    aimed = [memory.id for memory in (await engine.page(engine.scope("u"), limit=2)).memories]
    aimed += [
        (await engine.add(text, engine.scope("u"), {"topic": "target"})).memory.id
        for text in ("a memory to aim at", "another memory to link")[len(aimed) :]
    ]
    ids = {"@a": aimed[0], "@b": aimed[1]}
    arguments = {name: ids.get(value, value) if isinstance(value, str) else value for name, value in arguments.items()}
    before = await snapshot(engine)
    with anyio.fail_after(30):  # never a hang
        async with Client(server) as client:
            result = await client.call_tool(tool, arguments)
    if result.is_error:
        [content] = result.content
        assert isinstance(content, TextContent)
        assert content.text.strip() != f"Error executing tool {tool}", arguments  # never the masked error
        assert "Traceback" not in content.text
        assert await snapshot(engine) == before  # a rejected call changes nothing
    else:
        assert result.structured_content is not None


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(user=texts, memory=texts)
async def test_any_resource_uri_is_read_or_refused_cleanly(server: MCPServer, user: str, memory: str) -> None:
    for uri in (f"memory://users/{user}/memories", f"memory://users/{user}/memories/{memory}"):
        with anyio.fail_after(30):
            async with Client(server) as client:
                try:
                    result = await client.read_resource(uri)
                except MCPError as exc:
                    refusal = exc.error.message
                else:
                    [content] = result.contents
                    assert isinstance(content, TextResourceContents)
                    continue
            assert refusal  # a refusal with a reason


def test_every_request_on_the_wire_gets_an_answer_and_a_broken_one_changes_nothing(tmp_path: Path) -> None:
    """Lines the MCP SDK (2.3) drops without a word, so that the caller waits for its own timeout, get a JSON-RPC
    error instead: escaped lone surrogates (\\ud800 decodes to text UTF-8 cannot hold), text that is not JSON or
    not UTF-8, batches, messages of no known shape. Nothing is stored and the server serves on."""
    from tests.test_durability import RawServer

    server = RawServer(tmp_path / "raw.db")
    assert server.process.stdin is not None
    assert server.process.stdout is not None
    try:
        asked = [
            server.send("tools/call", {"name": "add_memory", "arguments": arguments})
            for arguments in (
                {"user_id": "u", "text": "lone \ud800 surrogate"},
                {"user_id": "u", "text": "fine text", "metadata": {"key \udfff": 1}},
                {"user_id": "u\ud83d", "text": "fine text"},
            )
        ]
        asked.append(server.send("ping", {"x": "\udc00"}))
        raw = [
            b"not json",
            b"[1, 2]",
            b'{"jsonrpc": "2.0", "id": 900}',
            b'{"jsonrpc": "2.0", "id": 901, "method": "ping", "params": {"x": "\xff"}}',
        ]
        for line in raw:
            server.process.stdin.write(line + b"\n")
        server.process.stdin.flush()
        answers = [json.loads(server.process.stdout.readline()) for _ in range(len(asked) + len(raw))]
        assert [answer["id"] for answer in answers] == [*asked, None, None, 900, 901]
        assert all(answer["error"]["code"] in (-32700, -32600) for answer in answers)
        assert "unpaired surrogate" in answers[0]["error"]["message"]
        assert "not JSON" in answers[len(asked)]["error"]["message"]
        assert "not valid UTF-8" in answers[-1]["error"]["message"]
        listed = server.call("tools/call", {"name": "list_memories", "arguments": {"user_id": "u"}})
        assert listed["structuredContent"]["total"] == 0
        added = server.call("tools/call", {"name": "add_memory", "arguments": {"user_id": "u", "text": "still fine"}})
        assert added["isError"] is False
    finally:
        server.kill()
