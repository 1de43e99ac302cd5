"""StaticEmbedder: meaning from a word table distilled from all-MiniLM-L6-v2, shipped in the package; numpy only."""

from __future__ import annotations

import functools
import json
import unicodedata
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Final

import numpy as np
import numpy.typing as npt

from ..errors import ConfigError
from ..models import Matrix, Vector
from ..search.analyzer import words

TABLE: Final = "minilm-static"
"""The shipped table's file names start with this (see scripts/distill_static.py, which makes it)."""
_MAX_PIECES: Final = 3  # a word of more pieces than this is a name, a code or a typo: its pieces mean nothing
_MIN_PIECE: Final = 3  # nor do pieces shorter than this ("hi" + "##kk" + "##ing" is not about greetings)
_MIN_FIRST: Final = 4  # and the first piece must be a stem of its own ("all" + "##ergy" is not about "all")
_CACHED: Final = 1 << 14  # words whose rows are remembered, about 25 MB at most (then the memory starts over)
_GROUP: Final = 256  # texts summed together, sorted by length so that little is padding


def _strip_accents(word: str) -> str:
    """As the source model's uncased tokenizer sees a word: decomposed, without combining marks."""
    return "".join(c for c in unicodedata.normalize("NFD", word) if unicodedata.category(c) != "Mn")


def _forms(word: str) -> list[str]:
    """The word, then the base forms an English inflection may hide: plural, -ing, -ed (most likely first)."""
    forms = [word]
    for suffix, replacements in (
        ("ies", ("y",)),
        ("es", ("", "e")),
        ("s", ("",)),
        ("ing", ("", "e")),
        ("ed", ("", "e")),
    ):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            forms += [word[: -len(suffix)] + replacement for replacement in replacements]
    return forms


