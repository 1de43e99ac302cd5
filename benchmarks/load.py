"""Load: many clients at once against one HTTP server, REST calls and MCP sessions mixed, nothing acknowledged lost.

Each client is its own user with its own token. For `--seconds` at each concurrency C (default 8, 32 and 128) it
repeats a mix of REST calls (40% add, 30% search, 10% list, 10% update, 10% delete) and, one call in ten, a whole
MCP streamable-HTTP session (initialize, tools/call search_memory, close). Reported per C: calls, throughput,
p50 / p99 per operation, errors (answers other than success, and exceptions), and acknowledged writes missing at
the end (every add answered 201 and not deleted since must be listed for its user). The server runs on loopback,
on a fresh SQLite file (or `--database-url`), and is stopped at the end.

Run: python benchmarks/load.py [--clients 8,32,128] [--seconds 15] [--json OUT] [--database-url postgresql://...]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

sys.path.insert(0, str(Path(__file__).parent))
from workload import sentences

COMMAND = Path(sys.executable).parent / "memory-mcp"
MIX = (("add", 40), ("search", 30), ("list", 10), ("update", 10), ("delete", 10))
"""REST operations and their weights; one call in ten is an MCP session instead."""
SESSION_SHARE = 0.1


@dataclass
class Tally:
    """What the clients of one run measured."""

    seconds: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    kept: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    """Per user: the ids of memories acknowledged stored and not deleted since."""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def serve(folder: Path, users: int, database_url: str | None) -> tuple[subprocess.Popen[bytes], str, list[str]]:
    """An HTTP server on loopback with `users` tokens; (process, base URL, tokens)."""
    tokens = {f"load-token-{n:04d}-{random.getrandbits(64):016x}": f"user{n:04d}" for n in range(users)}
    tokens_file = folder / "tokens.json"
    tokens_file.write_text(json.dumps(tokens))
    tokens_file.chmod(0o600)  # the server refuses to trust a tokens file others can read
    port = free_port()
    env = {"MEMORY_MCP_DB": str(folder / "load.db"), "MEMORY_MCP_TOKENS_FILE": str(tokens_file)}
    if database_url:
        env["MEMORY_MCP_DATABASE_URL"] = database_url
    command = [str(COMMAND), "--transport", "http", "--host", "127.0.0.1", "--port", str(port)]
    quiet = subprocess.DEVNULL
    process = subprocess.Popen(command, env=env, stdin=quiet, stdout=quiet, stderr=quiet)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx2.get(f"{base}/health", timeout=1).status_code == 200:
                return process, base, list(tokens)
        except httpx2.HTTPError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(f"the HTTP server did not start (exit code {process.poll()})")
        time.sleep(0.1)


async def one_client(base: str, token: str, user: str, until: float, texts: list[str], tally: Tally) -> None:
    """Repeat the mix until `until`, recording each call's time and outcome."""
    rng = random.Random(f"{token} {time.monotonic_ns()}")  # another sequence each run: no text repeats an earlier
    operations = [name for name, weight in MIX for _ in range(weight)]
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx2.AsyncClient(base_url=f"{base}/api/v1", headers=headers, timeout=60) as api:
        while time.monotonic() < until:
            operation = "mcp session" if rng.random() < SESSION_SHARE else rng.choice(operations)
            mine = tally.kept[user]
            if operation in ("update", "delete") and not mine:
                operation = "add"
            started = time.perf_counter()
            try:
                ok = await call(operation, api, base, headers, rng, texts, mine)
            except Exception:  # a refused connection, a timeout, a protocol error: all count as errors
                ok = False
            tally.seconds[operation].append(time.perf_counter() - started)
            if not ok:
                tally.errors[operation] += 1


