"""HashEmbedder: deterministic SHA-256 feature hashing of character n-grams; no model, no network."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from itertools import chain
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
_CHUNK: Final = 256  # texts embedded together (at most 256: a row number has 8 bits), to amortise numpy
_CACHED: Final = 1 << 15  # words whose n-grams are remembered, about 10 MB at most (then the memory starts over)
_ROW_SHIFT: Final = np.uint64(56)  # a chunk's row number sits in the top 8 bits of each packed n-gram
_KEY_BITS: Final = 39  # bits of digest that tell n-grams apart (a collision inside one text: ~1 in 10^7)
_BUCKET_SHIFT: Final = np.uint64(1)
_BUCKET_MASK: Final = np.uint64(MAX_DIM - 1)


def _word_features(word: str, dim: int) -> Keys:
    """A word's character n-grams, each packed in 64 bits: key (39 bits) | bucket (16) | sign (1).

    SHA-256, so every process and platform agrees; the key (more bits of the digest) tells n-grams apart
    when counting repeats within a text, and packing all three lets one sort of plain integers count them.
    """
    marked = f"<{word}>"  # the markers let prefixes and suffixes count as such
    packed = []
    for n in NGRAMS:
        for i in range(len(marked) - n + 1):
            digest = hashlib.sha256(marked[i : i + n].encode("utf-8", "surrogatepass")).digest()
            bucket = int.from_bytes(digest[:8], "little") % dim
            key = int.from_bytes(digest[9:17], "little") & ((1 << _KEY_BITS) - 1)
            packed.append(key << 17 | bucket << 1 | (digest[8] & 1))
    return np.array(packed, dtype=np.uint64)


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
        self._known: dict[str, Keys] = {}  # each word's packed n-grams: SHA-256 runs once per distinct word

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
        # Every occurrence of every word, repeats included: a word said twice counts its n-grams twice.
        per_text = [words(text) for text in texts]
        every = list(chain.from_iterable(per_text))
        known = self._known
        features: list[Keys] = []
        for word in every:
            found = known.get(word)
            if found is None:
                if len(known) >= _CACHED:
                    known.clear()
                found = known[word] = _word_features(word, self._dim)
            features.append(found)
        rows = np.repeat(np.arange(len(texts), dtype=np.uint64), [len(found) for found in per_text])
        matrix = np.zeros((len(texts), self._dim), dtype=np.float32)
        if not features:
            return matrix
        lengths = np.fromiter(map(len, features), dtype=np.int64, count=len(features))
        # One integer per (text, n-gram occurrence): the row in the top bits keeps texts apart, so after one
        # sort the runs of equal integers are the repeats of an n-gram within a text; it weighs 1 + ln(count).
        packed = np.concatenate(features)
        packed |= np.repeat(rows << _ROW_SHIFT, lengths)
        packed.sort()
        starts = np.flatnonzero(np.concatenate(([True], packed[1:] != packed[:-1])))
        counts = np.diff(np.append(starts, len(packed)))
        distinct = packed[starts]
        signs = np.where(distinct & np.uint64(1), 1.0, -1.0)
        buckets = ((distinct >> _BUCKET_SHIFT) & _BUCKET_MASK).astype(np.int64)
        cells = (distinct >> _ROW_SHIFT).astype(np.int64) * self._dim + buckets
        weights = signs * (1.0 + np.log(counts))
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
