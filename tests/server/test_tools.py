"""Every tool and resource through a real MCP client, on both protocol eras."""

from __future__ import annotations

import json
from typing import Any

import anyio
import pytest
from mcp import Client, MCPError
from mcp.server.mcpserver import MCPServer
from mcp.types import TextResourceContents

from memory_mcp.engine import MemoryEngine
from memory_mcp.server import build_server

from ..helpers import ALL_TOOLS, DEFAULT_ID, data, error_text

MODES = [pytest.param("auto", id="2026-07-28"), pytest.param("legacy", id="handshake")]


@pytest.fixture(params=MODES)
def mode(request: pytest.FixtureRequest) -> str:
    value: str = request.param
    return value


async def read_json(client: Client, uri: str) -> Any:
    result = await client.read_resource(uri)
    [content] = result.contents
    assert isinstance(content, TextResourceContents)
    assert content.mime_type == "application/json"
    return json.loads(content.text)


"""Every tool the server offers (MEMORY_MCP_TOOLS=all); each takes a user_id."""


async def test_tools_are_described_for_the_model(server: MCPServer, mode: str) -> None:
    async with Client(server, mode=mode) as client:
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
    assert set(tools) == set(ALL_TOOLS)
    for tool in tools.values():
        assert tool.title
        assert tool.description
        assert not tool.description.startswith((" ", "\n"))
        assert "\n    " not in tool.description  # source indentation removed
        assert tool.output_schema is not None
        assert tool.annotations is not None
        assert tool.annotations.open_world_hint is False
        assert "user_id" in tool.input_schema["required"]
        for name, prop in tool.input_schema["properties"].items():
            assert prop.get("description"), f"{tool.name}.{name} has no description"
    read_only = {name for name, tool in tools.items() if tool.annotations and tool.annotations.read_only_hint}
    assert read_only == {"search_memory", "get_memory", "list_memories", "memory_history", "summarize_memories"}
    destructive = {name for name, tool in tools.items() if tool.annotations and tool.annotations.destructive_hint}
    assert destructive == {"update_memory", "delete_memory", "delete_all_memories", "unlink_memories"}
    assert tools["search_memory"].input_schema["properties"]["limit"]["maximum"] == 100


async def test_remember_find_correct_and_forget(server: MCPServer, mode: str) -> None:
    async with Client(server, mode=mode) as client:
        added = data(
            await client.call_tool(
                "add_memory", {"user_id": "alice", "text": "I love hiking in the Swiss Alps", "metadata": {"t": 1}}
            )
        )
        assert added["event"] == "ADD"
        assert added["metadata"] == {"t": 1}
        memory_id = added["id"]
        await client.call_tool("add_memory", {"user_id": "alice", "text": "My sister Anna lives in Berlin"})

        found = data(await client.call_tool("search_memory", {"user_id": "alice", "query": "hiking"}))
        top = found["results"][0]
        assert (top["id"], top["text"]) == (memory_id, "I love hiking in the Swiss Alps")
        assert 0 < top["score"] <= 1
        assert top["metadata"] == {"t": 1}

        got = data(await client.call_tool("get_memory", {"user_id": "alice", "memory_id": memory_id}))
        assert got["text"] == "I love hiking in the Swiss Alps"

        listed = data(await client.call_tool("list_memories", {"user_id": "alice"}))
        assert listed["total"] == 2
        assert listed["next_cursor"] is None
        assert [m["text"] for m in listed["memories"]][1] == "I love hiking in the Swiss Alps"

        updated = data(
            await client.call_tool(
                "update_memory", {"user_id": "alice", "memory_id": memory_id, "text": "I love climbing in the Alps"}
            )
        )
        assert updated["text"] == "I love climbing in the Alps"
        assert updated["created_at"] == added["created_at"]

        deleted = data(await client.call_tool("delete_memory", {"user_id": "alice", "memory_id": memory_id}))
        assert deleted["id"] == memory_id

        history = data(await client.call_tool("memory_history", {"user_id": "alice", "memory_id": memory_id}))
        assert [h["event"] for h in history["history"]] == ["ADD", "UPDATE", "DELETE"]
        assert history["history"][1]["old_text"] == "I love hiking in the Swiss Alps"

        gone = data(await client.call_tool("delete_all_memories", {"user_id": "alice"}))
        assert gone == {"deleted": 1}
        assert data(await client.call_tool("list_memories", {"user_id": "alice"}))["total"] == 0


