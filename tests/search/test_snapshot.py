"""A restart reads the index snapshot: the same answers as an index built from the texts, changes since replayed."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import numpy as np
import pytest

from memory_mcp.checkup import check
from memory_mcp.embedders import default_embedder
from memory_mcp.engine import MemoryEngine
from memory_mcp.models import MemoryId, Scope, Validity
from memory_mcp.search import LocalSearch, NumpyIndex, snapshot
from memory_mcp.stores import SqliteStore
from memory_mcp.validation import content_hash

SAM, EVE = Scope("sam"), Scope("eve")
QUERIES = ["tea", "garden tomatoes", "Berlin", "hiking boots", "sister", "work meeting"]
FACTS = [
    "Sam drinks oolong tea every morning",
    "Sam grows tomatoes in the garden",
    "Sam lives in Paris",
    "Sam bought new hiking boots",
    "Sam's sister Anna is a nurse",
    "The work meeting moved to Tuesday",
    "Sam prefers green tea in the afternoon",
]


@asynccontextmanager
async def engine_on(path: Path, *, snapshot_min: int = 1) -> AsyncIterator[MemoryEngine]:
    """An engine whose index keeps a snapshot from `snapshot_min` memories on (the server's default: 10,000)."""
    embedder = default_embedder()
    store = await SqliteStore.open(path)
    retriever = LocalSearch(store, NumpyIndex(embedder.dim), snapshot_min=snapshot_min, snapshot_every=1)
    engine = MemoryEngine(store, retriever, embedder)
    try:
        await engine.start()
        yield engine
    finally:
        await engine.stop()
        await store.close()


def restored(engine: MemoryEngine) -> bool:
    assert isinstance(engine.retriever, LocalSearch)
    return engine.retriever.restored


async def answers(engine: MemoryEngine) -> list[list[tuple[str, float]]]:
    """Every query's hits (ids and scores) for Sam, now and including the past, and for Eve."""
    found = []
    for query in QUERIES:
        for scope, validity in ((SAM, Validity()), (SAM, Validity(include_superseded=True)), (EVE, Validity())):
            hits = await engine.search(query, scope, limit=5, threshold=-1.0, validity=validity)
            found.append([(str(hit.memory.id), round(hit.score, 5)) for hit in hits])
    return found


async def test_a_restart_from_the_snapshot_answers_as_a_build_from_the_texts(tmp_path: Path) -> None:
    db = tmp_path / "m.db"
    async with engine_on(db) as engine:
        await engine.add_many([(fact, None) for fact in FACTS], SAM)
        await engine.add("Eve drinks black tea", EVE)
        await engine.add("Sam's work: the shop's web site", engine.scope("sam", project="shop"))
        [paris] = [memory for memory in (await engine.page(SAM, limit=20)).memories if "Paris" in memory.text]
        await engine.supersede(paris.id, SAM, "Sam lives in Berlin")
        assert not restored(engine)
    async with engine_on(db) as again:  # the snapshot saved on stop
        assert restored(again)
        from_snapshot = await answers(again)
    with sqlite3.connect(db) as connection:
        connection.execute("DELETE FROM index_snapshot")
    async with engine_on(db, snapshot_min=10**9) as built:
        assert not restored(built)
        assert await answers(built) == from_snapshot


async def test_changes_made_after_the_snapshot_are_replayed(tmp_path: Path) -> None:
    db = tmp_path / "m.db"
    async with engine_on(db) as engine:
        outcomes = await engine.add_many([(fact, None) for fact in FACTS], SAM)
        ids = [outcome.memory.id for outcome in outcomes if outcome.memory is not None]
    # Another process changes the database without saving a snapshot (it keeps none for so few memories).
    async with engine_on(db, snapshot_min=10**9) as other:
        assert restored(other)
        await other.add("Sam adopted a dog named Rex", SAM)
        await other.update(ids[0], SAM, text="Sam drinks jasmine tea every morning")
        await other.delete(ids[3], SAM)
        await other.supersede(ids[2], SAM, "Sam lives in Lisbon")
        expected = await answers(other)
    async with engine_on(db, snapshot_min=10**9) as engine:
        assert restored(engine)
        assert await answers(engine) == expected
        texts = {hit.memory.text for hit in await engine.search("dog jasmine Lisbon boots", SAM, threshold=0.01)}
        assert {"Sam adopted a dog named Rex", "Sam drinks jasmine tea every morning", "Sam lives in Lisbon"} <= texts
        assert "Sam bought new hiking boots" not in texts


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param("UPDATE index_snapshot SET data = x'00010203'", id="torn"),
        pytest.param(
            "UPDATE settings SET value = json_set(value, '$.analyzer', 'another') WHERE key = 'index_snapshot'",
            id="other-analyzer",
        ),
        pytest.param("DELETE FROM index_snapshot WHERE part = 0", id="a-part-missing"),
        # A memory gone without a history row (no server does this): the snapshot names what the store lacks.
        pytest.param("DELETE FROM memories WHERE text LIKE '%boots%'", id="store-changed-behind-its-back"),
    ],
)
async def test_a_snapshot_that_does_not_fit_is_not_used(tmp_path: Path, damage: str) -> None:
    db = tmp_path / "m.db"
    async with engine_on(db) as engine:
        await engine.add_many([(fact, None) for fact in FACTS], SAM)
    with sqlite3.connect(db) as connection:
        connection.execute(damage)
    async with engine_on(db, snapshot_min=10**9) as engine:
        assert not restored(engine)
        expected = await answers(engine)
    with sqlite3.connect(db) as connection:
        connection.execute("DELETE FROM index_snapshot")
        connection.execute("DELETE FROM settings WHERE key = 'index_snapshot'")
    async with engine_on(db, snapshot_min=10**9) as engine:
        assert await answers(engine) == expected


