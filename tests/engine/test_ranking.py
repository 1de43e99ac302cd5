"""The engine's ranking (engine/ranking.py): search, its limits, filters and legs, and what an add finds alike."""

from __future__ import annotations

import asyncio
import itertools
import math
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from memory_mcp import open_engine
from memory_mcp.engine import MemoryEngine
from memory_mcp.errors import FilterError, InvalidInputError, StoreError
from memory_mcp.models import Scope
from memory_mcp.scoring import RELATED_SCORE
from memory_mcp.search import NoSearch

from ..helpers import keeps_an_index, local_index, strong

ALICE = Scope("alice")
BOB = Scope("bob")


async def test_search_finds_the_closest_memory_first(engine: MemoryEngine) -> None:
    for text in [
        "I love hiking in the Swiss Alps",
        "My sister Anna lives in Berlin",
        "Allergic to peanuts and shellfish",
        "Works as a nurse at the city hospital",
    ]:
        await engine.add(text, ALICE)
    hits = await engine.search("hiking", ALICE)
    assert hits[0].memory.text == "I love hiking in the Swiss Alps"
    assert all(a.score >= b.score for a, b in itertools.pairwise(hits))
    assert all(-1.0 <= hit.score <= 1.0 for hit in hits)
    # Without a threshold the related memory is a strong match; the nearest others fill up to `limit`, marked
    # weak: every memory here, as the default limit (10) is more than there are.
    assert [hit.match for hit in hits] == ["strong", "weak", "weak", "weak"]
    assert [hit.match for hit in await engine.search("hiking", ALICE, limit=2)] == ["strong", "weak"]
    assert len(await engine.search("quantum chromodynamics", ALICE, limit=20)) == 4  # as many as there are


async def test_search_limit_and_threshold(engine: MemoryEngine) -> None:
    await engine.add("tea with milk", ALICE)
    await engine.add("tea with lemon and honey and ginger", ALICE)
    await engine.add("tea", ALICE)
    assert len(await engine.search("tea", ALICE, limit=2)) == 2
    ranked = await engine.search("tea", ALICE)
    assert ranked[0].memory.text == "tea"  # the exact match is best: short, and nothing but the query
    assert ranked[-1].memory.text == "tea with lemon and honey and ginger"
    between = (ranked[0].score + ranked[1].score) / 2
    strict = await engine.search("tea", ALICE, threshold=between)
    assert [hit.memory.text for hit in strict] == ["tea"]
    assert await engine.search("tea", ALICE, threshold=0.99) == []  # a threshold is never relaxed
    # Nothing related: the nearest memories come back, all marked weak, instead of nothing.
    unrelated = await engine.search("quantum physics lecture", ALICE, limit=2)
    assert [hit.match for hit in unrelated] == ["weak", "weak"]
    everything = await engine.search("quantum physics lecture", ALICE, threshold=-1.0)
    assert len(everything) == 3


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        pytest.param({"limit": 0}, "limit", id="zero-limit"),
        pytest.param({"limit": 10_000}, "limit", id="huge-limit"),
        pytest.param({"limit": True}, "limit", id="bool-limit"),
        pytest.param({"threshold": 2.0}, "threshold", id="threshold-above-one"),
        pytest.param({"filters": {"x": {"like": 1}}}, "Unknown filter operator", id="bad-filter"),
    ],
)
async def test_bad_search_arguments_are_errors(engine: MemoryEngine, kwargs: dict[str, object], message: str) -> None:
    await engine.add("tea", ALICE)
    with pytest.raises(InvalidInputError, match=message):
        await engine.search("tea", ALICE, **kwargs)  # type: ignore[arg-type]


async def test_a_query_without_words_is_an_error_not_random_results(engine: MemoryEngine) -> None:
    await engine.add("tea", ALICE)
    with pytest.raises(InvalidInputError, match="no words"):
        await engine.search("?!", ALICE)


async def test_filters_apply_before_the_limit(engine: MemoryEngine) -> None:
    """A filter that matches only weak candidates still fills the results (the search widens)."""
    for i in range(40):
        await engine.add(f"project note {i} about the garden shed", ALICE, {"kind": "note"})
    await engine.add("project deadline for the garden", ALICE, {"kind": "deadline", "priority": 2})
    hits = await engine.search("project garden shed note", ALICE, limit=3, filters={"kind": "deadline"})
    assert [hit.memory.text for hit in hits] == ["project deadline for the garden"]
    hits = await engine.search("project", ALICE, limit=5, filters={"NOT": {"kind": "deadline"}})
    assert len(hits) == 5
    assert all(hit.memory.metadata["kind"] == "note" for hit in hits)
    with pytest.raises(FilterError):
        await engine.search("project", ALICE, filters={"kind": {"regex": ".*"}})


