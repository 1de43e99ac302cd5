"""MemoryEngine behaviour: add, dedup, search, filters, pages, update, delete, history, restart, embedders."""

from __future__ import annotations

import asyncio
import itertools
import json
import math
import random
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from memory_mcp import open_engine
from memory_mcp.embedders import HashEmbedder
from memory_mcp.engine import MemoryEngine
from memory_mcp.errors import DuplicateError, FilterError, InvalidInputError, NotFoundError, StoreError
from memory_mcp.models import Limits, Matrix, Scope, Vector, now
from memory_mcp.paging import decode_cursor
from memory_mcp.scoring import RELATED_SCORE
from memory_mcp.search import NoSearch

from .helpers import DEFAULT_ID, keeps_an_index, local_index, strong

ALICE = Scope("alice")
BOB = Scope("bob")


async def test_add_returns_the_stored_memory(engine: MemoryEngine) -> None:
    result = await engine.add("  Prefers window seats  ", ALICE, {"topic": "travel"})
    assert result.created
    memory = result.memory
    assert memory.text == "Prefers window seats"
    assert memory.metadata == {"topic": "travel"}
    assert memory.created_at == memory.updated_at
    assert await engine.get(memory.id, ALICE) == memory


async def test_exact_duplicate_is_a_noop_returning_the_existing_memory(engine: MemoryEngine) -> None:
    first = await engine.add("Likes green tea", ALICE)
    again = await engine.add("  likes   GREEN tea ", ALICE, {"other": "metadata"})
    assert not again.created
    assert again.memory == first.memory
    assert await engine.count(ALICE) == 1
    # Same text, other scope: a separate memory.
    assert (await engine.add("Likes green tea", Scope("alice", "coach"))).created
    assert (await engine.add("Likes green tea", BOB)).created


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param("", "empty", id="empty"),
        pytest.param("   \n\t ", "empty", id="whitespace"),
        pytest.param("x" * 101, "limit is 100", id="too-long"),
        pytest.param("nul\x00byte", "NUL", id="nul"),
        pytest.param("lone \ud800 surrogate", "surrogate", id="surrogate"),
        pytest.param(42, "must be a string", id="not-a-string"),
    ],
)
async def test_bad_text_is_rejected_and_nothing_is_stored(database: str, text: object, message: str) -> None:
    async with open_engine(database, limits=Limits(max_text_chars=100)) as engine:
        with pytest.raises(InvalidInputError, match=message):
            await engine.add(text, ALICE)  # type: ignore[arg-type]
        assert await engine.count(ALICE) == 0


@pytest.mark.parametrize(
    ("metadata", "message"),
    [
        pytest.param(["a"], "JSON object", id="not-an-object"),
        pytest.param({"user_id": "bob"}, "scope", id="scope-key"),
        pytest.param({"run_id": "x"}, "scope", id="run-key"),
        pytest.param({"x": float("nan")}, "NaN", id="nan"),
        pytest.param({"x": object()}, "JSON values", id="not-json"),
        pytest.param({"x": "y" * 300}, "limit is 256", id="too-big"),
        pytest.param({"a": {"b": {"c": {"d": 1}}}}, "nested more than 3", id="too-deep"),
        pytest.param({"": 1}, "non-empty strings", id="empty-key"),
    ],
)
async def test_bad_metadata_is_rejected(database: str, metadata: object, message: str) -> None:
    limits = Limits(max_metadata_bytes=256, max_metadata_depth=3)
    async with open_engine(database, limits=limits) as engine:
        with pytest.raises(InvalidInputError, match=message):
            await engine.add("fact", ALICE, metadata)  # type: ignore[arg-type]
        assert await engine.count(ALICE) == 0


@pytest.mark.parametrize(
    "scope_args",
    [
        pytest.param(("",), id="empty-user"),
        pytest.param(("a/b",), id="slash"),
        pytest.param(("../etc",), id="dots-and-slash"),
        pytest.param(("alice", ""), id="empty-agent"),
        pytest.param(("alice", None, "run 1"), id="space-in-run"),
        pytest.param(("x" * 200,), id="too-long"),
        pytest.param((None,), id="missing-user"),
    ],
)
def test_malformed_scope_ids_are_rejected(engine: MemoryEngine, scope_args: tuple[object, ...]) -> None:
    with pytest.raises(InvalidInputError, match=r"user_id|agent_id|run_id"):
        engine.scope(*scope_args)