async def test_a_small_index_keeps_no_snapshot(tmp_path: Path) -> None:
    db = tmp_path / "m.db"
    async with engine_on(db, snapshot_min=100) as engine:
        await engine.add_many([(fact, None) for fact in FACTS], SAM)
    with sqlite3.connect(db) as connection:
        assert connection.execute("SELECT count(*) FROM index_snapshot").fetchone() == (0,)


async def test_check_compares_the_snapshot_with_the_memories_and_drops_one_that_differs(tmp_path: Path) -> None:
    db = tmp_path / "m.db"
    async with engine_on(db) as engine:
        await engine.add_many([(fact, None) for fact in FACTS], SAM)
    healthy = await check(str(db), default_embedder(), deep=True)
    assert healthy.ok, healthy.problems
    assert str(healthy.figures["index_snapshot"]).startswith("as of change")
    # A text changed behind the server's back (no history row): the snapshot still has the old words.
    text = "Sam drinks rooibos every morning"
    with sqlite3.connect(db) as connection:
        connection.execute(
            "UPDATE memories SET text = ?, content_hash = ? WHERE text LIKE '%oolong%'", (text, content_hash(text))
        )
    quick = await check(str(db), default_embedder())  # reads the rows only: the snapshot is compared by a deep one
    assert quick.ok, quick.problems
    assert quick.figures["index_snapshot"].endswith("(compared by --deep)")
    report = await check(str(db), default_embedder(), deep=True)
    assert any("index snapshot differed" in problem for problem in report.problems)
    with sqlite3.connect(db) as connection:
        assert connection.execute("SELECT count(*) FROM index_snapshot").fetchone() == (0,)
    assert (await check(str(db), default_embedder(), deep=True)).ok


async def test_an_index_restored_from_a_snapshot_changes_as_one_built_from_the_texts(tmp_path: Path) -> None:
    db = tmp_path / "m.db"
    async with engine_on(db) as engine:
        outcomes = await engine.add_many([(fact, None) for fact in FACTS], SAM)
        ids = [outcome.memory.id for outcome in outcomes if outcome.memory is not None]
    async with engine_on(db, snapshot_min=10**9) as engine:
        assert restored(engine)
        # Every kind of change touches the restored rows and postings: the last row moves into a hole, terms gain
        # and lose rows, a row changes its words.
        await engine.delete(ids[0], SAM)
        await engine.update(ids[3], SAM, text="Sam bought new tea cups for the garden")
        await engine.add("Sam drinks tea with Anna in the garden", SAM)
        await engine.supersede(ids[5], SAM, "The work meeting moved to Friday")
        assert isinstance(engine.retriever, LocalSearch)
        assert isinstance(engine.retriever.index, NumpyIndex)
        changed = snapshot.describe(engine.retriever.index)
        expected_answers = await answers(engine)
    index = NumpyIndex(default_embedder().dim)
    store = await SqliteStore.open(db)
    try:
        built = LocalSearch(store, index, read_snapshot=False)
        await built.start(asyncio.Lock(), background=False)
    finally:
        await store.close()
    assert changed == snapshot.describe(index)
    async with engine_on(db, snapshot_min=10**9) as engine:
        assert await answers(engine) == expected_answers


