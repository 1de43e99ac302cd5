"""Analyzer: words and Snowball stems for the keyword leg."""

from __future__ import annotations

from memory_mcp.search.analyzer import Analyzer, words


def test_words_are_normalised_and_stopwords_dropped() -> None:
    assert words("I am in the Swiss ALPS!") == ["swiss", "alps"]
    assert words("ﬁne Ｃａｆé") == ["fine", "café"]  # NFKC folds ligatures and full-width letters


def test_inflections_share_a_stem() -> None:
    analyzer = Analyzer()
    assert analyzer.terms("hiking hikes hiked") == ["hike", "hike", "hike"]
    assert analyzer.terms("Researched the researcher's research") == ["research", "research", "research"]


def test_terms_keep_repeats_for_term_frequency() -> None:
    assert Analyzer().terms("tea, more tea, green tea") == ["tea", "tea", "green", "tea"]


def test_version_is_named() -> None:
    assert Analyzer().id == "en-snowball-v1"
