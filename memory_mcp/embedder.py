"""HashEmbedder: deterministic SHA-256 feature hashing of words into signed buckets; no model, no network."""

from __future__ import annotations

import hashlib
import math
import re
import unicodedata
from collections import Counter
from collections.abc import Sequence
from functools import lru_cache
from typing import Final

import anyio.to_thread
import numpy as np

from .errors import ConfigError
from .models import Matrix, Vector

VERSION: Final = "hash-v1"
MIN_DIM: Final = 16
MAX_DIM: Final = 65_536
_THREAD_BATCH: Final = 256  # batches larger than this are embedded off the event loop

_WORD = re.compile(r"\w+")

# Function words carry no meaning of their own; left in, they make every text look alike.
_STOPWORD_TEXT: Final = """
    a about above after again against all am an and any are as at be because been before being below
    between both but by can could did do does doing down during each few for from further had has have
    having he her here hers herself him himself his how i if in into is it its itself just me more most
    my myself no nor not now of off on once only or other our ours ourselves out over own same she should
    so some such than that the their theirs them themselves then there these they this those through to
    too under until up very was we were what when where which while who whom why will with would you
    your yours yourself yourselves s t d ll m re ve
"""
STOPWORDS: Final = frozenset(_STOPWORD_TEXT.split())


def tokens(text: str) -> list[str]:
    """Split `text` into normalised words: NFKC, case-folded, stopwords dropped."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    return [word for word in _WORD.findall(folded) if word not in STOPWORDS]


@lru_cache(maxsize=1 << 17)
def _bucket(token: str, dim: int) -> tuple[int, float]:
    """Bucket and sign of a token; SHA-256 so that every process and platform agrees."""
    digest = hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()
    index = int.from_bytes(digest[:8], "little") % dim
    sign = 1.0 if digest[8] & 1 else -1.0
    return index, sign


class HashEmbedder:
    """Feature hashing of words with sublinear term frequency, L2-normalised float32 vectors.

    Two texts that share words get a positive cosine; texts with no word in common score about 0.
    The vectors depend only on the text and `dim`, never on the process (no `hash()`).
    """

    def __init__(self, dim: int = 1024) -> None:
        if not MIN_DIM <= dim <= MAX_DIM:
            raise ConfigError(f"Embedding dimension must be between {MIN_DIM} and {MAX_DIM}, got {dim}.")
        self._dim = dim

    @property
    def id(self) -> str:
        """Version and configuration, stored with the vectors, e.g. ``hash-v1-1024``."""
        return f"{VERSION}-{self._dim}"

    @property
    def dim(self) -> int:
        """Length of every vector."""
        return self._dim

    def embed_one(self, text: str) -> Vector:
        """The unit vector of one text (all zeros when it has no words)."""
        vector = np.zeros(self._dim, dtype=np.float32)
        for token, count in Counter(tokens(text)).items():
            index, sign = _bucket(token, self._dim)
            vector[index] += sign * (1.0 + math.log(count))
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
