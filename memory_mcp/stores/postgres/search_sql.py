"""The hybrid search in SQL: BM25 over the analysed terms fused with pgvector's cosine, by a scan or by candidates."""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Any, Final

import numpy as np

from ...meaning import centred_sql, meaning_query
from ...models import IndexHit, Meaning, MemoryId, Query
from ...scoring import K1, MEANING_MIN, B
from .. import _rows
from .connection import SCHEMA, vector_of
from .filter_sql import filter_sql

SCAN_MAX = 2_000
"""Scopes up to this many memories are searched by one exact scan: every memory scored, nothing approximate."""
EXACT_MAX = 10_000
"""Larger scopes are searched through candidates (`postings`): each query term's best memories by their postings'
impact, beside the nearest by cosine, found by a scan of the vectors up to this many memories, through HNSW above."""
PER_TERM: Final = 200
"""Postings read of each query term beyond those read in full (best impact first)."""
FULL_SHARE: Final = 0.2
FULL_BUDGET: Final = 5_000
"""Postings read in full, rarest term first (`_quotas`): up to FULL_SHARE of the scope's memories, at most this."""
RESCORED: Final = 300
"""The memories walked in the postings that are scored exactly: the best by the impacts seen."""
TOGETHER_SHARE: Final = 0.02
TOGETHER_BUDGET: Final = 2_000
RAREST: Final = 8
SEPARATOR: Final = "\x1f"
"""Sets of the RAREST query terms expected together in few memories have them all as candidates, up to
TOGETHER_SHARE of the scope's memories expected in all, at most TOGETHER_BUDGET (`_together`)."""
NEAREST: Final = 100
"""The nearest memories by cosine taken as candidates (at least `k`)."""
EF_SEARCH: Final = 100
HNSW_SHARE: Final = 0.1
"""Scopes of at least this share of all memories find their nearest through HNSW below EXACT_MAX too: its filtered
scan finds a scope this large early, and a scan of the vectors costs more than HNSW there (a scope among many
users' memories is scanned instead)."""


def _cosine(column: str) -> str:
    """Cosine similarity of `column` to the query, 0 where undefined: pgvector's distance to a zero vector
    (a text of stopwords only) is NaN, which PostgreSQL ranks above every number."""
    return f"coalesce(nullif(1.0 - ({column} <=> $1), 'NaN'::float8), 0.0)"


def _mark(position: int) -> str:
    return f"${position}"


