"""PostgresStore: memories, history and hybrid search in PostgreSQL with pgvector, shared by many servers.

One class, one method per `MemoryStore` operation: the SQL of search and filters, accounts, migrations and
the pool already live in modules of their own; what is left shares the connection and transaction rules.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping, Sequence
from typing import Any, Final, Self

import numpy as np

from ...errors import DuplicateError
from ...filters import Filter
from ...models import (
    CURRENT,
    Cursor,
    HistoryEntry,
    IndexHit,
    Link,
    Listed,
    Matrix,
    Meaning,
    Memory,
    MemoryId,
    MemoryRecord,
    PlainMemory,
    Query,
    Row,
    Scope,
    UserSummary,
    Validity,
)
from .. import _rows
from .accounts import PostgresAccounts
from .connection import Connections, is_unique_violation, vector_of, vector_text
from .filter_sql import filter_sql
from .migrations import SCHEMA, migrate, set_setting
from .search_sql import search

logger = logging.getLogger(__name__)


def _mark(position: int) -> str:
    return f"${position}"


_INSERT: Final = (
    f"INSERT INTO {SCHEMA}.memories ({_rows.INSERT_COLUMNS}, terms)"
    f" VALUES ({_rows.placeholders(_mark, _rows.INSERT_COUNT + 1)})"
)
_LINK_INSERT: Final = (
    f"INSERT INTO {SCHEMA}.links (user_id, {_rows.LINK_COLUMNS}) SELECT $1, $2, $3, $4, $5, $6"
    f" WHERE EXISTS (SELECT 1 FROM {SCHEMA}.memories WHERE id = $2 AND user_id = $1)"
    f" AND EXISTS (SELECT 1 FROM {SCHEMA}.memories WHERE id = $3 AND user_id = $1)"
    " ON CONFLICT (source_id, target_id, type) DO NOTHING"
)
_HISTORY_INSERT: Final = (
    f"INSERT INTO {SCHEMA}.history ({_rows.HISTORY_INSERT_COLUMNS}) VALUES ({_rows.placeholders(_mark, 11)})"
)


def _values(row: Row) -> tuple[Any, ...]:
    """The values of `_INSERT` for one memory: the shared columns, then its search terms."""
    return (*_rows.insert_values(row, np.asarray(row.vector, dtype=np.float32), list), list(row.terms))


def _link_values(user_id: str, link: Link) -> tuple[Any, ...]:
    """The values of `_LINK_INSERT`: stored only when both ends are memories of `user_id`."""
    return (user_id, link.source_id, link.target_id, link.type, _rows.dump(link.metadata), link.created_at)


async def _insert_rows(db: Any, rows: Sequence[Row]) -> set[MemoryId]:
    """Insert `rows` on connection `db`, skipping texts their scope already holds; the ids stored."""
    if not rows:
        return set()
    # Through unnest, vectors travel as pgvector text and terms as one space-separated string each.
    values = [
        (*v[:8], vector_text(v[8]), *v[9:14], json.dumps(v[14]), json.dumps(v[15]), " ".join(v[16]))
        for v in map(_values, rows)
    ]
    columns = [list(column) for column in zip(*values, strict=True)]
    stored = await db.fetch(
        f"INSERT INTO {SCHEMA}.memories ({_rows.INSERT_COLUMNS}, terms)"
        " SELECT id, user_id, agent_id, run_id, project, text, metadata, content_hash, embedding::vector,"
        " created_at, updated_at, valid_from, valid_to, superseded_by,"
        " ARRAY(SELECT jsonb_array_elements_text(entities::jsonb)),"
        " ARRAY(SELECT jsonb_array_elements_text(entity_keys::jsonb)), string_to_array(terms, ' ')"
        f" FROM unnest({', '.join(f'${n}::text[]' for n in range(1, _rows.INSERT_COUNT + 2))})"
        f" AS t ({_rows.INSERT_COLUMNS}, terms)"
        f" ON CONFLICT {_rows.CURRENT_HASH} DO NOTHING RETURNING id",
        *columns,
    )
    return {MemoryId(row["id"]) for row in stored}


class _Stale(Exception):
    """Raised inside a transaction to roll it back: the memory to supersede is no longer current."""


def _where(scope: Scope, validity: Validity, first: int = 1) -> tuple[str, list[str]]:
    """The WHERE clause of the memories of `scope` and `validity`, with its parameters from `first`."""
    own, params = _rows.scope_where(scope, _mark, first)
    valid, more = _rows.validity_where(validity, _mark, first + len(params))
    return f"{own} AND {valid}", [*params, *more]


class PostgresStore(PostgresAccounts):
    """The source of truth in PostgreSQL, and its search: nothing is cached, so every server sees every write.

    Memories live in the `memory_mcp` schema of the database. Search runs in SQL: BM25 over the analysed
    terms (a GIN index finds the rows) fused with cosine similarity (pgvector; exact for small scopes,
    HNSW for large ones), with the same formula as the in-memory index.
    """

    def __init__(self, url: str, connections: Connections, dim: int) -> None:
        self.url = url
        self.dim = dim
        self.db = connections

    @classmethod
    async def open(cls, url: str, *, dim: int, min_size: int, max_size: int) -> PostgresStore:
        """Connect through a pool of `min_size` to `max_size` connections and migrate the schema.

        `dim` is the vector length of a new database; an existing one keeps the length it was made with.
        """
        connections = await Connections.open(url, min_size=min_size, max_size=max_size)
        store = cls(url, connections, dim)
        try:
            await migrate(connections, dim)
            store.dim = await connections.read(  # the stored vectors' length, which a re-embedding may change
                lambda db: db.fetchval(
                    "SELECT atttypmod FROM pg_attribute WHERE attrelid = $1::regclass AND attname = 'embedding'",
                    f"{SCHEMA}.memories",
                )
            )
        except BaseException:
            await connections.close()
            raise
        return store

    async def close(self) -> None:
        """Close the connection pool."""
        await self.db.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    # -- the embedder the stored vectors belong to --------------------------------------------------

    async def embedder_id(self) -> str | None:
        """The id of the embedder whose vectors the database holds, None before the first write."""
        value = await self.db.read(
            lambda db: db.fetchval(f"SELECT value FROM {SCHEMA}.settings WHERE key = $1", _rows.EMBEDDER_KEY)
        )
        return None if value is None else str(value)

    async def set_embedder_id(self, embedder_id: str) -> None:
        """Record which embedder made the stored vectors."""
        await self.db.write(lambda db: set_setting(db, _rows.EMBEDDER_KEY, embedder_id))

    async def rewrite_vectors(
        self, embedder_id: str, dim: int, embed: Callable[[Sequence[str]], Awaitable[Matrix]], batch_size: int
    ) -> None:
        """Re-embed every text and replace the vectors and the embedder id in one transaction.

        Texts are read batch by batch in the same transaction, so no more than one batch of vectors is held
        in memory. When the length changes, the column is retyped first and the HNSW index rebuilt after.
        Not retried: `embed` may not be safe to repeat.
        """
        resized = dim != self.dim
        async with self.db.transaction() as db:
            if resized:
                await db.execute(f"DROP INDEX IF EXISTS {SCHEMA}.memories_embedding")
                await db.execute(f"ALTER TABLE {SCHEMA}.memories ALTER COLUMN embedding DROP NOT NULL")
                await db.execute(f"UPDATE {SCHEMA}.memories SET embedding = NULL")
                await db.execute(f"ALTER TABLE {SCHEMA}.memories ALTER COLUMN embedding TYPE vector({dim})")
            after = ""
            select = f"SELECT id, text FROM {SCHEMA}.memories WHERE id > $1 ORDER BY id LIMIT $2"
            while batch := await db.fetch(select, after, batch_size):
                vectors = await embed([row["text"] for row in batch])
                await db.executemany(
                    f"UPDATE {SCHEMA}.memories SET embedding = $1 WHERE id = $2",
                    [
                        (np.asarray(vector, dtype=np.float32), row["id"])
                        for row, vector in zip(batch, vectors, strict=True)
                    ],
                )
                after = batch[-1]["id"]
            await db.execute(
                f"""UPDATE {SCHEMA}.scope_stats AS s SET embedding_sum = (
                        SELECT sum(embedding) FROM {SCHEMA}.memories AS m WHERE m.user_id = s.user_id
                        AND m.agent_id = s.agent_id AND m.run_id = s.run_id AND m.project = s.project)"""
            )  # the sums of the new vectors (the trigger could not follow a change of length)
            if resized:
                await db.execute(f"ALTER TABLE {SCHEMA}.memories ALTER COLUMN embedding SET NOT NULL")
                await db.execute(
                    f"CREATE INDEX memories_embedding ON {SCHEMA}.memories USING hnsw (embedding vector_cosine_ops)"
                )
            await set_setting(db, _rows.EMBEDDER_KEY, embedder_id)
        self.dim = dim

    # -- writes -------------------------------------------------------------------------------------

    async def insert_many(self, rows: Sequence[Row]) -> set[MemoryId]:
        """Store new memories in one transaction, skipping texts their scope already holds; returns the ids stored."""
        if not rows:
            return set()
        return await self.db.write(lambda db: _insert_rows(db, rows))

    async def replace(self, old: Memory, new: Row) -> None:
        """Overwrite text, metadata and vector of `old` and record an UPDATE."""
        updated = new.memory

        async def work(db: Any) -> None:
            await db.execute(
                f"UPDATE {SCHEMA}.memories SET text = $1, metadata = $2, content_hash = $3, embedding = $4,"
                " terms = $5, updated_at = $6, entities = $9, entity_keys = $10 WHERE id = $7 AND user_id = $8",
                updated.text,
                _rows.dump(updated.metadata),
                new.content_hash,
                np.asarray(new.vector, dtype=np.float32),
                list(new.terms),
                updated.updated_at,
                old.id,
                old.scope.user_id,
                list(updated.entities),
                _rows.entity_keys(updated.entities),
            )
            await db.execute(_HISTORY_INSERT, *_rows.history_row("UPDATE", updated.updated_at, old=old, new=updated))

        try:
            await self.db.write(work)
        except Exception as exc:
            if not is_unique_violation(exc):
                raise
            existing = (await self.find_by_hashes(old.scope, [new.content_hash])).get(new.content_hash)
            raise DuplicateError(existing.id if existing else old.id) from exc

    async def supersede(self, old: Memory, new: Row, link: Link) -> bool:
        """Close `old`, store the new memory and `link` in one transaction (see `MemoryStore.supersede`)."""
        return await self.insert_and_supersede([], [(old, new, link)]) is not None

    async def insert_and_supersede(
        self, rows: Sequence[Row], changes: Sequence[tuple[Memory, Row, Link]]
    ) -> set[MemoryId] | None:
        """In one transaction, each change as `supersede` makes it, then `rows` as `insert_many` stores them
        (see `MemoryStore.insert_and_supersede`)."""

        async def work(db: Any) -> set[MemoryId]:
            for old, new, link in changes:
                successor = new.memory
                closed = await db.execute(
                    f"UPDATE {SCHEMA}.memories SET valid_to = $1, superseded_by = $2, updated_at = $3"
                    " WHERE id = $4 AND user_id = $5 AND valid_to IS NULL",
                    successor.valid_from,
                    successor.id,
                    successor.created_at,
                    old.id,
                    old.scope.user_id,
                )
                if closed != "UPDATE 1":
                    raise _Stale
                await db.execute(
                    _HISTORY_INSERT,
                    *_rows.history_row("SUPERSEDE", successor.created_at, old=old, new=successor, of=old),
                )
                await db.execute(_INSERT, *_values(new))
                await db.execute(_LINK_INSERT, *_link_values(old.scope.user_id, link))
            return await _insert_rows(db, rows)

        try:
            return await self.db.write(work)
        except _Stale:
            return None
        except Exception as exc:
            if not is_unique_violation(exc) or not changes:
                raise
            for _, new, _ in changes:
                existing = (await self.find_by_hashes(new.memory.scope, [new.content_hash])).get(new.content_hash)
                if existing is not None:
                    raise DuplicateError(existing.id) from exc
            raise

    async def link(self, user_id: str, links: Sequence[Link]) -> int:
        """Store `links` whose two ends are memories of `user_id`; returns how many were stored."""

        async def work(db: Any) -> int:
            stored = 0
            for link in links:
                stored += int((await db.execute(_LINK_INSERT, *_link_values(user_id, link))).split()[-1])
            return stored

        return await self.db.write(work)

    async def unlink(self, user_id: str, source_id: str, target_id: str, link_type: str | None) -> list[Link]:
        """Remove the links of `user_id` from `source_id` to `target_id` (one type, or all); returns them."""
        sql = (
            f"DELETE FROM {SCHEMA}.links WHERE user_id = $1 AND source_id = $2 AND target_id = $3"
            f" AND ($4::text IS NULL OR type = $4) RETURNING {_rows.LINK_COLUMNS}"
        )
        rows = await self.db.write(lambda db: db.fetch(sql, user_id, source_id, target_id, link_type))
        return [_rows.link_of(row) for row in rows]

    async def links(self, user_id: str, ids: Sequence[MemoryId]) -> list[Link]:
        """The links of `user_id` that start or end at one of `ids`, oldest first."""
        if not ids:
            return []
        sql = (
            f"SELECT {_rows.LINK_COLUMNS} FROM {SCHEMA}.links WHERE user_id = $1 AND source_id = ANY($2::text[])"
            f" UNION SELECT {_rows.LINK_COLUMNS} FROM {SCHEMA}.links WHERE user_id = $1 AND target_id = ANY($2::text[])"
            " ORDER BY created_at, source_id, target_id, type"
        )
        rows = await self.db.read(lambda db: db.fetch(sql, user_id, list(ids)))
        return [_rows.link_of(row) for row in rows]

    async def delete(self, memory: Memory, deleted_at: str) -> None:
        """Remove one memory and record a DELETE."""

        async def work(db: Any) -> None:
            await db.execute(
                f"DELETE FROM {SCHEMA}.memories WHERE id = $1 AND user_id = $2", memory.id, memory.scope.user_id
            )
            await db.execute(_HISTORY_INSERT, *_rows.history_row("DELETE", deleted_at, old=memory))

        await self.db.write(work)

    async def delete_scope(self, scope: Scope, deleted_at: str) -> list[MemoryId]:
        """Remove every memory `scope` can see, recording a DELETE for each; returns their ids."""
        where, params = _rows.scope_where(scope, _mark, 2, own=True)

        async def work(db: Any) -> list[MemoryId]:
            rows = await db.fetch(
                f"WITH gone AS (DELETE FROM {SCHEMA}.memories WHERE {where}"
                f" RETURNING id, {_rows.SCOPE_COLUMNS}, text, metadata)"
                f" INSERT INTO {SCHEMA}.history (memory_id, {_rows.SCOPE_COLUMNS}, event, old_text, old_metadata,"
                f" created_at) SELECT id, {_rows.SCOPE_COLUMNS}, 'DELETE', text, metadata, $1 FROM gone"
                " RETURNING memory_id",
                deleted_at,
                *params,
            )
            return [MemoryId(row["memory_id"]) for row in rows]

        return await self.db.write(work)

    async def restore(self, rows: Sequence[Row], history: Mapping[MemoryId, Sequence[HistoryEntry]]) -> set[MemoryId]:
        """Store memories exactly as given (ids, timestamps, history) in one transaction; returns the ids stored."""

        async def work(db: Any) -> set[MemoryId]:
            stored: set[MemoryId] = set()
            for row in rows:
                memory = row.memory
                if await db.fetchval(_INSERT + " ON CONFLICT DO NOTHING RETURNING id", *_values(row)) is None:
                    continue
                stored.add(memory.id)
                entries = history.get(memory.id)
                if entries:
                    await db.execute(
                        f"DELETE FROM {SCHEMA}.history WHERE memory_id = $1 AND user_id = $2",
                        memory.id,
                        memory.scope.user_id,
                    )
                    await db.executemany(_HISTORY_INSERT, _rows.history_values(memory, entries))
            return stored

        return await self.db.write(work)

    # -- reads --------------------------------------------------------------------------------------

    async def get(self, scope: Scope, memory_id: str) -> Memory | None:
        """The memory with this id if `scope` can see it."""
        where, params = _rows.scope_where(scope, _mark, 2)
        sql = f"SELECT {_rows.COLUMNS} FROM {SCHEMA}.memories WHERE id = $1 AND {where}"
        row = await self.db.read(lambda db: db.fetchrow(sql, memory_id, *params))
        return None if row is None else _rows.memory_of(row)

    async def get_many(self, scope: Scope, ids: Sequence[MemoryId]) -> dict[MemoryId, Memory]:
        """The memories among `ids` that `scope` can see, by id."""
        if not ids:
            return {}
        where, params = _rows.scope_where(scope, _mark, 2)
        sql = f"SELECT {_rows.COLUMNS} FROM {SCHEMA}.memories WHERE id = ANY($1::text[]) AND {where}"
        rows = await self.db.read(lambda db: db.fetch(sql, list(ids), *params))
        return {MemoryId(row["id"]): _rows.memory_of(row) for row in rows}

    async def find_by_hashes(self, scope: Scope, hashes: Sequence[str]) -> dict[str, Memory]:
        """The memories of exactly this scope whose normalised text has one of these hashes, by hash."""
        sql = (
            f"SELECT content_hash, {_rows.COLUMNS} FROM {SCHEMA}.memories"
            " WHERE user_id = $1 AND agent_id = $2 AND run_id = $3 AND project = $4 AND content_hash = ANY($5::text[])"
            " AND valid_to IS NULL"
        )
        rows = await self.db.read(lambda db: db.fetch(sql, *_rows.exact(scope), list(hashes)))
        return {row["content_hash"]: _rows.memory_of(list(row.values())[1:]) for row in rows}

    async def ids_starting(self, scope: Scope, prefix: str, limit: int) -> list[MemoryId]:
        """Up to `limit` ids of memories `scope` can see that start with `prefix`, sorted."""
        where, params = _rows.scope_where(scope, _mark, 3)
        sql = f'SELECT id FROM {SCHEMA}.memories WHERE starts_with(id, $1) AND {where} ORDER BY id COLLATE "C" LIMIT $2'
        rows = await self.db.read(lambda db: db.fetch(sql, prefix, limit, *params))
        return [MemoryId(row["id"]) for row in rows]

    async def page(self, scope: Scope, after: Cursor | None, limit: int, validity: Validity = CURRENT) -> list[Memory]:
        """Up to `limit` memories of `scope` and `validity`, newest first, strictly after the cursor position."""
        where, params = _where(scope, validity)
        if after is not None:
            where += f" AND (created_at, id) < (${len(params) + 1}, ${len(params) + 2})"
            params = [*params, *after]
        sql = (
            f"SELECT {_rows.COLUMNS} FROM {SCHEMA}.memories WHERE {where}"
            f" ORDER BY created_at DESC, id DESC LIMIT ${len(params) + 1}"
        )
        rows = await self.db.read(lambda db: db.fetch(sql, *params, limit))
        return [_rows.memory_of(row) for row in rows]

    async def listing(
        self,
        scope: Scope,
        where: Filter | None = None,
        validity: Validity = CURRENT,
        entity: str | None = None,
    ) -> list[Listed]:
        """The memories of `scope` and `validity` that `where` matches (at least) and that name `entity` (a key;
        through the GIN index), newest first."""
        own, params = _where(scope, validity)
        if entity is not None:
            params = [*params, entity]
            own += f" AND entity_keys @> ARRAY[${len(params)}]::text[]"
        narrowing, extra = ("TRUE", []) if where is None else filter_sql(where, len(params) + 1)
        sql = (
            f"SELECT {_rows.LISTED_COLUMNS} FROM {SCHEMA}.memories"
            f" WHERE {own} AND {narrowing} ORDER BY created_at DESC, id DESC"
        )
        rows = await self.db.read(lambda db: db.fetch(sql, *params, *extra))
        return [_rows.listed_of(row) for row in rows]

    async def count(self, scope: Scope, validity: Validity = CURRENT) -> int:
        """How many memories of `validity` `scope` can see."""
        where, params = _where(scope, validity)
        sql = f"SELECT count(*) FROM {SCHEMA}.memories WHERE {where}"
        return int(await self.db.read(lambda db: db.fetchval(sql, *params)))

    async def count_all(self) -> int:
        """How many memories the database holds, all users together."""
        return int(await self.db.read(lambda db: db.fetchval(f"SELECT count(*) FROM {SCHEMA}.memories")))

    async def history(self, scope: Scope, memory_id: str) -> list[HistoryEntry]:
        """The changes of one memory `scope` can see, oldest first (kept after the memory is deleted)."""
        where, params = _rows.scope_where(scope, _mark, 2)
        sql = f"SELECT {_rows.HISTORY_COLUMNS} FROM {SCHEMA}.history WHERE memory_id = $1 AND {where} ORDER BY seq"
        rows = await self.db.read(lambda db: db.fetch(sql, memory_id, *params))
        return [_rows.history_entry_of(row) for row in rows]

    async def summaries(self, user_id: str | None = None) -> list[UserSummary]:
        """Per user (or for one user): memory count, oldest and newest, distinct agents and runs."""
        sql = _rows.summaries_sql(f"{SCHEMA}.memories", _mark, by_user=user_id is not None)
        rows = await self.db.read(lambda db: db.fetch(sql, *([] if user_id is None else [user_id])))
        return [UserSummary(*row) for row in rows]

    async def iter_records(
        self, scope: Scope | None, *, vectors: bool = False, history: bool = False, batch_size: int = 1_000
    ) -> AsyncGenerator[list[MemoryRecord], None]:
        """Every memory of `scope` (None: of every user), oldest first, optionally with vector and history."""
        async with contextlib.aclosing(self._pages(scope, history, batch_size)) as pages:
            async for rows, outgoing, changes in pages:
                yield [
                    MemoryRecord(
                        _rows.memory_of(list(row.values())[:-1]),
                        vector_of(row["embedding"]) if vectors else None,
                        tuple(changes.get(row["id"], ())),
                        tuple(outgoing.get(row["id"], ())),
                    )
                    for row in rows
                ]

    async def iter_plain(
        self, scope: Scope | None, *, batch_size: int = 1_000
    ) -> AsyncGenerator[list[PlainMemory], None]:
        """What `iter_records` gives without vectors and history, as plain values (for an export's lines)."""
        async with contextlib.aclosing(self._pages(scope, False, batch_size)) as pages:
            async for rows, outgoing, _ in pages:
                yield [
                    PlainMemory(_rows.plain_of(list(row.values())[:-1]), tuple(outgoing.get(row["id"], ())))
                    for row in rows
                ]

    async def _pages(
        self, scope: Scope | None, history: bool, batch_size: int
    ) -> AsyncGenerator[tuple[list[Any], dict[str, list[Link]], dict[str, list[HistoryEntry]]], None]:
        """The rows of `scope`'s memories (vectors included), oldest first, a page at a time, with the links starting
        at each and (with `history`) each one's changes."""
        where, params = _rows.scope_where(scope, _mark) if scope is not None else ("true", [])
        position = len(params)
        select = (
            f"SELECT {_rows.COLUMNS}, embedding FROM {SCHEMA}.memories WHERE {where}"
            f" AND (user_id, created_at, id) > (${position + 1}, ${position + 2}, ${position + 3})"
            f" ORDER BY user_id, created_at, id LIMIT ${position + 4}"
        )
        changed = f"SELECT {_rows.HISTORY_COLUMNS} FROM {SCHEMA}.history WHERE memory_id = ANY($1::text[]) ORDER BY seq"
        links_from = (
            f"SELECT {_rows.LINK_COLUMNS} FROM {SCHEMA}.links WHERE source_id = ANY($1::text[]) ORDER BY created_at"
        )
        after: tuple[str, str, str] = ("", "", "")
        while True:

            async def page(db: Any, after: tuple[str, str, str] = after) -> list[Any]:
                return list(await db.fetch(select, *params, *after, batch_size))

            rows = await self.db.read(page)
            if not rows:
                return
            changes: dict[str, list[HistoryEntry]] = {}
            ids = [row["id"] for row in rows]
            outgoing: dict[str, list[Link]] = {}
            for found in await self.db.read(lambda db, ids=ids: db.fetch(links_from, ids)):  # type: ignore[misc]
                outgoing.setdefault(found["source_id"], []).append(_rows.link_of(found))
            if history:
                for entry in await self.db.read(lambda db, ids=ids: db.fetch(changed, ids)):  # type: ignore[misc]
                    changes.setdefault(entry["memory_id"], []).append(_rows.history_entry_of(entry))
            yield rows, outgoing, changes
            last = rows[-1]
            after = (last["user_id"], last["created_at"], last["id"])

    # -- search -------------------------------------------------------------------------------------

    async def search(
        self,
        query: Query,
        *,
        vector_weight: float,
        min_similarity: float,
        meaning: Meaning | None = None,
    ) -> list[IndexHit]:
        """The `query.k` best matches in its scope and validity by the in-memory index's formula, computed in
        PostgreSQL.

        One statement reads the scope's BM25 statistics (counts kept per scope by a trigger, document
        frequencies through the GIN index on terms); a second scores every memory sharing a term with the
        query, plus the `k` closest by vector among the others (exactly for small scopes, through HNSW
        for large ones), and returns only the best `k`. A metadata filter (`where`) narrows both legs in
        the same statement without changing the scores (BM25 statistics stay those of the whole scope);
        when HNSW under a selective filter finds fewer than `k`, the search is repeated exactly.
        """
        return await self.db.read(
            lambda db: search(db, query, vector_weight=vector_weight, min_similarity=min_similarity, meaning=meaning),
            failure="could not search",
        )
