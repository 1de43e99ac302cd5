"""Memories that stay true over time, on both backends: supersession and validity, entities, aggregation, and all of
these through export, import and a restart."""

from __future__ import annotations

import io
import itertools
import random
from collections import Counter
from pathlib import Path

import pytest

from memory_mcp import open_engine
from memory_mcp.archive import copy, export, import_lines
from memory_mcp.engine import MemoryEngine
from memory_mcp.errors import InvalidInputError, NotFoundError
from memory_mcp.models import Validity

from .helpers import strong


async def test_a_superseded_memory_leaves_default_reads_but_as_of_finds_it(engine: MemoryEngine) -> None:
    sam = engine.scope("sam")
    paris = (await engine.add("Sam lives in Paris", sam, entities=["Paris"], valid_from="2019-04")).memory
    assert paris.valid_from == "2019-04-01T00:00:00.000000Z"
    old, new = await engine.supersede(paris.id, sam, "Sam moved to Berlin", valid_from="2024-03-15")
    assert (old.id, old.valid_to, old.superseded_by) == (paris.id, "2024-03-15T00:00:00.000000Z", new.id)
    assert new.current
    assert new.valid_from == "2024-03-15T00:00:00.000000Z"
    assert new.entities == ("Paris",)  # kept from the old memory unless given

    # Default reads: only the current fact.
    assert [hit.memory.id for hit in strong(await engine.search("Paris", sam))] == []
    assert [hit.memory.id for hit in strong(await engine.search("Berlin", sam))] == [new.id]
    listed = await engine.page(sam)
    assert ([memory.id for memory in listed.memories], listed.total) == ([new.id], 1)
    assert await engine.count(sam) == 1
    # What was true before the change, and everything.
    then = engine.validity(as_of="2023-06")
    assert [hit.memory.id for hit in strong(await engine.search("Paris", sam, validity=then))] == [paris.id]
    assert [memory.id for memory in (await engine.page(sam, validity=then)).memories] == [paris.id]
    assert [memory.id for memory in (await engine.page(sam, validity=engine.validity(as_of="2018"))).memories] == []
    everything = engine.validity(include_superseded=True)
    assert {memory.id for memory in (await engine.page(sam, validity=everything)).memories} == {paris.id, new.id}
    # The chain, from either end.
    for end in (paris.id, new.id):
        chain = [(entry.memory_id, entry.event) for entry in await engine.history(end, sam)]
        assert chain == [(paris.id, "ADD"), (paris.id, "SUPERSEDE"), (new.id, "ADD")]
    supersede_entry = (await engine.history(paris.id, sam))[1]
    assert (supersede_entry.old_text, supersede_entry.new_text) == ("Sam lives in Paris", "Sam moved to Berlin")
    # A supersession is a link too: from the new fact to the old one.
    assert [(link.source_id, link.target_id, link.type) for link in await engine.links(sam, new.id)] == [
        (new.id, paris.id, "supersedes")
    ]


async def test_supersession_refuses_what_would_lose_or_tangle_facts(engine: MemoryEngine) -> None:
    sam = engine.scope("sam")
    job = (await engine.add("Sam works at Acme", sam, valid_from="2022")).memory
    with pytest.raises(InvalidInputError, match="before the old memory became true"):
        await engine.supersede(job.id, sam, "Sam works at Initech", valid_from="2021-05")
    with pytest.raises(InvalidInputError, match="valid_from"):
        await engine.supersede(job.id, sam, "Sam works at Initech", valid_from="last spring")
    _, new = await engine.supersede(job.id, sam, "Sam works at Initech")
    with pytest.raises(InvalidInputError, match="already superseded"):
        await engine.supersede(job.id, sam, "Sam works at Globex")
    with pytest.raises(NotFoundError):
        await engine.supersede(new.id, engine.scope("eve"), "Eve's words")
    # Nothing above changed a thing: one current memory, one past one.
    assert (await engine.count(sam), await engine.count(sam, Validity(include_superseded=True))) == (1, 2)


async def test_a_restated_fact_is_a_near_duplicate_and_a_different_one_is_not(engine: MemoryEngine) -> None:
    sam = engine.scope("sam")
    stored = (await engine.add("Sam is allergic to peanuts", sam)).memory
    restated = await engine.add("Sam is allergic to peanuts and cashews", sam)
    assert [(found.memory.id, found.kind) for found in restated.similar] == [(stored.id, "duplicate")]
    other = await engine.add("Sam plays the cello on weekends", sam)
    assert all(found.kind != "duplicate" for found in other.similar)
    skipped = await engine.add("Sam is allergic to peanuts!", sam, if_similar="skip")
    assert skipped.skipped
    assert skipped.memory.id == stored.id


async def test_entities_narrow_lists_and_searches_whatever_their_case(engine: MemoryEngine) -> None:
    sam = engine.scope("sam")
    sister = (await engine.add("My sister works as a nurse", sam, entities=["Caroline"])).memory
    birthday = (await engine.add("Her birthday is in May", sam, entities=["caroline", "May"])).memory
    await engine.add("I work as a nurse too", sam)
    assert birthday.entities == ("caroline", "May")
    listed = await engine.page(sam, entity="CAROLINE")
    assert ([memory.id for memory in listed.memories], listed.total) == ([birthday.id, sister.id], 2)
    assert [hit.memory.id for hit in strong(await engine.search("nurse", sam, entity="Caroline"))] == [sister.id]
    updated = await engine.update(birthday.id, sam, entities=["Caroline"])
    assert updated.entities == ("Caroline",)
    assert (await engine.page(sam, entity="may")).total == 0
    with pytest.raises(InvalidInputError, match="entities"):
        await engine.add("Too many names", sam, entities=[f"n{i}" for i in range(engine.limits.max_entities + 1)])