async def test_adding_the_same_fact_twice_is_a_noop(server: MCPServer, mode: str) -> None:
    async with Client(server, mode=mode) as client:
        first = data(await client.call_tool("add_memory", {"user_id": "u", "text": "Drinks oat milk"}))
        second = data(await client.call_tool("add_memory", {"user_id": "u", "text": "drinks  oat milk"}))
    assert second["event"] == "NOOP"
    assert second["id"] == first["id"]


async def test_pagination_through_the_tool(server: MCPServer) -> None:
    async with Client(server) as client:
        for i in range(7):
            await client.call_tool("add_memory", {"user_id": "u", "text": f"fact {i}"})
        texts: list[str] = []
        arguments: dict[str, Any] = {"user_id": "u", "limit": 3}
        while True:
            page = data(await client.call_tool("list_memories", arguments))
            assert page["total"] == 7
            texts += [m["text"] for m in page["memories"]]
            if page["next_cursor"] is None:
                break
            arguments["cursor"] = page["next_cursor"]
    assert texts == [f"fact {i}" for i in reversed(range(7))]


async def test_filters_through_the_tool(server: MCPServer) -> None:
    async with Client(server) as client:
        await client.call_tool("add_memory", {"user_id": "u", "text": "tea at breakfast", "metadata": {"meal": 1}})
        await client.call_tool("add_memory", {"user_id": "u", "text": "tea at dinner", "metadata": {"meal": 3}})
        found = data(
            await client.call_tool("search_memory", {"user_id": "u", "query": "tea", "filters": {"meal": {"gt": 2}}})
        )
        listed = data(await client.call_tool("list_memories", {"user_id": "u", "filters": {"meal": {"in": [1]}}}))
    assert [r["text"] for r in found["results"]] == ["tea at dinner"]
    assert [m["text"] for m in listed["memories"]] == ["tea at breakfast"]


@pytest.mark.parametrize(
    ("tool", "arguments", "expected"),
    [
        pytest.param("delete_memory", {"memory_id": "nope"}, "search_memory or list_memories", id="unknown-id"),
        pytest.param("get_memory", {"memory_id": "nope"}, "No memory with id 'nope'", id="get-unknown"),
        pytest.param("add_memory", {"text": "   "}, "text is empty", id="blank-text"),
        pytest.param("add_memory", {"text": "x" * 10_001}, "the most is 10000", id="too-long"),
        pytest.param("add_memory", {"text": "a", "metadata": {"user_id": "bob"}}, "cannot be changed", id="scope-meta"),
        pytest.param(
            "search_memory",
            {"query": "tea", "filters": {"a": {"like": 1}}},
            "Unknown filter operator",
            id="bad-operator",
        ),
        pytest.param(
            "search_memory",
            {"query": "tea", "limit": 0},
            "limit must be a whole number from 1 to 100, got 0.",
            id="zero-limit",
        ),
        pytest.param(
            "search_memory",
            {"query": "tea", "limit": 10**6},
            "limit must be a whole number from 1 to 100, got 1000000.",
            id="huge-limit",
        ),
        pytest.param("search_memory", {"query": "..."}, "no words to search by", id="wordless-query"),
        pytest.param("list_memories", {"cursor": "garbage"}, "without a cursor", id="bad-cursor"),
        pytest.param("update_memory", {"memory_id": "x"}, "Nothing to update", id="update-nothing"),
        pytest.param(
            "add_memory", {"text": "a", "agent_id": "a/b"}, "agent_id 'a/b' is not a valid id", id="bad-agent-id"
        ),
        pytest.param("add_memory", {}, "text is required but was not sent", id="missing-text"),
        pytest.param("search_memory", {"query": 5}, "query must be a string, not a number", id="wrong-type"),
    ],
)
async def test_bad_input_gets_an_actionable_error(
    server: MCPServer, tool: str, arguments: dict[str, Any], expected: str
) -> None:
    async with Client(server) as client:
        result = await client.call_tool(tool, {"user_id": "u", **arguments})
        after = data(await client.call_tool("list_memories", {"user_id": "u"}))
    text = error_text(result)
    assert expected in text
    assert text.strip() != f"Error executing tool {tool}"  # never the masked message
    assert "Traceback" not in text
    assert after["total"] == 0  # nothing was stored by the failed call


