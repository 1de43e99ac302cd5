"""SqliteStore: memories, float32 vector BLOBs and history in one SQLite file (WAL), through aiosqlite."""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Final, Self

import aiosqlite
import numpy as np

from .errors import DuplicateError, StoreError
from .filters import Filter
from .migrations import MIGRATIONS, SCHEMA_VERSION
from .models import Cursor, HistoryEntry, Memory, MemoryId, MemoryRecord, Metadata, Scope, UserSummary, Vector

logger = logging.getLogger(__name__)

BUSY_TIMEOUT_MS: Final = 10_000
_IN_CHUNK: Final = 500  # ids per `IN (...)`, well under SQLite's bound-parameter limit
_COLUMNS: Final = "id, user_id, agent_id, run_id, text, metadata, created_at, updated_at"
_EMBEDDER_KEY: Final = "embedder_id"
_HISTORY_COLUMNS: Final = "memory_id, event, old_text, new_text, old_metadata, new_metadata, created_at"
_INTO: Final = (
    " INTO memories (id, user_id, agent_id, run_id, text, metadata, content_hash, embedding, created_at,"
    " updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_INSERT: Final = "INSERT" + _INTO + " ON CONFLICT (user_id, agent_id, run_id, content_hash) DO NOTHING"
_RESTORE: Final = "INSERT OR IGNORE" + _INTO  # skips a taken id as well as a duplicate text


def encode_vector(vector: Vector) -> bytes:
    """A vector as a little-endian float32 BLOB."""
    return np.asarray(vector, dtype="<f4").tobytes()


def decode_vector(blob: bytes) -> Vector:
    """The inverse of `encode_vector`."""
    return np.frombuffer(blob, dtype="<f4").astype(np.float32)


def _dump(metadata: Metadata | None) -> str | None:
    return None if metadata is None else json.dumps(metadata, ensure_ascii=False, separators=(",", ":"))


def _scope_where(scope: Scope) -> tuple[str, list[str]]:
    clause, params = "user_id = ?", [scope.user_id]
    if scope.agent_id is not None:
        clause += " AND agent_id = ?"
        params.append(scope.agent_id)
    if scope.run_id is not None:
        clause += " AND run_id = ?"
        params.append(scope.run_id)
    return clause, params


def _exact(scope: Scope) -> list[str]:
    return [scope.user_id, scope.agent_id or "", scope.run_id or ""]


def history_values(memory: Memory, entries: Sequence[HistoryEntry]) -> list[tuple[Any, ...]]:
    """Rows for `INSERT INTO history (user_id, agent_id, run_id, <history columns>)`, one per entry."""
    return [
        (
            *_exact(memory.scope),
            memory.id,
            entry.event,
            entry.old_text,
            entry.new_text,
            _dump(entry.old_metadata),
            _dump(entry.new_metadata),
            entry.created_at,
        )
        for entry in entries
    ]


def _row(memory: Memory, content_hash: str, vector: Vector) -> tuple[Any, ...]:
    """The values of `_INTO` for one memory."""
    return (
        memory.id,
        *_exact(memory.scope),
        memory.text,
        _dump(memory.metadata),
        content_hash,
        encode_vector(vector),
        memory.created_at,
        memory.updated_at,
    )


def _memory(row: sqlite3.Row | tuple[Any, ...]) -> Memory:
    memory_id, user_id, agent_id, run_id, text, metadata, created_at, updated_at = row
    return Memory(
        id=MemoryId(memory_id),
        text=text,
        scope=Scope(user_id, agent_id or None, run_id or None),
        metadata=json.loads(metadata),
        created_at=created_at,
        updated_at=updated_at,
    )


async def _all(connection: aiosqlite.Connection, sql: str, parameters: Sequence[Any] = ()) -> list[sqlite3.Row]:
    """Every row of a query, in one trip to the connection's thread (a cursor would take three)."""
    return list(await connection.execute_fetchall(sql, parameters))


async def _connect(path: str) -> aiosqlite.Connection:
    # isolation_level=None: we open every write transaction ourselves with BEGIN IMMEDIATE, which takes
    # the write lock up front instead of failing half-way when another process writes too.
    connection = await aiosqlite.connect(path, isolation_level=None)
    try:
        await connection.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        await connection.execute("PRAGMA journal_mode = WAL")
        await connection.execute("PRAGMA synchronous = FULL")
        await connection.execute("PRAGMA foreign_keys = ON")
    except BaseException:
        await connection.close()
        raise
    return connection


class SqliteStore:
    """The source of truth: one writer connection (serialised) and one reader connection.

    Readers never see a half-done write: WAL gives the reader connection only committed data.
    """

    def __init__(self, path: str, writer: aiosqlite.Connection, reader: aiosqlite.Connection) -> None:
        self.path = path
        self._writer = writer
        self._reader = reader
        self._write_lock = asyncio.Lock()

    @classmethod
    async def open(cls, path: str | Path) -> SqliteStore:
        """Open (creating the file and its folder if needed) and migrate the database at `path`."""
        location = _prepare(path)
        try:
            writer = await _connect(location)
        except sqlite3.Error as exc:
            raise StoreError(
                f"Cannot open the database at {location!r}: {exc}. Check the path and its permissions."
            ) from exc
        try:
            await _migrate(writer, location)
            # A ":memory:" database exists only inside its one connection, so it reads through the writer.
            reader = writer if location == ":memory:" else await _connect(location)
        except BaseException:
            await writer.close()
            raise
        return cls(location, writer, reader)

    async def close(self) -> None:
        """Close both connections."""
        if self._reader is not self._writer:
            await self._reader.close()
        await self._writer.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    @asynccontextmanager
    async def _transaction(self, *, single_statement: bool = False) -> AsyncIterator[aiosqlite.Connection]:
        """One write transaction; an operational failure (locked, disk full, read-only) becomes a StoreError.

        `single_statement`: the body runs one statement, which SQLite makes atomic on its own, so the
        BEGIN and COMMIT round trips are skipped.
        """
        async with self._write_lock:
            try:
                if single_statement:
                    yield self._writer
                    return
                await self._writer.execute("BEGIN IMMEDIATE")
                try:
                    yield self._writer
                    await self._writer.execute("COMMIT")
                except BaseException:
                    if self._writer.in_transaction:
                        await self._writer.execute("ROLLBACK")
                    raise
            except sqlite3.OperationalError as exc:
                raise StoreError(
                    f"The database could not save the change ({exc}); nothing was changed. Try again in a moment; "
                    "if it keeps failing, check the disk space and permissions of the database file."
                ) from exc

    # -- settings ---------------------------------------------------------------------------------

    async def embedder_id(self) -> str | None:
        """The id of the embedder whose vectors the database holds, None before the first write."""
        rows = await _all(self._reader, "SELECT value FROM settings WHERE key = ?", (_EMBEDDER_KEY,))
        row = rows[0] if rows else None
        return None if row is None else str(row[0])

    async def set_embedder_id(self, embedder_id: str) -> None:
        """Record which embedder made the stored vectors."""
        async with self._transaction() as db:
            await db.execute(
                "INSERT INTO settings (key, value) VALUES (?, ?)"
                " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (_EMBEDDER_KEY, embedder_id),
            )

    # -- writes -----------------------------------------------------------------------------------

    async def _history(
        self, db: aiosqlite.Connection, event: str, at: str, old: Memory | None = None, new: Memory | None = None
    ) -> None:
        memory = new if new is not None else old
        if memory is None:
            raise ValueError("a history row needs the old or the new memory")
        await db.execute(
            "INSERT INTO history (memory_id, user_id, agent_id, run_id, event, old_text, new_text,"
            " old_metadata, new_metadata, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                memory.id,
                *_exact(memory.scope),
                event,
                old.text if old else None,
                new.text if new else None,
                _dump(old.metadata) if old else None,
                _dump(new.metadata) if new else None,
                at,
            ),
        )

    async def insert(self, memory: Memory, content_hash: str, vector: Vector) -> None:
        """Store a new memory and its ADD history row; DuplicateError if its scope has the same text."""
        if not await self.insert_many([(memory, content_hash, vector)]):
            existing = await self.find_by_hash(memory.scope, content_hash)
            raise DuplicateError(existing.id if existing else memory.id)

    async def insert_many(
        self, rows: Sequence[tuple[Memory, str, Vector]], terms: Sequence[Sequence[str]] | None = None
    ) -> set[MemoryId]:
        """Store new memories (a trigger adds their ADD history rows) in one transaction; returns the ids stored.

        `terms` are not kept: the in-memory index analyses texts itself.

        A memory whose scope already holds the same normalised text (the content hash) is skipped, not
        an error: the caller looks the existing one up.
        """
        if not rows:
            return set()
        values = [_row(memory, content_hash, vector) for memory, content_hash, vector in rows]
        async with self._transaction(single_statement=len(values) == 1) as db:
            cursor = await db.executemany(_INSERT, values)
            if cursor.rowcount == len(values):
                return {memory.id for memory, _, _ in rows}
            stored: set[MemoryId] = set()
            ids = [memory.id for memory, _, _ in rows]
            for start in range(0, len(ids), _IN_CHUNK):
                chunk = ids[start : start + _IN_CHUNK]
                marks = ",".join("?" * len(chunk))
                present = await _all(db, f"SELECT id FROM memories WHERE id IN ({marks})", chunk)
                stored.update(MemoryId(row[0]) for row in present)
            return stored

    async def replace(
        self, old: Memory, new: Memory, content_hash: str, vector: Vector, terms: Sequence[str] = ()
    ) -> None:
        """Overwrite text, metadata and vector of `old` and record an UPDATE."""
        try:
            async with self._transaction() as db:
                await db.execute(
                    "UPDATE memories SET text = ?, metadata = ?, content_hash = ?, embedding = ?, updated_at = ?"
                    " WHERE id = ? AND user_id = ?",
                    (
                        new.text,
                        _dump(new.metadata),
                        content_hash,
                        encode_vector(vector),
                        new.updated_at,
                        old.id,
                        old.scope.user_id,
                    ),
                )
                await self._history(db, "UPDATE", new.updated_at, old=old, new=new)
        except sqlite3.IntegrityError as exc:
            raise await self._duplicate(old.scope, content_hash, exc) from exc

    async def _duplicate(self, scope: Scope, content_hash: str, exc: sqlite3.IntegrityError) -> Exception:
        existing = await self.find_by_hash(scope, content_hash)
        return DuplicateError(existing.id) if existing is not None else exc

    async def delete(self, memory: Memory, deleted_at: str) -> None:
        """Remove one memory and record a DELETE."""
        async with self._transaction() as db:
            await db.execute("DELETE FROM memories WHERE id = ? AND user_id = ?", (memory.id, memory.scope.user_id))
            await self._history(db, "DELETE", deleted_at, old=memory)

    async def delete_scope(self, scope: Scope, deleted_at: str) -> list[MemoryId]:
        """Remove every memory `scope` can see, recording a DELETE for each; returns their ids."""
        where, params = _scope_where(scope)
        async with self._transaction() as db:
            async with db.execute(f"SELECT id FROM memories WHERE {where}", params) as cursor:
                ids = [MemoryId(row[0]) async for row in cursor]
            await db.execute(
                "INSERT INTO history (memory_id, user_id, agent_id, run_id, event, old_text, old_metadata, created_at)"
                f" SELECT id, user_id, agent_id, run_id, 'DELETE', text, metadata, ? FROM memories WHERE {where}",
                [deleted_at, *params],
            )
            await db.execute(f"DELETE FROM memories WHERE {where}", params)
        return ids

    async def rewrite_vectors(
        self, embedder_id: str, batches: AsyncIterator[Sequence[tuple[MemoryId, Vector]]]
    ) -> None:
        """Replace stored vectors and the embedder id in one transaction, so vectors are never mixed."""
        async with self._transaction() as db:
            async for batch in batches:
                await db.executemany(
                    "UPDATE memories SET embedding = ? WHERE id = ?",
                    [(encode_vector(vector), memory_id) for memory_id, vector in batch],
                )
            await db.execute(
                "INSERT INTO settings (key, value) VALUES (?, ?)"
                " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (_EMBEDDER_KEY, embedder_id),
            )

    async def restore(
        self, rows: Sequence[tuple[MemoryRecord, str, Vector]], terms: Sequence[Sequence[str]] | None = None
    ) -> set[MemoryId]:
        """Store memories exactly as given (ids, timestamps, history) in one transaction; returns the ids stored.

        A memory whose id exists, or whose scope already holds the same text, is skipped. One with a
        history gets that history instead of the ADD row the database would write for it.
        """
        stored: set[MemoryId] = set()
        async with self._transaction() as db:
            for record, content_hash, vector in rows:
                memory = record.memory
                cursor = await db.execute(_RESTORE, _row(memory, content_hash, vector))
                if cursor.rowcount != 1:
                    continue
                stored.add(memory.id)
                if record.history:
                    await db.execute(
                        "DELETE FROM history WHERE memory_id = ? AND user_id = ?", (memory.id, memory.scope.user_id)
                    )
                    await db.executemany(
                        f"INSERT INTO history (user_id, agent_id, run_id, {_HISTORY_COLUMNS})"
                        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        history_values(memory, record.history),
                    )
        return stored

    # -- reads ------------------------------------------------------------------------------------

    async def get(self, scope: Scope, memory_id: str) -> Memory | None:
        """The memory with this id if `scope` can see it."""
        where, params = _scope_where(scope)
        rows = await _all(
            self._reader, f"SELECT {_COLUMNS} FROM memories WHERE id = ? AND {where}", [memory_id, *params]
        )
        row = rows[0] if rows else None
        return None if row is None else _memory(row)

    async def get_many(self, scope: Scope, ids: Sequence[MemoryId]) -> dict[MemoryId, Memory]:
        """The memories among `ids` that `scope` can see, by id."""
        where, params = _scope_where(scope)
        # "+user_id" keeps SQLite on the primary key: with the user index it would scan all of the user's rows.
        where = "+" + where
        found: dict[MemoryId, Memory] = {}
        for start in range(0, len(ids), _IN_CHUNK):
            chunk = list(ids[start : start + _IN_CHUNK])
            marks = ",".join("?" * len(chunk))
            rows = await _all(
                self._reader, f"SELECT {_COLUMNS} FROM memories WHERE id IN ({marks}) AND {where}", [*chunk, *params]
            )
            for row in rows:
                memory = _memory(row)
                found[memory.id] = memory
        return found

    async def find_by_hashes(self, scope: Scope, hashes: Sequence[str]) -> dict[str, Memory]:
        """The memories of exactly this scope whose normalised text has one of these hashes, by hash."""
        found: dict[str, Memory] = {}
        for start in range(0, len(hashes), _IN_CHUNK):
            chunk = list(hashes[start : start + _IN_CHUNK])
            marks = ",".join("?" * len(chunk))
            rows = await _all(
                self._reader,
                f"SELECT content_hash, {_COLUMNS} FROM memories"
                f" WHERE user_id = ? AND agent_id = ? AND run_id = ? AND content_hash IN ({marks})",
                [*_exact(scope), *chunk],
            )
            for row in rows:
                found[row[0]] = _memory(row[1:])
        return found

    async def find_by_hash(self, scope: Scope, content_hash: str) -> Memory | None:
        """The memory of exactly this scope whose normalised text has this hash."""
        return (await self.find_by_hashes(scope, [content_hash])).get(content_hash)

    async def page(self, scope: Scope, after: Cursor | None, limit: int) -> list[Memory]:
        """Up to `limit` memories of `scope`, newest first, strictly after the cursor position."""
        where, params = _scope_where(scope)
        if after is not None:
            where += " AND (created_at, id) < (?, ?)"
            params = [*params, *after]
        rows = await _all(
            self._reader,
            f"SELECT {_COLUMNS} FROM memories WHERE {where} ORDER BY created_at DESC, id DESC LIMIT ?",
            [*params, limit],
        )
        return [_memory(row) for row in rows]

    async def listing(self, scope: Scope, where: Filter | None = None) -> list[tuple[MemoryId, Cursor, Metadata]]:
        """Id, position and metadata of every memory of `scope`, newest first; `where` is left to the engine."""
        own, params = _scope_where(scope)
        rows = await _all(
            self._reader,
            f"SELECT id, created_at, metadata FROM memories WHERE {own} ORDER BY created_at DESC, id DESC",
            params,
        )
        return [(MemoryId(i), (created, i), json.loads(meta)) for i, created, meta in rows]

    async def count(self, scope: Scope) -> int:
        """How many memories `scope` can see."""
        where, params = _scope_where(scope)
        rows = await _all(self._reader, f"SELECT count(*) FROM memories WHERE {where}", params)
        row = rows[0] if rows else None
        return int(row[0]) if row else 0

    async def count_all(self) -> int:
        """How many memories the database holds, all users together."""
        rows = await _all(self._reader, "SELECT count(*) FROM memories")
        row = rows[0] if rows else None
        return int(row[0]) if row else 0

    async def history(self, scope: Scope, memory_id: str) -> list[HistoryEntry]:
        """The changes of one memory `scope` can see, oldest first (kept after the memory is deleted)."""
        where, params = _scope_where(scope)
        rows = await _all(
            self._reader,
            f"SELECT {_HISTORY_COLUMNS} FROM history WHERE memory_id = ? AND {where} ORDER BY seq",
            [memory_id, *params],
        )
        return [_history_entry(row) for row in rows]

    async def summaries(self, user_id: str | None = None) -> list[UserSummary]:
        """Per user (or for one user): memory count, oldest and newest, distinct agents and runs."""
        where, params = ("WHERE user_id = ?", [user_id]) if user_id is not None else ("", [])
        rows = await _all(
            self._reader,
            "SELECT user_id, count(*), min(created_at), max(created_at),"
            " count(DISTINCT nullif(agent_id, '')), count(DISTINCT nullif(run_id, ''))"
            f" FROM memories {where} GROUP BY user_id ORDER BY user_id",
            params,
        )
        return [UserSummary(*row) for row in rows]

    async def iter_records(
        self, scope: Scope | None, *, vectors: bool = False, history: bool = False, batch_size: int = 1_000
    ) -> AsyncIterator[list[MemoryRecord]]:
        """Every memory of `scope` (None: of every user), oldest first, optionally with vector and history."""
        where, params = _scope_where(scope) if scope is not None else ("1", [])
        async with self._reader.execute(
            f"SELECT {_COLUMNS}, embedding FROM memories WHERE {where} ORDER BY user_id, created_at, id", params
        ) as cursor:
            while rows := await cursor.fetchmany(batch_size):
                changes: dict[str, list[HistoryEntry]] = {}
                if history:
                    ids = [row[0] for row in rows]
                    for start in range(0, len(ids), _IN_CHUNK):
                        chunk = ids[start : start + _IN_CHUNK]
                        marks = ",".join("?" * len(chunk))
                        for entry in await _all(
                            self._reader,
                            f"SELECT {_HISTORY_COLUMNS} FROM history WHERE memory_id IN ({marks}) ORDER BY seq",
                            chunk,
                        ):
                            changes.setdefault(entry[0], []).append(_history_entry(entry))
                yield [
                    MemoryRecord(
                        _memory(row[:-1]),
                        decode_vector(row[-1]) if vectors else None,
                        tuple(changes.get(row[0], ())),
                    )
                    for row in rows
                ]

    async def iter_index_rows(
        self, batch_size: int = 10_000
    ) -> AsyncIterator[list[tuple[MemoryId, Scope, bytes, str]]]:
        """Every memory's id, scope, vector BLOB and text, in batches (start-up fills the index from this)."""
        async with self._reader.execute(
            "SELECT id, user_id, agent_id, run_id, embedding, text FROM memories"
        ) as cursor:
            while rows := await cursor.fetchmany(batch_size):
                yield [(MemoryId(i), Scope(u, a or None, r or None), blob, text) for i, u, a, r, blob, text in rows]

    async def last_change(self) -> int:
        """The sequence number of the newest history row: it grows with every committed change, from any process."""
        # A bare max() of the primary key is one b-tree lookup; wrapped in coalesce() SQLite would scan the table.
        rows = await _all(self._reader, "SELECT max(seq) FROM history")
        return int(rows[0][0]) if rows and rows[0][0] is not None else 0

    async def changed_since(self, seq: int, limit: int = 10_000) -> list[tuple[int, MemoryId, str]]:
        """(sequence number, memory id, time) of the changes after `seq`, oldest first, at most `limit`."""
        rows = await _all(
            self._reader,
            "SELECT seq, memory_id, created_at FROM history WHERE seq > ? ORDER BY seq LIMIT ?",
            (seq, limit),
        )
        return [(int(number), MemoryId(memory_id), stamp) for number, memory_id, stamp in rows]

    async def index_rows(self, ids: Sequence[MemoryId]) -> list[tuple[MemoryId, Scope, bytes, str]]:
        """Id, scope, vector BLOB and text of those of `ids` that exist now (any user: for the index only)."""
        found: list[tuple[MemoryId, Scope, bytes, str]] = []
        for start in range(0, len(ids), _IN_CHUNK):
            chunk = list(ids[start : start + _IN_CHUNK])
            marks = ",".join("?" * len(chunk))
            rows = await _all(
                self._reader,
                f"SELECT id, user_id, agent_id, run_id, embedding, text FROM memories WHERE id IN ({marks})",
                chunk,
            )
            found.extend((MemoryId(i), Scope(u, a or None, r or None), blob, text) for i, u, a, r, blob, text in rows)
        return found

    # -- maintenance (this backend only) ----------------------------------------------------------

    async def backup(self, target: Path, progress: Callable[[int, int], None] | None = None) -> None:
        """Copy the database to `target` while others keep using it (SQLite's online backup API).

        The copy is one self-contained file (rollback journal, not WAL) holding every change committed
        when the copy finished; it is written beside `target` and renamed into place only when complete.
        """
        final = Path(target)
        partial = final.with_name(final.name + ".partial")

        def copy() -> None:
            source = sqlite3.connect(self.path)
            try:
                Path(partial).unlink(missing_ok=True)
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

    async def integrity(self) -> list[str]:
        """SQLite's own check of the file: empty when sound, else what it found (at most 20 lines)."""
        rows = await _all(self._reader, "PRAGMA integrity_check(20)")
        found = [str(row[0]) for row in rows]
        return [] if found == ["ok"] else found

    async def schema_version(self) -> int:
        """The schema version recorded in the file."""
        rows = await _all(self._reader, "PRAGMA user_version")
        return int(rows[0][0])

    async def without_history(self) -> list[MemoryId]:
        """Memories that have no history row (every stored memory should have at least its ADD)."""
        rows = await _all(
            self._reader,
            "SELECT id FROM memories AS m WHERE NOT EXISTS"
            " (SELECT 1 FROM history AS h WHERE h.user_id = m.user_id AND h.memory_id = m.id) LIMIT 1000",
        )
        return [MemoryId(row[0]) for row in rows]

    async def iter_raw(self, batch_size: int = 10_000) -> AsyncIterator[list[tuple[str, str, str, str, str, bytes]]]:
        """Every memory as stored: id, user id, text, metadata JSON, content hash and vector BLOB (for checks)."""
        async with self._reader.execute(
            "SELECT id, user_id, text, metadata, content_hash, embedding FROM memories"
        ) as cursor:
            while rows := await cursor.fetchmany(batch_size):
                yield [(row[0], row[1], row[2], row[3], row[4], row[5]) for row in rows]

    async def iter_texts(self, batch_size: int = 1_000) -> AsyncIterator[list[tuple[MemoryId, str]]]:
        """Every stored text with its id, in batches (for re-embedding)."""
        async with self._reader.execute("SELECT id, text FROM memories ORDER BY id") as cursor:
            while rows := await cursor.fetchmany(batch_size):
                yield [(MemoryId(i), text) for i, text in rows]


