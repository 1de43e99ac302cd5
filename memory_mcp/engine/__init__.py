"""MemoryEngine: scoped long-term memory over a store, a retriever and an embedder, the one entry point of every face.

The engine is a facade over named parts that share one store, retriever, embedder, analyzer, limits and write
lock (`parts.EngineParts`): `writing.Writes` (remember, correct, supersede, forget; an add reports what it
resembles), `ranking.Ranking` (search and the similar memories of an add), `reading.Reads` (one memory, pages,
counts, history, summaries), `linking.Linking` (links between memories) and `remembering.Remembering` (a
conversation's facts, drawn and reconciled by a language model it is handed). It starts and stops the retriever
(re-embedding stored vectors first when the embedder changed) and hands each call to its part.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Final

from .. import validation
from ..errors import InvalidInputError, StoreError
from ..models import Limits, Matrix, Scope, Validity
from ..protocols import Embedder, MemoryStore, Retriever
from ..scoring import MEANING_ROOM
from ..search.analyzer import Analyzer
from ..search.ranker import Ranker
from .linking import Linking
from .parts import Draft, EngineParts, Progress
from .ranking import Ranking
from .reading import Reads
from .remembering import Remembering
from .writing import Writes

__all__ = ["Draft", "MemoryEngine", "Progress"]

logger = logging.getLogger(__name__)

_REEMBED_BATCH: Final = 1_000


class MemoryEngine:
    """Scoped long-term memory: the store is the source of truth, the retriever finds memories in it.

    Writes are serialised within the process and committed to the store before the index changes, so a search
    never returns a memory whose write failed. Reads run concurrently. Each operation is a method of one of the
    engine's parts, reached here under its usual name (`add`, `search`, `page`, `link`...).
    """

    def __init__(
        self,
        store: MemoryStore,
        retriever: Retriever,
        embedder: Embedder,
        limits: Limits | None = None,
        *,
        meaning_room: int = MEANING_ROOM,
        ranker: Ranker | None = None,
    ) -> None:
        """Parts come built (see `memory_mcp.app.open_engine`); a retriever that does not search
        (`search.NoSearch`) makes an engine for reads and writes only (the command line's), which refuses `search`.
        `meaning_room`: the places the meaning leg takes after the best result (measured per embedder:
        `embedders.meaning_room_for`); `ranker`: search's second stage (`embedders.ranker_for`), None to keep the
        fused score's order."""
        self.store = store
        self.retriever = retriever
        self.embedder = embedder
        self.analyzer = Analyzer()
        self.limits = limits or Limits()
        self._write_lock = asyncio.Lock()
        shared = EngineParts(store, retriever, embedder, self.analyzer, self.limits, self._write_lock)
        self.ranking = Ranking.of(shared)
        self.ranking.meaning_room = meaning_room
        self.ranking.ranker = ranker
        self.writes = Writes.of(shared)
        self.writes.ranking = self.ranking
        self.reads = Reads.of(shared)
        self.linking = Linking.of(shared)
        self.remembering = Remembering.of(shared)
        self.remembering.ranking, self.remembering.writes = self.ranking, self.writes
        # Each call under its usual name, handed to its part.
        self.search = self.ranking.search
        self.add = self.writes.add
        self.add_many = self.writes.add_many
        self.update = self.writes.update
        self.supersede = self.writes.supersede
        self.revise = self.writes.revise
        self.delete = self.writes.delete
        self.delete_all = self.writes.delete_all
        self.restore = self.writes.restore
        self.link = self.linking.link
        self.link_many = self.linking.link_many
        self.unlink = self.linking.unlink
        self.get_linked = self.linking.get_linked
        self.links = self.linking.links
        self.get = self.reads.get
        self.ids_starting = self.reads.ids_starting
        self.page = self.reads.page
        self.summarize = self.reads.summarize
        self.history = self.reads.history
        self.count = self.reads.count
        self.count_all = self.reads.count_all
        self.summaries = self.reads.summaries
        self.summary = self.reads.summary
        self.records = self.reads.records
        self.plain = self.reads.plain
        self.remember = self.remembering.remember

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

    def scope(self, user_id: Any, agent_id: Any = None, run_id: Any = None, project: Any = None) -> Scope:
        """A validated scope (InvalidInputError when an id is empty or malformed)."""
        return validation.scope_of(user_id, agent_id, run_id, project, limits=self.limits)

    def validity(self, as_of: Any = None, include_superseded: Any = False) -> Validity:
        """The view of a read: current memories, all (`include_superseded`), or those true at `as_of`."""
        if not isinstance(include_superseded, bool):
            raise InvalidInputError(f"include_superseded must be true or false, got {include_superseded!r}.")
        return Validity(None if as_of is None else validation.when("as_of", as_of), include_superseded)
