"""Checks on every value the engine accepts; each failure says what was wrong and how to fix it."""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Final

from .errors import InvalidInputError
from .filters import SCOPE_FIELDS
from .models import LINK_TYPES, Limits, Metadata, Scope

USER_PATTERN: Final = r"[\w.@:+\-]+"
"""What a user, agent or run id may hold (ID_PATTERN anchors it)."""

ID_PATTERN: Final = rf"^{USER_PATTERN}$"
"""Letters, digits and `_ . @ : + -`: safe in URIs, logs and file names."""
_ID = re.compile(ID_PATTERN)


def scope_of(user_id: Any, agent_id: Any = None, run_id: Any = None, project: Any = None, *, limits: Limits) -> Scope:
    """A validated Scope; `user_id` is required, `agent_id` and `run_id` narrow it, `project` places it."""
    return Scope(
        _identifier("user_id", user_id, limits),
        None if agent_id is None else _identifier("agent_id", agent_id, limits),
        None if run_id is None else _identifier("run_id", run_id, limits),
        None if project is None else _identifier("project", project, limits),
    )


def _identifier(name: str, value: Any, limits: Limits) -> str:
    if not isinstance(value, str) or not value:
        raise InvalidInputError(f"{name} must be a non-empty string.")
    if len(value) > limits.id_max_chars or not _ID.fullmatch(value):
        raise InvalidInputError(
            f"{name} {value[:40]!r} is not a valid id: use 1-{limits.id_max_chars} letters, digits "
            "or the characters _ . @ : + - (no spaces or slashes)."
        )
    return value


def _encodable(name: str, value: str) -> None:
    if "\x00" in value:
        raise InvalidInputError(f"{name} contains a NUL character; remove it and try again.")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidInputError(f"{name} is not valid Unicode (it has a lone surrogate); send proper UTF-8.") from None


def text(name: str, value: Any, limits: Limits) -> str:
    """Stripped, non-empty text within the length limit."""
    if not isinstance(value, str):
        shown = "nothing" if value is None else f"{type(value).__name__} {str(value)[:40]!r}"
        raise InvalidInputError(f"{name} must be a string (the words themselves), not {shown}.")
    stripped = value.strip()
    if not stripped:
        raise InvalidInputError(empty(name))
    if len(stripped) > limits.max_text_chars:
        raise InvalidInputError(
            f"{name} is {len(stripped)} characters long; the limit is {limits.max_text_chars}. "
            "Split it into shorter memories, one fact each."
        )
    _encodable(name, stripped)
    return stripped


def metadata(value: Any, limits: Limits) -> Metadata:
    """A JSON object within the size and depth limits, with no scope fields in it."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidInputError('metadata must be a JSON object, e.g. {"topic": "food"}.')
    for key in value:
        if not isinstance(key, str) or not key:
            raise InvalidInputError("metadata keys must be non-empty strings.")
        if key in SCOPE_FIELDS:
            raise InvalidInputError(
                f"metadata may not contain {key!r}: the scope is set by the user_id, agent_id and run_id "
                "arguments and cannot be changed through metadata. Rename the key."
            )
    _depth(value, 1, limits.max_metadata_depth)
    try:
        encoded = json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"metadata must hold only JSON values (no NaN or Infinity): {exc}.") from None
    _encodable("metadata", encoded)
    size = len(encoded.encode("utf-8"))
    if size > limits.max_metadata_bytes:
        raise InvalidInputError(
            f"metadata is {size} bytes as JSON; the limit is {limits.max_metadata_bytes}. Keep only short fields."
        )
    result: Metadata = json.loads(encoded)
    return result


def _depth(value: Any, level: int, limit: int) -> None:
    if level > limit:
        raise InvalidInputError(f"metadata is nested more than {limit} levels deep; flatten it.")
    children = value.values() if isinstance(value, dict) else value if isinstance(value, list) else ()
    for child in children:
        if isinstance(child, dict | list):
            _depth(child, level + 1, limit)


MAX_QUERIES: Final = 8
"""Most wordings one search may fuse."""


def queries(value: Any, limits: Limits) -> list[str]:
    """One query, or several wordings of one question (at most MAX_QUERIES), each checked like any text."""
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list | tuple) or not items:
        raise InvalidInputError("Give a query: what to look for, in a few words (or several wordings of it).")
    if len(items) > MAX_QUERIES:
        raise InvalidInputError(f"{len(items)} queries in one search; the most is {MAX_QUERIES}. Keep the best.")
    return [text("query", item, limits) for item in items]


def out_of_range(name: str, value: Any, low: float, high: float, *, whole: bool) -> str:
    """The one message for a number outside its range (the engine's, and a tool schema's, see server.arguments)."""
    shown = int(value) if isinstance(value, float) and value.is_integer() else value  # 2.0 from JSON 2 reads "2"
    return f"{name} must be {'a whole number' if whole else 'a number'} from {low} to {high}, got {shown!r}."


def empty(name: str) -> str:
    """The one message for an empty text or query."""
    wanted = (
        "what to look for, in a few words" if name in ("query", "queries") else "the fact to remember in plain words"
    )
    return f"{name} is empty. Give {wanted}."


NO_QUERY: Final = (
    "Give `query` (what to look for, in a few words) or `queries` (several wordings of it). Nothing was searched."
)
"""The one message for a search that names nothing to look for."""


def wordings(query: str | None, queries: Sequence[str] | None) -> list[str]:
    """What a search looks for: `query` and the other wordings in `queries`, in that order (each is checked by the
    engine); InvalidInputError with `NO_QUERY` when there is none (the same for the tools and REST)."""
    found = ([query] if query is not None else []) + list(queries or [])
    if not found:
        raise InvalidInputError(NO_QUERY)
    return found


def limit(value: Any, limits: Limits) -> int:
    """A page or result size between 1 and the configured maximum."""
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= limits.max_results:
        raise InvalidInputError(out_of_range("limit", value, 1, limits.max_results, whole=True))
    return value


def threshold(value: Any) -> float | None:
    """A minimum score in [-1, 1] (higher is stricter), or None."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not -1.0 <= value <= 1.0:
        raise InvalidInputError(out_of_range("threshold", value, -1, 1, whole=False))
    return float(value)


