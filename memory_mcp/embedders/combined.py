"""CombinedEmbedder: several embedders' vectors side by side, so one cosine blends their similarities."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from ..errors import ConfigError
from ..models import Matrix, Vector
from ..protocols import Embedder


class CombinedEmbedder:
    """Concatenates unit vectors of its parts, each scaled by the square root of its weight, and renormalises.

    The cosine of two combined vectors is then the weighted sum of the parts' cosines (weights summing to
    1), e.g. 0.3 x spelling (hash) + 0.7 x meaning (static table): one vector column, one index, one
    pgvector column serve both.
    """

    def __init__(self, parts: Sequence[tuple[Embedder, float]]) -> None:
        total = sum(weight for _, weight in parts)
        if not parts or total <= 0 or any(weight < 0 for _, weight in parts):
            raise ConfigError("A combined embedder needs parts with non-negative weights that sum to more than 0.")
        self._parts = [(embedder, math.sqrt(weight / total)) for embedder, weight in parts]
        self._weights = [weight / total for _, weight in parts]
        self._dim = sum(embedder.dim for embedder, _ in parts)

    @property
    def id(self) -> str:
        """The parts' ids and weights, e.g. ``hash-v2-256*0.3+minilm-static-128-1a2b3c4d*0.7``."""
        return "+".join(
            f"{embedder.id}*{weight:g}" for (embedder, _), weight in zip(self._parts, self._weights, strict=True)
        )

    @property
    def dim(self) -> int:
        """The parts' lengths added up."""
        return self._dim

    def spans(self) -> list[tuple[Embedder, int, int, float]]:
        """Each part with the columns its vector fills (start, stop) and the scale it is multiplied by there."""
        found, start = [], 0
        for embedder, scale in self._parts:
            found.append((embedder, start, start + embedder.dim, scale))
            start += embedder.dim
        return found

    def _join(self, matrices: Sequence[Matrix]) -> Matrix:
        joined: Matrix = np.concatenate(
            [matrix * np.float32(scale) for matrix, (_, scale) in zip(matrices, self._parts, strict=True)], axis=1
        )
        norms = np.linalg.norm(joined, axis=1, keepdims=True)
        np.divide(joined, norms, out=joined, where=norms > 0)
        return joined

    async def embed_documents(self, texts: Sequence[str]) -> Matrix:
        """Each part embeds the texts; the rows are joined."""
        return self._join([await embedder.embed_documents(texts) for embedder, _ in self._parts])

    async def embed_query(self, text: str) -> Vector:
        """Each part embeds the query; the vectors are joined."""
        vector: Vector = self._join([(await embedder.embed_query(text))[None, :] for embedder, _ in self._parts])[0]
        return vector
