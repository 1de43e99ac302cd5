"""MemoryEngine: add, search, update and delete scoped memories over an embedder, an index and a store.

Still one class (see its docstring); splitting it into named collaborators (writes, reads, time, links) is
issue 25's main step, not done yet.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any, Final

import numpy as np

from . import validation
from .errors import InvalidInputError, NotFoundError, StoreError
from .filters import Filter, parse_filter, predicate
from .links import neighbors as linked_to
from .links import supersession_chain
from .models import (
    CURRENT,
    AddResult,
    BatchItem,
    HistoryEntry,
    IndexHit,
    Limits,
    Link,
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
    Validity,
    Vector,
    new_id,
    now,
)
from .paging import decode_cursor, encode_cursor
from .protocols import Embedder, MemoryStore, Retriever
from .scoring import DUPLICATE_SCORE, MEANING_ROOM, RELATED_SCORE
from .search.analyzer import Analyzer
from .search.fusion import fuse, give_room
from .tally import LINK, Tally, grouping, tally

logger = logging.getLogger(__name__)

_REEMBED_BATCH: Final = 1_000
_FILTER_WIDEN: Final = 4  # a filtered search looks at 4x more candidates each round until it has enough
_EMBED_CHUNK: Final = 256  # texts embedded between two progress reports
_SIMILAR: Final = 3  # resembling memories an add reports
_NAMED: Final = 5  # more candidates read, as those alike by a shared name alone are left out

Draft = tuple[str, Metadata, tuple[str, ...], str]
"""A validated new memory: text, metadata, entities and valid_from ("" for "since stored")."""

Progress = Callable[[int, int], Awaitable[None]]
"""Told (done, total) as a long operation advances."""


class MemoryEngine:
    """Scoped long-term memory: the store is the source of truth, the retriever finds memories in it.

    (One class on purpose: every operation shares the write lock, validation and the order "commit to the store,
    then tell the retriever", which is easiest to check in one place; what only reads links lives in `links`.)

    Writes are serialised within the process and committed to the store before the index changes, so
    a search never returns a memory whose write failed. Reads run concurrently.
    """

    def __init__(
        self,
        store: MemoryStore,
        retriever: Retriever,
        embedder: Embedder,
        limits: Limits | None = None,
        *,
        meaning_room: int = MEANING_ROOM,
    ) -> None:
        """Parts come built (see `memory_mcp.app.open_engine`); a retriever that does not search
        (`search.NoSearch`) makes an engine for reads and writes only (the command line's), which refuses `search`.
        `meaning_room`: the places the meaning leg takes after the best result (measured per embedder:
        `embedders.meaning_room_for`)."""
        self.store = store
        self.retriever = retriever
        self.embedder = embedder
        self.meaning_room = meaning_room
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
        await self.retriever.start(self._write_lock, background=background)

    async def stop(self) -> None:
        """Stop the retriever (a background fill still under way is cancelled); the caller closes the store."""
        await self.retriever.stop()

    @property
    def ready(self) -> bool:
        """True once searches need not wait for the index (see `start(background=True)`)."""
        return self.retriever.ready

    @property
    def indexed(self) -> int | None:
        """How many memories this process holds for search (None when the store searches by itself)."""
        return self.retriever.indexed

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
        entities: Sequence[str] | None = None,
        valid_from: str | None = None,
    ) -> AddResult:
        """Remember `text`; an exact duplicate in the same scope returns the existing memory, not a copy.

        The result lists the memories visible from the scope that resemble it (by the engine's own search, scores
        from `scoring.RELATED_SCORE`, near-duplicates from `scoring.DUPLICATE_SCORE`); a general memory added while
        the caller works in `current_project` is compared with the general memories and that project's only.
        With `if_similar="skip"`, a near-duplicate means nothing is stored and that memory comes back (`skipped`).
        `entities` names what it is about; `valid_from` (an ISO date or time) says since when it is true, if
        earlier than now.
        """
        if if_similar not in ("store", "skip"):
            raise InvalidInputError(f'if_similar must be "store" or "skip", got {if_similar!r}.')
        draft = self._draft(text, metadata, entities, valid_from)
        clean = draft[0]
        vectors = await self.embedder.embed_documents([clean])  # once: compared with the others, then stored
        seen_from = scope if scope.project is not None else replace(scope, project=current_project)
        # The comparison decides whether to store ("skip"), or a store that searches by itself would see the
        # write while comparing: compare first. Else the comparison, in this process's index, runs while the store
        # commits (and syncs to disk).
        if if_similar == "skip" or not self.retriever.in_process:
            similar = await self._similar(clean, vectors[0], seen_from)
            duplicates = [found for found in similar if found.kind == "duplicate"]
            if if_similar == "skip" and duplicates:
                return AddResult(duplicates[0].memory, False, tuple(similar), skipped=True)
            [(memory, created)], _ = await self._store_new(scope, [draft], vectors=vectors)
        else:
            [(memory, created)], similar = await self._store_new(
                scope, [draft], vectors=vectors, compare=lambda: self._similar(clean, vectors[0], seen_from, True)
            )
        return AddResult(memory, created, tuple(found for found in similar if found.memory.id != memory.id))

    async def _similar(self, text: str, vector: Vector, scope: Scope, locked: bool = False) -> list[Similar]:
        """The few memories of `scope` that resemble `text` (embedded as `vector`), most alike first, by the
        engine's own search (none without a search index); `locked` when the caller holds the write lock."""
        terms = self.analyzer.terms(text)
        if not self.retriever.searches or (not terms and not np.any(vector)):  # nothing to search by: resembles nothing
            return []
        hits = await self._ranked(vector, terms, scope, _SIMILAR + _NAMED, RELATED_SCORE, None, locked=locked)
        # A memory that shares only names with the new one (Alice, Leeds) is about the same person, not the same
        # thing: related only when it is as close as a near-duplicate. One sharing no term came by meaning.
        named, mine = self.analyzer.name_terms(text), set(terms)
        alike = [
            hit
            for hit in hits
            if hit.score >= DUPLICATE_SCORE
            or not (shared := mine & set(self.analyzer.terms(hit.memory.text)))
            or shared - named
        ]
        return [
            Similar(hit.memory, hit.score, "duplicate" if hit.score >= DUPLICATE_SCORE else "related")
            for hit in alike[:_SIMILAR]
        ]

    def _draft(self, text: Any, metadata: Any, entities: Any = None, valid_from: Any = None) -> Draft:
        """A new memory's parts, validated (InvalidInputError names the first bad one)."""
        return (
            validation.text("text", text, self.limits),
            validation.metadata(metadata, self.limits),
            validation.entities(entities, self.limits),
            "" if valid_from is None else validation.when("valid_from", valid_from),
        )

    async def add_many(
        self,
        items: Sequence[tuple[Any, ...]],
        scope: Scope,
        *,
        progress: Progress | None = None,
        if_similar: str = "ignore",
    ) -> list[BatchItem]:
        """Remember many items in one transaction: (text, metadata[, entities[, valid_from]]) each; one outcome
        per item, in input order.

        A bad item gets an error outcome and does not stop the others; an exact duplicate (of a stored
        memory or of an earlier item) is a no-op that returns the memory it duplicates. `progress` hears
        how many items are embedded, then all of them once stored. `if_similar`: "ignore" stores without
        comparing (the fastest), "store" reports the memories stored before the batch that each item resembles
        (as `add` does), "skip" also leaves out an item that has a near-duplicate among them.
        """
        if if_similar not in ("ignore", "store", "skip"):
            raise InvalidInputError(f'if_similar must be "ignore", "store" or "skip", got {if_similar!r}.')
        if not items:
            raise InvalidInputError("memories is empty: give at least one {text, metadata?} item.")
        if len(items) > self.limits.max_batch:
            raise InvalidInputError(
                f"{len(items)} memories in one call; the limit is {self.limits.max_batch}. Split the batch."
            )
        outcomes: list[BatchItem | None] = [None] * len(items)
        valid: list[tuple[int, Draft]] = []
        for position, item in enumerate(items):
            try:
                valid.append((position, self._draft(*item)))
            except InvalidInputError as exc:
                outcomes[position] = BatchItem("error", error=f"item {position}: {exc}")
        vectors = None
        resembling: dict[int, tuple[Similar, ...]] = {}
        if if_similar != "ignore" and valid:
            vectors = await self._embed([item[0] for _, item in valid], progress, len(items))
            for row, (position, item) in enumerate(valid):
                resembling[position] = tuple(await self._similar(item[0], vectors[row], scope))
            if if_similar == "skip":
                kept = []
                for row, (position, _) in enumerate(valid):
                    twin = next((found for found in resembling[position] if found.kind == "duplicate"), None)
                    if twin is None:
                        kept.append(row)
                    else:
                        outcomes[position] = BatchItem("skipped", twin.memory, similar=resembling[position])
                valid, vectors = [valid[row] for row in kept], vectors[kept]
        stored = (
            (await self._store_new(scope, [item for _, item in valid], progress, vectors=vectors))[0] if valid else []
        )
        if progress is not None:
            await progress(len(items), len(items))
        for (position, _), (memory, created) in zip(valid, stored, strict=True):
            similar = tuple(found for found in resembling.get(position, ()) if found.memory.id != memory.id)
            outcomes[position] = BatchItem("added" if created else "noop", memory, similar=similar)
        return [outcome for outcome in outcomes if outcome is not None]

    async def _store_new(
        self,
        scope: Scope,
        items: Sequence[Draft],
        progress: Progress | None = None,
        *,
        vectors: Matrix | None = None,
        compare: Callable[[], Awaitable[list[Similar]]] | None = None,
    ) -> tuple[list[tuple[Memory, bool]], list[Similar]]:
        """Store validated new memories not yet in `scope`; (memory, created) for each, in order, and what
        `compare` found.

        `vectors`, when the caller has embedded the items already, holds one row per item. `compare` (a search,
        under the write lock) runs while the store commits, and ends before the index learns of the new rows:
        what it finds is what it would have found before the write."""
        digests = [validation.content_hash(item[0]) for item in items]
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
                text, fields, names, valid_from = items[position]
                memory = Memory(new_id(), text, scope, fields, stamp, stamp, valid_from, None, None, names)
                new[digests[position]] = (memory, vectors[row])
            # The store's unique key on scope + content hash decides what is a duplicate, even across processes.
            rows = [
                Row(memory, digest, vector, self.analyzer.terms(memory.text))
                for digest, (memory, vector) in new.items()
            ]
            comparing = None
            if compare is not None:
                await self.retriever.refresh()  # others' changes first: the comparison then reads no change in
                comparing = asyncio.ensure_future(compare())
            try:
                inserted = await self.store.insert_many(rows)
                known: dict[str, Memory] = {}
                if len(inserted) < len(new):
                    hashes = [digest for digest, (memory, _) in new.items() if memory.id not in inserted]
                    known = await self.store.find_by_hashes(scope, hashes)
            finally:
                if comparing is not None:  # it reads the index, which must not change under it
                    await asyncio.wait([comparing])
            added = [row for row in rows if row.memory.id in inserted]
            self._committed(stored=added, stamps=[(row.memory.id, row.memory.created_at) for row in added])
        # A text stored before (or by another process meanwhile) is a no-op; so is a repeat inside the batch.
        outcomes = [
            (known[digest], False) if digest in known else (new[digest][0], first[digest] == position)
            for position, digest in enumerate(digests)
        ]
        if comparing is None:
            return outcomes, []
        failure = comparing.exception()
        if failure is not None:  # the memories are stored: that is the answer, without the comparison
            logger.warning("could not compare the new memory with the others: %s", failure)
            return outcomes, []
        return outcomes, comparing.result()

    async def update(
        self,
        memory_id: str,
        scope: Scope,
        *,
        text: str | None = None,
        metadata: Metadata | None = None,
        entities: Sequence[str] | None = None,
    ) -> Memory:
        """Change the text and/or replace the metadata or entities of a memory; re-embeds and records history."""
        if text is None and metadata is None and entities is None:
            raise InvalidInputError("Nothing to update: give a new text, new metadata or new entities.")
        clean = None if text is None else validation.text("text", text, self.limits)
        fields = None if metadata is None else validation.metadata(metadata, self.limits)
        names = None if entities is None else validation.entities(entities, self.limits)
        async with self._write_lock:
            old = await self._get(memory_id, scope)
            new_text = old.text if clean is None else clean
            new_metadata = old.metadata if fields is None else fields
            new_names = old.entities if names is None else names
            if new_text == old.text and new_metadata == old.metadata and new_names == old.entities:
                return old
            updated = replace(old, text=new_text, metadata=new_metadata, updated_at=now(), entities=new_names)
            vector = await self._embed_one(new_text)
            row = Row(updated, validation.content_hash(new_text), vector, self.analyzer.terms(new_text))
            await self.store.replace(old, row)
            self._committed(stored=[row], stamps=[(updated.id, updated.updated_at)])
        return updated

    async def supersede(
        self,
        memory_id: str,
        scope: Scope,
        text: str,
        *,
        metadata: Metadata | None = None,
        entities: Sequence[str] | None = None,
        valid_from: str | None = None,
    ) -> tuple[Memory, Memory]:
        """Replace a fact that changed without losing it: store `text` as a new memory of the same scope (true
        from `valid_from`, default now) and close the old one (valid until then, superseded by the new one, a
        `supersedes` link from new to old). Metadata and entities default to the old memory's. Returns (old as
        closed, new)."""
        draft = self._draft(text, metadata, entities, valid_from)
        vector = await self._embed_one(draft[0])
        async with self._write_lock:
            old = await self._get(memory_id, scope)
            if not old.current:
                raise InvalidInputError(
                    f"Memory {old.id!r} was already superseded by {old.superseded_by!r} on {old.valid_to}; "
                    "change the current memory instead (memory_history shows the chain)."
                )
            stamp = now()
            start = draft[3] or stamp
            if start < old.valid_from:
                raise InvalidInputError(
                    f"valid_from {start[:10]} is before the old memory became true ({old.valid_from[:10]}): the new "
                    "fact must start when or after the old one did."
                )
            new = Memory(
                new_id(),
                draft[0],
                old.scope,
                draft[1] if metadata is not None else old.metadata,
                stamp,
                stamp,
                start,
                None,
                None,
                draft[2] if entities is not None else old.entities,
            )
            row = Row(new, validation.content_hash(new.text), vector, self.analyzer.terms(new.text))
            link = Link(new.id, old.id, "supersedes", {}, stamp)
            if not await self.store.supersede(old, row, link):
                raise InvalidInputError(
                    f"Memory {old.id!r} was superseded meanwhile; search again for the current one."
                )
            self._committed(stored=[row], closed=[old.id], stamps=[(old.id, stamp), (new.id, stamp)])
        return replace(old, valid_to=start, superseded_by=new.id, updated_at=stamp), new

    async def revise(
        self,
        memory_id: str,
        scope: Scope,
        *,
        text: str | None = None,
        metadata: Metadata | None = None,
        entities: Sequence[str] | None = None,
        keep_history: bool = False,
        valid_from: str | None = None,
    ) -> tuple[Memory | None, Memory]:
        """Correct a memory (`update`), or with `keep_history` supersede it (`supersede`, which needs the new text);
        returns (the memory closed, None for a correction; the memory as it now is)."""
        if keep_history:
            if text is None:
                raise InvalidInputError("keep_history needs the new text: the fact as it is now.")
            old, new = await self.supersede(
                memory_id, scope, text, metadata=metadata, entities=entities, valid_from=valid_from
            )
            return old, new
        if valid_from is not None:
            raise InvalidInputError("valid_from goes with keep_history=true (a new fact); here it changes nothing.")
        return None, await self.update(memory_id, scope, text=text, metadata=metadata, entities=entities)

    async def link(
        self, scope: Scope, source_id: str, target_id: str, link_type: str, metadata: Metadata | None = None
    ) -> tuple[Link, bool]:
        """Link two memories of the user (directed, typed); returns the link and whether it is new (the same
        source, target and type stored before is kept as it was)."""
        kind = validation.link_type(link_type)
        fields = validation.metadata(metadata, self.limits)
        async with self._write_lock:
            source = await self._get(source_id, scope)
            target = await self._get(target_id, scope)
            if source.id == target.id:
                raise InvalidInputError("A memory cannot be linked to itself: give two different memory ids.")
            link = Link(source.id, target.id, kind, fields, now())
            created = await self.store.link(scope.user_id, [link]) == 1
        if not created:
            link = next(
                found
                for found in await self.store.links(scope.user_id, [source.id])
                if (found.source_id, found.target_id, found.type) == (source.id, target.id, kind)
            )
        return link, created

    async def link_many(self, user_id: str, links: Sequence[Link]) -> int:
        """Store links as they were elsewhere (an import): those between two memories of `user_id` that are not
        there yet; returns how many were stored."""
        async with self._write_lock:
            return await self.store.link(user_id, links) if links else 0

    async def unlink(self, scope: Scope, source_id: str, target_id: str, link_type: str | None = None) -> list[Link]:
        """Remove the links from one memory to another (of one type, or all); returns those removed."""
        kind = None if link_type is None else validation.link_type(link_type)
        async with self._write_lock:
            source = await self._get(source_id, scope)
            target = await self._get(target_id, scope)
            removed = await self.store.unlink(scope.user_id, source.id, target.id, kind)
        if not removed:
            raise InvalidInputError(
                f"There is no {kind + ' ' if kind else ''}link from {source.id!r} to {target.id!r} (links are "
                "directed: get_memory shows a memory's links both ways)."
            )
        return removed

    async def get_linked(self, memory_id: str, scope: Scope) -> tuple[Memory, list[Link]]:
        """One memory with its links, both ways, oldest first (NotFoundError when `scope` cannot see it)."""
        memory = await self._get(memory_id, scope)
        return memory, await self.store.links(scope.user_id, [memory.id])

    async def links(self, scope: Scope, memory_id: str) -> list[Link]:
        """The links of one memory, both ways, oldest first (NotFoundError when `scope` cannot see it)."""
        return (await self.get_linked(memory_id, scope))[1]

    async def delete(self, memory_id: str, scope: Scope) -> Memory:
        """Forget one memory (and its links); returns it as it was."""
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
        self,
        *,
        stored: Sequence[Row] = (),
        removed: Sequence[MemoryId] = (),
        stamps: Sequence[tuple[MemoryId, str]],
        closed: Sequence[MemoryId] = (),
    ) -> None:
        """Tell the retriever what was just committed."""
        self.retriever.committed(stored, removed, stamps, closed)

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

    def validity(self, as_of: Any = None, include_superseded: Any = False) -> Validity:
        """The view of a read: current memories, all (`include_superseded`), or those true at `as_of`."""
        if not isinstance(include_superseded, bool):
            raise InvalidInputError(f"include_superseded must be true or false, got {include_superseded!r}.")
        return Validity(None if as_of is None else validation.when("as_of", as_of), include_superseded)

    async def search(
        self,
        query: str | Sequence[str],
        scope: Scope,
        *,
        limit: int = 10,
        threshold: float | None = None,
        filters: Mapping[str, Any] | None = None,
        validity: Validity = CURRENT,
        entity: str | None = None,
        neighbors: int = 0,
    ) -> list[SearchHit]:
        """The memories of `scope` closest to `query`, best first, optionally filtered by metadata.

        `query` may be several wordings of one question: each is searched and the rankings are fused by
        rank (reciprocal rank fusion), a memory keeping its best score. Without a `threshold`, related memories
        come back (a shared word, or close in meaning); when fewer than `limit` are related, the nearest others
        fill the answer up to `limit`, marked `match="weak"`, so that a scope holding memories never answers with
        nothing and `limit` is honoured.

        `validity` chooses current memories (default), all, or those true at a time; `entity` keeps the
        memories that name it; `neighbors` (hops, up to `Limits.max_neighbors`) appends the memories linked to
        the results, marked `match="linked"`, at most `limit` of them.
        """
        texts = validation.queries(query, self.limits)
        wanted = validation.limit(limit, self.limits)
        minimum = validation.threshold(threshold)
        hops = self._hops(neighbors)
        where = self._filter(filters)
        named = self._entity(entity)
        asked = [(await self.embedder.embed_query(text), self.analyzer.terms(text)) for text in texts]
        if all(not terms and not np.any(vector) for vector, terms in asked):
            raise InvalidInputError(
                "The query has no words to search by (only punctuation or very common words). "
                "Add a distinctive word, or use list_memories to browse."
            )
        view = (validity, named)
        rankings = [await self._ranked(vector, terms, scope, wanted, minimum, where, view) for vector, terms in asked]
        hits = fuse(rankings, wanted)
        if minimum is None and len(hits) < wanted:
            # Fewer related memories than asked for: the nearest others fill up to `limit`, marked weak.
            nearest = [await self._ranked(vector, terms, scope, wanted, -1.0, where, view) for vector, terms in asked]
            found = {hit.memory.id for hit in hits}
            extra = [replace(hit, match="weak") for hit in fuse(nearest, wanted) if hit.memory.id not in found]
            hits = hits + extra[: wanted - len(hits)]
        if not hops:
            return hits
        # Linked memories hang from the real matches; one that only filled a short answer (weak) is shown linked.
        matched = [hit for hit in hits if hit.match != "weak"]
        linked = await linked_to(self.store, matched, scope, validity, hops=hops, most=wanted)
        shown_linked = {hit.memory.id for hit in linked}
        return matched + linked + [hit for hit in hits if hit.match == "weak" and hit.memory.id not in shown_linked]

    def _hops(self, neighbors: Any) -> int:
        most = self.limits.max_neighbors
        if isinstance(neighbors, bool) or not isinstance(neighbors, int) or not 0 <= neighbors <= most:
            raise InvalidInputError(
                f"neighbors must be a whole number from 0 to {most} (link hops), got {neighbors!r}."
            )
        return neighbors

    @staticmethod
    def _entity(entity: Any) -> str | None:
        """The key of an entity a read is narrowed to (None: any)."""
        if entity is None:
            return None
        if not isinstance(entity, str) or not entity.strip():
            raise InvalidInputError('entity must be a name such as "Caroline".')
        return validation.entity_key(entity)

    async def _ranked(
        self,
        vector: Vector,
        terms: Sequence[str],
        scope: Scope,
        wanted: int,
        minimum: float | None,
        where: Filter | None,
        view: tuple[Validity, str | None] = (CURRENT, None),
        *,
        locked: bool = False,
    ) -> list[SearchHit]:
        """The best `wanted` of one query, read from the store; with a filter, widening until enough pass it.

        Without a `minimum`, the meaning leg gets its room (`search.fusion.give_room`): the memories closest in
        meaning come right after the best, marked `match="meaning"` when that moved them up.
        `view`: the validity the memories must have and the entity key they must name (None: any); `locked`: the
        caller holds the write lock."""
        validity, named = view
        metadata_test = None if where is None else predicate(where)
        narrowed = metadata_test is not None or named is not None or validity.as_of is not None
        room = self.meaning_room if minimum is None else 0
        k = wanted if not narrowed else wanted * _FILTER_WIDEN
        ranked: list[IndexHit] = []
        picks: dict[MemoryId, IndexHit] = {}
        found: dict[MemoryId, Memory] = {}
        seen: set[MemoryId] = set()
        while True:
            candidates = await self.retriever.search(
                vector, terms, scope, k, threshold=minimum, where=where, validity=validity, locked=locked, room=room
            )
            unread = dict.fromkeys(hit.id for hit in candidates if hit.id not in found)
            found.update(await self.store.get_many(scope, list(unread)))

            def passes(hit: IndexHit) -> bool:
                memory = found.get(hit.id)  # None when deleted since the index was read
                return (
                    memory is not None
                    and validity.admits(memory)
                    and (metadata_test is None or metadata_test(memory.metadata))
                    and (named is None or named in {validation.entity_key(name) for name in memory.entities})
                )

            scored = [hit for hit in candidates if not hit.by_meaning]
            fresh = [hit for hit in scored if hit.id not in seen]
            seen.update(hit.id for hit in fresh)
            ranked += [hit for hit in fresh if passes(hit)]
            picks.update((hit.id, hit) for hit in candidates if hit.by_meaning and hit.id not in picks and passes(hit))
            # Fewer candidates than asked for means every eligible memory has been seen.
            if len(ranked) >= wanted or len(scored) < k:
                break
            k *= _FILTER_WIDEN
        arranged = give_room(ranked, list(picks.values()), room) if room else [(hit, False) for hit in ranked]
        return [
            SearchHit(
                found[hit.id],
                hit.score,
                "meaning" if moved else "strong",
                closeness=picks[hit.id].closeness if hit.id in picks else None,
            )
            for hit, moved in arranged[:wanted]
        ]

    async def page(
        self,
        scope: Scope,
        *,
        cursor: str | None = None,
        limit: int = 20,
        filters: Mapping[str, Any] | None = None,
        validity: Validity = CURRENT,
        entity: str | None = None,
    ) -> Page:
        """A page of the memories of `scope` and `validity` (naming `entity`, when given), newest first, with
        the total and the next page's cursor."""
        size = validation.limit(limit, self.limits)
        after = None if cursor is None else decode_cursor(cursor)
        where = self._filter(filters)
        named = self._entity(entity)
        if where is None and named is None:
            rows = await self.store.page(scope, after, size + 1, validity)
            total = await self.store.count(scope, validity)
        else:
            test = None if where is None else predicate(where)
            matches = [
                (row.id, row.position)
                for row in await self.store.listing(scope, where, validity, named)
                if test is None or test(row.metadata)
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
        self,
        scope: Scope,
        group_by: str,
        *,
        filters: Mapping[str, Any] | None = None,
        limit: int = 20,
        validity: Validity = CURRENT,
        entity: str | None = None,
    ) -> Tally:
        """The memories of `scope` and `validity` (that `filters` match, naming `entity`) counted by `group_by`:
        month stored or valid from, entity, link type or a metadata field's values; most first (months in time
        order), at most `limit` groups."""
        size = validation.limit(limit, self.limits)
        by = grouping(group_by)  # a bad group_by is refused before anything is read
        where = self._filter(filters)
        named = self._entity(entity)
        test = None if where is None else predicate(where)
        rows = [
            row for row in await self.store.listing(scope, where, validity, named) if test is None or test(row.metadata)
        ]
        links: dict[MemoryId, set[str]] | None = None
        if by == LINK:
            links = {row.id: set() for row in rows}
            for link in await self.store.links(scope.user_id, list(links)):
                for end in (link.source_id, link.target_id):
                    if end in links:
                        links[end].add(link.type)
        return tally(rows, group_by, size, links)

    async def history(self, memory_id: str, scope: Scope) -> list[HistoryEntry]:
        """Every recorded change of a memory, oldest first; still there after it is deleted. A memory in a chain
        of supersessions shows the whole chain: each entry names its memory."""
        if not isinstance(memory_id, str) or not memory_id.strip():
            raise InvalidInputError("memory_id is empty. Use search_memory or list_memories to find ids.")
        if len(memory_id) > self.limits.id_max_chars:
            raise NotFoundError(memory_id[: self.limits.id_max_chars])
        chain = await supersession_chain(self.store, MemoryId(memory_id), scope)
        entries = [
            (entry, step) for step, member in enumerate(chain) for entry in await self.store.history(scope, member)
        ]
        if not entries:
            raise NotFoundError(memory_id)
        return [entry for entry, _ in sorted(entries, key=lambda pair: (pair[0].created_at, pair[1]))]

    async def count(self, scope: Scope, validity: Validity = CURRENT) -> int:
        """How many memories of `validity` (default: current) `scope` can see."""
        return await self.store.count(scope, validity)

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
