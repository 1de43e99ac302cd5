"""The meaning leg's centred cosine: the expanded formula against its definition, on a combined vector's slice."""

from __future__ import annotations

import numpy as np
import pytest

from memory_mcp.meaning import NONE, centred, meaning_query
from memory_mcp.models import Meaning

SPELLING, MEANING = 6, 10
PART = Meaning(SPELLING, SPELLING + MEANING, float(np.sqrt(0.7)))


def unit(rows: np.ndarray) -> np.ndarray:
    normed: np.ndarray = rows / np.linalg.norm(rows, axis=-1, keepdims=True)
    return normed


def combined(spelling: np.ndarray, meaning: np.ndarray) -> np.ndarray:
    """Vectors laid out as the default embedder's: spelling scaled by sqrt(0.3), then meaning by sqrt(0.7)."""
    return np.concatenate([spelling * np.sqrt(0.3), meaning * np.sqrt(0.7)], axis=-1).astype(np.float32)


def test_the_centred_cosine_is_the_cosine_after_taking_away_the_scopes_mean_meaning() -> None:
    rng = np.random.default_rng(7)
    meanings = unit(rng.standard_normal((40, MEANING)) + 2.0)  # a shared direction, as chatter has
    stored = combined(unit(rng.standard_normal((40, SPELLING))), meanings)
    asked_meaning = unit(rng.standard_normal(MEANING) + 2.0)
    query = combined(unit(rng.standard_normal(SPELLING)), asked_meaning)

    asked = meaning_query(query, stored.sum(axis=0, dtype=np.float64), len(stored), PART)
    assert asked is not None
    found = centred(stored @ asked.probe, asked)

    mean = meanings.mean(axis=0)
    expected = unit(meanings - mean) @ unit(asked_meaning - mean)
    assert found == pytest.approx(expected, abs=1e-5)
    plain = meanings @ asked_meaning
    assert np.argsort(-found)[:5].tolist() != np.argsort(-plain)[:5].tolist()  # centring changes the order


def test_a_memory_without_meaning_ranks_below_every_other() -> None:
    rng = np.random.default_rng(3)
    stored = combined(unit(rng.standard_normal((5, SPELLING))), unit(rng.standard_normal((5, MEANING))))
    stored[2, SPELLING:] = 0.0  # a text of names only: spelling, no meaning
    stored[2, :SPELLING] = unit(stored[2, :SPELLING])
    query = combined(unit(rng.standard_normal(SPELLING)), unit(rng.standard_normal(MEANING)))
    asked = meaning_query(query, stored.sum(axis=0, dtype=np.float64), 5, PART)
    assert asked is not None
    found = centred(stored @ asked.probe, asked)
    assert found[2] == NONE
    assert all(score > NONE for position, score in enumerate(found) if position != 2)


def test_no_meaning_query_for_an_empty_scope_or_a_query_without_meaning() -> None:
    rng = np.random.default_rng(1)
    query = combined(unit(rng.standard_normal(SPELLING)), unit(rng.standard_normal(MEANING)))
    assert meaning_query(query, np.zeros(len(query)), 0, PART) is None
    query[SPELLING:] = 0.0
    assert meaning_query(query, np.ones(len(query)), 3, PART) is None
