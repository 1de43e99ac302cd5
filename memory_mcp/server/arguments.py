"""Arguments a tool's schema rejects, explained as the engine explains its own errors: what was wrong, what to send."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from ..validation import ID_PATTERN, empty, out_of_range

_JSON_TYPES: Final = {
    "string_type": "a string",
    "int_type": "a whole number",
    "int_parsing": "a whole number",
    "int_from_float": "a whole number",
    "float_type": "a number",
    "float_parsing": "a number",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "dict_type": "a JSON object",
    "model_type": "a JSON object",
    "list_type": "a list",
}
_IDS: Final = ("user_id", "agent_id", "run_id")
_TEXTS: Final = ("text", "query")


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return "null" if value is None else type(value).__name__


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _field(error: ErrorDetails) -> str:
    return ".".join(str(part) for part in error["loc"]) or "the arguments"


def _explain(error: ErrorDetails, schema: dict[str, Any]) -> str:
    """One sentence for one rejected argument, with the field's own description where it helps."""
    field = _field(error)
    kind, value, limits = error["type"], error.get("input"), error.get("ctx") or {}
    top = str(error["loc"][0]) if error["loc"] else ""
    described = (schema.get("properties", {}).get(top) or {}).get("description", "")
    if kind == "missing":
        return f"{field} is required but was not sent." + (f" It is: {described}" if described else "")
    if kind == "string_pattern_mismatch" and top in _IDS:
        return (
            f"{field} {_shown(value)} is not a valid id: use letters, digits or the characters _ . @ : + - "
            "(no spaces or slashes)."
        )
    if kind == "string_pattern_mismatch":
        return f"{field} {_shown(value)} must match {limits.get('pattern', ID_PATTERN)}."
    if kind == "string_too_long":
        size = len(value) if isinstance(value, str) else "too many"
        return f"{field} is {size} characters long; the most is {limits.get('max_length')}. Shorten it or split it."
    if kind == "string_too_short" and top in _TEXTS:
        return empty(top)
    if kind == "string_too_short":
        return f"{field} is empty; send at least {limits.get('min_length', 1)} character(s)."
    if kind in ("too_short", "too_long"):
        count = len(value) if isinstance(value, list | dict) else "?"
        bound = f"at least {limits.get('min_length')}" if kind == "too_short" else f"at most {limits.get('max_length')}"
        return f"{field} has {count} item(s); send {bound}."
    if kind in ("greater_than_equal", "greater_than", "less_than_equal", "less_than"):
        declared = schema.get("properties", {}).get(top, {})
        low, high = declared.get("minimum"), declared.get("maximum")
        if low is not None and high is not None and len(error["loc"]) == 1:
            return out_of_range(field, value, low, high, whole=declared.get("type") == "integer")
        return f"{field} {error['msg'].lower()}; it was {_shown(value)}."
    if kind in _JSON_TYPES:
        return f"{field} must be {_JSON_TYPES[kind]}, not {_kind(value)} ({_shown(value)})."
    if kind == "extra_forbidden":
        return unknown(field, schema)
    return f"{field}: {error['msg']}."


def unknown(field: str, schema: dict[str, Any]) -> str:
    """The one message for a field the call does not take (a tool argument, a REST body field)."""
    accepted = ", ".join(sorted(schema.get("properties", {})))
    if field == "user_id" and "user_id" not in schema.get("properties", {}):
        return "user_id is not taken here: pass it as ?user_id=... in the address, or leave it out with a token."
    return f"{field} is not one of the accepted fields ({accepted}); leave it out."


def problems(errors: Sequence[ErrorDetails], schema: dict[str, Any]) -> list[str]:
    """One sentence per rejected value (`loc` relative to the object `schema` describes)."""
    return [_explain(detail, schema) for detail in errors]


def explain(tool: str, error: ValidationError, schema: dict[str, Any]) -> str:
    """The message for arguments `tool`'s input `schema` rejected: one sentence per problem, then what to do."""
    return explain_problems(tool, problems(error.errors(), schema))


def explain_problems(tool: str, said: Sequence[str]) -> str:
    """A tool's message for arguments it refuses: the problems, then what to do."""
    return (
        f"Error executing tool {tool}: "
        + " ".join(said)
        + " Nothing was changed; call it again with the arguments corrected."
    )
