"""Moving memories between databases: JSONL export and import, and import of the reference server's file.

Export, import and the reference server's format share one record mapping, so they stay together.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import uuid
from collections.abc import AsyncGenerator, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import IO, Any, Final

import numpy as np

from . import validation
from .engine import MemoryEngine
from .errors import InvalidInputError
from .models import (
    MEMORY_FIELDS,
    HistoryEntry,
    Link,
    Memory,
    MemoryId,
    MemoryRecord,
    PlainMemory,
    Scope,
    Validity,
    new_id,
    now,
)
from .wire import history_json, link_json, memory_json

FORMAT: Final = "memory-mcp"
VERSION: Final = 1
OFFICIAL: Final = "official-memory"
PLAIN: Final = "jsonl"
"""Lines of {"text": ..., "metadata"?: {...}, "user_id"?: ...}: plain memories from any tool, no header."""
SOURCES: Final = ("auto", FORMAT, OFFICIAL, PLAIN)
_BATCH: Final = 1_000
_EVENTS: Final = ("ADD", "UPDATE", "DELETE", "SUPERSEDE")

Advance = Callable[[int], None]
"""Told how many more units (memories, or bytes read) are done."""
Rename = Callable[[str], str]
"""The id a memory of the file gets here (the same one, or a new one that is the same for the same old id)."""


_LINE: Final = json.JSONEncoder(ensure_ascii=False)
"""One encoder for every line of an export (json.dumps makes a new one per call)."""


def _renamer(new_ids: bool) -> Rename:
    """Keep ids, or give new ones: each old id the same new id within one import, so links and supersessions
    that point at it follow it."""
    if not new_ids:
        return lambda memory_id: memory_id
    salt = uuid.uuid4()
    return lambda memory_id: str(uuid.uuid5(salt, memory_id))


@dataclass
class ImportReport:
    """What an import did: memories added, skipped (already there), and the lines that failed, with why."""

    added: int = 0
    skipped: int = 0
    failed: list[str] = field(default_factory=list)


# -- export -------------------------------------------------------------------------------------------


async def export(
    engine: MemoryEngine,
    out: IO[str],
    scope: Scope | None,
    *,
    vectors: bool = False,
    history: bool = False,
    advance: Advance | None = None,
) -> int:
    """Write a header line, then one JSON line per memory of `scope` (None: every user), superseded ones included
    (they carry their validity); returns the count. The header's `memories` counts the lines that follow."""
    if scope is None:
        count = await engine.count_all()
    else:
        count = await engine.count(scope, Validity(include_superseded=True))
    header: dict[str, Any] = {
        "format": FORMAT,
        "version": VERSION,
        "exported_at": now(),
        "memories": count,
        "embedder": engine.embedder.id,
        "dim": engine.embedder.dim,
        "vectors": "float32-le-base64" if vectors else None,
        "history": history,
    }
    out.write(json.dumps(header) + "\n")
    written = 0
    line_of: Callable[[Any], dict[str, Any]]
    if not vectors and not history:  # the common export: lines straight from plain values (a tenth of the time)
        pages: AsyncGenerator[list[Any], None] = engine.plain(scope)
        line_of = plain_json
    else:
        pages, line_of = engine.records(scope, vectors=vectors, history=history), record_json
    async with contextlib.aclosing(pages) as batches:
        async for batch in batches:
            out.write("".join([_LINE.encode(line_of(memory)) + "\n" for memory in batch]))
            written += len(batch)
            if advance is not None:
                advance(len(batch))
    return written


def plain_json(memory: PlainMemory) -> dict[str, Any]:
    """One export line from plain values: what `record_json` makes of the same memory without vector and history."""
    line = dict(zip(MEMORY_FIELDS, memory.values, strict=True))
    if memory.links:
        line["links"] = [{k: v for k, v in link_json(link).items() if k != "source_id"} for link in memory.links]
    return line


