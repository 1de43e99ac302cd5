"""The metadata filter language: each operator, the logical keys, and loud errors."""

from __future__ import annotations

from typing import Any

import pytest

from memory_mcp.errors import FilterError
from memory_mcp.filters import compile_filter

DOC = {"topic": "food", "rating": 4, "price": 12.5, "tags": ["work", "Urgent"], "done": False, "note": None}


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        pytest.param({"topic": "food"}, True, id="equality"),
        pytest.param({"topic": "travel"}, False, id="equality-miss"),
        pytest.param({"topic": {"eq": "food"}}, True, id="eq"),
        pytest.param({"topic": {"ne": "food"}}, False, id="ne"),
        pytest.param({"missing": {"ne": "x"}}, True, id="ne-on-missing-field"),
        pytest.param({"rating": {"gt": 3}}, True, id="gt"),
        pytest.param({"rating": {"gt": 4}}, False, id="gt-strict"),
        pytest.param({"rating": {"gte": 4, "lte": 4}}, True, id="range"),
        pytest.param({"price": {"lt": 12.5}}, False, id="lt-float"),
        pytest.param({"topic": {"gte": "a"}}, True, id="string-order"),
        pytest.param({"topic": {"gt": 1}}, False, id="string-vs-number-never-matches"),
        pytest.param({"rating": {"in": [1, 4]}}, True, id="in"),
        pytest.param({"rating": {"nin": [1, 4]}}, False, id="nin"),
        pytest.param({"missing": {"nin": [1]}}, True, id="nin-on-missing-field"),
        pytest.param({"tags": {"contains": "work"}}, True, id="contains-list"),
        pytest.param({"tags": {"contains": "urgent"}}, False, id="contains-is-case-sensitive"),
        pytest.param({"tags": {"icontains": "urgent"}}, True, id="icontains-list"),
        pytest.param({"topic": {"contains": "oo"}}, True, id="contains-substring"),
        pytest.param({"topic": {"icontains": "FOO"}}, True, id="icontains-substring"),
        pytest.param({"done": False}, True, id="boolean"),
        pytest.param({"done": 0}, False, id="boolean-is-not-a-number"),
        pytest.param({"rating": 4.0}, True, id="int-equals-float"),
        pytest.param({"note": None}, True, id="null"),
        pytest.param({"missing": None}, False, id="missing-is-not-null"),
        pytest.param({"tags": ["work", "Urgent"]}, True, id="list-equality"),
        pytest.param({"topic": "food", "rating": 5}, False, id="implicit-and"),
        pytest.param({"AND": [{"topic": "food"}, {"rating": 4}]}, True, id="AND"),
        pytest.param({"OR": [{"topic": "travel"}, {"rating": 4}]}, True, id="OR"),
        pytest.param({"NOT": {"topic": "food"}}, False, id="NOT"),
        pytest.param({"OR": [{"NOT": {"done": False}}, {"AND": [{"rating": {"gte": 4}}]}]}, True, id="nested"),
    ],
)
def test_filter_semantics(spec: dict[str, Any], expected: bool) -> None:
    assert compile_filter(spec)(DOC) is expected


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        pytest.param({"rating": {"greater": 3}}, "Unknown filter operator 'greater'", id="unknown-operator"),
        pytest.param({"rating": {"$gt": 3}}, "Unknown filter operator", id="mongo-style"),
        pytest.param({}, "non-empty JSON object", id="empty"),
        pytest.param([], "non-empty JSON object", id="not-an-object"),
        pytest.param({"or": [{"a": 1}]}, "upper case", id="lower-case-logical"),
        pytest.param({"OR": []}, "non-empty list", id="empty-or"),
        pytest.param({"OR": {"a": 1}}, "non-empty list", id="or-not-a-list"),
        pytest.param({"NOT": 3}, "non-empty JSON object", id="not-of-a-number"),
        pytest.param({"a": {"in": 3}}, "needs a list", id="in-not-a-list"),
        pytest.param({"a": {"gt": [1]}}, "number or a string", id="gt-of-a-list"),
        pytest.param({"a": {}}, "empty object", id="empty-condition"),
        pytest.param({"a": {"eq": {"b": 1}}}, "compares with an object", id="eq-object"),
        pytest.param({"user_id": "bob"}, "part of the scope", id="scope-field"),
        pytest.param({"a": {"contains": None}}, "string, number or boolean", id="contains-null"),
    ],
)
def test_malformed_filters_are_errors_not_ignored(spec: Any, message: str) -> None:
    with pytest.raises(FilterError, match=message):
        compile_filter(spec)


def test_a_huge_filter_is_refused() -> None:
    spec = {"OR": [{f"k{i}": i} for i in range(100)]}
    with pytest.raises(FilterError, match="too large"):
        compile_filter(spec, max_nodes=64)


@pytest.mark.parametrize(
    ("spec", "metadata", "expected"),
    [
        pytest.param({"n": 1e23}, {"n": 99999999999999991611392}, False, id="float-vs-int-by-decimal-value"),
        pytest.param({"n": 1.0}, {"n": 1}, True, id="int-equals-float"),
        pytest.param({"n": {"gt": 9007199254740992.0}}, {"n": 9007199254740993}, True, id="order-int-vs-float-exact"),
        pytest.param({"l": [True]}, {"l": [1]}, False, id="list-items-keep-json-types"),
        pytest.param({"l": [1.0, "a"]}, {"l": [1, "a"]}, True, id="list-items-numbers-by-value"),
        pytest.param({"l": [{"a": 1}]}, {"l": [{"a": True}]}, False, id="objects-in-lists-item-by-item"),
    ],
)
def test_values_compare_as_json(spec: dict[str, Any], metadata: dict[str, Any], expected: bool) -> None:
    assert compile_filter(spec)(metadata) is expected