def normalise(value: str) -> str:
    """The form under which two texts count as the same memory: NFKC, case-folded, spaces collapsed."""
    return " ".join(unicodedata.normalize("NFKC", value).casefold().split())


def content_hash(value: str) -> str:
    """SHA-256 of the normalised text (duplicate detection)."""
    return hashlib.sha256(normalise(value).encode("utf-8")).hexdigest()


def when(name: str, value: Any) -> str:
    """An ISO 8601 date or time as our fixed-width UTC form: "2024-03" and "2024" mean their first day; a time
    without a zone is taken as UTC."""
    if not isinstance(value, str) or not value.strip():
        raise InvalidInputError(
            f"{name} must be an ISO 8601 date or time such as 2024-03, 2024-03-15 or 2024-03-15T09:30:00Z."
        )
    stripped = value.strip()
    padded = stripped + "-01-01"[len(stripped) - 4 :] if len(stripped) in (4, 7) else stripped
    try:
        parsed = datetime.fromisoformat(padded)
    except ValueError:
        raise InvalidInputError(
            f"{name} {stripped[:40]!r} is not an ISO 8601 date or time; write e.g. 2024-03, 2024-03-15 or "
            "2024-03-15T09:30:00Z."
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


ENTITY_MAX_CHARS: Final = 200
"""Longest entity name."""


def entities(value: Any, limits: Limits) -> tuple[str, ...]:
    """Entity names: strings with spaces collapsed, repeats (ignoring case) dropped, at most `max_entities`."""
    if value is None:
        return ()
    if not isinstance(value, list | tuple):
        raise InvalidInputError('entities must be a list of names, e.g. ["Caroline", "Paris"].')
    if len(value) > limits.max_entities:
        raise InvalidInputError(
            f"{len(value)} entities; a memory may name at most {limits.max_entities}. Keep the main ones."
        )
    names: dict[str, str] = {}
    for item in value:
        if not isinstance(item, str) or not item.strip():
            raise InvalidInputError('each entity must be a non-empty name such as "Caroline".')
        name = " ".join(item.split())
        if len(name) > ENTITY_MAX_CHARS:
            raise InvalidInputError(f"entity {name[:40]!r}... is longer than {ENTITY_MAX_CHARS} characters.")
        _encodable("entity", name)
        names.setdefault(entity_key(name), name)
    return tuple(names.values())


def entity_key(name: str) -> str:
    """The form under which two entity names are the same: NFKC, case-folded, `_` as a space, spaces collapsed
    ("Alice_Martin" of a knowledge graph is "alice martin")."""
    return normalise(name.replace("_", " "))


LINK_TYPE_MAX_CHARS: Final = 64
"""Longest link type."""
LINK_LABEL: Final = re.compile(r"[\w-]+")
"""What a link type is made of: letters, digits, `_` and `-`."""


def link_type(value: Any) -> str:
    """A link type: one of LINK_TYPES or a short label of letters, digits, `_` and `-` (spaces become `_`)."""
    if not isinstance(value, str) or not value.strip():
        raise InvalidInputError(f"type must be a link type such as {', '.join(LINK_TYPES)}, or a short label.")
    label = "_".join(value.strip().split())
    if len(label) > LINK_TYPE_MAX_CHARS or not LINK_LABEL.fullmatch(label):
        raise InvalidInputError(
            f"type {label[:40]!r} is not a link type: use {', '.join(LINK_TYPES)}, or up to {LINK_TYPE_MAX_CHARS} "
            "letters, digits, _ or -."
        )
    return label
