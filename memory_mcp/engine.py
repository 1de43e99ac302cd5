"""MemoryEngine: add, search, update and delete scoped memories over an embedder, an index and a store."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any, Final

import numpy as np

from . import validation
from .config import DUPLICATE_SCORE, RELATED_SCORE
from .errors import InvalidInputError, NotFoundError, StoreError
from .filters import Filter, parse_filter, predicate
from .models import (
    AddResult,
    BatchItem,
    HistoryEntry,
    Limits,
    Matrix,
    Memory,
    MemoryId,
    MemoryRecord,
    Metadata,
    Page,
    Row,
    Scope,
    SearchHit,
    Similar,
    UserSummary,
    Vector,
    now,
)
from .paging import decode_cursor, encode_cursor
from .protocols import Embedder, MemoryStore, Retriever
from .search.analyzer import Analyzer
from .search.fusion import fuse
from .tally import Tally, field_of, tally

logger = logging.getLogger(__name__)

_REEMBED_BATCH: Final = 1_000
_FILTER_WIDEN: Final = 4  # a filtered search looks at 4x more candidates each round until it has enough
_EMBED_CHUNK: Final = 256  # texts embedded between two progress reports
_SIMILAR: Final = 3  # resembling memories an add reports
_WEAK: Final = 3  # a search without threshold shows at least this many memories, the unrelated ones marked weak

Progress = Callable[[int, int], Awaitable[None]]
"""Told (done, total) as a long operation advances."""


class MemoryEngine:
    """Scoped long-term memory: the store is the source of truth, the retriever finds memories in it.

    (One class of some 500 lines on purpose: every operation shares the write lock, validation and the
    order "commit to the store, then tell the retriever", which is easiest to check in one place.)

    Writes are serialised within the process and committed to the store before the index changes, so
    a search never returns a memory whose write failed. Reads run concurrently.
    """

    def __init__(
        self,
        store: MemoryStore,
        retriever: Retriever | None,
        embedder: Embedder,
        limits: Limits | None = None,
    ) -> None:
        """Parts come built (see `memory_mcp.app.open_engine`); `retriever=None` makes an engine that never
        searches (the command line's reads and writes), which refuses `search`."""
        self.store = store
        self.retriever = retriever
        self.embedder = embedder
        self.analyzer = Analyzer()
        self.limits = limits or Limits()
        self._write_lock = asyncio.Lock()

    async def start(
        self,
        *,
        reembed: bool | Callable[[str], bool] = False,
        background: bool = False,
        progress: Progress | None = None,
    ) -> None:
        """Check the stored vectors were made by our embedder (or re-embed them), then start the retriever.

        `reembed`: re-embed vectors of another embedder from their texts, always (True), never (False: refuse
        with advice), or when this test of the stored embedder's id says so.

        `background=True` returns as soon as the database is checked and lets the retriever fill its index
        meanwhile: reads that need no index answer at once, searches wait for it, writes queue behind it.
        `progress` follows a re-embedding.
        """
        stored = await self.store.embedder_id()
        if stored != self.embedder.id:
            count = await self.store.count_all()
            allowed = reembed(stored) if callable(reembed) and stored is not None else reembed is True
            if stored is not None and count and not allowed:
                raise StoreError(
                    f"The database holds {count} memories embedded with {stored!r}, but this server uses "
                    f"{self.embedder.id!r}; vectors of different embedders cannot be compared. Start with "
                    "--reembed (MEMORY_MCP_REEMBED=1) to re-embed them from their text, or configure the "
                    "embedder the database was made with."
                )
            if stored is not None and count:
                logger.warning("re-embedding %d memories from %s to %s", count, stored, self.embedder.id)
                await self.store.rewrite_vectors(
                    self.embedder.id, self.embedder.dim, self._reembedder(count, progress), _REEMBED_BATCH
                )
            else:
                await self.store.set_embedder_id(self.embedder.id)
        if self.retriever is not None:
            await self.retriever.start(self._write_lock, background=background)

    async def stop(self) -> None:
        """Stop the retriever (a background fill still under way is cancelled); the caller closes the store."""
        if self.retriever is not None:
            await self.retriever.stop()

    @property
    def ready(self) -> bool:
        """True once searches need not wait for the index (see `start(background=True)`)."""
        return self.retriever is None or self.retriever.ready

    @property
    def indexed(self) -> int | None:
        """How many memories this process holds for search (None when the store searches by itself)."""
        return None if self.retriever is None else self.retriever.indexed

    def _reembedder(self, total: int, progress: Progress | None) -> Callable[[Sequence[str]], Awaitable[Matrix]]:
        """The embedding function a re-embedding store calls batch by batch; it reports progress as it goes."""
        done, reported = 0, 0

        async def embed(texts: Sequence[str]) -> Matrix:
            nonlocal done, reported
            vectors = await self.embedder.embed_documents(texts)
            done += len(texts)
            if progress is not None:
                await progress(done, total)
            if done * 10 // total > reported or done == total:  # progress on stderr, every tenth
                reported = done * 10 // total
                logger.warning("re-embedded %d of %d memories (%d%%)", done, total, 100 * done // total)
            return vectors

        return embed

    # -- validation helpers -----------------------------------------------------------------------

    def scope(self, user_id: Any, agent_id: Any = None, run_id: Any = None, project: Any = None) -> Scope:
        """A validated scope (InvalidInputError when an id is empty or malformed)."""
        return validation.scope_of(user_id, agent_id, run_id, project, limits=self.limits)

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

    async def add(
        self,
        text: str,
        scope: Scope,
        metadata: Metadata | None = None,
        *,
        if_similar: str = "store",
        current_project: str | None = None,
    ) -> AddResult:
        """Remember `text`; an exact duplicate in the same scope returns the existing memory, not a copy.

        The result lists the memories visible from the scope that resemble it (by the engine's own search, scores
        from `config.RELATED_SCORE`, near-duplicates from `config.DUPLICATE_SCORE`); a general memory added while
        the caller works in `current_project` is compared with the general memories and that project's only.
        With `if_similar="skip"`, a near-duplicate means nothing is stored and that memory comes back (`skipped`).
        """
        if if_similar not in ("store", "skip"):
            raise InvalidInputError(f'if_similar must be "store" or "skip", got {if_similar!r}.')
        clean = validation.text("text", text, self.limits)
        fields = validation.metadata(metadata, self.limits)
        vectors = await self.embedder.embed_documents([clean])  # once: compared with the others, then stored
        seen_from = scope if scope.project is not None else replace(scope, project=current_project)
        similar = await self._similar(clean, vectors[0], seen_from)
        duplicates = [found for found in similar if found.kind == "duplicate"]
        if if_similar == "skip" and duplicates:
            return AddResult(duplicates[0].memory, False, tuple(similar), skipped=True)
        [(memory, created)] = await self._store_new(scope, [(clean, fields)], vectors=vectors)
        return AddResult(memory, created, tuple(found for found in similar if found.memory.id != memory.id))

    async def _similar(self, text: str, vector: Vector, scope: Scope) -> list[Similar]:
        """The few memories of `scope` that resemble `text` (embedded as `vector`), most alike first, by the
        engine's own search (none without a search index)."""
        terms = self.analyzer.terms(text)
        if self.retriever is None or (not terms and not np.any(vector)):  # no words to search by: resembles nothing
            return []
        hits = await self._ranked(vector, terms, scope, _SIMILAR, RELATED_SCORE, None)
        return [
            Similar(hit.memory, hit.score, "duplicate" if hit.score >= DUPLICATE_SCORE else "related") for hit in hits
        ]

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
        self,
        scope: Scope,
        items: Sequence[tuple[str, Metadata]],
        progress: Progress | None = None,
        *,
        vectors: Matrix | None = None,
    ) -> list[tuple[Memory, bool]]:
        """Store validated (text, metadata) items not yet in `scope`; (memory, created) for each, in order.

        `vectors`, when the caller has embedded the items already, holds one row per item."""
        digests = [validation.content_hash(text) for text, _ in items]
        first: dict[str, int] = {}
        for position, digest in enumerate(digests):
            first.setdefault(digest, position)
        fresh = sorted(first.values())
        if vectors is None:
            vectors = await self._embed([items[position][0] for position in fresh], progress, len(items))
        else:
            vectors = vectors[fresh]
        async with self._write_lock:
            stamp = now()
            new: dict[str, tuple[Memory, Vector]] = {}
            for row, position in enumerate(fresh):
                text, fields = items[position]
                memory = Memory(MemoryId(str(uuid.uuid4())), text, scope, fields, stamp, stamp)
                new[digests[position]] = (memory, vectors[row])
            # The store's unique key on scope + content hash decides what is a duplicate, even across processes.
            rows = [
                Row(memory, digest, vector, self.analyzer.terms(memory.text))
                for digest, (memory, vector) in new.items()
            ]
            inserted = await self.store.insert_many(rows)
            known: dict[str, Memory] = {}
            if len(inserted) < len(new):
                known = await self.store.find_by_hashes(scope, [d for d, (m, _) in new.items() if m.id not in inserted])
            added = [row for row in rows if row.memory.id in inserted]
            self._committed(stored=added, stamps=[(row.memory.id, row.memory.created_at) for row in added])
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
            row = Row(updated, validation.content_hash(new_text), vector, self.analyzer.terms(new_text))
            await self.store.replace(old, row)
            self._committed(stored=[row], stamps=[(updated.id, updated.updated_at)])
        return updated

    async def delete(self, memory_id: str, scope: Scope) -> Memory:
        """Forget one memory; returns it as it was."""
        async with self._write_lock:
            old = await self._get(memory_id, scope)
            stamp = now()
            await self.store.delete(old, stamp)
            self._committed(removed=[old.id], stamps=[(old.id, stamp)])
        return old

    async def delete_all(self, scope: Scope, *, progress: Progress | None = None) -> int:
        """Forget every memory of `scope` in one transaction (of a project: its own memories, not the general ones
        it sees); returns how many."""
        async with self._write_lock:
            if progress is not None:
                await progress(0, await self.store.count(scope))
            stamp = now()
            ids = await self.store.delete_scope(scope, stamp)
            self._committed(removed=ids, stamps=[(memory_id, stamp) for memory_id in ids])
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
            Row(
                record.memory,
                validation.content_hash(record.memory.text),
                vector,
                self.analyzer.terms(record.memory.text),
            )
            for record, vector in zip(records, vectors, strict=True)
        ]
        async with self._write_lock:
            stored = await self.store.restore(rows, {record.memory.id: record.history for record in records})
            kept = [row for row in rows if row.memory.id in stored]
            stamps = [
                (record.memory.id, stamp)
                for record in records
                if record.memory.id in stored
                for stamp in ([entry.created_at for entry in record.history] or [record.memory.created_at])
            ]
            self._committed(stored=kept, stamps=stamps)
        return stored

    def _committed(
        self, *, stored: Sequence[Row] = (), removed: Sequence[MemoryId] = (), stamps: Sequence[tuple[MemoryId, str]]
    ) -> None:
        """Tell the retriever (when there is one) what was just committed."""
        if self.retriever is not None:
            self.retriever.committed(stored, removed, stamps)

    # -- reads ------------------------------------------------------------------------------------

    async def _get(self, memory_id: str, scope: Scope) -> Memory:
        if not isinstance(memory_id, str) or not memory_id.strip():
            raise InvalidInputError("memory_id is empty. Use search_memory or list_memories to find ids.")
        memory = None if len(memory_id) > self.limits.id_max_chars else await self.store.get(scope, memory_id)
        if memory is None:
            raise NotFoundError(memory_id[: self.limits.id_max_chars])
        return memory

    async def ids_starting(self, prefix: str, scope: Scope, limit: int = 10) -> list[MemoryId]:
        """Ids of the memories `scope` can see that start with `prefix` (at most `limit`): short ids typed by hand."""
        if not isinstance(prefix, str) or not prefix.strip():
            raise InvalidInputError("memory_id is empty. Use search_memory or list_memories to find ids.")
        return await self.store.ids_starting(scope, prefix, limit)

    async def get(self, memory_id: str, scope: Scope) -> Memory:
        """One memory by id; NotFoundError when `scope` cannot see it (even if another user has it)."""
        return await self._get(memory_id, scope)

    async def search(
        self,
        query: str | Sequence[str],
        scope: Scope,
        *,
        limit: int = 10,
        threshold: float | None = None,
        filters: Mapping[str, Any] | None = None,
    ) -> list[SearchHit]:
        """The memories of `scope` closest to `query`, best first, optionally filtered by metadata.

        `query` may be several wordings of one question: each is searched and the rankings are fused by
        rank (reciprocal rank fusion), a memory keeping its best score. Without a `threshold`, related memories
        come back (a shared word, or close in meaning); when fewer than three are related, the nearest others
        follow, marked `match="weak"`, so that a scope holding memories never answers with nothing.
        """
        if self.retriever is None:
            raise InvalidInputError("This engine was opened without search; open it with index=True.")
        texts = validation.queries(query, self.limits)
        wanted = validation.limit(limit, self.limits)
        minimum = validation.threshold(threshold)
        where = self._filter(filters)
        asked = [(await self.embedder.embed_query(text), self.analyzer.terms(text)) for text in texts]
        if all(not terms and not np.any(vector) for vector, terms in asked):
            raise InvalidInputError(
                "The query has no words to search by (only punctuation or very common words). "
                "Add a distinctive word, or use list_memories to browse."
            )
        rankings = [await self._ranked(vector, terms, scope, wanted, minimum, where) for vector, terms in asked]
        hits = fuse(rankings, wanted)
        shown = min(wanted, _WEAK)
        if minimum is not None or len(hits) >= shown:
            return hits
        # Fewer related memories than a short answer holds: the nearest others follow, marked weak.
        nearest = [await self._ranked(vector, terms, scope, shown, -1.0, where) for vector, terms in asked]
        found = {hit.memory.id for hit in hits}
        extra = [replace(hit, match="weak") for hit in fuse(nearest, shown) if hit.memory.id not in found]
        return hits + extra[: shown - len(hits)]

    async def _ranked(
        self,
        vector: Vector,
        terms: Sequence[str],
        scope: Scope,
        wanted: int,
        minimum: float | None,
        where: Filter | None,
    ) -> list[SearchHit]:
        """The best `wanted` of one query, read from the store; with a filter, widening until enough pass it."""
        assert self.retriever is not None
        test = None if where is None else predicate(where)
        k = wanted if test is None else wanted * _FILTER_WIDEN
        hits: list[SearchHit] = []
        seen: set[MemoryId] = set()
        while True:
            candidates = await self.retriever.search(vector, terms, scope, k, threshold=minimum, where=where)
            fresh = [hit for hit in candidates if hit.id not in seen]
            seen.update(hit.id for hit in fresh)
            found = await self.store.get_many(scope, [hit.id for hit in fresh])
            for hit in fresh:
                memory = found.get(hit.id)  # None when deleted since the index was read
                if memory is not None and (test is None or test(memory.metadata)):
                    hits.append(SearchHit(memory, hit.score))
            # Fewer candidates than asked for means every eligible memory has been seen.
            if len(hits) >= wanted or len(candidates) < k:
                return hits[:wanted]
            k *= _FILTER_WIDEN

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

    async def summarize(
        self, scope: Scope, group_by: str, *, filters: Mapping[str, Any] | None = None, limit: int = 20
    ) -> Tally:
        """The memories of `scope` (that `filters` match) counted by month stored or by a metadata field's values,
        most first (months in time order), at most `limit` groups."""
        size = validation.limit(limit, self.limits)
        field_of(group_by)  # a bad group_by is refused before anything is read
        where = self._filter(filters)
        test = None if where is None else predicate(where)
        rows = [
            (position[0], metadata)
            for _, position, metadata in await self.store.listing(scope, where)
            if test is None or test(metadata)
        ]
        return tally(rows, group_by, size)

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

    async def count_all(self) -> int:
        """How many memories the database holds, all users together."""
        return await self.store.count_all()

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
