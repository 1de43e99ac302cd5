"""SqliteStore beyond the store contract: migrations, WAL, files, the vector BLOB format, the change feed."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from memory_mcp.errors import StoreError
from memory_mcp.models import Memory, MemoryId, Row, Scope
from memory_mcp.stores import SqliteStore
from memory_mcp.stores.sqlite import store as sqlite_store
from memory_mcp.stores.sqlite.connection import decode_vector, encode_vector, fetch_all
from memory_mcp.stores.sqlite.migrations import MIGRATIONS, SCHEMA_VERSION

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


async def test_schema_version_is_recorded_and_wal_is_on(db_path: Path) -> None:
    async with await SqliteStore.open(db_path):
        pass
    with sqlite3.connect(db_path) as raw:
        assert raw.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


async def test_reopening_does_not_migrate_again(db_path: Path) -> None:
    async with await SqliteStore.open(db_path) as store:
        await store.insert_many([Row(memory("m1"), "h", np.ones(4, dtype=np.float32), [])])
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
        await store.insert_many([Row(memory("m1"), "h", np.ones(4, dtype=np.float32), [])])
        assert await store.count(Scope("u")) == 1


async def test_a_version_1_database_is_migrated_in_place(db_path: Path) -> None:
    """Schema 1 had no history trigger: opening it adds the trigger and keeps every memory and history row."""
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
        await store.insert_many([Row(memory("new", "another fact"), "h1", np.ones(1, dtype=np.float32), [])])
        assert [e.event for e in await store.history(USER, "old")] == ["ADD"]
        assert [e.event for e in await store.history(USER, "new")] == ["ADD"]
    with sqlite3.connect(db_path) as raw:
        assert raw.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


async def test_the_change_feed_names_every_change_in_order_and_rereads_the_rows(db_path: Path) -> None:
    """What an in-process index catches up from: each committed change with its sequence number and stamp."""
    async with await SqliteStore.open(db_path) as store:
        assert await store.last_change() == 0
        first, second = memory("m1"), memory("m2", "likes coffee", at=T1)
        await store.insert_many(
            [Row(first, "h1", np.ones(4, dtype=np.float32), []), Row(second, "h2", np.zeros(4, dtype=np.float32), [])]
        )
        await store.delete(first, T1)
        changes = await store.changed_since(0, 10)
        assert [(memory_id, stamp) for _, memory_id, stamp in changes] == [("m1", T0), ("m2", T1), ("m1", T1)]
        assert [seq for seq, _, _ in changes] == sorted(seq for seq, _, _ in changes)
        assert await store.last_change() == changes[-1][0]
        assert await store.changed_since(changes[-1][0], 10) == []
        rows = await store.index_rows([MemoryId("m1"), MemoryId("m2")])
        assert rows.ids == ["m2"]
        assert rows.scopes == [USER]
        assert rows.vectors.shape == (1, 4)
        assert rows.texts == ["likes coffee"]
        [batch] = [batch async for batch in store.iter_index_rows(10)]
        assert batch.ids == ["m2"]


async def test_vectors_of_different_lengths_are_refused_when_loading(db_path: Path) -> None:
    async with await SqliteStore.open(db_path) as store:
        await store.insert_many(
            [
                Row(memory("m1"), "h1", np.ones(4, dtype=np.float32), []),
                Row(memory("m2", "other"), "h2", np.ones(8, dtype=np.float32), []),
            ]
        )
        with pytest.raises(StoreError, match="--reembed"):
            [batch async for batch in store.iter_index_rows(10)]


async def test_reads_of_a_few_rows_answer_on_the_loop_thread_and_fall_back_when_the_file_is_busy(
    db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with await SqliteStore.open(db_path) as store:
        await store.insert_many(
            [Row(memory(f"m{n}", f"fact {n}"), f"h{n}", np.ones(4, dtype=np.float32), []) for n in range(3)]
        )
        last = await store.last_change()
        through_thread = []
        real = fetch_all

        async def counted(*args: object) -> object:
            through_thread.append(args[1])
            return await real(*args)  # type: ignore[arg-type]

        monkeypatch.setattr(sqlite_store, "fetch_all", counted)
        assert set(await store.get_many(USER, [MemoryId("m0"), MemoryId("m2"), MemoryId("nope")])) == {"m0", "m2"}
        assert (await store.get(USER, "m1")) is not None
        assert await store.last_change() == last
        assert through_thread == []  # answered on the loop's own thread
        # A read it cannot make at once (a busy file, any error) answers None there: the reader's thread answers.
        assert store._quick is not None
        assert store._quick.fetch_all("SELECT * FROM no_such_table") is None
        monkeypatch.setattr(store._quick, "fetch_all", lambda *args: None)
        assert set(await store.get_many(USER, [MemoryId("m0"), MemoryId("m1")])) == {"m0", "m1"}
        assert await store.last_change() == last
        assert len(through_thread) == 2


async def test_only_a_store_opened_for_one_command_reads_through_a_memory_map(db_path: Path) -> None:
    """A command maps the file (its reads of every vector take less time); a server does not (the mapped pages would
    count as its resident memory)."""
    from memory_mcp.stores.sqlite.connection import MMAP_BYTES

    for mapped, expected in ((False, 0), (True, MMAP_BYTES)):
        async with await SqliteStore.open(db_path, mapped=mapped) as store:
            rows = await store.reader.execute_fetchall("PRAGMA mmap_size")
            assert next(iter(rows))[0] == expected
