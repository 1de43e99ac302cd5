"""The engine's links (engine/linking.py): typed links between two memories of one user, and the neighbours they
bring to search."""

from __future__ import annotations

import pytest

from memory_mcp.engine import MemoryEngine
from memory_mcp.errors import InvalidInputError, NotFoundError


async def test_links_join_memories_of_one_user_and_bring_neighbours_to_search(engine: MemoryEngine) -> None:
    sam, eve = engine.scope("sam"), engine.scope("eve")
    trip = (await engine.add("Sam went to Japan in April", sam)).memory
    detail = (await engine.add("The ryokan had a hot spring bath", sam)).memory
    unrelated = (await engine.add("Sam prefers aisle seats", sam)).memory
    eves = (await engine.add("Eve went to Japan too", eve)).memory
    link, created = await engine.link(sam, detail.id, trip.id, "part_of", {"note": "same trip"})
    assert created
    assert (link.type, link.metadata) == ("part_of", {"note": "same trip"})
    again, created_again = await engine.link(sam, detail.id, trip.id, "part_of")
    assert (again, created_again) == (link, False)
    # A link never crosses users: the other end must be the caller's own memory.
    with pytest.raises(NotFoundError):
        await engine.link(sam, trip.id, eves.id, "relates_to")
    with pytest.raises(NotFoundError):
        await engine.link(eve, eves.id, trip.id, "relates_to")
    with pytest.raises(InvalidInputError, match="itself"):
        await engine.link(sam, trip.id, trip.id, "relates_to")
    with pytest.raises(InvalidInputError, match="link type"):
        await engine.link(sam, trip.id, unrelated.id, "no/slashes")
    assert await engine.links(eve, eves.id) == []

    # The ryokan shares no word with the query: only the link brings it.
    plain = await engine.search("Japan April", sam, threshold=0.2)
    assert detail.id not in [hit.memory.id for hit in plain]
    hits = await engine.search("Japan April", sam, threshold=0.2, neighbors=1)
    assert [hit.memory.id for hit in hits][:1] == [trip.id]
    [neighbour] = [hit for hit in hits if hit.match == "linked"]
    assert (neighbour.memory.id, neighbour.linked_from, neighbour.link) == (detail.id, trip.id, "<-part_of")
    assert eves.id not in [hit.memory.id for hit in await engine.search("Japan", sam, neighbors=2)]
    with pytest.raises(InvalidInputError, match="neighbors"):
        await engine.search("Japan", sam, neighbors=3)

    removed = await engine.unlink(sam, detail.id, trip.id)
    assert [found.type for found in removed] == ["part_of"]
    with pytest.raises(InvalidInputError, match="no link"):
        await engine.unlink(sam, detail.id, trip.id)
    # Deleting a memory removes its links.
    await engine.link(sam, detail.id, trip.id, "part_of")
    await engine.delete(trip.id, sam)
    assert await engine.links(sam, detail.id) == []
