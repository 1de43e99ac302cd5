"""PostgreSQL search through postings: kept right by the triggers, and finding what the exact scan finds."""

from __future__ import annotations

import asyncio
import random
from typing import Any

import asyncpg
import pytest

from memory_mcp import open_engine
from memory_mcp.engine import MemoryEngine
from memory_mcp.models import Scope
from memory_mcp.stores.postgres import search_sql
from memory_mcp.stores.postgres.connection import SCHEMA

POSTINGS_DRIFT = f"""
    SELECT count(*) FROM (
        (SELECT m.id, t.term, m.user_id, m.agent_id, m.run_id, m.project, m.valid_to IS NULL
         FROM {SCHEMA}.memories AS m CROSS JOIN LATERAL (SELECT DISTINCT unnest(m.terms) AS term) AS t
         EXCEPT SELECT memory_id, term, user_id, agent_id, run_id, project, current FROM {SCHEMA}.postings)
        UNION ALL
        (SELECT memory_id, term, user_id, agent_id, run_id, project, current FROM {SCHEMA}.postings
         EXCEPT SELECT m.id, t.term, m.user_id, m.agent_id, m.run_id, m.project, m.valid_to IS NULL
         FROM {SCHEMA}.memories AS m CROSS JOIN LATERAL (SELECT DISTINCT unnest(m.terms) AS term) AS t)
    ) AS drift
"""
"""Postings that the memories do not imply, and the reverse: 0 when the triggers kept them right."""
COUNTS_DRIFT = f"""
    SELECT count(*) FROM (
        (SELECT m.user_id, t.term, m.agent_id, m.run_id, m.project, count(*) AS memories
         FROM {SCHEMA}.memories AS m CROSS JOIN LATERAL (SELECT DISTINCT unnest(m.terms) AS term) AS t
         GROUP BY 1, 2, 3, 4, 5
         EXCEPT SELECT user_id, term, agent_id, run_id, project, memories FROM {SCHEMA}.term_stats)
        UNION ALL
        (SELECT user_id, term, agent_id, run_id, project, memories FROM {SCHEMA}.term_stats
         EXCEPT SELECT m.user_id, t.term, m.agent_id, m.run_id, m.project, count(*)
         FROM {SCHEMA}.memories AS m CROSS JOIN LATERAL (SELECT DISTINCT unnest(m.terms) AS term) AS t
         GROUP BY 1, 2, 3, 4, 5)
    ) AS drift
"""
"""Per-term document counts that differ from the memories' (a count of 0 must be gone)."""


async def drift(url: str) -> tuple[int, int]:
    """(postings, counts) out of step with the memories."""
    connection = await asyncpg.connect(url)
    try:
        return await connection.fetchval(POSTINGS_DRIFT), await connection.fetchval(COUNTS_DRIFT)
    finally:
        await connection.close()


WORDS = [f"w{i}" for i in range(400)]


def texts(count: int, seed: int) -> list[str]:
    """Sentences of 4 to 14 words drawn Zipf-like, so that some words are in most memories and most in few."""
    rng = random.Random(seed)
    weights = [1.0 / (rank + 1) for rank in range(len(WORDS))]
    return [f"{' '.join(rng.choices(WORDS, weights, k=rng.randint(4, 14)))} n{i}" for i in range(count)]


async def test_the_postings_follow_adds_updates_supersessions_and_deletes(postgres_url: str) -> None:
    async with open_engine(postgres_url) as engine:
        alice, home, alpha = (
            engine.scope("alice"),
            engine.scope("alice", agent_id="home"),
            engine.scope("alice", project="alpha"),
        )
        stored = await engine.add_many([(text, None) for text in texts(60, seed=1)], alice)
        await engine.add_many([(text, None) for text in texts(20, seed=2)], home)
        await engine.add_many([(text, None) for text in texts(20, seed=3)], alpha)
        await engine.add("w1 w1 w1 keeps bees", engine.scope("bob"))
        assert await drift(postgres_url) == (0, 0)
        ids = [item.memory.id for item in stored if item.memory is not None]
        await engine.update(ids[0], alice, text="a new text with other words entirely")  # its terms change
        await engine.update(ids[1], alice, metadata={"kept": True})  # its terms stay
        await engine.supersede(ids[2], alice, "w3 moved on to w399")  # the old one is no longer current
        await engine.delete(ids[3], alice)
        assert await drift(postgres_url) == (0, 0)
        await engine.delete_all(home)
        await engine.delete_all(engine.scope("bob"))
        assert await drift(postgres_url) == (0, 0)
        connection = await asyncpg.connect(postgres_url)
        try:
            assert await connection.fetchval(f"SELECT count(*) FROM {SCHEMA}.term_stats WHERE user_id = 'bob'") == 0
            assert not await connection.fetchval(
                f"SELECT current FROM {SCHEMA}.postings WHERE memory_id = $1 LIMIT 1", ids[2]
            )
        finally:
            await connection.close()


async def test_concurrent_writers_of_one_user_keep_the_counts_right(postgres_url: str) -> None:
    """Writers of one user touch the same per-term counts: none fails (their locks come in one order, and a
    deadlock would be retried) and the counts add up."""
    async with open_engine(postgres_url) as engine:
        alice = engine.scope("alice")
        batches = [[(text, None) for text in texts(40, seed=10 + i)] for i in range(6)]
        for batch in batches:  # unique texts across batches
            batch[:] = [(f"{text} b{id(batch)}", meta) for text, meta in batch]
        await asyncio.gather(*(engine.add_many(batch, alice) for batch in batches))
        assert await engine.count(alice) == 240
    assert await drift(postgres_url) == (0, 0)


