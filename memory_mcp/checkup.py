"""Health check of a database: SQLite integrity, schema, embedder, vectors, history, and (deep) texts and the index."""

from __future__ import annotations

import asyncio
import sys
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

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

    def problem(self, what: str, ids: list[str] | None = None, count: int | None = None) -> None:
        """Record a problem, naming the first few ids it concerns (of `count`, by default as many as `ids`)."""
        if ids:
            total = len(ids) if count is None else count
            shown = ", ".join(ids[:_SHOWN]) + (f" and {total - _SHOWN} more" if total > _SHOWN else "")
            what = f"{what} ({total}: {shown})"
        self.problems.append(what)


async def check(db_path: str, embedder: Embedder, *, deep: bool = False) -> CheckReport:
    """Examine the database at `db_path` as a server configured with `embedder` would use it: SQLite's quick check
    (every page and record read), the schema, the embedder, every vector's length and norm, metadata, history,
    links and the entity index. `deep` also runs SQLite's full integrity check (indexes against their tables),
    checks each text's duplicate-check hash, and builds the search index from every text to compare it, and the
    kept index snapshot, with the memories (at 10,000 memories the command takes 0.7 s with `deep`, 0.25 without)."""
    report = CheckReport()
    if db_path != ":memory:" and not await _exists(db_path):
        report.problem(f"There is no database at {db_path}; a server would create an empty one there.")
        return report
    async with await SqliteStore.open(db_path, mapped=True) as store:
        found = await maintenance.integrity(store, full=deep)
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
        report.figures["memories"], report.figures["users"] = await maintenance.counts(store)
        await _vectors(store, embedder.dim, report)
        bad_metadata = await maintenance.not_objects(store)
        if bad_metadata:
            report.problem("Metadata that is not a JSON object", list(bad_metadata))
        by_user = await _texts(store, report) if deep else {}
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
    differ = snapshot.differing(built, index)
    if differ:
        await store.drop_snapshot()
        report.problem(
            "The index snapshot differed from the memories; it was deleted (a cache: the next start builds the index "
            "from the texts and saves a new one)",
            [str(memory_id) for memory_id in differ],
        )


async def _exists(path: str) -> bool:
    return await asyncio.to_thread(_file_exists, path)


def _file_exists(path: str) -> bool:
    return Path(path).expanduser().exists()


async def _vectors(store: SqliteStore, dim: int, report: CheckReport) -> None:
    """Every vector must be `dim` float32 values of unit length (or all zero)."""
    wrong_length = await maintenance.wrong_length(store, 4 * dim)
    if wrong_length:
        report.problem(f"Vectors of the wrong length (expected {dim} float32 values)", list(wrong_length))
    not_unit: list[int] = []
    async for rowids, joined in maintenance.iter_vectors(store, 4 * dim):
        vectors = np.frombuffer(joined, dtype="<f4").reshape(len(rowids), dim)
        squares = np.einsum("ij,ij->i", vectors, vectors, dtype=np.float64)  # all squared norms of the batch at once
        unit = (np.abs(squares - 1.0) < 2e-3) | (squares == 0.0)  # NaN fails both
        not_unit += [rowids[position] for position in np.flatnonzero(~unit).tolist()]
    if not_unit:
        named = [str(memory_id) for memory_id in await maintenance.ids_of(store, not_unit)]
        report.problem("Vectors that are not unit length (or hold NaN)", named, count=len(not_unit))


async def _texts(store: SqliteStore, report: CheckReport) -> dict[str, set[MemoryId]]:
    """Every text against its duplicate-check hash; returns the ids of each user."""
    by_user: dict[str, set[MemoryId]] = defaultdict(set)
    wrong_hash: list[str] = []
    async for batch in maintenance.iter_texts(store):
        for memory_id, user_id, text, digest in batch:
            by_user[user_id].add(MemoryId(memory_id))
            if content_hash(text) != digest:
                wrong_hash.append(memory_id)
    if wrong_hash:
        report.problem("Texts whose stored duplicate-check hash does not match", wrong_hash)
    return by_user