async def call(
    operation: str,
    api: httpx2.AsyncClient,
    base: str,
    headers: dict[str, str],
    rng: random.Random,
    texts: list[str],
    mine: set[str],
) -> bool:
    """One operation; True when it was answered as a success (an acknowledged add is remembered in `mine`)."""
    if operation == "add":
        answer = await api.post("/memories", json={"text": f"{rng.choice(texts)} ({rng.getrandbits(48):x})"})
        if answer.status_code == 201:
            mine.add(answer.json()["id"])
        return answer.status_code == 201
    if operation == "search":
        answer = await api.post("/search", json={"query": " ".join(rng.choice(texts).split()[:3])})
        return answer.status_code == 200
    if operation == "list":
        return (await api.get("/memories", params={"limit": 20})).status_code == 200
    if operation == "update":
        target = rng.choice(sorted(mine))
        answer = await api.patch(f"/memories/{target}", json={"text": f"{rng.choice(texts)} ({rng.getrandbits(48):x})"})
        return answer.status_code == 200
    if operation == "delete":
        target = rng.choice(sorted(mine))
        answer = await api.delete(f"/memories/{target}")
        if answer.status_code == 200:
            mine.discard(target)
        return answer.status_code == 200
    async with (
        httpx2.AsyncClient(headers=headers, timeout=60) as http,
        Client(streamable_http_client(f"{base}/mcp", http_client=http)) as client,
    ):
        result = await client.call_tool("search_memory", {"query": " ".join(rng.choice(texts).split()[:3])})
        return not result.is_error


async def missing(base: str, tokens: Sequence[str], users: Sequence[str], tally: Tally) -> int:
    """Acknowledged, undeleted memories a listing of their user does not show."""
    lost = 0
    for token, user in zip(tokens, users, strict=True):
        listed: set[str] = set()
        async with httpx2.AsyncClient(
            base_url=f"{base}/api/v1", headers={"Authorization": f"Bearer {token}"}, timeout=60
        ) as api:
            cursor = None
            while True:
                params: dict[str, Any] = {"limit": 100, **({"cursor": cursor} if cursor else {})}
                page = (await api.get("/memories", params=params)).json()
                listed.update(memory["id"] for memory in page["memories"])
                cursor = page.get("next_cursor")
                if not cursor:
                    break
        lost += len(tally.kept[user] - listed)
    return lost


def percentile(samples: list[float], share: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else 0.0


async def run(base: str, tokens: list[str], clients: int, seconds: float, texts: list[str]) -> dict[str, Any]:
    """`clients` clients (the first tokens) for `seconds`; their figures."""
    tally = Tally()
    chosen = tokens[:clients]
    users = [f"user{n:04d}" for n in range(clients)]
    until = time.monotonic() + seconds
    started = time.perf_counter()
    await asyncio.gather(*(one_client(base, t, u, until, texts, tally) for t, u in zip(chosen, users, strict=True)))
    took = time.perf_counter() - started
    calls = sum(len(samples) for samples in tally.seconds.values())
    return {
        "clients": clients,
        "calls": calls,
        "per_second": calls / took,
        "errors": sum(tally.errors.values()),
        "missing": await missing(base, chosen, users, tally),
        "operations": {
            name: {
                "calls": len(samples),
                "p50_ms": 1000 * statistics.median(samples),
                "p99_ms": 1000 * percentile(samples, 0.99),
                "errors": tally.errors.get(name, 0),
            }
            for name, samples in sorted(tally.seconds.items())
        },
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--clients", default="8,32,128", help="concurrent clients, comma-separated (default 8,32,128)")
    parser.add_argument("--seconds", type=float, default=15.0, help="how long each concurrency runs (default 15)")
    parser.add_argument("--database-url", help="a PostgreSQL to run against (default: a fresh SQLite file)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    levels = [int(value) for value in args.clients.split(",") if value]
    texts = sentences(2_000)
    with tempfile.TemporaryDirectory() as folder:
        process, base, tokens = serve(Path(folder), max(levels), args.database_url)
        try:
            rows = [asyncio.run(run(base, tokens, clients, args.seconds, texts)) for clients in levels]
        finally:
            process.terminate()
            process.wait(timeout=30)
    backend = "PostgreSQL" if args.database_url else "SQLite"
    print(f"Load on one HTTP server ({backend}), {args.seconds:g} s per row, each client its own user")
    print("| clients | calls | calls/s | errors | acknowledged writes missing |")
    print("|---|---|---|---|---|")
    for row in rows:
        print(f"| {row['clients']} | {row['calls']} | {row['per_second']:.0f} | {row['errors']} | {row['missing']} |")
    print("\n| clients | operation | calls | p50 ms | p99 ms | errors |")
    print("|---|---|---|---|---|---|")
    for row in rows:
        for name, figures in row["operations"].items():
            print(
                f"| {row['clients']} | {name} | {figures['calls']} | {figures['p50_ms']:.1f} | "
                f"{figures['p99_ms']:.1f} | {figures['errors']} |"
            )
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    return 0 if all(row["errors"] == 0 and row["missing"] == 0 for row in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