async def test_search_forgives_typos_and_inflections(engine: MemoryEngine) -> None:
    for text in ("I love hiking in the Swiss Alps", "My sister Anna lives in Berlin", "Allergic to peanuts"):
        await engine.add(text, ALICE)
    for query in ("hikes", "hikking", "swiss alp"):
        hits = await engine.search(query, ALICE)
        assert [hit.memory.text for hit in hits][:1] == ["I love hiking in the Swiss Alps"], query


async def test_vector_weight_balances_the_two_legs(database: str) -> None:
    async with open_engine(database, vector_weight=0.0) as keyword_only:
        await keyword_only.add("I love hiking in the Swiss Alps", ALICE)
        assert await keyword_only.search("hikking", ALICE, threshold=0.01) == []  # a typo is no keyword
    async with open_engine(database, vector_weight=1.0) as vector_only:
        [hit] = await vector_only.search("hikking", ALICE)
        assert hit.score == pytest.approx(
            float(
                await vector_only.embedder.embed_query("hikking")
                @ await vector_only.embedder.embed_query(hit.memory.text)
            ),
            abs=1e-5,
        )


async def test_a_background_load_serves_reads_at_once_and_searches_when_ready(db_path: Path) -> None:
    async with open_engine(db_path) as engine:
        for start in range(0, 12_000, 1_000):  # more rows than one background batch
            await engine.add_many(
                [(f"stored fact number {i}", None) for i in range(start, start + 1_000)], engine.scope("u")
            )
        kept = (await engine.add("Allergic to peanuts", engine.scope("u"))).memory
        doomed = (await engine.add("Lives in Lisbon", engine.scope("u"))).memory
    async with open_engine(db_path, background=True) as engine:
        assert not engine.ready  # open returned before the index was filled
        assert (await engine.get(kept.id, engine.scope("u"))).text == "Allergic to peanuts"
        searched, added, _ = await asyncio.gather(
            engine.search("peanuts", engine.scope("u")),
            engine.add("Plays the cello", engine.scope("u")),
            engine.delete(doomed.id, engine.scope("u")),
        )
        assert engine.ready
        assert [hit.memory.id for hit in strong(searched)] == [kept.id]
        assert [hit.memory.id for hit in strong(await engine.search("cello", engine.scope("u")))] == [added.memory.id]
        assert all("Lisbon" not in hit.memory.text for hit in await engine.search("Lisbon", engine.scope("u")))
        assert len(local_index(engine)) == await engine.count(engine.scope("u")) == 12_002


async def test_a_failed_background_load_is_reported_by_search(db_path: Path) -> None:
    async with open_engine(db_path) as engine:
        await engine.add("Allergic to peanuts", engine.scope("u"))
    with sqlite3.connect(db_path) as connection:
        connection.execute("UPDATE memories SET embedding = zeroblob(8)")
    async with open_engine(db_path, background=True) as engine:
        with pytest.raises(StoreError, match="wrong length"):
            await engine.search("peanuts", engine.scope("u"))
        with pytest.raises(StoreError, match="wrong length"):
            await engine.search("peanuts", engine.scope("u"))


async def test_an_add_that_restates_a_stored_fact_reports_it_as_a_near_duplicate(engine: MemoryEngine) -> None:
    band = (await engine.add("My favourite band is Radiohead", ALICE)).memory
    await engine.add("I drive a 2015 Honda Civic", ALICE)
    restated = await engine.add("Radiohead is my favourite band", ALICE)
    assert restated.created
    assert [(found.memory.id, found.kind) for found in restated.similar] == [(band.id, "duplicate")]
    assert restated.similar[0].score >= 0.5
    different = await engine.add("I go swimming three mornings a week", ALICE)
    assert different.similar == ()
    # Another user's identical fact is never reported.
    theirs = await engine.add("My favourite band is Radiohead", engine.scope("bob"))
    assert (theirs.created, theirs.similar) == (True, ())


async def test_an_add_reports_what_a_search_before_it_finds_although_it_compares_while_committing(
    engine: MemoryEngine,
) -> None:
    """add compares the new text with the others while the store commits it: the result is the comparison made
    before the write (never the new memory itself), for each of many adds in a row and at once."""
    facts = [f"Alice keeps bees number {n} in the garden behind the house" for n in range(12)]
    for fact in facts:
        expected = [found.memory.id for found in await engine.search(fact, ALICE, limit=3, threshold=RELATED_SCORE)]
        added = await engine.add(fact, ALICE)
        assert [found.memory.id for found in added.similar] == expected
        assert added.memory.id not in expected
    together = await asyncio.gather(*(engine.add(f"Alice bakes bread on day {n} of the week", ALICE) for n in range(6)))
    assert all(result.memory.id not in {found.memory.id for found in result.similar} for result in together)
    assert await engine.count(ALICE) == 18


