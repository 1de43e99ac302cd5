"""The search score's constants: the BM25 parameters, each embedder's measured vector weight and relatedness
threshold, and the score bands of a near-duplicate and a related memory. Plain values, shared by the in-memory
index, PostgreSQL's SQL and the engine, so that every backend ranks alike.

score = (1 - w) * BM25 / (best BM25 the query could reach) + w * cosine, with w the vector weight
(measured per embedder, below). BM25 uses K1 and B; IDF = ln((N - df + 0.5) / (df + 0.5) + 1).
Without a threshold, a hit counts as related when it shares a term or its cosine reaches the min similarity.
"""

from __future__ import annotations

from typing import Final

K1: Final = 1.2
"""BM25 term-frequency saturation."""
B: Final = 0.5
"""BM25 length normalisation (memories are short and alike in length, so it is weaker than the usual 0.75)."""
VECTOR_WEIGHT: Final = 0.1
"""Share of cosine similarity in the fused search score with the hash embedder alone (measured on LoCoMo)."""
DEFAULT_VECTOR_WEIGHT: Final = 0.3
"""Vector weight with the default embedder (spelling + meaning): best on LoCoMo's first half, checked on the second."""
MODEL_VECTOR_WEIGHT: Final = 0.3
"""Vector weight with a real embedding model: best on LoCoMo's first half, checked on the second."""
MIN_SIMILARITY: Final = 0.3
"""Without a threshold, a hit must share a search term with the query or reach this cosine to count as related
(hash embedder and models)."""
DEFAULT_MIN_SIMILARITY: Final = 0.2
"""The same with the default embedder, whose cosines run lower: 85% of the personal set's questions reach their fact,
3.7% of the other facts do (benchmarks/data/personal_memory.json)."""
DUPLICATE_SCORE: Final = 0.5
"""From this search score, a stored memory counts as a near-duplicate of a new one. Measured with the default
embedder: 15 of 20 restatements of personal facts reach it; 2.4% of LoCoMo's turns reach it against the same
speaker's earlier turns, which are mostly distinct (99th percentile 0.555)."""
RELATED_SCORE: Final = 0.35
"""From this score it counts as related (likely about the same thing): 19 of 20 restatements reach it."""
MEANING_ROOM: Final = 1
"""Places kept for the meaning leg right after the best result, with the default embedder: the memory closest in
centred meaning (see `meaning`) that is not the best already. Measured on the dev data (benchmarks/
retrieval_locomo.py) against none: a personal fact sharing no word with its question is in the top 3 for 0.56 of
questions among 300 turns of chatter instead of 0.20, while LoCoMo R@5 falls from 0.569 to 0.551 (BM25: 0.531) and
R@10 stays 0.645. Two places gave 0.69 but R@5 0.534, below BM25 on the first half and on temporal questions."""
MODEL_MEANING_ROOM: Final = 2
"""The same with an embedding model, whose meaning is surer: two places took the crowd's top 3 from 0.27 (none) to
0.81 among 300 turns, above the model alone (0.72), for LoCoMo R@5 0.588 (one place: 0.73 and 0.599)."""
MEANING_MIN: Final = 0.2
"""The centred meaning (see `meaning`) from which a memory may take the meaning leg's room: of the personal set's
facts sharing no word with their question, 0.67 reach it among their user's facts alone and 0.90 among 300 turns of
chatter; a memory on another subject seldom does (a cooking question against a nurse, a hike and a sister: 0.12 at
most), though some chatter does."""
MEANING_WEIGHT: Final = 0.7
"""In the default embedder's cosine, the share of meaning (the static word table); the rest is spelling (hash)."""


def default_vector_weight(embedder: str) -> float:
    """The measured vector weight for an embedder kind (default, hash, openai, local)."""
    return {"default": DEFAULT_VECTOR_WEIGHT, "hash": VECTOR_WEIGHT}.get(embedder, MODEL_VECTOR_WEIGHT)


def default_meaning_room(embedder: str) -> int:
    """The places the meaning leg takes after the best result, for an embedder kind (none for hash alone)."""
    return {"default": MEANING_ROOM, "hash": 0}.get(embedder, MODEL_MEANING_ROOM)


def default_min_similarity(embedder: str) -> float:
    """The cosine from which a memory counts as related to a query, for an embedder kind."""
    return DEFAULT_MIN_SIMILARITY if embedder == "default" else MIN_SIMILARITY
