"""Page tokens round-trip and refuse what they did not make; the JSON shapes the tools and commands print."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from memory_mcp.errors import InvalidInputError
from memory_mcp.models import HistoryEntry, Link, Memory, MemoryId, Page, Scope, SearchHit, UserSummary
from memory_mcp.paging import decode_cursor, encode_cursor
from memory_mcp.wire import (
    history_json,
    hit_json,
    link_json,
    linked_memory_json,
    memory_json,
    page_json,
    user_stats_json,
)

T0 = "2025-01-01T00:00:00.000000Z"


@given(st.text(max_size=40), st.text(max_size=40))
def test_a_cursor_decodes_to_the_position_it_encodes(created_at: str, memory_id: str) -> None:
    assert decode_cursor(encode_cursor((created_at, memory_id))) == (created_at, memory_id)


@pytest.mark.parametrize("token", ["", "not-a-token", "W10", "WzEsIDJd", "e30"])  # "", junk, [], [1, 2], {}
def test_a_cursor_this_server_did_not_make_is_refused_with_a_way_out(token: str) -> None:
    with pytest.raises(InvalidInputError, match="Call list_memories without a cursor"):
        decode_cursor(token)


def memory(memory_id: str = "m1", **changes: object) -> Memory:
    fields: dict[str, object] = {
        "id": MemoryId(memory_id),
        "text": "Sam keeps bees",
        "scope": Scope("sam", None, "r1", "shop"),
        "metadata": {"topic": "garden"},
        "created_at": T0,
        "updated_at": T0,
        "valid_from": T0,
        "valid_to": None,
        "superseded_by": None,
        "entities": ("Sam",),
    }
    fields.update(changes)
    return Memory(**fields)  # type: ignore[arg-type]


def test_a_memory_is_printed_with_its_scope_validity_and_entities() -> None:
    assert memory_json(memory()) == {
        "id": "m1",
        "text": "Sam keeps bees",
        "user_id": "sam",
        "agent_id": None,
        "run_id": "r1",
        "project": "shop",
        "metadata": {"topic": "garden"},
        "created_at": T0,
        "updated_at": T0,
        "valid_from": T0,
        "valid_to": None,
        "superseded_by": None,
        "entities": ["Sam"],
    }


def test_a_hit_adds_its_rounded_score_and_match_and_a_linked_one_where_it_hangs() -> None:
    found = hit_json(SearchHit(memory(), 0.123456789, "strong"))
    assert (found["score"], found["match"], "linked_from" in found) == (0.123457, "strong", False)
    linked = hit_json(SearchHit(memory("m2"), 0.5, "linked", MemoryId("m1"), "relates_to"))
    assert (linked["linked_from"], linked["link"]) == ("m1", "relates_to")


def test_links_pages_history_and_stats_keep_their_fields() -> None:
    link = Link(MemoryId("m1"), MemoryId("m2"), "part_of", {}, T0)
    assert link_json(link) == {
        "source_id": "m1",
        "target_id": "m2",
        "type": "part_of",
        "metadata": {},
        "created_at": T0,
    }
    page = page_json(Page([memory()], "next", 7))
    assert (len(page["memories"]), page["next_cursor"], page["total"]) == (1, "next", 7)
    entry = HistoryEntry(MemoryId("m1"), "UPDATE", "old", "new", {}, {"a": 1}, T0)
    assert history_json(entry)["event"] == "UPDATE"
    assert history_json(entry)["new_metadata"] == {"a": 1}
    stats = user_stats_json(UserSummary("sam", 3, T0, T0, 1, 0), "hash-v2")
    assert stats == {
        "user_id": "sam", "memories": 3, "oldest": T0, "newest": T0, "agents": 1, "runs": 0, "embedder": "hash-v2"
    }  # fmt: skip


def test_a_memory_with_its_links_is_the_memory_and_a_list_of_links() -> None:
    link = Link(MemoryId("m1"), MemoryId("m2"), "part_of", {}, T0)
    shown = linked_memory_json(memory(), [link])
    assert shown == {**memory_json(memory()), "links": [link_json(link)]}
