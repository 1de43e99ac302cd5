"""The store contract: what the engine relies on from any MemoryStore, run against SQLite and PostgreSQL alike."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence

import numpy as np
import pytest

from memory_mcp.errors import DuplicateError
from memory_mcp.models import HistoryEntry, Matrix, Memory, MemoryId, Row, Scope
from memory_mcp.stores import PostgresStore, SqliteStore, open_store

T0 = "2026-01-01T00:00:00.000000Z"
T1 = "2026-01-02T00:00:00.000000Z"
USER = Scope("u")
DIM = 4


def memory(memory_id: str, text: str = "likes tea", scope: Scope = USER, at: str = T0) -> Memory:
    return Memory(MemoryId(memory_id), text, scope, {"topic": "drinks"}, at, at)


def row(memory: Memory, digest: str, value: float = 1.0) -> Row:
    vector = np.full(DIM, value, dtype=np.float32) / np.float32(2.0)  # unit length
    return Row(memory, digest, vector, memory.text.split())


@pytest.fixture
async def store(database: str) -> AsyncIterator[SqliteStore | PostgresStore]:
    opened = await open_store(database, dim=DIM, pool=(1, 2))
    try:
        yield opened
    finally:
        await opened.close()


async def test_insert_get_round_trip_and_history(store: SqliteStore | PostgresStore) -> None:
    original = memory("m1", scope=Scope("u", "coach", "r1"))
    assert await store.insert_many([row(original, "h1")]) == {"m1"}
    assert await store.get(Scope("u"), "m1") == original
    assert await store.get(Scope("u", "coach"), "m1") == original
    assert await store.get(Scope("u", "other"), "m1") is None
    assert await store.get(Scope("v"), "m1") is None
    [entry] = await store.history(Scope("u"), "m1")
    assert (entry.event, entry.old_text, entry.new_text) == ("ADD", None, "likes tea")
    assert await store.history(Scope("v"), "m1") == []


async def test_replace_and_delete_write_history_and_survive_reopen(database: str) -> None:
    store = await open_store(database, dim=DIM, pool=(1, 2))
    try:
        old = memory("m1")
        await store.insert_many([row(old, "h1")])
        new = Memory(old.id, "likes green tea", old.scope, {}, old.created_at, T1)
        await store.replace(old, row(new, "h2", -1.0))
        assert await store.get(USER, "m1") == new
        await store.delete(new, T1)
    finally:
        await store.close()
    store = await open_store(database, dim=DIM, pool=(1, 2))
    try:
        assert await store.get(USER, "m1") is None
        events = [(e.event, e.old_text, e.new_text) for e in await store.history(USER, "m1")]
        assert events == [
            ("ADD", None, "likes tea"),
            ("UPDATE", "likes tea", "likes green tea"),
            ("DELETE", "likes green tea", None),
        ]
    finally:
        await store.close()


async def test_a_text_its_scope_holds_is_skipped_and_a_replace_onto_it_is_a_duplicate(
    store: SqliteStore | PostgresStore,
) -> None:
    assert await store.insert_many([row(memory("m1"), "same")]) == {"m1"}
    assert await store.insert_many([row(memory("m2"), "same"), row(memory("m3", "other"), "h3")]) == {"m3"}
    assert (await store.find_by_hashes(USER, ["same"]))["same"].id == "m1"
    # The same text in another scope is a different memory, and find_by_hashes looks in one exact scope.
    assert await store.insert_many([row(memory("m4", scope=Scope("u", "coach")), "same")]) == {"m4"}
    assert (await store.find_by_hashes(Scope("u", "coach"), ["same"]))["same"].id == "m4"
    with pytest.raises(DuplicateError) as caught:
        await store.replace(memory("m3", "other"), row(memory("m3", "likes tea"), "same"))
    assert caught.value.existing_id == "m1"
    assert await store.count(USER) == 3
    assert await store.count_all() == 3


async def test_pages_are_newest_first_and_resume_after_the_cursor(store: SqliteStore | PostgresStore) -> None:
    await store.insert_many(
        [row(memory(f"m{i}", f"fact {i}", at=f"2026-01-0{i + 1}T00:00:00.000000Z"), f"h{i}") for i in range(5)]
    )
    first = await store.page(USER, None, 2)
    assert [m.id for m in first] == ["m4", "m3"]
    rest = await store.page(USER, (first[-1].created_at, first[-1].id), 10)
    assert [m.id for m in rest] == ["m2", "m1", "m0"]
    assert [listed.id for listed in await store.listing(USER)] == ["m4", "m3", "m2", "m1", "m0"]


async def test_reads_and_deletes_stay_inside_their_scope(store: SqliteStore | PostgresStore) -> None:
    await store.insert_many(
        [
            row(memory("a1", "alpha"), "h1"),
            row(memory("a2", "beta", scope=Scope("u", "coach")), "h2"),
            row(memory("b1", "gamma", scope=Scope("v")), "h3"),
        ]
    )
    ids = [MemoryId("a1"), MemoryId("a2"), MemoryId("b1")]
    assert set(await store.get_many(USER, ids)) == {"a1", "a2"}
    assert set(await store.get_many(Scope("u", "coach"), ids)) == {"a2"}
    assert await store.delete_scope(Scope("u", "coach"), T1) == ["a2"]
    assert set(await store.get_many(USER, ids)) == {"a1"}
    assert await store.get(Scope("v"), "b1") is not None
    summaries = {s.user_id: (s.memories, s.agents) for s in await store.summaries()}
    assert summaries == {"u": (1, 0), "v": (1, 0)}
    assert [s.user_id for s in await store.summaries("v")] == ["v"]


async def test_restore_keeps_ids_times_and_history_and_skips_what_exists(store: SqliteStore | PostgresStore) -> None:
    kept = Memory(MemoryId("r1"), "restored fact", USER, {}, T0, T1)
    history = (
        HistoryEntry(kept.id, "ADD", None, "first words", None, {}, T0),
        HistoryEntry(kept.id, "UPDATE", "first words", "restored fact", {}, {}, T1),
    )
    assert await store.restore([row(kept, "hr")], {kept.id: history}) == {"r1"}
    assert await store.restore([row(kept, "hr")], {kept.id: history}) == set()
    assert await store.get(USER, "r1") == kept
    assert [e.event for e in await store.history(USER, "r1")] == ["ADD", "UPDATE"]
    [record] = [record async for batch in store.iter_records(USER, vectors=True, history=True) for record in batch]
    assert record.memory == kept
    assert record.history == history
    assert record.vector is not None
    np.testing.assert_allclose(record.vector, np.full(DIM, 0.5, dtype=np.float32))


async def test_a_failed_rewrite_of_the_vectors_changes_nothing(store: SqliteStore | PostgresStore) -> None:
    await store.insert_many([row(memory(f"m{i}", f"fact {i}"), f"h{i}") for i in range(3)])
    await store.set_embedder_id("old-embedder")
    calls = 0

    async def failing(texts: Sequence[str]) -> Matrix:
        nonlocal calls
        calls += 1
        if calls > 1:
            raise RuntimeError("embedding service went away")
        return np.zeros((len(texts), DIM), dtype=np.float32)

    with pytest.raises(RuntimeError, match="went away"):
        await store.rewrite_vectors("new-embedder", DIM, failing, 1)
    assert await store.embedder_id() == "old-embedder"
    vectors = [record.vector async for batch in store.iter_records(USER, vectors=True) for record in batch]
    assert all(vector is not None and vector[0] == 0.5 for vector in vectors)

    async def halves(texts: Sequence[str]) -> Matrix:
        return np.full((len(texts), DIM), -0.5, dtype=np.float32)

    await store.rewrite_vectors("new-embedder", DIM, halves, 2)
    assert await store.embedder_id() == "new-embedder"
    vectors = [record.vector async for batch in store.iter_records(USER, vectors=True) for record in batch]
    assert all(vector is not None and vector[0] == -0.5 for vector in vectors)


async def test_ids_are_found_by_their_start_inside_the_scope_only(store: SqliteStore | PostgresStore) -> None:
    await store.insert_many(
        [
            row(memory("abc-1", "first"), "h1"),
            row(memory("abc-2", "second"), "h2"),
            row(memory("abd-3", "third"), "h3"),
            row(memory("abc-9", "theirs", scope=Scope("v")), "h4"),
        ]
    )
    assert await store.ids_starting(USER, "abc", 10) == ["abc-1", "abc-2"]
    assert await store.ids_starting(USER, "abc", 1) == ["abc-1"]
    assert await store.ids_starting(USER, "abd-3", 10) == ["abd-3"]
    assert await store.ids_starting(USER, "ABC", 10) == []  # case counts
    assert await store.ids_starting(Scope("v"), "abc", 10) == ["abc-9"]
    assert await store.ids_starting(USER, "zzz", 10) == []
