"""Several rankings of one question merged into one: reciprocal rank fusion, each memory keeping its best score."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from ..models import MemoryId, SearchHit

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
