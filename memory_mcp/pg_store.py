"""PostgresStore: memories, history and hybrid search in PostgreSQL with pgvector, shared by many servers."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any, Final, Self, TypeVar

import numpy as np

from .errors import ConfigError, DuplicateError, StoreError
from .filters import Filter
from .index import K1, MIN_SIMILARITY, B
from .models import (
    Cursor,
    HistoryEntry,
    IndexHit,
    Memory,
    MemoryId,
    MemoryRecord,
    Metadata,
    Scope,
    UserSummary,
    Vector,
)
from .pg_filters import filter_sql
from .store import history_values

try:  # an optional backend: `pip install 'memory-mcp[postgres]'`
    import asyncpg
    from pgvector.asyncpg import register_vector
except ImportError:  # pragma: no cover - exercised only without the extra
    asyncpg = None

logger = logging.getLogger(__name__)

T = TypeVar("T")

POSTGRES_SCHEMES: Final = ("postgresql://", "postgres://")
"""URLs that select this backend."""
SCHEMA: Final = "memory_mcp"
EXACT_MAX = 10_000
"""Scopes up to this many memories are searched exactly (a scan of the scope); larger ones through HNSW.

Measured (benchmarks/postgres.py): on queries of rare words HNSW was 2x faster at 10,000 and 10x at 100,000;
on broad queries it was about 25% slower; exact keeps recall at 1 where the scan is cheap."""
EF_SEARCH: Final = 100
_RETRIES: Final = (0.1, 0.5, 2.0)  # seconds before each retry of a transient failure
_COLUMNS: Final = "id, user_id, agent_id, run_id, text, metadata, created_at, updated_at"
_HISTORY_COLUMNS: Final = "memory_id, event, old_text, new_text, old_metadata, new_metadata, created_at"
_EMBEDDER_KEY: Final = "embedder_id"
_SCHEMA_KEY: Final = "schema_version"
_LOCK: Final = 0x6D656D6F7279  # advisory lock id ("memory") held while migrating


def _migrations(dim: int) -> tuple[tuple[str, ...], ...]:
    """Numbered schema steps; the vector column takes the embedder's length."""
    return (
        (
            f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}",
            f"CREATE TABLE {SCHEMA}.settings (key text PRIMARY KEY, value text NOT NULL)",
            f"""
            CREATE TABLE {SCHEMA}.memories (
                id           text PRIMARY KEY,
                user_id      text NOT NULL,
                agent_id     text NOT NULL DEFAULT '',
                run_id       text NOT NULL DEFAULT '',
                text         text NOT NULL,
                metadata     text NOT NULL DEFAULT '{{}}',
                content_hash text NOT NULL,
                embedding    vector({dim}) NOT NULL,
                terms        text[] NOT NULL DEFAULT '{{}}',
                created_at   text NOT NULL,
                updated_at   text NOT NULL
            )
            """,
            f"CREATE UNIQUE INDEX memories_scope_hash ON {SCHEMA}.memories (user_id, agent_id, run_id, content_hash)",
            f"CREATE INDEX memories_user_newest ON {SCHEMA}.memories (user_id, created_at DESC, id DESC)",
            f"CREATE INDEX memories_terms ON {SCHEMA}.memories USING gin (terms)",
            f"CREATE INDEX memories_embedding ON {SCHEMA}.memories USING hnsw (embedding vector_cosine_ops)",
            f"""
            CREATE TABLE {SCHEMA}.history (
                seq          bigserial PRIMARY KEY,
                memory_id    text NOT NULL,
                user_id      text NOT NULL,
                agent_id     text NOT NULL DEFAULT '',
                run_id       text NOT NULL DEFAULT '',
                event        text NOT NULL CHECK (event IN ('ADD', 'UPDATE', 'DELETE')),
                old_text     text,
                new_text     text,
                old_metadata text,
                new_metadata text,
                created_at   text NOT NULL
            )
            """,
            f"CREATE INDEX history_memory ON {SCHEMA}.history (user_id, memory_id, seq)",
            f"""
            CREATE FUNCTION {SCHEMA}.memories_add_history() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                INSERT INTO {SCHEMA}.history (memory_id, user_id, agent_id, run_id, event, new_text, new_metadata,
                                              created_at)
                VALUES (NEW.id, NEW.user_id, NEW.agent_id, NEW.run_id, 'ADD', NEW.text, NEW.metadata, NEW.created_at);
                RETURN NEW;
            END $$
            """,
            f"""
            CREATE TRIGGER memories_add_history AFTER INSERT ON {SCHEMA}.memories
            FOR EACH ROW EXECUTE FUNCTION {SCHEMA}.memories_add_history()
            """,
        ),
        # 2: per-scope counts kept by the database itself, so search needs no scan for its BM25 statistics.
        (
            f"""
            CREATE TABLE {SCHEMA}.scope_stats (
                user_id  text NOT NULL,
                agent_id text NOT NULL,
                run_id   text NOT NULL,
                memories bigint NOT NULL,
                terms    bigint NOT NULL,
                PRIMARY KEY (user_id, agent_id, run_id)
            )
            """,
            f"""
            INSERT INTO {SCHEMA}.scope_stats
            SELECT user_id, agent_id, run_id, count(*), coalesce(sum(cardinality(terms)), 0)
            FROM {SCHEMA}.memories GROUP BY user_id, agent_id, run_id
            """,
            f"""
            CREATE FUNCTION {SCHEMA}.scope_stats_change() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                IF TG_OP = 'INSERT' THEN
                    INSERT INTO {SCHEMA}.scope_stats AS s
                    VALUES (NEW.user_id, NEW.agent_id, NEW.run_id, 1, cardinality(NEW.terms))
                    ON CONFLICT (user_id, agent_id, run_id)
                    DO UPDATE SET memories = s.memories + 1, terms = s.terms + excluded.terms;
                ELSIF TG_OP = 'UPDATE' THEN
                    UPDATE {SCHEMA}.scope_stats SET terms = terms + cardinality(NEW.terms) - cardinality(OLD.terms)
                    WHERE user_id = OLD.user_id AND agent_id = OLD.agent_id AND run_id = OLD.run_id;
                ELSE
                    UPDATE {SCHEMA}.scope_stats SET memories = memories - 1, terms = terms - cardinality(OLD.terms)
                    WHERE user_id = OLD.user_id AND agent_id = OLD.agent_id AND run_id = OLD.run_id;
                END IF;
                RETURN NULL;
            END $$
            """,
            f"""
            CREATE TRIGGER memories_scope_stats AFTER INSERT OR DELETE OR UPDATE OF terms ON {SCHEMA}.memories
            FOR EACH ROW EXECUTE FUNCTION {SCHEMA}.scope_stats_change()
            """,
        ),
        # 3: metadata as jsonb beside the exact text, so metadata filters run in SQL.
        (f"ALTER TABLE {SCHEMA}.memories ADD COLUMN meta jsonb GENERATED ALWAYS AS (metadata::jsonb) STORED",),
    )