@pytest.mark.parametrize("batch", [1, 3, 64])
def test_placing_vectors_in_batches_fills_every_partition_as_it_was(batch: int) -> None:
    """`place` takes any batch: one partition's rows, several partitions' mixed, ids the snapshot does not know."""
    rng = np.random.default_rng(7)
    dim, scopes = 8, [Scope("sam"), Scope("sam", agent_id="a"), Scope("eve", project="p")]
    built = NumpyIndex(dim)
    items = [(MemoryId(f"m{n}"), scopes[n % 3 if n < 30 else 0]) for n in range(40)]
    vectors = rng.standard_normal((40, dim)).astype(np.float32)
    built.add(items, vectors, [["word"]] * 40)
    restored_index = NumpyIndex(dim)
    snapshot.restore(restored_index, snapshot.capture(built))
    ids = [memory_id for memory_id, _ in items] + [MemoryId("unknown")]
    given = np.vstack([vectors, np.ones((1, dim), dtype=np.float32)])
    order = rng.permutation(len(ids)) if batch != 64 else np.arange(len(ids))
    placed = sum(
        restored_index.place([ids[i] for i in order[start : start + batch]], given[order[start : start + batch]])
        for start in range(0, len(ids), batch)
    )
    assert placed == 40
    assert restored_index.placed() == []
    for scope in scopes:
        query = rng.standard_normal(dim).astype(np.float32)
        expected = built.search(query, [], scope, 40, threshold=-1.0)
        got = restored_index.search(query, [], scope, 40, threshold=-1.0)
        assert [(hit.id, round(hit.score, 5)) for hit in got] == [(hit.id, round(hit.score, 5)) for hit in expected]


def test_indexes_are_compared_whole_and_each_memory_held_differently_is_named() -> None:
    dim = 4
    vectors = np.eye(dim, dtype=np.float32)[[0, 1, 2, 3]]
    items = [(MemoryId(f"m{n}"), Scope("sam")) for n in range(3)] + [(MemoryId("e0"), Scope("eve"))]
    terms = [["tea", "tea", "green"], ["garden"], ["tea", "paris"], ["hike"]]

    def built(
        changed_terms: list[list[str]] | None = None, closed: list[bool] | None = None, order: list[int] | None = None
    ) -> NumpyIndex:
        index = NumpyIndex(dim)
        chosen = order or list(range(4))
        words = changed_terms or terms
        states = closed or [False] * 4
        index.add([items[n] for n in chosen], vectors[chosen], [words[n] for n in chosen], [states[n] for n in chosen])
        return index

    assert snapshot.differing(built(), built(order=[2, 0, 3, 1])) == []  # rows in another order: the same
    restored = NumpyIndex(dim)
    snapshot.restore(restored, snapshot.capture(built()))
    assert snapshot.differing(built(), restored) == []
    counted = [["tea", "green"], *terms[1:]]  # one "tea" fewer
    assert snapshot.differing(built(), built(changed_terms=counted)) == ["m0"]
    assert snapshot.differing(built(), built(closed=[False, True, False, False])) == ["m1"]
    moved = NumpyIndex(dim)
    moved.add([*items[:2], (MemoryId("m2"), Scope("sam", project="p")), items[3]], vectors, terms)
    assert snapshot.differing(built(), moved) == ["m2"]
    fewer = NumpyIndex(dim)
    fewer.add(items[:3], vectors[:3], terms[:3])
    assert snapshot.differing(built(), fewer) == ["e0"]
