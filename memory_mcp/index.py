"""NumpyIndex: exact cosine search over contiguous float32 matrices, one per scope partition."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Final

import numpy as np
import numpy.typing as npt

from .models import Matrix, MemoryId, Scope, Vector

_MIN_CAPACITY: Final = 16

PartitionKey = tuple[str, str]
"""(agent_id, run_id) inside one user; the empty string stands for "none"."""


def _key(scope: Scope) -> PartitionKey:
    return (scope.agent_id or "", scope.run_id or "")


class _Partition:
    """The vectors of one (user, agent, run): a matrix whose first `len(ids)` rows are live.

    Capacity doubles when full and halves when three quarters are free, so inserts and deletes are
    amortised O(dim); a delete moves the last row into the hole instead of shifting the matrix.
    """

    def __init__(self, dim: int) -> None:
        self.matrix: Matrix = np.empty((_MIN_CAPACITY, dim), dtype=np.float32)
        self.ids: list[MemoryId] = []
        self.rows: dict[MemoryId, int] = {}

    def __len__(self) -> int:
        return len(self.ids)

    def _resize(self, capacity: int) -> None:
        grown = np.empty((capacity, self.matrix.shape[1]), dtype=np.float32)
        grown[: len(self.ids)] = self.matrix[: len(self.ids)]
        self.matrix = grown

    def put(self, ids: list[MemoryId], vectors: Matrix) -> None:
        fresh: list[int] = []
        for position, memory_id in enumerate(ids):
            row = self.rows.get(memory_id)
            if row is None:
                fresh.append(position)
            else:
                self.matrix[row] = vectors[position]
        if not fresh:
            return
        start, needed = len(self.ids), len(self.ids) + len(fresh)
        if needed > self.matrix.shape[0]:
            self._resize(max(needed, 2 * self.matrix.shape[0]))
        self.matrix[start:needed] = vectors[fresh]
        for offset, position in enumerate(fresh):
            self.ids.append(ids[position])
            self.rows[ids[position]] = start + offset

    def remove(self, memory_id: MemoryId) -> None:
        row = self.rows.pop(memory_id)
        last = len(self.ids) - 1
        moved = self.ids.pop()
        if row != last:
            self.matrix[row] = self.matrix[last]
            self.ids[row] = moved
            self.rows[moved] = row
        capacity = self.matrix.shape[0]
        if capacity > _MIN_CAPACITY and len(self.ids) < capacity // 4:
            self._resize(max(_MIN_CAPACITY, capacity // 2))

    def top(self, query: Vector, k: int) -> tuple[npt.NDArray[np.float32], list[MemoryId]]:
        """The k best rows: their scores (unsorted) and ids."""
        scores: npt.NDArray[np.float32] = self.matrix[: len(self.ids)] @ query
        if k < len(scores):
            best = np.argpartition(-scores, k - 1)[:k]
            return scores[best], [self.ids[i] for i in best]
        return scores, list(self.ids)


class NumpyIndex:
    """Exact cosine (dot product of unit vectors) search, partitioned per user and (agent, run).

    A search reads only the partitions its scope can see, so one user's search never scans another
    user's vectors and costs what that user's own memories cost.
    """

    def __init__(self, dim: int) -> None:
        self._dim = dim
        self._users: dict[str, dict[PartitionKey, _Partition]] = {}
        self._where: dict[MemoryId, tuple[str, PartitionKey]] = {}

    def __len__(self) -> int:
        return len(self._where)

    @property
    def dim(self) -> int:
        """Length of the vectors this index holds."""
        return self._dim

    def _check(self, vectors: Matrix, rows: int) -> Matrix:
        matrix = np.asarray(vectors, dtype=np.float32)
        if matrix.ndim != 2 or matrix.shape != (rows, self._dim):
            raise ValueError(f"expected {rows} vectors of length {self._dim}, got shape {matrix.shape}")
        return matrix

    def add(self, items: Iterable[tuple[MemoryId, Scope]], vectors: Matrix) -> None:
        """Insert or overwrite the vectors of `items` (row i of `vectors` belongs to item i)."""
        pairs = list(items)
        matrix = self._check(vectors, len(pairs))
        groups: dict[tuple[str, PartitionKey], list[int]] = {}
        for position, (memory_id, scope) in enumerate(pairs):
            place = (scope.user_id, _key(scope))
            previous = self._where.get(memory_id)
            if previous is not None and previous != place:
                self.remove([memory_id])
            groups.setdefault(place, []).append(position)
        for (user_id, key), positions in groups.items():
            partition = self._users.setdefault(user_id, {}).get(key)
            if partition is None:
                partition = self._users[user_id][key] = _Partition(self._dim)
            ids = [pairs[p][0] for p in positions]
            partition.put(ids, matrix[positions])
            for memory_id in ids:
                self._where[memory_id] = (user_id, key)

    def remove(self, ids: Iterable[MemoryId]) -> None:
        """Drop `ids`; unknown ids are ignored."""
        for memory_id in ids:
            place = self._where.pop(memory_id, None)
            if place is None:
                continue
            user_id, key = place
            partitions = self._users[user_id]
            partitions[key].remove(memory_id)
            if not partitions[key]:
                del partitions[key]
                if not partitions:
                    del self._users[user_id]

    def _visible(self, scope: Scope) -> Iterator[_Partition]:
        for (agent_id, run_id), partition in self._users.get(scope.user_id, {}).items():
            if (scope.agent_id is None or scope.agent_id == agent_id) and (
                scope.run_id is None or scope.run_id == run_id
            ):
                yield partition

    def count(self, scope: Scope) -> int:
        """How many vectors `scope` can see."""
        return sum(len(partition) for partition in self._visible(scope))

    def search(self, query: Vector, scope: Scope, k: int) -> list[tuple[MemoryId, float]]:
        """The `k` vectors of `scope` closest to `query`, best first, as (id, cosine score)."""
        if k <= 0:
            return []
        query = np.asarray(query, dtype=np.float32).reshape(self._dim)
        score_parts: list[npt.NDArray[np.float32]] = []
        id_parts: list[MemoryId] = []
        for partition in self._visible(scope):
            scores, ids = partition.top(query, k)
            score_parts.append(scores)
            id_parts.extend(ids)
        if not id_parts:
            return []
        scores = np.concatenate(score_parts)
        # Stable sort on the negated scores: equal scores keep partition order, so results are repeatable.
        order = np.argsort(-scores, kind="stable")[:k]
        return [(id_parts[i], float(scores[i])) for i in order]

    def ids(self, scope: Scope) -> set[MemoryId]:
        """Every id `scope` can see (for consistency checks)."""
        return {memory_id for partition in self._visible(scope) for memory_id in partition.ids}