def _history_entry(row: sqlite3.Row | tuple[Any, ...]) -> HistoryEntry:
    memory_id, event, old_text, new_text, old_meta, new_meta, created_at = row
    return HistoryEntry(
        memory_id=MemoryId(memory_id),
        event=event,
        old_text=old_text,
        new_text=new_text,
        old_metadata=None if old_meta is None else json.loads(old_meta),
        new_metadata=None if new_meta is None else json.loads(new_meta),
        created_at=created_at,
    )


def _prepare(path: str | Path) -> str:
    """The path SQLite should open, with its folder created (`:memory:` passes as it is)."""
    location = str(path)
    if location == ":memory:":
        return location
    resolved = Path(location).expanduser()
    try:
        resolved.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreError(f"Cannot create the folder for the database {str(resolved)!r}: {exc}.") from exc
    return str(resolved)


def _known_version(version: int, location: str) -> int:
    if version > SCHEMA_VERSION:
        raise StoreError(
            f"The database at {location!r} has schema version {version}, newer than this memory-mcp "
            f"understands ({SCHEMA_VERSION}). Upgrade memory-mcp, or point --db at another file."
        )
    return version


async def _migrate(db: aiosqlite.Connection, location: str) -> None:
    """Bring the schema up to date in one IMMEDIATE transaction, so concurrent starters migrate once."""
    await db.execute("BEGIN IMMEDIATE")
    try:
        rows = await _all(db, "PRAGMA user_version")
        row = rows[0] if rows else None
        version = _known_version(int(row[0]) if row else 0, location)
        for number in range(version, SCHEMA_VERSION):
            for statement in MIGRATIONS[number]:
                await db.execute(statement)
            logger.info("database %s migrated to schema version %d", location, number + 1)
        await db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
    except BaseException:
        await db.execute("ROLLBACK")
        raise
    await db.execute("COMMIT")
