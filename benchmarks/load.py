"""Load: many clients at once against one HTTP server, REST calls and MCP sessions mixed, nothing acknowledged lost.

Each client is its own user with its own token. For `--seconds` at each concurrency C (default 8, 32 and 128) it
repeats a mix of REST calls (`--mix write`: 40% add, 30% search, 10% list, 10% update, 10% delete; `--mix read`:
10% add, 60% search, 30% list) and, one call in ten, a whole MCP streamable-HTTP session (initialize, tools/call
search_memory, close). Reported per C: calls, throughput, p50 / p99 per operation, errors (answers other than
success, and exceptions), and acknowledged writes missing at the end (every add answered 201 and not deleted since
must be listed for its user). The server runs on loopback, on a fresh SQLite file (or `--database-url`), with
`--workers` processes, and is stopped at the end.

Other modes: `--scaling` measures read throughput (searches and lists over 32 keep-alive connections, from a client
of a few lines that costs far less CPU than the server) with 1 worker and with `--workers`; `--soak` runs one level
for `--seconds` with every user's store kept at 200 memories, sampling the server's memory, open descriptors,
threads and p99 every `--every` seconds; `--kill-worker` kills one worker with SIGKILL half-way through each level.

Run: python benchmarks/load.py [--clients 8,32,128] [--seconds 15] [--workers N] [--mix write|read] [--json OUT]
     python benchmarks/load.py --scaling --workers 2
     python benchmarks/load.py --soak --seconds 600
     python benchmarks/load.py --workers 2 --kill-worker --clients 32
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
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
MIXES = {
    "write": (("add", 40), ("search", 30), ("list", 10), ("update", 10), ("delete", 10)),
    "read": (("add", 10), ("search", 60), ("list", 30)),
}
"""REST operations and their weights (`--mix`); one call in ten is an MCP session instead."""
SESSION_SHARE = 0.1
SOAK_CAP = 200
"""Memories a soak keeps per user: past it an add becomes a delete, so the store stays the same size."""


@dataclass
class Tally:
    """What the clients of one run measured."""

    seconds: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    kept: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    """Per user: the ids of memories acknowledged stored and not deleted since."""
    ended: list[tuple[float, float]] = field(default_factory=list)
    """(when, seconds) of every call, for figures per minute."""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def serve(
    folder: Path, users: int, database_url: str | None, workers: int = 1
) -> tuple[subprocess.Popen[bytes], str, list[str]]:
    """An HTTP server on loopback with `users` tokens (and `workers` processes); (process, base URL, tokens)."""
    tokens = {f"load-token-{n:04d}-{random.getrandbits(64):016x}": f"user{n:04d}" for n in range(users)}
    tokens_file = folder / "tokens.json"
    tokens_file.write_text(json.dumps(tokens))
    tokens_file.chmod(0o600)  # the server refuses to trust a tokens file others can read
    port = free_port()
    env = {"MEMORY_MCP_DB": str(folder / "load.db"), "MEMORY_MCP_TOKENS_FILE": str(tokens_file)}
    if database_url:
        env["MEMORY_MCP_DATABASE_URL"] = database_url
    command = [
        str(COMMAND),
        "--transport",
        "http",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
    ]
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


async def one_client(
    base: str,
    token: str,
    user: str,
    until: float,
    texts: list[str],
    tally: Tally,
    mix: str = "write",
    cap: int = 0,
    sessions: float = SESSION_SHARE,
) -> None:
    """Repeat the mix until `until`, recording each call's time and outcome."""
    rng = random.Random(f"{token} {time.monotonic_ns()}")  # another sequence each run: no text repeats an earlier
    operations = [name for name, weight in MIXES[mix] for _ in range(weight)]
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx2.AsyncClient(base_url=f"{base}/api/v1", headers=headers, timeout=60) as api:
        while time.monotonic() < until:
            operation = "mcp session" if rng.random() < sessions else rng.choice(operations)
            mine = tally.kept[user]
            if operation in ("update", "delete") and not mine:
                operation = "add"
            if operation == "add" and cap and len(mine) >= cap:
                operation = "delete"  # a steady store: what the soak measures is the server, not the data growing
            started = time.perf_counter()
            try:
                ok = await call(operation, api, base, headers, rng, texts, mine)
            except Exception:  # a refused connection, a timeout, a protocol error: all count as errors
                ok = False
            took = time.perf_counter() - started
            tally.seconds[operation].append(took)
            tally.ended.append((time.monotonic(), took))
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


