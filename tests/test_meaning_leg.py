"""The meaning leg through the engine: a fact sharing no word with the question gets room, alike on both backends."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from memory_mcp import open_engine
from memory_mcp.engine import MemoryEngine
from memory_mcp.models import Query
from memory_mcp.search.analyzer import Analyzer

PERSONAL = Path(__file__).resolve().parents[1] / "benchmarks" / "data" / "personal_memory.json"
FACTS = [
    "I'm vegetarian, I haven't eaten meat in ten years",
    "My daughter Lily is allergic to peanuts",
    "I work night shifts as a nurse at the children's hospital",
]
CHATTER = (Path(__file__).parent / "data" / "chatter.txt").read_text(encoding="utf-8").splitlines()
QUESTIONS = [
    "What should I cook for dinner tonight?",
    "Can I bake the kids a cake with nuts in it?",
    "What's her job?",
    "anything about a cinema trip",
    "Is there a quiz night this week?",
]


async def fill(engine: MemoryEngine) -> None:
    scope = engine.scope("sam")
    await engine.add_many([(text, {}) for text in [*FACTS, *CHATTER]], scope)


async def answers(engine: MemoryEngine) -> list[list[tuple[str, str, float]]]:
    found: list[list[tuple[str, str, float]]] = []
    for question in QUESTIONS:
        hits = await engine.search(question, engine.scope("sam"), limit=5)
        found.append([(hit.memory.text, hit.match, round(hit.score, 4)) for hit in hits])
    return found


async def test_facts_among_chatter_are_found_more_often_with_the_meaning_legs_place(db_path: Path) -> None:
    """Each user's facts of the personal set among the 265 lines of chatter, each question that shares no word with its
    fact: the right fact is in the top 3 more often than by the fused score alone (threshold -1: every memory by
    score, no room), and each fact the leg brought is marked "meaning", with the closeness it was brought by."""
    analyzer = Analyzer()
    with_room = by_score = moved = asked = 0
    async with open_engine(db_path) as engine:
        for user, content in json.loads(PERSONAL.read_text(encoding="utf-8"))["users"].items():
            scope = engine.scope(user)
            await engine.add_many([(text, {}) for text in [*content["facts"].values(), *CHATTER]], scope)
            for question, key in content["questions"]:
                fact = content["facts"][key]
                if set(analyzer.terms(question)) & set(analyzer.terms(fact)):
                    continue
                asked += 1
                hits = await engine.search(question, scope, limit=10)
                plain = await engine.search(question, scope, limit=10, threshold=-1.0)
                top = [hit.memory.text for hit in hits[:3]]
                with_room += fact in top
                by_score += fact in [hit.memory.text for hit in plain[:3]]
                if fact in top and hits[top.index(fact)].match == "meaning":
                    moved += 1
                    assert hits[top.index(fact)].closeness is not None  # its measured closeness comes with it
    assert asked >= 80
    # measured: 42 of 86 in the top 3 against 23 by the score alone, 23 of them brought by the leg
    assert with_room >= by_score + asked // 10, (with_room, by_score, asked)
    assert moved >= asked // 10, (moved, asked)


async def test_both_backends_give_the_same_answers(db_path: Path, postgres_url: str) -> None:
    """The in-memory index and PostgreSQL's SQL rank alike, the meaning leg's picks included (same scores to 4
    places: float32 sums in another order)."""
    results = []
    for location in (str(db_path), postgres_url):
        async with open_engine(location) as engine:
            await fill(engine)
            results.append(await answers(engine))
    sqlite, postgres = results
    assert any(match == "meaning" for answer in sqlite for _, match, _ in answer)
    for mine, theirs in zip(sqlite, postgres, strict=True):
        assert [(text, match) for text, match, _ in mine] == [(text, match) for text, match, _ in theirs]
        assert [score for *_, score in mine] == pytest.approx([score for *_, score in theirs], abs=2e-4)


async def test_both_backends_give_the_second_stage_the_same_features(db_path: Path, postgres_url: str) -> None:
    """What the ranker sees of each candidate (keyword, coverage, closeness, alignment) is the same from the in-memory
    index and from PostgreSQL's SQL, so its scores, and the order they give, are too."""
    described = []
    for location in (str(db_path), postgres_url):
        async with open_engine(location) as engine:
            await fill(engine)
            ranker = engine.ranking.ranker
            assert ranker is not None
            scope, seen = engine.scope("sam"), {}
            for question in QUESTIONS:
                vector = await engine.embedder.embed_query(question)
                query = Query(
                    vector, engine.analyzer.terms(question), scope, ranker.pool, room=1, pool=ranker.meaning_pool
                )
                hits = await engine.retriever.search(query)
                texts = {
                    memory_id: memory.text
                    for memory_id, memory in (await engine.store.get_many(scope, [hit.id for hit in hits])).items()
                }
                rows = ranker.features(question, hits, texts)
                seen[question] = {
                    (texts[hit.id], hit.by_meaning): row.tolist() for hit, row in zip(hits, rows, strict=True)
                }
            described.append(seen)
    sqlite, postgres = described
    assert any(row[1] > 0 and row[2] != 0 for rows in sqlite.values() for row in rows.values())
    for question in QUESTIONS:
        assert sqlite[question].keys() == postgres[question].keys()
        for key, row in sqlite[question].items():
            assert row == pytest.approx(postgres[question][key], abs=2e-4), (question, key)
