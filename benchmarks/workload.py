"""What the benchmarks share: deterministic synthetic memories and queries, timing and its summary, a bare stdio
JSON-RPC client, and the table of goals beside what a run measured."""

from __future__ import annotations

import asyncio
import json
import random
import statistics
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from memory_mcp import MemoryEngine, Scope

SEED = 20261125
WORDS = 5_000


def vocabulary(rng: random.Random) -> list[str]:
    letters = "abcdefghijklmnopqrstuvwxyz"
    return ["".join(rng.choice(letters) for _ in range(rng.randint(3, 10))) for _ in range(WORDS)]


def sentences(count: int, seed: int = SEED) -> list[str]:
    """Deterministic sentences of 6 to 25 words, drawn Zipf-like from a fixed vocabulary (unique texts)."""
    rng = random.Random(seed)
    words = vocabulary(rng)
    weights = [1.0 / (rank + 1) for rank in range(len(words))]
    return [f"{' '.join(rng.choices(words, weights, k=rng.randint(6, 25)))} #{i}" for i in range(count)]


def summary(samples: Sequence[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "median_ms": statistics.median(ordered) * 1000,
        "p95_ms": ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))] * 1000,
    }


async def timed(action: Callable[[], Awaitable[Any]], repeats: int, warmup: int = 3) -> list[float]:
    for _ in range(warmup):
        await action()
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        await action()
        samples.append(time.perf_counter() - started)
    return samples


async def fill(
    engine: MemoryEngine,
    scope_of: Callable[[int], Scope],
    texts: Sequence[str],
    metadata_of: Callable[[int], dict[str, Any]] | None = None,
) -> float:
    """Store `texts` (with `metadata_of(i)`, if given) through add_many in batches of 1,000 per scope; seconds."""
    started = time.perf_counter()
    groups: dict[Scope, list[tuple[str, dict[str, Any] | None]]] = {}
    for i, text in enumerate(texts):
        groups.setdefault(scope_of(i), []).append((text, None if metadata_of is None else metadata_of(i)))
    for scope, items in groups.items():
        for start in range(0, len(items), 1_000):
            await engine.add_many(items[start : start + 1_000], scope)
    return time.perf_counter() - started


def queries(texts: Sequence[str], count: int) -> list[str]:
    rng = random.Random(SEED + 1)
    return [" ".join(rng.choice(texts).split()[:4]) for _ in range(count)]


LINE_ECHO = "import sys\nfor line in sys.stdin:\n    sys.stdout.write(line)\n    sys.stdout.flush()\n"
"""A Python process that writes back each line it reads: the floor for a round trip over pipes."""


class RawPipe:
    """A bare JSON-RPC client over a server's stdio pipes: what a round trip costs without any client SDK work."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.next_id = 0

    @classmethod
    async def start(cls, command: str, env: dict[str, str], command_args: Sequence[str] = ()) -> RawPipe:
        process = await asyncio.create_subprocess_exec(
            command,
            *command_args,
            limit=64 * 1024 * 1024,  # a line of 500 results is over asyncio's default 64 KiB
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            env=env,
            stderr=asyncio.subprocess.DEVNULL,
        )
        pipe = cls(process)
        hello = {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "raw", "version": "1"}}
        await pipe.call("initialize", hello)
        await pipe.write({"jsonrpc": "2.0", "method": "notifications/initialized"})
        return pipe

    async def write(self, message: dict[str, Any]) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write((json.dumps(message) + "\n").encode())
        await self.process.stdin.drain()

    async def call(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        self.next_id += 1
        await self.write({"jsonrpc": "2.0", "id": self.next_id, "method": method, "params": params})
        assert self.process.stdout is not None
        while True:  # notifications (resource updates) may come first
            answer = json.loads(await self.process.stdout.readline())
            if answer.get("id") == self.next_id:
                assert "error" not in answer, answer["error"]
                result: dict[str, Any] = answer.get("result", {})  # the line-echo process answers with the request
                return result

    async def close(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        await self.process.wait()


Goal = tuple[str, str, str, bool]
"""One goal of issue 17: what, the figure measured, its bound, and whether it was met."""


def goal_table(rows: Sequence[Goal]) -> str:
    """The goals as a table: each figure of this run beside its bound."""
    lines = [
        "",
        "Goals (issue 17), measured in this run:",
        "",
        "| goal | measured | bound | met |",
        "|---|---|---|---|",
    ]
    lines += [
        f"| {goal} | {measured} | {bound} | {'yes' if met else '**no**'} |" for goal, measured, bound, met in rows
    ]
    return "\n".join(lines)


def at_most(what: str, value: float, bound: float, unit: str = "", digits: int = 2) -> Goal:
    """A goal that `value` stay at or under `bound` (both shown with `unit`)."""
    return (what, f"{value:,.{digits}f}{unit}", f"<= {bound:g}{unit}", value <= bound)
