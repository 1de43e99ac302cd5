"""Recall as a new user meets it: personal facts stored through add_memory, natural questions through search_memory."""

from __future__ import annotations

import pytest
from mcp import Client
from mcp.server.mcpserver import MCPServer

from ..helpers import data, error_text

FACTS = {
    "diet": "I'm vegetarian, I stopped eating meat years ago",
    "work": "I work as a paramedic for the city ambulance service",
    "kid": "My son Leo is allergic to peanuts",
    "trip": "We're flying to Rome on the 2nd of May",
    "band": "My favourite band is Arctic Monkeys",
    "spelling": "My favourite colour is teal",
    "pet": "We have a ginger cat called Mango",
    "partner": "My wife Ana is a primary school teacher",
    "sport": "I go swimming three mornings a week",
    "home": "We live in a small flat in Glasgow",
    "health": "I get hay fever every spring",
    "car": "I drive an electric Kia",
    "mum": "My mother lives in Porto",
    "coffee": "I don't drink coffee after lunch",
    "book": "I'm reading a novel by Kazuo Ishiguro",
}

QUESTIONS = [  # (question as the user asks it, the fact that answers it, other wordings a model would add)
    ("What should I cook for dinner tonight?", "diet", ["diet", "food preferences"]),
    ("diet", "diet", ["food", "eating"]),
    ("What's my job?", "work", ["occupation", "work"]),
    ("Is my boy allowed nuts?", "kid", ["allergy", "son"]),
    ("Any trips coming up?", "trip", ["travel plans", "holiday"]),
    ("What music do I like?", "band", ["favourite band", "music taste"]),
    ("favorite color", "spelling", ["colour"]),
    ("Do I have any pets?", "pet", ["cat", "dog"]),
    ("What does my wife do for a living?", "partner", ["wife job", "spouse occupation"]),
    ("How do I stay fit?", "sport", ["exercise", "sport"]),
    ("Which city do I live in?", "home", ["home", "where I live"]),
    ("Any allergies I get in the spring?", "health", ["hay fever", "seasonal allergy"]),
    ("What car do I have?", "car", ["vehicle", "drive"]),
    ("Where is my mum?", "mum", ["mother", "parents"]),
]


async def ask(server: MCPServer, with_wordings: bool) -> list[tuple[str, list[str]]]:
    """Store the facts, ask every question; the misses: (question, what came back instead)."""
    async with Client(server) as client:
        ids = {}
        for key, text in FACTS.items():
            ids[key] = data(await client.call_tool("add_memory", {"user_id": "sam", "text": text}))["id"]
        misses = []
        for question, key, wordings in QUESTIONS:
            arguments = {"user_id": "sam", "query": question, "limit": 3}
            if with_wordings:
                arguments["queries"] = wordings
            found = data(await client.call_tool("search_memory", arguments))
            if ids[key] not in [hit["id"] for hit in found["results"]]:
                misses.append((question, [hit["text"] for hit in found["results"]]))
    return misses


async def test_the_right_memory_is_in_the_top_three_for_nearly_every_question(server: MCPServer) -> None:
    """Fourteen questions as a user asks them, most sharing no word with their fact: at most one misses the top 3
    (measured: "How do I stay fit?" does not reach "I go swimming three mornings a week" by meaning alone)."""
    misses = await ask(server, with_wordings=False)
    assert len(misses) <= 1, misses


async def test_with_the_models_own_wordings_every_question_finds_its_memory(server: MCPServer) -> None:
    """As the tool description asks: the model adds a few other wordings in `queries`, and nothing is missed."""
    assert await ask(server, with_wordings=True) == []


async def test_a_question_about_nothing_stored_returns_the_nearest_marked_weak(server: MCPServer) -> None:
    """Never an empty list while memories exist: the model sees what is stored, and that it did not match."""
    async with Client(server) as client:
        for text in ("My sister lives in Oslo", "I play the cello"):
            data(await client.call_tool("add_memory", {"user_id": "sam", "text": text}))
        found = data(await client.call_tool("search_memory", {"user_id": "sam", "query": "quantum chromodynamics"}))
    assert [hit["match"] for hit in found["results"]] == ["weak", "weak"]
    assert "may be unrelated" in found["note"]


async def test_an_empty_result_says_nothing_is_stored(server: MCPServer) -> None:
    async with Client(server) as client:
        found = data(await client.call_tool("search_memory", {"user_id": "nobody", "query": "favourite food"}))
    assert found["results"] == []
    assert "no memories stored yet" in found["note"]


async def test_several_wordings_are_searched_at_once_and_merged(server: MCPServer) -> None:
    """The host's model sends its own paraphrases; each memory comes once, the best first."""
    async with Client(server) as client:
        for text in FACTS.values():
            data(await client.call_tool("add_memory", {"user_id": "sam", "text": text}))
        found = data(
            await client.call_tool(
                "search_memory",
                {"user_id": "sam", "queries": ["job", "occupation", "where do I work"], "limit": 3},
            )
        )
        alone = data(await client.call_tool("search_memory", {"user_id": "sam", "query": "work", "limit": 3}))
    texts = [hit["text"] for hit in found["results"]]
    assert texts[0] == FACTS["work"]
    assert len(texts) == len(set(texts))
    assert alone["results"][0]["text"] == FACTS["work"]


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        pytest.param({}, "Give `query`", id="no-query"),
        pytest.param({"queries": []}, "queries has 0 item(s); send at least 1", id="empty-queries"),
        pytest.param({"queries": ["a"] * 9}, "queries has 9 item(s); send at most 8", id="too-many-queries"),
        pytest.param(
            {"query": "tea", "limit": 0}, "limit must be a whole number from 1 to 100, got 0.", id="zero-limit"
        ),
        pytest.param({"query": "   "}, "query is empty", id="blank-query"),
    ],
)
async def test_bad_search_arguments_say_what_to_send(
    server: MCPServer, arguments: dict[str, object], expected: str
) -> None:
    async with Client(server) as client:
        result = await client.call_tool("search_memory", {"user_id": "sam", **arguments})
    message = error_text(result)
    assert expected in message
    assert "pydantic" not in message
    assert "validation error" not in message


async def test_a_user_id_with_a_space_is_explained(server: MCPServer) -> None:
    async with Client(server) as client:
        result = await client.call_tool("add_memory", {"user_id": "sam smith", "text": "likes tea"})
        listed = data(await client.call_tool("list_memories", {"user_id": "sam"}))
    assert "user_id 'sam smith' is not a valid id" in error_text(result)
    assert "no spaces or slashes" in error_text(result)
    assert listed["total"] == 0
