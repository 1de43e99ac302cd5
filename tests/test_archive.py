"""Export and import: round trips, idempotence, bad lines, and the reference server's memory.jsonl."""

from __future__ import annotations

import io
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from memory_mcp import archive, open_engine
from memory_mcp.embedders import HashEmbedder
from memory_mcp.engine import MemoryEngine
from memory_mcp.errors import InvalidInputError
from memory_mcp.models import MemoryRecord

from .helpers import DEFAULT_ID

OFFICIAL_FILE = Path(__file__).parent / "data" / "official-memory.jsonl"
"""Written by @modelcontextprotocol/server-memory itself (create_entities, create_relations, add_observations)."""


async def populate(engine: MemoryEngine) -> dict[str, str]:
    """A few users, scopes, metadata, an update and a deletion; returns some ids by name."""
    alice, bob = engine.scope("alice"), engine.scope("bob")
    hiking = (await engine.add("I love hiking in the Swiss Alps", alice, {"topic": "hobby"})).memory
    peanuts = (await engine.add("Allergic to peanuts", alice)).memory
    await engine.update(peanuts.id, alice, text="Allergic to peanuts and cashews", metadata={"topic": "health"})
    await engine.add("Works on the billing service", engine.scope("alice", agent_id="coder", run_id="r1"))
    gone = (await engine.add("Temporary note", alice)).memory
    await engine.delete(gone.id, alice)
    await engine.add("Plays the cello", bob, {"tags": ["music", "évening"]})
    return {"hiking": hiking.id, "peanuts": peanuts.id}


async def export_text(engine: MemoryEngine, **options: Any) -> str:
    buffer = io.StringIO()
    await archive.export(engine, buffer, None, **options)
    return buffer.getvalue()


async def everything(engine: MemoryEngine, *, history: bool = True) -> list[MemoryRecord]:
    return [record async for batch in engine.records(None, history=history) for record in batch]


@pytest.fixture
async def other(tmp_path: Path) -> AsyncIterator[MemoryEngine]:
    async with open_engine(tmp_path / "other.db") as opened:
        yield opened


@pytest.mark.parametrize("vectors", [True, False], ids=["with-vectors", "re-embedded"])
async def test_export_then_import_into_an_empty_database_is_identical(
    engine: MemoryEngine, other: MemoryEngine, vectors: bool
) -> None:
    ids = await populate(engine)
    text = await export_text(engine, vectors=vectors, history=True)
    report = await archive.import_lines(other, io.StringIO(text))
    assert (report.added, report.skipped, report.failed) == (4, 0, [])
    assert await everything(other) == await everything(engine)  # ids, scopes, texts, metadata, times, history
    theirs = [r async for b in engine.records(None, vectors=True) for r in b]
    ours = [r async for b in other.records(None, vectors=True) for r in b]
    for mine, copy in zip(theirs, ours, strict=True):
        assert mine.vector is not None
        assert copy.vector is not None
        assert mine.vector.tobytes() == copy.vector.tobytes()
    hits = await other.search("hiking", other.scope("alice"))
    assert hits[0].memory.id == ids["hiking"]
    assert [e.event for e in await other.history(ids["peanuts"], other.scope("alice"))] == ["ADD", "UPDATE"]


async def test_import_twice_adds_nothing_the_second_time(engine: MemoryEngine, other: MemoryEngine) -> None:
    await populate(engine)
    text = await export_text(engine)
    first = await archive.import_lines(other, io.StringIO(text))
    again = await archive.import_lines(other, io.StringIO(text))
    renamed = await archive.import_lines(other, io.StringIO(text), new_ids=True)
    assert (first.added, again.added, again.skipped) == (4, 0, 4)
    assert (renamed.added, renamed.skipped) == (0, 4)  # new ids, same texts: duplicates all the same
    assert sum(s.memories for s in await other.summaries()) == 4


async def test_import_under_another_user(engine: MemoryEngine, other: MemoryEngine) -> None:
    await populate(engine)
    report = await archive.import_lines(other, io.StringIO(await export_text(engine)), user_id="carol", new_ids=True)
    assert report.added == 4
    assert [s.user_id for s in await other.summaries()] == ["carol"]
    coder = await other.page(other.scope("carol", agent_id="coder"))
    assert [m.text for m in coder.memories] == ["Works on the billing service"]


async def test_export_of_one_user_only(engine: MemoryEngine) -> None:
    await populate(engine)
    buffer = io.StringIO()
    written = await archive.export(engine, buffer, engine.scope("bob"))
    header, *lines = [json.loads(line) for line in buffer.getvalue().splitlines()]
    assert written == header["memories"] == len(lines) == 1
    assert header["format"] == "memory-mcp"
    assert header["embedder"] == DEFAULT_ID
    assert lines[0]["text"] == "Plays the cello"
    assert lines[0]["metadata"] == {"tags": ["music", "évening"]}
    assert "vector" not in lines[0]
    assert "history" not in lines[0]


