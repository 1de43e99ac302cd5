"""The three swappable parts of the engine, as structural protocols: Embedder, SearchIndex, MemoryStore."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Sequence
from typing import Protocol, runtime_checkable

from .filters import Filter
from .models import (
    Cursor,
    HistoryEntry,
    IndexHit,
    Matrix,
    Memory,
    MemoryId,
    MemoryRecord,
    Metadata,
    Scope,
    UserSummary,
    Vector,
)


class Embedder(Protocol):
    """**Protocol:** texts -> L2-normalised float32 rows of length `dim`, deterministic per configuration.

    `id` names the embedder and its configuration (e.g. ``hash-v2-256``); it is stored with the
    vectors so that vectors of different embedders are never compared.
    """

    @property
    def id(self) -> str: ...

    @property
    def dim(self) -> int: ...

    async def embed_documents(self, texts: Sequence[str]) -> Matrix: ...

    async def embed_query(self, text: str) -> Vector: ...


class SearchIndex(Protocol):
    """**Protocol:** in-memory hybrid search over the memories of a scope: words (BM25) and vectors (cosine).

    Scores lie in [-1, 1], higher is closer. Methods are synchronous on purpose: each one runs to
    completion on the event loop, so concurrent async handlers never see a half-applied change.
    """

    def __len__(self) -> int: ...

    def add(self, items: Sequence[tuple[MemoryId, Scope]], vectors: Matrix, terms: Sequence[Sequence[str]]) -> None: ...

    def remove(self, ids: Iterable[MemoryId]) -> None: ...

    def search(
        self, vector: Vector, terms: Sequence[str], scope: Scope, k: int, *, threshold: float | None = None
    ) -> list[IndexHit]: ...

    def count(self, scope: Scope) -> int: ...

    def ids(self, scope: Scope) -> set[MemoryId]: ...


class MemoryStore(Protocol):
    """**Protocol:** the durable source of truth for memories, their vectors and their history.

    Reads take the caller's `Scope`; a memory outside it behaves exactly as an absent one. Each write
    method commits (memory row and history row together) before it returns.
    """

    async def embedder_id(self) -> str | None: ...

    async def insert(self, memory: Memory, content_hash: str, vector: Vector) -> None: ...

    async def insert_many(
        self, rows: Sequence[tuple[Memory, str, Vector]], terms: Sequence[Sequence[str]] | None = None
    ) -> set[MemoryId]: ...

    async def replace(
        self, old: Memory, new: Memory, content_hash: str, vector: Vector, terms: Sequence[str] = ()
    ) -> None: ...

    async def delete(self, memory: Memory, deleted_at: str) -> None: ...

    async def delete_scope(self, scope: Scope, deleted_at: str) -> list[MemoryId]: ...

    async def get(self, scope: Scope, memory_id: str) -> Memory | None: ...

    async def get_many(self, scope: Scope, ids: Sequence[MemoryId]) -> dict[MemoryId, Memory]: ...

    async def find_by_hash(self, scope: Scope, content_hash: str) -> Memory | None: ...

    async def find_by_hashes(self, scope: Scope, hashes: Sequence[str]) -> dict[str, Memory]: ...

    async def page(self, scope: Scope, after: Cursor | None, limit: int) -> list[Memory]: ...

    async def listing(self, scope: Scope, where: Filter | None = None) -> list[tuple[MemoryId, Cursor, Metadata]]:
        """Id, position and metadata of the memories of `scope`, newest first: at least those `where` matches
        (a store may narrow by it or not; the engine checks every row against the filter itself)."""
        ...

    async def count(self, scope: Scope) -> int: ...

    async def count_all(self) -> int: ...

    async def history(self, scope: Scope, memory_id: str) -> list[HistoryEntry]: ...

    async def summaries(self, user_id: str | None = None) -> list[UserSummary]: ...

    def iter_records(
        self, scope: Scope | None, *, vectors: bool = ..., history: bool = ..., batch_size: int = ...
    ) -> AsyncIterator[list[MemoryRecord]]: ...

    async def restore(
        self, rows: Sequence[tuple[MemoryRecord, str, Vector]], terms: Sequence[Sequence[str]] | None = None
    ) -> set[MemoryId]: ...

    def iter_index_rows(self, batch_size: int) -> AsyncIterator[list[tuple[MemoryId, Scope, bytes, str]]]: ...

    def iter_texts(self, batch_size: int) -> AsyncIterator[list[tuple[MemoryId, str]]]: ...

    async def last_change(self) -> int: ...

    async def changed_since(self, seq: int, limit: int = ...) -> list[tuple[int, MemoryId, str]]: ...

    async def index_rows(self, ids: Sequence[MemoryId]) -> list[tuple[MemoryId, Scope, bytes, str]]: ...

    async def rewrite_vectors(
        self, embedder_id: str, batches: AsyncIterator[Sequence[tuple[MemoryId, Vector]]]
    ) -> None: ...

    async def set_embedder_id(self, embedder_id: str) -> None: ...


@runtime_checkable
class SearchingStore(MemoryStore, Protocol):
    """**Protocol:** a store that also searches (PostgreSQL), so the engine keeps no index of its own.

    `terms` handed to its writes are the analysed search terms of each text, kept for the keyword leg.
    """

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
        """The `k` best of the memories of `scope` that `where` matches (or a superset of those, which the
        engine checks again), by the engine's fused score."""
        ...