SCHEMA_VERSION: Final = len(_migrations(1))


def _dump(metadata: Metadata | None) -> str | None:
    return None if metadata is None else json.dumps(metadata, ensure_ascii=False, separators=(",", ":"))


def _scope_where(scope: Scope, first: int = 1) -> tuple[str, list[str]]:
    """A WHERE clause (with numbered parameters from `first`) selecting what `scope` can see."""
    clauses, params = [f"user_id = ${first}"], [scope.user_id]
    for column, value in (("agent_id", scope.agent_id), ("run_id", scope.run_id)):
        if value is not None:
            params.append(value)
            clauses.append(f"{column} = ${first + len(params) - 1}")
    return " AND ".join(clauses), params


def _exact(scope: Scope) -> list[str]:
    return [scope.user_id, scope.agent_id or "", scope.run_id or ""]


def _memory(row: Any) -> Memory:
    return Memory(
        id=MemoryId(row["id"]),
        text=row["text"],
        scope=Scope(row["user_id"], row["agent_id"] or None, row["run_id"] or None),
        metadata=json.loads(row["metadata"]),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def _history_entry(row: Any) -> HistoryEntry:
    return HistoryEntry(
        memory_id=MemoryId(row["memory_id"]),
        event=row["event"],
        old_text=row["old_text"],
        new_text=row["new_text"],
        old_metadata=None if row["old_metadata"] is None else json.loads(row["old_metadata"]),
        new_metadata=None if row["new_metadata"] is None else json.loads(row["new_metadata"]),
        created_at=row["created_at"],
    )


def _row(memory: Memory, content_hash: str, vector: Vector, terms: Sequence[str]) -> tuple[Any, ...]:
    return (
        memory.id,
        *_exact(memory.scope),
        memory.text,
        _dump(memory.metadata),
        content_hash,
        np.asarray(vector, dtype=np.float32),
        list(terms),
        memory.created_at,
        memory.updated_at,
    )


_INSERT: Final = (
    f"INSERT INTO {SCHEMA}.memories (id, user_id, agent_id, run_id, text, metadata, content_hash, embedding, terms,"
    " created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
)


def _transient(exc: BaseException) -> bool:
    """A failure worth retrying: the connection dropped, the server is starting or busy, or a deadlock."""
    if isinstance(exc, OSError | TimeoutError):
        return True
    if asyncpg is None:
        return False
    return isinstance(
        exc,
        asyncpg.exceptions.ConnectionDoesNotExistError
        | asyncpg.exceptions.CannotConnectNowError
        | asyncpg.exceptions.TooManyConnectionsError
        | asyncpg.exceptions.SerializationError
        | asyncpg.exceptions.DeadlockDetectedError
        | asyncpg.exceptions.InterfaceError,
    )


class PostgresStore:
    """The source of truth in PostgreSQL, and its search: nothing is cached, so every server sees every write.

    Memories live in the `memory_mcp` schema of the database. Search runs in SQL: BM25 over the analysed
    terms (a GIN index finds the rows) fused with cosine similarity (pgvector; exact for small scopes,
    HNSW for large ones), with the same formula as the in-memory index.
    """

    def __init__(self, url: str, pool: Any, dim: int) -> None:
        self.url = url
        self.dim = dim
        self._pool = pool

    @classmethod
    async def open(cls, url: str, *, dim: int, min_size: int = 1, max_size: int = 10) -> PostgresStore:
        """Connect (retrying transient failures), create the `vector` extension and migrate the schema."""
        if asyncpg is None:
            raise ConfigError(
                "A postgresql:// database needs the PostgreSQL extra: pip install 'memory-mcp[postgres]'."
            )

        async def setup(connection: Any) -> None:
            await register_vector(connection)

        async def connect() -> Any:
            bootstrap = await asyncpg.connect(url)
            try:
                await bootstrap.execute("CREATE EXTENSION IF NOT EXISTS vector")
            finally:
                await bootstrap.close()
            return await asyncpg.create_pool(url, min_size=min_size, max_size=max_size, init=setup)

        try:
            pool = await _retrying(connect)
        except (OSError, TimeoutError) as exc:
            raise StoreError(f"Cannot reach PostgreSQL at {redact(url)}: {exc}. Is the server running?") from exc
        except asyncpg.PostgresError as exc:
            raise StoreError(f"PostgreSQL at {redact(url)} refused the connection: {exc}.") from exc
        store = cls(url, pool, dim)
        try:
            await store._migrate()
            store.dim = await store._read(  # the stored vectors' length, which a re-embedding may change
                lambda db: db.fetchval(
                    "SELECT atttypmod FROM pg_attribute WHERE attrelid = $1::regclass AND attname = 'embedding'",
                    f"{SCHEMA}.memories",
                )
            )
        except BaseException:
            await pool.close()
            raise
        return store

    async def close(self) -> None:
        """Close the connection pool."""
        await self._pool.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def _migrate(self) -> None:
        async with self._transaction() as db:
            await db.execute(f"SELECT pg_advisory_xact_lock({_LOCK})")
            exists = await db.fetchval("SELECT to_regclass($1)", f"{SCHEMA}.settings")
            version = 0
            if exists is not None:
                found = await db.fetchval(f"SELECT value FROM {SCHEMA}.settings WHERE key = $1", _SCHEMA_KEY)
                version = int(found or 0)
            if version > SCHEMA_VERSION:
                raise StoreError(
                    f"The database's memory-mcp schema is version {version}, newer than this memory-mcp understands "
                    f"({SCHEMA_VERSION}). Upgrade memory-mcp."
                )
            for number, steps in enumerate(_migrations(self.dim)[version:], start=version + 1):
                for statement in steps:
                    await db.execute(statement)
                logger.info("PostgreSQL schema migrated to version %d", number)
            await db.execute(
                f"INSERT INTO {SCHEMA}.settings (key, value) VALUES ($1, $2)"
                " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                _SCHEMA_KEY,
                str(SCHEMA_VERSION),
            )

    # -- connections --------------------------------------------------------------------------------

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[Any]:
        """One transaction on a pooled connection; failures become a StoreError that says what to do."""
        try:
            async with self._pool.acquire() as connection, connection.transaction():
                yield connection
        except (DuplicateError, StoreError):
            raise
        except asyncpg.UniqueViolationError:
            raise
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError) as exc:
            raise StoreError(
                f"PostgreSQL could not complete the operation ({exc}); nothing was changed. Try again in a moment; "
                "if it keeps failing, check the database server."
            ) from exc

    async def _read(self, work: Callable[[Any], Awaitable[T]]) -> T:
        """Run a read on a pooled connection, retrying transient failures."""

        async def attempt() -> T:
            async with self._pool.acquire() as connection:
                return await work(connection)

        try:
            return await _retrying(attempt)
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError) as exc:
            raise StoreError(f"PostgreSQL could not answer ({exc}). Try again in a moment.") from exc

    async def _write(self, work: Callable[[Any], Awaitable[T]]) -> T:
        """Run a write in one transaction, retrying it whole on transient failures."""

        async def attempt() -> T:
            async with self._pool.acquire() as connection, connection.transaction():
                return await work(connection)

        try:
            return await _retrying(attempt)
        except asyncpg.UniqueViolationError:
            raise
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError) as exc:
            raise StoreError(
                f"PostgreSQL could not save the change ({exc}); nothing was changed. Try again in a moment."
            ) from exc

    # -- settings -----------------------------------------------------------------------------------

    async def embedder_id(self) -> str | None:
        """The id of the embedder whose vectors the database holds, None before the first write."""
        value = await self._read(
            lambda db: db.fetchval(f"SELECT value FROM {SCHEMA}.settings WHERE key = $1", _EMBEDDER_KEY)
        )
        return None if value is None else str(value)

    async def set_embedder_id(self, embedder_id: str) -> None:
        """Record which embedder made the stored vectors."""
        await self._write(lambda db: _set(db, _EMBEDDER_KEY, embedder_id))

    # -- writes -------------------------------------------------------------------------------------

    async def insert(self, memory: Memory, content_hash: str, vector: Vector, terms: Sequence[str] = ()) -> None:
        """Store a new memory and its ADD history row; DuplicateError if its scope has the same text."""
        if not await self.insert_many([(memory, content_hash, vector)], [terms]):
            existing = await self.find_by_hash(memory.scope, content_hash)
            raise DuplicateError(existing.id if existing else memory.id)

    async def insert_many(
        self, rows: Sequence[tuple[Memory, str, Vector]], terms: Sequence[Sequence[str]] | None = None
    ) -> set[MemoryId]:
        """Store new memories in one transaction, skipping texts their scope already holds; returns the ids stored."""
        if not rows:
            return set()
        values = [
            _row(memory, digest, vector, terms[i] if terms is not None else ())
            for i, (memory, digest, vector) in enumerate(rows)
        ]
        # Through unnest, vectors travel as pgvector text and terms as one space-separated string each.
        values = [(*row[:7], _vector_text(row[7]), " ".join(row[8]), *row[9:]) for row in values]

        async def work(db: Any) -> set[MemoryId]:
            stored = await db.fetch(
                f"INSERT INTO {SCHEMA}.memories (id, user_id, agent_id, run_id, text, metadata, content_hash,"
                " embedding, terms, created_at, updated_at)"
                " SELECT id, user_id, agent_id, run_id, text, metadata, content_hash, embedding::vector,"
                " string_to_array(terms, ' '), created_at, updated_at"
                " FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],"
                " $7::text[], $8::text[], $9::text[], $10::text[], $11::text[])"
                " AS t (id, user_id, agent_id, run_id, text, metadata, content_hash, embedding, terms, created_at,"
                " updated_at)"
                " ON CONFLICT (user_id, agent_id, run_id, content_hash) DO NOTHING RETURNING id",
                *_columns(values),
            )
            return {MemoryId(row["id"]) for row in stored}

        return await self._write(work)

    async def replace(
        self, old: Memory, new: Memory, content_hash: str, vector: Vector, terms: Sequence[str] = ()
    ) -> None:
        """Overwrite text, metadata and vector of `old` and record an UPDATE."""

        async def work(db: Any) -> None:
            await db.execute(
                f"UPDATE {SCHEMA}.memories SET text = $1, metadata = $2, content_hash = $3, embedding = $4,"
                " terms = $5, updated_at = $6 WHERE id = $7 AND user_id = $8",
                new.text,
                _dump(new.metadata),
                content_hash,
                np.asarray(vector, dtype=np.float32),
                list(terms),
                new.updated_at,
                old.id,
                old.scope.user_id,
            )
            await _history(db, "UPDATE", new.updated_at, old=old, new=new)

        try:
            await self._write(work)
        except asyncpg.UniqueViolationError as exc:
            existing = await self.find_by_hash(old.scope, content_hash)
            raise DuplicateError(existing.id if existing else old.id) from exc

    async def delete(self, memory: Memory, deleted_at: str) -> None:
        """Remove one memory and record a DELETE."""

        async def work(db: Any) -> None:
            await db.execute(
                f"DELETE FROM {SCHEMA}.memories WHERE id = $1 AND user_id = $2", memory.id, memory.scope.user_id
            )
            await _history(db, "DELETE", deleted_at, old=memory)

        await self._write(work)

    async def delete_scope(self, scope: Scope, deleted_at: str) -> list[MemoryId]:
        """Remove every memory `scope` can see, recording a DELETE for each; returns their ids."""
        where, params = _scope_where(scope, 2)

        async def work(db: Any) -> list[MemoryId]:
            rows = await db.fetch(
                f"WITH gone AS (DELETE FROM {SCHEMA}.memories WHERE {where}"
                " RETURNING id, user_id, agent_id, run_id, text, metadata)"
                f" INSERT INTO {SCHEMA}.history (memory_id, user_id, agent_id, run_id, event, old_text, old_metadata,"
                " created_at) SELECT id, user_id, agent_id, run_id, 'DELETE', text, metadata, $1 FROM gone"
                " RETURNING memory_id",
                deleted_at,
                *params,
            )
            return [MemoryId(row["memory_id"]) for row in rows]

        return await self._write(work)

    async def rewrite_vectors(
        self, embedder_id: str, batches: AsyncIterator[Sequence[tuple[MemoryId, Vector]]]
    ) -> None:
        """Replace every stored vector and the embedder id in one transaction (the vector length may change)."""
        collected = [item async for batch in batches for item in batch]
        dim = len(collected[0][1]) if collected else self.dim

        async def work(db: Any) -> None:
            if dim != self.dim:
                await db.execute(f"DROP INDEX IF EXISTS {SCHEMA}.memories_embedding")
                await db.execute(f"ALTER TABLE {SCHEMA}.memories ALTER COLUMN embedding DROP NOT NULL")
                await db.execute(f"UPDATE {SCHEMA}.memories SET embedding = NULL")
                await db.execute(f"ALTER TABLE {SCHEMA}.memories ALTER COLUMN embedding TYPE vector({dim})")
            await db.executemany(
                f"UPDATE {SCHEMA}.memories SET embedding = $1 WHERE id = $2",
                [(np.asarray(vector, dtype=np.float32), memory_id) for memory_id, vector in collected],
            )
            if dim != self.dim:
                await db.execute(f"ALTER TABLE {SCHEMA}.memories ALTER COLUMN embedding SET NOT NULL")
                await db.execute(
                    f"CREATE INDEX memories_embedding ON {SCHEMA}.memories USING hnsw (embedding vector_cosine_ops)"
                )
            await _set(db, _EMBEDDER_KEY, embedder_id)

        await self._write(work)
        self.dim = dim

    async def restore(
        self, rows: Sequence[tuple[MemoryRecord, str, Vector]], terms: Sequence[Sequence[str]] | None = None
    ) -> set[MemoryId]:
        """Store memories exactly as given (ids, timestamps, history) in one transaction; returns the ids stored."""

        async def work(db: Any) -> set[MemoryId]:
            stored: set[MemoryId] = set()
            for position, (record, content_hash, vector) in enumerate(rows):
                memory = record.memory
                inserted = await db.fetchval(
                    _INSERT + " ON CONFLICT DO NOTHING RETURNING id",
                    *_row(memory, content_hash, vector, terms[position] if terms is not None else ()),
                )
                if inserted is None:
                    continue
                stored.add(memory.id)
                if record.history:
                    await db.execute(
                        f"DELETE FROM {SCHEMA}.history WHERE memory_id = $1 AND user_id = $2",
                        memory.id,
                        memory.scope.user_id,
                    )
                    await db.executemany(
                        f"INSERT INTO {SCHEMA}.history (user_id, agent_id, run_id, {_HISTORY_COLUMNS})"
                        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                        history_values(memory, record.history),
                    )
            return stored

        return await self._write(work)

    # -- reads --------------------------------------------------------------------------------------

    async def get(self, scope: Scope, memory_id: str) -> Memory | None:
        """The memory with this id if `scope` can see it."""
        where, params = _scope_where(scope, 2)
        row = await self._read(
            lambda db: db.fetchrow(
                f"SELECT {_COLUMNS} FROM {SCHEMA}.memories WHERE id = $1 AND {where}", memory_id, *params
            )
        )
        return None if row is None else _memory(row)

    async def get_many(self, scope: Scope, ids: Sequence[MemoryId]) -> dict[MemoryId, Memory]:
        """The memories among `ids` that `scope` can see, by id."""
        if not ids:
            return {}
        where, params = _scope_where(scope, 2)
        rows = await self._read(
            lambda db: db.fetch(
                f"SELECT {_COLUMNS} FROM {SCHEMA}.memories WHERE id = ANY($1::text[]) AND {where}", list(ids), *params
            )
        )
        return {MemoryId(row["id"]): _memory(row) for row in rows}

    async def find_by_hashes(self, scope: Scope, hashes: Sequence[str]) -> dict[str, Memory]:
        """The memories of exactly this scope whose normalised text has one of these hashes, by hash."""
        rows = await self._read(
            lambda db: db.fetch(
                f"SELECT content_hash, {_COLUMNS} FROM {SCHEMA}.memories"
                " WHERE user_id = $1 AND agent_id = $2 AND run_id = $3 AND content_hash = ANY($4::text[])",
                *_exact(scope),
                list(hashes),
            )
        )
        return {row["content_hash"]: _memory(row) for row in rows}

    async def find_by_hash(self, scope: Scope, content_hash: str) -> Memory | None:
        """The memory of exactly this scope whose normalised text has this hash."""
        return (await self.find_by_hashes(scope, [content_hash])).get(content_hash)

    async def page(self, scope: Scope, after: Cursor | None, limit: int) -> list[Memory]:
        """Up to `limit` memories of `scope`, newest first, strictly after the cursor position."""
        where, params = _scope_where(scope)
        if after is not None:
            where += f" AND (created_at, id) < (${len(params) + 1}, ${len(params) + 2})"
            params = [*params, *after]
        rows = await self._read(
            lambda db: db.fetch(
                f"SELECT {_COLUMNS} FROM {SCHEMA}.memories WHERE {where}"
                f" ORDER BY created_at DESC, id DESC LIMIT ${len(params) + 1}",
                *params,
                limit,
            )
        )
        return [_memory(row) for row in rows]

    async def listing(self, scope: Scope, where: Filter | None = None) -> list[tuple[MemoryId, Cursor, Metadata]]:
        """Id, position and metadata of the memories of `scope` that `where` matches (at least), newest first."""
        own, params = _scope_where(scope)
        narrowing, extra = ("TRUE", []) if where is None else filter_sql(where, len(params) + 1)
        rows = await self._read(
            lambda db: db.fetch(
                f"SELECT id, created_at, metadata FROM {SCHEMA}.memories WHERE {own} AND {narrowing}"
                " ORDER BY created_at DESC, id DESC",
                *params,
                *extra,
            )
        )
        return [(MemoryId(r["id"]), (r["created_at"], r["id"]), json.loads(r["metadata"])) for r in rows]

    async def count(self, scope: Scope) -> int:
        """How many memories `scope` can see."""
        where, params = _scope_where(scope)
        return int(
            await self._read(lambda db: db.fetchval(f"SELECT count(*) FROM {SCHEMA}.memories WHERE {where}", *params))
        )

    async def count_all(self) -> int:
        """How many memories the database holds, all users together."""
        return int(await self._read(lambda db: db.fetchval(f"SELECT count(*) FROM {SCHEMA}.memories")))

    async def history(self, scope: Scope, memory_id: str) -> list[HistoryEntry]:
        """The changes of one memory `scope` can see, oldest first (kept after the memory is deleted)."""
        where, params = _scope_where(scope, 2)
        rows = await self._read(
            lambda db: db.fetch(
                f"SELECT {_HISTORY_COLUMNS} FROM {SCHEMA}.history WHERE memory_id = $1 AND {where} ORDER BY seq",
                memory_id,
                *params,
            )
        )
        return [_history_entry(row) for row in rows]

    async def summaries(self, user_id: str | None = None) -> list[UserSummary]:
        """Per user (or for one user): memory count, oldest and newest, distinct agents and runs."""
        where, params = ("WHERE user_id = $1", [user_id]) if user_id is not None else ("", [])
        rows = await self._read(
            lambda db: db.fetch(
                "SELECT user_id, count(*), min(created_at), max(created_at),"
                " count(DISTINCT nullif(agent_id, '')), count(DISTINCT nullif(run_id, ''))"
                f" FROM {SCHEMA}.memories {where} GROUP BY user_id ORDER BY user_id",
                *params,
            )
        )
        return [UserSummary(*row) for row in rows]

    async def iter_records(
        self, scope: Scope | None, *, vectors: bool = False, history: bool = False, batch_size: int = 1_000
    ) -> AsyncIterator[list[MemoryRecord]]:
        """Every memory of `scope` (None: of every user), oldest first, optionally with vector and history."""
        where, params = _scope_where(scope) if scope is not None else ("true", [])
        position = len(params)
        select = (
            f"SELECT {_COLUMNS}, embedding FROM {SCHEMA}.memories WHERE {where}"
            f" AND (user_id, created_at, id) > (${position + 1}, ${position + 2}, ${position + 3})"
            f" ORDER BY user_id, created_at, id LIMIT ${position + 4}"
        )
        after: tuple[str, str, str] = ("", "", "")
        while True:

            async def page(db: Any, after: tuple[str, str, str] = after) -> list[Any]:
                return list(await db.fetch(select, *params, *after, batch_size))

            rows = await self._read(page)
            if not rows:
                return
            changes: dict[str, list[HistoryEntry]] = {}
            if history:

                async def changed(db: Any, ids: list[str] = [row["id"] for row in rows]) -> list[Any]:  # noqa: B006
                    return list(
                        await db.fetch(
                            f"SELECT {_HISTORY_COLUMNS} FROM {SCHEMA}.history WHERE memory_id = ANY($1::text[])"
                            " ORDER BY seq",
                            ids,
                        )
                    )

                for entry in await self._read(changed):
                    changes.setdefault(entry["memory_id"], []).append(_history_entry(entry))
            yield [
                MemoryRecord(
                    _memory(row),
                    _array(row["embedding"]) if vectors else None,
                    tuple(changes.get(row["id"], ())),
                )
                for row in rows
            ]
            last = rows[-1]
            after = (last["user_id"], last["created_at"], last["id"])

    async def iter_texts(self, batch_size: int = 1_000) -> AsyncIterator[list[tuple[MemoryId, str]]]:
        """Every stored text with its id, in batches (for re-embedding)."""
        after = ""
        while True:
            rows = await self._fetch_after(f"SELECT id, text FROM {SCHEMA}.memories", after, batch_size)
            if not rows:
                return
            yield [(MemoryId(row["id"]), row["text"]) for row in rows]
            after = rows[-1]["id"]

    async def last_change(self) -> int:
        """The sequence number of the newest history row (it grows with every committed change)."""
        return int(await self._read(lambda db: db.fetchval(f"SELECT coalesce(max(seq), 0) FROM {SCHEMA}.history")))

    async def changed_since(self, seq: int, limit: int = 10_000) -> list[tuple[int, MemoryId, str]]:
        """(sequence number, memory id, time) of the changes after `seq`, oldest first, at most `limit`."""
        rows = await self._read(
            lambda db: db.fetch(
                f"SELECT seq, memory_id, created_at FROM {SCHEMA}.history WHERE seq > $1 ORDER BY seq LIMIT $2",
                seq,
                limit,
            )
        )
        return [(int(row["seq"]), MemoryId(row["memory_id"]), row["created_at"]) for row in rows]

    async def index_rows(self, ids: Sequence[MemoryId]) -> list[tuple[MemoryId, Scope, bytes, str]]:
        """Id, scope, vector (as float32 bytes) and text of those of `ids` that exist now."""
        rows = await self._read(
            lambda db: db.fetch(
                f"SELECT id, user_id, agent_id, run_id, embedding, text FROM {SCHEMA}.memories"
                " WHERE id = ANY($1::text[])",
                list(ids),
            )
        )
        return [_index_row(row) for row in rows]

    async def iter_index_rows(
        self, batch_size: int = 10_000
    ) -> AsyncIterator[list[tuple[MemoryId, Scope, bytes, str]]]:
        """Every memory's id, scope, vector (as float32 bytes) and text, in batches."""
        after = ""
        while True:
            rows = await self._fetch_after(
                f"SELECT id, user_id, agent_id, run_id, embedding, text FROM {SCHEMA}.memories", after, batch_size
            )
            if not rows:
                return
            yield [_index_row(row) for row in rows]
            after = rows[-1]["id"]

    async def _fetch_after(self, select: str, after: str, limit: int) -> list[Any]:
        """The next `limit` rows of `select` (which has no WHERE) with an id after `after`, by id."""

        async def work(db: Any) -> list[Any]:
            return list(await db.fetch(f"{select} WHERE id > $1 ORDER BY id LIMIT $2", after, limit))

        return await self._read(work)

    # -- search -------------------------------------------------------------------------------------

    async def search(
        self,
        vector: Vector,
        terms: Sequence[str],
        scope: Scope,
        k: int,
        *,
        threshold: float | None = None,
        vector_weight: float,
        where: Filter | None = None,
    ) -> list[IndexHit]:
        """The `k` best matches in `scope` by the in-memory index's formula, computed in PostgreSQL.

        One statement reads the scope's BM25 statistics (counts kept per scope by a trigger, document
        frequencies through the GIN index on terms); a second scores every memory sharing a term with the
        query, plus the `k` closest by vector among the others (exactly for small scopes, through HNSW
        for large ones), and returns only the best `k`. A metadata filter (`where`) narrows both legs in
        the same statement without changing the scores (BM25 statistics stay those of the whole scope);
        when HNSW under a selective filter finds fewer than `k`, the search is repeated exactly.
        """
        if k <= 0:
            return []
        distinct = sorted(set(terms))
        query = np.asarray(vector, dtype=np.float32)

        async def work(db: Any) -> list[IndexHit]:
            own, params = _scope_where(scope)
            size = await db.fetchval(
                f"SELECT coalesce(sum(memories), 0) FROM {SCHEMA}.scope_stats WHERE {own}", *params
            )
            own_sql, _ = _scope_where(scope, 4)
            narrowing, extra = ("TRUE", []) if where is None else filter_sql(where, len(params) + 5)
            arguments = (query, distinct, float(vector_weight), *params, threshold, *extra)
            exact = size <= EXACT_MAX
            if not exact:
                await db.execute(f"SET LOCAL hnsw.ef_search = {max(EF_SEARCH, k)}")
                await db.execute("SET LOCAL hnsw.iterative_scan = relaxed_order")
            rows = await db.fetch(_search_sql(own_sql, exact, int(k), len(distinct), narrowing), *arguments)
            if not exact and where is not None and len(rows) < k:  # HNSW gave up before the filter passed k
                rows = await db.fetch(_search_sql(own_sql, True, int(k), len(distinct), narrowing), *arguments)
            return [
                IndexHit(MemoryId(row["id"]), float(row["fused"]), float(row["keyword"]), float(row["similarity"]))
                for row in rows
            ]

        async def attempt() -> list[IndexHit]:
            async with self._pool.acquire() as connection, connection.transaction():
                return await work(connection)

        try:
            return await _retrying(attempt)
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError) as exc:
            raise StoreError(f"PostgreSQL could not search ({exc}). Try again in a moment.") from exc