async def test_bad_lines_fail_alone_and_name_their_line(engine: MemoryEngine, other: MemoryEngine) -> None:
    await populate(engine)
    header, *lines = (await export_text(engine)).splitlines()
    broken = [
        header,
        lines[0],
        "{not json",
        json.dumps({**json.loads(lines[1]), "text": "   "}),
        json.dumps({**json.loads(lines[2]), "user_id": "a b"}),
        json.dumps({**json.loads(lines[3]), "created_at": "yesterday"}),
        "",
        json.dumps([1, 2]),
    ]
    report = await archive.import_lines(other, io.StringIO("\n".join(broken)))
    assert report.added == 1
    assert [line.split(":")[0] for line in report.failed] == ["line 3", "line 4", "line 5", "line 6", "line 8"]
    assert "not valid JSON" in report.failed[0]
    assert "text is empty" in report.failed[1]
    assert "not a valid id" in report.failed[2]
    assert "ISO 8601" in report.failed[3]


async def test_times_from_elsewhere_are_normalised_to_utc(other: MemoryEngine) -> None:
    header = {"format": "memory-mcp", "version": 1}
    line = {"id": "m1", "user_id": "u", "text": "fact", "created_at": "2025-03-01T10:00:00+02:00"}
    await archive.import_lines(other, io.StringIO(json.dumps(header) + "\n" + json.dumps(line)))
    memory = await other.get("m1", other.scope("u"))
    assert memory.created_at == memory.updated_at == "2025-03-01T08:00:00.000000Z"


async def test_vectors_of_another_embedder_are_not_trusted(tmp_path: Path, other: MemoryEngine) -> None:
    async with open_engine(tmp_path / "small.db", embedder=HashEmbedder(64)) as small:
        await small.add("I love hiking in the Swiss Alps", small.scope("u"))
        buffer = io.StringIO()
        await archive.export(small, buffer, None, vectors=True)
    report = await archive.import_lines(other, io.StringIO(buffer.getvalue()))
    assert report.added == 1
    [record] = [r async for b in other.records(None, vectors=True) for r in b]
    assert record.vector is not None
    assert record.vector.shape == (other.embedder.dim,)
    assert (await other.search("hiking", other.scope("u")))[0].memory.text.startswith("I love hiking")


@pytest.mark.parametrize(
    ("text", "source", "message"),
    [
        pytest.param("", "auto", "empty", id="empty"),
        pytest.param('{"format": "memory-mcp", "version": 99}', "auto", "version 99", id="newer-version"),
        pytest.param('{"type": "entity", "name": "x"}', "memory-mcp", "--from official-memory", id="wrong-format"),
        pytest.param('{"type": "entity", "name": "x"}', "auto", "--user", id="official-needs-user"),
        pytest.param("{}", "csv", "Unknown import format", id="unknown-format"),
    ],
)
async def test_unusable_files_are_refused_with_advice(
    other: MemoryEngine, text: str, source: str, message: str
) -> None:
    with pytest.raises(InvalidInputError, match=message):
        await archive.import_lines(other, io.StringIO(text), source=source)
    assert sum(s.memories for s in await other.summaries()) == 0


async def test_the_reference_servers_file_becomes_searchable_memories(other: MemoryEngine) -> None:
    with OFFICIAL_FILE.open(encoding="utf-8") as file:
        report = await archive.import_lines(other, file, source="official-memory", user_id="alice")
    with OFFICIAL_FILE.open(encoding="utf-8") as file:
        again = await archive.import_lines(other, file, user_id="alice")  # detected without --from
    texts = {m.text for m in (await other.page(other.scope("alice"), limit=50)).memories}
    assert (report.added, report.failed, again.added, again.skipped) == (9, [], 0, 9)
    assert {
        "Alice Martin is a person",
        "Alice Martin: Prefers window seats on flights",
        "Alice Martin: Is allergic to peanuts",
        "Acme Corp is an organization",
        "Acme Corp: Makes rocket-powered roller skates",
        "Lisbon trip is an event",
        "Lisbon trip: Planned for May 2027",
        "Alice Martin works at Acme Corp",
        "Alice Martin is planning Lisbon trip",
    } == texts
    [hit, *_] = await other.search("peanut allergy", other.scope("alice"))
    assert hit.memory.text == "Alice Martin: Is allergic to peanuts"
    assert hit.memory.metadata == {"source": "official-memory", "entity": "Alice_Martin", "entity_type": "person"}
    works = await other.page(other.scope("alice"), filters={"relation": "works_at"})
    assert [m.metadata["to"] for m in works.memories] == ["Acme_Corp"]