class StaticEmbedder:
    """Each word's row of a static table (WordPiece pieces for words the table lacks), summed and normalised.

    The rows carry their weight already (rare words weigh more than common ones), so a text's vector is
    the direction of what it is about: "vegetarian" lands near "meat" and "diet", "job" near "work". It
    knows English words, not names or typos: the hash embedder and the keyword leg cover those.
    """

    def __init__(self, folder: Path | None = None) -> None:
        where = folder or Path(str(resources.files(__package__).joinpath("data")))
        self._vocabulary = where / f"{TABLE}.vocab.txt"
        if not self._vocabulary.is_file():
            raise ConfigError(f"The static word table is missing or damaged in {where}: no {self._vocabulary.name}.")
        try:
            info = json.loads((where / f"{TABLE}.json").read_text(encoding="utf-8"))
            self._vectors: npt.NDArray[np.int8] = np.load(where / f"{TABLE}.vectors.npy", mmap_mode="r")
            self._scales: npt.NDArray[np.float32] = np.load(where / f"{TABLE}.scales.npy")
        except (OSError, ValueError) as exc:
            raise ConfigError(f"The static word table is missing or damaged in {where}: {exc}. Reinstall.") from None
        self._dim = int(info["dim"])
        self._version = str(info["sha256"])[:8]
        self._known: dict[str, tuple[int, ...]] = {}
        self._words: dict[str, Vector] = {}

    @functools.cached_property
    def _rows(self) -> dict[str, int]:
        """Each token's row, read on first use: a command that never embeds (a listing) never pays for it."""
        try:
            tokens = self._vocabulary.read_text(encoding="utf-8").split("\n")
        except OSError as exc:
            raise ConfigError(f"The static word table's vocabulary cannot be read: {exc}. Reinstall.") from None
        return dict(zip(tokens[: len(self._scales)], range(len(self._scales)), strict=False))  # 6x a comprehension

    @property
    def id(self) -> str:
        """``minilm-static-<dim>-<table digest>``: a new table is a new embedder."""
        return f"{TABLE}-{self._dim}-{self._version}"

    @property
    def dim(self) -> int:
        """Length of every vector."""
        return self._dim

    def words(self) -> list[str]:
        """The table's whole words (no pieces), most frequent first."""
        return [token for token in self._rows if not token.startswith("##")]

    def pieces(self, word: str) -> tuple[int, ...]:
        """The table rows of one word (remembered: a vocabulary is small next to the texts that use it)."""
        found = self._known.get(word)
        if found is None:
            if len(self._known) >= _CACHED:
                self._known.clear()
            found = self._known[word] = self._pieces(word)
        return found

    def _pieces(self, word: str) -> tuple[int, ...]:
        """The table rows of one word: itself or its base form ("migraines" -> "migraine"), else the WordPiece
        pieces of one of those (longest first) when they are few and long enough to mean something; else ()."""
        row = self._rows.get(word)
        if row is not None:
            return (row,)
        forms = _forms(_strip_accents(word))
        for form in forms:
            row = self._rows.get(form)
            if row is not None:
                return (row,)
        for form in forms:
            pieces = self._split(form)
            if pieces:
                return pieces
        return ()

    def _split(self, word: str) -> tuple[int, ...]:
        pieces: list[int] = []
        start = 0
        while start < len(word):
            end = len(word)
            while end > start:
                piece = word[start:end] if start == 0 else "##" + word[start:end]
                found = self._rows.get(piece)
                if found is not None:
                    pieces.append(found)
                    break
                end -= 1
            if end == start or len(pieces) > _MAX_PIECES or end - start < (_MIN_FIRST if start == 0 else _MIN_PIECE):
                return ()
            start = end
        return tuple(pieces)

    def embed_many(self, texts: Sequence[str]) -> Matrix:
        """Unit vectors of `texts`, one row each (all zeros for a text with no known word)."""
        rows: list[int] = []
        counts = np.zeros(len(texts), dtype=np.int64)
        known, pieces = self._known, self.pieces
        for position, text in enumerate(texts):
            before = len(rows)
            for word in words(text):
                found = known.get(word)
                rows.extend(pieces(word) if found is None else found)
            counts[position] = len(rows) - before
        matrix = np.zeros((len(texts), self._dim), dtype=np.float32)
        if rows:
            index = np.asarray(rows, dtype=np.int64)
            offsets = np.concatenate(([0], np.cumsum(counts)))
            # Texts of similar length together, padded to the longest (weight 0): one batched matrix product
            # sums each text's rows, many times faster than a per-segment reduction.
            order = np.argsort(counts, kind="stable")
            for start in range(0, len(texts), _GROUP):
                members = order[start : start + _GROUP]
                longest = int(counts[members].max())
                if longest == 0:
                    continue
                rows_of = np.zeros((len(members), longest), dtype=np.int64)
                filled = np.arange(longest)[None, :] < counts[members][:, None]
                rows_of[filled] = np.concatenate([index[offsets[m] : offsets[m + 1]] for m in members])
                weights = np.where(filled, self._scales[rows_of], np.float32(0.0))
                gathered = self._vectors[rows_of].astype(np.float32)
                matrix[members] = np.matmul(weights[:, None, :], gathered)[:, 0, :]
            norms = np.linalg.norm(matrix, axis=1, keepdims=True)
            np.divide(matrix, norms, out=matrix, where=norms > 0)
        return matrix

    def word_vectors(self, words: Sequence[str]) -> Matrix:
        """Each word's own unit vector (its rows summed: a word the table does not know is all zeros), one row per
        word, for word-by-word comparisons (`search.ranker`)."""
        cached, found = self._words, []
        for word in words:
            vector = cached.get(word)
            if vector is None:
                if len(cached) >= _CACHED:
                    cached.clear()
                pieces = self.pieces(word)
                vector = np.zeros(self._dim, dtype=np.float32)
                if pieces:
                    vector = (self._vectors[list(pieces)].astype(np.float32) * self._scales[list(pieces), None]).sum(0)
                    norm = float(np.linalg.norm(vector))
                    vector = vector / norm if norm > 0 else vector
                cached[word] = vector
            found.append(vector)
        return np.stack(found) if found else np.zeros((0, self._dim), dtype=np.float32)

    def embed_one(self, text: str) -> Vector:
        """The unit vector of one text."""
        vector: Vector = self.embed_many([text])[0]
        return vector

    async def embed_documents(self, texts: Sequence[str]) -> Matrix:
        """Embed texts to store (table lookups: fast enough to stay on the event loop)."""
        return self.embed_many(texts)

    async def embed_query(self, text: str) -> Vector:
        """Embed a search query (the same space as documents)."""
        return self.embed_one(text)