def _array(value: Any) -> Vector:
    """A pgvector value (a numpy array, or pgvector's Vector) as float32."""
    converted = value.to_numpy() if hasattr(value, "to_numpy") else value
    return np.asarray(converted, dtype=np.float32)


def _index_row(row: Any) -> tuple[MemoryId, Scope, bytes, str]:
    scope = Scope(row["user_id"], row["agent_id"] or None, row["run_id"] or None)
    return MemoryId(row["id"]), scope, _array(row["embedding"]).astype("<f4").tobytes(), row["text"]


def _search_sql(where: str, exact: bool, k: int, terms: int, narrowing: str = "TRUE") -> str:
    """The hybrid search in one statement: $1 query vector, $2 the distinct query terms, $3 vector weight,
    scope parameters from $4, then the threshold (NULL: only related memories), then the filter's.

    The memories sharing a term with the query are read once: each term's count in each of them, their
    length and cosine; document frequencies and IDFs come from those same rows, so BM25 needs no other scan.
    The others compete by cosine alone: exactly, in the same single scan of the scope, or through HNSW.
    """
    threshold = f"${where.count('$') + 4}"
    ids = range(terms)
    counts = ", ".join(
        f"CASE WHEN m.hit THEN cardinality(array_positions(m.terms, ($2::text[])[{i + 1}])) ELSE 0 END::float8 AS t{i}"
        for i in ids
    )
    frequencies = ", ".join(f"count(*) FILTER (WHERE t{i} > 0)::float8 AS d{i}" for i in ids)
    idfs = ", ".join(
        f"CASE WHEN d{i} > 0 THEN ln((n - d{i} + 0.5) / (d{i} + 0.5) + 1.0) ELSE 0 END AS w{i}" for i in ids
    )
    best = " + ".join(f"w{i}" for i in ids) or "0"
    norm = f"{K1!r} * (1.0 - {B!r} + {B!r} * length / average)"
    bm25 = " + ".join(f"w{i} * t{i} * {K1 + 1.0!r} / (t{i} + {norm})" for i in ids) or "0"
    if exact:  # one scan of the scope serves both legs
        rows, hit = f"WHERE {where}", "terms && $2::text[]"
        nearest = "SELECT id, 0.0::float8, similarity FROM matches WHERE passes AND NOT hit ORDER BY similarity DESC"
    else:
        rows, hit = f"WHERE {where} AND terms && $2::text[]", "TRUE"  # only the matches: the GIN index finds them
        nearest = f"""SELECT id, 0.0::float8, 1.0 - (embedding <=> $1) FROM {SCHEMA}.memories
            WHERE {where} AND NOT (terms && $2::text[]) AND {narrowing} ORDER BY embedding <=> $1"""
    return f"""
    WITH stats AS MATERIALIZED (
        SELECT coalesce(sum(memories), 0)::float8 AS n,
               greatest(coalesce(sum(terms), 0)::float8 / greatest(coalesce(sum(memories), 0), 1), 1.0) AS average
        FROM {SCHEMA}.scope_stats WHERE {where}
    ),
    matches AS MATERIALIZED (
        SELECT m.id, m.hit, cardinality(m.terms)::float8 AS length, 1.0 - (m.embedding <=> $1) AS similarity,
               {narrowing} AS passes, tf.*
        FROM (SELECT *, {hit} AS hit FROM {SCHEMA}.memories {rows} OFFSET 0) AS m
        CROSS JOIN LATERAL (SELECT {counts or "0 AS none"}) AS tf
    ),
    weights AS MATERIALIZED (
        SELECT *, ({best}) * {K1 + 1.0!r} AS best
        FROM (SELECT stats.*, {idfs or "0 AS none"} FROM stats, (SELECT {frequencies or "0 AS none"} FROM matches) f) w
    ),
    scored AS (
        SELECT id, coalesce(({bm25}) / nullif(best, 0), 0) AS keyword, similarity FROM matches, weights
        WHERE passes AND hit
        UNION ALL
        SELECT * FROM ({nearest} LIMIT {k}) AS nearest
    )
    SELECT id, keyword, similarity, (1.0 - $3) * keyword + $3 * similarity AS fused
    FROM scored
    WHERE CASE WHEN {threshold}::float8 IS NULL THEN keyword > 0 OR similarity >= {MIN_SIMILARITY!r}
               ELSE (1.0 - $3) * keyword + $3 * similarity >= {threshold}::float8 END
    ORDER BY fused DESC LIMIT {k}
    """


