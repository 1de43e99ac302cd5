"""What the SQL stores share: column lists, row <-> record mapping, scope clauses and the history rows they write."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Sequence
from typing import Any, Final

from ..models import HistoryEntry, Link, Listed, Memory, MemoryId, Metadata, Row, Scope, Validity
from ..validation import entity_key

COLUMNS: Final = (
    "id, user_id, agent_id, run_id, project, text, metadata, created_at, updated_at, valid_from, valid_to,"
    " superseded_by, entities"
)
"""A memory's columns, in the order `memory_of` reads them."""
INSERT_COLUMNS: Final = (
    "id, user_id, agent_id, run_id, project, text, metadata, content_hash, embedding, created_at, updated_at,"
    " valid_from, valid_to, superseded_by, entities, entity_keys"
)
"""The columns `insert_values` gives values for, in order."""
INSERT_COUNT: Final = INSERT_COLUMNS.count(",") + 1
CURRENT_HASH: Final = "(user_id, agent_id, run_id, project, content_hash) WHERE valid_to IS NULL"
"""The conflict target of the unique key: one scope holds a text once among its current memories."""
VALID_FROM: Final = "coalesce(valid_from, created_at)"
"""A memory's start of validity in SQL (rows stored before validity existed have none: since stored)."""
LISTED_COLUMNS: Final = f"id, created_at, metadata, {VALID_FROM}, entities"
"""What a listing reads of a memory, in the order `listed_of` reads it."""
LINK_COLUMNS: Final = "source_id, target_id, type, metadata, created_at"
"""A link's columns, in the order `link_of` reads them."""
SCOPE_COLUMNS: Final = "user_id, agent_id, run_id, project"
"""The columns that hold a memory's scope, in the order `exact` gives them ("" for none)."""
HISTORY_COLUMNS: Final = "memory_id, event, old_text, new_text, old_metadata, new_metadata, created_at"
"""A history entry's columns, in the order `history_entry_of` reads them."""
HISTORY_INSERT_COLUMNS: Final = f"{SCOPE_COLUMNS}, {HISTORY_COLUMNS}"
"""The columns `history_values` and `history_row` give values for."""
EMBEDDER_KEY: Final = "embedder_id"
"""The settings key naming the embedder whose vectors the database holds."""

Mark = Callable[[int], str]
"""The placeholder of the n-th parameter (from 1): "?" for SQLite, "$n" for PostgreSQL."""


def summaries_sql(table: str, mark: Mark, by_user: bool) -> str:
    """Per user (or for the user of parameter 1): current memory count (what every count shown means: superseded
    memories are history), oldest and newest, distinct agents and runs."""
    where = f"WHERE valid_to IS NULL AND user_id = {mark(1)}" if by_user else "WHERE valid_to IS NULL"
    return (
        "SELECT user_id, count(*), min(created_at), max(created_at),"
        " count(DISTINCT nullif(agent_id, '')), count(DISTINCT nullif(run_id, ''))"
        f" FROM {table} {where} GROUP BY user_id ORDER BY user_id"
    )


def placeholders(mark: Mark, count: int, first: int = 1) -> str:
    """`count` placeholders from parameter `first`, comma-separated."""
    return ", ".join(mark(first + i) for i in range(count))


def scope_where(scope: Scope, mark: Mark, first: int = 1, *, own: bool = False) -> tuple[str, list[str]]:
    """A WHERE clause selecting what `scope` can see, with its parameters (numbered from `first`); `own=True`
    leaves out the general memories a project sees (a project's own memories only)."""
    clauses, params = [f"user_id = {mark(first)}"], [scope.user_id]
    for column, value in (("agent_id", scope.agent_id), ("run_id", scope.run_id)):
        if value is not None:
            params.append(value)
            clauses.append(f"{column} = {mark(first + len(params) - 1)}")
    if scope.project is not None:  # a project sees the general memories ('') and its own
        params.append(scope.project)
        place = mark(first + len(params) - 1)
        clauses.append(f"project = {place}" if own else f"project IN ('', {place})")
    return " AND ".join(clauses), params


def validity_where(validity: Validity, mark: Mark, first: int) -> tuple[str, list[str]]:
    """A WHERE clause (never empty) selecting the memories of `validity`, with its parameters from `first`."""
    if validity.as_of is not None:
        since, until = mark(first), mark(first + 1)
        return f"{VALID_FROM} <= {since} AND (valid_to IS NULL OR valid_to > {until})", [validity.as_of] * 2
    return ("TRUE", []) if validity.include_superseded else ("valid_to IS NULL", [])


def exact(scope: Scope) -> list[str]:
    """The scope's key columns as stored (`SCOPE_COLUMNS`; "" for no agent, run or project)."""
    return [scope.user_id, scope.agent_id or "", scope.run_id or "", scope.project or ""]


def dump(metadata: Metadata | None) -> str | None:
    """Metadata as stored: compact JSON text, exactly as given."""
    return None if metadata is None else json.dumps(metadata, ensure_ascii=False, separators=(",", ":"))


def entity_keys(names: Sequence[str]) -> list[str]:
    """The keys entities are matched by (see `validation.entity_key`), in order."""
    return [entity_key(name) for name in names]