def record_json(record: MemoryRecord) -> dict[str, Any]:
    """One export line: the memory, its outgoing links, and optionally its history and vector."""
    line = memory_json(record.memory)
    if record.links:
        line["links"] = [{k: v for k, v in link_json(link).items() if k != "source_id"} for link in record.links]
    if record.history:
        line["history"] = [history_json(entry) for entry in record.history]
    if record.vector is not None:
        line["vector"] = base64.b64encode(np.asarray(record.vector, dtype="<f4").tobytes()).decode("ascii")
    return line


# -- copy between databases -------------------------------------------------------------------------


@dataclass
class CopyReport:
    """What a copy did: memories copied, already in the destination, and missing from it afterwards."""

    copied: int = 0
    already: int = 0
    missing: list[str] = field(default_factory=list)
    source_total: int = 0


async def copy(
    source: MemoryEngine, destination: MemoryEngine, scope: Scope | None, *, advance: Advance | None = None
) -> CopyReport:
    """Copy the memories of `scope` (None: everyone's), with ids, timestamps and history, then check them.

    Vectors are reused when both sides use the same embedder, else re-embedded. Safe to repeat: what
    the destination has already is skipped. Afterwards every source memory must be found in the
    destination, by id or (for one skipped as a duplicate) by its text in the same scope.
    """
    report = CopyReport()
    same_embedder = source.embedder.id == destination.embedder.id
    links: dict[str, list[Link]] = {}
    async for batch in source.records(scope, vectors=same_embedder, history=True):
        for record in batch:
            links.setdefault(record.memory.scope.user_id, []).extend(record.links)
        stored = await destination.restore(batch)
        report.copied += len(stored)
        report.already += len(batch) - len(stored)
        report.source_total += len(batch)
        for record in batch:
            if record.memory.id in stored:
                continue
            memory = record.memory
            digest = validation.content_hash(memory.text)
            if await destination.store.get(Scope(memory.scope.user_id), memory.id) is None and not (
                await destination.store.find_by_hashes(memory.scope, [digest])
            ):
                report.missing.append(memory.id)
        if advance is not None:
            advance(len(batch))
    for user_id, found in links.items():  # once every memory is there: a link may point at a later one
        await destination.link_many(user_id, found)
    return report


# -- import -------------------------------------------------------------------------------------------


async def import_lines(
    engine: MemoryEngine,
    lines: Iterable[str],
    *,
    source: str = "auto",
    user_id: str | None = None,
    new_ids: bool = False,
    advance: Advance | None = None,
) -> ImportReport:
    """Import an export of ours, or the reference server's memory.jsonl; safe to repeat.

    `user_id` puts every memory under that user (required for the reference server's file, which has
    no users). Ids and timestamps are kept unless `new_ids`. `advance` hears the characters read.
    """
    if source not in SOURCES:
        raise InvalidInputError(f"Unknown import format {source!r}; use one of {', '.join(SOURCES)}.")
    report = ImportReport()
    rename = _renamer(new_ids)
    numbered = _numbered(lines, advance)
    first = next(numbered, None)
    if first is None:
        raise InvalidInputError("The file is empty: nothing to import.")
    number, obj = first
    detected = _detect(obj)
    if source == "auto":
        source = detected
    if source == PLAIN:
        if user_id is not None:
            engine.scope(user_id)  # refuse a bad --user before reading on
        records = _plain(_chain(first, numbered), engine, user_id, report)
    elif source == OFFICIAL:
        if user_id is None:
            raise InvalidInputError("The reference server's file has no users: say whose memories these are (--user).")
        records = _official(_chain(first, numbered), engine, engine.scope(user_id), report)
    else:
        if detected != FORMAT:
            raise InvalidInputError(
                f'Line {number} is not a memory-mcp export header ({{"format": "{FORMAT}", ...}}). '
                f"For the reference server's memory.jsonl use --from {OFFICIAL}."
            )
        header: dict[str, Any] = obj
        if not isinstance(header.get("version"), int) or header["version"] > VERSION:
            raise InvalidInputError(
                f"The export has format version {header.get('version')!r}; this memory-mcp reads up to {VERSION}. "
                "Upgrade memory-mcp to import it."
            )
        vectors_usable = header.get("embedder") == engine.embedder.id and header.get("dim") == engine.embedder.dim
        if user_id is not None:
            engine.scope(user_id)  # refuse a bad --user before reading on
        records = _ours(numbered, engine, user_id, rename, vectors_usable, report)
    batch: list[MemoryRecord] = []
    links: dict[str, list[Link]] = {}
    for record in records:
        batch.append(record)
        links.setdefault(record.memory.scope.user_id, []).extend(record.links)
        if len(batch) == _BATCH:
            await _store(engine, batch, report)
            batch = []
    if batch:
        await _store(engine, batch, report)
    for owner, found in links.items():  # once every memory is there: a link may point at a later one
        await engine.link_many(owner, found)
    return report


