"""MemoryEngine: add, search, update and delete scoped memories over an embedder, an index and a store."""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import numpy as np

from . import validation
from .analyzer import Analyzer
from .embedder import HashEmbedder
from .errors import InvalidInputError, MemoryMCPError, NotFoundError, StoreError
from .filters import Filter, parse_filter, predicate
from .index import VECTOR_WEIGHT, NumpyIndex
from .models import (
    AddResult,
    BatchItem,
    Cursor,
    HistoryEntry,
    IndexHit,
    Limits,
    Matrix,
    Memory,
    MemoryId,
    MemoryRecord,
    Metadata,
    Page,
    Scope,
    SearchHit,
    UserSummary,
    Vector,
)
from .pg_store import POSTGRES_SCHEMES, PostgresStore
from .protocols import Embedder, MemoryStore, SearchIndex, SearchingStore
from .store import SqliteStore

logger = logging.getLogger(__name__)

_LOAD_BATCH: Final = 50_000
_BACKGROUND_BATCH: Final = 5_000  # rows indexed between two turns of the event loop while serving
_REEMBED_BATCH: Final = 1_000
_FILTER_WIDEN: Final = 4  # a filtered search looks at 4x more candidates each round until it has enough
_EMBED_CHUNK: Final = 256  # texts embedded between two progress reports

Progress = Callable[[int, int], Awaitable[None]]
"""Told (done, total) as a long operation advances."""