def test_ids_may_be_emails_and_non_ascii_names(engine: MemoryEngine) -> None:
    assert engine.scope("alice@example.com", "coach:v2", "run-1.3").user_id == "alice@example.com"
    assert engine.scope("zoë").user_id == "zoë"


async def test_search_finds_the_closest_memory_first(engine: MemoryEngine) -> None:
    for text in [
        "I love hiking in the Swiss Alps",
        "My sister Anna lives in Berlin",
        "Allergic to peanuts and shellfish",
        "Works as a nurse at the city hospital",
    ]:
        await engine.add(text, ALICE)
    hits = await engine.search("hiking", ALICE)
    assert hits[0].memory.text == "I love hiking in the Swiss Alps"
    assert all(a.score >= b.score for a, b in itertools.pairwise(hits))
    assert all(-1.0 <= hit.score <= 1.0 for hit in hits)
    # Without a threshold the related memory is a strong match; the nearest others fill up to `limit`, marked
    # weak: every memory here, as the default limit (10) is more than there are.
    assert [hit.match for hit in hits] == ["strong", "weak", "weak", "weak"]
    assert [hit.match for hit in await engine.search("hiking", ALICE, limit=2)] == ["strong", "weak"]
    assert len(await engine.search("quantum chromodynamics", ALICE, limit=20)) == 4  # as many as there are


async def test_search_limit_and_threshold(engine: MemoryEngine) -> None:
    await engine.add("tea with milk", ALICE)
    await engine.add("tea with lemon and honey and ginger", ALICE)
    await engine.add("tea", ALICE)
    assert len(await engine.search("tea", ALICE, limit=2)) == 2
    ranked = await engine.search("tea", ALICE)
    assert ranked[0].memory.text == "tea"  # the exact match is best: short, and nothing but the query
    assert ranked[-1].memory.text == "tea with lemon and honey and ginger"
    between = (ranked[0].score + ranked[1].score) / 2
    strict = await engine.search("tea", ALICE, threshold=between)
    assert [hit.memory.text for hit in strict] == ["tea"]
    assert await engine.search("tea", ALICE, threshold=0.99) == []  # a threshold is never relaxed
    # Nothing related: the nearest memories come back, all marked weak, instead of nothing.
    unrelated = await engine.search("quantum physics lecture", ALICE, limit=2)
    assert [hit.match for hit in unrelated] == ["weak", "weak"]
    everything = await engine.search("quantum physics lecture", ALICE, threshold=-1.0)
    assert len(everything) == 3


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        pytest.param({"limit": 0}, "limit", id="zero-limit"),
        pytest.param({"limit": 10_000}, "limit", id="huge-limit"),
        pytest.param({"limit": True}, "limit", id="bool-limit"),
        pytest.param({"threshold": 2.0}, "threshold", id="threshold-above-one"),
        pytest.param({"filters": {"x": {"like": 1}}}, "Unknown filter operator", id="bad-filter"),
    ],
)
async def test_bad_search_arguments_are_errors(engine: MemoryEngine, kwargs: dict[str, object], message: str) -> None:
    await engine.add("tea", ALICE)
    with pytest.raises(InvalidInputError, match=message):
        await engine.search("tea", ALICE, **kwargs)  # type: ignore[arg-type]


async def test_a_query_without_words_is_an_error_not_random_results(engine: MemoryEngine) -> None:
    await engine.add("tea", ALICE)
    with pytest.raises(InvalidInputError, match="no words"):
        await engine.search("?!", ALICE)


async def test_filters_apply_before_the_limit(engine: MemoryEngine) -> None:
    """A filter that matches only weak candidates still fills the results (the search widens)."""
    for i in range(40):
        await engine.add(f"project note {i} about the garden shed", ALICE, {"kind": "note"})
    await engine.add("project deadline for the garden", ALICE, {"kind": "deadline", "priority": 2})
    hits = await engine.search("project garden shed note", ALICE, limit=3, filters={"kind": "deadline"})
    assert [hit.memory.text for hit in hits] == ["project deadline for the garden"]
    hits = await engine.search("project", ALICE, limit=5, filters={"NOT": {"kind": "deadline"}})
    assert len(hits) == 5
    assert all(hit.memory.metadata["kind"] == "note" for hit in hits)
    with pytest.raises(FilterError):
        await engine.search("project", ALICE, filters={"kind": {"regex": ".*"}})