async def test_aggregation_counts_equal_a_brute_force_count(engine: MemoryEngine) -> None:
    sam = engine.scope("sam")
    rng = random.Random(14)
    topics, people = ["work", "food", "travel", None], ["Caroline", "Melanie", "Sam"]
    items = []
    for number in range(120):
        topic = rng.choice(topics)
        names = rng.sample(people, rng.randint(0, 2))
        year = rng.choice(["2023-01", "2024-06", "2025-11"])
        items.append((f"fact number {number}", {"topic": topic} if topic else {}, names, year))
    outcomes = await engine.add_many(items, sam)
    ids = [outcome.memory.id for outcome in outcomes if outcome.memory is not None]
    for first, second in itertools.pairwise(ids[:31]):
        await engine.link(sam, first, second, rng.choice(["relates_to", "part_of"]))
    await engine.supersede(ids[0], sam, "fact number 0, revised")
    everything = Validity(include_superseded=True)
    assert (await engine.page(sam, validity=everything)).total == len(ids) + 1
    every = []
    cursor = None
    while True:
        page = await engine.page(sam, limit=100, cursor=cursor)
        every += page.memories
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    by_topic = Counter(memory.metadata["topic"] for memory in every if "topic" in memory.metadata)
    by_entity = Counter(name for memory in every for name in memory.entities)
    by_year = Counter(memory.valid_from[:7] for memory in every)
    counted = await engine.summarize(sam, "topic", limit=100)
    assert {group.value: group.count for group in counted.groups} == dict(by_topic)
    assert counted.missing == sum(1 for memory in every if "topic" not in memory.metadata)
    assert {g.value: g.count for g in (await engine.summarize(sam, "entity", limit=100)).groups} == dict(by_entity)
    assert {g.value: g.count for g in (await engine.summarize(sam, "valid_from", limit=100)).groups} == dict(by_year)
    current = {memory.id for memory in every}
    links = await engine.store.links("sam", list(current))
    by_type = Counter(
        kind
        for memory_id in current
        for kind in {link.type for link in links if memory_id in (link.source_id, link.target_id)}
    )
    linked = await engine.summarize(sam, "link", limit=100)
    assert {group.value: group.count for group in linked.groups} == dict(by_type)
    assert linked.total == len(current)
    assert await engine.summarize(sam, "entity", entity="caroline") is not None
    only_caroline = await engine.summarize(sam, "topic", entity="Caroline", limit=100)
    assert only_caroline.total == sum(1 for memory in every if "Caroline" in memory.entities)


async def test_links_validity_and_entities_survive_export_import_and_a_restart(database: str, tmp_path: Path) -> None:
    async with open_engine(database) as engine:
        sam = engine.scope("sam")
        trip = (await engine.add("Sam went to Japan", sam, entities=["Japan"], valid_from="2025-04")).memory
        detail = (await engine.add("The ryokan had a bath", sam)).memory
        await engine.link(sam, detail.id, trip.id, "part_of", {"why": "same trip"})
        old, new = await engine.supersede(trip.id, sam, "Sam went to Japan and Korea", valid_from="2025-05")
        out = io.StringIO()
        await export(engine, out, sam, history=True)
    async with open_engine(database) as engine:  # a restart
        sam = engine.scope("sam")
        assert {(link.source_id, link.type) for link in await engine.links(sam, old.id)} == {
            (detail.id, "part_of"),
            (new.id, "supersedes"),
        }
        assert (await engine.get(old.id, sam)).superseded_by == new.id
    async with open_engine(tmp_path / "copy.db") as other:
        report = await import_lines(other, out.getvalue().splitlines())
        assert (report.added, report.failed) == (3, [])
        sam = other.scope("sam")
        restored = await other.get(old.id, sam)
        assert (restored.valid_to, restored.superseded_by, restored.entities) == (new.valid_from, new.id, ("Japan",))
        assert {(link.source_id, link.type, link.metadata.get("why")) for link in await other.links(sam, old.id)} == {
            (detail.id, "part_of", "same trip"),
            (new.id, "supersedes", None),
        }
        assert [hit.memory.id for hit in strong(await other.search("Japan", sam))] == [new.id]
        assert [entry.event for entry in await other.history(new.id, sam)] == ["ADD", "SUPERSEDE", "ADD"]
        again = await import_lines(other, out.getvalue().splitlines())  # safe to repeat
        assert (again.added, again.skipped) == (0, 3)
        assert len(await other.links(sam, old.id)) == 2


async def test_a_copy_to_another_database_keeps_links_and_validity(database: str, tmp_path: Path) -> None:
    async with open_engine(database) as source, open_engine(tmp_path / "copy.db") as destination:
        sam = source.scope("sam")
        trip = (await source.add("Sam went to Japan", sam, entities=["Japan"], valid_from="2025-04")).memory
        detail = (await source.add("The ryokan had a bath", sam)).memory
        await source.link(sam, detail.id, trip.id, "part_of")
        old, new = await source.supersede(trip.id, sam, "Sam went to Japan and Korea", valid_from="2025-05")
        report = await copy(source, destination, None)
        assert (report.copied, report.missing) == (3, [])
        links = await destination.links(sam, old.id)
        assert {(link.source_id, link.type) for link in links} == {(detail.id, "part_of"), (new.id, "supersedes")}
        copied = await destination.get(old.id, sam)
        assert (copied.valid_to, copied.superseded_by, copied.entities) == (new.valid_from, new.id, ("Japan",))