async def _store(engine: MemoryEngine, batch: list[MemoryRecord], report: ImportReport) -> None:
    stored = await engine.restore(batch)
    report.added += len(stored)
    report.skipped += len(batch) - len(stored)


def _detect(first: Any) -> str:
    """The format of a file from its first line: our header, a line of the reference server's graph, or a memory."""
    if isinstance(first, dict) and first.get("format") == FORMAT:
        return FORMAT
    if isinstance(first, dict) and "text" in first and "type" not in first:
        return PLAIN
    return OFFICIAL


def _plain(
    numbered: Iterator[tuple[int, Any]], engine: MemoryEngine, user_id: str | None, report: ImportReport
) -> Iterator[MemoryRecord]:
    """New memories from lines of {"text", "metadata"?, "user_id"?, "agent_id"?, "run_id"?, "project"?,
    "created_at"?}."""
    stamp = now()
    for number, obj in numbered:
        try:
            yield _plain_record(obj, engine, user_id, stamp)
        except InvalidInputError as exc:
            report.failed.append(f"line {number}: {exc}")


def _plain_record(obj: Any, engine: MemoryEngine, user_id: str | None, stamp: str) -> MemoryRecord:
    """A new memory from one plain line (a new id; stored now unless the line says when)."""
    if isinstance(obj, Exception):
        raise obj
    if not isinstance(obj, dict):
        raise InvalidInputError('expected a JSON object such as {"text": "Likes tea"}')
    if user_id is None and obj.get("user_id") is None:
        raise InvalidInputError("no user: give --user, or a user_id on the line")
    return _record({"created_at": stamp, **obj, "id": new_id()}, engine, user_id, str, False)


def _numbered(lines: Iterable[str], advance: Advance | None) -> Iterator[tuple[int, Any]]:
    """(line number, parsed JSON) of each non-blank line; a line that is not JSON yields its error instead."""
    for number, line in enumerate(lines, start=1):
        if advance is not None:
            advance(len(line))
        if not line.strip():
            continue
        try:
            yield number, json.loads(line)
        except ValueError as exc:
            yield number, InvalidInputError(f"not valid JSON ({exc})")


def _chain(first: tuple[int, Any], rest: Iterator[tuple[int, Any]]) -> Iterator[tuple[int, Any]]:
    yield first
    yield from rest


def _ours(
    numbered: Iterator[tuple[int, Any]],
    engine: MemoryEngine,
    user_id: str | None,
    rename: Rename,
    vectors_usable: bool,
    report: ImportReport,
) -> Iterator[MemoryRecord]:
    for number, obj in numbered:
        try:
            if isinstance(obj, Exception):
                raise obj
            yield _record(obj, engine, user_id, rename, vectors_usable)
        except InvalidInputError as exc:
            report.failed.append(f"line {number}: {exc}")


