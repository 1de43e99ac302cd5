"""NumpyIndex: hybrid search in memory, BM25 over words fused with cosine over vectors, per scope partition.

One data structure: its methods keep one set of invariants (partitions, term statistics, vectors and the sums of
their meaning columns) together, so it stays one module.
"""

from __future__ import annotations

import math
import sys
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from itertools import chain, repeat
from typing import Final

import numpy as np
import numpy.typing as npt

from ..meaning import MeaningQuery, centred, meaning_query
from ..models import IndexHit, Matrix, Meaning, MemoryId, Scope, Vector
from ..scoring import K1, MEANING_MIN, MIN_SIMILARITY, VECTOR_WEIGHT, B

_MIN_CAPACITY: Final = 16
_BULK: Final = 32  # rows from which `extend` builds postings with one sort instead of row by row

PartitionKey = tuple[str, str, str]
"""(agent_id, run_id, project) inside one user; the empty string stands for "none"."""

Floats = npt.NDArray[np.float32]
Rows = npt.NDArray[np.int32]
Flags = npt.NDArray[np.bool_]
Offsets = npt.NDArray[np.int64]
Ints = npt.NDArray[np.int32]


class _Postings:
    """The rows that contain one term, with its count in each: growable arrays, unordered."""

    __slots__ = ("n", "rows", "tf")

    def __init__(self) -> None:
        self.rows: Rows = np.empty(4, dtype=np.int32)
        self.tf: Floats = np.empty(4, dtype=np.float32)
        self.n = 0

    @classmethod
    def of(cls, rows: Rows, tf: Floats) -> _Postings:
        """Postings holding a copy of these arrays (e.g. a snapshot's, which stay as they were read)."""
        postings = cls.__new__(cls)
        postings.rows, postings.tf, postings.n = rows.copy(), tf.copy(), len(rows)
        return postings

    def append(self, row: int, tf: int) -> None:
        if self.n == len(self.rows):
            self.rows = np.concatenate([self.rows, np.empty(self.n, dtype=np.int32)])
            self.tf = np.concatenate([self.tf, np.empty(self.n, dtype=np.float32)])
        self.rows[self.n] = row
        self.tf[self.n] = tf
        self.n += 1

    def extend(self, rows: Rows, tf: Floats) -> None:
        needed = self.n + len(rows)
        if needed > len(self.rows):
            capacity = max(needed, 2 * len(self.rows))
            grown_rows, grown_tf = np.empty(capacity, dtype=np.int32), np.empty(capacity, dtype=np.float32)
            grown_rows[: self.n], grown_tf[: self.n] = self.rows[: self.n], self.tf[: self.n]
            self.rows, self.tf = grown_rows, grown_tf
        self.rows[self.n : needed] = rows
        self.tf[self.n : needed] = tf
        self.n = needed

    def position(self, row: int) -> int:
        return int(np.flatnonzero(self.rows[: self.n] == row)[0])

    def discard(self, row: int) -> None:
        at, last = self.position(row), self.n - 1
        self.rows[at], self.tf[at] = self.rows[last], self.tf[last]
        self.n = last

    def rename(self, old: int, new: int) -> None:
        self.rows[self.position(old)] = new


