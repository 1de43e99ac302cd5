"""Several servers on one database file, as when every assistant window starts its own: none misses a change."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest
from mcp import Client, StdioServerParameters

from memory_mcp import open_engine
from memory_mcp.engine import MemoryEngine
from memory_mcp.models import IndexRows, MemoryId, Scope
from memory_mcp.stores import SqliteStore

from .helpers import data, local_index

ALICE = Scope("alice")


async def texts(engine: MemoryEngine, query: str) -> list[str]:
    return [hit.memory.text for hit in await engine.search(query, ALICE, threshold=-1.0)]


async def test_a_second_engine_sees_adds_updates_and_deletes_of_the_first(db_path: Path) -> None:
    async with open_engine(db_path) as first, open_engine(db_path) as second:
        memory = (await first.add("Lives in Paris", ALICE)).memory
        assert await texts(second, "Paris") == ["Lives in Paris"]

        await first.update(memory.id, ALICE, text="Lives in Lisbon")
        assert await texts(second, "Lisbon") == ["Lives in Lisbon"]
        assert all(hit.score <= 0.3 for hit in await second.search("Paris", ALICE))  # no keyword of the old text

        await first.delete(memory.id, ALICE)
        assert await texts(second, "Lisbon") == []
        assert len(local_index(second)) == 0

        for i in range(5):
            await second.add(f"fact number {i}", ALICE)
        assert await first.delete_all(ALICE) == 5
        assert await texts(second, "fact") == []
        assert len(local_index(first)) == len(local_index(second)) == 0


async def test_a_second_engine_sees_a_supersession_of_the_first(db_path: Path) -> None:
    async with open_engine(db_path) as first, open_engine(db_path) as second:
        memory = (await first.add("Lives in Paris", ALICE)).memory
        assert await texts(second, "Paris") == ["Lives in Paris"]
        _, new = await first.supersede(memory.id, ALICE, "Lives in Lisbon")
        assert await texts(second, "Paris Lisbon") == ["Lives in Lisbon"]  # the old one is past in its index too
        everything = second.validity(include_superseded=True)
        found = [hit.memory.id for hit in await second.search("Paris", ALICE, limit=1, validity=everything)]
        assert found == [memory.id]
        assert (await second.get(memory.id, ALICE)).superseded_by == new.id


async def test_an_engine_opened_later_and_one_opened_earlier_agree(db_path: Path) -> None:
    async with open_engine(db_path) as early:
        for i in range(20):
            await early.add(f"memory {i} about tea", ALICE)
        async with open_engine(db_path) as late:
            for _ in range(10):
                page = await late.page(ALICE, limit=100)
                await late.delete(page.memories[0].id, ALICE)
            await late.add("memory about coffee", ALICE)
            await early.search("tea", ALICE)  # catches up
            assert (
                local_index(early).ids(ALICE)
                == local_index(late).ids(ALICE)
                == {m.id for m in (await late.page(ALICE)).memories}
            )


async def test_concurrent_writers_in_two_engines_lose_nothing(db_path: Path) -> None:
    async with open_engine(db_path) as first, open_engine(db_path) as second:

        async def write(engine: MemoryEngine, name: str) -> None:
            for i in range(40):
                await engine.add(f"{name} wrote fact {i}", ALICE)

        await asyncio.gather(write(first, "first"), write(second, "second"), write(first, "again"))
        for engine in (first, second):
            await engine.search("fact", ALICE)
            assert len(local_index(engine).ids(ALICE)) == 120
        assert (await first.page(ALICE)).total == 120


@pytest.mark.slow  # two server processes: the second tier
async def test_two_stdio_servers_on_one_file_see_each_others_writes(tmp_path: Path) -> None:
    command = str(Path(sys.executable).parent / "memory-mcp")
    env = {"MEMORY_MCP_DB": str(tmp_path / "shared.db")}
    async with (
        Client(StdioServerParameters(command=command, env=env)) as one,
        Client(StdioServerParameters(command=command, env=env), mode="legacy") as two,
    ):
        added = data(await one.call_tool("add_memory", {"user_id": "u", "text": "Allergic to peanuts"}))
        found = data(await two.call_tool("search_memory", {"user_id": "u", "query": "peanuts"}))
        assert [r["id"] for r in found["results"]] == [added["id"]]
        again = data(await two.call_tool("add_memory", {"user_id": "u", "text": "allergic to PEANUTS"}))
        assert (again["event"], again["id"]) == ("NOOP", added["id"])  # dedup holds across processes
        data(await two.call_tool("delete_memory", {"user_id": "u", "memory_id": added["id"]}))
        assert data(await one.call_tool("search_memory", {"user_id": "u", "query": "peanuts"}))["results"] == []


async def test_catching_up_skips_our_own_writes(db_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """After a big import by this process, the next search re-reads nothing; another process's change is re-read."""
    async with open_engine(db_path) as ours, open_engine(db_path) as theirs:
        await ours.add_many([(f"imported fact {i}", None) for i in range(300)], ALICE)
        memory = (await ours.add("one more fact", ALICE)).memory
        await ours.update(memory.id, ALICE, text="one more fact, changed")
        reread: list[str] = []
        store = ours.store
        assert isinstance(store, SqliteStore)
        original = store.index_rows

        async def counting(ids: Sequence[MemoryId]) -> IndexRows:
            reread.extend(ids)
            return await original(ids)

        monkeypatch.setattr(store, "index_rows", counting)
        await ours.search("fact", ALICE)
        assert reread == []
        other = (await theirs.add("their fact", ALICE)).memory
        await ours.search("fact", ALICE)
        assert reread == [other.id]