def _record(obj: Any, engine: MemoryEngine, user_id: str | None, rename: Rename, vectors_usable: bool) -> MemoryRecord:
    """A validated record from one export line; InvalidInputError says what is wrong with it."""
    if not isinstance(obj, dict):
        raise InvalidInputError("expected a JSON object (one memory)")
    limits = engine.limits
    scope = engine.scope(
        obj.get("user_id") if user_id is None else user_id, obj.get("agent_id"), obj.get("run_id"), obj.get("project")
    )
    memory_id = MemoryId(rename(_id("id", obj.get("id"), limits.id_max_chars)))
    created = timestamp("created_at", obj.get("created_at"))
    valid_to = obj.get("valid_to")
    successor = obj.get("superseded_by")
    memory = Memory(
        id=memory_id,
        text=validation.text("text", obj.get("text"), limits),
        scope=scope,
        metadata=validation.metadata(obj.get("metadata") or {}, limits),
        created_at=created,
        updated_at=timestamp("updated_at", obj.get("updated_at") or created),
        valid_from=validation.when("valid_from", obj["valid_from"]) if obj.get("valid_from") else created,
        valid_to=None if valid_to is None else validation.when("valid_to", valid_to),
        superseded_by=None
        if successor is None
        else MemoryId(rename(_id("superseded_by", successor, limits.id_max_chars))),
        entities=validation.entities(obj.get("entities"), limits),
    )
    vector = None
    if vectors_usable and isinstance(obj.get("vector"), str):
        vector = _vector(obj["vector"], engine.embedder.dim)
    history = tuple(_entry(item, memory.id) for item in obj.get("history") or ())
    links = tuple(_link(item, memory, rename, engine) for item in obj.get("links") or ())
    return MemoryRecord(memory, vector, history, links)


def _id(name: str, value: Any, most: int) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > most:
        raise InvalidInputError(f"{name} must be a non-empty string of at most {most} characters")
    return value


def _link(item: Any, source: Memory, rename: Rename, engine: MemoryEngine) -> Link:
    """A link of an export line, from its memory: {"target_id", "type", "metadata"?, "created_at"?}."""
    if not isinstance(item, dict):
        raise InvalidInputError('links must be objects such as {"target_id": "...", "type": "relates_to"}')
    target = _id("link target_id", item.get("target_id"), engine.limits.id_max_chars)
    return Link(
        source.id,
        MemoryId(rename(target)),
        validation.link_type(item.get("type")),
        validation.metadata(item.get("metadata") or {}, engine.limits),
        timestamp("link created_at", item.get("created_at") or source.created_at),
    )


def _vector(encoded: str, dim: int) -> Any:
    try:
        vector = np.frombuffer(base64.b64decode(encoded, validate=True), dtype="<f4").astype(np.float32)
    except (binascii.Error, ValueError):
        raise InvalidInputError("vector is not base64 of float32 values") from None
    if vector.shape != (dim,) or not np.all(np.isfinite(vector)):
        raise InvalidInputError(f"vector must hold {dim} finite float32 values")
    return vector


def _entry(item: Any, memory_id: MemoryId) -> HistoryEntry:
    if not isinstance(item, dict) or item.get("event") not in _EVENTS:
        raise InvalidInputError(f"history entries must be objects with an event of {', '.join(_EVENTS)}")
    texts = [item.get("old_text"), item.get("new_text")]
    metas = [item.get("old_metadata"), item.get("new_metadata")]
    if not all(t is None or isinstance(t, str) for t in texts) or not all(
        m is None or isinstance(m, dict) for m in metas
    ):
        raise InvalidInputError("history texts must be strings or null, and metadata objects or null")
    return HistoryEntry(
        memory_id=memory_id,
        event=item["event"],
        old_text=texts[0],
        new_text=texts[1],
        old_metadata=metas[0],
        new_metadata=metas[1],
        created_at=timestamp("history created_at", item.get("created_at")),
    )


def timestamp(name: str, value: Any) -> str:
    """An ISO 8601 time as our fixed-width UTC form (a time without a zone is taken as UTC)."""
    return validation.when(name, value)


def _official(
    numbered: Iterator[tuple[int, Any]], engine: MemoryEngine, scope: Scope, report: ImportReport
) -> Iterator[MemoryRecord]:
    """Memories, entities and links from the reference server's knowledge graph, losslessly.

    An entity becomes an anchor memory ("Alice Martin is a person") naming it; each observation a memory naming
    it, linked `part_of` to the anchor; a relation a link between the two anchors (its type the relation's,
    the original spelling in its metadata when that differs) and, to be found by search, a sentence memory
    naming both ("Alice Martin works at Acme Corp"). The names are kept exactly as entities and in metadata.
    Ids are derived from the user and the graph, so importing the same file again adds nothing.
    """
    stamp = now()
    anchors: dict[str, MemoryId] = {}
    for number, obj in numbered:
        try:
            if isinstance(obj, Exception):
                raise obj
            yield from _official_records(obj, engine, scope, stamp, anchors)
        except InvalidInputError as exc:
            report.failed.append(f"line {number}: {exc}")