async def test_an_add_compares_with_the_memories_before_it_even_when_its_commit_lands_first(
    engine: MemoryEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The comparison may run after the store has committed the new memory (and before the index learns of it):
    it must still not see that memory, nor count it in the term statistics."""
    if not keeps_an_index(engine):  # PostgreSQL compares before it writes
        return
    facts = [f"Alice keeps bees number {n} in the garden behind the house" for n in range(6)]
    for fact in facts[:3]:
        await engine.add(fact, ALICE)
    committed = asyncio.Event()
    insert, similar = engine.store.insert_many, engine.ranking.similar

    async def insert_then_tell(*args: Any, **kwargs: Any) -> Any:
        stored = await insert(*args, **kwargs)
        committed.set()
        return stored

    async def similar_after_the_commit(*args: Any, **kwargs: Any) -> Any:
        await committed.wait()
        return await similar(*args, **kwargs)

    monkeypatch.setattr(engine.store, "insert_many", insert_then_tell)
    monkeypatch.setattr(engine.ranking, "similar", similar_after_the_commit)
    for fact in facts[3:]:
        committed.clear()
        expected = [found.memory.id for found in await similar(fact, await engine.embedder.embed_query(fact), ALICE)]
        added = await engine.add(fact, ALICE)
        assert len(expected) == 3
        assert [found.memory.id for found in added.similar] == expected


async def test_a_memory_with_no_searchable_words_resembles_nothing_and_scores_stay_finite(
    engine: MemoryEngine,
) -> None:
    # "the" and "?" embed to the zero vector; cosine against it is undefined (NaN in pgvector) and
    # must never surface as a match, nor as a score a client cannot parse.
    await engine.add("the", ALICE)
    await engine.add("?", ALICE)
    fact = (await engine.add("Allergic to peanuts", ALICE)).memory
    added = await engine.add("æ", ALICE)
    assert added.similar == ()
    hits = await engine.search("peanuts allergy", ALICE, limit=10)
    assert fact.id in [hit.memory.id for hit in hits]
    assert all(math.isfinite(hit.score) for hit in hits)
    # Only as the weak fill that keeps a short answer from being empty, never as a match.
    assert all(hit.match == "weak" for hit in hits if hit.memory.text in ("the", "?"))


async def test_facts_that_share_only_a_name_are_not_reported_alike(engine: MemoryEngine) -> None:
    """Three unrelated facts about Alice are not "related" because each names her; a restatement of one still is
    a near-duplicate, and a fact sharing a real word with another is still related."""
    for text in ("Alice works as a dentist in Leeds", "Alice has two cats named Tom and Jerry"):
        assert (await engine.add(text, ALICE)).similar == ()
    assert (await engine.add("Alice plays the trumpet on weekends", ALICE)).similar == ()
    restated = await engine.add("Alice's job is dentistry in Leeds", ALICE)
    assert [(found.memory.text, found.kind) for found in restated.similar] == [
        ("Alice works as a dentist in Leeds", "duplicate")
    ]
    cats = await engine.add("Alice feeds her cats twice a day", ALICE)
    assert [found.memory.text for found in cats.similar] == ["Alice has two cats named Tom and Jerry"]


async def test_an_engine_opened_without_search_reads_and_writes_and_refuses_to_search(db_path: Path) -> None:
    """`index=False` (the command line's reads and writes) gives the engine a retriever that searches nothing: adds
    store and compare with nothing, reads work, a search says how to get one."""
    async with open_engine(db_path) as full:
        await full.add("Sam keeps bees", ALICE)
    async with open_engine(db_path, index=False) as engine:
        assert isinstance(engine.retriever, NoSearch)
        assert (engine.ready, engine.indexed) == (True, None)
        added = await engine.add("Sam keeps bees on the roof", ALICE)
        assert added.created
        assert added.similar == ()
        assert (await engine.page(ALICE)).total == 2
        with pytest.raises(InvalidInputError, match="opened without search; open it with index=True"):
            await engine.search("bees", ALICE)


async def test_a_result_the_meaning_leg_places_higher_keeps_strong_when_it_shares_a_word(db_path: Path) -> None:
    """ "meaning" tells the model a result shares few or no words with the query: one that holds the query's words
    is "strong", wherever the meaning leg's room places it ("Memory number 42 about topic 42" is moved up to second
    place here, and was marked "meaning" before)."""
    async with open_engine(db_path) as engine:
        scope = engine.scope("alice")
        texts = [f"Memory number {n} about topic {n % 97} and thing {n % 13}" for n in range(300)]
        await engine.add_many([(text, None) for text in texts], scope)
        hits = await engine.search("topic 42", scope, limit=5)
    assert "Memory number 42 about topic 42 and thing 3" in [hit.memory.text for hit in hits]
    assert [hit.match for hit in hits] == ["strong"] * 5  # every memory holds "topic"