def now() -> str:
    """The current UTC time as a fixed-width ISO 8601 string (sorts like the time itself)."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def encode_cursor(position: Cursor) -> str:
    """An opaque page token for a listing position."""
    return base64.urlsafe_b64encode(json.dumps(list(position)).encode()).decode().rstrip("=")


def decode_cursor(token: str) -> Cursor:
    """The position inside a token from `encode_cursor`; InvalidInputError for anything else."""
    try:
        created_at, memory_id = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        if isinstance(created_at, str) and isinstance(memory_id, str):
            return created_at, memory_id
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
        pass
    raise InvalidInputError(
        "cursor is not a next_cursor this server returned. Call list_memories without a cursor to start again."
    )


class MemoryEngine:
    """Scoped long-term memory: the store is the source of truth, the index a fast copy of its vectors.

    Writes are serialised within the process and committed to the store before the index changes, so
    a search never returns a memory whose write failed. Reads run concurrently.
    """

    def __init__(
        self,
        store: MemoryStore,
        index: SearchIndex | None,
        embedder: Embedder,
        limits: Limits | None = None,
        *,
        vector_weight: float = VECTOR_WEIGHT,
    ) -> None:
        """`index=None` when the store searches by itself (a `SearchingStore`, e.g. PostgreSQL)."""
        if index is None and not isinstance(store, SearchingStore):
            raise TypeError("without a search index the store must be able to search (a SearchingStore)")
        self.store = store
        self.index = index
        self.vector_weight = vector_weight
        self.embedder = embedder
        self.analyzer = Analyzer()
        self.limits = limits or Limits()
        self._write_lock = asyncio.Lock()
        self._synced = 0  # sequence number of the last store change the index reflects
        self._applied: set[tuple[MemoryId, str]] = set()  # our own changes since: (memory, the time we stamped)
        self._searchable = True
        self._loading: asyncio.Task[None] | None = None

    @classmethod
    @asynccontextmanager
    async def open(
        cls,
        db_path: str | Path,
        *,
        embedder: Embedder | None = None,
        limits: Limits | None = None,
        reembed: bool = False,
        vector_weight: float = VECTOR_WEIGHT,
        index: bool = True,
        background: bool = False,
        progress: Progress | None = None,
        pool: tuple[int, int] = (1, 10),
    ) -> AsyncIterator[MemoryEngine]:
        """Open the database at `db_path` and fill the index from it; closes the store on exit.

        `db_path` is a SQLite file, or a `postgresql://` URL (then PostgreSQL with pgvector both stores
        and searches, through a connection pool of `pool` = (min, max) connections, and no index is kept).

        `index=False` skips filling the index, for tools that read and write but never search
        (search is then refused). `background=True` returns as soon as the database is checked and
        fills the index meanwhile: reads that need no index answer at once, searches wait for it, writes
        queue behind it. `progress` follows a re-embedding.
        """
        chosen = embedder or HashEmbedder()
        location = str(db_path)
        store: MemoryStore | PostgresStore
        search_index: SearchIndex | None
        if location.startswith(POSTGRES_SCHEMES):
            store = await PostgresStore.open(location, dim=chosen.dim, min_size=pool[0], max_size=pool[1])
            search_index = None  # PostgreSQL searches; nothing is cached in the process
        else:
            store = await SqliteStore.open(db_path)
            search_index = NumpyIndex(chosen.dim, vector_weight=vector_weight)
        engine = None
        try:
            engine = cls(store, search_index, chosen, limits, vector_weight=vector_weight)
            await engine.load(reembed=reembed, index=index, background=background, progress=progress)
            yield engine
        finally:
            if engine is not None and engine._loading is not None and not engine._loading.done():
                engine._loading.cancel()
                with contextlib.suppress(asyncio.CancelledError, MemoryMCPError):
                    await engine._loading
            await store.close()

    # -- start-up ---------------------------------------------------------------------------------

    async def load(
        self, *, reembed: bool = False, index: bool = True, background: bool = False, progress: Progress | None = None
    ) -> None:
        """Check the stored vectors were made by our embedder (or re-embed them), then fill the index."""
        stored = await self.store.embedder_id()
        if stored != self.embedder.id:
            count = await self.store.count_all()
            if stored is not None and count and not reembed:
                raise StoreError(
                    f"The database holds {count} memories embedded with {stored!r}, but this server uses "
                    f"{self.embedder.id!r}; vectors of different embedders cannot be compared. Start with "
                    "--reembed (MEMORY_MCP_REEMBED=1) to re-embed them from their text, or configure the "
                    "embedder the database was made with."
                )
            if stored is not None and count:
                logger.warning("re-embedding %d memories from %s to %s", count, stored, self.embedder.id)
                await self.store.rewrite_vectors(self.embedder.id, self._reembedded(count, progress))
            else:
                await self.store.set_embedder_id(self.embedder.id)
        # Read the change position first: whatever other processes commit while we load is replayed later.
        self._synced = await self.store.last_change()
        self._searchable = index
        if not index or self.index is None:
            return
        await self._write_lock.acquire()  # held until filled: a write must not race the rows being loaded
        if background:
            self._loading = asyncio.create_task(self._fill(_BACKGROUND_BATCH), name="memory-mcp index load")
        else:
            await self._fill(_LOAD_BATCH)

    @property
    def local_index(self) -> SearchIndex:
        """The in-memory search index (the SQLite backend keeps one; PostgreSQL searches by itself)."""
        if self.index is None:
            raise TypeError("This engine keeps no in-memory index: its store searches.")
        return self.index

    @property
    def ready(self) -> bool:
        """True once the search index holds every stored memory (see `open(background=True)`)."""
        return self._loading is None or self._loading.done()

    async def _fill(self, batch_size: int) -> None:
        """Fill the index from the store, then release the write lock taken by `load`."""
        try:
            loaded = 0
            started = time.perf_counter()
            async for batch in self.store.iter_index_rows(batch_size):
                self._index(batch)
                loaded += len(batch)
                await asyncio.sleep(0)  # let other requests through between batches
            logger.info(
                "index loaded: %d memories in %.2f s, embedder %s",
                loaded,
                time.perf_counter() - started,
                self.embedder.id,
            )
        except MemoryMCPError as exc:
            logger.error("the search index could not be loaded: %s", exc)  # noqa: TRY400 (a known condition)
            raise
        finally:
            self._write_lock.release()

    def _index(self, rows: Sequence[tuple[MemoryId, Scope, bytes, str]]) -> None:
        """Put stored rows (id, scope, vector BLOB, text) into the index."""
        if self.index is None:
            return
        vectors = np.frombuffer(b"".join(row[2] for row in rows), dtype="<f4").astype(np.float32)
        if vectors.size != len(rows) * self.embedder.dim:
            raise StoreError("Stored vectors have the wrong length for the configured embedder; start with --reembed.")
        terms = [self.analyzer.terms(row[3]) for row in rows]
        self.index.add([(row[0], row[1]) for row in rows], vectors.reshape(len(rows), self.embedder.dim), terms)

    async def sync(self) -> None:
        """Bring the index up to date with changes other processes committed to the same database.

        Every change leaves a history row with a growing sequence number; the rows after the last one
        seen name the memories to re-read (or to drop, when they no longer exist). Cheap when nothing
        changed: one indexed `max()`.
        """
        if self.index is None or await self.store.last_change() == self._synced:
            return
        async with self._write_lock:
            while changes := await self.store.changed_since(self._synced, _LOAD_BATCH):
                # Our own writes are in the index already: a change stamped as we stamped it is ours.
                ids = list(
                    dict.fromkeys(
                        memory_id for _, memory_id, stamp in changes if (memory_id, stamp) not in self._applied
                    )
                )
                rows = await self.store.index_rows(ids)
                present = {row[0] for row in rows}
                self._unindex([memory_id for memory_id in ids if memory_id not in present])
                if rows:
                    self._index(rows)
                self._synced = changes[-1][0]
            self._applied.clear()  # every write of ours committed before we took the lock has been seen

    async def _reembedded(self, total: int, progress: Progress | None) -> AsyncIterator[list[tuple[MemoryId, Vector]]]:
        done, reported = 0, 0
        async for batch in self.store.iter_texts(_REEMBED_BATCH):
            vectors = await self.embedder.embed_documents([text for _, text in batch])
            yield [(memory_id, vectors[i]) for i, (memory_id, _) in enumerate(batch)]
            done += len(batch)
            if progress is not None:
                await progress(done, total)
            if done * 10 // total > reported or done == total:  # progress on stderr, every tenth
                reported = done * 10 // total
                logger.warning("re-embedded %d of %d memories (%d%%)", done, total, 100 * done // total)

    # -- validation helpers -----------------------------------------------------------------------

    def scope(self, user_id: Any, agent_id: Any = None, run_id: Any = None) -> Scope:
        """A validated scope (InvalidInputError when an id is empty or malformed)."""
        return validation.scope_of(user_id, agent_id, run_id, limits=self.limits)

    def _filter(self, filters: Mapping[str, Any] | None) -> Filter | None:
        return None if filters is None else parse_filter(filters, max_nodes=self.limits.max_filter_nodes)

    async def _embed_one(self, text: str) -> Vector:
        vector: Vector = (await self.embedder.embed_documents([text]))[0]
        return vector

    async def _embed(self, texts: Sequence[str], progress: Progress | None, total: int) -> Matrix:
        """Embed `texts`, telling `progress` (out of `total`) after each chunk but the last, so a caller's
        final report (`total` of `total`) is always a step forward."""
        if progress is None or len(texts) <= _EMBED_CHUNK:
            return await self.embedder.embed_documents(texts)
        parts = []
        for start in range(0, len(texts), _EMBED_CHUNK):
            parts.append(await self.embedder.embed_documents(texts[start : start + _EMBED_CHUNK]))
            if start + _EMBED_CHUNK < len(texts):
                await progress(start + _EMBED_CHUNK, total)
        return np.concatenate(parts)

    # -- writes -----------------------------------------------------------------------------------

    async def add(self, text: str, scope: Scope, metadata: Metadata | None = None) -> AddResult:
        """Remember `text`; an exact duplicate in the same scope returns the existing memory, not a copy."""
        clean = validation.text("text", text, self.limits)
        fields = validation.metadata(metadata, self.limits)
        [(memory, created)] = await self._store_new(scope, [(clean, fields)])
        return AddResult(memory, created)

    async def add_many(
        self, items: Sequence[tuple[str, Metadata | None]], scope: Scope, *, progress: Progress | None = None
    ) -> list[BatchItem]:
        """Remember many (text, metadata) items in one transaction; one outcome per item, in input order.

        A bad item gets an error outcome and does not stop the others; an exact duplicate (of a stored
        memory or of an earlier item) is a no-op that returns the memory it duplicates. `progress` hears
        how many items are embedded, then all of them once stored.
        """
        if not items:
            raise InvalidInputError("memories is empty: give at least one {text, metadata?} item.")
        if len(items) > self.limits.max_batch:
            raise InvalidInputError(
                f"{len(items)} memories in one call; the limit is {self.limits.max_batch}. Split the batch."
            )
        outcomes: list[BatchItem | None] = [None] * len(items)
        valid: list[tuple[int, tuple[str, Metadata]]] = []
        for position, (text, metadata) in enumerate(items):
            try:
                valid.append(
                    (position, (validation.text("text", text, self.limits), validation.metadata(metadata, self.limits)))
                )
            except InvalidInputError as exc:
                outcomes[position] = BatchItem("error", error=f"item {position}: {exc}")
        stored = await self._store_new(scope, [item for _, item in valid], progress) if valid else []
        if progress is not None:
            await progress(len(items), len(items))
        for (position, _), (memory, created) in zip(valid, stored, strict=True):
            outcomes[position] = BatchItem("added" if created else "noop", memory)
        return [outcome for outcome in outcomes if outcome is not None]

    async def _store_new(
        self, scope: Scope, items: Sequence[tuple[str, Metadata]], progress: Progress | None = None
    ) -> list[tuple[Memory, bool]]:
        """Store validated (text, metadata) items not yet in `scope`; (memory, created) for each, in order."""
        digests = [validation.content_hash(text) for text, _ in items]
        first: dict[str, int] = {}
        for position, digest in enumerate(digests):
            first.setdefault(digest, position)
        fresh = sorted(first.values())
        vectors = await self._embed([items[position][0] for position in fresh], progress, len(items))
        async with self._write_lock:
            stamp = now()
            new: dict[str, tuple[Memory, Vector]] = {}
            for row, position in enumerate(fresh):
                text, fields = items[position]
                memory = Memory(MemoryId(str(uuid.uuid4())), text, scope, fields, stamp, stamp)
                new[digests[position]] = (memory, vectors[row])
            # The store's unique key on scope + content hash decides what is a duplicate, even across processes.
            terms = {memory.id: self.analyzer.terms(memory.text) for memory, _ in new.values()}
            inserted = await self.store.insert_many(
                [(m, d, v) for d, (m, v) in new.items()], [terms[m.id] for m, _ in new.values()]
            )
            known: dict[str, Memory] = {}
            if len(inserted) < len(new):
                known = await self.store.find_by_hashes(scope, [d for d, (m, _) in new.items() if m.id not in inserted])
            added = [(memory, vector) for memory, vector in new.values() if memory.id in inserted]
            self._applied.update((memory.id, memory.created_at) for memory, _ in added)
            self._reindex([(memory, vector, terms[memory.id]) for memory, vector in added])
        # A text stored before (or by another process meanwhile) is a no-op; so is a repeat inside the batch.
        return [
            (known[digest], False) if digest in known else (new[digest][0], first[digest] == position)
            for position, digest in enumerate(digests)
        ]

    async def update(
        self, memory_id: str, scope: Scope, *, text: str | None = None, metadata: Metadata | None = None
    ) -> Memory:
        """Change the text and/or replace the metadata of a memory; re-embeds and records history."""
        if text is None and metadata is None:
            raise InvalidInputError("Nothing to update: give a new text, new metadata, or both.")
        clean = None if text is None else validation.text("text", text, self.limits)
        fields = None if metadata is None else validation.metadata(metadata, self.limits)
        async with self._write_lock:
            old = await self._get(memory_id, scope)
            new_text = old.text if clean is None else clean
            new_metadata = old.metadata if fields is None else fields
            if new_text == old.text and new_metadata == old.metadata:
                return old
            updated = Memory(old.id, new_text, old.scope, new_metadata, old.created_at, now())
            vector = await self._embed_one(new_text)
            terms = self.analyzer.terms(new_text)
            await self.store.replace(old, updated, validation.content_hash(new_text), vector, terms)
            self._applied.add((updated.id, updated.updated_at))
            self._reindex([(updated, vector, terms)])
        return updated

    async def delete(self, memory_id: str, scope: Scope) -> Memory:
        """Forget one memory; returns it as it was."""
        async with self._write_lock:
            old = await self._get(memory_id, scope)
            stamp = now()
            await self.store.delete(old, stamp)
            self._applied.add((old.id, stamp))
            self._unindex([old.id])
        return old

    async def delete_all(self, scope: Scope, *, progress: Progress | None = None) -> int:
        """Forget every memory `scope` can see, in one transaction; returns how many."""
        async with self._write_lock:
            if progress is not None:
                await progress(0, await self.store.count(scope))
            stamp = now()
            ids = await self.store.delete_scope(scope, stamp)
            self._applied.update((memory_id, stamp) for memory_id in ids)
            self._unindex(ids)
            if progress is not None and ids:
                await progress(len(ids), len(ids))
        return len(ids)

    async def restore(self, records: Sequence[MemoryRecord], *, progress: Progress | None = None) -> set[MemoryId]:
        """Store memories as they were elsewhere (ids, timestamps, history); returns the ids newly stored.

        Texts and metadata must be validated already. A record whose id is taken, or whose text its scope
        already holds, is skipped, so restoring the same records twice stores them once. Records without
        a vector are embedded.
        """
        missing = [position for position, record in enumerate(records) if record.vector is None]
        embedded: Sequence[Vector] = []
        if missing:
            embedded = list(await self._embed([records[p].memory.text for p in missing], progress, len(records)))
        made = dict(zip(missing, embedded, strict=True))
        vectors: list[Vector] = [
            record.vector if record.vector is not None else made[p] for p, record in enumerate(records)
        ]
        rows = [
            (record, validation.content_hash(record.memory.text), vector)
            for record, vector in zip(records, vectors, strict=True)
        ]
        terms = [self.analyzer.terms(record.memory.text) for record in records]
        async with self._write_lock:
            stored = await self.store.restore(rows, terms)
            kept = [(row[0].memory, row[2], terms[i]) for i, row in enumerate(rows) if row[0].memory.id in stored]
            for record, _, _ in rows:
                if record.memory.id in stored:
                    stamps = [entry.created_at for entry in record.history] or [record.memory.created_at]
                    self._applied.update((record.memory.id, stamp) for stamp in stamps)
            self._reindex(kept)
        return stored

    def _reindex(self, entries: Sequence[tuple[Memory, Vector, Sequence[str]]]) -> None:
        """Put stored memories into the index (when there is one)."""
        if self.index is not None and entries:
            self.index.add(
                [(memory.id, memory.scope) for memory, _, _ in entries],
                np.stack([vector for _, vector, _ in entries]),
                [terms for _, _, terms in entries],
            )

    def _unindex(self, ids: Sequence[MemoryId]) -> None:
        if self.index is not None:
            self.index.remove(ids)

    # -- reads ------------------------------------------------------------------------------------

    async def _get(self, memory_id: str, scope: Scope) -> Memory:
        if not isinstance(memory_id, str) or not memory_id.strip():
            raise InvalidInputError("memory_id is empty. Use search_memory or list_memories to find ids.")
        memory = None if len(memory_id) > self.limits.id_max_chars else await self.store.get(scope, memory_id)
        if memory is None:
            raise NotFoundError(memory_id[: self.limits.id_max_chars])
        return memory

    async def get(self, memory_id: str, scope: Scope) -> Memory:
        """One memory by id; NotFoundError when `scope` cannot see it (even if another user has it)."""
        return await self._get(memory_id, scope)

    async def search(
        self,
        query: str,
        scope: Scope,
        *,
        limit: int = 10,
        threshold: float | None = None,
        filters: Mapping[str, Any] | None = None,
    ) -> list[SearchHit]:
        """The memories of `scope` most similar to `query`, best first, optionally filtered by metadata."""
        if not self._searchable:
            raise InvalidInputError("This engine was opened without its search index; open it with index=True.")
        if self._loading is not None:
            await asyncio.shield(self._loading)  # wait for the index; a failed load raises its error here
        clean = validation.text("query", query, self.limits)
        wanted = validation.limit(limit, self.limits)
        minimum = validation.threshold(threshold)
        where = self._filter(filters)
        test = None if where is None else predicate(where)
        vector = await self.embedder.embed_query(clean)
        terms = self.analyzer.terms(clean)
        if not terms and not np.any(vector):
            raise InvalidInputError(
                "The query has no words to search by (only punctuation or very common words). "
                "Add a distinctive word, or use list_memories to browse."
            )
        await self.sync()
        available = self.index.count(scope) if self.index is not None else await self.store.count(scope)
        k = wanted if test is None else wanted * _FILTER_WIDEN
        hits: list[SearchHit] = []
        seen: set[MemoryId] = set()
        while True:
            candidates = await self._candidates(vector, terms, scope, min(k, available), minimum, where)
            fresh = [hit for hit in candidates if hit.id not in seen]
            seen.update(hit.id for hit in fresh)
            found = await self.store.get_many(scope, [hit.id for hit in fresh])
            for hit in fresh:
                memory = found.get(hit.id)  # None when deleted since the index was read
                if memory is not None and (test is None or test(memory.metadata)):
                    hits.append(SearchHit(memory, hit.score))
            # Fewer candidates than asked for means every eligible memory has been seen.
            if len(hits) >= wanted or len(candidates) < k or k >= available:
                return hits[:wanted]
            k *= _FILTER_WIDEN

    async def _candidates(
        self, vector: Vector, terms: Sequence[str], scope: Scope, k: int, threshold: float | None, where: Filter | None
    ) -> list[IndexHit]:
        """The index's best `k` (the filter is applied by the caller), or the searching store's best `k` among
        the memories `where` lets through."""
        if self.index is not None:
            return self.index.search(vector, terms, scope, k, threshold=threshold)
        assert isinstance(self.store, SearchingStore)
        return await self.store.search(
            vector, terms, scope, k, threshold=threshold, vector_weight=self.vector_weight, where=where
        )

    async def page(
        self,
        scope: Scope,
        *,
        cursor: str | None = None,
        limit: int = 20,
        filters: Mapping[str, Any] | None = None,
    ) -> Page:
        """A page of the memories of `scope`, newest first, with the total and the next page's cursor."""
        size = validation.limit(limit, self.limits)
        after = None if cursor is None else decode_cursor(cursor)
        where = self._filter(filters)
        if where is None:
            rows = await self.store.page(scope, after, size + 1)
            total = await self.store.count(scope)
        else:
            test = predicate(where)
            matches = [
                (memory_id, position)
                for memory_id, position, meta in await self.store.listing(scope, where)
                if test(meta)
            ]
            total = len(matches)
            if after is not None:
                matches = [(memory_id, position) for memory_id, position in matches if position < after]
            chosen = matches[: size + 1]
            found = await self.store.get_many(scope, [memory_id for memory_id, _ in chosen])
            rows = [found[memory_id] for memory_id, _ in chosen if memory_id in found]
        page = rows[:size]
        more = len(rows) > size
        next_cursor = encode_cursor((page[-1].created_at, page[-1].id)) if more and page else None
        return Page(page, next_cursor, total)

    async def history(self, memory_id: str, scope: Scope) -> list[HistoryEntry]:
        """Every recorded change of a memory, oldest first; still there after it is deleted."""
        if not isinstance(memory_id, str) or not memory_id.strip():
            raise InvalidInputError("memory_id is empty. Use search_memory or list_memories to find ids.")
        entries = [] if len(memory_id) > self.limits.id_max_chars else await self.store.history(scope, memory_id)
        if not entries:
            raise NotFoundError(memory_id[: self.limits.id_max_chars])
        return entries

    async def count(self, scope: Scope) -> int:
        """How many memories `scope` can see."""
        return await self.store.count(scope)

    async def summaries(self, user_id: str | None = None) -> list[UserSummary]:
        """What each user (or the one given) has stored, by user id."""
        return await self.store.summaries(user_id)

    async def summary(self, scope: Scope) -> UserSummary:
        """What one user has stored (zero memories when nothing)."""
        found = await self.store.summaries(scope.user_id)
        return found[0] if found else UserSummary(scope.user_id, 0, None, None, 0, 0)

    def records(
        self, scope: Scope | None, *, vectors: bool = False, history: bool = False
    ) -> AsyncIterator[list[MemoryRecord]]:
        """Every memory of `scope` (None: all users), oldest first, in batches, for export."""
        return self.store.iter_records(scope, vectors=vectors, history=history)
