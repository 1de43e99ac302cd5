"""HashEmbedder: deterministic SHA-256 feature hashing of character n-grams; no model, no network."""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Sequence
from functools import lru_cache
from typing import Final

import anyio.to_thread
import numpy as np
import numpy.typing as npt

from ..config import DEFAULT_EMBED_DIM
from ..errors import ConfigError
from ..models import Matrix, Vector
from ..search.analyzer import words

Ints = npt.NDArray[np.int64]
Keys = npt.NDArray[np.uint64]
Floats = npt.NDArray[np.float64]

VERSION: Final = "hash-v2"
MIN_DIM: Final = 16
MAX_DIM: Final = 65_536
NGRAMS: Final = (3, 4, 5)
_THREAD_BATCH: Final = 256  # batches larger than this are embedded off the event loop
_CHUNK: Final = 256  # texts embedded together: large enough to amortise numpy, small enough to stay in cache


@lru_cache(maxsize=1 << 16)
def _word_features(word: str, dim: int) -> tuple[Keys, Ints, Floats]:
    """Keys, buckets and signs of a word's character n-grams; SHA-256, so every process and platform agrees.

    The key (64 more bits of the digest) tells n-grams apart when counting repeats across words.
    """
    marked = f"<{word}>"  # the markers let prefixes and suffixes count as such
    keys, buckets, signs = [], [], []
    for n in NGRAMS:
        for i in range(len(marked) - n + 1):
            digest = hashlib.sha256(marked[i : i + n].encode("utf-8", "surrogatepass")).digest()
            buckets.append(int.from_bytes(digest[:8], "little") % dim)
            signs.append(1.0 if digest[8] & 1 else -1.0)
            keys.append(int.from_bytes(digest[9:17], "little"))
    return np.array(keys, dtype=np.uint64), np.array(buckets, dtype=np.int64), np.array(signs, dtype=np.float64)


class HashEmbedder:
    """Character 3-5-grams of each word, hashed into signed buckets, sublinear counts, L2-normalised float32.

    Texts that share words or word pieces get a positive cosine ("hiking" ~ "hikes", "destress" ~
    "de-stress", typos), texts with nothing in common score about 0. The vectors depend only on the
    text and `dim`, never on the process (no `hash()`).
    """

    def __init__(self, dim: int = DEFAULT_EMBED_DIM) -> None:
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
        vector: Vector = self.embed_many([text])[0]
        return vector

    def embed_many(self, texts: Sequence[str]) -> Matrix:
        """Unit vectors of `texts`, one row each (vectorised over chunks of a few hundred texts)."""
        if len(texts) > _CHUNK:
            return np.concatenate([self._embed_chunk(texts[i : i + _CHUNK]) for i in range(0, len(texts), _CHUNK)])
        return self._embed_chunk(texts)

    def _embed_chunk(self, texts: Sequence[str]) -> Matrix:
        features = []
        word_rows, word_counts = [], []
        for row, text in enumerate(texts):
            for word, count in Counter(words(text)).items():
                features.append(_word_features(word, self._dim))
                word_rows.append(row)
                word_counts.append(count)
        matrix = np.zeros((len(texts), self._dim), dtype=np.float32)
        if not features:
            return matrix
        keys = [feature[0] for feature in features]
        buckets = [feature[1] for feature in features]
        signs = [feature[2] for feature in features]
        lengths = [len(feature[0]) for feature in features]
        row_of = np.repeat(np.array(word_rows, dtype=np.uint64), lengths)
        repeats = np.repeat(np.array(word_counts, dtype=np.float64), lengths)
        # One key per (text, n-gram): a repeat of an n-gram within a text adds to its count, then it weighs
        # 1 + ln(count). Mixing the row in by multiplication keeps keys of different texts apart.
        with np.errstate(over="ignore"):
            combined = np.concatenate(keys) ^ (row_of * np.uint64(0x9E3779B97F4A7C15))
        _, first, inverse = np.unique(combined, return_index=True, return_inverse=True)
        counts = np.bincount(inverse, weights=repeats)
        weights = np.concatenate(signs)[first] * (1.0 + np.log(counts))
        cells = row_of[first].astype(np.int64) * self._dim + np.concatenate(buckets)[first]
        matrix += np.bincount(cells, weights=weights, minlength=matrix.size).reshape(matrix.shape).astype(np.float32)
        norms = np.linalg.norm(matrix, axis=1, keepdims=True)
        np.divide(matrix, norms, out=matrix, where=norms > 0)
        return matrix

    async def embed_documents(self, texts: Sequence[str]) -> Matrix:
        """Embed texts to store; large batches run in a worker thread to keep the event loop free."""
        if len(texts) > _THREAD_BATCH:
            return await anyio.to_thread.run_sync(self.embed_many, texts)
        return self.embed_many(texts)

    async def embed_query(self, text: str) -> Vector:
        """Embed a search query (the same space as documents)."""
        return self.embed_one(text)
