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
MEANING_WEIGHT: Final = 0.7
"""In the default embedder's cosine, the share of meaning (the static word table); the rest is spelling (hash)."""


def default_vector_weight(embedder: str) -> float:
    """The measured vector weight for an embedder kind (default, hash, openai, local)."""
    return {"default": DEFAULT_VECTOR_WEIGHT, "hash": VECTOR_WEIGHT}.get(embedder, MODEL_VECTOR_WEIGHT)


def default_min_similarity(embedder: str) -> float:
    """The cosine from which a memory counts as related to a query, for an embedder kind."""
    return DEFAULT_MIN_SIMILARITY if embedder == "default" else MIN_SIMILARITY
