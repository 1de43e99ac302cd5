"""Supersession, links, entities and their reads through a real MCP client, as a model would use them."""

from __future__ import annotations

import json
from typing import Any

from mcp import Client
from mcp.server.mcpserver import MCPServer
from mcp.types import TextResourceContents

from memory_mcp.engine import MemoryEngine
from memory_mcp.server import build_server

from ..helpers import data, error_text


async def call(client: Client, tool: str, **arguments: Any) -> dict[str, Any]:
    return data(await client.call_tool(tool, {"user_id": "sam", **arguments}))


async def test_a_model_keeps_a_changed_fact_as_history_and_finds_it_as_of_then(server: MCPServer) -> None:
    async with Client(server) as client:
        paris = await call(client, "add_memory", text="Sam lives in Paris", entities=["Paris"], valid_from="2019-04")
        assert (paris["valid_from"], paris["valid_to"], paris["entities"]) == (
            "2019-04-01T00:00:00.000000Z",
            None,
            ["Paris"],
        )
        berlin = await call(
            client,
            "update_memory",
            memory_id=paris["id"],
            text="Sam moved to Berlin",
            keep_history=True,
            valid_from="2024-03",
        )
        assert berlin["id"] != paris["id"]
        assert (berlin["valid_from"], berlin["valid_to"]) == ("2024-03-01T00:00:00.000000Z", None)
        now = await call(client, "search_memory", query="where does Sam live", threshold=0.1)
        assert [hit["text"] for hit in now["results"]] == ["Sam moved to Berlin"]
        then = await call(client, "search_memory", query="where does Sam live", threshold=0.1, as_of="2022-01-01")
        assert [(hit["text"], hit["superseded_by"]) for hit in then["results"]] == [
            ("Sam lives in Paris", berlin["id"])
        ]
        listed = await call(client, "list_memories", include_superseded=True)
        assert {memory["text"] for memory in listed["memories"]} == {"Sam lives in Paris", "Sam moved to Berlin"}
        history = await call(client, "memory_history", memory_id=paris["id"])
        assert [(entry["memory_id"], entry["event"]) for entry in history["history"]] == [
            (paris["id"], "ADD"),
            (paris["id"], "SUPERSEDE"),
            (berlin["id"], "ADD"),
        ]
        again = await client.call_tool(
            "update_memory", {"user_id": "sam", "memory_id": paris["id"], "text": "x", "keep_history": True}
        )
        assert "already superseded" in error_text(again)
        no_text = await client.call_tool(
            "update_memory", {"user_id": "sam", "memory_id": berlin["id"], "keep_history": True}
        )
        assert "needs the new text" in error_text(no_text)
        bad_date = await client.call_tool("search_memory", {"user_id": "sam", "query": "Berlin", "as_of": "yesterday"})
        assert "as_of 'yesterday' is not an ISO 8601 date or time" in error_text(bad_date)


async def test_links_bring_a_memory_that_shares_no_word_with_the_query(server: MCPServer) -> None:
    async with Client(server) as client:
        trip = await call(client, "add_memory", text="Sam went to Japan in April")
        detail = await call(client, "add_memory", text="The ryokan had a hot spring bath")
        made = await call(
            client, "link_memories", source_id=detail["id"], target_id=trip["id"], type="part_of", metadata={"n": 1}
        )
        assert made == {
            "link": {
                "source_id": detail["id"],
                "target_id": trip["id"],
                "type": "part_of",
                "metadata": {"n": 1},
                "created_at": made["link"]["created_at"],
            },
            "created": True,
        }
        assert (await call(client, "link_memories", source_id=detail["id"], target_id=trip["id"], type="part_of"))[
            "created"
        ] is False
        found = await call(client, "search_memory", query="Japan trip", threshold=0.2, neighbors=1)
        assert [(hit["text"], hit["match"], hit.get("linked_from"), hit.get("link")) for hit in found["results"]] == [
            ("Sam went to Japan in April", "strong", None, None),
            ("The ryokan had a hot spring bath", "linked", trip["id"], "<-part_of"),
        ]
        got = await call(client, "get_memory", memory_id=trip["id"])
        assert [(link["source_id"], link["type"]) for link in got["links"]] == [(detail["id"], "part_of")]
        # Another user can neither see nor make links to Sam's memories.
        eve = await client.call_tool(
            "link_memories", {"user_id": "eve", "source_id": detail["id"], "target_id": trip["id"], "type": "x"}
        )
        assert "No memory with id" in error_text(eve)
        removed = await call(client, "unlink_memories", source_id=detail["id"], target_id=trip["id"])
        assert [link["type"] for link in removed["removed"]] == ["part_of"]
        assert (await call(client, "get_memory", memory_id=trip["id"]))["links"] == []
        gone = await client.call_tool(
            "unlink_memories", {"user_id": "sam", "source_id": detail["id"], "target_id": trip["id"]}
        )
        assert "There is no link" in error_text(gone)


