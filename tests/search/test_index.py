"""NumpyIndex: hybrid BM25 + cosine search against a brute-force reference, partitioned per scope."""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from memory_mcp.models import Matrix, Meaning, MemoryId, Scope, Vector
from memory_mcp.scoring import K1, MEANING_MIN, MIN_SIMILARITY, B
from memory_mcp.search.index import NumpyIndex

DIM = 8
WORDS = ["tea", "coffee", "hike", "alps", "berlin", "anna", "paint", "dog"]


def unit(rng: np.random.Generator, rows: int) -> Matrix:
    matrix: Matrix = rng.standard_normal((rows, DIM)).astype(np.float32)
    matrix /= np.linalg.norm(matrix, axis=1, keepdims=True)
    return matrix


Doc = tuple[Scope, Vector, list[str]]


def reference(
    docs: dict[MemoryId, Doc], vector: Vector, terms: list[str], scope: Scope, w: float
) -> dict[MemoryId, float]:
    """Fused scores written out from the definition, for every memory `scope` can see."""
    visible = {mid: doc for mid, doc in docs.items() if scope.contains(doc[0])}
    if not visible:
        return {}
    n = len(visible)
    average = max(sum(len(doc[2]) for doc in visible.values()) / n, 1.0)
    idf = {}
    for term in set(terms):
        df = sum(1 for doc in visible.values() if term in doc[2])
        if df:
            idf[term] = math.log((n - df + 0.5) / (df + 0.5) + 1)
    best = sum(idf.values()) * (K1 + 1)
    scores = {}
    for mid, (_, vec, words) in visible.items():
        counts = Counter(words)
        bm25 = sum(
            weight * counts[t] * (K1 + 1) / (counts[t] + K1 * (1 - B + B * len(words) / average))
            for t, weight in idf.items()
            if counts[t]
        )
        scores[mid] = (1 - w) * (bm25 / best if best else 0.0) + w * float(vec @ vector)
    return scores


