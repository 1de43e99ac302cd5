"""NoSearch: the retriever of an engine opened without search (the command line's reads and writes)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence

from ..errors import InvalidInputError
from ..models import IndexHit, MemoryId, Query, Row


class NoSearch:
    """Searches nothing and keeps nothing: a search is refused with advice, the writes it is told of are ignored."""

    ready = True
    indexed = None
    searches = False
    in_process = False

    async def start(self, writes: asyncio.Lock, *, background: bool) -> None:
        """Nothing to fill."""

    async def stop(self) -> None:
        """Nothing to stop."""

    async def search(self, query: Query, *, locked: bool = False) -> list[IndexHit]:
        """Refused: this engine was opened to read and write only."""
        raise InvalidInputError("This engine was opened without search; open it with index=True.")

    async def refresh(self) -> None:
        """Nothing to read in."""

    def committed(
        self,
        stored: Sequence[Row] = (),
        removed: Sequence[MemoryId] = (),
        stamps: Iterable[tuple[MemoryId, str]] = (),
        closed: Sequence[MemoryId] = (),
    ) -> None:
        """Nothing to do."""
