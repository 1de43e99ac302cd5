"""The rules every input passes, on their own: what each accepts, how it normalises, and what it says when it
refuses (the same sentences reach the tools, the REST API and the command line)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from memory_mcp import validation
from memory_mcp.errors import InvalidInputError
from memory_mcp.models import Limits, Scope

LIMITS = Limits()


def refused(function: Any, *args: Any, **kwargs: Any) -> str:
    with pytest.raises(InvalidInputError) as caught:
        function(*args, **kwargs)
    return str(caught.value)


def test_a_scope_takes_ids_of_letters_digits_and_a_few_marks() -> None:
    assert validation.scope_of("alice@example.com", "coach:v2", "run-1.3", limits=LIMITS) == Scope(
        "alice@example.com", "coach:v2", "run-1.3", None
    )
    assert "not a valid id" in refused(validation.scope_of, "sam smith", limits=LIMITS)
    assert "not a valid id" in refused(validation.scope_of, "a/b", limits=LIMITS)
    assert "non-empty string" in refused(validation.scope_of, "", limits=LIMITS)
    assert "1-128" in refused(validation.scope_of, "x" * 129, limits=LIMITS)


def test_text_is_stripped_and_bounded_and_says_what_to_send() -> None:
    assert validation.text("text", "  Sam keeps bees \n", LIMITS) == "Sam keeps bees"
    assert refused(validation.text, "text", "   ", LIMITS) == validation.empty("text")
    assert refused(validation.text, "query", "", LIMITS) == "query is empty. Give what to look for, in a few words."
    assert "must be a string" in refused(validation.text, "text", 42, LIMITS)
    assert "NUL" in refused(validation.text, "text", "a\x00b", LIMITS)
    assert "lone surrogate" in refused(validation.text, "text", "a\ud800b", LIMITS)
    long = refused(validation.text, "text", "x" * 10_001, LIMITS)
    assert "10001 characters long; the limit is 10000" in long


def test_metadata_is_a_small_shallow_json_object_without_scope_fields() -> None:
    assert validation.metadata(None, LIMITS) == {}
    assert validation.metadata({"topic": "food", "n": [1, {"a": True}]}, LIMITS) == {
        "topic": "food",
        "n": [1, {"a": True}],
    }
    assert "JSON object" in refused(validation.metadata, ["a"], LIMITS)
    assert "may not contain 'user_id'" in refused(validation.metadata, {"user_id": "x"}, LIMITS)
    assert "nested more than 8 levels" in refused(validation.metadata, {"a": [[[[[[[[1]]]]]]]]}, LIMITS)
    assert "NaN" in refused(validation.metadata, {"x": float("nan")}, LIMITS)
    assert "the limit is 16384" in refused(validation.metadata, {"x": "y" * 20_000}, LIMITS)


def test_numbers_out_of_range_get_one_sentence() -> None:
    assert validation.limit(5, LIMITS) == 5
    assert refused(validation.limit, 0, LIMITS) == "limit must be a whole number from 1 to 100, got 0."
    assert refused(validation.limit, True, LIMITS) == "limit must be a whole number from 1 to 100, got True."
    assert validation.threshold(None) is None
    assert validation.threshold(1) == 1.0
    assert refused(validation.threshold, 2.0) == "threshold must be a number from -1 to 1, got 2."
    assert validation.out_of_range("x", 2.5, 0, 1, whole=False) == "x must be a number from 0 to 1, got 2.5."


def test_queries_are_one_wording_or_up_to_eight() -> None:
    assert validation.queries("tea", LIMITS) == ["tea"]
    assert validation.queries(["tea", " green tea "], LIMITS) == ["tea", "green tea"]
    assert "Give a query" in refused(validation.queries, [], LIMITS)
    assert "the most is 8" in refused(validation.queries, ["a"] * 9, LIMITS)


@pytest.mark.parametrize(
    ("given_", "expected"),
    [
        pytest.param("2024", "2024-01-01T00:00:00.000000Z", id="year"),
        pytest.param("2024-03", "2024-03-01T00:00:00.000000Z", id="month"),
        pytest.param("2024-03-15", "2024-03-15T00:00:00.000000Z", id="day"),
        pytest.param("2024-03-15T09:30:00+02:00", "2024-03-15T07:30:00.000000Z", id="zone"),
        pytest.param(" 2024-03-15T09:30 ", "2024-03-15T09:30:00.000000Z", id="no-zone-is-utc"),
    ],
)
def test_times_become_one_fixed_width_utc_form(given_: str, expected: str) -> None:
    assert validation.when("as_of", given_) == expected


def test_a_time_that_is_not_one_says_how_to_write_it() -> None:
    assert "write e.g. 2024-03" in refused(validation.when, "as_of", "last Tuesday")
    assert "must be an ISO 8601" in refused(validation.when, "as_of", 2024)


def test_entities_collapse_spaces_and_drop_repeats_ignoring_case() -> None:
    assert validation.entities([" Alice  Martin", "alice martin", "Paris"], LIMITS) == ("Alice Martin", "Paris")
    assert validation.entity_key("Alice_Martin") == validation.entity_key("alice   martin") == "alice martin"
    assert "at most 20" in refused(validation.entities, [f"e{n}" for n in range(21)], LIMITS)
    assert "non-empty name" in refused(validation.entities, [""], LIMITS)


def test_link_types_are_known_types_or_short_labels() -> None:
    assert validation.link_type("part_of") == "part_of"
    assert validation.link_type("works with") == "works_with"
    assert "not a link type" in refused(validation.link_type, "a/b")
    assert "link type such as" in refused(validation.link_type, " ")


@given(st.text(max_size=60))
def test_the_content_hash_ignores_case_width_and_spacing(text: str) -> None:
    spaced = "  " + text.upper().replace(" ", "   ") + " "
    assert validation.normalise(spaced) == validation.normalise(text.upper())
    assert validation.content_hash(text) == validation.content_hash(validation.normalise(text))


def test_a_search_looks_for_its_query_then_its_other_wordings_or_says_what_to_give() -> None:
    assert validation.wordings("tea", ["green tea"]) == ["tea", "green tea"]
    assert validation.wordings(None, ["chai"]) == ["chai"]
    assert refused(validation.wordings, None, []) == validation.NO_QUERY
