"""SqliteStore: round trips, history rows, migrations and the vector BLOB format."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from memory_mcp.errors import DuplicateError, StoreError
from memory_mcp.migrations import SCHEMA_VERSION
from memory_mcp.models import Memory, MemoryId, Scope
from memory_mcp.store import SqliteStore, decode_vector, encode_vector

T0 = "2026-01-01T00:00:00.000000Z"
T1 = "2026-01-02T00:00:00.000000Z"


USER = Scope("u")


def memory(memory_id: str, text: str = "likes tea", scope: Scope = USER, at: str = T0) -> Memory:
    return Memory(MemoryId(memory_id), text, scope, {"topic": "drinks"}, at, at)


@given(arrays(np.float32, st.integers(1, 64), elements=st.floats(-1, 1, width=32)))
def test_vector_blob_round_trip(vector: np.ndarray) -> None:
    blob = encode_vector(vector)
    assert len(blob) == 4 * len(vector)
    np.testing.assert_array_equal(decode_vector(blob), vector)


async def test_insert_get_round_trip_and_history(db_path: Path) -> None:
    async with await SqliteStore.open(db_path) as store:
        original = memory("m1", scope=Scope("u", "coach", "r1"))
        await store.insert(original, "h1", np.ones(4, dtype=np.float32))
        assert await store.get(Scope("u"), "m1") == original
        assert await store.get(Scope("u", "coach"), "m1") == original
        assert await store.get(Scope("u", "other"), "m1") is None
        assert await store.get(Scope("v"), "m1") is None
        [entry] = await store.history(Scope("u"), "m1")
        assert (entry.event, entry.old_text, entry.new_text) == ("ADD", None, "likes tea")


async def test_replace_and_delete_write_history_and_survive_reopen(db_path: Path) -> None:
    async with await SqliteStore.open(db_path) as store:
        old = memory("m1")
        await store.insert(old, "h1", np.ones(4, dtype=np.float32))
        new = Memory(old.id, "likes green tea", old.scope, {}, old.created_at, T1)
        await store.replace(old, new, "h2", np.zeros(4, dtype=np.float32))
        await store.delete(new, T1)
    async with await SqliteStore.open(db_path) as store:
        assert await store.get(Scope("u"), "m1") is None
        events = [(e.event, e.old_text, e.new_text) for e in await store.history(Scope("u"), "m1")]
        assert events == [
            ("ADD", None, "likes tea"),
            ("UPDATE", "likes tea", "likes green tea"),
            ("DELETE", "likes green tea", None),
        ]


async def test_same_text_hash_twice_in_one_scope_is_a_duplicate(db_path: Path) -> None:
    async with await SqliteStore.open(db_path) as store:
        await store.insert(memory("m1"), "same", np.ones(4, dtype=np.float32))
        with pytest.raises(DuplicateError) as caught:
            await store.insert(memory("m2"), "same", np.ones(4, dtype=np.float32))
        assert caught.value.existing_id == "m1"
        # The same text in another scope is a different memory.
        await store.insert(memory("m3", scope=Scope("u", "coach")), "same", np.ones(4, dtype=np.float32))
        assert await store.count(Scope("u")) == 2


async def test_pages_are_newest_first_and_resume_after_the_cursor(db_path: Path) -> None:
    async with await SqliteStore.open(db_path) as store:
        for i in range(5):
            await store.insert(
                memory(f"m{i}", f"fact {i}", at=f"2026-01-0{i + 1}T00:00:00.000000Z"),
                f"h{i}",
                np.ones(4, dtype=np.float32),
            )
        first = await store.page(Scope("u"), None, 2)
        assert [m.id for m in first] == ["m4", "m3"]
        rest = await store.page(Scope("u"), (first[-1].created_at, first[-1].id), 10)
        assert [m.id for m in rest] == ["m2", "m1", "m0"]


async def test_schema_version_is_recorded_and_wal_is_on(db_path: Path) -> None:
    async with await SqliteStore.open(db_path):
        pass
    with sqlite3.connect(db_path) as raw:
        assert raw.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


async def test_reopening_does_not_migrate_again(db_path: Path) -> None:
    async with await SqliteStore.open(db_path) as store:
        await store.insert(memory("m1"), "h", np.ones(4, dtype=np.float32))
    async with await SqliteStore.open(db_path) as store:
        assert await store.count_all() == 1


async def test_a_newer_schema_is_refused_with_advice(db_path: Path) -> None:
    with sqlite3.connect(db_path) as raw:
        raw.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(StoreError, match="Upgrade memory-mcp"):
        await SqliteStore.open(db_path)


async def test_missing_folders_are_created(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "memory.db"
    async with await SqliteStore.open(path):
        pass
    assert path.exists()


async def test_an_unopenable_path_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(StoreError, match="Cannot create the folder"):
        await SqliteStore.open(blocker / "memory.db")


async def test_in_memory_database_works_with_one_connection() -> None:
    async with await SqliteStore.open(":memory:") as store:
        await store.insert(memory("m1"), "h", np.ones(4, dtype=np.float32))
        assert await store.count(Scope("u")) == 1


async def test_a_version_1_database_is_migrated_in_place(db_path: Path) -> None:
    """Schema 1 had no history trigger: opening it adds the trigger and keeps every memory and history row."""
    from memory_mcp.migrations import MIGRATIONS

    with sqlite3.connect(db_path) as raw:
        for statement in MIGRATIONS[0]:
            raw.execute(statement)
        raw.execute(
            "INSERT INTO memories (id, user_id, text, content_hash, embedding, created_at, updated_at)"
            " VALUES ('old', 'u', 'kept fact', 'h0', x'0000803f', ?, ?)",
            (T0, T0),
        )
        raw.execute(
            "INSERT INTO history (memory_id, user_id, event, new_text, created_at)"
            " VALUES ('old', 'u', 'ADD', 'kept fact', ?)",
            (T0,),
        )
        raw.execute("PRAGMA user_version = 1")
    async with await SqliteStore.open(db_path) as store:
        assert (await store.get(USER, "old")) is not None
        await store.insert(memory("new", "another fact"), "h1", np.ones(1, dtype=np.float32))
        assert [e.event for e in await store.history(USER, "old")] == ["ADD"]
        assert [e.event for e in await store.history(USER, "new")] == ["ADD"]
    with sqlite3.connect(db_path) as raw:
        assert raw.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 2
