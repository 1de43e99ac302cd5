"""Following links between memories: the neighbours of search results, and a chain of supersessions."""

from __future__ import annotations

from typing import Final

from .models import MemoryId, Scope, SearchHit, Validity
from .protocols import MemoryStore

CHAIN_MOST: Final = 100
"""Most memories one supersession chain's history follows."""


async def neighbors(
    store: MemoryStore, hits: list[SearchHit], scope: Scope, validity: Validity, *, hops: int, most: int
) -> list[SearchHit]:
    """Up to `most` memories linked to `hits` (within `hops` links, either way) that are not among them, breadth
    first, each marked `linked` with the result it hangs from and the link's type ("<-type" when it points back);
    only those `scope` sees and `validity` admits."""
    seen = {hit.memory.id for hit in hits}
    frontier = {hit.memory.id: hit.score for hit in hits}
    found: list[SearchHit] = []
    for _ in range(hops):
        if not frontier or len(found) >= most:
            break
        reached: dict[MemoryId, tuple[MemoryId, str, float]] = {}
        for link in await store.links(scope.user_id, list(frontier)):
            for start, end, label in (
                (link.source_id, link.target_id, link.type),
                (link.target_id, link.source_id, "<-" + link.type),
            ):
                if start in frontier and end not in seen and end not in reached:
                    reached[end] = (start, label, frontier[start])
        memories = await store.get_many(scope, list(reached))
        frontier = {}
        for memory_id, (start, label, score) in reached.items():
            memory = memories.get(memory_id)
            if memory is None or not validity.admits(memory) or len(found) >= most:
                continue
            seen.add(memory_id)
            frontier[memory_id] = score
            found.append(SearchHit(memory, score, "linked", start, label))
    return found


async def supersession_chain(store: MemoryStore, memory_id: MemoryId, scope: Scope) -> list[MemoryId]:
    """The memories `memory_id` superseded (oldest first), itself, and those that superseded it (at most
    CHAIN_MOST in all); a deleted member ends the chain on its side."""
    chain = [memory_id]
    for forward in (False, True):
        at = memory_id
        while len(chain) < CHAIN_MOST:
            step = await _next(store, at, scope, forward=forward)
            if step is None or step in chain:
                break
            chain = [*chain, step] if forward else [step, *chain]
            at = step
    return chain


async def _next(store: MemoryStore, memory_id: MemoryId, scope: Scope, *, forward: bool) -> MemoryId | None:
    """The memory that superseded `memory_id` (forward) or the one it superseded, if any."""
    if forward:
        memory = await store.get(scope, memory_id)
        return None if memory is None else memory.superseded_by
    for link in await store.links(scope.user_id, [memory_id]):
        if link.type == "supersedes" and link.source_id == memory_id:
            return link.target_id
    return None