def _ids_scores(hits: list[Any]) -> dict[str, float]:
    return {hit.memory.id: hit.score for hit in hits}


async def _both_ways(
    engine: MemoryEngine, monkeypatch: pytest.MonkeyPatch, asks: list[tuple[str, Scope, dict[str, Any]]], hnsw: bool
) -> tuple[float, list[str]]:
    """Recall@10 of the candidates' search against the scan's, and the queries where a found memory's score differs."""
    monkeypatch.setattr(search_sql, "SCAN_MAX", 10**9)
    exact = [await engine.search(q, scope, limit=10, threshold=-1, **options) for q, scope, options in asks]
    monkeypatch.setattr(search_sql, "SCAN_MAX", 0)
    monkeypatch.setattr(search_sql, "EXACT_MAX", 0 if hnsw else 10**9)
    monkeypatch.setattr(search_sql, "HNSW_SHARE", 1.0)  # only EXACT_MAX decides
    found = [await engine.search(q, scope, limit=10, threshold=-1, **options) for q, scope, options in asks]
    overlap, wrong = 0, []
    for (q, _, _), ours, theirs in zip(asks, found, exact, strict=True):
        expected = _ids_scores(theirs)
        overlap += len(set(_ids_scores(ours)) & set(expected))
        scores = _ids_scores(ours)
        if any(abs(score - expected[key]) > 1e-5 for key, score in scores.items() if key in expected):
            wrong.append(q)
    return overlap / sum(len(hits) for hits in exact), wrong


@pytest.mark.parametrize("hnsw", [False, True], ids=["vectors-scanned", "vectors-through-hnsw"])
async def test_search_through_candidates_finds_what_the_scan_finds(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch, hnsw: bool
) -> None:
    """Broad queries (common words), rare ones, a project's view, an agent's, a filter and the superseded:
    through candidates, the same memories with the same scores as the exact scan (recall@10 >= 0.98)."""
    corpus = texts(1500, seed=7)
    async with open_engine(postgres_url) as engine:
        alice = engine.scope("alice")
        await engine.add_many([(text, {"bucket": i % 10}) for i, text in enumerate(corpus[:1000])], alice)
        await engine.add_many([(text, None) for text in corpus[1000:1250]], engine.scope("alice", project="alpha"))
        await engine.add_many([(text, None) for text in corpus[1250:]], engine.scope("alice", agent_id="home"))
        await engine.add_many([(text, None) for text in texts(300, seed=8)], engine.scope("bob"))
        listed = await engine.search("w0", alice, limit=5, threshold=-1)
        for hit in listed[:3]:  # superseded memories leave current search, and stay for `include_superseded`
            await engine.supersede(hit.memory.id, alice, f"{hit.memory.text} then changed")
        rng = random.Random(9)
        broad = [" ".join(rng.choice(corpus).split()[:4]) for _ in range(12)]
        rare = [" ".join(rng.sample(WORDS[200:], 2)) for _ in range(8)]
        everything = engine.validity(include_superseded=True)
        asks: list[tuple[str, Scope, dict[str, Any]]] = [
            *((q, alice, {}) for q in broad + rare),
            *((q, engine.scope("alice", project="alpha"), {}) for q in broad[:4]),
            *((q, engine.scope("alice", agent_id="home"), {}) for q in broad[4:8]),
            *((q, alice, {"filters": {"bucket": {"lt": 3}}}) for q in broad[:4]),
            *((q, alice, {"validity": everything}) for q in ["w0", *broad[:3]]),
        ]
        recall, wrong = await _both_ways(engine, monkeypatch, asks, hnsw)
    assert wrong == []
    assert recall >= 0.98


def test_sets_read_together_are_the_smallest_expected_few_most_selective_first() -> None:
    """At 1,000,000 memories (a budget of 2,000 memories expected): pairs expected in 40, 60, 600 and 600 fit, the
    next (800) would pass the budget; a set holding a set already read is never read; a word no memory holds is no
    help; and where no pair is selective enough, a triple is."""
    frequency = {"rare": 2_000, "odd": 30_000, "common": 400_000, "usual": 300_000, "plain": 20_000, "gone": 0}
    sets = [
        set(joined.split(search_sql.SEPARATOR)) for joined in search_sql._together(list(frequency), frequency, 10**6)
    ]
    assert sets == [{"rare", "plain"}, {"rare", "odd"}, {"odd", "plain"}, {"rare", "usual"}]
    common = {"a": 300_000, "b": 200_000, "c": 20_000}  # pairs expected in 60,000, 6,000 and 4,000; all three 1,200
    assert search_sql._together(list(common), common, 10**6) == [search_sql.SEPARATOR.join(["c", "b", "a"])]


def test_the_rarest_terms_are_read_in_full_within_the_budget() -> None:
    quotas = search_sql._quotas([900, 30, 400_000, 3_000], per_term=200, size=1_000_000)
    assert quotas == [900, 200, 200, 3_000]  # 30 + 900 + 3,000 within 5,000; the common word's best 200
    assert search_sql._quotas([900, 30], per_term=200, size=1_000) == [200, 200]  # a fifth of 1,000: 200
