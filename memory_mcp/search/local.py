"""LocalSearch: the default retriever, a NumpyIndex in this process filled from the store and kept current."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import struct
import time
from collections.abc import Iterable, Sequence
from typing import Final

import numpy as np

from ..errors import MemoryMCPError, StoreError
from ..models import IndexHit, IndexRows, MemoryId, Query, Row
from ..protocols import ChangeFeed, SearchIndex
from . import snapshot
from .analyzer import Analyzer
from .index import NumpyIndex

logger = logging.getLogger(__name__)

_LOAD_BATCH: Final = 8_192
_BACKGROUND_BATCH: Final = 5_000  # rows indexed between two turns of the event loop while serving
_VECTOR_BATCH: Final = 256
"""Vectors placed at a time after a snapshot: the memory of one batch's rows is reused for the next, where large
batches are fresh memory each (at 10,000 memories, 4,096 at a time took 75 ms, 256 at a time 50)."""
SNAPSHOT_MIN: Final = 10_000
"""An index of at least this many memories is saved as a snapshot, so that the next start reads it instead of
analysing every text (below, a start from the texts takes well under a second)."""
SNAPSHOT_EVERY: Final = 1_000
"""Changes since the last snapshot after which stopping saves a new one."""


class LocalSearch:
    """Searches an in-memory copy of the store (`index`), which it fills at start and keeps current.

    The engine reports its own writes (`committed`); writes of other processes sharing the database are
    replayed from the store's change feed before each search. Cheap when nothing changed: one `max()`.
    """

    def __init__(
        self,
        store: ChangeFeed,
        index: SearchIndex,
        analyzer: Analyzer | None = None,
        *,
        snapshot_min: int = SNAPSHOT_MIN,
        snapshot_every: int = SNAPSHOT_EVERY,
        read_snapshot: bool = True,
    ) -> None:
        self.store = store
        self.index = index
        self.analyzer = analyzer or Analyzer()
        self.snapshot_min = snapshot_min
        self.snapshot_every = snapshot_every
        self.read_snapshot = read_snapshot
        self._writes = asyncio.Lock()  # replaced by the engine's write lock at start
        self._synced = 0  # sequence number of the last store change the index reflects
        self._applied: set[tuple[MemoryId, str]] = set()  # our own changes since: (memory, the time stamped)
        self._loading: asyncio.Task[None] | None = None
        self._saving: asyncio.Task[None] | None = None
        self._saved: int | None = None  # the change the kept snapshot reflects, once known
        self.restored = False
        """True when the last start read the index from a snapshot (and the changes since) instead of the texts."""

    @property
    def ready(self) -> bool:
        """True once the index holds every stored memory."""
        return self._loading is None or self._loading.done()

    @property
    def indexed(self) -> int:
        """How many memories the index holds."""
        return len(self.index)

    searches = True
    in_process = True

    async def start(self, writes: asyncio.Lock, *, background: bool) -> None:
        """Fill the index from the store; with `background`, return at once and fill it meanwhile.

        `writes` (the engine's write lock) is held until the index is filled, so writes queue behind it.
        """
        self._writes = writes
        # Read the change position first: whatever other processes commit while we load is replayed later.
        self._synced = await self.store.last_change()
        await writes.acquire()
        if background:
            self._loading = asyncio.create_task(self._fill(_BACKGROUND_BATCH), name="memory-mcp index load")
        else:
            await self._fill(_LOAD_BATCH)

    async def stop(self) -> None:
        """Cancel a fill still under way; keep a snapshot of a large index when it changed enough since the last."""
        if self._loading is not None and not self._loading.done():
            self._loading.cancel()
            with contextlib.suppress(asyncio.CancelledError, MemoryMCPError):
                await self._loading
            return
        if self._loading is not None and (self._loading.cancelled() or self._loading.exception() is not None):
            return  # an index that never filled is not worth keeping
        if self._saving is not None:
            with contextlib.suppress(asyncio.CancelledError, MemoryMCPError):
                await self._saving
        if len(self.index) >= self.snapshot_min:
            changes = await self.store.last_change() - (
                self._saved if self._saved is not None else -self.snapshot_every
            )
            if changes >= self.snapshot_every:
                await self.save_snapshot()

    async def _fill(self, batch_size: int) -> None:
        """Load the index (from its snapshot, else from every stored row), then release the write lock taken by
        `start`; a large index loaded from the rows is saved as a snapshot afterwards."""
        try:
            started = time.perf_counter()
            self.restored = await self._restore(batch_size)
            if not self.restored:
                async for rows in self.store.iter_index_rows(batch_size):
                    self._load(rows)
                    await asyncio.sleep(0)  # let other requests through between batches
            how = "from its snapshot" if self.restored else "from the stored texts"
            logger.info("index loaded %s: %d memories in %.2f s", how, len(self.index), time.perf_counter() - started)
        except MemoryMCPError as exc:
            logger.error("the search index could not be loaded: %s", exc)  # noqa: TRY400 (a known condition)
            raise
        finally:
            self._writes.release()
        if not self.restored and len(self.index) >= self.snapshot_min:
            self._saving = asyncio.create_task(self.save_snapshot(), name="memory-mcp index snapshot")

    def _meta(self) -> dict[str, object]:
        """What a snapshot depends on besides the memories: its layout, the analysis, the vector length."""
        return {"format": snapshot.FORMAT, "analyzer": self.analyzer.id, "dim": self.index.dim}

    async def _restore(self, batch_size: int) -> bool:
        """Read the index from its snapshot, place the stored vectors and replay the changes made since; False
        (and an empty index) when there is no usable snapshot."""
        if not isinstance(self.index, NumpyIndex) or not self.read_snapshot:
            return False
        found = await self.store.load_snapshot()
        if found is None:
            return False
        seq, meta, parts = found
        if {key: meta.get(key) for key in self._meta()} != self._meta() or seq > self._synced:
            logger.info("the index snapshot does not fit this server or database; building the index from the texts")
            return False
        try:
            snapshot.restore(self.index, parts)
        except (ValueError, KeyError, TypeError, UnicodeDecodeError, struct.error):
            logger.warning("the index snapshot is unreadable; building the index from the texts", exc_info=True)
            snapshot.restore(self.index, [])
            return False
        async for ids, vectors in self.store.iter_vectors(_VECTOR_BATCH):
            if vectors.shape[1] != self.index.dim:
                raise StoreError(
                    "Stored vectors have the wrong length for the configured embedder; start with --reembed."
                )
            self.index.place(ids, vectors)
            await asyncio.sleep(0)
        unplaced = set(self.index.placed())
        self._synced = seq
        replayed = await self._catch_up()
        # Every memory of the snapshot got its vector, or changed since (re-read or removed by the replay); else
        # the snapshot names memories the store lacks without a change that says why: it is not to be trusted.
        if unplaced - replayed:
            logger.warning("the index snapshot names memories the store lacks; building the index from the texts")
            snapshot.restore(self.index, [])
            self._synced = await self.store.last_change()
            return False
        self._saved = seq
        return True

    async def save_snapshot(self) -> None:
        """Save the index as it is (brought up to date first) so that the next start can read it; a failure to
        write (a read-only file) is logged, never raised."""
        if not isinstance(self.index, NumpyIndex):
            return
        async with self._writes:
            await self._catch_up()
            parts = snapshot.capture(self.index)
            seq = self._synced
        try:
            await self.store.save_snapshot(seq, self._meta(), parts)
        except MemoryMCPError as exc:
            logger.info("the index snapshot was not saved: %s", exc)
            return
        self._saved = seq
        logger.info("index snapshot saved: %d memories as of change %d", len(self.index), seq)

    def _load(self, rows: IndexRows) -> None:
        if rows.vectors.shape[1] != self.index.dim:
            raise StoreError("Stored vectors have the wrong length for the configured embedder; start with --reembed.")
        terms = [self.analyzer.terms(text) for text in rows.texts]
        self.index.add(list(zip(rows.ids, rows.scopes, strict=True)), rows.vectors, terms, rows.closed)

    async def search(self, query: Query, *, locked: bool = False) -> list[IndexHit]:
        """The index's best `query.k` in its scope, once the index is filled and current: the current memories, or
        with superseded ones for any other validity (the engine applies `where` and the validity's times).
        With `locked` the caller holds the write lock and has called `refresh` under it: the index is searched as
        it is (a change committed meanwhile, maybe the caller's own, must not be read in halfway)."""
        if self._loading is not None:
            await asyncio.shield(self._loading)  # wait for the index; a failed load raises its error here
        if not locked:
            await self.sync()
        return self.index.search(
            query.vector,
            query.terms,
            query.scope,
            query.k,
            threshold=query.threshold,
            superseded=not query.validity.current_only,
            room=query.room,
            pool=query.pool,
        )

    def committed(
        self,
        stored: Sequence[Row] = (),
        removed: Sequence[MemoryId] = (),
        stamps: Iterable[tuple[MemoryId, str]] = (),
        closed: Sequence[MemoryId] = (),
    ) -> None:
        """Apply the engine's own committed writes to the index."""
        self._applied.update(stamps)
        if stored:
            self.index.add(
                [(row.memory.id, row.memory.scope) for row in stored],
                np.stack([row.vector for row in stored]),
                [row.terms for row in stored],
                [not row.memory.current for row in stored],
            )
        if removed:
            self.index.remove(removed)
        if closed:
            self.index.set_closed(closed)

    async def refresh(self) -> None:
        """Read in the changes other processes committed; the caller holds the write lock."""
        if self._loading is not None:
            await asyncio.shield(self._loading)
        if await self.store.last_change() != self._synced:
            await self._catch_up()

    async def sync(self) -> None:
        """Bring the index up to date with changes other processes committed to the same database.

        Every change leaves a history row with a growing sequence number; the rows after the last one
        seen name the memories to re-read (or to drop, when they no longer exist).
        """
        if await self.store.last_change() == self._synced:
            return
        async with self._writes:
            await self._catch_up()

    async def _catch_up(self) -> set[MemoryId]:
        """Replay the changes after `_synced` (the caller holds the write lock); returns the ids re-read."""
        replayed: set[MemoryId] = set()
        while changes := await self.store.changed_since(self._synced, _LOAD_BATCH):
            # Our own writes are in the index already: a change stamped as we stamped it is ours.
            ids = list(
                dict.fromkeys(memory_id for _, memory_id, stamp in changes if (memory_id, stamp) not in self._applied)
            )
            if ids:
                rows = await self.store.index_rows(ids)
                present = set(rows.ids)
                self.index.remove([memory_id for memory_id in ids if memory_id not in present])
                if rows.ids:
                    self._load(rows)
                replayed.update(ids)
            self._synced = changes[-1][0]
            if len(changes) < _LOAD_BATCH:  # the last of them (a change committed since is for the next sync)
                break
        self._applied.clear()  # every write of ours committed before we took the lock has been seen
        return replayed
