"""LocalSearch: the default retriever, a NumpyIndex in this process filled from the store and kept current."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterable, Sequence
from typing import Final

import numpy as np

from ..errors import MemoryMCPError, StoreError
from ..filters import Filter
from ..models import CURRENT, IndexHit, IndexRows, MemoryId, Row, Scope, Validity, Vector
from ..protocols import ChangeFeed, SearchIndex
from .analyzer import Analyzer

logger = logging.getLogger(__name__)

_LOAD_BATCH: Final = 50_000
_BACKGROUND_BATCH: Final = 5_000  # rows indexed between two turns of the event loop while serving


class LocalSearch:
    """Searches an in-memory copy of the store (`index`), which it fills at start and keeps current.

    The engine reports its own writes (`committed`); writes of other processes sharing the database are
    replayed from the store's change feed before each search. Cheap when nothing changed: one `max()`.
    """

    def __init__(self, store: ChangeFeed, index: SearchIndex, analyzer: Analyzer | None = None) -> None:
        self.store = store
        self.index = index
        self.analyzer = analyzer or Analyzer()
        self._writes = asyncio.Lock()  # replaced by the engine's write lock at start
        self._synced = 0  # sequence number of the last store change the index reflects
        self._applied: set[tuple[MemoryId, str]] = set()  # our own changes since: (memory, the time stamped)
        self._loading: asyncio.Task[None] | None = None

    @property
    def ready(self) -> bool:
        """True once the index holds every stored memory."""
        return self._loading is None or self._loading.done()

    @property
    def indexed(self) -> int:
        """How many memories the index holds."""
        return len(self.index)

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
        """Cancel a fill still under way."""
        if self._loading is not None and not self._loading.done():
            self._loading.cancel()
            with contextlib.suppress(asyncio.CancelledError, MemoryMCPError):
                await self._loading

    async def _fill(self, batch_size: int) -> None:
        """Load every stored row, then release the write lock taken by `start`."""
        try:
            loaded = 0
            started = time.perf_counter()
            async for rows in self.store.iter_index_rows(batch_size):
                self._load(rows)
                loaded += len(rows.ids)
                await asyncio.sleep(0)  # let other requests through between batches
            logger.info("index loaded: %d memories in %.2f s", loaded, time.perf_counter() - started)
        except MemoryMCPError as exc:
            logger.error("the search index could not be loaded: %s", exc)  # noqa: TRY400 (a known condition)
            raise
        finally:
            self._writes.release()

    def _load(self, rows: IndexRows) -> None:
        if rows.vectors.shape[1] != self.index.dim:
            raise StoreError("Stored vectors have the wrong length for the configured embedder; start with --reembed.")
        terms = [self.analyzer.terms(text) for text in rows.texts]
        self.index.add(list(zip(rows.ids, rows.scopes, strict=True)), rows.vectors, terms, rows.closed)

    async def search(
        self,
        vector: Vector,
        terms: Sequence[str],
        scope: Scope,
        k: int,
        *,
        threshold: float | None = None,
        where: Filter | None = None,
        validity: Validity = CURRENT,
    ) -> list[IndexHit]:
        """The index's best `k` in `scope`, once the index is filled and current: the current memories, or
        with superseded ones for any other `validity` (the engine applies `where` and the validity's times)."""
        if self._loading is not None:
            await asyncio.shield(self._loading)  # wait for the index; a failed load raises its error here
        await self.sync()
        return self.index.search(vector, terms, scope, k, threshold=threshold, superseded=not validity.current_only)

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

    async def sync(self) -> None:
        """Bring the index up to date with changes other processes committed to the same database.

        Every change leaves a history row with a growing sequence number; the rows after the last one
        seen name the memories to re-read (or to drop, when they no longer exist).
        """
        if await self.store.last_change() == self._synced:
            return
        async with self._writes:
            while changes := await self.store.changed_since(self._synced, _LOAD_BATCH):
                # Our own writes are in the index already: a change stamped as we stamped it is ours.
                ids = list(
                    dict.fromkeys(
                        memory_id for _, memory_id, stamp in changes if (memory_id, stamp) not in self._applied
                    )
                )
                rows = await self.store.index_rows(ids)
                present = set(rows.ids)
                self.index.remove([memory_id for memory_id in ids if memory_id not in present])
                if rows.ids:
                    self._load(rows)
                self._synced = changes[-1][0]
            self._applied.clear()  # every write of ours committed before we took the lock has been seen
