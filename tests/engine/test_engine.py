"""MemoryEngine as a whole: restarts, embedders and re-embedding, the index kept equal to the store, locks."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Sequence
from pathlib import Path

import pytest

from memory_mcp import open_engine
from memory_mcp.embedders import HashEmbedder
from memory_mcp.engine import MemoryEngine
from memory_mcp.errors import NotFoundError, StoreError
from memory_mcp.models import Matrix, Scope

from ..helpers import DEFAULT_ID, keeps_an_index, local_index, strong

ALICE = Scope("alice")
BOB = Scope("bob")


async def test_memories_survive_a_restart(database: str) -> None:
    async with open_engine(database) as engine:
        kept = (await engine.add("I love hiking in the Swiss Alps", ALICE)).memory
        gone = (await engine.add("temporary note", ALICE)).memory
        await engine.delete(gone.id, ALICE)
    async with open_engine(database) as engine:
        assert await engine.count(ALICE) == 1
        hits = await engine.search("hiking", ALICE)
        assert [hit.memory for hit in hits] == [kept]


class ModelEmbedder(HashEmbedder):
    """Stands in for an embedder that is not memory-mcp's own (a model, an API): its vectors cost to remake."""

    @property
    def id(self) -> str:
        return f"some-model-{self.dim}"


async def test_another_embedder_is_refused_with_advice(database: str) -> None:
    async with open_engine(database, embedder=ModelEmbedder(256)) as engine:
        await engine.add("I love hiking", ALICE)
    with pytest.raises(StoreError, match="--reembed"):
        async with open_engine(database, embedder=HashEmbedder(512)):
            pass
    with pytest.raises(StoreError, match="--reembed"):
        async with open_engine(database, embedder=ModelEmbedder(512)):
            pass


async def test_memory_mcps_own_embedders_re_embed_by_themselves(database: str) -> None:
    """Hash and default vectors are cheap, local and deterministic: switching between them needs no --reembed."""
    async with open_engine(database, embedder=HashEmbedder(256)) as engine:
        await engine.add("I love hiking", ALICE)
    async with open_engine(database) as engine:  # the default embedder: spelling + meaning
        assert await engine.store.embedder_id() == DEFAULT_ID
        assert [hit.memory.text for hit in strong(await engine.search("hiking", ALICE))] == ["I love hiking"]


async def test_reembed_converts_every_vector_to_the_new_embedder(
    database: str, caplog: pytest.LogCaptureFixture
) -> None:
    async with open_engine(database, embedder=HashEmbedder(256)) as engine:
        for text in ("I love hiking", "sister lives in Berlin"):
            await engine.add(text, ALICE)
    async with open_engine(database, embedder=HashEmbedder(512), reembed=True) as engine:
        assert [hit.memory.text for hit in strong(await engine.search("hiking", ALICE))] == ["I love hiking"]
        assert await engine.store.embedder_id() == "hash-v2-512"
        records = [record async for batch in engine.records(None, vectors=True) for record in batch]
    assert {None if r.vector is None else r.vector.shape for r in records} == {(512,)}
    assert "re-embedded 2 of 2 memories (100%)" in caplog.text
    # And it now opens without --reembed.
    async with open_engine(database, embedder=HashEmbedder(512)) as engine:
        assert [hit.memory.text for hit in strong(await engine.search("Berlin", ALICE))] == ["sister lives in Berlin"]


async def test_index_equals_store_after_a_mix_of_writes(engine: MemoryEngine) -> None:
    ids = [(await engine.add(f"memory {i} about topic {i % 3}", ALICE)).memory.id for i in range(20)]
    for memory_id in ids[::3]:
        await engine.delete(memory_id, ALICE)
    for memory_id in ids[1::3]:
        await engine.update(memory_id, ALICE, text=f"changed {memory_id}")
    page = await engine.page(ALICE, limit=100)
    found = await engine.search("memory topic", ALICE, limit=100, threshold=-1)
    assert {hit.memory.id for hit in found} == {memory.id for memory in page.memories}
    if keeps_an_index(engine):
        assert local_index(engine).ids(ALICE) == {memory.id for memory in page.memories}
    text = f"changed {ids[1]}"
    [top] = await engine.search(text, ALICE, limit=1)
    assert top.memory.id == ids[1]