async def test_users_never_see_each_others_memories(engine: MemoryEngine) -> None:
    secret = (await engine.add("Alice's bank PIN hint is her cat", ALICE)).memory
    await engine.add("Bob has a cat", BOB)
    assert [h.memory.text for h in await engine.search("cat", BOB)] == ["Bob has a cat"]
    with pytest.raises(NotFoundError) as caught:
        await engine.get(secret.id, BOB)
    unknown = NotFoundError("00000000-0000-0000-0000-000000000000")
    # The message for someone else's memory is the same as for one that does not exist.
    assert str(caught.value) == str(unknown).replace(unknown.memory_id, secret.id)
    for action in (
        engine.update(secret.id, BOB, text="hacked"),
        engine.delete(secret.id, BOB),
        engine.history(secret.id, BOB),
    ):
        with pytest.raises(NotFoundError):
            await action
    assert (await engine.page(BOB)).total == 1
    assert await engine.delete_all(BOB) == 1
    assert await engine.get(secret.id, ALICE) == secret


async def test_agent_and_run_narrow_the_scope(engine: MemoryEngine) -> None:
    await engine.add("general fact about tea", ALICE)
    coach = (await engine.add("coach fact about tea", Scope("alice", "coach"))).memory
    await engine.add("run fact about tea", Scope("alice", "coach", "r1"))
    assert len(await engine.search("tea", ALICE)) == 3
    assert len(await engine.search("tea", Scope("alice", "coach"))) == 2
    assert len(await engine.search("tea", Scope("alice", None, "r1"))) == 1
    assert (await engine.page(Scope("alice", "coach"))).total == 2
    with pytest.raises(NotFoundError):
        await engine.get(coach.id, Scope("alice", "writer"))
    assert await engine.delete_all(Scope("alice", "coach")) == 2
    assert (await engine.page(ALICE)).total == 1


async def test_pages_cover_everything_once_newest_first(engine: MemoryEngine) -> None:
    added = [(await engine.add(f"fact number {i}", ALICE)).memory.id for i in range(23)]
    seen: list[str] = []
    cursor = None
    while True:
        page = await engine.page(ALICE, cursor=cursor, limit=5)
        assert page.total == 23
        seen.extend(memory.id for memory in page.memories)
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert seen == list(reversed(added))


async def test_filtered_pages_count_only_matches(engine: MemoryEngine) -> None:
    for i in range(12):
        await engine.add(f"fact {i}", ALICE, {"even": i % 2 == 0})
    first = await engine.page(ALICE, limit=4, filters={"even": True})
    assert first.total == 6
    assert first.next_cursor is not None
    second = await engine.page(ALICE, cursor=first.next_cursor, limit=4, filters={"even": True})
    texts = [m.text for m in first.memories + second.memories]
    assert texts == ["fact 10", "fact 8", "fact 6", "fact 4", "fact 2", "fact 0"]
    assert second.next_cursor is None


async def test_a_forged_cursor_is_an_error(engine: MemoryEngine) -> None:
    with pytest.raises(InvalidInputError, match="cursor"):
        await engine.page(ALICE, cursor="not-a-cursor")
    with pytest.raises(InvalidInputError, match="cursor"):
        decode_cursor("WzEsMl0")  # base64 of [1,2]: valid JSON, wrong types


async def test_update_changes_text_keeps_created_at_and_reembeds(engine: MemoryEngine) -> None:
    memory = (await engine.add("Lives in Paris", ALICE, {"topic": "home"})).memory
    updated = await engine.update(memory.id, ALICE, text="Lives in Lisbon")
    assert updated.text == "Lives in Lisbon"
    assert updated.metadata == {"topic": "home"}
    assert updated.created_at == memory.created_at
    assert updated.updated_at > memory.updated_at
    assert [hit.memory.id for hit in await engine.search("Lisbon", ALICE)] == [memory.id]
    # No keyword of the old text is left in the index: at most closeness of meaning (city to city) scores.
    assert all(hit.score <= 0.3 for hit in await engine.search("Paris", ALICE))
    replaced = await engine.update(memory.id, ALICE, metadata={"topic": "city"})
    assert replaced.metadata == {"topic": "city"}
    assert replaced.text == "Lives in Lisbon"
    events = [(e.event, e.old_text, e.new_text) for e in await engine.history(memory.id, ALICE)]
    assert events == [
        ("ADD", None, "Lives in Paris"),
        ("UPDATE", "Lives in Paris", "Lives in Lisbon"),
        ("UPDATE", "Lives in Lisbon", "Lives in Lisbon"),
    ]


