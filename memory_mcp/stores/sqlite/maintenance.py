"""Maintenance of a SQLite database file: an online backup, and the reads a check makes of the file as it is."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Any

import aiosqlite

from ...errors import StoreError
from ...models import MemoryId
from ...private import private_file
from .store import SNAPSHOT_KEY, SqliteStore


async def _rows(connection: aiosqlite.Connection, sql: str, parameters: Sequence[Any] = ()) -> list[sqlite3.Row]:
    return list(await connection.execute_fetchall(sql, parameters))


async def backup(store: SqliteStore, target: Path, progress: Callable[[int, int], None] | None = None) -> None:
    """Copy the database to `target` while others keep using it (SQLite's online backup API).

    The copy is one self-contained file (rollback journal, not WAL) holding every change committed
    when the copy finished; it is written beside `target` and renamed into place only when complete.
    """
    final = Path(target)
    partial = final.with_name(final.name + ".partial")

    def copy() -> None:
        source = sqlite3.connect(store.path)
        try:
            Path(partial).unlink(missing_ok=True)
            private_file(partial)  # a copy of every memory: its owner's only
            destination = sqlite3.connect(partial)
            try:

                def step(status: int, remaining: int, total: int) -> None:
                    if progress is not None:
                        progress(total - remaining, total)

                source.backup(destination, pages=1024, progress=step)
                destination.execute("PRAGMA journal_mode = DELETE")
            finally:
                destination.close()
        finally:
            source.close()
        Path(partial).replace(final)

    try:
        await asyncio.to_thread(copy)
    except (sqlite3.Error, OSError) as exc:
        await asyncio.to_thread(Path(partial).unlink, missing_ok=True)
        raise StoreError(f"Could not back up to {str(final)!r}: {exc}. Nothing was written there.") from exc


async def integrity(store: SqliteStore, *, full: bool = True) -> list[str]:
    """SQLite's own check of the file: empty when sound, else what it found (at most 20 lines). `full=False` runs
    `quick_check`: every page and record is still read, but the indexes are not compared with their tables (a
    third of the time)."""
    rows = await _rows(store.reader, f"PRAGMA {'integrity_check' if full else 'quick_check'}(20)")
    found = [str(row[0]) for row in rows]
    return [] if found == ["ok"] else found


async def schema_version(store: SqliteStore) -> int:
    """The schema version recorded in the file."""
    rows = await _rows(store.reader, "PRAGMA user_version")
    return int(rows[0][0])


async def _ids(store: SqliteStore, where: str, parameters: Sequence[Any] = ()) -> list[MemoryId]:
    """The ids of the memories (`m`) that meet `where`, at most 1,000."""
    rows = await _rows(store.reader, f"SELECT id FROM memories AS m WHERE {where} LIMIT 1000", parameters)
    return [MemoryId(row[0]) for row in rows]


async def without_history(store: SqliteStore) -> list[MemoryId]:
    """Memories that have no history row (every stored memory should have at least its ADD)."""
    return await _ids(
        store, "NOT EXISTS (SELECT 1 FROM history AS h WHERE h.user_id = m.user_id AND h.memory_id = m.id)"
    )


async def broken_links(store: SqliteStore) -> list[str]:
    """Links whose ends are not both memories of the link's user, as "source->target (type)"."""
    rows = await _rows(
        store.reader,
        "SELECT source_id, target_id, type FROM links AS l WHERE NOT EXISTS"
        " (SELECT 1 FROM memories AS m WHERE m.id = l.source_id AND m.user_id = l.user_id) OR NOT EXISTS"
        " (SELECT 1 FROM memories AS m WHERE m.id = l.target_id AND m.user_id = l.user_id) LIMIT 1000",
    )
    return [f"{row[0]}->{row[1]} ({row[2]})" for row in rows]


async def stale_entities(store: SqliteStore) -> list[MemoryId]:
    """Memories whose entity index rows differ from the entities they name."""
    return await _ids(
        store,
        "json_array_length(m.entity_keys) <>"
        " (SELECT count(*) FROM memory_entities AS e WHERE e.memory_id = m.id AND e.user_id = m.user_id)",
    )


async def not_objects(store: SqliteStore) -> list[MemoryId]:
    """Memories whose metadata is not a JSON object (SQLite's JSON functions read it: no row reaches Python)."""
    return await _ids(store, "CASE WHEN json_valid(metadata) THEN json_type(metadata) <> 'object' ELSE 1 END")


async def counts(store: SqliteStore) -> tuple[int, int]:
    """How many memories are stored, and for how many users."""
    rows = await _rows(store.reader, "SELECT count(*), count(DISTINCT user_id) FROM memories")
    return int(rows[0][0]), int(rows[0][1])


async def wrong_length(store: SqliteStore, size: int) -> list[MemoryId]:
    """Memories whose vector BLOB is not `size` bytes long."""
    return await _ids(store, "length(embedding) <> ?", (size,))


async def iter_vectors(store: SqliteStore, size: int, batch_size: int = 256) -> AsyncIterator[tuple[list[int], bytes]]:
    """The vector BLOBs of `size` bytes, joined, a batch at a time, with their rows' rowids (`ids_of` names them).
    Small batches: the memory of one is reused for the next (10,000 at a time took twice as long)."""
    async with store.reader.execute(
        "SELECT rowid, embedding FROM memories WHERE length(embedding) = ?", (size,)
    ) as cursor:
        while rows := await cursor.fetchmany(batch_size):
            yield [row[0] for row in rows], b"".join(row[1] for row in rows)


async def ids_of(store: SqliteStore, rowids: Sequence[int]) -> list[MemoryId]:
    """The memory ids of rows by rowid (at most 1,000 are named)."""
    chosen = list(rowids[:1000])
    return await _ids(store, f"rowid IN ({','.join('?' * len(chosen))})", chosen)


async def iter_texts(store: SqliteStore, batch_size: int = 10_000) -> AsyncIterator[list[tuple[str, str, str, str]]]:
    """Every memory's id, user id, text and content hash."""
    async with store.reader.execute("SELECT id, user_id, text, content_hash FROM memories") as cursor:
        while rows := await cursor.fetchmany(batch_size):
            yield [(row[0], row[1], row[2], row[3]) for row in rows]


async def snapshot_change(store: SqliteStore) -> int | None:
    """The change the kept index snapshot is as of, None when there is none (its parts are not read)."""
    rows = await _rows(store.reader, "SELECT value FROM settings WHERE key = ?", (SNAPSHOT_KEY,))
    return int(json.loads(rows[0][0])["seq"]) if rows else None