async def test_the_reference_servers_graph_imports_losslessly(other: MemoryEngine) -> None:
    with OFFICIAL_FILE.open(encoding="utf-8") as file:
        await archive.import_lines(other, file, source="official-memory", user_id="alice")
    alice = other.scope("alice")
    # Every entity by its exact name, found whatever the spelling of the query.
    counted = await other.summarize(alice, "entity")
    assert {group.value: group.count for group in counted.groups} == {
        "Alice_Martin": 5,  # the anchor, two observations, two relations
        "Acme_Corp": 3,
        "Lisbon_trip": 3,
    }
    about_alice = await other.page(alice, entity="Alice Martin", limit=10)
    assert about_alice.total == 5
    [anchor] = [m for m in about_alice.memories if m.text == "Alice Martin is a person"]
    assert anchor.metadata == {"source": "official-memory", "entity": "Alice_Martin", "entity_type": "person"}
    # Observations hang from their entity; relations join the entities' anchors, typed as in the graph.
    links = await other.links(alice, anchor.id)
    texts = {m.id: m.text for m in (await other.page(alice, limit=50)).memories}
    joined = sorted((texts[link.source_id], link.type, texts[link.target_id]) for link in links)
    assert joined == [
        ("Alice Martin is a person", "is_planning", "Lisbon trip is an event"),
        ("Alice Martin is a person", "works_at", "Acme Corp is an organization"),
        ("Alice Martin: Is allergic to peanuts", "part_of", "Alice Martin is a person"),
        ("Alice Martin: Prefers window seats on flights", "part_of", "Alice Martin is a person"),
    ]
    # What the graph knows about Alice's employer comes with her, though the words differ.
    hits = await other.search("Alice Martin person", alice, limit=5, neighbors=1)
    assert "Acme Corp is an organization" in [hit.memory.text for hit in hits if hit.match == "linked"]
    with OFFICIAL_FILE.open(encoding="utf-8") as file:  # again: nothing new, no link doubled
        again = await archive.import_lines(other, file, user_id="alice")
    assert again.added == 0
    assert len(await other.links(alice, anchor.id)) == 4


async def test_a_bad_line_in_the_reference_file_fails_alone(other: MemoryEngine) -> None:
    lines = [
        '{"type":"entity","name":"Bob","entityType":"person","observations":["Likes tea"]}',
        '{"type":"relation","from":"Bob","to":""}',
        '{"type":"mystery"}',
    ]
    report = await archive.import_lines(other, io.StringIO("\n".join(lines)), user_id="u")
    assert report.added == 2
    assert [line.split(":")[0] for line in report.failed] == ["line 2", "line 3"]


async def test_plain_export_lines_are_the_records_lines(engine: MemoryEngine) -> None:
    """An export without vectors and history writes its lines from plain values, never making a Memory: line for line
    what the records give (links, superseded memories, entities, metadata, agents and runs), on both backends."""
    ids = await populate(engine)
    alice = engine.scope("alice")
    await engine.link(alice, ids["hiking"], ids["peanuts"], "relates_to")
    await engine.add("Lives in Leeds", alice, valid_from="2021-05", entities=["Leeds"])
    await engine.supersede(ids["hiking"], alice, "I love hiking in the Dolomites")
    plain = [archive.plain_json(memory) async for batch in engine.plain(None) for memory in batch]
    records = [archive.record_json(record) for record in await everything(engine, history=False)]
    assert plain == records
    assert [list(line) for line in plain] == [list(line) for line in records]  # the same keys, in the same order
    assert any("links" in line for line in plain)
    assert any(line["superseded_by"] for line in plain)
    assert any(line["entities"] == ["Leeds"] for line in plain)
    one_user = [archive.plain_json(memory) async for batch in engine.plain(alice) for memory in batch]
    assert one_user == [line for line in records if line["user_id"] == "alice"]


@pytest.mark.parametrize("options", [{}, {"history": True}], ids=["plain", "records"])
async def test_an_export_reports_its_progress_batch_by_batch(engine: MemoryEngine, options: dict[str, bool]) -> None:
    facts = [(f"fact number {n} about thing {n % 7}", None) for n in range(1_200)]
    for start in range(0, len(facts), 600):
        await engine.add_many(facts[start : start + 600], engine.scope("zoe"))
    advanced: list[int] = []
    written = await archive.export(engine, io.StringIO(), None, advance=advanced.append, **options)
    assert written == sum(advanced) == 1_200
    assert len(advanced) > 1  # more than one batch, each reported