async def test_concurrent_handlers_leave_index_and_store_equal(engine: MemoryEngine) -> None:
    """Many interleaved adds, updates, deletes and searches: no lost write, the index ends equal to the store."""
    base = [(await engine.add(f"shared fact {i}", ALICE)).memory.id for i in range(10)]

    async def add(i: int) -> object:
        return await engine.add(f"new fact {i % 15}", ALICE)  # every text twice: dedup under concurrency

    async def update(i: int) -> object:
        try:
            return await engine.update(base[i % 10], ALICE, metadata={"round": i})
        except NotFoundError:  # deleted by a concurrent job first
            return None

    async def delete(i: int) -> object:
        try:
            return await engine.delete(base[i], ALICE)
        except NotFoundError:
            return None

    async def search(i: int) -> object:
        return await engine.search("fact", ALICE, limit=5)

    jobs = [add(i) for i in range(30)] + [update(i) for i in range(20)] + [delete(i) for i in (0, 1, 2, 0, 1)]
    jobs += [search(i) for i in range(20)]
    await asyncio.gather(*jobs)

    page = await engine.page(ALICE, limit=100)
    assert page.total == 10 - 3 + 15
    if keeps_an_index(engine):  # PostgreSQL searches the store itself: there is no copy to drift
        assert local_index(engine).ids(ALICE) == {memory.id for memory in page.memories}
    texts = [memory.text for memory in page.memories]
    assert len(texts) == len(set(texts))  # no duplicate slipped in
    for memory_id in base[3:]:
        history = await engine.history(memory_id, ALICE)
        assert [entry.event for entry in history] == ["ADD"] + ["UPDATE"] * 2  # rounds i and i + 10
    for memory_id in base[:3]:
        assert [entry.event for entry in await engine.history(memory_id, ALICE)][-1] == "DELETE"


async def test_a_locked_database_is_a_clear_error_and_changes_nothing(
    db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("memory_mcp.stores.sqlite.connection.BUSY_TIMEOUT_MS", 50)
    async with open_engine(db_path) as engine:
        kept = (await engine.add("kept fact", ALICE)).memory
        other = sqlite3.connect(db_path, timeout=0.05, isolation_level=None)
        try:
            other.execute("BEGIN IMMEDIATE")  # another process holds the write lock
            with pytest.raises(StoreError, match="could not save the change"):
                await engine.add("blocked fact", ALICE)
            with pytest.raises(StoreError, match="nothing was changed"):
                await engine.delete(kept.id, ALICE)
        finally:
            other.execute("ROLLBACK")
            other.close()
        assert [m.text for m in (await engine.page(ALICE)).memories] == ["kept fact"]
        assert local_index(engine).ids(ALICE) == {kept.id}
        assert (await engine.add("blocked fact", ALICE)).created  # works once the lock is gone


class FailingEmbedder(HashEmbedder):
    """Embeds the first batch, then fails: a re-embed interrupted half-way."""

    def __init__(self, dim: int) -> None:
        super().__init__(dim)
        self.calls = 0

    async def embed_documents(self, texts: Sequence[str]) -> Matrix:
        self.calls += 1
        if self.calls > 1:
            raise RuntimeError("embedding service went away")
        return await super().embed_documents(texts)


async def test_an_interrupted_reembed_leaves_the_old_vectors_untouched(
    db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with open_engine(db_path, embedder=HashEmbedder(256)) as engine:
        for text in ("first fact", "second fact", "third fact"):
            await engine.add(text, ALICE)
    monkeypatch.setattr("memory_mcp.engine._REEMBED_BATCH", 1)
    with pytest.raises(RuntimeError, match="went away"):
        async with open_engine(db_path, embedder=FailingEmbedder(512), reembed=True):
            pass
    with sqlite3.connect(db_path) as raw:
        assert raw.execute("SELECT value FROM settings WHERE key = 'embedder_id'").fetchone()[0] == "hash-v2-256"
        assert {len(blob) for (blob,) in raw.execute("SELECT embedding FROM memories")} == {256 * 4}
    async with open_engine(db_path, embedder=HashEmbedder(256)) as engine:
        assert [hit.memory.text for hit in strong(await engine.search("second", ALICE))] == ["second fact"]