class _Partition:
    """The memories of one (user, agent, run, project): vectors as matrix rows, words as postings over the same rows.

    Capacity doubles when full and halves when three quarters are free, so inserts and deletes are
    amortised O(dim); a delete moves the last row into the hole instead of shifting the matrix.
    """

    def __init__(self, dim: int, meaning: slice | None = None) -> None:
        self.matrix: Matrix = np.empty((_MIN_CAPACITY, dim), dtype=np.float32)
        self.meaning = meaning
        """The columns that carry meaning (None: none), whose rows' total `meaning_total` keeps."""
        self._meaning_total: npt.NDArray[np.float64] | None = None  # None: to be added up again
        self.lengths: Floats = np.empty(_MIN_CAPACITY, dtype=np.float32)
        self.closed: Flags = np.zeros(_MIN_CAPACITY, dtype=np.bool_)  # superseded rows, left out by default
        self.closed_count = 0
        self.ids: list[MemoryId] = []
        # Distinct terms of each row, to undo its postings; a row restored from a snapshot holds its row number in
        # the snapshot instead, resolved the first time it is needed (from `frozen_postings`, see `row_terms`).
        self.terms: list[tuple[str, ...] | int] = []
        self.vocabulary: list[str] = []
        """A snapshot's terms, numbered as in `frozen_postings`."""
        self.frozen_rows = 0
        """How many rows the snapshot held."""
        self._by_row: tuple[Offsets, Ints] | None = None
        self.rows: dict[MemoryId, int] = {}
        # A term's postings; a term restored from a snapshot holds its number in `frozen_postings` instead, until
        # a change to it makes it a `_Postings` of its own (reads take either: `posting_arrays`).
        self.postings: dict[str, _Postings | int] = {}
        self.frozen_postings: tuple[Offsets, Rows, Floats] | None = None
        self.total_length = 0.0

    def forget_meaning_total(self) -> None:
        """After vectors were written in place (a snapshot's): the total is added up again when next needed."""
        self._meaning_total = None

    def meaning_total(self) -> npt.NDArray[np.float64]:
        """The rows' meaning columns added up (kept as rows come and go; added up anew after a snapshot)."""
        if self._meaning_total is None:
            span = self.meaning or slice(0, 0)
            self._meaning_total = self.matrix[: len(self.ids), span].sum(axis=0, dtype=np.float64)
        return self._meaning_total

    def _count_meaning(self, rows: Matrix, sign: float = 1.0) -> None:
        """Add (or with sign -1 take away) `rows`' meaning columns to the running total."""
        if self.meaning is not None and self._meaning_total is not None and len(rows):
            self._meaning_total += sign * rows[:, self.meaning].sum(axis=0, dtype=np.float64)

    def __len__(self) -> int:
        return len(self.ids)

    def _resize(self, capacity: int) -> None:
        live = len(self.ids)
        matrix = np.empty((capacity, self.matrix.shape[1]), dtype=np.float32)
        matrix[:live] = self.matrix[:live]
        lengths = np.empty(capacity, dtype=np.float32)
        lengths[:live] = self.lengths[:live]
        closed = np.zeros(capacity, dtype=np.bool_)
        closed[:live] = self.closed[:live]
        self.matrix, self.lengths, self.closed = matrix, lengths, closed

    def _index_terms(self, row: int, terms: Sequence[str]) -> None:
        counts = Counter(terms)
        for term, tf in counts.items():
            postings = self.thawed(term)
            if postings is None:
                postings = self.postings[sys.intern(term)] = _Postings()
            postings.append(row, tf)
        self.terms[row] = tuple(sys.intern(term) for term in counts)
        self.lengths[row] = len(terms)
        self.total_length += len(terms)

    def thawed(self, term: str) -> _Postings | None:
        """The postings of a term, to change them (made from the snapshot's arrays the first time)."""
        found = self.postings.get(term)
        if isinstance(found, int):
            assert self.frozen_postings is not None
            offsets, rows, tf = self.frozen_postings
            start, end = int(offsets[found]), int(offsets[found + 1])
            found = self.postings[term] = _Postings.of(rows[start:end], tf[start:end])
        return found

    def posting_arrays(self, term: str) -> tuple[Rows, Floats] | None:
        """The rows that hold a term and its count in each (read only), or None."""
        found = self.postings.get(term)
        if found is None:
            return None
        if isinstance(found, int):
            assert self.frozen_postings is not None
            offsets, rows, tf = self.frozen_postings
            start, end = int(offsets[found]), int(offsets[found + 1])
            return rows[start:end], tf[start:end]
        return found.rows[: found.n], found.tf[: found.n]

    def row_terms(self, row: int) -> tuple[str, ...]:
        """The distinct terms of a row."""
        terms = self.terms[row]
        if isinstance(terms, int):
            if self._by_row is None:
                self._by_row = self._invert()
            offsets, numbers = self._by_row
            terms = tuple(self.vocabulary[number] for number in numbers[offsets[terms] : offsets[terms + 1]].tolist())
            self.terms[row] = terms
        return terms

    def _invert(self) -> tuple[Offsets, Ints]:
        """A snapshot's postings by row: each row's offsets into term numbers (made on the first change to a row
        restored from a snapshot, not at start-up: many starts never change one)."""
        assert self.frozen_postings is not None
        offsets, rows, _ = self.frozen_postings
        by_row = np.argsort(rows, kind="stable")
        numbers = np.repeat(np.arange(len(offsets) - 1, dtype=np.int32), np.diff(offsets))[by_row]
        row_offsets = np.searchsorted(rows[by_row], np.arange(self.frozen_rows + 1)).astype(np.int64)
        return row_offsets, numbers

    def _unindex_terms(self, row: int) -> None:
        for term in self.row_terms(row):
            postings = self.thawed(term)
            assert postings is not None
            postings.discard(row)
            if postings.n == 0:
                del self.postings[term]
        self.total_length -= float(self.lengths[row])

    def set_closed(self, row: int, closed: bool) -> None:
        """Mark a row superseded (left out of default searches) or current."""
        if bool(self.closed[row]) != closed:
            self.closed[row] = closed
            self.closed_count += 1 if closed else -1

    def replace(self, memory_id: MemoryId, vector: Vector, terms: Sequence[str], closed: bool) -> None:
        """Overwrite the vector, words and state of a memory already in the partition (new ones go through
        extend)."""
        row = self.rows[memory_id]
        self._unindex_terms(row)
        self._count_meaning(self.matrix[row : row + 1], -1.0)
        self.matrix[row] = vector
        self._count_meaning(self.matrix[row : row + 1])
        self._index_terms(row, terms)
        self.set_closed(row, closed)

    def extend(
        self, ids: Sequence[MemoryId], vectors: Matrix, term_lists: Sequence[Sequence[str]], closed: Flags
    ) -> None:
        """Append memories not in the partition yet, building their postings in bulk (start-up, imports)."""
        start, needed, count = len(self.ids), len(self.ids) + len(ids), len(ids)
        if needed > self.matrix.shape[0]:
            self._resize(max(needed, 2 * self.matrix.shape[0]))
        self.matrix[start:needed] = vectors
        self._count_meaning(self.matrix[start:needed])
        self.closed[start:needed] = closed
        self.closed_count += int(np.count_nonzero(closed))
        if count < _BULK:  # a few rows (single adds): the numpy set-up would cost more than it saves
            self.ids.extend(ids)
            self.terms.extend(() for _ in ids)
            for offset, (memory_id, terms) in enumerate(zip(ids, term_lists, strict=True)):
                self.rows[memory_id] = start + offset
                self._index_terms(start + offset, terms)
            return
        lengths = np.fromiter(map(len, term_lists), dtype=np.int64, count=count)
        self.lengths[start:needed] = lengths
        self.total_length += float(lengths.sum())
        # Number the terms, then one sort of (term, row) keys yields each term's rows and counts at once.
        # (The vocabulary and the numbering run in C: dict.fromkeys and map over one chain of every term.)
        vocabulary = [sys.intern(term) for term in dict.fromkeys(chain.from_iterable(term_lists))]
        number = {term: position for position, term in enumerate(vocabulary)}
        term_ids = np.fromiter(
            map(number.__getitem__, chain.from_iterable(term_lists)), dtype=np.int64, count=int(lengths.sum())
        )
        keys = term_ids * count + np.repeat(np.arange(count, dtype=np.int64), lengths)
        pairs, counts = np.unique(keys, return_counts=True)
        pair_terms, pair_rows = np.divmod(pairs, count)
        rows = (pair_rows + start).astype(np.int32)
        tf = counts.astype(np.float32)
        bounds = np.searchsorted(pair_terms, np.arange(len(number) + 1)).tolist()
        for index, term in enumerate(vocabulary):
            postings = self.thawed(term)
            if postings is None:
                postings = self.postings[term] = _Postings()
            postings.extend(rows[bounds[index] : bounds[index + 1]], tf[bounds[index] : bounds[index + 1]])
        # Each row's distinct terms (to undo its postings later), grouped by row.
        by_row = np.argsort(pair_rows, kind="stable")
        words = np.array(vocabulary, dtype=object)[pair_terms[by_row]]
        cuts = np.searchsorted(pair_rows[by_row], np.arange(1, count)).tolist()
        self.terms.extend(map(tuple, np.split(words, cuts)))
        self.ids.extend(ids)
        self.rows.update(zip(ids, range(start, needed), strict=True))

    def remove(self, memory_id: MemoryId) -> None:
        row = self.rows.pop(memory_id)
        self._count_meaning(self.matrix[row : row + 1], -1.0)
        self._unindex_terms(row)
        self.set_closed(row, False)
        last = len(self.ids) - 1
        moved_terms = self.row_terms(last)
        moved_id = self.ids.pop()
        self.terms.pop()
        if row != last:
            self.matrix[row] = self.matrix[last]
            self.lengths[row] = self.lengths[last]
            self.closed[row], self.closed[last] = self.closed[last], False
            self.ids[row], self.terms[row] = moved_id, moved_terms
            self.rows[moved_id] = row
            for term in moved_terms:
                renamed = self.thawed(term)
                assert renamed is not None
                renamed.rename(last, row)
        capacity = self.matrix.shape[0]
        if capacity > _MIN_CAPACITY and len(self.ids) < capacity // 4:
            self._resize(max(_MIN_CAPACITY, capacity // 2))

    def document_frequency(self, term: str) -> int:
        arrays = self.posting_arrays(term)
        return 0 if arrays is None else len(arrays[0])

    def keyword_scores(self, weights: dict[str, float], average_length: float, covered: Floats | None = None) -> Floats:
        """BM25 of every row for query terms weighted by their IDF (0 where a row has none of them); with
        `covered` (one value per row), each row's IDF of the terms it holds is added to it too."""
        scores = np.zeros(len(self.ids), dtype=np.float32)
        for term, idf in weights.items():
            arrays = self.posting_arrays(term)
            if arrays is None:
                continue
            rows, tf = arrays
            norm = K1 * (1.0 - B + B * self.lengths[rows] / average_length)
            scores[rows] += idf * tf * (K1 + 1.0) / (tf + norm)  # a row holds a term once: no duplicate rows
            if covered is not None:
                covered[rows] += idf
        return scores


class NumpyIndex:
    """Hybrid search over the memories of a scope: BM25 on words fused with cosine on vectors.

    score = (1 - w) * BM25 / (best BM25 the query could reach) + w * cosine, with w = `vector_weight`.
    The BM25 part is in [0, 1] (the share of the query's weighted terms a memory matches, saturated),
    the cosine part in [-1, 1], so scores lie in [-w, 1]; higher is closer. Term statistics (IDF,
    average length) are those of the searched scope, kept current as memories come and go. A search
    reads only the partitions its scope can see, so it never touches another user's memories.
    """

    def __init__(
        self,
        dim: int,
        *,
        vector_weight: float = VECTOR_WEIGHT,
        min_similarity: float = MIN_SIMILARITY,
        meaning: Meaning | None = None,
    ) -> None:
        if not 0.0 <= vector_weight <= 1.0:
            raise ValueError(f"vector_weight must be between 0 and 1, got {vector_weight}")
        self._dim = dim
        self.vector_weight = vector_weight
        self.min_similarity = min_similarity
        self.meaning = meaning
        """Where the vectors carry meaning (None: nowhere), for the meaning leg's picks (`search`'s `room`)."""
        self._users: dict[str, dict[PartitionKey, _Partition]] = {}
        self._where: dict[MemoryId, tuple[str, PartitionKey]] = {}
        self._slots: dict[MemoryId, int] | None = None  # while placing a snapshot's vectors (see `place`)
        self._bases: list[tuple[int, _Partition]] = []
        self._filled: Flags = np.zeros(0, dtype=np.bool_)
        self._starts: Offsets = np.zeros(0, dtype=np.int64)  # the first slot of each of `_bases`

    def __len__(self) -> int:
        return len(self._where)

    @property
    def meaning_columns(self) -> slice | None:
        """The columns of the vectors that carry meaning (None: none)."""
        return None if self.meaning is None else slice(self.meaning.start, self.meaning.stop)

    @property
    def dim(self) -> int:
        """Length of the vectors this index holds."""
        return self._dim

    def add(
        self,
        items: Sequence[tuple[MemoryId, Scope]],
        vectors: Matrix,
        terms: Sequence[Sequence[str]],
        closed: Sequence[bool] | None = None,
    ) -> None:
        """Insert or overwrite `items`; row i of `vectors`, entry i of `terms` and of `closed` (True: superseded;
        None: none is) belong to item i."""
        matrix = np.asarray(vectors, dtype=np.float32)
        flags = np.zeros(len(items), dtype=np.bool_) if closed is None else np.asarray(closed, dtype=np.bool_)
        if matrix.ndim != 2 or matrix.shape != (len(items), self._dim) or len(terms) != len(items):
            raise ValueError(
                f"expected {len(items)} vectors of length {self._dim} and {len(items)} term lists, "
                f"got shape {matrix.shape} and {len(terms)} term lists"
            )
        # Group the items by partition first (one tuple per item), so that a bulk load of new memories is a few
        # C-level passes per partition instead of several dictionary operations per memory.
        last = {memory_id: position for position, (memory_id, _) in enumerate(items)}  # a repeated id: its last
        groups: dict[tuple[str, PartitionKey], dict[MemoryId, int]] = {}
        for memory_id, position in last.items():
            scope = items[position][1]
            place = (scope.user_id, (scope.agent_id or "", scope.run_id or "", scope.project or ""))
            groups.setdefault(place, {})[memory_id] = position
        for place, positions in groups.items():
            partition = self._users.setdefault(place[0], {}).get(place[1])
            if partition is None:
                partition = self._users[place[0]][place[1]] = _Partition(self._dim, self.meaning_columns)
            known = positions.keys() & self._where.keys()
            for memory_id in known:  # already indexed: overwrite in place, or move from another partition
                if self._where[memory_id] != place:
                    self.remove([memory_id])
                elif memory_id in partition.rows:
                    position = positions.pop(memory_id)
                    partition.replace(memory_id, matrix[position], terms[position], bool(flags[position]))
            if positions:
                chosen = list(positions.values())
                partition.extend(list(positions), matrix[chosen], [terms[p] for p in chosen], flags[chosen])
            self._where.update(dict.fromkeys(positions.keys() | known, place))

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

    def set_closed(self, ids: Iterable[MemoryId], closed: bool = True) -> None:
        """Mark memories superseded (left out of searches unless asked for) or current again; unknown ids are
        ignored."""
        for memory_id in ids:
            place = self._where.get(memory_id)
            if place is not None:
                partition = self._users[place[0]][place[1]]
                partition.set_closed(partition.rows[memory_id], closed)

    def _visible(self, scope: Scope) -> Iterator[_Partition]:
        for (agent_id, run_id, project), partition in self._users.get(scope.user_id, {}).items():
            if (
                (scope.agent_id is None or scope.agent_id == agent_id)
                and (scope.run_id is None or scope.run_id == run_id)
                and (scope.project is None or project in ("", scope.project))
            ):
                yield partition

    def place(self, ids: Sequence[MemoryId], vectors: Matrix) -> int:
        """Put the vectors of memories a snapshot restored in their rows; returns how many were placed (unknown
        ones, stored after the snapshot, are left to the change feed). Call `placed` when done. A call costs in
        the size of its batch, not in the number of partitions: small batches are cheap."""
        if self._slots is None:  # every row of every partition numbered once: a slot per memory
            self._slots, self._bases, base = {}, [], 0
            for keys in self._users.values():
                for partition in keys.values():
                    self._slots.update(zip(partition.ids, range(base, base + len(partition)), strict=True))
                    self._bases.append((base, partition))
                    base += len(partition)
            self._filled = np.zeros(base, dtype=np.bool_)
            self._starts = np.array([start for start, _ in self._bases], dtype=np.int64)
        slots = np.fromiter(map(self._slots.get, ids, repeat(-1)), dtype=np.int64, count=len(ids))
        known = np.flatnonzero(slots >= 0)
        if len(known) < len(ids):
            slots, vectors = slots[known], vectors[known]
        if not len(slots):
            return 0
        self._filled[slots] = True
        owner = np.searchsorted(self._starts, slots, side="right") - 1
        if (owner == owner[0]).all():  # the common case: one partition's rows, placed without regrouping
            base, partition = self._bases[int(owner[0])]
            partition.matrix[slots - base] = vectors
            return len(slots)
        order = np.argsort(owner, kind="stable")  # by partition, each in the order the vectors came
        numbers, firsts = np.unique(owner[order], return_index=True)
        for number, first, last in zip(
            numbers.tolist(), firsts.tolist(), [*firsts[1:].tolist(), len(order)], strict=True
        ):
            base, partition = self._bases[number]
            chosen = order[first:last]
            partition.matrix[slots[chosen] - base] = vectors[chosen]
        return len(slots)

    def placed(self) -> list[MemoryId]:
        """Forget the numbering `place` used (rows move as memories come and go); returns the ids restored that got
        no vector."""
        if self._slots is None:  # no vector came at all
            missing = list(self._where)
        else:
            known = list(self._slots)
            numbers = np.fromiter(self._slots.values(), dtype=np.int64, count=len(known))
            missing = [known[position] for position in np.flatnonzero(~self._filled[numbers]).tolist()]
            for _, partition in self._bases:
                partition.forget_meaning_total()  # its vectors are in: the total is added up on the next search
        self._slots, self._bases, self._filled = None, [], np.zeros(0, dtype=np.bool_)
        self._starts = np.zeros(0, dtype=np.int64)
        return missing

    def count(self, scope: Scope) -> int:
        """How many memories `scope` can see."""
        return sum(len(partition) for partition in self._visible(scope))

    def ids(self, scope: Scope) -> set[MemoryId]:
        """Every id `scope` can see (for consistency checks)."""
        return {memory_id for partition in self._visible(scope) for memory_id in partition.ids}

    def search(
        self,
        vector: Vector,
        terms: Sequence[str],
        scope: Scope,
        k: int,
        *,
        threshold: float | None = None,
        superseded: bool = False,
        room: int = 0,
        pool: int = 0,
    ) -> list[IndexHit]:
        """The `k` best matches in `scope`, best first, among those scoring at least `threshold`.

        Without a threshold, only memories related to the query count: those sharing a search term
        with it, or whose cosine similarity reaches `min_similarity`. Superseded memories count only with
        `superseded=True` (they still count in the term statistics, like every memory of the scope).

        With `room` (and no threshold, and vectors that carry meaning), the meaning leg's best `room` + 1 follow,
        marked `by_meaning`, best first: the memories closest to the query by centred meaning (`meaning`), at least
        `MEANING_MIN`, related or not, which may also be among the first `k`. With a `pool` (for the second stage,
        `search.ranker`), the best `pool` of them follow instead, and every hit carries its closeness and coverage.
        """
        partitions = list(self._visible(scope))
        if k <= 0 or not partitions:
            return []
        query = np.asarray(vector, dtype=np.float32).reshape(self._dim)
        count = sum(len(partition) for partition in partitions)
        average_length = max(sum(partition.total_length for partition in partitions) / count, 1.0)
        weights: dict[str, float] = {}
        for term in set(terms):
            df = sum(partition.document_frequency(term) for partition in partitions)
            if df:  # a word no memory has cannot be matched: it must not shrink every keyword score
                weights[term] = math.log((count - df + 0.5) / (df + 0.5) + 1.0)
        best_possible = sum(weights.values()) * (K1 + 1.0)
        asked = self._meaning_query(query, partitions, count) if room > 0 and threshold is None else None
        columns = self.meaning_columns
        total_weight = sum(weights.values())
        measured = pool > 0 and asked is not None and columns is not None
        picked = max(room + 1, pool)

        hits: list[IndexHit] = []
        picks: list[tuple[float, IndexHit]] = []
        for partition in partitions:
            rows_matrix = partition.matrix[: len(partition)]
            similarity = rows_matrix @ query
            covered = np.zeros(len(partition), dtype=np.float32) if pool > 0 else None
            keyword = partition.keyword_scores(weights, average_length, covered)
            if best_possible > 0:
                keyword /= best_possible
            fused = (1.0 - self.vector_weight) * keyword + self.vector_weight * similarity
            eligible = (
                (keyword > 0.0) | (similarity >= self.min_similarity) if threshold is None else fused >= threshold
            )
            current = None
            if partition.closed_count and not superseded:
                current = ~partition.closed[: len(partition)]
                eligible &= current
            candidates = np.flatnonzero(eligible)
            if len(candidates) > k:
                candidates = candidates[np.argpartition(-fused[candidates], k - 1)[:k]]
            closeness = None
            if asked is not None and columns is not None:
                # Two products over the meaning columns only (matrix-vector products: a product with a matrix of
                # two columns is several times slower here).
                meaning_rows = rows_matrix[:, columns]
                along, towards = (np.ascontiguousarray(asked.probe[columns, n]) for n in (0, 1))
                products = np.column_stack([meaning_rows @ along, meaning_rows @ towards])
                closeness = centred(products, asked)
            coverage = covered / total_weight if covered is not None and total_weight > 0 else None
            chosen = candidates.tolist()
            measures = zip(
                [None] * len(chosen) if not measured or closeness is None else closeness[candidates].tolist(),
                [0.0] * len(chosen) if coverage is None else coverage[candidates].tolist(),
                strict=True,
            )
            hits.extend(
                IndexHit(partition.ids[row], score, words, cosine, False, near, share)
                for row, score, words, cosine, (near, share) in zip(
                    chosen,
                    fused[candidates].tolist(),
                    keyword[candidates].tolist(),
                    similarity[candidates].tolist(),
                    measures,
                    strict=True,
                )
            )
            if closeness is not None:
                close = closeness >= MEANING_MIN
                rows = np.flatnonzero(close if current is None else close & current)
                if len(rows) > picked:
                    rows = rows[np.argpartition(-closeness[rows], picked - 1)[:picked]]
                picks.extend(
                    (
                        float(closeness[row]),
                        IndexHit(
                            partition.ids[row],
                            float(fused[row]),
                            float(keyword[row]),
                            float(similarity[row]),
                            True,
                            float(closeness[row]),
                            float(coverage[row]) if coverage is not None else 0.0,
                        ),
                    )
                    for row in rows
                )
        hits.sort(key=lambda hit: -hit.score)
        picks.sort(key=lambda pick: -pick[0])
        return hits[:k] + [hit for _, hit in picks[:picked]]

    def _meaning_query(self, query: Vector, partitions: list[_Partition], count: int) -> MeaningQuery | None:
        """The query against the average meaning of the memories of `partitions` (superseded ones included)."""
        if self.meaning is None:
            return None
        total = np.zeros(self._dim, dtype=np.float64)
        for partition in partitions:
            total[self.meaning.start : self.meaning.stop] += partition.meaning_total()
        return meaning_query(query, total, count, self.meaning)
