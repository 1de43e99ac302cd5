"""The metadata filter language: parsed once into a predicate, and anything it does not know is an error.

Grammar (JSON)::

    filter    := {field: condition, ...}            every entry must hold (AND)
               | {"AND": [filter, ...]} | {"OR": [filter, ...]} | {"NOT": filter}
    condition := value                              equality (a string, number, boolean, null or list)
               | {operator: operand, ...}           every operator must hold
    operator  := eq ne gt gte lt lte in nin contains icontains

`field` names a top-level metadata key. Logical keys and fields may share one object (all must hold).
Values compare as JSON: booleans never equal numbers, and numbers compare by their decimal value (1 == 1.0).
A filter is parsed into a small tree (`Filter`), which `predicate` turns into a Python test and a SQL
backend may translate to narrow its reads.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Final

from .errors import FilterError
from .models import Metadata

Predicate = Callable[[Metadata], bool]

OPERATORS: Final = ("eq", "ne", "gt", "gte", "lt", "lte", "in", "nin", "contains", "icontains")
LOGICAL: Final = ("AND", "OR", "NOT")
SCOPE_FIELDS: Final = frozenset({"user_id", "agent_id", "run_id"})
_MISSING: Final = object()
_ORDER: Final[dict[str, Callable[[Any, Any], bool]]] = {
    "gt": operator.gt,
    "gte": operator.ge,
    "lt": operator.lt,
    "lte": operator.le,
}
_HELP: Final = (
    'Write filters like {"topic": "food"}, {"rating": {"gte": 4}} or {"OR": [{"a": 1}, {"b": 2}]}; '
    f"operators: {', '.join(OPERATORS)}; logical keys: {', '.join(LOGICAL)}."
)


@dataclass(frozen=True, slots=True)
class Condition:
    """One test of one metadata field: `op` is one of OPERATORS, `operand` already checked for it."""

    field: str
    op: str
    operand: Any


@dataclass(frozen=True, slots=True)
class AllOf:
    parts: tuple[Filter, ...]


@dataclass(frozen=True, slots=True)
class AnyOf:
    parts: tuple[Filter, ...]


@dataclass(frozen=True, slots=True)
class Not:
    part: Filter


Filter = Condition | AllOf | AnyOf | Not


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _numbers(left: Any, right: Any) -> tuple[Any, Any]:
    """Two numbers made comparable by decimal value (an int and a float compare as the float's JSON text)."""
    if isinstance(left, float) != isinstance(right, float):
        return Decimal(repr(left)), Decimal(repr(right))
    return left, right


def _same(left: Any, right: Any) -> bool:
    """JSON equality: booleans never equal numbers, 1 equals 1.0, lists and objects compare item by item."""
    if isinstance(left, bool) or isinstance(right, bool):
        return isinstance(left, bool) and isinstance(right, bool) and left is right
    if _is_number(left) and _is_number(right):
        a, b = _numbers(left, right)
        return bool(a == b)
    if isinstance(left, list) and isinstance(right, list):
        return len(left) == len(right) and all(_same(a, b) for a, b in zip(left, right, strict=True))
    if isinstance(left, dict) and isinstance(right, dict):
        return left.keys() == right.keys() and all(_same(left[key], right[key]) for key in left)
    if isinstance(left, list | dict | int | float) or isinstance(right, list | dict | int | float):
        return False
    return bool(left == right)


def _ordered(op: str, left: Any, right: Any) -> bool:
    """`left op right` for two numbers or two strings (by code point); anything else never matches."""
    if _is_number(left) and _is_number(right):
        return _ORDER[op](*_numbers(left, right))
    return isinstance(left, str) and isinstance(right, str) and _ORDER[op](left, right)


def _scalar(value: Any) -> bool:
    return value is None or isinstance(value, str | int | float | bool)


class _Parser:
    def __init__(self, max_nodes: int) -> None:
        self.nodes = 0
        self.max_nodes = max_nodes

    def _count(self) -> None:
        self.nodes += 1
        if self.nodes > self.max_nodes:
            raise FilterError(f"The filter is too large (more than {self.max_nodes} conditions). Simplify it.")

    def filter(self, spec: Any, path: str) -> Filter:
        if not isinstance(spec, Mapping) or not spec:
            raise FilterError(f"{path} must be a non-empty JSON object. {_HELP}")
        parts: list[Filter] = []
        for key, value in spec.items():
            self._count()
            if not isinstance(key, str) or not key:
                raise FilterError(f"{path} has an empty or non-string field name. {_HELP}")
            if key in LOGICAL:
                parts.append(self._logical(key, value, f"{path}.{key}"))
            elif key.upper() in LOGICAL:
                raise FilterError(f"Logical operators are upper case: write {key.upper()!r}, not {key!r}.")
            elif key in SCOPE_FIELDS:
                raise FilterError(
                    f"Filters apply to metadata; {key!r} is part of the scope. "
                    f"Pass {key} as an argument of the tool instead."
                )
            else:
                parts.append(self._condition(key, value, f"{path}.{key}"))
        return parts[0] if len(parts) == 1 else AllOf(tuple(parts))

    def _logical(self, key: str, value: Any, path: str) -> Filter:
        if key == "NOT":
            return Not(self.filter(value, path))
        if not isinstance(value, list) or not value:
            raise FilterError(f"{path} must be a non-empty list of filters. {_HELP}")
        parts = tuple(self.filter(item, f"{path}[{i}]") for i, item in enumerate(value))
        return AllOf(parts) if key == "AND" else AnyOf(parts)

    def _condition(self, field: str, value: Any, path: str) -> Filter:
        if isinstance(value, Mapping):
            if not value:
                raise FilterError(f"{path} is an empty object; give a value or an operator. {_HELP}")
            tests = tuple(self._operator(field, op, operand, f"{path}.{op}") for op, operand in value.items())
            return tests[0] if len(tests) == 1 else AllOf(tests)
        return self._operator(field, "eq", value, path)

    def _operator(self, field: str, op: Any, operand: Any, path: str) -> Condition:
        if op not in OPERATORS:
            raise FilterError(f"Unknown filter operator {op!r} at {path}. Use one of: {', '.join(OPERATORS)}.")
        if op in ("eq", "ne"):
            if not (_scalar(operand) or isinstance(operand, list)):
                raise FilterError(f"{path} compares with an object; compare with a string, number, boolean or list.")
        elif op in _ORDER:
            if not (_is_number(operand) or isinstance(operand, str)):
                raise FilterError(f"{path} needs a number or a string, got {type(operand).__name__}.")
        elif op in ("in", "nin"):
            if not isinstance(operand, list) or not all(_scalar(item) for item in operand):
                raise FilterError(f"{path} needs a list of strings, numbers or booleans.")
        elif not _scalar(operand) or operand is None:
            raise FilterError(f"{path} needs a string, number or boolean.")
        elif op == "icontains" and not isinstance(operand, str):
            raise FilterError(f"{path} needs a string.")
        return Condition(field, op, operand)


def parse_filter(spec: Any, *, max_nodes: int = 64) -> Filter:
    """Parse and check `spec`; FilterError names what is wrong and how to write it."""
    return _Parser(max_nodes).filter(spec, "filters")


def predicate(node: Filter) -> Predicate:
    """The Python test of a parsed filter over a memory's metadata."""
    if isinstance(node, AllOf):
        parts = [predicate(part) for part in node.parts]
        return lambda metadata: all(part(metadata) for part in parts)
    if isinstance(node, AnyOf):
        parts = [predicate(part) for part in node.parts]
        return lambda metadata: any(part(metadata) for part in parts)
    if isinstance(node, Not):
        inner = predicate(node.part)
        return lambda metadata: not inner(metadata)
    return _test(node)


def _test(condition: Condition) -> Predicate:
    field, op, operand = condition.field, condition.op, condition.operand
    if op == "eq":
        return lambda m: _same(m.get(field, _MISSING), operand)
    if op == "ne":
        return lambda m: not _same(m.get(field, _MISSING), operand)
    if op in _ORDER:
        return lambda m: _ordered(op, m.get(field), operand)
    if op == "in":
        return lambda m: any(_same(m.get(field, _MISSING), item) for item in operand)
    if op == "nin":
        return lambda m: not any(_same(m.get(field, _MISSING), item) for item in operand)
    if op == "icontains":
        needle = operand.casefold()
        return lambda m: _contains(m.get(field), needle, fold=True)
    return lambda m: _contains(m.get(field), operand, fold=False)


def _contains(value: Any, needle: Any, *, fold: bool) -> bool:
    """Substring of a string field, or member of a list field."""
    if isinstance(value, str):
        return isinstance(needle, str) and needle in (value.casefold() if fold else value)
    if isinstance(value, list):
        if fold:
            return any(isinstance(item, str) and item.casefold() == needle for item in value)
        return any(_same(item, needle) for item in value)
    return False


def compile_filter(spec: Any, *, max_nodes: int = 64) -> Predicate:
    """Parse `spec` into a predicate over a memory's metadata; FilterError names what is wrong."""
    return predicate(parse_filter(spec, max_nodes=max_nodes))
