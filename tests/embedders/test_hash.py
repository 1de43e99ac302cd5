"""HashEmbedder: deterministic character n-gram hashing into unit-length vectors."""

from __future__ import annotations

import hashlib
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from memory_mcp.embedders import HashEmbedder
from memory_mcp.errors import ConfigError


def test_id_names_version_and_dimension() -> None:
    assert HashEmbedder(512).id == "hash-v2-512"
    assert HashEmbedder().dim == 256


@pytest.mark.parametrize("dim", [0, 8, 1 << 20])
def test_rejects_unusable_dimensions(dim: int) -> None:
    with pytest.raises(ConfigError, match="dimension"):
        HashEmbedder(dim)


def test_same_vector_in_another_process_with_another_hash_seed() -> None:
    """SHA-256, not hash(): a fresh interpreter with a different PYTHONHASHSEED gives identical bytes."""
    text = "I love hiking in the Swiss Alps"
    code = (
        "import sys; from memory_mcp.embedders import HashEmbedder; "
        f"sys.stdout.write(HashEmbedder(256).embed_one({text!r}).tobytes().hex())"
    )
    here = HashEmbedder(256).embed_one(text).tobytes().hex()
    for seed in ("1", "12345"):
        out = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True, env={"PYTHONHASHSEED": seed}
        )
        assert out.stdout == here


def test_known_vector_is_stable_across_releases() -> None:
    """A change to tokenising or hashing must bump the version: this pins buckets of hash-v2-64."""
    vector = HashEmbedder(64).embed_one("hiking hiking alps")
    nonzero = {int(i): round(float(vector[i]), 4) for i in np.flatnonzero(vector)}
    assert len(nonzero) == 22
    assert {i: nonzero[i] for i in (1, 7, 17, 60)} == {1: -0.2348, 7: 0.3735, 17: -0.0961, 60: 0.2348}


def test_ngrams_shared_by_several_words_are_counted_as_in_hash_v2() -> None:
    """N-grams repeated across the words of a text weigh 1 + ln(count), as hash-v2 always did (pinned with the
    release before the packed-integer counting: every bucket of this text, rounded)."""
    text = "Thinking thinkers think things through; then they thank them, thinking again."
    vector = HashEmbedder(256).embed_one(text)
    nonzero = [(int(i), round(float(vector[i]), 4)) for i in np.flatnonzero(vector)]
    assert len(nonzero) == 47
    assert hashlib.sha256(repr(nonzero).encode()).hexdigest()[:16] == "9e41e7f2f8c5394e"


def test_query_word_finds_the_sentence_that_contains_it() -> None:
    embedder = HashEmbedder()
    memories = [
        "I love hiking in the Swiss Alps",
        "My sister Anna lives in Berlin",
        "Allergic to peanuts",
        "Works as a nurse at the city hospital",
        "Prefers tea over coffee in the morning",
    ]
    scores = embedder.embed_many(memories) @ embedder.embed_one("hiking")
    assert memories[int(np.argmax(scores))] == "I love hiking in the Swiss Alps"
    assert scores[0] > 0.4
    assert np.all(np.abs(scores[1:]) < 0.2)


def test_an_edit_keeps_the_vector_close() -> None:
    """Unlike hashing the whole text, changing one word leaves most of the similarity."""
    embedder = HashEmbedder()
    before = embedder.embed_one("My favourite food is sushi with green tea")
    after = embedder.embed_one("My favourite food is sushi with black tea")
    assert float(before @ after) > 0.6


@pytest.mark.parametrize(
    ("query", "memory"),
    [
        pytest.param("hikking", "I love hiking in the Swiss Alps", id="typo"),
        pytest.param("destress", "I have been running farther to de-stress", id="hyphen"),
        pytest.param("photographer", "She takes photographs of birds", id="morphology"),
    ],
)
def test_word_pieces_match_across_spelling(query: str, memory: str) -> None:
    embedder = HashEmbedder()
    unrelated = embedder.embed_one("My sister Anna lives in Berlin")
    assert float(embedder.embed_one(query) @ embedder.embed_one(memory)) > 0.3
    assert float(embedder.embed_one(query) @ unrelated) < 0.2


def test_case_and_stopwords_do_not_matter() -> None:
    embedder = HashEmbedder()
    assert float(embedder.embed_one("The Swiss ALPS") @ embedder.embed_one("swiss alps")) == pytest.approx(1.0)


def test_text_without_words_is_the_zero_vector() -> None:
    assert not np.any(HashEmbedder().embed_one("!!! ... ???"))


@given(st.text(max_size=200))
def test_vectors_are_unit_length_or_zero(text: str) -> None:
    vector = HashEmbedder(128).embed_one(text)
    assert vector.dtype == np.float32
    norm = float(np.linalg.norm(vector))
    assert norm == pytest.approx(1.0, abs=1e-5) or norm == 0.0


@given(st.lists(st.text(max_size=50), max_size=8))
async def test_batch_equals_one_by_one(texts: list[str]) -> None:
    embedder = HashEmbedder(64)
    batch = await embedder.embed_documents(texts)
    assert batch.shape == (len(texts), 64)
    for row, text in zip(batch, texts, strict=True):
        np.testing.assert_array_equal(row, embedder.embed_one(text))


async def test_large_batches_give_the_same_vectors_off_the_event_loop() -> None:
    embedder = HashEmbedder(64)
    texts = [f"memory number {i} about topic {i % 7}" for i in range(600)]
    np.testing.assert_array_equal(await embedder.embed_documents(texts), embedder.embed_many(texts))