async def test_entities_are_listed_counted_and_a_resource(server: MCPServer) -> None:
    async with Client(server) as client:
        batch = await call(
            client,
            "add_memories",
            memories=[
                {"text": "Caroline is Sam's sister", "entities": ["Caroline"]},
                {"text": "Caroline works as a nurse", "entities": ["caroline"], "metadata": {"topic": "work"}},
                {"text": "Melanie paints landscapes", "entities": ["Melanie"], "valid_from": "2023"},
            ],
        )
        assert [item["status"] for item in batch["results"]] == ["added", "added", "added"]
        assert batch["results"][2]["memory"]["valid_from"] == "2023-01-01T00:00:00.000000Z"
        listed = await call(client, "list_memories", entity="CAROLINE")
        assert sorted(memory["text"] for memory in listed["memories"]) == [
            "Caroline is Sam's sister",
            "Caroline works as a nurse",
        ]
        counted = await call(client, "summarize_memories", group_by="entity")
        assert counted["groups"] == [{"value": "Caroline", "count": 2}, {"value": "Melanie", "count": 1}]
        by_start = await call(client, "summarize_memories", group_by="valid_from")
        assert by_start["groups"][0]["value"] == "2023-01"
        result = await client.read_resource("memory://users/sam/entities")
        [content] = result.contents
        assert isinstance(content, TextResourceContents)
        assert json.loads(content.text) == {
            "user_id": "sam",
            "entities": [{"name": "Caroline", "memories": 2}, {"name": "Melanie", "memories": 1}],
            "truncated": False,
        }


async def test_a_batch_reports_what_each_item_resembles_and_can_skip_near_duplicates(server: MCPServer) -> None:
    async with Client(server) as client:
        stored = await call(client, "add_memory", text="Sam is allergic to peanuts")
        batch = await call(
            client,
            "add_memories",
            memories=[{"text": "Sam is allergic to peanuts and cashews"}, {"text": "Sam plays the cello"}],
        )
        first, second = batch["results"]
        assert [(found["id"], found["kind"]) for found in first["similar"]] == [(stored["id"], "duplicate")]
        assert all(found["kind"] != "duplicate" for found in second["similar"])
        skipping = await call(
            client, "add_memories", memories=[{"text": "Sam is allergic to peanuts!"}], if_similar="skip"
        )
        [skipped] = skipping["results"]
        assert (skipped["status"], skipped["memory"]["id"]) == ("skipped", stored["id"])
        fast = await call(
            client, "add_memories", memories=[{"text": "Sam is allergic to peanuts!!"}], if_similar="ignore"
        )
        assert (fast["results"][0]["status"], fast["results"][0]["similar"]) == ("added", [])


async def test_the_core_tools_keep_supersession_and_leave_the_rest_to_all(engine: MemoryEngine) -> None:
    async with Client(build_server(engine, tools="core")) as client:
        tools = {tool.name: set(tool.input_schema["properties"]) for tool in (await client.list_tools()).tools}
    assert {"keep_history", "valid_from"} <= tools["update_memory"]
    assert {"as_of", "include_superseded"} <= tools["search_memory"]
    assert not {"entities", "valid_from"} & tools["add_memory"]
    assert not {"entity", "neighbors"} & tools["search_memory"]
    assert "link_memories" not in tools


async def test_a_search_before_the_first_fact_says_so_not_that_nothing_is_stored(server: MCPServer) -> None:
    """as_of before the user's first memory finds nothing; the note says why (not "no memories stored yet")."""
    async with Client(server) as client:
        await call(client, "add_memory", text="Sam lives in Paris", valid_from="2024-01")
        early = await call(client, "search_memory", query="where does Sam live", as_of="2023-06")
        assert early["results"] == []
        assert "Nothing this user has stored was true at 2023-06" in early["note"]
        assert "no memories stored yet" not in early["note"]
        nobody = data(await client.call_tool("search_memory", {"user_id": "nobody", "query": "x y", "as_of": "2023"}))
        assert "no memories stored yet" in nobody["note"]
