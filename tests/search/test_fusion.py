"""Reciprocal rank fusion of several wordings' rankings."""

from __future__ import annotations

from memory_mcp.models import Memory, MemoryId, Scope, SearchHit
from memory_mcp.search.fusion import fuse


def hit(memory_id: str, score: float) -> SearchHit:
    memory = Memory(MemoryId(memory_id), memory_id, Scope("u"), {}, "t", "t")
    return SearchHit(memory, score)


def test_a_memory_ranked_well_by_several_wordings_comes_first_with_its_best_score() -> None:
    first = [hit("a", 0.9), hit("b", 0.5), hit("c", 0.4)]
    second = [hit("b", 0.7), hit("c", 0.6), hit("d", 0.3)]
    fused = fuse([first, second], 3)
    assert [h.memory.id for h in fused] == ["b", "c", "a"]  # b: 1/61 + 1/60 beats a: 1/60
    assert [h.score for h in fused] == [0.7, 0.6, 0.9]
    assert fuse([first], 2) == first[:2]  # one wording: its own ranking