async def test_update_without_changes_writes_no_history(engine: MemoryEngine) -> None:
    memory = (await engine.add("Lives in Paris", ALICE)).memory
    assert await engine.update(memory.id, ALICE, text="Lives in Paris") == memory
    assert len(await engine.history(memory.id, ALICE)) == 1
    with pytest.raises(InvalidInputError, match="Nothing to update"):
        await engine.update(memory.id, ALICE)


async def test_update_into_a_duplicate_names_the_other_memory(engine: MemoryEngine) -> None:
    tea = (await engine.add("likes tea", ALICE)).memory
    coffee = (await engine.add("likes coffee", ALICE)).memory
    with pytest.raises(DuplicateError) as caught:
        await engine.update(coffee.id, ALICE, text="Likes tea")
    assert caught.value.existing_id == tea.id
    assert (await engine.get(coffee.id, ALICE)).text == "likes coffee"


async def test_delete_forgets_but_history_remains(engine: MemoryEngine) -> None:
    memory = (await engine.add("Has a dog named Rex", ALICE)).memory
    deleted = await engine.delete(memory.id, ALICE)
    assert deleted == memory
    with pytest.raises(NotFoundError):
        await engine.get(memory.id, ALICE)
    assert await engine.search("dog", ALICE) == []
    assert [e.event for e in await engine.history(memory.id, ALICE)] == ["ADD", "DELETE"]
    with pytest.raises(NotFoundError):
        await engine.delete(memory.id, ALICE)
    with pytest.raises(NotFoundError):
        await engine.history("no-such-id", ALICE)


async def test_delete_all_records_history_for_each(engine: MemoryEngine) -> None:
    ids = [(await engine.add(f"fact {i}", ALICE)).memory.id for i in range(3)]
    assert await engine.delete_all(ALICE) == 3
    assert await engine.delete_all(ALICE) == 0
    assert await engine.search("fact", ALICE) == []
    assert not keeps_an_index(engine) or len(local_index(engine)) == 0
    for memory_id in ids:
        assert [e.event for e in await engine.history(memory_id, ALICE)] == ["ADD", "DELETE"]


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


async def test_search_forgives_typos_and_inflections(engine: MemoryEngine) -> None:
    for text in ("I love hiking in the Swiss Alps", "My sister Anna lives in Berlin", "Allergic to peanuts"):
        await engine.add(text, ALICE)
    for query in ("hikes", "hikking", "swiss alp"):
        hits = await engine.search(query, ALICE)
        assert [hit.memory.text for hit in hits][:1] == ["I love hiking in the Swiss Alps"], query


async def test_vector_weight_balances_the_two_legs(database: str) -> None:
    async with open_engine(database, vector_weight=0.0) as keyword_only:
        await keyword_only.add("I love hiking in the Swiss Alps", ALICE)
        assert await keyword_only.search("hikking", ALICE, threshold=0.01) == []  # a typo is no keyword
    async with open_engine(database, vector_weight=1.0) as vector_only:
        [hit] = await vector_only.search("hikking", ALICE)
        assert hit.score == pytest.approx(
            float(
                await vector_only.embedder.embed_query("hikking")
                @ await vector_only.embedder.embed_query(hit.memory.text)
            ),
            abs=1e-5,
        )