def insert_values(row: Row, vector: Any, names: Callable[[Sequence[str]], Any]) -> tuple[Any, ...]:
    """Values of `INSERT_COLUMNS` for one memory, with its vector and its lists of names in the backend's own
    form (`names` turns a list of strings into it)."""
    memory = row.memory
    return (
        memory.id,
        *exact(memory.scope),
        memory.text,
        dump(memory.metadata),
        row.content_hash,
        vector,
        memory.created_at,
        memory.updated_at,
        memory.valid_from,
        memory.valid_to,
        memory.superseded_by,
        names(memory.entities),
        names(entity_keys(memory.entities)),
    )


def names_of(value: Any) -> tuple[str, ...]:
    """A stored list of names (JSON text in SQLite, an array in PostgreSQL) as a tuple."""
    if value == "[]" or not value:  # most memories name nothing: no parse for them (an export reads every row)
        return ()
    return tuple(json.loads(value) if isinstance(value, str) else value)


def metadata_of(text: str) -> Any:
    """Stored metadata (JSON text) as an object; the empty object, most memories' metadata, without a parse."""
    return {} if text == "{}" else json.loads(text)


@functools.lru_cache(maxsize=4096)
def _scope(user_id: str, agent_id: str | None, run_id: str | None, project: str | None) -> Scope:
    """One Scope for the many memories that share it (a Scope is immutable): a read of 10,000 rows makes a few."""
    return Scope(user_id, agent_id or None, run_id or None, project or None)


def memory_of(row: Sequence[Any]) -> Memory:
    """A Memory from the values of `COLUMNS`, in order (decoded by `plain_of`)."""
    (memory_id, text, user_id, agent_id, run_id, project, metadata, created_at, updated_at, valid_from, valid_to,
     superseded_by, entities) = plain_of(row)  # fmt: skip
    return Memory(
        id=MemoryId(memory_id),
        text=text,
        scope=_scope(user_id, agent_id, run_id, project),
        metadata=metadata,
        created_at=created_at,
        updated_at=updated_at,
        valid_from=valid_from,
        valid_to=valid_to,
        superseded_by=None if superseded_by is None else MemoryId(superseded_by),
        entities=tuple(entities),
    )


def plain_of(row: Sequence[Any]) -> tuple[Any, ...]:
    """The values of `COLUMNS`, in order, as `models.MEMORY_FIELDS` lays them out (`memory_json(memory_of(row))`'s)."""
    (memory_id, user_id, agent_id, run_id, project, text, metadata, created_at, updated_at, valid_from, valid_to,
     superseded_by, entities) = row  # fmt: skip
    return (
        memory_id,
        text,
        user_id,
        agent_id or None,
        run_id or None,
        project or None,
        metadata_of(metadata),
        created_at,
        updated_at,
        valid_from or created_at,
        valid_to,
        superseded_by,
        list(names_of(entities)),
    )


def listed_of(row: Sequence[Any]) -> Listed:
    """A Listed from the values of `LISTED_COLUMNS`, in order."""
    memory_id, created_at, metadata, valid_from, entities = row
    return Listed(MemoryId(memory_id), (created_at, memory_id), json.loads(metadata), valid_from, names_of(entities))


def link_of(row: Sequence[Any]) -> Link:
    """A Link from the values of `LINK_COLUMNS`, in order."""
    source_id, target_id, link_type, metadata, created_at = row
    return Link(MemoryId(source_id), MemoryId(target_id), link_type, json.loads(metadata), created_at)


def history_entry_of(row: Sequence[Any]) -> HistoryEntry:
    """A HistoryEntry from the values of `HISTORY_COLUMNS`, in order."""
    memory_id, event, old_text, new_text, old_meta, new_meta, created_at = row
    return HistoryEntry(
        memory_id=MemoryId(memory_id),
        event=event,
        old_text=old_text,
        new_text=new_text,
        old_metadata=None if old_meta is None else json.loads(old_meta),
        new_metadata=None if new_meta is None else json.loads(new_meta),
        created_at=created_at,
    )


def history_values(memory: Memory, entries: Sequence[HistoryEntry]) -> list[tuple[Any, ...]]:
    """Values of `HISTORY_INSERT_COLUMNS` for a memory's given history, one row per entry."""
    return [
        (
            *exact(memory.scope),
            memory.id,
            entry.event,
            entry.old_text,
            entry.new_text,
            dump(entry.old_metadata),
            dump(entry.new_metadata),
            entry.created_at,
        )
        for entry in entries
    ]


def history_row(
    event: str, at: str, old: Memory | None = None, new: Memory | None = None, *, of: Memory | None = None
) -> tuple[Any, ...]:
    """Values of `HISTORY_INSERT_COLUMNS` for one change: an update has both memories, a delete only `old`; the
    row belongs to `of` when given (a supersession: the old memory, with its successor's text), else to the
    new memory or the old."""
    memory = of if of is not None else new if new is not None else old
    if memory is None:
        raise ValueError("a history row needs the old or the new memory")
    return (
        *exact(memory.scope),
        memory.id,
        event,
        old.text if old else None,
        new.text if new else None,
        dump(old.metadata) if old else None,
        dump(new.metadata) if new else None,
        at,
    )
