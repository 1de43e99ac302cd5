"""HashEmbedder: deterministic SHA-256 feature hashing of character n-grams; no model, no network."""

from __future__ import annotations

import hashlib
import math
from collections import Counter
from collections.abc import Sequence
from functools import lru_cache
from typing import Final

import anyio.to_thread
import numpy as np

from .analyzer import words
from .errors import ConfigError
from .models import Matrix, Vector

VERSION: Final = "hash-v2"
DEFAULT_DIM: Final = 256
MIN_DIM: Final = 16
MAX_DIM: Final = 65_536
NGRAMS: Final = (3, 4, 5)
_THREAD_BATCH: Final = 256  # batches larger than this are embedded off the event loop


@lru_cache(maxsize=1 << 16)
def _word_ngrams(word: str) -> tuple[str, ...]:
    marked = f"<{word}>"  # the markers let prefixes and suffixes count as such
    return tuple(marked[i : i + n] for n in NGRAMS for i in range(len(marked) - n + 1))


@lru_cache(maxsize=1 << 18)
def _bucket(gram: str, dim: int) -> tuple[int, float]:
    """Bucket and sign of an n-gram; SHA-256, so every process and platform agrees."""
    digest = hashlib.sha256(gram.encode("utf-8", "surrogatepass")).digest()
    return int.from_bytes(digest[:8], "little") % dim, (1.0 if digest[8] & 1 else -1.0)


class HashEmbedder:
    """Character 3-5-grams of each word, hashed into signed buckets, sublinear counts, L2-normalised float32.

    Texts that share words or word pieces get a positive cosine ("hiking" ~ "hikes", "destress" ~
    "de-stress", typos), texts with nothing in common score about 0. The vectors depend only on the
    text and `dim`, never on the process (no `hash()`).
    """

    def __init__(self, dim: int = DEFAULT_DIM) -> None:
        if not MIN_DIM <= dim <= MAX_DIM:
            raise ConfigError(f"Embedding dimension must be between {MIN_DIM} and {MAX_DIM}, got {dim}.")
        self._dim = dim

    @property
    def id(self) -> str:
        """Version and configuration, stored with the vectors, e.g. ``hash-v2-256``."""
        return f"{VERSION}-{self._dim}"

    @property
    def dim(self) -> int:
        """Length of every vector."""
        return self._dim

    def embed_one(self, text: str) -> Vector:
        """The unit vector of one text (all zeros when it has no words)."""
        counts = Counter(gram for word in words(text) for gram in _word_ngrams(word))
        vector = np.zeros(self._dim, dtype=np.float32)
        for gram, tf in counts.items():
            index, sign = _bucket(gram, self._dim)
            vector[index] += sign * (1.0 + math.log(tf))  # sublinear: a repeated piece counts less each time
        norm = float(np.linalg.norm(vector))
        if norm > 0.0:
            vector /= norm
        return vector

    def embed_many(self, texts: Sequence[str]) -> Matrix:
        """Unit vectors of `texts`, one row each."""
        matrix = np.zeros((len(texts), self._dim), dtype=np.float32)
        for row, text in enumerate(texts):
            matrix[row] = self.embed_one(text)
        return matrix

    async def embed_documents(self, texts: Sequence[str]) -> Matrix:
        """Embed texts to store; large batches run in a worker thread to keep the event loop free."""
        if len(texts) > _THREAD_BATCH:
            return await anyio.to_thread.run_sync(self.embed_many, texts)
        return self.embed_many(texts)

    async def embed_query(self, text: str) -> Vector:
        """Embed a search query (the same space as documents)."""
        return self.embed_one(text)
