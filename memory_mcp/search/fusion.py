"""Rankings merged into one: the meaning leg's room beside the fused score, and reciprocal rank fusion of wordings."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from ..models import IndexHit, MemoryId, SearchHit

RRF: Final = 60
"""Reciprocal rank fusion's constant: a memory ranked r by one wording adds 1 / (60 + r)."""


def fuse(rankings: Sequence[list[SearchHit]], limit: int) -> list[SearchHit]:
    """One ranking from several (reciprocal rank fusion); each memory keeps its best score."""
    if len(rankings) == 1:
        return rankings[0][:limit]
    votes: dict[MemoryId, float] = {}
    best: dict[MemoryId, SearchHit] = {}
    for ranking in rankings:
        for rank, hit in enumerate(ranking):
            votes[hit.memory.id] = votes.get(hit.memory.id, 0.0) + 1.0 / (RRF + rank)
            if hit.memory.id not in best or hit.score > best[hit.memory.id].score:
                best[hit.memory.id] = hit
    order = sorted(votes, key=lambda memory_id: (-votes[memory_id], -best[memory_id].score))
    return [best[memory_id] for memory_id in order[:limit]]


def give_room(ranked: Sequence[IndexHit], picks: Sequence[IndexHit], room: int) -> list[tuple[IndexHit, bool]]:
    """The fused ranking with the meaning leg's best placed right after its first: `ranked` (best score first)
    and `picks` (best centred meaning first) become one ranking in which places 2 to `room` + 1 hold the first
    `room` picks that are not first already. Each hit comes with True when the room moved it up (it was not that
    high in `ranked`), which the engine marks as a match by meaning unless it shares a word with the query."""
    order: list[IndexHit] = list(ranked[:1])
    placed = {hit.id for hit in order}
    for pick in picks:
        if len(order) > room:
            break
        if pick.id not in placed:
            order.append(pick)
            placed.add(pick.id)
    rank = {hit.id: position for position, hit in enumerate(ranked)}
    arranged = [(hit, hit.id not in rank or rank[hit.id] > position) for position, hit in enumerate(order)]
    arranged += [(hit, False) for hit in ranked if hit.id not in placed]
    return arranged
