"""NoSearch: the retriever of an engine opened without search (the command line's reads and writes)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence

from ..errors import InvalidInputError
from ..filters import Filter
from ..models import CURRENT, IndexHit, MemoryId, Row, Scope, Validity, Vector


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
