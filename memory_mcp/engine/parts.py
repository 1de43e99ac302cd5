"""The engine's shared pieces and the steps every part of it takes: validate, embed, fetch one, report commits."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Final, Self

import numpy as np

from .. import validation
from ..errors import InvalidInputError, NotFoundError
from ..filters import Filter, parse_filter
from ..models import (
    Limits,
    Matrix,
    Memory,
    MemoryId,
    Metadata,
    Row,
    Scope,
    Vector,
)
from ..protocols import Embedder, MemoryStore, Retriever
from ..search.analyzer import Analyzer

logger = logging.getLogger(__name__)

_EMBED_CHUNK: Final = 256  # texts embedded between two progress reports

Draft = tuple[str, Metadata, tuple[str, ...], str]
"""A validated new memory: text, metadata, entities and valid_from ("" for "since stored")."""

Progress = Callable[[int, int], Awaitable[None]]
"""Told (done, total) as a long operation advances."""


class EngineParts:
    """What every part of the engine shares: the store (the source of truth), the retriever, the embedder, the
    analyzer, the limits and the write lock, with the few steps they all take (validate, embed, fetch one memory,
    tell the retriever what was committed).

    Writes are serialised within the process by the one write lock and committed to the store before the retriever
    hears of them, so a search never returns a memory whose write failed. Reads run concurrently.
    """

    def __init__(
        self,
        store: MemoryStore,
        retriever: Retriever,
        embedder: Embedder,
        analyzer: Analyzer,
        limits: Limits,
        write_lock: asyncio.Lock,
    ) -> None:
        self.store = store
        self.retriever = retriever
        self.embedder = embedder
        self.analyzer = analyzer
        self.limits = limits
        self._write_lock = write_lock

    @classmethod
    def of(cls, parts: EngineParts) -> Self:
        """This part of the engine over the same shared pieces as `parts`."""
        return cls(parts.store, parts.retriever, parts.embedder, parts.analyzer, parts.limits, parts._write_lock)

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

    def _draft(self, text: Any, metadata: Any, entities: Any = None, valid_from: Any = None) -> Draft:
        """A new memory's parts, validated (InvalidInputError names the first bad one)."""
        return (
            validation.text("text", text, self.limits),
            validation.metadata(metadata, self.limits),
            validation.entities(entities, self.limits),
            "" if valid_from is None else validation.when("valid_from", valid_from),
        )

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

    async def _get(self, memory_id: str, scope: Scope) -> Memory:
        if not isinstance(memory_id, str) or not memory_id.strip():
            raise InvalidInputError("memory_id is empty. Use search_memory or list_memories to find ids.")
        memory = None if len(memory_id) > self.limits.id_max_chars else await self.store.get(scope, memory_id)
        if memory is None:
            raise NotFoundError(memory_id[: self.limits.id_max_chars])
        return memory

    @staticmethod
    def _entity(entity: Any) -> str | None:
        """The key of an entity a read is narrowed to (None: any)."""
        if entity is None:
            return None
        if not isinstance(entity, str) or not entity.strip():
            raise InvalidInputError('entity must be a name such as "Caroline".')
        return validation.entity_key(entity)
