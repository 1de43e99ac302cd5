"""StoreSearch: the retriever of a store that searches by itself (PostgreSQL); nothing is kept in the process."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence

from ..filters import Filter
from ..models import CURRENT, IndexHit, Meaning, MemoryId, Row, Scope, Validity, Vector
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
        locked: bool = False,
        room: int = 0,
    ) -> list[IndexHit]:
        """The store's best `k` of the memories of `scope` and `validity` that `where` lets through (the store is
        read as committed: `locked` changes nothing)."""
        return await self.store.search(
            vector,
            terms,
            scope,
            k,
            threshold=threshold,
            vector_weight=self.vector_weight,
            min_similarity=self.min_similarity,
            where=where,
            validity=validity,
            meaning=self.meaning,
            room=room,
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
