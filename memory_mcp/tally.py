"""Counting memories by group: per month stored or valid from, entity, link type, or metadata field value."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from .errors import InvalidInputError
from .models import Listed, MemoryId
from .validation import entity_key

MONTH: Final = "month"
"""Group by the month a memory was stored (YYYY-MM of `created_at`)."""
VALID_FROM: Final = "valid_from"
"""Group by the month a memory became true (YYYY-MM of `valid_from`)."""
ENTITY: Final = "entity"
"""Group by the entities the memories name (a memory in each of its entities' groups)."""
LINK: Final = "link"
"""Group by the types of the links the memories take part in (either end)."""
GROUPINGS: Final = (MONTH, VALID_FROM, ENTITY, LINK)
_FIELD_PREFIX: Final = "metadata."


@dataclass(frozen=True)
class Group:
    """One value and how many memories have it."""

    value: str
    count: int


@dataclass(frozen=True)
class Tally:
    """Memories counted by `group_by`, most first; `missing` had no value, `groups` may be cut at a limit."""

    group_by: str
    total: int
    groups: tuple[Group, ...]
    missing: int
    truncated: bool


def grouping(group_by: str) -> str:
    """What `group_by` names: one of GROUPINGS, or "metadata.<field>" for a metadata field (a bare name that is
    not a grouping is a field too); InvalidInputError for an empty name."""
    if not isinstance(group_by, str) or not group_by.strip():
        raise InvalidInputError(f'group_by is empty: give {", ".join(GROUPINGS)} or a metadata field such as "topic".')
    name = group_by.strip()
    if name in GROUPINGS:
        return name
    field = name.removeprefix(_FIELD_PREFIX)  # "metadata.month" is the field called month
    if not field:
        raise InvalidInputError('group_by names no field: write "metadata.<field>", e.g. "metadata.topic".')
    return _FIELD_PREFIX + field


def _label(value: Any) -> str:
    """A value as its group's name: strings as they are, anything else as JSON (true, 4, 4.5, null)."""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, sort_keys=True)


def _values(row: Listed, by: str, links: Mapping[MemoryId, set[str]] | None) -> list[str] | None:
    """The groups one memory counts in (None: it has no value for `by`)."""
    if by == MONTH:
        return [row.position[0][:7]]
    if by == VALID_FROM:
        return [row.valid_from[:7]]
    if by == ENTITY:
        return list(row.entities) or None
    if by == LINK:
        return sorted((links or {}).get(row.id, ())) or None
    field = by.removeprefix(_FIELD_PREFIX)
    value = row.metadata.get(field)
    if field not in row.metadata or value == []:
        return None
    return sorted({_label(item) for item in value}) if isinstance(value, list) else [_label(value)]


def tally(rows: Iterable[Listed], group_by: str, limit: int, links: Mapping[MemoryId, set[str]] | None = None) -> Tally:
    """Count `rows` by `group_by` (see `grouping`); a memory with several values (a list field, entities, link
    types) counts once in each, so a memory tagged ["work", "travel"] is in both groups; at most `limit` groups.
    `links` gives the link types of each memory, for grouping by link."""
    by = grouping(group_by)
    counts: Counter[str] = Counter()
    spellings: dict[str, Counter[str]] = {}  # entities: one group per key, named by its most usual spelling
    total = missing = 0
    for row in rows:
        total += 1
        values = _values(row, by, links)
        if values is None:
            missing += 1
        elif by == ENTITY:
            keys = {entity_key(name): name for name in values}
            for key, name in keys.items():
                spellings.setdefault(key, Counter())[name] += 1
            counts.update(keys.keys())
        else:
            counts.update(values)
    if by == ENTITY:  # the most usual spelling; between equals, the first in code point order ("Caroline")
        named = {key: min(used, key=lambda name: (-used[name], name)) for key, used in spellings.items()}
        counts = Counter({named[key]: count for key, count in counts.items()})
    if by in (MONTH, VALID_FROM):  # months in time order, the newest (kept when cut) last
        months = sorted(counts.items())
        ordered, shown = months, months[-limit:]
    else:
        ordered = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
        shown = ordered[:limit]
    return Tally(
        group_by=group_by.strip(),
        total=total,
        groups=tuple(Group(value, count) for value, count in shown),
        missing=missing,
        truncated=len(ordered) > limit,
    )