def _official_records(
    obj: Any, engine: MemoryEngine, scope: Scope, stamp: str, anchors: dict[str, MemoryId]
) -> list[MemoryRecord]:
    """The records one line of memory.jsonl becomes; `anchors` maps the entity names seen to their memories."""
    kind = obj.get("type") if isinstance(obj, dict) else None
    source = {"source": OFFICIAL}

    def record(
        text: str, metadata: dict[str, Any], names: list[str], *links: tuple[str, MemoryId, dict[str, Any]]
    ) -> MemoryRecord:
        clean = validation.text("text", text, engine.limits)
        memory_id = MemoryId(str(uuid.uuid5(_GRAPH, f"{scope.user_id}\n{scope.project or ''}\n{clean}")))
        memory = Memory(
            memory_id, clean, scope, metadata, stamp, stamp, entities=validation.entities(names, engine.limits)
        )
        made = tuple(Link(memory_id, target, label, meta, stamp) for label, target, meta in links)
        return MemoryRecord(memory, links=made)

    def anchor(name: str, entity_type: Any = None) -> list[MemoryRecord]:
        """The anchor memory of an entity (none when it has one already)."""
        if name in anchors:
            return []
        typed = isinstance(entity_type, str) and bool(entity_type.strip())
        text = f"{_words(name)} is {_article(entity_type)} {_words(entity_type)}" if typed else _words(name)
        made = record(text, {**source, "entity": name, "entity_type": entity_type if typed else None}, [name])
        anchors[name] = made.memory.id
        return [made]

    if kind == "entity":
        name, entity_type, observations = obj.get("name"), obj.get("entityType"), obj.get("observations") or []
        if not isinstance(name, str) or not name.strip() or not isinstance(observations, list):
            raise InvalidInputError("an entity needs a name and a list of observations")
        meta = {**source, "entity": name, "entity_type": entity_type if isinstance(entity_type, str) else None}
        made = anchor(name, entity_type)
        for observation in observations:
            if not isinstance(observation, str) or not observation.strip():
                raise InvalidInputError(f"an observation of {name!r} is not a non-empty string")
            text = f"{_words(name)}: {observation.strip()}"
            made.append(record(text, meta, [name], ("part_of", anchors[name], {})))
        return made
    if kind == "relation":
        start, end, relation = obj.get("from"), obj.get("to"), obj.get("relationType")
        if not (isinstance(start, str) and isinstance(end, str) and isinstance(relation, str)) or not all(
            v.strip() for v in (start, end, relation)
        ):
            raise InvalidInputError("a relation needs from, to and relationType strings")
        made = anchor(start) + anchor(end)
        label = "_".join(relation.split())[: validation.LINK_TYPE_MAX_CHARS]
        if not validation.LINK_LABEL.fullmatch(label):
            label = "relates_to"
        original = {} if label == relation else {"relationType": relation}
        meta = {**source, "relation": relation, "from": start, "to": end}
        sentence = record(f"{_words(start)} {_words(relation)} {_words(end)}", meta, [start, end])
        link = Link(anchors[start], anchors[end], label, original, stamp)
        return [*made, MemoryRecord(sentence.memory, links=(link,))]
    raise InvalidInputError('expected an object with "type": "entity" or "relation"')


_GRAPH: Final = uuid.UUID("6d656d6f-7279-2d6d-6370-2d6772617068")
"""The namespace of the ids given to memories made from the reference server's graph."""


def _words(name: str) -> str:
    """A graph name as words: `John_Smith` -> `John Smith`, `works_at` -> `works at`."""
    return " ".join(name.replace("_", " ").split())


def _article(noun: str) -> str:
    return "an" if noun.strip()[:1].lower() in ("a", "e", "i", "o", "u") else "a"