async def test_add_many_stores_in_one_go_and_reports_per_item(engine: MemoryEngine) -> None:
    existing = (await engine.add("likes tea", ALICE)).memory
    outcomes = await engine.add_many(
        [("likes coffee", {"n": 1}), ("", None), ("LIKES TEA", None), ("likes coffee", None), ("hates rain", None)],
        ALICE,
    )
    assert [o.status for o in outcomes] == ["added", "error", "noop", "noop", "added"]
    assert outcomes[2].memory == existing
    assert outcomes[3].memory == outcomes[0].memory
    assert outcomes[1].error is not None
    assert outcomes[1].error.startswith("item 1:")
    assert (await engine.page(ALICE)).total == 3
    assert [h.memory.text for h in await engine.search("coffee", ALICE)][:1] == ["likes coffee"]
    for outcome in (outcomes[0], outcomes[4]):
        assert outcome.memory is not None
        assert [e.event for e in await engine.history(outcome.memory.id, ALICE)] == ["ADD"]


async def test_add_many_limits(database: str) -> None:
    async with open_engine(database, limits=Limits(max_batch=3)) as engine:
        with pytest.raises(InvalidInputError, match="limit is 3"):
            await engine.add_many([("a", None)] * 4, ALICE)
        with pytest.raises(InvalidInputError, match="empty"):
            await engine.add_many([], ALICE)
        assert [o.status for o in await engine.add_many([("", None)], ALICE)] == ["error"]
        assert (await engine.page(ALICE)).total == 0


@pytest.mark.sqlite_only
async def test_add_many_is_one_transaction(engine: MemoryEngine, db_path: Path) -> None:
    """If the store fails half-way through a batch, none of it is visible, in the store or the index."""
    with sqlite3.connect(db_path) as raw:  # make the second item's history row fail inside the transaction
        raw.execute(
            "CREATE TRIGGER fail_second BEFORE INSERT ON history WHEN NEW.new_text = 'second'"
            " BEGIN SELECT RAISE(ABORT, 'simulated failure'); END"
        )
    with pytest.raises(sqlite3.IntegrityError, match="simulated failure"):
        await engine.add_many([("first", None), ("second", None)], ALICE)
    assert (await engine.page(ALICE)).total == 0
    assert len(local_index(engine)) == 0


async def test_a_background_load_serves_reads_at_once_and_searches_when_ready(db_path: Path) -> None:
    async with open_engine(db_path) as engine:
        for start in range(0, 12_000, 1_000):  # more rows than one background batch
            await engine.add_many(
                [(f"stored fact number {i}", None) for i in range(start, start + 1_000)], engine.scope("u")
            )
        kept = (await engine.add("Allergic to peanuts", engine.scope("u"))).memory
        doomed = (await engine.add("Lives in Lisbon", engine.scope("u"))).memory
    async with open_engine(db_path, background=True) as engine:
        assert not engine.ready  # open returned before the index was filled
        assert (await engine.get(kept.id, engine.scope("u"))).text == "Allergic to peanuts"
        searched, added, _ = await asyncio.gather(
            engine.search("peanuts", engine.scope("u")),
            engine.add("Plays the cello", engine.scope("u")),
            engine.delete(doomed.id, engine.scope("u")),
        )
        assert engine.ready
        assert [hit.memory.id for hit in strong(searched)] == [kept.id]
        assert [hit.memory.id for hit in strong(await engine.search("cello", engine.scope("u")))] == [added.memory.id]
        assert all("Lisbon" not in hit.memory.text for hit in await engine.search("Lisbon", engine.scope("u")))
        assert len(local_index(engine)) == await engine.count(engine.scope("u")) == 12_002


async def test_a_failed_background_load_is_reported_by_search(db_path: Path) -> None:
    async with open_engine(db_path) as engine:
        await engine.add("Allergic to peanuts", engine.scope("u"))
    with sqlite3.connect(db_path) as connection:
        connection.execute("UPDATE memories SET embedding = zeroblob(8)")
    async with open_engine(db_path, background=True) as engine:
        with pytest.raises(StoreError, match="wrong length"):
            await engine.search("peanuts", engine.scope("u"))
        with pytest.raises(StoreError, match="wrong length"):
            await engine.search("peanuts", engine.scope("u"))


async def test_an_add_that_restates_a_stored_fact_reports_it_as_a_near_duplicate(engine: MemoryEngine) -> None:
    band = (await engine.add("My favourite band is Radiohead", ALICE)).memory
    await engine.add("I drive a 2015 Honda Civic", ALICE)
    restated = await engine.add("Radiohead is my favourite band", ALICE)
    assert restated.created
    assert [(found.memory.id, found.kind) for found in restated.similar] == [(band.id, "duplicate")]
    assert restated.similar[0].score >= 0.5
    different = await engine.add("I go swimming three mornings a week", ALICE)
    assert different.similar == ()
    # Another user's identical fact is never reported.
    theirs = await engine.add("My favourite band is Radiohead", engine.scope("bob"))
    assert (theirs.created, theirs.similar) == (True, ())


