"""The hybrid search in SQL: BM25 over the analysed terms fused with pgvector's cosine, exact or through HNSW."""

from __future__ import annotations

from typing import Any, Final

import numpy as np

from ...meaning import centred_sql, meaning_query
from ...models import IndexHit, Meaning, MemoryId, Query
from ...scoring import K1, MEANING_MIN, B
from .. import _rows
from .connection import vector_of
from .filter_sql import filter_sql
from .migrations import SCHEMA

EXACT_MAX = 10_000
"""Scopes up to this many memories are searched exactly (a scan of the scope); larger ones through HNSW.

Measured (benchmarks/postgres.py): on queries of rare words HNSW was 2x faster at 10,000 and 10x at 100,000;
on broad queries it was about 25% slower; exact keeps recall at 1 where the scan is cheap."""
EF_SEARCH: Final = 100


def _cosine(column: str) -> str:
    """Cosine similarity of `column` to the query, 0 where undefined: pgvector's distance to a zero vector
    (a text of stopwords only) is NaN, which PostgreSQL ranks above every number."""
    return f"coalesce(nullif(1.0 - ({column} <=> $1), 'NaN'::float8), 0.0)"


def _mark(position: int) -> str:
    return f"${position}"


def _statement(
    where: str,
    exact: bool,
    k: int,
    terms: int,
    min_similarity: float,
    narrowing: str = "TRUE",
    picks: int = 0,
    meaning_at: int = 0,
    measured: bool = False,
) -> str:
    """The hybrid search in one statement: $1 query vector, $2 the distinct query terms, $3 vector weight,
    scope parameters from $4, then the threshold (NULL: only related memories), then the filter's.

    The memories sharing a term with the query are read once: each term's count in each of them, their
    length and cosine; document frequencies and IDFs come from those same rows, so BM25 needs no other scan.
    The others compete by cosine alone: exactly, in the same single scan of the scope, or through HNSW.

    With `picks`, the meaning leg's best `picks` follow the best `k` (by_meaning true): by centred meaning
    (`meaning.centred`), from parameters `meaning_at` on: the two probe vectors, mu.q, |mu|^2 and |q - mu|. An exact
    search ranks every memory of the scope so; through HNSW, those it found (term matches and nearest by cosine).
    With `measured` (a `Query.pool`), every row also carries its closeness and its coverage (the share of the query
    terms' IDF it holds), as `search.index` gives them.
    """
    threshold = f"${where.count('$') + 4}"
    ids = range(terms)
    counts = ", ".join(
        f"CASE WHEN m.hit THEN cardinality(array_positions(m.terms, ($2::text[])[{i + 1}])) ELSE 0 END::float8 AS t{i}"
        for i in ids
    )
    frequencies = ", ".join(f"count(*) FILTER (WHERE t{i} > 0)::float8 AS d{i}" for i in ids)
    idfs = ", ".join(
        f"CASE WHEN d{i} > 0 THEN ln((n - d{i} + 0.5) / (d{i} + 0.5) + 1.0) ELSE 0 END AS w{i}" for i in ids
    )
    best = " + ".join(f"w{i}" for i in ids) or "0"
    covered = " + ".join(f"CASE WHEN t{i} > 0 THEN w{i} ELSE 0 END" for i in ids) or "0"
    norm = f"{K1!r} * (1.0 - {B!r} + {B!r} * length / average)"
    bm25 = " + ".join(f"w{i} * t{i} * {K1 + 1.0!r} / (t{i} + {norm})" for i in ids) or "0"
    if picks:
        along, towards = (f"(-(%s <#> ${meaning_at + i}))::float8" for i in (0, 1))
        products = f"{along % 'm.embedding'} AS along, {towards % 'm.embedding'} AS towards"
        nearest_products = f"{along % 'embedding'}, {towards % 'embedding'}"
        closeness = centred_sql("along", "towards", *(f"${meaning_at + i}::float8" for i in (2, 3, 4)))
    else:
        products, nearest_products, closeness = "0.0::float8 AS along, 0.0::float8 AS towards", "0.0, 0.0", "0.0"
    if exact:  # one scan of the scope serves both legs
        rows, hit = f"WHERE {where}", "terms && $2::text[]"
        nearest = (
            "SELECT id, 0.0::float8, similarity, along, towards FROM matches WHERE passes AND NOT hit "
            "ORDER BY similarity DESC"
        )
        pool = "SELECT id, similarity, along, towards FROM matches WHERE passes"
    else:
        rows, hit = f"WHERE {where} AND terms && $2::text[]", "TRUE"  # only the matches: the GIN index finds them
        nearest = f"""SELECT id, 0.0::float8, {_cosine("embedding")}, {nearest_products} FROM {SCHEMA}.memories
            WHERE {where} AND NOT (terms && $2::text[]) AND {narrowing} ORDER BY embedding <=> $1"""
        pool = "SELECT id, similarity, along, towards FROM scored"
    meaning_picks = (
        f"""
        UNION ALL
        SELECT * FROM (
            SELECT p.id, coalesce(s.keyword, 0.0) AS keyword, p.similarity,
                   (1.0 - $3) * coalesce(s.keyword, 0.0) + $3 * p.similarity AS fused, TRUE AS by_meaning,
                   p.closeness AS rank, p.closeness, coalesce(s.coverage, 0.0) AS coverage
            FROM (SELECT * FROM (SELECT id, similarity, {closeness} AS closeness FROM ({pool}) AS pool) AS c
                  WHERE closeness >= {MEANING_MIN!r} ORDER BY closeness DESC, id LIMIT {picks}) AS p
            LEFT JOIN (SELECT id, keyword, coverage FROM scored WHERE keyword > 0) AS s USING (id)
        ) AS picks"""
        if picks
        else ""
    )
    return f"""
    WITH stats AS MATERIALIZED (
        SELECT coalesce(sum(memories), 0)::float8 AS n,
               greatest(coalesce(sum(terms), 0)::float8 / greatest(coalesce(sum(memories), 0), 1), 1.0) AS average
        FROM {SCHEMA}.scope_stats WHERE {where}
    ),
    matches AS MATERIALIZED (
        SELECT m.id, m.hit, cardinality(m.terms)::float8 AS length, {_cosine("m.embedding")} AS similarity,
               {products}, m.passes, tf.*
        FROM (SELECT id, terms, embedding, {hit} AS hit, {narrowing} AS passes
              FROM {SCHEMA}.memories {rows} OFFSET 0) AS m
        CROSS JOIN LATERAL (SELECT {counts or "0 AS none"}) AS tf
    ),
    weights AS MATERIALIZED (
        SELECT *, ({best}) * {K1 + 1.0!r} AS best, ({best}) AS total_weight
        FROM (SELECT stats.*, {idfs or "0 AS none"} FROM stats, (SELECT {frequencies or "0 AS none"} FROM matches) f) w
    ),
    scored AS MATERIALIZED (
        SELECT id, coalesce(({bm25}) / nullif(best, 0), 0) AS keyword, similarity, along, towards,
               coalesce(({covered}) / nullif(total_weight, 0), 0) AS coverage
        FROM matches, weights
        WHERE passes AND hit
        UNION ALL
        SELECT *, 0.0::float8 AS coverage FROM ({nearest} LIMIT {k}) AS nearest
    )
    SELECT * FROM (
        SELECT id, keyword, similarity, fused, FALSE AS by_meaning, fused AS rank,
               {closeness if measured else "NULL::float8"} AS closeness, coverage FROM (
            SELECT id, keyword, similarity, (1.0 - $3) * keyword + $3 * similarity AS fused, along, towards, coverage
            FROM scored
            WHERE CASE WHEN {threshold}::float8 IS NULL THEN keyword > 0 OR similarity >= {float(min_similarity)!r}
                       ELSE (1.0 - $3) * keyword + $3 * similarity >= {threshold}::float8 END
            ORDER BY fused DESC LIMIT {k}
        ) AS best{meaning_picks}
    ) AS found
    ORDER BY by_meaning, rank DESC
    """