async def test_updating_into_a_duplicate_names_the_existing_memory(server: MCPServer) -> None:
    async with Client(server) as client:
        tea = data(await client.call_tool("add_memory", {"user_id": "u", "text": "likes tea"}))
        coffee = data(await client.call_tool("add_memory", {"user_id": "u", "text": "likes coffee"}))
        result = await client.call_tool(
            "update_memory", {"user_id": "u", "memory_id": coffee["id"], "text": "likes tea"}
        )
    assert tea["id"] in error_text(result)


async def test_no_tool_or_resource_crosses_users(server: MCPServer, mode: str) -> None:
    async with Client(server, mode=mode) as client:
        secret = data(await client.call_tool("add_memory", {"user_id": "alice", "text": "secret diary entry"}))
        memory_id = secret["id"]
        for tool, extra in [
            ("get_memory", {}),
            ("update_memory", {"text": "overwritten"}),
            ("delete_memory", {}),
            ("memory_history", {}),
        ]:
            result = await client.call_tool(tool, {"user_id": "bob", "memory_id": memory_id, **extra})
            assert "No memory with id" in error_text(result)
        assert (
            data(await client.call_tool("search_memory", {"user_id": "bob", "query": "secret diary"}))["results"] == []
        )
        assert data(await client.call_tool("list_memories", {"user_id": "bob"}))["total"] == 0
        assert data(await client.call_tool("delete_all_memories", {"user_id": "bob"}))["deleted"] == 0
        assert (await read_json(client, "memory://users/bob/memories"))["memories"] == []
        with pytest.raises(MCPError):
            await client.read_resource(f"memory://users/bob/memories/{memory_id}")
        still = data(await client.call_tool("get_memory", {"user_id": "alice", "memory_id": memory_id}))
    assert still["text"] == "secret diary entry"


async def test_resources_show_a_users_memories(server: MCPServer, mode: str) -> None:
    async with Client(server, mode=mode) as client:
        templates = {t.uri_template for t in (await client.list_resource_templates()).resource_templates}
        assert templates == {
            "memory://users/{user_id}/memories",
            "memory://users/{user_id}/memories/{memory_id}",
            "memory://users/{user_id}/stats",
            "memory://users/{user_id}/entities",
        }
        first = data(await client.call_tool("add_memory", {"user_id": "u", "text": "first fact"}))
        await client.call_tool("add_memory", {"user_id": "u", "text": "second fact"})
        listing = await read_json(client, "memory://users/u/memories")
        one = await read_json(client, f"memory://users/u/memories/{first['id']}")
    assert [m["text"] for m in listing["memories"]] == ["second fact", "first fact"]
    assert (listing["total"], listing["truncated"]) == (2, False)
    assert one["text"] == "first fact"


async def test_the_memories_resource_says_when_it_is_truncated(engine: MemoryEngine) -> None:
    for i in range(5):
        await engine.add(f"fact {i}", engine.scope("u"))
    async with Client(build_server(engine, resource_limit=3)) as client:
        listing = await read_json(client, "memory://users/u/memories")
    assert (listing["total"], listing["shown"], listing["truncated"]) == (5, 3, True)
    assert "list_memories" in listing["note"]


@pytest.mark.parametrize(
    "uri",
    [
        pytest.param("memory://users/u/memories/00000000-0000-0000-0000-000000000000", id="unknown-memory"),
        pytest.param("memory://users/u%2F..%2Fbob/memories", id="encoded-slash"),
        pytest.param("memory://users/../memories", id="dot-dot"),
        pytest.param("memory://users/a b/memories", id="space"),
    ],
)
async def test_bad_resource_uris_are_errors(server: MCPServer, uri: str) -> None:
    async with Client(server) as client:
        with pytest.raises(MCPError):
            await client.read_resource(uri)


