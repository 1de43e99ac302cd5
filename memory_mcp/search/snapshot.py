"""The in-memory index as bytes: each partition's ids, lengths, states and postings, for a fast restart."""

from __future__ import annotations

import json
import struct
import sys
from collections.abc import Sequence
from typing import Any, Final, cast

import numpy as np
import numpy.typing as npt

from ..models import MemoryId
from .index import Flags, Floats, NumpyIndex, Offsets, PartitionKey, Rows, _Partition

FORMAT: Final = 1
"""Version of the byte layout; another version is never read (the index is built from the store instead)."""
_HEADER: Final = struct.Struct("<I")


def _strings(values: Sequence[str]) -> tuple[bytes, bytes]:
    """UTF-8 bytes of `values` joined, and their lengths in bytes (int32)."""
    encoded = [value.encode("utf-8", "surrogatepass") for value in values]
    return b"".join(encoded), np.fromiter(map(len, encoded), dtype=np.int32, count=len(encoded)).tobytes()


def _unstrings(joined: bytes, lengths: npt.NDArray[np.int32]) -> list[str]:
    ends = np.cumsum(lengths, dtype=np.int64).tolist()
    starts = [0, *ends[:-1]]
    return [joined[start:end].decode("utf-8", "surrogatepass") for start, end in zip(starts, ends, strict=True)]


