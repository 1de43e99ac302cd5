"""StoreSearch: the retriever of a store that searches by itself (PostgreSQL); nothing is kept in the process."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence

from ..models import IndexHit, Meaning, MemoryId, Query, Row
from ..protocols import SearchingStore


class StoreSearch:
    """Hands every search to the store, with the fused score's vector weight; every server sees every write."""

    def __init__(
        self, store: SearchingStore, *, vector_weight: float, min_similarity: float, meaning: Meaning | None = None
    ) -> None:
        self.store = store
        self.vector_weight = vector_weight
        self.min_similarity = min_similarity
        self.meaning = meaning

    @property
    def ready(self) -> bool:
        """Always: there is nothing to load."""
        return True

    @property
    def indexed(self) -> None:
        """None: the store searches, this process holds no copy."""
        return None

    searches = True
    in_process = False

    async def start(self, writes: asyncio.Lock, *, background: bool) -> None:
        """Nothing to fill."""

    async def stop(self) -> None:
        """Nothing to stop."""

    async def search(self, query: Query, *, locked: bool = False) -> list[IndexHit]:
        """The store's best `query.k` of its scope and validity that its `where` lets through (the store is read as
        committed: `locked` changes nothing)."""
        return await self.store.search(
            query, vector_weight=self.vector_weight, min_similarity=self.min_similarity, meaning=self.meaning
        )

    async def refresh(self) -> None:
        """Nothing to read in: every search reads the store."""

    def committed(
        self,
        stored: Sequence[Row] = (),
        removed: Sequence[MemoryId] = (),
        stamps: Iterable[tuple[MemoryId, str]] = (),
        closed: Sequence[MemoryId] = (),
    ) -> None:
        """Nothing to do: the store is the index."""