@dataclass(frozen=True)
class _Shape:
    """What every search statement takes: the scope's clause (parameters from $4), the number of distinct query
    terms, `k`, the filter and validity (`narrowing`), the similarity floor, and the meaning leg's share."""

    where: str
    terms: int
    k: int
    min_similarity: float
    narrowing: str = "TRUE"
    picks: int = 0
    meaning_at: int = 0
    measured: bool = False

    @property
    def threshold(self) -> str:
        return f"${self.where.count('$') + 4}"

    def counts(self, terms: str, hit: str) -> str:
        """Each query term's count in the memory (`t0`...), 0 where `hit` is false."""
        parts = (
            f"CASE WHEN {hit} THEN cardinality(array_positions({terms}, ($2::text[])[{i + 1}])) ELSE 0 END::float8"
            f" AS t{i}"
            for i in range(self.terms)
        )
        return ", ".join(parts) or "0 AS none"

    def weights(self, frequencies: str) -> str:
        """The IDFs (`w0`...) from the scope's statistics and `frequencies` (a relation of `d0`...), and the largest
        possible BM25 sum (`best`) and IDF sum (`total_weight`)."""
        ids = range(self.terms)
        idfs = ", ".join(
            f"CASE WHEN d{i} > 0 THEN ln((n - d{i} + 0.5) / (d{i} + 0.5) + 1.0) ELSE 0 END AS w{i}" for i in ids
        )
        total = " + ".join(f"w{i}" for i in ids) or "0"
        return f"""SELECT *, ({total}) * {K1 + 1.0!r} AS best, ({total}) AS total_weight
            FROM (SELECT stats.*, {idfs or "0 AS none"} FROM stats, {frequencies}) w"""

    def keyword(self) -> str:
        """The normalised BM25 score (`keyword`) and the share of the query's IDF held (`coverage`)."""
        ids = range(self.terms)
        norm = f"{K1!r} * (1.0 - {B!r} + {B!r} * length / average)"
        bm25 = " + ".join(f"w{i} * t{i} * {K1 + 1.0!r} / (t{i} + {norm})" for i in ids) or "0"
        covered = " + ".join(f"CASE WHEN t{i} > 0 THEN w{i} ELSE 0 END" for i in ids) or "0"
        return (
            f"coalesce(({bm25}) / nullif(best, 0), 0) AS keyword, "
            f"coalesce(({covered}) / nullif(total_weight, 0), 0) AS coverage"
        )

    def products(self, column: str) -> str:
        """The memory's products with the meaning leg's two probes (`along`, `towards`), 0 without the leg."""
        if not self.picks:
            return "0.0::float8 AS along, 0.0::float8 AS towards"
        return ", ".join(
            f"(-({column} <#> ${self.meaning_at + i}))::float8 AS {name}" for i, name in enumerate(("along", "towards"))
        )

    def ranked(self, pool: str) -> str:
        """The best `k` of `scored` by the fused score (over the threshold, or related), then with `picks` the
        meaning leg's best of `pool` (rows of id, similarity, along, towards), marked `by_meaning`."""
        closeness = "0.0"
        if self.picks:
            closeness = centred_sql("along", "towards", *(f"${self.meaning_at + i}::float8" for i in (2, 3, 4)))
        threshold = self.threshold
        picks = (
            f"""
            UNION ALL
            SELECT * FROM (
                SELECT p.id, coalesce(s.keyword, 0.0) AS keyword, p.similarity,
                       (1.0 - $3) * coalesce(s.keyword, 0.0) + $3 * p.similarity AS fused, TRUE AS by_meaning,
                       p.closeness AS rank, p.closeness, coalesce(s.coverage, 0.0) AS coverage
                FROM (SELECT * FROM (SELECT id, similarity, {closeness} AS closeness FROM ({pool}) AS pool) AS c
                      WHERE closeness >= {MEANING_MIN!r} ORDER BY closeness DESC, id LIMIT {self.picks}) AS p
                LEFT JOIN (SELECT id, keyword, coverage FROM scored WHERE keyword > 0) AS s USING (id)
            ) AS picks"""
            if self.picks
            else ""
        )
        return f"""
        SELECT * FROM (
            SELECT id, keyword, similarity, fused, FALSE AS by_meaning, fused AS rank,
                   {closeness if self.measured else "NULL::float8"} AS closeness, coverage FROM (
                SELECT id, keyword, similarity, (1.0 - $3) * keyword + $3 * similarity AS fused, along, towards,
                       coverage
                FROM scored
                WHERE CASE WHEN {threshold}::float8 IS NULL THEN keyword > 0 OR similarity >= {self.min_similarity!r}
                           ELSE (1.0 - $3) * keyword + $3 * similarity >= {threshold}::float8 END
                ORDER BY fused DESC LIMIT {self.k}
            ) AS best{picks}
        ) AS found
        ORDER BY by_meaning, rank DESC
        """

    def stats(self) -> str:
        """The scope's size (`n`) and average length from the per-scope counts a trigger keeps."""
        return f"""SELECT coalesce(sum(memories), 0)::float8 AS n,
               greatest(coalesce(sum(terms), 0)::float8 / greatest(coalesce(sum(memories), 0), 1), 1.0) AS average
        FROM {SCHEMA}.scope_stats WHERE {self.where}"""