def _vector_text(vector: Vector) -> str:
    """A vector in pgvector's text form; each float32 prints as the shortest text that reads back the same."""
    return "[" + ",".join(map(str, vector.tolist())) + "]"


def _columns(values: Sequence[tuple[Any, ...]]) -> list[list[Any]]:
    """Rows as columns, for INSERT ... SELECT FROM unnest(...)."""
    return [list(column) for column in zip(*values, strict=True)]


async def _set(db: Any, key: str, value: str) -> None:
    await db.execute(
        f"INSERT INTO {SCHEMA}.settings (key, value) VALUES ($1, $2)"
        " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        key,
        value,
    )


async def _history(db: Any, event: str, at: str, old: Memory | None = None, new: Memory | None = None) -> None:
    memory = new if new is not None else old
    if memory is None:
        raise ValueError("a history row needs the old or the new memory")
    await db.execute(
        f"INSERT INTO {SCHEMA}.history (memory_id, user_id, agent_id, run_id, event, old_text, new_text,"
        " old_metadata, new_metadata, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        memory.id,
        *_exact(memory.scope),
        event,
        old.text if old else None,
        new.text if new else None,
        _dump(old.metadata) if old else None,
        _dump(new.metadata) if new else None,
        at,
    )


async def _retrying(attempt: Callable[[], Awaitable[T]]) -> T:
    """Run `attempt`, retrying transient failures after 0.1, 0.5 and 2 s; the last failure propagates."""
    for pause in _RETRIES:
        try:
            return await attempt()
        except Exception as exc:
            if not _transient(exc):
                raise
            logger.warning("PostgreSQL: %s; retrying in %.1f s", exc, pause)
            await asyncio.sleep(pause)
    return await attempt()


def redact(url: str) -> str:
    """A database URL without its password, fit for messages and logs."""
    if "://" not in url or "@" not in url:
        return url
    scheme, rest = url.split("://", 1)
    credentials, host = rest.rsplit("@", 1)
    if ":" not in credentials:
        return url
    return f"{scheme}://{credentials.split(':', 1)[0]}:***@{host}"
