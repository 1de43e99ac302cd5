"""Following links on both backends: a result's neighbours within some hops, either way, once each, and only what
the scope sees; a supersession chain in time order."""

from __future__ import annotations

from memory_mcp.engine import MemoryEngine
from memory_mcp.links import neighbors, supersession_chain
from memory_mcp.models import CURRENT, SearchHit


async def test_neighbours_come_breadth_first_each_once_with_the_link_they_came_by(engine: MemoryEngine) -> None:
    sam = engine.scope("sam")
    texts = ["Sam keeps bees", "Sam sells honey", "The market is on Saturdays", "Sam's hives are in the garden"]
    bees, honey, market, hives = [(await engine.add(text, sam)).memory for text in texts]
    await engine.link(sam, bees.id, honey.id, "relates_to")
    await engine.link(sam, honey.id, market.id, "part_of")
    await engine.link(sam, hives.id, bees.id, "part_of")
    other = (await engine.add("Alex keeps bees too", engine.scope("alex"))).memory
    hits = [SearchHit(bees, 0.9)]
    one = await neighbors(engine.store, hits, sam, CURRENT, hops=1, most=10)
    assert {(hit.memory.text, hit.link, hit.linked_from) for hit in one} == {
        ("Sam sells honey", "relates_to", bees.id),
        ("Sam's hives are in the garden", "<-part_of", bees.id),
    }
    assert all(hit.match == "linked" and hit.score == 0.9 for hit in one)
    two = await neighbors(engine.store, hits, sam, CURRENT, hops=2, most=10)
    assert [hit.memory.text for hit in two][-1] == "The market is on Saturdays"  # the second hop comes after the first
    assert len({hit.memory.id for hit in two}) == len(two) == 3
    assert len(await neighbors(engine.store, hits, sam, CURRENT, hops=2, most=1)) == 1
    assert other.id not in {hit.memory.id for hit in two}


async def test_a_supersession_chain_runs_oldest_to_newest_from_any_member(engine: MemoryEngine) -> None:
    sam = engine.scope("sam")
    paris = (await engine.add("Sam lives in Paris", sam)).memory
    _, berlin = await engine.supersede(paris.id, sam, "Sam moved to Berlin")
    _, rome = await engine.supersede(berlin.id, sam, "Sam moved to Rome")
    expected = [paris.id, berlin.id, rome.id]
    for member in expected:
        assert await supersession_chain(engine.store, member, sam) == expected
    alone = (await engine.add("Sam plays chess", sam)).memory
    assert await supersession_chain(engine.store, alone.id, sam) == [alone.id]