async def search(
    db: Any,
    query: Query,
    *,
    vector_weight: float,
    min_similarity: float,
    meaning: Meaning | None = None,
) -> list[IndexHit]:
    """The `k` best of `scope` by the fused score, on connection `db` (outside a transaction: the exact scan is one
    statement; the HNSW search opens one of its own for its SET LOCAL settings).

    Scopes up to EXACT_MAX memories are scanned exactly, larger ones go through HNSW; when HNSW under a
    selective filter finds fewer than `k`, the search is repeated exactly. With `room`, `meaning` and no threshold,
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
    size, total, unknown = await db.fetchrow(
        f"""SELECT coalesce(sum(memories), 0), sum(embedding_sum), coalesce(bool_or(embedding_sum IS NULL
                   AND memories > 0), FALSE) FROM {SCHEMA}.scope_stats WHERE {own}""",
        *params,
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

    def statement(exact: bool) -> str:
        picks = 0 if asked is None else max(room + 1, query.pool)
        measured = asked is not None and query.pool > 0
        return _statement(own_sql, exact, int(k), len(distinct), min_similarity, narrowing, picks, meaning_at, measured)

    if size <= EXACT_MAX:
        rows = await db.fetch(statement(True), *arguments)
    else:
        async with db.transaction():
            await db.execute(
                f"SET LOCAL hnsw.ef_search = {max(EF_SEARCH, int(k))}; SET LOCAL hnsw.iterative_scan = relaxed_order"
            )
            rows = await db.fetch(statement(False), *arguments)
        scored = sum(not row["by_meaning"] for row in rows)
        if (where is not None or validity.as_of is not None) and scored < k:  # HNSW gave up before the filter
            rows = await db.fetch(statement(True), *arguments)
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
