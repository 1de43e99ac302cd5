"""Rankings merged: the meaning leg's room after the best result, and reciprocal rank fusion of wordings."""

from __future__ import annotations

from memory_mcp.models import IndexHit, Memory, MemoryId, Scope, SearchHit
from memory_mcp.search.fusion import fuse, give_room


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


def indexed(memory_id: str, score: float, by_meaning: bool = False) -> IndexHit:
    return IndexHit(MemoryId(memory_id), score, 0.0, 0.0, by_meaning)


def test_the_meaning_legs_best_come_right_after_the_best_result_marked_when_moved_up() -> None:
    ranked = [indexed(name, score) for name, score in [("a", 0.9), ("b", 0.8), ("c", 0.7), ("d", 0.6)]]
    picks = [indexed("a", 0.9, True), indexed("x", 0.1, True), indexed("d", 0.6, True), indexed("y", 0.2, True)]
    arranged = give_room(ranked, picks, 2)
    assert [(hit.id, moved) for hit, moved in arranged] == [
        ("a", False),  # the best stays first (and, first already, takes no room)
        ("x", True),  # not in the fused ranking at all
        ("d", True),  # fourth by score, now third
        ("b", False),
        ("c", False),
    ]
    assert [hit.score for hit, _ in arranged] == [0.9, 0.1, 0.6, 0.8, 0.7]  # scores are kept


def test_a_pick_already_in_its_place_is_not_marked_and_nothing_is_lost() -> None:
    ranked = [indexed("a", 0.9), indexed("b", 0.8)]
    arranged = give_room(ranked, [indexed("b", 0.8, True)], 2)
    assert [(hit.id, moved) for hit, moved in arranged] == [("a", False), ("b", False)]
    assert [(hit.id, moved) for hit, moved in give_room([], [indexed("x", 0.1, True)], 2)] == [("x", True)]
    assert [hit.id for hit, _ in give_room(ranked, [indexed("x", 0.1, True)], 0)] == ["a", "b"]
