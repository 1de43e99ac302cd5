"""NumpyIndex: exact top-k against a brute-force reference, partitioned per scope."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from memory_mcp.index import NumpyIndex
from memory_mcp.models import Matrix, MemoryId, Scope, Vector

DIM = 8


def unit(rng: np.random.Generator, rows: int) -> Matrix:
    matrix: Matrix = rng.standard_normal((rows, DIM)).astype(np.float32)
    matrix /= np.linalg.norm(matrix, axis=1, keepdims=True)
    return matrix


Reference = dict[MemoryId, tuple[Scope, Vector]]


def brute_force(store: Reference, query: Vector, scope: Scope, k: int) -> list[tuple[MemoryId, float]]:
    visible = [(mid, float(vec @ query)) for mid, (s, vec) in store.items() if scope.contains(s)]
    return sorted(visible, key=lambda pair: -pair[1])[:k]


SCOPES = [
    Scope("alice"),
    Scope("alice", "coach"),
    Scope("alice", "coach", "r1"),
    Scope("alice", None, "r2"),
    Scope("bob"),
]

operations = st.lists(
    st.one_of(
        st.tuples(st.just("add"), st.integers(0, 30), st.integers(0, len(SCOPES) - 1)),
        st.tuples(st.just("remove"), st.integers(0, 30), st.just(0)),
    ),
    max_size=80,
)


@settings(max_examples=150, deadline=None)
@given(ops=operations, seed=st.integers(0, 2**32 - 1), k=st.integers(1, 12))
def test_matches_brute_force_after_any_adds_and_removes(ops: list[tuple[str, int, int]], seed: int, k: int) -> None:
    rng = np.random.default_rng(seed)
    index = NumpyIndex(DIM)
    reference: Reference = {}
    for op, number, scope_no in ops:
        memory_id = MemoryId(f"m{number}")
        if op == "add":
            scope = reference[memory_id][0] if memory_id in reference else SCOPES[scope_no]
            vector = unit(rng, 1)
            index.add([(memory_id, scope)], vector)
            reference[memory_id] = (scope, vector[0])
        else:
            index.remove([memory_id])
            reference.pop(memory_id, None)
    assert len(index) == len(reference)
    query = unit(rng, 1)[0]
    for scope in [*SCOPES, Scope("alice", "coach", None), Scope("carol")]:
        got = index.search(query, scope, k)
        want = brute_force(reference, query, scope, k)
        assert [score for _, score in got] == pytest.approx([score for _, score in want], abs=1e-5)
        assert {mid for mid, _ in got} <= {mid for mid, (s, _) in reference.items() if scope.contains(s)}
        assert index.count(scope) == sum(1 for s, _ in reference.values() if scope.contains(s))


def test_results_are_best_first_with_cosine_scores() -> None:
    index = NumpyIndex(2)
    index.add(
        [(MemoryId("east"), Scope("u")), (MemoryId("north"), Scope("u")), (MemoryId("west"), Scope("u"))],
        np.array([[1, 0], [0, 1], [-1, 0]], dtype=np.float32),
    )
    hits = index.search(np.array([1, 0], dtype=np.float32), Scope("u"), 3)
    assert hits == [("east", 1.0), ("north", 0.0), ("west", -1.0)]


def test_one_users_search_never_sees_another_users_vectors() -> None:
    index = NumpyIndex(2)
    index.add([(MemoryId("a"), Scope("alice"))], np.array([[1, 0]], dtype=np.float32))
    index.add([(MemoryId("b"), Scope("bob"))], np.array([[1, 0]], dtype=np.float32))
    assert index.search(np.array([1, 0], dtype=np.float32), Scope("alice"), 10) == [("a", 1.0)]
    assert index.ids(Scope("bob")) == {"b"}


def test_agent_and_run_narrow_a_users_search() -> None:
    index = NumpyIndex(2)
    vector = np.array([[1, 0]], dtype=np.float32)
    index.add([(MemoryId("plain"), Scope("u"))], vector)
    index.add([(MemoryId("coach"), Scope("u", "coach"))], vector)
    index.add([(MemoryId("coach-r1"), Scope("u", "coach", "r1"))], vector)
    query = vector[0]
    assert {m for m, _ in index.search(query, Scope("u"), 10)} == {"plain", "coach", "coach-r1"}
    assert {m for m, _ in index.search(query, Scope("u", "coach"), 10)} == {"coach", "coach-r1"}
    assert {m for m, _ in index.search(query, Scope("u", None, "r1"), 10)} == {"coach-r1"}


def test_storage_grows_and_shrinks_without_losing_rows() -> None:
    rng = np.random.default_rng(7)
    index = NumpyIndex(DIM)
    vectors = unit(rng, 1000)
    ids = [MemoryId(f"m{i}") for i in range(1000)]
    for start in range(0, 1000, 100):  # many small inserts: amortised growth
        index.add([(i, Scope("u")) for i in ids[start : start + 100]], vectors[start : start + 100])
    index.remove(ids[:990])
    remaining = index.search(vectors[995], Scope("u"), 20)
    assert {m for m, _ in remaining} == set(ids[990:])
    assert remaining[0][0] == ids[995]
    assert remaining[0][1] == pytest.approx(1.0, abs=1e-6)


def test_overwriting_a_vector_keeps_one_row() -> None:
    index = NumpyIndex(2)
    index.add([(MemoryId("m"), Scope("u"))], np.array([[1, 0]], dtype=np.float32))
    index.add([(MemoryId("m"), Scope("u"))], np.array([[0, 1]], dtype=np.float32))
    assert len(index) == 1
    assert index.search(np.array([0, 1], dtype=np.float32), Scope("u"), 5) == [("m", 1.0)]


def test_wrong_shape_is_refused() -> None:
    index = NumpyIndex(4)
    with pytest.raises(ValueError, match="length 4"):
        index.add([(MemoryId("m"), Scope("u"))], np.zeros((1, 3), dtype=np.float32))


def test_k_of_zero_and_empty_scopes_return_nothing() -> None:
    index = NumpyIndex(2)
    assert index.search(np.array([1, 0], dtype=np.float32), Scope("nobody"), 5) == []
    index.add([(MemoryId("m"), Scope("u"))], np.array([[1, 0]], dtype=np.float32))
    assert index.search(np.array([1, 0], dtype=np.float32), Scope("u"), 0) == []
