"""The metadata filter language as a PostgreSQL condition over the `meta` jsonb column, to narrow reads in SQL."""

from __future__ import annotations

import json
from typing import Any, Final

from ...filters import AllOf, AnyOf, Condition, Filter, Not

_ORDER: Final = {"gt": ">", "gte": ">=", "lt": "<", "lte": "<="}


class _Translator:
    """Builds one SQL condition with numbered parameters starting at `first`.

    Every condition is translated exactly, except `icontains` (Unicode case folding has no portable SQL
    equivalent) and operands PostgreSQL cannot hold (NUL characters, lone surrogates): those become TRUE
    where that widens the result and FALSE under an odd number of NOTs, so the SQL selects a superset of
    the matches and the caller's Python predicate has the last word.
    """

    def __init__(self, first: int) -> None:
        self.first = first
        self.params: list[Any] = []

    def param(self, value: Any, cast: str) -> str:
        self.params.append(value)
        return f"${self.first + len(self.params) - 1}::{cast}"

    def node(self, node: Filter, widen: bool) -> str:
        if isinstance(node, AllOf):
            return "(" + " AND ".join(self.node(part, widen) for part in node.parts) + ")"
        if isinstance(node, AnyOf):
            return "(" + " OR ".join(self.node(part, widen) for part in node.parts) + ")"
        if isinstance(node, Not):
            return f"(NOT {self.node(node.part, not widen)})"
        if node.op == "icontains" or not (_storable(node.field) and _storable(node.operand)):
            return "TRUE" if widen else "FALSE"
        return self.condition(node)

    def condition(self, node: Condition) -> str:
        field = self.param(node.field, "text")
        value = f"(meta -> {field})"  # SQL NULL when the field is missing
        op, operand = node.op, node.operand
        if op in ("eq", "ne"):
            equal = f"({value} = {self.param(_json(operand), 'jsonb')})"
            return f"coalesce({equal}, false)" if op == "eq" else f"({equal} IS NOT TRUE)"
        if op in ("in", "nin"):
            member = f"({value} = ANY({self.param([_json(item) for item in operand], 'jsonb[]')}))"
            return f"coalesce({member}, false)" if op == "in" else f"({member} IS NOT TRUE)"
        if op in _ORDER:
            if isinstance(operand, str):  # code point order, as in Python
                right = self.param(operand, "text")
                test = f'({value} #>> \'{{}}\') COLLATE "C" {_ORDER[op]} {right} COLLATE "C"'
                return f"(CASE WHEN jsonb_typeof({value}) = 'string' THEN {test} ELSE false END)"
            right = self.param(repr(operand), "text")
            test = f"{value}::numeric {_ORDER[op]} {right}::numeric"
            return f"(CASE WHEN jsonb_typeof({value}) = 'number' THEN {test} ELSE false END)"
        # contains: a substring of a string field, or an item of a list field
        needle = self.param(_json(operand), "jsonb")
        item = f"EXISTS (SELECT 1 FROM jsonb_array_elements({value}) AS item WHERE item = {needle})"
        text = "false"
        if isinstance(operand, str):
            text = f"strpos({value} #>> '{{}}', {self.param(operand, 'text')}) > 0"
        return f"(CASE jsonb_typeof({value}) WHEN 'string' THEN {text} WHEN 'array' THEN {item} ELSE false END)"


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, allow_nan=False)


def _storable(value: Any) -> bool:
    """Whether PostgreSQL can take this value as text or jsonb (no NUL, no lone surrogate)."""
    if isinstance(value, str):
        if "\x00" in value:
            return False
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return False
        return True
    if isinstance(value, list):
        return all(_storable(item) for item in value)
    if isinstance(value, dict):
        return all(_storable(key) and _storable(item) for key, item in value.items())
    return True


def filter_sql(node: Filter, first: int) -> tuple[str, list[Any]]:
    """A SQL condition over `meta` selecting at least the memories `node` matches, and its parameters
    (numbered from `first`)."""
    translator = _Translator(first)
    return translator.node(node, widen=True), translator.params