def server_processes(process: subprocess.Popen[bytes]) -> list[int]:
    """The server's process and its workers (children, from /proc; Linux)."""
    found = [process.pid]
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                status = (entry / "status").read_text()
            except OSError:
                continue
            if any(line.split() == ["PPid:", str(process.pid)] for line in status.splitlines()):
                found.append(int(entry.name))
    return found


def usage(process: subprocess.Popen[bytes]) -> dict[str, float]:
    """Resident memory (MB; of it, anonymous: the heap, not file pages), open file descriptors and threads of the
    server's processes, added up."""
    rss = anon = fds = threads = 0.0
    for pid in server_processes(process):
        try:
            status = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines())
            rss += int(status["VmRSS"].split()[0]) / 1024
            anon += int(status["RssAnon"].split()[0]) / 1024
            threads += int(status["Threads"])
            fds += len(list(Path(f"/proc/{pid}/fd").iterdir()))
        except (OSError, KeyError, ValueError):
            continue
    return {"rss_mb": rss, "anon_mb": anon, "fds": fds, "threads": threads}


async def run(
    base: str,
    tokens: list[str],
    clients: int,
    seconds: float,
    texts: list[str],
    mix: str = "write",
    process: subprocess.Popen[bytes] | None = None,
    every: float = 0.0,
    kill_worker: bool = False,
    cap: int = 0,
    sessions: float = SESSION_SHARE,
) -> dict[str, Any]:
    """`clients` clients (the first tokens) for `seconds`; their figures. With `every`, the server `process`'s
    memory, descriptors and threads and the p99 of the calls that ended are sampled that often; `kill_worker`
    kills one of its workers with SIGKILL half-way."""
    tally = Tally()
    chosen = tokens[:clients]
    users = [f"user{n:04d}" for n in range(clients)]
    until = time.monotonic() + seconds
    samples: list[dict[str, float]] = []
    killed: list[int] = []

    async def watch() -> None:
        start = time.monotonic()
        while time.monotonic() < until:
            await asyncio.sleep(min(every, max(0.0, until - time.monotonic())))
            now = time.monotonic()
            window = [took for ended, took in tally.ended if now - every <= ended <= now]
            assert process is not None
            p99 = 1000 * percentile(window, 0.99)
            samples.append({"minute": (now - start) / 60, "calls": len(window), "p99_ms": p99, **usage(process)})

    async def kill() -> None:
        await asyncio.sleep(seconds / 2)
        assert process is not None
        workers = server_processes(process)[1:]
        if workers:
            os.kill(workers[0], signal.SIGKILL)
            killed.append(workers[0])

    started = time.perf_counter()
    extra = ([watch()] if every and process is not None else []) + ([kill()] if kill_worker else [])
    await asyncio.gather(
        *(one_client(base, t, u, until, texts, tally, mix, cap, sessions) for t, u in zip(chosen, users, strict=True)),
        *extra,
    )
    took = time.perf_counter() - started
    calls = sum(len(samples) for samples in tally.seconds.values())
    return {
        "clients": clients,
        "calls": calls,
        "per_second": calls / took,
        "errors": sum(tally.errors.values()),
        "missing": await missing(base, chosen, users, tally),
        "killed_worker": killed[0] if killed else None,
        "samples": samples,
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


async def reader_connection(
    port: int, token: str, until: float, texts: list[str], seconds: list[float], failures: list[int]
) -> None:
    """One keep-alive connection sending REST reads (70% searches, 30% lists) until `until`, with a minimal
    HTTP/1.1 client of a few lines: the load generator then costs far less CPU than the server it measures."""
    rng = random.Random(f"{token} {time.monotonic_ns()}")
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    common = f"Host: 127.0.0.1:{port}\r\nAuthorization: Bearer {token}\r\n"
    try:
        while time.monotonic() < until:
            if rng.random() < 0.7:
                body = json.dumps({"query": " ".join(rng.choice(texts).split()[:3])}).encode()
                head = f"POST /api/v1/search HTTP/1.1\r\n{common}Content-Type: application/json\r\n"
                request = f"{head}Content-Length: {len(body)}\r\n\r\n".encode() + body
            else:
                request = f"GET /api/v1/memories?limit=20 HTTP/1.1\r\n{common}\r\n".encode()
            started = time.perf_counter()
            writer.write(request)
            status = int((await reader.readline()).split()[1])
            length = 0
            while (line := await reader.readline()) not in (b"\r\n", b""):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            await reader.readexactly(length)
            seconds.append(time.perf_counter() - started)
            if status != 200:
                failures.append(status)
    finally:
        writer.close()


async def read_throughput(base: str, tokens: list[str], clients: int, seconds: float, texts: list[str]) -> float:
    """Calls per second of `clients` keep-alive reader connections for `seconds` (after 2 s of warm-up)."""
    port = int(base.rsplit(":", 1)[1])
    warm: list[float] = []
    await asyncio.gather(*(reader_connection(port, t, time.monotonic() + 2, texts, warm, []) for t in tokens[:clients]))
    took: list[float] = []
    failures: list[int] = []
    started = time.perf_counter()
    until = time.monotonic() + seconds
    await asyncio.gather(*(reader_connection(port, t, until, texts, took, failures) for t in tokens[:clients]))
    if failures:
        raise RuntimeError(f"{len(failures)} reads failed (statuses {sorted(set(failures))})")
    return len(took) / (time.perf_counter() - started)


def scaling(args: argparse.Namespace, texts: list[str]) -> int:
    """Read throughput with 1 worker and with `args.workers`, one after the other on the same data: the table."""
    counts = [1, max(2, args.workers)]
    rates = []
    with tempfile.TemporaryDirectory() as folder:
        for workers in counts:
            process, base, tokens = serve(Path(folder), 32, args.database_url, workers)
            try:
                if workers == counts[0]:  # the same memories for both: 30 per user, added once
                    asyncio.run(seed(base, tokens, texts))
                rates.append(asyncio.run(read_throughput(base, tokens, 32, args.seconds, texts)))
            finally:
                process.terminate()
                process.wait(timeout=60)
    backend = "PostgreSQL" if args.database_url else "SQLite"
    print(f"Read throughput ({backend}, 32 keep-alive connections, 70% searches / 30% lists, {args.seconds:g} s)")
    print("| worker processes | calls/s | vs one |")
    print("|---|---|---|")
    for workers, rate in zip(counts, rates, strict=True):
        print(f"| {workers} | {rate:.0f} | {rate / rates[0]:.2f}x |")
    if args.json:
        args.json.write_text(json.dumps({"workers": counts, "calls_per_second": rates}, indent=2))
    return 0


async def seed(base: str, tokens: list[str], texts: list[str]) -> None:
    """30 memories for each of the 32 users (the users added to at once)."""

    async def one(number: int, token: str) -> None:
        headers = {"Authorization": f"Bearer {token}"}
        async with httpx2.AsyncClient(base_url=f"{base}/api/v1", headers=headers, timeout=60) as api:
            for n in range(30):
                answer = await api.post("/memories", json={"text": texts[(number * 30 + n) % len(texts)]})
                answer.raise_for_status()

    await asyncio.gather(*(one(number, token) for number, token in enumerate(tokens[:32])))


def soak(args: argparse.Namespace, texts: list[str]) -> int:
    """The mix at one level for `args.seconds`, sampled every minute: memory, descriptors, threads, p99."""
    clients = int(args.clients.split(",")[0]) if args.clients != "8,32,128" else 32
    with tempfile.TemporaryDirectory() as folder:
        process, base, tokens = serve(Path(folder), clients, args.database_url, args.workers)
        try:
            row = asyncio.run(
                run(
                    base,
                    tokens,
                    clients,
                    args.seconds,
                    texts,
                    args.mix,
                    process,
                    args.every,
                    cap=SOAK_CAP,
                    sessions=args.sessions,
                )
            )
        finally:
            process.terminate()
            process.wait(timeout=60)
    samples = row["samples"]
    print(
        f"Soak: {clients} clients, {args.mix} mix, {args.seconds:g} s, {args.workers} worker process(es), each user "
        f"kept at {SOAK_CAP} memories at most (an add past it deletes instead)"
    )
    print(
        f"{row['calls']} calls, {row['per_second']:.0f}/s, {row['errors']} errors, "
        f"{row['missing']} acknowledged writes missing"
    )
    print("| minute | calls in the interval | p99 ms | RSS MB | of it anonymous | open fds | threads |")
    print("|---|---|---|---|---|---|---|")
    for sample in samples:
        print(f"| {sample['minute']:.1f} | {sample['calls']:.0f} | {sample['p99_ms']:.0f} | {sample['rss_mb']:.0f} | "
              f"{sample['anon_mb']:.0f} | "
              f"{sample['fds']:.0f} | {sample['threads']:.0f} |")  # fmt: skip
    verdict = {}
    if len(samples) >= 3:
        second, last = samples[1], samples[-1]
        verdict = {
            "rss_growth_after_minute_2": last["rss_mb"] / second["rss_mb"] - 1,
            "p99_last_vs_second": last["p99_ms"] / second["p99_ms"],
            "fds_change_after_minute_2": last["fds"] - second["fds"],
            "threads_change_after_minute_2": last["threads"] - second["threads"],
        }
        print(
            f"RSS after minute 2: {100 * verdict['rss_growth_after_minute_2']:+.1f}%; p99 of the last minute "
            f"{verdict['p99_last_vs_second']:.2f}x the second's; open fds {verdict['fds_change_after_minute_2']:+.0f},"
            f" threads {verdict['threads_change_after_minute_2']:+.0f}"
        )
    if args.json:
        args.json.write_text(json.dumps({**row, "verdict": verdict}, indent=2))
    return 0 if row["errors"] == 0 and row["missing"] == 0 else 1


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--clients", default="8,32,128", help="concurrent clients, comma-separated (default 8,32,128)")
    parser.add_argument("--seconds", type=float, default=15.0, help="how long each concurrency runs (default 15)")
    parser.add_argument("--database-url", help="a PostgreSQL to run against (default: a fresh SQLite file)")
    parser.add_argument("--workers", type=int, default=1, help="server processes on the one port (default 1)")
    parser.add_argument("--mix", choices=sorted(MIXES), default="write", help="write (default) or read-heavy")
    parser.add_argument(
        "--scaling", action="store_true", help="measure read throughput with 1 worker and with --workers (at least 2)"
    )
    parser.add_argument(
        "--soak", action="store_true", help="one level (--clients, default 32) for --seconds, sampled every minute"
    )
    parser.add_argument(
        "--sessions", type=float, default=SESSION_SHARE, help="share of calls that are whole MCP sessions (0.1)"
    )
    parser.add_argument("--every", type=float, default=60.0, help="seconds between a soak's samples (default 60)")
    parser.add_argument("--kill-worker", action="store_true", help="kill -9 one worker half-way (with --workers 2+)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    levels = [int(value) for value in args.clients.split(",") if value]
    texts = sentences(2_000)
    if args.scaling:
        return scaling(args, texts)
    if args.soak:
        return soak(args, texts)
    with tempfile.TemporaryDirectory() as folder:
        process, base, tokens = serve(Path(folder), max(levels), args.database_url, args.workers)
        try:
            rows = [
                asyncio.run(
                    run(base, tokens, clients, args.seconds, texts, args.mix, process, kill_worker=args.kill_worker)
                )
                for clients in levels
            ]
        finally:
            process.terminate()
            process.wait(timeout=30)
    backend = "PostgreSQL" if args.database_url else "SQLite"
    processes = "one process" if args.workers == 1 else f"{args.workers} worker processes"
    print(
        f"Load on one HTTP server ({backend}, {processes}, {args.mix} mix), {args.seconds:g} s per row, "
        "each client its own user"
    )
    print("| clients | calls | calls/s | errors | acknowledged writes missing |")
    print("|---|---|---|---|---|")
    for row in rows:
        print(f"| {row['clients']} | {row['calls']} | {row['per_second']:.0f} | {row['errors']} | {row['missing']} |")
    if args.kill_worker:
        print(f"(one worker killed with SIGKILL half-way through each row: pids {[r['killed_worker'] for r in rows]})")
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
