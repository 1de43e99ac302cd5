"""The fused search score's constants, shared by the in-memory index and PostgreSQL's SQL so both rank alike.

score = (1 - w) * BM25 / (best BM25 the query could reach) + w * cosine, with w the vector weight
(measured per embedder, see `config`). BM25 uses K1 and B below; IDF = ln((N - df + 0.5) / (df + 0.5) + 1).
Without a threshold, a hit counts as related when it shares a term or its cosine reaches `min_similarity`.
"""

from __future__ import annotations

from typing import Final

K1: Final = 1.2
"""BM25 term-frequency saturation."""
B: Final = 0.5
"""BM25 length normalisation (memories are short and alike in length, so it is weaker than the usual 0.75)."""
