"""Health check of a database: SQLite integrity, schema, embedder, vectors, text hashes, history, and the index."""

from __future__ import annotations

import asyncio
import json
import sys
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Final

import anyio
import numpy as np

from .models import MemoryId, Scope
from .protocols import Embedder
from .scoring import VECTOR_WEIGHT
from .search import LocalSearch, NumpyIndex, snapshot
from .stores.sqlite import SqliteStore, maintenance
from .stores.sqlite.migrations import SCHEMA_VERSION
from .validation import content_hash

_SHOWN: Final = 5  # ids named per kind of problem


@dataclass
class CheckReport:
    """What a check found: problems (empty when all is well) and the figures it counted."""

    problems: list[str] = field(default_factory=list)
    figures: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True when nothing is wrong."""
        return not self.problems

    def problem(self, what: str, ids: list[str] | None = None) -> None:
        """Record a problem, naming the first few ids it concerns."""
        if ids:
            shown = ", ".join(ids[:_SHOWN]) + (f" and {len(ids) - _SHOWN} more" if len(ids) > _SHOWN else "")
            what = f"{what} ({len(ids)}: {shown})"
        self.problems.append(what)


async def check(db_path: str, embedder: Embedder, *, deep: bool = False) -> CheckReport:
    """Examine the database at `db_path` as a server configured with `embedder` would use it. `deep` also builds
    the search index from every text and compares it, and the kept index snapshot, with the memories (about a
    second per 10,000 memories; without it the check reads each row once)."""
    report = CheckReport()
    if db_path != ":memory:" and not await _exists(db_path):
        report.problem(f"There is no database at {db_path}; a server would create an empty one there.")
        return report
    async with await SqliteStore.open(db_path) as store:
        found = await maintenance.integrity(store)
        if found:
            report.problem("SQLite integrity check failed: " + "; ".join(found))
        version = await maintenance.schema_version(store)
        report.figures["schema_version"] = version
        if version != SCHEMA_VERSION:
            report.problem(f"Schema version {version}, expected {SCHEMA_VERSION}.")
        stored = await store.embedder_id()
        report.figures["embedder"] = stored
        embedder_matches = stored in (None, embedder.id)
        if not embedder_matches:
            report.problem(
                f"Vectors were made by {stored!r} but the configured embedder is {embedder.id!r}: configure that "
                "embedder, or start the server once with --reembed."
            )
        by_user = await _rows(store, embedder.dim, report)
        report.figures["memories"] = sum(len(ids) for ids in by_user.values())
        report.figures["users"] = len(by_user)
        orphans = await maintenance.without_history(store)
        if orphans:
            report.problem("Memories without any history row", list(orphans))
        broken = await maintenance.broken_links(store)
        if broken:
            report.problem("Links that do not join two memories of one user", broken)
        stale = await maintenance.stale_entities(store)
        if stale:
            report.problem("Memories whose entity index is out of date", list(stale))
        if not deep:
            change = await maintenance.snapshot_change(store)
            report.figures["index_snapshot"] = None if change is None else f"as of change {change} (compared by --deep)"
        elif embedder_matches and not report.problems:
            index = NumpyIndex(embedder.dim, vector_weight=VECTOR_WEIGHT)
            built = LocalSearch(store, index, snapshot_min=sys.maxsize, read_snapshot=False)  # from the texts
            await built.start(asyncio.Lock(), background=False)
            indexed = len(index)
            report.figures["indexed"] = indexed
            missing: list[str] = []
            extra: list[str] = []
            for user, ids in by_user.items():
                in_index = index.ids(Scope(user))
                missing += sorted(ids - in_index)
                extra += sorted(in_index - ids)
            if missing:
                report.problem("Stored memories missing from the search index", missing)
            if extra or indexed != report.figures["memories"]:
                report.problem(
                    f"The search index holds {indexed} memories, the database {report.figures['memories']}", extra
                )
            await _check_snapshot(store, index, report)
    return report


async def _check_snapshot(store: SqliteStore, built: NumpyIndex, report: CheckReport) -> None:
    """A kept index snapshot, brought up to date, must hold what an index built from the texts holds."""
    found = await store.load_snapshot()
    report.figures["index_snapshot"] = None if found is None else f"as of change {found[0]}"
    if found is None:
        return
    index = NumpyIndex(built.dim, vector_weight=VECTOR_WEIGHT)
    retriever = LocalSearch(store, index, snapshot_min=sys.maxsize)
    await retriever.start(asyncio.Lock(), background=False)
    if not retriever.restored:
        report.figures["index_snapshot"] += " (not usable: the next start builds the index and saves a new one)"
        return
    expected, got = snapshot.describe(built), snapshot.describe(index)
    differ = sorted(
        memory_id for memory_id in expected.keys() | got.keys() if expected.get(memory_id) != got.get(memory_id)
    )
    if differ:
        await store.drop_snapshot()
        report.problem(
            "The index snapshot differed from the memories; it was deleted (a cache: the next start builds the index "
            "from the texts and saves a new one)",
            [str(memory_id) for memory_id in differ],
        )


async def _exists(path: str) -> bool:
    return await (await anyio.Path(path).expanduser()).exists()


async def _rows(store: SqliteStore, dim: int, report: CheckReport) -> dict[str, set[MemoryId]]:
    """Scan every stored memory; returns the ids of each user."""
    by_user: dict[str, set[MemoryId]] = defaultdict(set)
    wrong_length: list[str] = []
    not_unit: list[str] = []
    wrong_hash: list[str] = []
    bad_metadata: list[str] = []
    async for batch in maintenance.iter_raw(store):
        sized: list[str] = []
        blobs: list[bytes] = []
        for memory_id, user_id, text, metadata, digest, blob in batch:
            by_user[user_id].add(MemoryId(memory_id))
            if len(blob) != 4 * dim:
                wrong_length.append(memory_id)
            else:
                sized.append(memory_id)
                blobs.append(blob)
            if content_hash(text) != digest:
                wrong_hash.append(memory_id)
            try:
                if not isinstance(json.loads(metadata), dict):
                    bad_metadata.append(memory_id)
            except ValueError:
                bad_metadata.append(memory_id)
        if blobs:  # all norms of the batch at once
            norms = np.linalg.norm(np.frombuffer(b"".join(blobs), dtype="<f4").reshape(len(blobs), dim), axis=1)
            unit = (np.abs(norms - 1.0) < 1e-3) | (norms == 0.0)  # NaN fails both
            not_unit += [sized[position] for position in np.flatnonzero(~unit).tolist()]
    if wrong_length:
        report.problem(f"Vectors of the wrong length (expected {dim} float32 values)", wrong_length)
    if not_unit:
        report.problem("Vectors that are not unit length (or hold NaN)", not_unit)
    if wrong_hash:
        report.problem("Texts whose stored duplicate-check hash does not match", wrong_hash)
    if bad_metadata:
        report.problem("Metadata that is not a JSON object", bad_metadata)
    return by_user
