"""Ranking: search_memory's ranking of one user's memories, and the similar memories an add reports."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any, Final

import numpy as np

from .. import validation
from ..errors import InvalidInputError
from ..filters import Filter, predicate
from ..links import neighbors as linked_to
from ..models import (
    CURRENT,
    IndexHit,
    Memory,
    MemoryId,
    Query,
    Scope,
    SearchHit,
    Similar,
    Validity,
    Vector,
)
from ..scoring import DUPLICATE_SCORE, MEANING_ROOM, RELATED_SCORE
from ..search.fusion import fuse, give_room
from ..search.ranker import Ranker
from .parts import EngineParts

_FILTER_WIDEN: Final = 4  # a filtered search looks at 4x more candidates each round until it has enough
_SIMILAR: Final = 3  # resembling memories an add reports
_NAMED: Final = 5  # more candidates read, as those alike by a shared name alone are left out


class Ranking(EngineParts):
    """Search: one query's best memories (the fused score, the meaning leg's room, filters widening the read),
    several wordings fused, weak fill, linked neighbours; and what resembles a new text, for the writes."""

    meaning_room: int = MEANING_ROOM
    """The places the meaning leg takes after the best result (the engine sets the one measured for its embedder)."""
    ranker: Ranker | None = None
    """The second stage that orders the candidates of a search without a threshold (None: the fused score's
    order); the engine sets the one fitted for its embedder."""

    async def search(
        self,
        query: str | Sequence[str],
        scope: Scope,
        *,
        limit: int = 10,
        threshold: float | None = None,
        filters: Mapping[str, Any] | None = None,
        validity: Validity = CURRENT,
        entity: str | None = None,
        neighbors: int = 0,
    ) -> list[SearchHit]:
        """The memories of `scope` closest to `query`, best first, optionally filtered by metadata.

        `query` may be several wordings of one question: each is searched and the rankings are fused by
        rank (reciprocal rank fusion), a memory keeping its best score. Without a `threshold`, related memories
        come back (a shared word, or close in meaning); when fewer than `limit` are related, the nearest others
        fill the answer up to `limit`, marked `match="weak"`, so that a scope holding memories never answers with
        nothing and `limit` is honoured.

        `validity` chooses current memories (default), all, or those true at a time; `entity` keeps the
        memories that name it; `neighbors` (hops, up to `Limits.max_neighbors`) appends the memories linked to
        the results, marked `match="linked"`, at most `limit` of them.
        """
        texts = validation.queries(query, self.limits)
        wanted = validation.limit(limit, self.limits)
        minimum = validation.threshold(threshold)
        hops = self._hops(neighbors)
        where = self._filter(filters)
        named = self._entity(entity)
        asked = [(await self.embedder.embed_query(text), self.analyzer.terms(text)) for text in texts]
        if all(not terms and not np.any(vector) for vector, terms in asked):
            raise InvalidInputError(
                "The query has no words to search by (only punctuation or very common words). "
                "Add a distinctive word, or use list_memories to browse."
            )
        view = (validity, named)
        rankings = [
            await self._ranked(text, vector, terms, scope, wanted, minimum, where, view)
            for text, (vector, terms) in zip(texts, asked, strict=True)
        ]
        hits = fuse(rankings, wanted)
        if minimum is None and len(hits) < wanted:
            # Fewer related memories than asked for: the nearest others fill up to `limit`, marked weak.
            nearest = [
                await self._ranked(text, vector, terms, scope, wanted, -1.0, where, view)
                for text, (vector, terms) in zip(texts, asked, strict=True)
            ]
            found = {hit.memory.id for hit in hits}
            extra = [replace(hit, match="weak") for hit in fuse(nearest, wanted) if hit.memory.id not in found]
            hits = hits + extra[: wanted - len(hits)]
        if not hops:
            return hits
        # Linked memories hang from the real matches; one that only filled a short answer (weak) is shown linked.
        matched = [hit for hit in hits if hit.match != "weak"]
        linked = await linked_to(self.store, matched, scope, validity, hops=hops, most=wanted)
        shown_linked = {hit.memory.id for hit in linked}
        return matched + linked + [hit for hit in hits if hit.match == "weak" and hit.memory.id not in shown_linked]

    def _hops(self, neighbors: Any) -> int:
        most = self.limits.max_neighbors
        if isinstance(neighbors, bool) or not isinstance(neighbors, int) or not 0 <= neighbors <= most:
            raise InvalidInputError(
                f"neighbors must be a whole number from 0 to {most} (link hops), got {neighbors!r}."
            )
        return neighbors

    async def _ranked(
        self,
        text: str,
        vector: Vector,
        terms: Sequence[str],
        scope: Scope,
        wanted: int,
        minimum: float | None,
        where: Filter | None,
        view: tuple[Validity, str | None] = (CURRENT, None),
        *,
        locked: bool = False,
    ) -> list[SearchHit]:
        """The best `wanted` of one query (`text`, embedded as `vector`, analysed as `terms`), read from the store;
        with a filter, widening until enough pass it.

        Without a `minimum`, the second stage (`ranker`) orders the candidates of both legs, and the meaning leg
        gets its room (`search.fusion.give_room`): the memories closest in meaning come right after the best,
        marked `match="meaning"` when that moved them up and they share no word with the query (one that shares a
        word stays "strong" wherever the room places it), or when they are neither near the query by vector nor
        share a word with it.
        `view`: the validity the memories must have and the entity key they must name (None: any); `locked`: the
        caller holds the write lock."""
        validity, named = view
        metadata_test = None if where is None else predicate(where)
        narrowed = metadata_test is not None or named is not None or validity.as_of is not None
        room = self.meaning_room if minimum is None else 0
        ranker = self.ranker if minimum is None else None
        k = wanted if ranker is None else max(wanted, ranker.pool)
        k = k if not narrowed else k * _FILTER_WIDEN
        pool = 0 if ranker is None else ranker.meaning_pool
        query = Query(vector, terms, scope, k, minimum, where, validity, room, pool)
        ranked: list[IndexHit] = []
        picks: dict[MemoryId, IndexHit] = {}
        found: dict[MemoryId, Memory] = {}
        seen: set[MemoryId] = set()
        while True:
            candidates = await self.retriever.search(query, locked=locked)
            unread = dict.fromkeys(hit.id for hit in candidates if hit.id not in found)
            found.update(await self.store.get_many(scope, list(unread)))

            def passes(hit: IndexHit) -> bool:
                memory = found.get(hit.id)  # None when deleted since the index was read
                return (
                    memory is not None
                    and validity.admits(memory)
                    and (metadata_test is None or metadata_test(memory.metadata))
                    and (named is None or named in {validation.entity_key(name) for name in memory.entities})
                )

            scored = [hit for hit in candidates if not hit.by_meaning]
            fresh = [hit for hit in scored if hit.id not in seen]
            seen.update(hit.id for hit in fresh)
            ranked += [hit for hit in fresh if passes(hit)]
            picks.update((hit.id, hit) for hit in candidates if hit.by_meaning and hit.id not in picks and passes(hit))
            # Fewer candidates than asked for means every eligible memory has been seen.
            if len(ranked) >= wanted or len(scored) < query.k:
                break
            query = replace(query, k=query.k * _FILTER_WIDEN)
        related = {hit.id for hit in ranked}  # shares a word or is near by vector; picks may be neither
        worded = {hit.id for hit in ranked if hit.keyword > 0}  # shares a word of the query
        if ranker is not None:  # the second stage: every candidate of both legs, by its score
            candidates = ranked + [hit for hit in picks.values() if hit.id not in related]
            scores = ranker.scores(text, candidates, {hit.id: found[hit.id].text for hit in candidates})
            order = sorted(range(len(candidates)), key=lambda n: (-scores[n], -candidates[n].score))
            ranked = [candidates[n] for n in order]
        arranged = give_room(ranked, list(picks.values()), room) if room else [(hit, False) for hit in ranked]
        return [
            SearchHit(
                found[hit.id],
                hit.score,
                "meaning" if hit.id not in related or (moved and hit.id not in worded) else "strong",
                closeness=picks[hit.id].closeness if hit.id in picks else None,
            )
            for hit, moved in arranged[:wanted]
        ]

    async def similar(self, text: str, vector: Vector, scope: Scope, locked: bool = False) -> list[Similar]:
        """The few memories of `scope` that resemble `text` (embedded as `vector`), most alike first, by the
        engine's own search (none without a search index); `locked` when the caller holds the write lock."""
        terms = self.analyzer.terms(text)
        if not self.retriever.searches or (not terms and not np.any(vector)):  # nothing to search by: resembles nothing
            return []
        hits = await self._ranked(text, vector, terms, scope, _SIMILAR + _NAMED, RELATED_SCORE, None, locked=locked)
        # A memory that shares only names with the new one (Alice, Leeds) is about the same person, not the same
        # thing: related only when it is as close as a near-duplicate. One sharing no term came by meaning.
        named, mine = self.analyzer.name_terms(text), set(terms)
        alike = [
            hit
            for hit in hits
            if hit.score >= DUPLICATE_SCORE
            or not (shared := mine & set(self.analyzer.terms(hit.memory.text)))
            or shared - named
        ]
        return [
            Similar(hit.memory, hit.score, "duplicate" if hit.score >= DUPLICATE_SCORE else "related")
            for hit in alike[:_SIMILAR]
        ]
