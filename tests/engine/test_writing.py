"""The engine's writes (engine/writing.py): add and its duplicates, update, delete, batches, and bad input."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path

import pytest

from memory_mcp import open_engine
from memory_mcp.embedders import HashEmbedder
from memory_mcp.engine import MemoryEngine
from memory_mcp.errors import DuplicateError, InvalidInputError, NotFoundError, StoreError
from memory_mcp.models import Limits, Matrix, Scope, Vector

from ..helpers import keeps_an_index, local_index

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


async def test_the_same_words_may_be_kept_in_two_projects(engine: MemoryEngine) -> None:
    first = await engine.add("Uses pnpm", Scope("alice", project="alpha"))
    second = await engine.add("Uses pnpm", Scope("alice", project="beta"))
    assert first.created
    assert second.created
    assert first.memory.id != second.memory.id
    assert (await engine.add("uses PNPM", Scope("alice", project="beta"))).memory.id == second.memory.id
    with pytest.raises(InvalidInputError, match="project 'my project' is not a valid id"):
        engine.scope("alice", project="my project")