def _scan(shape: _Shape) -> str:
    """Every memory of the scope scored in one scan: $1 query vector, $2 the distinct query terms, $3 vector weight,
    scope parameters from $4, then the threshold (NULL: only related memories), then the filter's.

    The memories sharing a term with the query give each term's count, their length and cosine; document
    frequencies and IDFs come from those same rows. The others compete by cosine alone. With `picks`, the meaning
    leg's best follow, ranked over every memory by centred meaning (`meaning.centred`) from parameters `meaning_at`
    on: the two probe vectors, mu.q, |mu|^2 and |q - mu|. With `measured` (a `Query.pool`), every row also carries
    its closeness and its coverage (the share of the query terms' IDF it holds), as `search.index` gives them.
    """
    frequencies = ", ".join(f"count(*) FILTER (WHERE t{i} > 0)::float8 AS d{i}" for i in range(shape.terms))
    return f"""
    WITH stats AS MATERIALIZED ({shape.stats()}),
    matches AS MATERIALIZED (
        SELECT m.id, m.hit, cardinality(m.terms)::float8 AS length, {_cosine("m.embedding")} AS similarity,
               {shape.products("m.embedding")}, m.passes, tf.*
        FROM (SELECT id, terms, embedding, terms && $2::text[] AS hit, {shape.narrowing} AS passes
              FROM {SCHEMA}.memories WHERE {shape.where} OFFSET 0) AS m
        CROSS JOIN LATERAL (SELECT {shape.counts("m.terms", "m.hit")}) AS tf
    ),
    weights AS MATERIALIZED ({shape.weights(f"(SELECT {frequencies or '0 AS none'} FROM matches) AS f")}),
    scored AS MATERIALIZED (
        SELECT id, {shape.keyword()}, similarity, along, towards
        FROM matches, weights
        WHERE passes AND hit
        UNION ALL
        SELECT * FROM (SELECT id, 0.0::float8, 0.0::float8, similarity, along, towards FROM matches
                       WHERE passes AND NOT hit ORDER BY similarity DESC LIMIT {shape.k}) AS nearest
    )
    {shape.ranked("SELECT id, similarity, along, towards FROM matches WHERE passes")}
    """


def _candidates(shape: _Shape, hnsw: bool, walk: str, quotas_at: int, nearest: int) -> str:
    """The scope scored through candidates, with the parameters of `_scan` and the quotas at `quotas_at`.

    Each query term's postings are walked best impact first through `postings_best`, as many as its quota (those
    of the scope that pass `walk`); the memories walked are ranked by the IDF-weighted impacts seen, and the best
    RESCORED of them join the memories holding each set of terms at `quotas_at` + 1 (`_together`, through the GIN
    index on the terms) and the `nearest` by cosine (through HNSW, or a scan of the vectors, which then also gives
    the meaning leg every memory). Those candidates are scored exactly as `_scan` scores them, with document
    frequencies from `term_stats`. A memory can be missed only when it is outside all of those:
    `benchmarks/postgres.py` measures recall against `_scan`.
    """
    ids = range(shape.terms)
    frequencies = ", ".join(
        f"coalesce(sum(memories) FILTER (WHERE term = ($2::text[])[{i + 1}]), 0)::float8 AS d{i}" for i in ids
    )
    idfs = ", ".join(f"w{i}" for i in ids) or "0"
    keyword = f"""SELECT w.id FROM walked AS w, weights GROUP BY w.id
            ORDER BY sum((ARRAY[{idfs}]::float8[])[w.i] * w.impact) DESC LIMIT {RESCORED}"""
    together = f"""SELECT found.id FROM unnest(${quotas_at + 1}::text[]) AS together(terms)
            CROSS JOIN LATERAL (SELECT id FROM {SCHEMA}.memories
                                WHERE {shape.where} AND terms @> string_to_array(together.terms, chr({ord(SEPARATOR)}))
                                  AND {shape.narrowing}
                                LIMIT {4 * TOGETHER_BUDGET}) AS found"""
    if hnsw:
        vectors = ""
        near = f"""SELECT id FROM {SCHEMA}.memories WHERE {shape.where} AND {shape.narrowing}
            ORDER BY embedding <=> $1 LIMIT {nearest}"""
        pool = "SELECT id, similarity, along, towards FROM matches"
    else:
        vectors = f"""vectors AS MATERIALIZED (
            SELECT id, {_cosine("embedding")} AS similarity, {shape.products("embedding")}
            FROM {SCHEMA}.memories WHERE {shape.where} AND {shape.narrowing}
        ),"""
        near = f"SELECT id FROM vectors ORDER BY similarity DESC LIMIT {nearest}"
        pool = "SELECT id, similarity, along, towards FROM vectors"
    return f"""
    WITH stats AS MATERIALIZED ({shape.stats()}),
    frequencies AS MATERIALIZED (
        SELECT {frequencies or "0 AS none"} FROM {SCHEMA}.term_stats WHERE {shape.where} AND term = ANY($2::text[])
    ),
    weights AS MATERIALIZED ({shape.weights("frequencies")}),
    walked AS MATERIALIZED (
        SELECT q.i, found.id, found.impact
        FROM unnest($2::text[], ${quotas_at}::int[]) WITH ORDINALITY AS q(term, quota, i)
        CROSS JOIN LATERAL (SELECT p.memory_id AS id, p.impact FROM {SCHEMA}.postings AS p
                            WHERE {shape.where} AND p.term = q.term AND {walk}
                            ORDER BY p.impact DESC LIMIT q.quota) AS found
    ),
    {vectors}
    candidates AS MATERIALIZED (({keyword}) UNION ({near}) UNION ({together})),
    matches AS MATERIALIZED (
        SELECT m.id, cardinality(m.terms)::float8 AS length, {_cosine("m.embedding")} AS similarity,
               {shape.products("m.embedding")}, tf.*
        FROM {SCHEMA}.memories AS m
        CROSS JOIN LATERAL (SELECT {shape.counts("m.terms", "TRUE")}) AS tf
        WHERE m.id IN (SELECT id FROM candidates) AND {shape.where} AND {shape.narrowing}
    ),
    scored AS MATERIALIZED (SELECT id, {shape.keyword()}, similarity, along, towards FROM matches, weights)
    {shape.ranked(pool)}
    """


