"""The second stage of search: the candidates of both legs ranked by a small model fitted on dev questions.

The first stage gathers candidates: the best by the fused score (words and vectors) and the closest in centred
meaning. The second scores each (question, memory) pair by what it can see of the pair:

- **keyword**: BM25 of the shared words, saturated and scaled to 0-1 (`IndexHit.keyword`);
- **coverage**: the share of the question's word weight (IDF) found in the memory, each word once;
- **closeness**: meaning measured against the user's average (`meaning.centred`);
- **alignment**: for each word of the question, its best cosine with a word of the memory in the word table,
  averaged (a cheap MaxSim: "keep fit" finds "swimming" where the two texts' mean vectors blur);
- **similarity**: the cosine of the two vectors (`IndexHit.similarity`).

The score is a weighted sum of these, weights fitted by logistic regression on LoCoMo dev questions for one
embedder (scripts/fit_ranker.py, which writes data/ranker.json for the default and data/ranker-<embedder>.json for
a local model, and prints the figures of each half ranked by weights fitted on the other).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Final

import numpy as np
import numpy.typing as npt

from ..errors import ConfigError
from ..models import IndexHit, Matrix, MemoryId
from ..protocols import WordMeaning
from .analyzer import words

FEATURES: Final = ("keyword", "coverage", "closeness", "alignment", "similarity")
"""The features, in the order of the shipped weights."""
DATA: Final = "ranker.json"


@dataclass(frozen=True)
class Weights:
    """A fitted linear scorer: one weight per feature (`FEATURES`), how many candidates to rank, and its source."""

    weights: tuple[float, ...]
    pool: int
    meaning_pool: int
    about: str

    @classmethod
    def load(cls, path: Path | None = None) -> Weights:
        """The shipped weights of the default embedder (or those at `path`)."""
        where = path or shipped(DATA)
        try:
            found = json.loads(where.read_text(encoding="utf-8"))
            weights = tuple(float(found["weights"][name]) for name in FEATURES)
            return cls(weights, int(found["pool"]), int(found["meaning_pool"]), str(found.get("about", "")))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            what = f"no value for {exc}" if isinstance(exc, KeyError) else str(exc)
            raise ConfigError(
                f"The search ranker's weights are missing or damaged in {where} ({what}): reinstall."
            ) from None


def shipped(name: str) -> Path:
    """Where a weights file of the package lives (it may not exist)."""
    return Path(str(resources.files(__package__).joinpath("data", name)))


def weights_file(embedder_id: str) -> str:
    """The name of the weights fitted for a model embedder (`ranker-local_all-MiniLM-L6-v2_384.json`)."""
    return "ranker-" + "".join(c if c.isalnum() or c in "-." else "_" for c in embedder_id) + ".json"


class Ranker:
    """Scores a search's candidates by `Weights` over `FEATURES`; the word table gives the alignment."""

    def __init__(self, table: WordMeaning, weights: Weights | None = None) -> None:
        self.table = table
        self.weights = weights or Weights.load()
        self._vector = np.asarray(self.weights.weights, dtype=np.float64)

    @property
    def pool(self) -> int:
        """Candidates by the fused score the first stage gathers."""
        return self.weights.pool

    @property
    def meaning_pool(self) -> int:
        """Candidates by centred meaning the first stage gathers."""
        return self.weights.meaning_pool

    def features(self, question: str, hits: Sequence[IndexHit], texts: Mapping[MemoryId, str]) -> Matrix:
        """One row per hit, one column per feature (`FEATURES`)."""
        rows = np.zeros((len(hits), len(FEATURES)), dtype=np.float64)
        for position, hit in enumerate(hits):
            closeness = 0.0 if hit.closeness is None else max(hit.closeness, -1.0)
            rows[position] = (hit.keyword, hit.coverage, closeness, 0.0, hit.similarity)
        rows[:, 3] = self.alignment(question, [texts.get(hit.id, "") for hit in hits])
        return rows.astype(np.float32)

    def alignment(self, question: str, texts: Sequence[str]) -> npt.NDArray[np.float64]:
        """For each text: the mean over the question's words of their best cosine with one of the text's words."""
        asked = self.table.word_vectors(list(dict.fromkeys(words(question))))
        asked = asked[np.any(asked != 0.0, axis=1)]
        found = np.zeros(len(texts), dtype=np.float64)
        if not len(asked) or not texts:
            return found
        lists = [list(dict.fromkeys(words(text))) for text in texts]
        counts = np.fromiter(map(len, lists), dtype=np.int64, count=len(lists))
        if not counts.sum():
            return found
        vectors = self.table.word_vectors([word for listed in lists for word in listed])
        cosines = asked @ vectors.T  # question words x every word of every text
        starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
        filled = counts > 0
        best = np.maximum.reduceat(cosines, starts[filled], axis=1)  # per question word, per text
        found[filled] = best.mean(axis=0)
        return found

    def scores(self, question: str, hits: Sequence[IndexHit], texts: Mapping[MemoryId, str]) -> list[float]:
        """The second stage's score of each hit (higher first)."""
        if not hits:
            return []
        return [float(value) for value in self.features(question, hits, texts).astype(np.float64) @ self._vector]
