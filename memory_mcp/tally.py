"""Counting memories by group: per month stored, or per value of a metadata field (each item of a list field)."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final

from .errors import InvalidInputError
from .models import Metadata

MONTH: Final = "month"
"""Group by the month a memory was stored (YYYY-MM of `created_at`)."""
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


def field_of(group_by: str) -> str | None:
    """The metadata field `group_by` names (None for the month); InvalidInputError for an empty name."""
    if not isinstance(group_by, str) or not group_by.strip():
        raise InvalidInputError('group_by is empty: give "month" or a metadata field such as "topic".')
    name = group_by.strip()
    if name == MONTH:
        return None
    field = name.removeprefix(_FIELD_PREFIX)  # "metadata.month" is the field called month
    if not field:
        raise InvalidInputError('group_by names no field: write "metadata.<field>", e.g. "metadata.topic".')
    return field


def _label(value: Any) -> str:
    """A value as its group's name: strings as they are, anything else as JSON (true, 4, 4.5, null)."""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, sort_keys=True)


def tally(rows: Iterable[tuple[str, Metadata]], group_by: str, limit: int) -> Tally:
    """Count `rows` of (created_at, metadata) by `group_by`: "month", or a metadata field (a list field counts
    each distinct item once, so a memory tagged ["work", "travel"] is in both groups); at most `limit` groups."""
    field = field_of(group_by)
    counts: Counter[str] = Counter()
    total = missing = 0
    for created_at, metadata in rows:
        total += 1
        if field is None:
            counts[created_at[:7]] += 1
            continue
        value = metadata.get(field)
        if field not in metadata or value == []:
            missing += 1
        elif isinstance(value, list):
            counts.update({_label(item) for item in value})
        else:
            counts[_label(value)] += 1
    if field is None:  # months in time order, the newest (kept when cut) last
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
