"""Writes: remember, correct, supersede and forget, one at a time or in batches, under the engine's write lock."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from typing import Any

from .. import validation
from ..errors import InvalidInputError
from ..models import (
    AddResult,
    BatchItem,
    Link,
    Matrix,
    Memory,
    MemoryId,
    MemoryRecord,
    Metadata,
    Row,
    Scope,
    Similar,
    Vector,
    new_id,
    now,
)
from .parts import Draft, EngineParts, Progress
from .ranking import Ranking

logger = logging.getLogger(__name__)


class Writes(EngineParts):
    """Adds (one, many, restored from an export), corrections, supersessions and deletions: each validated, then
    committed under the write lock, then told to the retriever; an add reports the memories it resembles."""

    ranking: Ranking
    """Where an add finds what it resembles (set by the engine)."""

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
            similar = await self.ranking.similar(clean, vectors[0], seen_from)
            duplicates = [found for found in similar if found.kind == "duplicate"]
            if if_similar == "skip" and duplicates:
                return AddResult(duplicates[0].memory, False, tuple(similar), skipped=True)
            [(memory, created)], _ = await self._store_new(scope, [draft], vectors=vectors)
        else:
            [(memory, created)], similar = await self._store_new(
                scope,
                [draft],
                vectors=vectors,
                compare=lambda: self.ranking.similar(clean, vectors[0], seen_from, True),
            )
        return AddResult(memory, created, tuple(found for found in similar if found.memory.id != memory.id))

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
                resembling[position] = tuple(await self.ranking.similar(item[0], vectors[row], scope))
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
            stamp = now()
            row, link = self._successor(old, draft, vector, stamp, metadata is not None, entities is not None)
            if not await self.store.supersede(old, row, link):
                raise InvalidInputError(
                    f"Memory {old.id!r} was superseded meanwhile; search again for the current one."
                )
            self._committed(stored=[row], closed=[old.id], stamps=[(old.id, stamp), (row.memory.id, stamp)])
        return replace(old, valid_to=row.memory.valid_from, superseded_by=row.memory.id, updated_at=stamp), row.memory

    def _successor(
        self, old: Memory, draft: Draft, vector: Vector, stamp: str, own_metadata: bool, own_entities: bool
    ) -> tuple[Row, Link]:
        """The memory that supersedes `old` (true from the draft's start, else `stamp`), and its link to `old`;
        InvalidInputError when `old` is no longer current or the start is before `old`'s."""
        if not old.current:
            raise InvalidInputError(
                f"Memory {old.id!r} was already superseded by {old.superseded_by!r} on {old.valid_to}; "
                "change the current memory instead (memory_history shows the chain)."
            )
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
            draft[1] if own_metadata else old.metadata,
            stamp,
            stamp,
            start,
            None,
            None,
            draft[2] if own_entities else old.entities,
        )
        row = Row(new, validation.content_hash(new.text), vector, self.analyzer.terms(new.text))
        return row, Link(new.id, old.id, "supersedes", {}, stamp)

    async def add_and_supersede(
        self, scope: Scope, added: Sequence[Draft], replacing: Sequence[tuple[MemoryId, Draft]]
    ) -> tuple[list[tuple[Memory, bool]], list[tuple[Memory, Memory]]]:
        """Store `added` as new memories of `scope` and supersede each (id, draft) of `replacing` (the draft's
        metadata, and its entities unless it names none), all in one transaction: everything or nothing.

        Returns (memory, created) per added draft (an exact duplicate of a stored memory, or of a text changed
        here, gives that memory) and (old as closed, new) per replacement. InvalidInputError, with nothing
        stored, when an old memory is missing or no longer current, or a successor would start before it."""
        texts = [draft[0] for draft in added] + [draft[0] for _, draft in replacing]
        if not texts:
            return [], []
        vectors = await self._embed(texts, None, len(texts))
        digests = [validation.content_hash(draft[0]) for draft in added]
        async with self._write_lock:
            stamp = now()
            changes: list[tuple[Memory, Row, Link]] = []
            for (memory_id, draft), vector in zip(replacing, vectors[len(added) :], strict=True):
                old = await self._get(memory_id, scope)
                row, link = self._successor(old, draft, vector, stamp, True, bool(draft[2]))
                changes.append((old, row, link))
            taken = {change[1].content_hash: change[1].memory for change in changes}
            fresh: dict[str, Row] = {}
            for draft, digest, vector in zip(added, digests, vectors, strict=False):
                if digest not in taken and digest not in fresh:
                    memory = Memory(new_id(), draft[0], scope, draft[1], stamp, stamp, draft[3], None, None, draft[2])
                    fresh[digest] = Row(memory, digest, vector, self.analyzer.terms(memory.text))
            inserted = await self.store.insert_and_supersede(list(fresh.values()), changes)
            if inserted is None:
                raise InvalidInputError(
                    "A memory this would change was changed meanwhile; nothing was stored. Try again."
                )
            stored = [change[1] for change in changes] + [row for row in fresh.values() if row.memory.id in inserted]
            self._committed(
                stored=stored,
                closed=[old.id for old, _, _ in changes],
                stamps=[(old.id, stamp) for old, _, _ in changes] + [(row.memory.id, stamp) for row in stored],
            )
            missing = [digest for digest, row in fresh.items() if row.memory.id not in inserted]
            known = await self.store.find_by_hashes(scope, missing) if missing else {}
        outcomes = []
        seen: set[str] = set()
        for digest in digests:
            if digest in taken:
                outcomes.append((taken[digest], False))
            elif digest in known:
                outcomes.append((known[digest], False))
            else:
                outcomes.append((fresh[digest].memory, digest not in seen))
            seen.add(digest)
        closed = [
            (replace(old, valid_to=row.memory.valid_from, superseded_by=row.memory.id, updated_at=stamp), row.memory)
            for old, row, _ in changes
        ]
        return outcomes, closed

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