async def test_an_add_reports_what_a_search_before_it_finds_although_it_compares_while_committing(
    engine: MemoryEngine,
) -> None:
    """add compares the new text with the others while the store commits it: the result is the comparison made
    before the write (never the new memory itself), for each of many adds in a row and at once."""
    facts = [f"Alice keeps bees number {n} in the garden behind the house" for n in range(12)]
    for fact in facts:
        expected = [found.memory.id for found in await engine.search(fact, ALICE, limit=3, threshold=RELATED_SCORE)]
        added = await engine.add(fact, ALICE)
        assert [found.memory.id for found in added.similar] == expected
        assert added.memory.id not in expected
    together = await asyncio.gather(*(engine.add(f"Alice bakes bread on day {n} of the week", ALICE) for n in range(6)))
    assert all(result.memory.id not in {found.memory.id for found in result.similar} for result in together)
    assert await engine.count(ALICE) == 18


async def test_an_add_compares_with_the_memories_before_it_even_when_its_commit_lands_first(
    engine: MemoryEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The comparison may run after the store has committed the new memory (and before the index learns of it):
    it must still not see that memory, nor count it in the term statistics."""
    if not keeps_an_index(engine):  # PostgreSQL compares before it writes
        return
    facts = [f"Alice keeps bees number {n} in the garden behind the house" for n in range(6)]
    for fact in facts[:3]:
        await engine.add(fact, ALICE)
    committed = asyncio.Event()
    insert, similar = engine.store.insert_many, engine.ranking.similar

    async def insert_then_tell(*args: Any, **kwargs: Any) -> Any:
        stored = await insert(*args, **kwargs)
        committed.set()
        return stored

    async def similar_after_the_commit(*args: Any, **kwargs: Any) -> Any:
        await committed.wait()
        return await similar(*args, **kwargs)

    monkeypatch.setattr(engine.store, "insert_many", insert_then_tell)
    monkeypatch.setattr(engine.ranking, "similar", similar_after_the_commit)
    for fact in facts[3:]:
        committed.clear()
        expected = [found.memory.id for found in await similar(fact, await engine.embedder.embed_query(fact), ALICE)]
        added = await engine.add(fact, ALICE)
        assert len(expected) == 3
        assert [found.memory.id for found in added.similar] == expected


async def test_an_add_whose_comparison_fails_after_its_write_is_stored_and_answered(
    engine: MemoryEngine, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    await engine.add("Alice plays the cello", ALICE)
    assert engine.retriever is not None

    async def broken(*args: object, **kwargs: object) -> None:
        raise StoreError("the read connection is gone")

    monkeypatch.setattr(engine.retriever, "search", broken)
    if not keeps_an_index(engine):  # PostgreSQL compares before it writes: the failure comes first, nothing stored
        with pytest.raises(StoreError, match="read connection"):
            await engine.add("Alice plays the cello on Sundays", ALICE)
        assert await engine.count(ALICE) == 1
        return
    added = await engine.add("Alice plays the cello on Sundays", ALICE)
    assert (added.created, added.similar) == (True, ())
    assert "could not compare" in caplog.text
    monkeypatch.undo()
    assert added.memory.id in [hit.memory.id for hit in await engine.search("cello Sundays", ALICE)]


async def test_if_similar_skip_stores_nothing_when_a_near_duplicate_exists(engine: MemoryEngine) -> None:
    band = (await engine.add("My favourite band is Radiohead", ALICE)).memory
    before = await engine.count(ALICE)
    skipped = await engine.add("Radiohead is my favourite band", ALICE, if_similar="skip")
    assert (skipped.created, skipped.skipped, skipped.memory.id) == (False, True, band.id)
    assert await engine.count(ALICE) == before
    kept = await engine.add("I drive a 2015 Honda Civic", ALICE, if_similar="skip")
    assert (kept.created, kept.skipped) == (True, False)
    with pytest.raises(InvalidInputError, match="if_similar"):
        await engine.add("anything", ALICE, if_similar="maybe")


async def test_a_memory_with_no_searchable_words_resembles_nothing_and_scores_stay_finite(
    engine: MemoryEngine,
) -> None:
    # "the" and "?" embed to the zero vector; cosine against it is undefined (NaN in pgvector) and
    # must never surface as a match, nor as a score a client cannot parse.
    await engine.add("the", ALICE)
    await engine.add("?", ALICE)
    fact = (await engine.add("Allergic to peanuts", ALICE)).memory
    added = await engine.add("æ", ALICE)
    assert added.similar == ()
    hits = await engine.search("peanuts allergy", ALICE, limit=10)
    assert fact.id in [hit.memory.id for hit in hits]
    assert all(math.isfinite(hit.score) for hit in hits)
    # Only as the weak fill that keeps a short answer from being empty, never as a match.
    assert all(hit.match == "weak" for hit in hits if hit.memory.text in ("the", "?"))


class CountingEmbedder(HashEmbedder):
    """Counts the texts it embeds, as documents or as queries."""

    def __init__(self, dim: int) -> None:
        super().__init__(dim)
        self.texts = 0

    async def embed_documents(self, texts: Sequence[str]) -> Matrix:
        self.texts += len(texts)
        return await super().embed_documents(texts)

    async def embed_query(self, text: str) -> Vector:
        self.texts += 1
        return await super().embed_query(text)


async def test_an_add_embeds_its_text_once_for_both_the_similar_check_and_the_store(db_path: Path) -> None:
    # A remote or model embedder pays per text: the comparison with stored memories reuses the stored vector.
    counting = CountingEmbedder(256)
    async with open_engine(db_path, embedder=counting) as engine:
        band = (await engine.add("My favourite band is Radiohead", ALICE)).memory
        before = counting.texts
        restated = await engine.add("Radiohead is my favourite band", ALICE)
        assert counting.texts - before == 1
        assert [found.memory.id for found in restated.similar] == [band.id]


async def test_two_projects_stay_apart_while_general_memories_show_in_both(engine: MemoryEngine) -> None:
    """A project sees the user's general memories and its own, never another project's; no project sees all."""
    alpha, beta = Scope("alice", project="alpha"), Scope("alice", project="beta")
    general = (await engine.add("Alice writes Python with type hints", ALICE)).memory
    in_alpha = (await engine.add("The alpha service deploys with Python on Fridays", alpha)).memory
    in_beta = (await engine.add("The beta app is written in Python and Rust", beta)).memory
    assert in_alpha.scope == alpha
    assert general.scope == ALICE

    def ids(hits: Sequence[object]) -> set[str]:
        return {hit.memory.id for hit in hits}  # type: ignore[attr-defined]

    assert ids(await engine.search("python", alpha, threshold=-1)) == {general.id, in_alpha.id}
    assert ids(await engine.search("python", beta, threshold=-1)) == {general.id, in_beta.id}
    assert ids(await engine.search("python", ALICE, threshold=-1)) == {general.id, in_alpha.id, in_beta.id}
    assert {m.id for m in (await engine.page(alpha, limit=10)).memories} == {general.id, in_alpha.id}
    assert await engine.count(beta) == 2
    assert await engine.count(ALICE) == 3
    with pytest.raises(NotFoundError):
        await engine.get(in_beta.id, alpha)
    with pytest.raises(NotFoundError):
        await engine.delete(in_beta.id, alpha)
    # Nothing crosses users, projects or not.
    assert await engine.search("python", Scope("bob", project="alpha"), threshold=-1) == []
    # A general memory added from within alpha is compared with alpha's and the general ones, not beta's.
    added = await engine.add("The beta app is written in Python and Rust!", ALICE, current_project="alpha")
    assert in_beta.id not in {found.memory.id for found in added.similar}
    # Forgetting a project's memories forgets its own only.
    assert await engine.delete_all(alpha) == 1
    assert {m.id for m in (await engine.page(ALICE, limit=10)).memories} == {general.id, in_beta.id, added.memory.id}


async def test_the_same_words_may_be_kept_in_two_projects(engine: MemoryEngine) -> None:
    first = await engine.add("Uses pnpm", Scope("alice", project="alpha"))
    second = await engine.add("Uses pnpm", Scope("alice", project="beta"))
    assert first.created
    assert second.created
    assert first.memory.id != second.memory.id
    assert (await engine.add("uses PNPM", Scope("alice", project="beta"))).memory.id == second.memory.id
    with pytest.raises(InvalidInputError, match="project 'my project' is not a valid id"):
        engine.scope("alice", project="my project")


async def test_counts_by_month_and_by_metadata_equal_a_brute_force_count(engine: MemoryEngine) -> None:
    """summarize: every memory counted once per value (each item of a list), the filter applied first."""
    rng = random.Random(11)
    topics = ["food", "work", "travel", 4, True, None]
    stored: list[dict[str, object]] = []
    for number in range(120):
        metadata: dict[str, object] = {}
        if rng.random() < 0.8:
            metadata["topic"] = rng.choice(topics)
        if rng.random() < 0.5:
            metadata["tags"] = rng.sample(["a", "b", "c"], rng.randint(0, 3))
        metadata["n"] = number
        stored.append(metadata)
    await engine.add_many([(f"fact number {i}", meta) for i, meta in enumerate(stored)], ALICE)
    await engine.add("someone else's fact", BOB, {"topic": "food"})

    def label(value: object) -> str:
        return value if isinstance(value, str) else json.dumps(value)

    for field in ("topic", "tags"):
        expected: dict[str, int] = {}
        for meta in stored:
            value = meta.get(field)
            if field in meta and value != []:
                values = {label(item) for item in value} if isinstance(value, list) else {label(value)}
                for one in values:
                    expected[one] = expected.get(one, 0) + 1
        counted = await engine.summarize(ALICE, field, limit=100)
        assert {group.value: group.count for group in counted.groups} == expected
        assert counted.missing == sum(1 for meta in stored if field not in meta or meta[field] == [])
        assert counted.total == len(stored)
        assert [group.count for group in counted.groups] == sorted(expected.values(), reverse=True)
    narrowed = await engine.summarize(ALICE, "topic", filters={"n": {"lt": 60}}, limit=100)
    assert narrowed.total == 60
    assert sum(group.count for group in narrowed.groups) + narrowed.missing == 60
    months = await engine.summarize(ALICE, "month")
    assert [(group.value, group.count) for group in months.groups] == [(now()[:7], 120)]
    cut = await engine.summarize(ALICE, "topic", limit=2)
    assert len(cut.groups) == 2
    assert cut.truncated
    with pytest.raises(InvalidInputError, match="group_by is empty"):
        await engine.summarize(ALICE, " ")


async def test_facts_that_share_only_a_name_are_not_reported_alike(engine: MemoryEngine) -> None:
    """Three unrelated facts about Alice are not "related" because each names her; a restatement of one still is
    a near-duplicate, and a fact sharing a real word with another is still related."""
    for text in ("Alice works as a dentist in Leeds", "Alice has two cats named Tom and Jerry"):
        assert (await engine.add(text, ALICE)).similar == ()
    assert (await engine.add("Alice plays the trumpet on weekends", ALICE)).similar == ()
    restated = await engine.add("Alice's job is dentistry in Leeds", ALICE)
    assert [(found.memory.text, found.kind) for found in restated.similar] == [
        ("Alice works as a dentist in Leeds", "duplicate")
    ]
    cats = await engine.add("Alice feeds her cats twice a day", ALICE)
    assert [found.memory.text for found in cats.similar] == ["Alice has two cats named Tom and Jerry"]


async def test_an_engine_opened_without_search_reads_and_writes_and_refuses_to_search(db_path: Path) -> None:
    """`index=False` (the command line's reads and writes) gives the engine a retriever that searches nothing: adds
    store and compare with nothing, reads work, a search says how to get one."""
    async with open_engine(db_path) as full:
        await full.add("Sam keeps bees", ALICE)
    async with open_engine(db_path, index=False) as engine:
        assert isinstance(engine.retriever, NoSearch)
        assert (engine.ready, engine.indexed) == (True, None)
        added = await engine.add("Sam keeps bees on the roof", ALICE)
        assert added.created
        assert added.similar == ()
        assert (await engine.page(ALICE)).total == 2
        with pytest.raises(InvalidInputError, match="opened without search; open it with index=True"):
            await engine.search("bees", ALICE)
