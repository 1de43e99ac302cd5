"""The metadata filter language: parsed once into a predicate, and anything it does not know is an error.

Grammar (JSON)::

    filter    := {field: condition, ...}            every entry must hold (AND)
               | {"AND": [filter, ...]} | {"OR": [filter, ...]} | {"NOT": filter}
    condition := value                              equality (a string, number, boolean, null or list)
               | {operator: operand, ...}           every operator must hold
    operator  := eq ne gt gte lt lte in nin contains icontains

`field` names a top-level metadata key. Logical keys and fields may share one object (all must hold).
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
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


def _same(left: Any, right: Any) -> bool:
    """JSON equality: booleans never equal numbers, and 1 equals 1.0."""
    if isinstance(left, bool) or isinstance(right, bool):
        return isinstance(left, bool) and isinstance(right, bool) and left is right
    return bool(left == right)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _comparable(left: Any, right: Any) -> bool:
    return (_is_number(left) and _is_number(right)) or (isinstance(left, str) and isinstance(right, str))


def _scalar(value: Any) -> bool:
    return value is None or isinstance(value, str | int | float | bool)


class _Compiler:
    def __init__(self, max_nodes: int) -> None:
        self.nodes = 0
        self.max_nodes = max_nodes

    def _count(self) -> None:
        self.nodes += 1
        if self.nodes > self.max_nodes:
            raise FilterError(f"The filter is too large (more than {self.max_nodes} conditions). Simplify it.")

    def filter(self, spec: Any, path: str) -> Predicate:
        if not isinstance(spec, Mapping) or not spec:
            raise FilterError(f"{path} must be a non-empty JSON object. {_HELP}")
        parts: list[Predicate] = []
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
        return parts[0] if len(parts) == 1 else lambda metadata: all(part(metadata) for part in parts)

    def _logical(self, key: str, value: Any, path: str) -> Predicate:
        if key == "NOT":
            inner = self.filter(value, path)
            return lambda metadata: not inner(metadata)
        if not isinstance(value, list) or not value:
            raise FilterError(f"{path} must be a non-empty list of filters. {_HELP}")
        parts = [self.filter(item, f"{path}[{i}]") for i, item in enumerate(value)]
        if key == "AND":
            return lambda metadata: all(part(metadata) for part in parts)
        return lambda metadata: any(part(metadata) for part in parts)

    def _condition(self, field: str, value: Any, path: str) -> Predicate:
        if isinstance(value, Mapping):
            if not value:
                raise FilterError(f"{path} is an empty object; give a value or an operator. {_HELP}")
            tests = [self._operator(field, op, operand, f"{path}.{op}") for op, operand in value.items()]
            return lambda metadata: all(test(metadata) for test in tests)
        return self._operator(field, "eq", value, path)

    def _operator(self, field: str, op: Any, operand: Any, path: str) -> Predicate:
        if op not in OPERATORS:
            raise FilterError(f"Unknown filter operator {op!r} at {path}. Use one of: {', '.join(OPERATORS)}.")
        if op in ("eq", "ne"):
            if not (_scalar(operand) or isinstance(operand, list)):
                raise FilterError(f"{path} compares with an object; compare with a string, number, boolean or list.")
            if op == "eq":
                return lambda m: _same(m.get(field, _MISSING), operand)
            return lambda m: not _same(m.get(field, _MISSING), operand)
        if op in _ORDER:
            if not (_is_number(operand) or isinstance(operand, str)):
                raise FilterError(f"{path} needs a number or a string, got {type(operand).__name__}.")
            compare = _ORDER[op]
            return lambda m: _comparable(m.get(field), operand) and compare(m.get(field), operand)
        if op in ("in", "nin"):
            if not isinstance(operand, list) or not all(_scalar(item) for item in operand):
                raise FilterError(f"{path} needs a list of strings, numbers or booleans.")
            if op == "in":
                return lambda m: any(_same(m.get(field, _MISSING), item) for item in operand)
            return lambda m: not any(_same(m.get(field, _MISSING), item) for item in operand)
        if not _scalar(operand) or operand is None:
            raise FilterError(f"{path} needs a string, number or boolean.")
        if op == "icontains":
            if not isinstance(operand, str):
                raise FilterError(f"{path} needs a string.")
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
    return _Compiler(max_nodes).filter(spec, "filters")
