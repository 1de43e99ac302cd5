"""SqliteStore: memories, float32 vector BLOBs and history in one SQLite file (WAL), through aiosqlite.

One class, one method per `MemoryStore` and `ChangeFeed` operation: accounts, migrations, connections and file
maintenance already live in modules of their own; what is left shares the write lock and transaction rules.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sqlite3
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Final, Self

import aiosqlite
import numpy as np

from ...errors import DuplicateError, StoreError
from ...filters import Filter
from ...models import (
    CURRENT,
    Cursor,
    HistoryEntry,
    IndexRows,
    Link,
    Listed,
    Matrix,
    Memory,
    MemoryId,
    MemoryRecord,
    PlainMemory,
    Row,
    Scope,
    UserSummary,
    Validity,
)
from .. import _rows
from .accounts import SqliteAccounts
from .connection import QuickReads, chunks, connect, decode_vector, encode_vector, fetch_all, mark, prepare
from .migrations import migrate

logger = logging.getLogger(__name__)

_INTO: Final = f" INTO memories ({_rows.INSERT_COLUMNS}) VALUES ({_rows.placeholders(mark, _rows.INSERT_COUNT)})"
_INSERT: Final = "INSERT" + _INTO + f" ON CONFLICT {_rows.CURRENT_HASH} DO NOTHING"
_RESTORE: Final = "INSERT OR IGNORE" + _INTO  # skips a taken id as well as a duplicate text
_HISTORY_INSERT: Final = f"INSERT INTO history ({_rows.HISTORY_INSERT_COLUMNS}) VALUES ({_rows.placeholders(mark, 11)})"
SNAPSHOT_KEY: Final = "index_snapshot"
_FEW: Final = 64  # rows by key read on the loop's own thread (a search's hits); more go through the reader's thread
_INDEX_COLUMNS: Final = "id, user_id, agent_id, run_id, project, embedding, text, valid_to IS NOT NULL"
_LINK_INSERT: Final = (
    f"INSERT INTO links (user_id, {_rows.LINK_COLUMNS}) SELECT ?, ?, ?, ?, ?, ?"
    " WHERE EXISTS (SELECT 1 FROM memories WHERE id = ? AND user_id = ?)"
    " AND EXISTS (SELECT 1 FROM memories WHERE id = ? AND user_id = ?)"
    " ON CONFLICT (source_id, target_id, type) DO NOTHING"
)


class _Stale(Exception):
    """Raised inside a transaction to roll it back: the memory to supersede is no longer current."""


def _names(names: Sequence[str]) -> str:
    return json.dumps(list(names), ensure_ascii=False, separators=(",", ":"))


def _values(row: Row) -> tuple[Any, ...]:
    """The values of `_INTO` for one memory, its vector as a BLOB and its names as JSON lists."""
    return _rows.insert_values(row, encode_vector(row.vector), _names)


def _link_values(user_id: str, link: Link) -> tuple[Any, ...]:
    """The values of `_LINK_INSERT` for one link: stored only when both ends are memories of `user_id`."""
    return (
        user_id,
        link.source_id,
        link.target_id,
        link.type,
        _rows.dump(link.metadata),
        link.created_at,
        link.source_id,
        user_id,
        link.target_id,
        user_id,
    )


def _index_rows(rows: Sequence[Sequence[Any]]) -> IndexRows:
    """Rows of `_INDEX_COLUMNS` as one batch, the BLOBs decoded into one matrix."""
    blobs = [row[5] for row in rows]
    width = len(blobs[0]) if blobs else 0
    if any(len(blob) != width for blob in blobs) or width % 4:
        raise StoreError("Stored vectors differ in length; start with --reembed to re-embed them from their text.")
    vectors: Matrix = np.frombuffer(b"".join(blobs), dtype="<f4").astype(np.float32).reshape(len(rows), width // 4)
    scopes: dict[tuple[str, str, str, str], Scope] = {}  # one Scope per distinct scope, not one per row
    return IndexRows(
        [MemoryId(row[0]) for row in rows],
        [
            scopes.get(key) or scopes.setdefault(key, Scope(key[0], key[1] or None, key[2] or None, key[3] or None))
            for key in ((row[1], row[2], row[3], row[4]) for row in rows)
        ],
        vectors,
        [row[6] for row in rows],
        [bool(row[7]) for row in rows],
    )


class SqliteStore(SqliteAccounts):
    """The source of truth: one writer connection (serialised) and one reader connection.

    Readers never see a half-done write: WAL gives the reader connection only committed data. It is
    also the change feed of an in-process index (`memory_mcp.protocols.ChangeFeed`).
    """

    def __init__(self, path: str, writer: aiosqlite.Connection, reader: aiosqlite.Connection) -> None:
        self.path = path
        self._writer = writer
        self._reader = reader
        # Reads of a few rows by key (each search's freshness check and its hits) on the loop's own thread.
        self._quick = None if reader is writer else QuickReads.open(path)
        self._write_lock = asyncio.Lock()

    async def _few(self, sql: str, parameters: Sequence[Any]) -> list[Any]:
        """The rows of a read of a few rows by key: on the loop's thread when it can be read at once."""
        rows = None if self._quick is None else self._quick.fetch_all(sql, parameters)
        return await fetch_all(self._reader, sql, parameters) if rows is None else rows

    @classmethod
    async def open(cls, path: str | Path, *, mapped: bool = False) -> SqliteStore:
        """Open (creating the file and its folder if needed) and migrate the database at `path`; with `mapped` the
        reads go through a memory map of the file (for a process that reads much once: see `MMAP_BYTES`)."""
        location = prepare(path)
        try:
            writer = await connect(location)
        except sqlite3.Error as exc:
            raise StoreError(
                f"Cannot open the database at {location!r}: {exc}. Check the path and its permissions."
            ) from exc
        try:
            await migrate(writer, location)
            # A ":memory:" database exists only inside its one connection, so it reads through the writer.
            reader = writer if location == ":memory:" else await connect(location, mapped=mapped)
        except BaseException:
            await writer.close()
            raise
        return cls(location, writer, reader)

    async def close(self) -> None:
        """Close both connections."""
        if self._quick is not None:
            self._quick.close()
        if self._reader is not self._writer:
            await self._reader.close()
        await self._writer.close()

    @property
    def reader(self) -> aiosqlite.Connection:
        """The read connection (committed data only), for maintenance that inspects the file (`maintenance`)."""
        return self._reader

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

    # -- the embedder the stored vectors belong to ------------------------------------------------

    async def embedder_id(self) -> str | None:
        """The id of the embedder whose vectors the database holds, None before the first write."""
        rows = await fetch_all(self._reader, "SELECT value FROM settings WHERE key = ?", (_rows.EMBEDDER_KEY,))
        return str(rows[0][0]) if rows else None

    async def set_embedder_id(self, embedder_id: str) -> None:
        """Record which embedder made the stored vectors."""
        async with self._transaction() as db:
            await _set(db, _rows.EMBEDDER_KEY, embedder_id)

    async def rewrite_vectors(
        self, embedder_id: str, dim: int, embed: Callable[[Sequence[str]], Awaitable[Matrix]], batch_size: int
    ) -> None:
        """Re-embed every text and replace the vectors and the embedder id in one transaction (never mixed).

        The texts are read through the reader connection, which sees the data as committed before.
        """
        async with self._transaction() as db, self._reader.execute("SELECT id, text FROM memories ORDER BY id") as rows:
            while batch := await rows.fetchmany(batch_size):
                vectors = await embed([text for _, text in batch])
                await db.executemany(
                    "UPDATE memories SET embedding = ? WHERE id = ?",
                    [(encode_vector(vector), memory_id) for (memory_id, _), vector in zip(batch, vectors, strict=True)],
                )
            await _set(db, _rows.EMBEDDER_KEY, embedder_id)

    # -- writes -----------------------------------------------------------------------------------

    async def insert_many(self, rows: Sequence[Row]) -> set[MemoryId]:
        """Store new memories (a trigger adds their ADD history rows) in one transaction; returns the ids stored.

        The terms are not kept: the in-memory index analyses texts itself. A memory whose scope already
        holds the same normalised text (the content hash) is skipped, not an error: the caller looks the
        existing one up.
        """
        if not rows:
            return set()
        async with self._transaction(single_statement=len(rows) == 1) as db:
            cursor = await db.executemany(_INSERT, [_values(row) for row in rows])
            if cursor.rowcount == len(rows):
                return {row.memory.id for row in rows}
            stored: set[MemoryId] = set()
            for chunk, marks in chunks([row.memory.id for row in rows]):
                present = await fetch_all(db, f"SELECT id FROM memories WHERE id IN ({marks})", chunk)
                stored.update(MemoryId(row[0]) for row in present)
            return stored

    async def replace(self, old: Memory, new: Row) -> None:
        """Overwrite text, metadata and vector of `old` and record an UPDATE."""
        updated = new.memory
        try:
            async with self._transaction() as db:
                await db.execute(
                    "UPDATE memories SET text = ?, metadata = ?, content_hash = ?, embedding = ?, updated_at = ?,"
                    " entities = ?, entity_keys = ? WHERE id = ? AND user_id = ?",
                    (
                        updated.text,
                        _rows.dump(updated.metadata),
                        new.content_hash,
                        encode_vector(new.vector),
                        updated.updated_at,
                        _names(updated.entities),
                        _names(_rows.entity_keys(updated.entities)),
                        old.id,
                        old.scope.user_id,
                    ),
                )
                await db.execute(_HISTORY_INSERT, _rows.history_row("UPDATE", updated.updated_at, old=old, new=updated))
        except sqlite3.IntegrityError as exc:
            existing = (await self.find_by_hashes(old.scope, [new.content_hash])).get(new.content_hash)
            if existing is None:
                raise
            raise DuplicateError(existing.id) from exc

    async def supersede(self, old: Memory, new: Row, link: Link) -> bool:
        """Close `old` (valid until the new memory's start, superseded by it, a SUPERSEDE history row), store
        the new one and `link` in one transaction. False, with nothing changed, when `old` was superseded
        meanwhile; DuplicateError when the new text is a current memory of the scope already."""
        return await self.insert_and_supersede([], [(old, new, link)]) is not None

    async def insert_and_supersede(
        self, rows: Sequence[Row], changes: Sequence[tuple[Memory, Row, Link]]
    ) -> set[MemoryId] | None:
        """In one transaction, each change as `supersede` makes it, then `rows` as `insert_many` stores them;
        the ids of `rows` stored, or None, with nothing changed, when an old memory is no longer current."""
        successor = None
        try:
            async with self._transaction() as db:
                for old, new, link in changes:
                    successor = new
                    await self._supersede(db, old, new, link)
                successor = None
                if rows:
                    await db.executemany(_INSERT, [_values(row) for row in rows])
                stored: set[MemoryId] = set()
                for chunk, marks in chunks([row.memory.id for row in rows]):
                    present = await fetch_all(db, f"SELECT id FROM memories WHERE id IN ({marks})", chunk)
                    stored.update(MemoryId(row[0]) for row in present)
                return stored
        except _Stale:
            return None
        except sqlite3.IntegrityError as exc:
            if successor is None:
                raise
            existing = (await self.find_by_hashes(successor.memory.scope, [successor.content_hash])).get(
                successor.content_hash
            )
            if existing is None:
                raise
            raise DuplicateError(existing.id) from exc

    @staticmethod
    async def _supersede(db: aiosqlite.Connection, old: Memory, new: Row, link: Link) -> None:
        successor = new.memory
        cursor = await db.execute(
            "UPDATE memories SET valid_to = ?, superseded_by = ?, updated_at = ?"
            " WHERE id = ? AND user_id = ? AND valid_to IS NULL",
            (successor.valid_from, successor.id, successor.created_at, old.id, old.scope.user_id),
        )
        if cursor.rowcount != 1:
            raise _Stale  # rolls the transaction back
        await db.execute(
            _HISTORY_INSERT, _rows.history_row("SUPERSEDE", successor.created_at, old=old, new=successor, of=old)
        )
        await db.execute("INSERT" + _INTO, _values(new))
        await db.execute(_LINK_INSERT, _link_values(old.scope.user_id, link))

    async def link(self, user_id: str, links: Sequence[Link]) -> int:
        """Store `links` whose two ends are memories of `user_id` (others, and ones already there, are skipped);
        returns how many were stored."""
        async with self._transaction() as db:
            before = db.total_changes
            await db.executemany(_LINK_INSERT, [_link_values(user_id, link) for link in links])
            return db.total_changes - before

    async def unlink(self, user_id: str, source_id: str, target_id: str, link_type: str | None) -> list[Link]:
        """Remove the links from `source_id` to `target_id` of `user_id` (of one type, or every type); returns them."""
        where = "user_id = ? AND source_id = ? AND target_id = ?" + ("" if link_type is None else " AND type = ?")
        params = [user_id, source_id, target_id, *([] if link_type is None else [link_type])]
        async with self._transaction() as db:
            found = await fetch_all(db, f"SELECT {_rows.LINK_COLUMNS} FROM links WHERE {where}", params)
            await db.execute(f"DELETE FROM links WHERE {where}", params)
        return [_rows.link_of(row) for row in found]

    async def links(self, user_id: str, ids: Sequence[MemoryId]) -> list[Link]:
        """The links of `user_id` that start or end at one of `ids`, oldest first."""
        found: dict[tuple[str, str, str], Link] = {}
        for chunk, marks in chunks(ids):
            for column in ("source_id", "target_id"):
                sql = f"SELECT {_rows.LINK_COLUMNS} FROM links WHERE {column} IN ({marks}) AND user_id = ?"
                for row in await fetch_all(self._reader, sql, [*chunk, user_id]):
                    found[(row[0], row[1], row[2])] = _rows.link_of(row)
        return sorted(found.values(), key=lambda link: (link.created_at, link.source_id, link.target_id, link.type))

    async def delete(self, memory: Memory, deleted_at: str) -> None:
        """Remove one memory and record a DELETE."""
        async with self._transaction() as db:
            await db.execute("DELETE FROM memories WHERE id = ? AND user_id = ?", (memory.id, memory.scope.user_id))
            await db.execute(_HISTORY_INSERT, _rows.history_row("DELETE", deleted_at, old=memory))

    async def delete_scope(self, scope: Scope, deleted_at: str) -> list[MemoryId]:
        """Remove every memory `scope` can see, recording a DELETE for each; returns their ids."""
        where, params = _rows.scope_where(scope, mark, own=True)
        async with self._transaction() as db:
            ids = [MemoryId(row[0]) for row in await fetch_all(db, f"SELECT id FROM memories WHERE {where}", params)]
            await db.execute(
                f"INSERT INTO history (memory_id, {_rows.SCOPE_COLUMNS}, event, old_text, old_metadata, created_at)"
                f" SELECT id, {_rows.SCOPE_COLUMNS}, 'DELETE', text, metadata, ? FROM memories WHERE {where}",
                [deleted_at, *params],
            )
            await db.execute(f"DELETE FROM memories WHERE {where}", params)
        return ids

    async def restore(self, rows: Sequence[Row], history: Mapping[MemoryId, Sequence[HistoryEntry]]) -> set[MemoryId]:
        """Store memories exactly as given (ids, timestamps, history) in one transaction; returns the ids stored.

        A memory whose id exists, or whose scope already holds the same text, is skipped. One with a
        history gets that history instead of the ADD row the database would write for it.
        """
        stored: set[MemoryId] = set()
        async with self._transaction() as db:
            for row in rows:  # one by one: which were stored decides whose history is written
                memory = row.memory
                cursor = await db.execute(_RESTORE, _values(row))
                if cursor.rowcount != 1:
                    continue
                stored.add(memory.id)
                entries = history.get(memory.id)
                if entries:
                    await db.execute(
                        "DELETE FROM history WHERE memory_id = ? AND user_id = ?", (memory.id, memory.scope.user_id)
                    )
                    await db.executemany(_HISTORY_INSERT, _rows.history_values(memory, entries))
        return stored

    # -- reads ------------------------------------------------------------------------------------

    async def get(self, scope: Scope, memory_id: str) -> Memory | None:
        """The memory with this id if `scope` can see it."""
        where, params = _rows.scope_where(scope, mark)
        rows = await self._few(f"SELECT {_rows.COLUMNS} FROM memories WHERE id = ? AND {where}", [memory_id, *params])
        return _rows.memory_of(rows[0]) if rows else None

    async def get_many(self, scope: Scope, ids: Sequence[MemoryId]) -> dict[MemoryId, Memory]:
        """The memories among `ids` that `scope` can see, by id."""
        where, params = _rows.scope_where(scope, mark)
        # "+user_id" keeps SQLite on the primary key: with the user index it would scan all of the user's rows.
        found: dict[MemoryId, Memory] = {}
        for chunk, marks in chunks(ids):
            sql = f"SELECT {_rows.COLUMNS} FROM memories WHERE id IN ({marks}) AND +{where}"
            values = [*chunk, *params]
            rows = await (self._few(sql, values) if len(chunk) <= _FEW else fetch_all(self._reader, sql, values))
            for row in rows:
                memory = _rows.memory_of(row)
                found[memory.id] = memory
        return found

    async def find_by_hashes(self, scope: Scope, hashes: Sequence[str]) -> dict[str, Memory]:
        """The memories of exactly this scope whose normalised text has one of these hashes, by hash."""
        found: dict[str, Memory] = {}
        for chunk, marks in chunks(hashes):
            sql = (
                f"SELECT content_hash, {_rows.COLUMNS} FROM memories WHERE user_id = ? AND agent_id = ? AND run_id = ?"
                f" AND project = ? AND content_hash IN ({marks}) AND valid_to IS NULL"
            )
            for row in await fetch_all(self._reader, sql, [*_rows.exact(scope), *chunk]):
                found[row[0]] = _rows.memory_of(row[1:])
        return found

    async def ids_starting(self, scope: Scope, prefix: str, limit: int) -> list[MemoryId]:
        """Up to `limit` ids of memories `scope` can see that start with `prefix`, sorted (a key range scan)."""
        where, params = _rows.scope_where(scope, mark)
        rows = await fetch_all(
            self._reader,
            f"SELECT id FROM memories WHERE id >= ? AND id < ? AND {where} ORDER BY id LIMIT ?",
            [prefix, prefix + "\U0010ffff", *params, limit],
        )
        return [MemoryId(row[0]) for row in rows]

    async def page(self, scope: Scope, after: Cursor | None, limit: int, validity: Validity = CURRENT) -> list[Memory]:
        """Up to `limit` memories of `scope` and `validity`, newest first, strictly after the cursor position."""
        where, params = _where(scope, validity)
        if after is not None:
            where += " AND (created_at, id) < (?, ?)"
            params = [*params, *after]
        rows = await fetch_all(
            self._reader,
            f"SELECT {_rows.COLUMNS} FROM memories WHERE {where} ORDER BY created_at DESC, id DESC LIMIT ?",
            [*params, limit],
        )
        return [_rows.memory_of(row) for row in rows]

    async def listing(
        self,
        scope: Scope,
        where: Filter | None = None,
        validity: Validity = CURRENT,
        entity: str | None = None,
    ) -> list[Listed]:
        """Every memory of `scope` and `validity` (naming `entity`, by its key, when given), newest first;
        `where` is left to the engine."""
        own, params = _where(scope, validity)
        if entity is not None:  # through the entity index: the memories of the user that name it
            own += " AND id IN (SELECT memory_id FROM memory_entities WHERE user_id = ? AND entity_key = ?)"
            params = [*params, scope.user_id, entity]
        rows = await fetch_all(
            self._reader,
            f"SELECT {_rows.LISTED_COLUMNS} FROM memories WHERE {own} ORDER BY created_at DESC, id DESC",
            params,
        )
        return [_rows.listed_of(row) for row in rows]

    async def count(self, scope: Scope, validity: Validity = CURRENT) -> int:
        """How many memories of `validity` `scope` can see."""
        where, params = _where(scope, validity)
        rows = await fetch_all(self._reader, f"SELECT count(*) FROM memories WHERE {where}", params)
        return int(rows[0][0])

    async def count_all(self) -> int:
        """How many memories the database holds, all users together."""
        rows = await fetch_all(self._reader, "SELECT count(*) FROM memories")
        return int(rows[0][0])

    async def history(self, scope: Scope, memory_id: str) -> list[HistoryEntry]:
        """The changes of one memory `scope` can see, oldest first (kept after the memory is deleted)."""
        where, params = _rows.scope_where(scope, mark)
        rows = await fetch_all(
            self._reader,
            f"SELECT {_rows.HISTORY_COLUMNS} FROM history WHERE memory_id = ? AND {where} ORDER BY seq",
            [memory_id, *params],
        )
        return [_rows.history_entry_of(row) for row in rows]

    async def summaries(self, user_id: str | None = None) -> list[UserSummary]:
        """Per user (or for one user): memory count, oldest and newest, distinct agents and runs."""
        sql = _rows.summaries_sql("memories", mark, by_user=user_id is not None)
        rows = await fetch_all(self._reader, sql, [] if user_id is None else [user_id])
        return [UserSummary(*row) for row in rows]

    async def iter_records(
        self, scope: Scope | None, *, vectors: bool = False, history: bool = False, batch_size: int = 500
    ) -> AsyncGenerator[list[MemoryRecord], None]:
        """Every memory of `scope` (None: of every user), oldest first, optionally with vector and history."""
        async with contextlib.aclosing(self._pages(scope, vectors, history, batch_size)) as pages:
            async for rows, outgoing, changes in pages:
                yield [
                    MemoryRecord(
                        _rows.memory_of(row[:-1]),
                        decode_vector(row[-1]) if vectors else None,
                        tuple(changes.get(row[0], ())),
                        tuple(outgoing.get(row[0], ())),
                    )
                    for row in rows
                ]

    async def iter_plain(
        self, scope: Scope | None, *, batch_size: int = 500
    ) -> AsyncGenerator[list[PlainMemory], None]:
        """What `iter_records` gives without vectors and history, as plain values (for an export's lines)."""
        async with contextlib.aclosing(self._pages(scope, False, False, batch_size)) as pages:
            async for rows, outgoing, _ in pages:
                yield [PlainMemory(_rows.plain_of(row[:-1]), tuple(outgoing.get(row[0], ()))) for row in rows]

    async def _pages(
        self, scope: Scope | None, vectors: bool, history: bool, batch_size: int
    ) -> AsyncGenerator[tuple[list[Any], dict[str, list[Link]], dict[str, list[HistoryEntry]]], None]:
        """The rows of `scope`'s memories, oldest first, a batch at a time, with the links starting at each and (with
        `history`) each one's changes."""
        where, params = _rows.scope_where(scope, mark) if scope is not None else ("1", [])
        vector = "embedding" if vectors else "NULL"  # vectors are most of a row: read only when asked for
        async with self._reader.execute(
            f"SELECT {_rows.COLUMNS}, {vector} FROM memories WHERE {where} ORDER BY user_id, created_at, id", params
        ) as cursor:
            while batch := await cursor.fetchmany(batch_size):
                rows = list(batch)
                changes: dict[str, list[HistoryEntry]] = {}
                outgoing: dict[str, list[Link]] = {}
                for chunk, marks in chunks([row[0] for row in rows]):
                    sql = f"SELECT {_rows.LINK_COLUMNS} FROM links WHERE source_id IN ({marks}) ORDER BY created_at"
                    for found in await fetch_all(self._reader, sql, chunk):
                        outgoing.setdefault(found[0], []).append(_rows.link_of(found))
                if history:
                    for chunk, marks in chunks([row[0] for row in rows]):
                        sql = f"SELECT {_rows.HISTORY_COLUMNS} FROM history WHERE memory_id IN ({marks}) ORDER BY seq"
                        for entry in await fetch_all(self._reader, sql, chunk):
                            changes.setdefault(entry[0], []).append(_rows.history_entry_of(entry))
                yield rows, outgoing, changes

    # -- the change feed of an in-process index ---------------------------------------------------

    async def iter_index_rows(self, batch_size: int = 10_000) -> AsyncIterator[IndexRows]:
        """Every memory's id, scope, vector and text, in batches (start-up fills the index from this)."""
        async with self._reader.execute(f"SELECT {_INDEX_COLUMNS} FROM memories") as cursor:
            while rows := await cursor.fetchmany(batch_size):
                yield _index_rows(list(rows))

    async def last_change(self) -> int:
        """The sequence number of the newest history row: it grows with every committed change, from any process."""
        # A bare max() of the primary key is one b-tree lookup; wrapped in coalesce() SQLite would scan the table.
        rows = await self._few("SELECT max(seq) FROM history", ())
        return int(rows[0][0]) if rows and rows[0][0] is not None else 0

    async def changed_since(self, seq: int, limit: int = 10_000) -> list[tuple[int, MemoryId, str]]:
        """(sequence number, memory id, time) of the changes after `seq`, oldest first, at most `limit`."""
        rows = await fetch_all(
            self._reader,
            "SELECT seq, memory_id, created_at FROM history WHERE seq > ? ORDER BY seq LIMIT ?",
            (seq, limit),
        )
        return [(int(number), MemoryId(memory_id), stamp) for number, memory_id, stamp in rows]

    async def iter_vectors(self, batch_size: int = 50_000) -> AsyncIterator[tuple[list[MemoryId], Matrix]]:
        """Every memory's id and vector, in batches (a restart from an index snapshot places these)."""
        async with self._reader.execute("SELECT id, embedding FROM memories") as cursor:
            while batch := await cursor.fetchmany(batch_size):
                rows = list(batch)
                blobs = [row[1] for row in rows]
                width = len(blobs[0])
                if any(len(blob) != width for blob in blobs) or width % 4:
                    raise StoreError("Stored vectors differ in length; start with --reembed to re-embed them.")
                vectors: Matrix = np.frombuffer(b"".join(blobs), dtype="<f4").reshape(len(rows), width // 4)
                yield [MemoryId(row[0]) for row in rows], vectors

    async def save_snapshot(self, seq: int, meta: dict[str, Any], parts: Sequence[bytes]) -> None:
        """Replace the index snapshot: `parts` reflect every change up to history row `seq`."""
        async with self._transaction() as db:
            await db.execute("DELETE FROM index_snapshot")
            await db.executemany("INSERT INTO index_snapshot (part, data) VALUES (?, ?)", list(enumerate(parts)))
            await _set(db, SNAPSHOT_KEY, json.dumps({**meta, "seq": seq, "parts": len(parts)}))

    async def drop_snapshot(self) -> None:
        """Delete the index snapshot (the next start builds the index from the texts)."""
        async with self._transaction() as db:
            await db.execute("DELETE FROM index_snapshot")
            await db.execute("DELETE FROM settings WHERE key = ?", (SNAPSHOT_KEY,))

    async def load_snapshot(self) -> tuple[int, dict[str, Any], list[bytes]] | None:
        """The index snapshot (sequence number, what made it, its parts), None when there is none or it is torn."""
        found = await fetch_all(self._reader, "SELECT value FROM settings WHERE key = ?", (SNAPSHOT_KEY,))
        if not found:
            return None
        meta: dict[str, Any] = json.loads(found[0][0])
        parts = [row[0] for row in await fetch_all(self._reader, "SELECT data FROM index_snapshot ORDER BY part")]
        if len(parts) != meta.get("parts"):
            return None
        return int(meta["seq"]), meta, parts

    async def index_rows(self, ids: Sequence[MemoryId]) -> IndexRows:
        """Id, scope, vector and text of those of `ids` that exist now (any user: for the index only)."""
        found: list[sqlite3.Row] = []
        for chunk, marks in chunks(ids):
            found += await fetch_all(
                self._reader, f"SELECT {_INDEX_COLUMNS} FROM memories WHERE id IN ({marks})", chunk
            )
        return _index_rows(found)


def _where(scope: Scope, validity: Validity) -> tuple[str, list[str]]:
    """The WHERE clause of the memories of `scope` and `validity`, with its parameters."""
    own, params = _rows.scope_where(scope, mark)
    valid, more = _rows.validity_where(validity, mark, len(params) + 1)
    return f"{own} AND {valid}", [*params, *more]


async def _set(db: aiosqlite.Connection, key: str, value: str) -> None:
    """Write one row of the settings table."""
    await db.execute(
        "INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        (key, value),
    )