async def test_changes_notify_handshake_era_clients(server: MCPServer) -> None:
    received: list[str] = []
    both_arrived = anyio.Event()

    async def on_message(message: Any) -> None:
        uri = getattr(getattr(message, "params", None), "uri", None)
        if uri is not None:
            received.append(str(uri))
        if len(received) == 2:
            both_arrived.set()

    async with Client(server, mode="legacy", message_handler=on_message) as client:
        added = data(await client.call_tool("add_memory", {"user_id": "u", "text": "likes tea"}))
        with anyio.fail_after(5):
            await both_arrived.wait()
    assert received == ["memory://users/u/memories", f"memory://users/u/memories/{added['id']}"]


async def test_changes_notify_listening_clients(server: MCPServer) -> None:
    uri = "memory://users/u/memories"
    async with Client(server) as client, client.listen(resource_subscriptions=[uri]) as subscription:
        await client.call_tool("add_memory", {"user_id": "u", "text": "likes tea"})
        with anyio.fail_after(5):
            event = await subscription.__anext__()
    assert getattr(event, "uri", None) == "memory://users/u/memories"


async def test_add_memories_reports_each_item_in_order(server: MCPServer, mode: str) -> None:
    reported: list[tuple[float, float | None]] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        reported.append((progress, total))

    async with Client(server, mode=mode) as client:
        known = data(await client.call_tool("add_memory", {"user_id": "u", "text": "Drinks oat milk"}))
        batch = [
            {"text": "Has a dog named Rex", "metadata": {"topic": "pets"}},
            {"text": "   "},
            {"text": "drinks OAT milk"},
            {"text": "Plays the cello"},
            {"text": "has a dog named rex"},
            {"text": "x", "metadata": {"user_id": "bob"}},
        ]
        result = await client.call_tool(
            "add_memories", {"user_id": "u", "memories": batch}, progress_callback=on_progress
        )
        listed = data(await client.call_tool("list_memories", {"user_id": "u"}))
    results = data(result)["results"]
    assert [r["status"] for r in results] == ["added", "error", "noop", "added", "noop", "error"]
    assert results[0]["memory"]["metadata"] == {"topic": "pets"}
    assert "item 1" in results[1]["error"]
    assert "empty" in results[1]["error"]
    assert results[2]["memory"]["id"] == known["id"]
    assert results[4]["memory"]["id"] == results[0]["memory"]["id"]  # a repeat inside the batch
    assert "cannot be changed through metadata" in results[5]["error"]
    assert listed["total"] == 3
    assert reported[-1] == (6, 6)


@pytest.mark.parametrize(
    ("memories", "expected"),
    [
        pytest.param([], "memories has 0 item(s); send at least 1", id="empty"),
        pytest.param([{"text": "x"}] * 1001, "memories has 1001 item(s); send at most 1000", id="too-many"),
        pytest.param([{"metadata": {}}], "text", id="item-without-text"),
    ],
)
async def test_add_memories_refuses_a_malformed_batch(
    server: MCPServer, memories: list[dict[str, Any]], expected: str
) -> None:
    async with Client(server) as client:
        result = await client.call_tool("add_memories", {"user_id": "u", "memories": memories})
        after = data(await client.call_tool("list_memories", {"user_id": "u"}))
    assert expected in error_text(result)
    assert after["total"] == 0


async def test_the_stats_resource_summarises_one_user(server: MCPServer, mode: str) -> None:
    async with Client(server, mode=mode) as client:
        empty = await read_json(client, "memory://users/u/stats")
        await client.call_tool("add_memory", {"user_id": "u", "text": "first fact"})
        await client.call_tool("add_memory", {"user_id": "u", "text": "second fact", "agent_id": "coder"})
        await client.call_tool("add_memory", {"user_id": "other", "text": "not counted"})
        stats = await read_json(client, "memory://users/u/stats")
        with pytest.raises(MCPError):
            await client.read_resource("memory://users/a b/stats")
    assert (empty["memories"], empty["oldest"]) == (0, None)
    assert (stats["memories"], stats["agents"], stats["runs"], stats["embedder"]) == (2, 1, 0, DEFAULT_ID)
    assert stats["oldest"] < stats["newest"]


