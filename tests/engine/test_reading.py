"""The engine's reads (engine/reading.py): scopes that keep users apart, pages and cursors, counts."""

from __future__ import annotations

import json
import random
from collections.abc import Sequence

import pytest

from memory_mcp.engine import MemoryEngine
from memory_mcp.errors import InvalidInputError, NotFoundError
from memory_mcp.models import Scope, now
from memory_mcp.paging import decode_cursor

ALICE = Scope("alice")
BOB = Scope("bob")


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