def dump(user_id: str, key: PartitionKey, partition: _Partition) -> bytes:
    """One partition as bytes: a JSON header, then its arrays (vectors are not included: the store has them)."""
    n = len(partition)
    vocabulary = list(partition.postings)
    pairs = [partition.posting_arrays(term) for term in vocabulary]
    counts = np.fromiter((0 if pair is None else len(pair[0]) for pair in pairs), dtype=np.int64, count=len(pairs))
    offsets = np.zeros(len(vocabulary) + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    rows = np.empty(int(offsets[-1]), dtype=np.int32)
    tf = np.empty(int(offsets[-1]), dtype=np.float32)
    for index, pair in enumerate(pairs):
        if pair is not None:
            rows[offsets[index] : offsets[index + 1]], tf[offsets[index] : offsets[index + 1]] = pair
    id_bytes, id_lengths = _strings(partition.ids)
    term_bytes, term_lengths = _strings(vocabulary)
    arrays = [
        id_lengths,
        id_bytes,
        partition.lengths[:n].tobytes(),
        partition.closed[:n].tobytes(),
        term_lengths,
        term_bytes,
        offsets.tobytes(),
        rows.tobytes(),
        tf.tobytes(),
    ]
    header = json.dumps(
        {
            "format": FORMAT,
            "user_id": user_id,
            "key": list(key),
            "n": n,
            "terms": len(vocabulary),
            "total_length": partition.total_length,
            "sizes": [len(array) for array in arrays],
        }
    ).encode("utf-8")
    return _HEADER.pack(len(header)) + header + b"".join(arrays)


def load(data: bytes, dim: int) -> tuple[str, PartitionKey, _Partition]:
    """A partition from `dump`'s bytes, its vectors not yet filled in (see `NumpyIndex.place`)."""
    (size,) = _HEADER.unpack_from(data)
    header: dict[str, Any] = json.loads(data[_HEADER.size : _HEADER.size + size])
    if header.get("format") != FORMAT:
        raise ValueError(f"index snapshot format {header.get('format')!r}, expected {FORMAT}")
    buffer = memoryview(data)  # read in place: a posting about to change is copied first (`_Partition.thawed`)
    parts: list[memoryview] = []
    position = _HEADER.size + size
    for length in header["sizes"]:
        parts.append(buffer[position : position + length])
        position += length
    id_lengths, id_bytes, lengths, closed, term_lengths, term_bytes, offsets_raw, rows_raw, tf_raw = parts
    n = int(header["n"])
    partition = _Partition(dim)
    partition._resize(max(n, partition.matrix.shape[0]))
    ids = cast(list[MemoryId], _unstrings(bytes(id_bytes), np.frombuffer(id_lengths, dtype=np.int32)))
    partition.ids = ids
    partition.rows = dict(zip(ids, range(n), strict=True))
    partition.lengths[:n] = np.frombuffer(lengths, dtype=np.float32)
    states: Flags = np.frombuffer(closed, dtype=np.bool_)
    partition.closed[:n] = states
    partition.closed_count = int(np.count_nonzero(states))
    partition.total_length = float(header["total_length"])
    vocabulary = [
        sys.intern(term) for term in _unstrings(bytes(term_bytes), np.frombuffer(term_lengths, dtype=np.int32))
    ]
    offsets: Offsets = np.frombuffer(offsets_raw, dtype=np.int64)
    rows: Rows = np.frombuffer(rows_raw, dtype=np.int32)
    tf: Floats = np.frombuffer(tf_raw, dtype=np.float32)
    partition.postings = dict(zip(vocabulary, range(len(vocabulary)), strict=True))  # each made on its first change
    partition.frozen_postings = (offsets, rows, tf)
    partition.vocabulary, partition.frozen_rows = vocabulary, n  # a row's terms are found when it first changes
    partition.terms = list(range(n))
    key = tuple(header["key"])
    return str(header["user_id"]), (str(key[0]), str(key[1]), str(key[2])), partition


def capture(index: NumpyIndex) -> list[bytes]:
    """Every partition of `index` as bytes, vectors left out: the store keeps those."""
    return [dump(user_id, key, partition) for user_id, keys in index._users.items() for key, partition in keys.items()]


def restore(index: NumpyIndex, parts: Sequence[bytes]) -> set[MemoryId]:
    """Replace the contents of `index` with the partitions of a snapshot, their vectors still to place
    (`NumpyIndex.place`); returns the ids restored, which all need one."""
    index._users, index._where = {}, {}
    for data in parts:
        user_id, key, partition = load(data, index.dim)
        partition.meaning = index.meaning_columns  # its total is added up once the vectors are placed
        index._users.setdefault(user_id, {})[key] = partition
        index._where.update(dict.fromkeys(partition.ids, (user_id, key)))
    return set(index._where)


def describe(
    index: NumpyIndex,
) -> dict[MemoryId, tuple[tuple[str, str, str, str], tuple[tuple[str, float], ...], bool]]:
    """What the index holds of each memory: its partition, its terms with their counts, whether it is superseded
    (to compare two indexes, e.g. one read from a snapshot with one built from the texts)."""
    described = {}
    for user_id, keys in index._users.items():
        for key, partition in keys.items():
            counts: dict[int, list[tuple[str, float]]] = {}
            for term in partition.postings:
                pair = partition.posting_arrays(term)
                assert pair is not None
                for row, tf in zip(pair[0].tolist(), pair[1].tolist(), strict=True):
                    counts.setdefault(row, []).append((term, tf))
            for row, memory_id in enumerate(partition.ids):
                described[memory_id] = (
                    (user_id, *key),
                    tuple(sorted(counts.get(row, []))),
                    bool(partition.closed[row]),
                )
    return described


def differing(expected: NumpyIndex, got: NumpyIndex) -> list[MemoryId]:
    """The memories two indexes hold differently (partition, terms and counts, superseded or not): partitions are
    compared whole, term by term as arrays, and only one that differs is described memory by memory."""
    keys = {(user, key) for index in (expected, got) for user, partitions in index._users.items() for key in partitions}
    unlike: list[MemoryId] = []
    for user, key in keys:
        one, other = expected._users.get(user, {}).get(key), got._users.get(user, {}).get(key)
        if one is None or other is None or not _alike(one, other):
            unlike += [*([] if one is None else one.ids), *([] if other is None else other.ids)]
    if not unlike:
        return []
    wanted = set(unlike)
    described, seen = describe(expected), describe(got)
    return sorted(
        memory_id
        for memory_id in wanted & (described.keys() | seen.keys())
        if described.get(memory_id) != seen.get(memory_id)
    )


def _alike(one: _Partition, other: _Partition) -> bool:
    """True when two partitions hold the same memories with the same terms, counts and states (rows may differ)."""
    n = len(one)
    if n != len(other) or set(one.ids) != set(other.ids) or one.postings.keys() != other.postings.keys():
        return False
    where = np.fromiter(map(one.rows.__getitem__, other.ids), dtype=np.int64, count=n)  # other's row -> one's
    if not np.array_equal(one.closed[where], other.closed[:n]):
        return False
    for term in one.postings:
        mine, theirs = one.posting_arrays(term), other.posting_arrays(term)
        if mine is None or theirs is None or len(mine[0]) != len(theirs[0]):
            return False
        rows, counts = where[theirs[0]], theirs[1]
        order, own = np.argsort(rows, kind="stable"), np.argsort(mine[0], kind="stable")
        if not (np.array_equal(rows[order], mine[0][own]) and np.array_equal(counts[order], mine[1][own])):
            return False
    return True