SCOPES = [
    Scope("alice"),
    Scope("alice", "coach"),
    Scope("alice", "coach", "r1"),
    Scope("alice", None, "r2"),
    Scope("alice", project="p1"),
    Scope("alice", "coach", project="p2"),
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
@given(
    ops=operations,
    seed=st.integers(0, 2**32 - 1),
    k=st.integers(1, 12),
    weight=st.sampled_from([0.0, 0.1, 0.5, 1.0]),
)
def test_matches_brute_force_after_any_adds_and_removes(
    ops: list[tuple[str, int, int]], seed: int, k: int, weight: float
) -> None:
    rng = np.random.default_rng(seed)
    index = NumpyIndex(DIM, vector_weight=weight)
    docs: dict[MemoryId, Doc] = {}
    for op, number, scope_no in ops:
        memory_id = MemoryId(f"m{number}")
        if op == "add":
            scope = docs[memory_id][0] if memory_id in docs else SCOPES[scope_no]
            vector = unit(rng, 1)
            words = [str(word) for word in rng.choice(WORDS, size=int(rng.integers(0, 6)))]
            index.add([(memory_id, scope)], vector, [words])
            docs[memory_id] = (scope, vector[0], words)
        else:
            index.remove([memory_id])
            docs.pop(memory_id, None)
    assert len(index) == len(docs)
    query = unit(rng, 1)[0]
    terms = [str(word) for word in rng.choice(WORDS, size=3)]
    for scope in [*SCOPES, Scope("alice", "coach", None), Scope("carol")]:
        want = sorted(reference(docs, query, terms, scope, weight).values(), reverse=True)[:k]
        got = index.search(query, terms, scope, k, threshold=-2.0)
        assert [hit.score for hit in got] == pytest.approx(want, abs=1e-5)
        assert {hit.id for hit in got} <= {mid for mid, doc in docs.items() if scope.contains(doc[0])}
        assert index.count(scope) == sum(1 for doc in docs.values() if scope.contains(doc[0]))


def test_keyword_score_is_the_matched_share_of_the_query() -> None:
    index = NumpyIndex(2, vector_weight=0.0)
    zero = np.zeros((1, 2), dtype=np.float32)
    index.add([(MemoryId("both"), Scope("u"))], zero, [["tea", "alps"]])
    index.add([(MemoryId("tea"), Scope("u"))], zero, [["tea", "dog"]])
    index.add([(MemoryId("none"), Scope("u"))], zero, [["dog"]])
    hits = index.search(np.zeros(2, dtype=np.float32), ["tea", "alps"], Scope("u"), 10)
    assert [hit.id for hit in hits] == ["both", "tea"]  # "none" shares nothing: not related
    assert 0.0 < hits[1].keyword < hits[0].keyword <= 1.0


def test_words_no_memory_has_do_not_dilute_scores() -> None:
    index = NumpyIndex(2, vector_weight=0.0)
    index.add([(MemoryId("m"), Scope("u"))], np.zeros((1, 2), dtype=np.float32), [["tea"]])
    with_unknown = index.search(np.zeros(2, dtype=np.float32), ["tea", "xylophone"], Scope("u"), 1)
    alone = index.search(np.zeros(2, dtype=np.float32), ["tea"], Scope("u"), 1)
    assert with_unknown[0].score == pytest.approx(alone[0].score)


def test_without_a_threshold_only_related_memories_come_back() -> None:
    index = NumpyIndex(2, vector_weight=0.5)
    index.add(
        [(MemoryId("close"), Scope("u")), (MemoryId("far"), Scope("u"))],
        np.array([[1, 0], [0, 1]], dtype=np.float32),
        [[], []],
    )
    query = np.array([1, 0], dtype=np.float32)
    assert [hit.id for hit in index.search(query, [], Scope("u"), 5)] == ["close"]
    assert MIN_SIMILARITY > 0.0
    assert [hit.id for hit in index.search(query, [], Scope("u"), 5, threshold=-1.0)] == ["close", "far"]
    assert [hit.id for hit in index.search(query, [], Scope("u"), 5, threshold=0.6)] == []


def test_one_users_search_never_sees_another_users_memories() -> None:
    index = NumpyIndex(2)
    vector = np.array([[1, 0]], dtype=np.float32)
    index.add([(MemoryId("a"), Scope("alice"))], vector, [["secret"]])
    index.add([(MemoryId("b"), Scope("bob"))], vector, [["secret"]])
    assert [hit.id for hit in index.search(vector[0], ["secret"], Scope("alice"), 10)] == ["a"]
    assert index.ids(Scope("bob")) == {"b"}


def test_term_statistics_are_those_of_the_searched_scope() -> None:
    """Bob's many memories about tea do not make tea a common word for Alice."""
    index = NumpyIndex(2, vector_weight=0.0)
    zero = np.zeros((1, 2), dtype=np.float32)
    index.add([(MemoryId("a1"), Scope("alice"))], zero, [["tea"]])
    index.add([(MemoryId("a2"), Scope("alice"))], zero, [["dog"]])
    before = index.search(zero[0], ["tea"], Scope("alice"), 1)[0].score
    for i in range(50):
        index.add([(MemoryId(f"b{i}"), Scope("bob"))], zero, [["tea"]])
    assert index.search(zero[0], ["tea"], Scope("alice"), 1)[0].score == pytest.approx(before)


def test_agent_and_run_narrow_a_users_search() -> None:
    index = NumpyIndex(2)
    vector = np.array([[1, 0]], dtype=np.float32)
    index.add([(MemoryId("plain"), Scope("u"))], vector, [["x"]])
    index.add([(MemoryId("coach"), Scope("u", "coach"))], vector, [["x"]])
    index.add([(MemoryId("coach-r1"), Scope("u", "coach", "r1"))], vector, [["x"]])
    query = vector[0]
    assert {h.id for h in index.search(query, ["x"], Scope("u"), 10)} == {"plain", "coach", "coach-r1"}
    assert {h.id for h in index.search(query, ["x"], Scope("u", "coach"), 10)} == {"coach", "coach-r1"}
    assert {h.id for h in index.search(query, ["x"], Scope("u", None, "r1"), 10)} == {"coach-r1"}


def test_storage_grows_and_shrinks_without_losing_rows() -> None:
    rng = np.random.default_rng(7)
    index = NumpyIndex(DIM)
    vectors = unit(rng, 1000)
    ids = [MemoryId(f"m{i}") for i in range(1000)]
    for start in range(0, 1000, 100):  # many small inserts: amortised growth
        batch = ids[start : start + 100]
        index.add([(i, Scope("u")) for i in batch], vectors[start : start + 100], [[f"w{i}"] for i in batch])
    index.remove(ids[:990])
    remaining = index.search(vectors[995], ["wm995"], Scope("u"), 20, threshold=-2.0)
    assert {hit.id for hit in remaining} == set(ids[990:])
    assert remaining[0].id == ids[995]
    assert remaining[0].similarity == pytest.approx(1.0, abs=1e-6)
    assert remaining[0].keyword > 0.0


def test_overwriting_replaces_vector_and_words() -> None:
    index = NumpyIndex(2, vector_weight=0.0)
    index.add([(MemoryId("m"), Scope("u"))], np.array([[1, 0]], dtype=np.float32), [["paris"]])
    index.add([(MemoryId("m"), Scope("u"))], np.array([[0, 1]], dtype=np.float32), [["lisbon"]])
    assert len(index) == 1
    query = np.zeros(2, dtype=np.float32)
    assert index.search(query, ["paris"], Scope("u"), 5) == []
    assert [hit.id for hit in index.search(query, ["lisbon"], Scope("u"), 5)] == ["m"]


def test_wrong_shapes_are_refused() -> None:
    index = NumpyIndex(4)
    with pytest.raises(ValueError, match="length 4"):
        index.add([(MemoryId("m"), Scope("u"))], np.zeros((1, 3), dtype=np.float32), [[]])
    with pytest.raises(ValueError, match="term lists"):
        index.add([(MemoryId("m"), Scope("u"))], np.zeros((1, 4), dtype=np.float32), [])


def test_k_of_zero_and_empty_scopes_return_nothing() -> None:
    index = NumpyIndex(2)
    query = np.array([1, 0], dtype=np.float32)
    assert index.search(query, ["x"], Scope("nobody"), 5) == []
    index.add([(MemoryId("m"), Scope("u"))], query[np.newaxis], [["x"]])
    assert index.search(query, ["x"], Scope("u"), 0) == []


@settings(max_examples=100, deadline=None)
@given(
    batches=st.lists(
        st.lists(st.tuples(st.integers(0, 50), st.integers(0, len(SCOPES) - 1)), min_size=1, max_size=70),
        min_size=1,
        max_size=5,
    ),
    removals=st.lists(st.integers(0, 50), max_size=10),
    seed=st.integers(0, 2**32 - 1),
)
def test_batch_adds_match_brute_force(batches: list[list[tuple[int, int]]], removals: list[int], seed: int) -> None:
    """Batches (new ids in bulk, known ids overwritten or moved to another scope, an id twice in one batch, in two
    scopes) end as one-by-one adds would."""
    rng = np.random.default_rng(seed)
    index = NumpyIndex(DIM, vector_weight=0.5)
    docs: dict[MemoryId, Doc] = {}
    for batch in batches:
        items = [(MemoryId(f"m{number}"), SCOPES[scope_no]) for number, scope_no in batch]
        vectors = unit(rng, len(items))
        words = [[str(w) for w in rng.choice(WORDS, size=int(rng.integers(0, 6)))] for _ in items]
        index.add(items, vectors, words)
        for (memory_id, scope), vector, terms in zip(items, vectors, words, strict=True):
            docs[memory_id] = (scope, vector, terms)  # the last occurrence wins
    for number in removals:
        index.remove([MemoryId(f"m{number}")])
        docs.pop(MemoryId(f"m{number}"), None)
    assert len(index) == len(docs)
    query, terms = unit(rng, 1)[0], [str(w) for w in rng.choice(WORDS, size=2)]
    for scope in [*SCOPES, Scope("alice"), Scope("alice", project="p1")]:
        want = sorted(reference(docs, query, terms, scope, 0.5).values(), reverse=True)
        got = index.search(query, terms, scope, 80, threshold=-2.0)
        assert [hit.score for hit in got] == pytest.approx(want, abs=1e-5)
        assert index.ids(scope) == {mid for mid, doc in docs.items() if scope.contains(doc[0])}


@pytest.mark.parametrize("seed", range(5))
def test_bulk_batches_with_moves_and_repeats_match_brute_force(seed: int) -> None:
    """Batches big enough for the bulk path (32+ new memories in a partition), ids repeated inside a batch and
    moved between partitions from one batch to the next."""
    rng = np.random.default_rng(seed)
    index = NumpyIndex(DIM, vector_weight=0.5)
    docs: dict[MemoryId, Doc] = {}
    for _ in range(3):
        numbers = rng.integers(0, 150, size=200)
        scope_numbers = rng.choice(len(SCOPES), size=200, p=[0.7, *[0.3 / (len(SCOPES) - 1)] * (len(SCOPES) - 1)])
        items = [(MemoryId(f"m{n}"), SCOPES[s]) for n, s in zip(numbers, scope_numbers, strict=True)]
        vectors = unit(rng, len(items))
        words = [[str(w) for w in rng.choice(WORDS, size=int(rng.integers(0, 6)))] for _ in items]
        index.add(items, vectors, words)
        for (memory_id, scope), vector, terms in zip(items, vectors, words, strict=True):
            docs[memory_id] = (scope, vector, terms)
    assert len(index) == len(docs)
    query, terms = unit(rng, 1)[0], [str(w) for w in rng.choice(WORDS, size=2)]
    for scope in [*SCOPES, Scope("alice")]:
        want = sorted(reference(docs, query, terms, scope, 0.5).values(), reverse=True)
        got = index.search(query, terms, scope, 200, threshold=-2.0)
        assert [hit.score for hit in got] == pytest.approx(want, abs=1e-5)
        assert index.ids(scope) == {mid for mid, doc in docs.items() if scope.contains(doc[0])}


@settings(max_examples=60, deadline=None)
@given(
    closed=st.lists(st.booleans(), min_size=1, max_size=80),
    removed=st.sets(st.integers(0, 79), max_size=30),
    bulk=st.booleans(),
)
def test_superseded_rows_are_left_out_unless_asked_for_through_removals_and_moves(
    closed: list[bool], removed: set[int], bulk: bool
) -> None:
    rng = np.random.default_rng(len(closed))
    index = NumpyIndex(DIM, min_similarity=-1.0)
    scope = Scope("u")
    ids = [MemoryId(f"m{i}") for i in range(len(closed))]
    vectors = unit(rng, len(ids))
    if bulk:
        index.add([(memory_id, scope) for memory_id in ids], vectors, [["tea"]] * len(ids), closed)
    else:  # one by one, then closed afterwards, as a supersession marks them
        for row, memory_id in enumerate(ids):
            index.add([(memory_id, scope)], vectors[row : row + 1], [["tea"]])
        index.set_closed([memory_id for memory_id, flag in zip(ids, closed, strict=True) if flag])
    gone = {ids[i] for i in removed if i < len(ids)}
    index.remove(gone)  # a removal moves the last row into the hole: its flag must move with it
    kept = [memory_id for memory_id in ids if memory_id not in gone]
    current = {memory_id for memory_id, flag in zip(ids, closed, strict=True) if not flag and memory_id in kept}
    query = vectors[0]
    assert {hit.id for hit in index.search(query, ["tea"], scope, 100)} == current
    assert {hit.id for hit in index.search(query, ["tea"], scope, 100, superseded=True)} == set(kept)


def test_the_meaning_legs_picks_follow_the_best_by_centred_meaning() -> None:
    """With `room`, the memories closest to the query once the scope's mean meaning is taken away come after the
    best `k` (flagged `by_meaning`), related or not, at least MEANING_MIN close, current ones only."""
    rng = np.random.default_rng(11)
    shared = unit(rng, 1)[0]  # what every chatty memory has in common
    chatter = unit(rng, 30) * 0.3 + shared
    chatter /= np.linalg.norm(chatter, axis=1, keepdims=True)
    query = unit(rng, 1)[0] * 0.5 + shared * 0.5
    query /= np.linalg.norm(query)
    fact = query - shared * float(query @ shared)  # what the query means beyond the shared direction
    fact /= np.linalg.norm(fact)
    index = NumpyIndex(DIM, vector_weight=0.3, meaning=Meaning(0, DIM))
    ids = [MemoryId(f"c{n}") for n in range(30)]
    index.add([(memory_id, Scope("u")) for memory_id in ids], chatter, [["dog"]] * 30)
    index.add([(MemoryId("fact"), Scope("u"))], fact[None, :], [["tea"]])

    plain = index.search(query, ["dog"], Scope("u"), 5)
    assert "fact" not in [hit.id for hit in plain]  # by the fused score, chatter sharing "dog" wins
    found = index.search(query, ["dog"], Scope("u"), 5, room=1)
    assert found[:5] == plain
    picks = found[5:]
    assert len(picks) == 2
    assert all(hit.by_meaning for hit in picks)
    assert picks[0].id == "fact"  # closest once the shared direction is taken away
    assert picks[0].score == pytest.approx((1 - 0.3) * 0.0 + 0.3 * float(fact @ query), abs=1e-6)  # its own score

    assert index.search(query, ["dog"], Scope("u"), 5, room=1, threshold=0.0) == index.search(
        query, ["dog"], Scope("u"), 5, threshold=0.0
    )  # a threshold asks for scores: no room
    index.set_closed([MemoryId("fact")])
    assert "fact" not in [hit.id for hit in index.search(query, ["dog"], Scope("u"), 5, room=1)]
    assert "fact" in [hit.id for hit in index.search(query, ["dog"], Scope("u"), 5, room=1, superseded=True)]
    unmeant = NumpyIndex(DIM, vector_weight=0.3)
    unmeant.add([(MemoryId("fact"), Scope("u"))], fact[None, :], [["tea"]])
    assert not any(hit.by_meaning for hit in unmeant.search(query, ["dog"], Scope("u"), 5, room=1))


def test_a_memory_far_in_meaning_takes_no_room() -> None:
    rng = np.random.default_rng(5)
    vectors = unit(rng, 6)
    index = NumpyIndex(DIM, meaning=Meaning(0, DIM))
    index.add([(MemoryId(f"m{n}"), Scope("u")) for n in range(6)], vectors, [["tea"]] * 6)
    query = -vectors.mean(axis=0)  # away from everything stored
    query /= np.linalg.norm(query)
    picks = [hit for hit in index.search(query, [], Scope("u"), 3, room=1) if hit.by_meaning]
    centred = [
        float((v - vectors.mean(0)) @ (query - vectors.mean(0)))
        / float(np.linalg.norm(v - vectors.mean(0)) * np.linalg.norm(query - vectors.mean(0)))
        for v in vectors
    ]
    assert len(picks) == sum(score >= MEANING_MIN for score in centred)
