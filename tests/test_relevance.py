"""The prompt hook's rule: which search hits are worth adding to a prompt, and the shipped set's figures."""

from __future__ import annotations

import json
from pathlib import Path
from types import ModuleType

import pytest

from memory_mcp.models import Memory, MemoryId, Scope, SearchHit
from memory_mcp.relevance import Relevance

from .helpers import load_benchmark


def hit(text: str, match: str = "strong", closeness: float | None = None) -> SearchHit:
    memory = Memory(MemoryId(text[:8]), text, Scope("dana"), {}, "t", "t")
    return SearchHit(memory, 0.3, match, closeness=closeness)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def rule() -> Relevance:
    return Relevance()


DIABETES = "I have type 2 diabetes and check my blood sugar before lunch"


@pytest.mark.parametrize(
    ("prompt", "memory", "added"),
    [
        # a shared word that is not common, in a memory about how the user works: a task prompt gets it
        ("Write a pytest test for the parse_date function", "I prefer pytest with plain assert statements", True),
        ("Can we ship this release on Friday afternoon?", "Our team never deploys on Fridays", True),
        # a rule the user keeps applies to a task too
        ("suggest a dinner recipe, nothing with meat", "I'm vegetarian, no meat or fish", True),
        # a common word is no evidence ("write"), nor a number
        ("Write a limerick about a cat", "I write Python with type hints everywhere", False),
        ('Convert this JSON to YAML: {"a": 2}', "I have 2 cats", False),
        # a fact of the user's life needs a prompt about the user
        ("What year did the Berlin Wall fall?", "I live in Berlin, in Kreuzberg", False),
        ("What's the weather usually like where I live? Berlin, I mean", "I live in Berlin, in Kreuzberg", True),
        # health and family only on prompts about the user; a name the memory holds makes it about them
        ("Explain blood types and which ones are compatible", DIABETES, False),
        ("Should I worry about my blood sugar if I skip breakfast?", DIABETES, True),
        ("Which snacks are safe to pack for Mia's school trip?", "My daughter Mia is allergic to peanuts", True),
        # "how do I", "give me" and a loop's i ask for anyone
        ("How do I check blood sugar levels in a lab?", DIABETES, False),
        ("Fix the loop: for i in range(len(blood)): print(blood[i])", DIABETES, False),
    ],
)
def test_words_decide_with_the_kind_of_memory_and_of_prompt(
    rule: Relevance, prompt: str, memory: str, added: bool
) -> None:
    assert bool(rule.chosen(prompt, [hit(memory)])) is added


def test_meaning_alone_needs_a_prompt_about_the_user_and_the_closest_memory(rule: Relevance) -> None:
    vegetarian, cello = hit("I'm vegetarian", closeness=0.31), hit("I play the cello", closeness=0.22)
    assert rule.chosen("What should I cook for dinner tonight?", [cello, vegetarian]) == [vegetarian]
    assert rule.chosen("Give me a checklist for dinner parties", [cello, vegetarian]) == []  # not about the user
    far = hit("I'm vegetarian", closeness=0.15)  # below MEANING_MIN
    assert rule.chosen("What should I cook for dinner tonight?", [far]) == []
    assert rule.chosen("What should I cook tonight?", [hit("I'm vegetarian", "weak", 0.5)]) == []  # weak: never


def test_memories_about_as_close_in_meaning_as_the_closest_both_go(rule: Relevance) -> None:
    vegetarian, cello = hit("I'm vegetarian", closeness=0.266), hit("I play the cello", closeness=0.273)
    hiking = hit("I hike on weekends", closeness=0.24)  # 0.88 of the closest: not a tie
    assert rule.chosen("What should I cook for dinner tonight?", [cello, vegetarian, hiking]) == [cello, vegetarian]


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    return load_benchmark("prompt_hook")


def test_the_shipped_set_gets_the_measured_figures_through_the_real_hook(bench: ModuleType, tmp_path: Path) -> None:
    """benchmarks/prompt_hook.py through `recall.matching` and a real engine: measured 0.97 of the prompts needing
    no memory get none (goal 0.95) and 0.83 of those needing one get it (goal 0.80), 9 memories added where not
    wanted (81 with the rule before: any related hit). README quotes these figures."""
    out = tmp_path / "hook.json"
    assert bench.main(["--json", str(out)]) == 0
    figures = json.loads(out.read_text())["all"]
    assert figures["clean"] >= 0.95
    assert figures["right"] >= 0.80
    assert figures["wrong"] <= 12
