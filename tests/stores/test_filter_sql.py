"""Metadata filters run in PostgreSQL's SQL select exactly what the Python predicate selects (hypothesis)."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from memory_mcp import open_engine
from memory_mcp.engine import MemoryEngine
from memory_mcp.filters import AllOf, AnyOf, Condition, Filter, Not, parse_filter, predicate
from memory_mcp.models import Scope
from memory_mcp.stores.postgres import search_sql

from ..helpers import untied

# Values chosen to collide: equal numbers of different types, strings that differ only in case or
# by Unicode folding, code point order against locale order, NUL (which PostgreSQL cannot hold).
STRINGS = ["food", "Food", "FOOD", "straße", "STRASSE", "é", "e\u0301", "Z", "a", "", "work", "x\x00y", "🦄"]
NUMBERS: list[Any] = [0, -0.0, 1, 1.0, 1.5, -3, 0.1, 0.30000000000000004]
NUMBERS += [2**60, 2**60 + 1, 1e23, 99999999999999991611392]  # 1e23 is not that integer as a float
SCALARS: list[Any] = [*STRINGS, *NUMBERS, True, False, None]
FIELDS = ["topic", "rating", "tags", "done", "note", "nested", "absent"]
USER = Scope("alice")


def documents(count: int, seed: int = 7) -> list[dict[str, Any]]:
    """Metadata for `count` memories: each field present or not, of every JSON type."""
    rng = random.Random(seed)
    stored = [value for value in SCALARS if not (isinstance(value, str) and "\x00" in value)]
    docs = []
    for _ in range(count):
        doc: dict[str, Any] = {}
        for field in FIELDS[:-1]:
            roll = rng.random()
            if roll < 0.55:
                doc[field] = rng.choice(stored)
            elif roll < 0.75:
                doc[field] = [rng.choice(stored) for _ in range(rng.randint(0, 3))]
            elif roll < 0.8:
                doc[field] = {"a": rng.choice(stored)}
        docs.append(doc)
    return docs


scalars = st.sampled_from(SCALARS)
operands = st.one_of(scalars, st.lists(scalars, max_size=3))


@st.composite
def conditions(draw: st.DrawFn) -> dict[str, Any]:
    field = draw(st.sampled_from(FIELDS))
    op = draw(st.sampled_from(["eq", "ne", "gt", "gte", "lt", "lte", "in", "nin", "contains", "icontains"]))
    if op in ("eq", "ne"):
        operand = draw(operands)
    elif op in ("gt", "gte", "lt", "lte"):
        operand = draw(st.sampled_from([*STRINGS, *NUMBERS]))
    elif op in ("in", "nin"):
        operand = draw(st.lists(scalars, max_size=4))
    elif op == "icontains":
        operand = draw(st.sampled_from(STRINGS))
    else:
        operand = draw(st.sampled_from([value for value in SCALARS if value is not None]))
    return {field: operand} if op == "eq" and draw(st.booleans()) else {field: {op: operand}}


filters = st.recursive(
    conditions(),
    lambda inner: st.one_of(
        st.lists(inner, min_size=1, max_size=3).map(lambda parts: {"AND": parts}),
        st.lists(inner, min_size=1, max_size=3).map(lambda parts: {"OR": parts}),
        inner.map(lambda part: {"NOT": part}),
    ),
    max_leaves=6,
)


def translated_exactly(node: Filter) -> bool:
    """False where the SQL only narrows (icontains, NUL), so it may select more than the predicate."""
    if isinstance(node, AllOf | AnyOf):
        return all(translated_exactly(part) for part in node.parts)
    if isinstance(node, Not):
        return translated_exactly(node.part)
    assert isinstance(node, Condition)
    operands = node.operand if isinstance(node.operand, list) else [node.operand]
    return node.op != "icontains" and not any(isinstance(value, str) and "\x00" in value for value in operands)


@pytest.fixture
async def shared(postgres_url: str) -> AsyncIterator[tuple[MemoryEngine, dict[str, dict[str, Any]]]]:
    async with open_engine(postgres_url) as engine:
        docs = documents(120)
        added = await engine.add_many([(f"memory {i} about item{i}", doc) for i, doc in enumerate(docs)], USER)
        await engine.add_many([(f"bob's memory {i}", doc) for i, doc in enumerate(docs[:20])], Scope("bob"))
        memories = [item.memory for item in added if item.memory is not None]
        assert len(memories) == len(docs)
        yield engine, {memory.id: memory.metadata for memory in memories}


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(spec=filters)
async def test_sql_selects_what_the_predicate_selects(
    shared: tuple[MemoryEngine, dict[str, dict[str, Any]]], spec: dict[str, Any]
) -> None:
    engine, stored = shared
    node = parse_filter(spec)
    test = predicate(node)
    expected = {memory_id for memory_id, metadata in stored.items() if test(metadata)}
    selected = {listed.id for listed in await engine.store.listing(USER, node)}
    assert selected <= set(stored)  # never another user's memories
    if translated_exactly(node):
        assert selected == expected
    else:
        assert selected >= expected
    listed, cursor = [], None
    while True:
        page = await engine.page(USER, filters=spec, limit=100, cursor=cursor)
        assert page.total == len(expected)
        listed += [memory.id for memory in page.memories]
        if (cursor := page.next_cursor) is None:
            break
    assert sorted(listed) == sorted(expected)


FILTERS: list[dict[str, Any]] = [
    {"topic": "food"},
    {"rating": {"gte": 1}},
    {"tags": {"contains": "work"}},
    {"topic": {"icontains": "STRASSE"}},
    {"OR": [{"done": True}, {"NOT": {"note": None}}]},
    {"rating": 2**60 + 1},  # selective: a handful of memories
]


async def test_filtered_search_ranks_as_on_the_default_backend(db_path: Path, postgres_url: str) -> None:
    docs = documents(300, seed=11)
    texts = [(f"note {i} about topic {i % 13} and item {i % 7}", doc) for i, doc in enumerate(docs)]
    async with open_engine(db_path) as local, open_engine(postgres_url) as remote:
        await local.add_many(texts, USER)
        await remote.add_many(texts, USER)
        for spec in FILTERS:
            for query in ("topic 3 item 2", "note 42", "something else entirely"):
                ours = await local.search(query, USER, limit=8, threshold=-1, filters=spec)
                theirs = await remote.search(query, USER, limit=8, threshold=-1, filters=spec)
                assert [h.score for h in theirs] == pytest.approx([h.score for h in ours], abs=1e-5), (spec, query)
                assert untied(theirs) == untied(ours), (spec, query)


async def test_a_selective_filter_through_hnsw_still_finds_every_match(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """HNSW's filtered scan stops early (here after its first batch); the search then repeats itself exactly."""
    docs = documents(1500, seed=3)
    texts = [(f"note {i} about topic {i % 13}", doc) for i, doc in enumerate(docs)]
    async with open_engine(postgres_url) as engine:
        await engine.add_many(texts[:750], USER)
        await engine.add_many(texts[750:], USER)
        spec = {"rating": 2**60 + 1}  # about 2% of the memories
        exact = await engine.search("unrelated words", USER, limit=20, threshold=-1, filters=spec)
    assert len(exact) == 20
    monkeypatch.setattr(search_sql, "SCAN_MAX", 0)
    monkeypatch.setattr(search_sql, "EXACT_MAX", 0)
    # Server settings in the URL: stop HNSW's filtered scan early, and keep the planner on the HNSW index.
    settings = "hnsw.max_scan_tuples=1&enable_seqscan=off&enable_bitmapscan=off&enable_sort=off"
    limited = postgres_url + ("&" if "?" in postgres_url else "?") + settings
    async with open_engine(limited) as engine:
        approximate = await engine.search("unrelated words", USER, limit=20, threshold=-1, filters=spec)
    assert {h.memory.id for h in approximate} == {h.memory.id for h in exact}
    assert [h.score for h in approximate] == pytest.approx([h.score for h in exact], abs=1e-6)


@pytest.mark.parametrize(
    "spec",
    [
        {"topic": [{"a": "x\x00y"}]},
        {"NOT": {"topic": {"ne": [{"k\x00": 1}]}}},
        {"nul\x00field": {"nin": ["a"]}},
        {"topic": {"gt": "\x00"}},
        {"tags": {"contains": "\x00"}},
    ],
)
async def test_values_postgresql_cannot_hold_still_filter_correctly(
    shared: tuple[MemoryEngine, dict[str, dict[str, Any]]], spec: dict[str, Any]
) -> None:
    engine, stored = shared
    test = predicate(parse_filter(spec))
    expected = {memory_id for memory_id, metadata in stored.items() if test(metadata)}
    page = await engine.page(USER, filters=spec, limit=100)
    assert page.total == len(expected)
    hits = await engine.search("memory item7", USER, limit=100, threshold=-1, filters=spec)
    assert {hit.memory.id for hit in hits} <= expected
    assert len(hits) == min(100, len(expected))