def _quotas(frequencies: list[int], per_term: int, size: int) -> list[int]:
    """How many postings to read of each query term: every one of the rarest terms while their postings add up to
    at most the budget (FULL_SHARE of the scope's `size`, at most FULL_BUDGET; a memory holding a rare term is
    always walked), `per_term` of the others."""
    budget = min(FULL_BUDGET, int(FULL_SHARE * size))
    quotas, spent = [per_term] * len(frequencies), 0
    for i in sorted(range(len(frequencies)), key=frequencies.__getitem__):
        if spent + frequencies[i] > budget:
            break
        quotas[i], spent = max(per_term, frequencies[i]), spent + frequencies[i]
    return quotas


def _together(terms: list[str], frequency: dict[str, int], size: int) -> list[str]:
    """Sets of query terms whose memories holding them all are read through the GIN index on the terms (each set
    joined by SEPARATOR): the memories that hold several of the query's rarer terms lead the ranking whatever each
    term's impact, and a set expected (as if the terms were independent) in few memories finds them cheaply.

    Only the smallest sets expected within the budget (TOGETHER_SHARE of `size`, at most TOGETHER_BUDGET) are read
    (a larger one's memories are among theirs), most selective first, until they are expected to fill the budget.
    Sets are drawn from the RAREST query terms."""
    budget = min(TOGETHER_BUDGET, TOGETHER_SHARE * size)
    known = sorted((term for term in terms if frequency.get(term, 0) > 0), key=frequency.__getitem__)[:RAREST]
    share = {term: frequency[term] / max(size, 1) for term in known}
    chosen: list[tuple[float, tuple[str, ...]]] = []
    for count in range(2, len(known) + 1):
        for group in itertools.combinations(known, count):
            if any(set(taken) <= set(group) for _, taken in chosen):
                continue
            expected = size * math.prod(share[term] for term in group)
            if expected <= budget:
                chosen.append((expected, group))
    sets, spent = [], 0.0
    for expected, group in sorted(chosen):
        if spent + expected > budget:
            break
        sets.append(SEPARATOR.join(group))
        spent += expected
    return sets