async def test_prompts_guide_the_model_through_the_tools(server: MCPServer, mode: str) -> None:
    async with Client(server, mode=mode) as client:
        prompts = {p.name: p for p in (await client.list_prompts()).prompts}
        recall = await client.get_prompt("what_do_you_remember", {"user_id": "alice"})
        forget = await client.get_prompt("forget_about", {"user_id": "alice", "topic": "my old job"})
    assert set(prompts) == {"what_do_you_remember", "forget_about"}
    assert {a.name for a in prompts["forget_about"].arguments or []} == {"user_id", "topic"}
    assert all(a.required for a in prompts["forget_about"].arguments or [])
    [recall_message] = recall.messages
    [forget_message] = forget.messages
    assert recall_message.role == forget_message.role == "user"
    recall_text = getattr(recall_message.content, "text", "")
    forget_text = getattr(forget_message.content, "text", "")
    assert "list_memories" in recall_text
    assert "'alice'" in recall_text
    assert "search_memory" in forget_text
    assert "delete_memory" in forget_text
    assert "'my old job'" in forget_text


async def test_long_batches_and_delete_all_report_progress(server: MCPServer, mode: str) -> None:
    reports: dict[str, list[tuple[float, float | None]]] = {"add": [], "delete": []}

    def recorder(name: str) -> Any:
        async def record(progress: float, total: float | None, message: str | None) -> None:
            reports[name].append((progress, total))

        return record

    batch = [{"text": f"fact number {i} about topic {i % 7}"} for i in range(1000)]
    async with Client(server, mode=mode) as client:
        added = await client.call_tool(
            "add_memories", {"user_id": "u", "memories": batch}, progress_callback=recorder("add")
        )
        deleted = await client.call_tool("delete_all_memories", {"user_id": "u"}, progress_callback=recorder("delete"))
    assert [r["status"] for r in data(added)["results"]] == ["added"] * 1000
    assert data(deleted)["deleted"] == 1000
    done = [progress for progress, _ in reports["add"]]
    assert done == sorted(set(done))
    assert len(done) >= 4
    assert reports["add"][0] == (0, 1000)
    assert reports["add"][-1] == (1000, 1000)
    assert reports["delete"] == [(0, 1000), (1000, 1000)]


async def test_add_memory_reports_similar_memories_and_can_skip_near_duplicates(server: MCPServer) -> None:
    async with Client(server) as client:
        first = data(await client.call_tool("add_memory", {"user_id": "u1", "text": "My favourite band is Radiohead"}))
        assert first["similar"] == []
        again = data(await client.call_tool("add_memory", {"user_id": "u1", "text": "Radiohead is my favourite band"}))
        assert again["event"] == "ADD"
        assert [(s["id"], s["kind"]) for s in again["similar"]] == [(first["id"], "duplicate")]
        skipped = data(
            await client.call_tool(
                "add_memory", {"user_id": "u1", "text": "Radiohead is my favourite band!", "if_similar": "skip"}
            )
        )
        assert skipped["event"] == "SKIP"
        assert skipped["id"] in {first["id"], again["id"]}
        listed = data(await client.call_tool("list_memories", {"user_id": "u1"}))
        assert listed["total"] == 2
        wrong = await client.call_tool("add_memory", {"user_id": "u1", "text": "x", "if_similar": "maybe"})
        assert "if_similar" in error_text(wrong)


async def test_summarize_memories_counts_by_a_metadata_field_and_by_month(server: MCPServer) -> None:
    async with Client(server) as client:
        for text, topic in (("Likes ramen", "food"), ("Bakes bread", "food"), ("Works at a bank", "work")):
            await client.call_tool("add_memory", {"user_id": "sam", "text": text, "metadata": {"topic": topic}})
        await client.call_tool("add_memory", {"user_id": "sam", "text": "Has a cat"})
        counted = data(await client.call_tool("summarize_memories", {"user_id": "sam", "group_by": "topic"}))
        assert counted["groups"] == [{"value": "food", "count": 2}, {"value": "work", "count": 1}]
        assert (counted["total"], counted["missing"], counted["truncated"]) == (4, 1, False)
        months = data(await client.call_tool("summarize_memories", {"user_id": "sam", "group_by": "month"}))
        assert [group["count"] for group in months["groups"]] == [4]
        refused = await client.call_tool("summarize_memories", {"user_id": "sam", "group_by": "metadata."})
        assert "names no field" in error_text(refused)