async def search(
    db: Any,
    query: Query,
    *,
    vector_weight: float,
    min_similarity: float,
    meaning: Meaning | None = None,
) -> list[IndexHit]:
    """The `k` best of `scope` by the fused score, on connection `db` (outside a transaction: a search is one
    statement; through HNSW it opens a transaction of its own for its SET LOCAL settings).

    Scopes up to SCAN_MAX memories are scanned exactly, larger ones searched through candidates (vectors by a scan
    up to EXACT_MAX, through HNSW above); when a filter leaves fewer than `k` among the candidates, the search is
    repeated as a scan, so it never comes back short. With `room`, `meaning` and no threshold,
    the meaning leg's best `room` + 1 follow, marked `by_meaning`, the scope's mean meaning read from the sums the
    database keeps per scope (`scope_stats.embedding_sum`).
    """
    vector, terms, scope, k, threshold = query.vector, query.terms, query.scope, query.k, query.threshold
    where, validity, room = query.where, query.validity, query.room
    if k <= 0:
        return []
    distinct = sorted(set(terms))
    asked_vector = np.asarray(vector, dtype=np.float32)

    own, params = _rows.scope_where(scope, _mark)
    terms_at = len(params) + 1
    size, total, unknown, table, counted = await db.fetchrow(
        f"""SELECT coalesce(sum(memories), 0), sum(embedding_sum), coalesce(bool_or(embedding_sum IS NULL
                   AND memories > 0), FALSE),
                   (SELECT reltuples FROM pg_class WHERE oid = '{SCHEMA}.memories'::regclass),
                   (SELECT array_agg(ARRAY[t.term, t.memories::text]) FROM (SELECT term, sum(memories) AS memories
                    FROM {SCHEMA}.term_stats WHERE {own} AND term = ANY(${terms_at}::text[]) GROUP BY term) AS t)
            FROM {SCHEMA}.scope_stats WHERE {own}""",
        *params,
        distinct,
    )
    own_sql, _ = _rows.scope_where(scope, _mark, 4)
    narrowing, extra = ("TRUE", []) if where is None else filter_sql(where, len(params) + 5)
    valid, at = _rows.validity_where(validity, _mark, len(params) + 5 + len(extra))
    narrowing = f"({narrowing}) AND {valid}"
    arguments: tuple[Any, ...] = (asked_vector, distinct, float(vector_weight), *params, threshold, *extra, *at)
    asked = None
    if room > 0 and threshold is None and meaning is not None and total is not None and not unknown:
        asked = meaning_query(asked_vector, np.asarray(vector_of(total), dtype=np.float64), int(size), meaning)
    meaning_at = len(arguments) + 1
    if asked is not None:
        arguments += (asked.probe[:, 0].copy(), asked.probe[:, 1].copy(), asked.offset, asked.mean_square, asked.norm)

    picks = 0 if asked is None else max(room + 1, query.pool)
    measured = asked is not None and query.pool > 0
    shape = _Shape(own_sql, len(distinct), int(k), float(min_similarity), narrowing, picks, meaning_at, measured)
    nearest = max(NEAREST, int(k))
    frequency = {term: int(count) for term, count in counted or ()}
    quotas = _quotas([frequency.get(term, 0) for term in distinct], max(PER_TERM, int(k)), int(size))
    if size <= SCAN_MAX:
        rows = await db.fetch(_scan(shape), *arguments)
    else:
        hnsw = size > EXACT_MAX or size >= HNSW_SHARE * max(float(table), 1.0)
        async with db.transaction():
            # Each term's postings are walked best first through their index, up to `per_term` that pass: a
            # bitmap scan would read every posting of a common term before sorting them.
            settings = "SET LOCAL enable_sort = off"
            if hnsw:
                ef = max(EF_SEARCH, nearest)
                settings += f"; SET LOCAL hnsw.ef_search = {ef}; SET LOCAL hnsw.iterative_scan = relaxed_order"
            await db.execute(settings)
            if where is None and validity.as_of is None:  # the postings know the scope and what is current
                walk = "TRUE" if validity.include_superseded else "p.current"
            else:
                walk = f"EXISTS (SELECT 1 FROM {SCHEMA}.memories WHERE id = p.memory_id AND {narrowing})"
            statement = _candidates(shape, hnsw, walk, len(arguments) + 1, nearest)
            rows = await db.fetch(statement, *arguments, quotas, _together(distinct, frequency, int(size)))
    filtered = where is not None or validity.as_of is not None
    if size > SCAN_MAX and filtered and sum(not row["by_meaning"] for row in rows) < k:  # too few passed
        rows = await db.fetch(_scan(shape), *arguments)
    return [
        IndexHit(
            MemoryId(row["id"]),
            float(row["fused"]),
            float(row["keyword"]),
            float(row["similarity"]),
            bool(row["by_meaning"]),
            None if row["closeness"] is None else float(row["closeness"]),
            float(row["coverage"]),
        )
        for row in rows
    ]
