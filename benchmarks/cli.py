"""How long each command-line command takes on a database of N memories (default 10,000): one row per command, the
median of several runs of the real `memory-mcp` process, beside the goal of 0.3 s. The Stop hook is timed too: what
the host waits for, with a capture started in the background or the reminder printed; and search once more with a
stdio server running for the database (as an assistant keeps one), which answers it.

Run: python benchmarks/cli.py [--memories N] [--runs K] [--json OUT]
The database is made in a temporary folder first (one user, N short distinct memories), then each command runs as a
person types it, every command once per round. Python's own start (`python -c pass`) is measured too: no command
can take less.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from memory_mcp import open_engine

GOAL = 0.3
"""Seconds a command may take at 10,000 memories (issue 27)."""
COMMAND = Path(sys.executable).parent / "memory-mcp"


async def fill(db: Path, count: int) -> str:
    """A database of `count` memories of user "alice"; the id of the newest."""
    async with open_engine(db) as engine:
        scope = engine.scope("alice")
        items = [(f"Memory number {n} about topic {n % 97} and thing {n % 13}", None) for n in range(count)]
        for start in range(0, count, 1000):
            await engine.add_many(items[start : start + 1000], scope)
        return (await engine.page(scope, limit=1)).memories[0].id


def timed(argv: Sequence[str], env: dict[str, str], given: str = "", pause: float = 0.0) -> float:
    """The wall time of one run of a process given `given` on stdin (its output thrown away); then `pause` s."""
    started = time.perf_counter()
    subprocess.run(
        argv, env=env, input=given.encode(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True
    )
    took = time.perf_counter() - started
    time.sleep(pause)
    return took


@contextlib.contextmanager
def serving(env: dict[str, str], folder: Path) -> Iterator[None]:
    """A stdio server on the database of `env` for the block, listening on its socket under `folder` (TMPDIR)."""
    server = subprocess.Popen(
        [str(COMMAND)], env=env, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 60
        while not list(folder.glob(f"memory-mcp-{os.getuid()}/*.sock")):
            if time.monotonic() > deadline or server.poll() is not None:
                raise RuntimeError("the stdio server did not start listening")
            time.sleep(0.05)
        yield
    finally:
        assert server.stdin is not None
        server.stdin.close()
        server.wait(timeout=60)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--memories", type=int, default=10_000, help="memories in the database (default 10,000)")
    parser.add_argument("--runs", type=int, default=9, help="rounds of every command (each one's median is shown)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        db = Path(folder) / "memory.db"
        newest = asyncio.run(fill(db, args.memories))
        env = {
            "MEMORY_MCP_DB": str(db),
            "MEMORY_MCP_USER": "alice",
            "HOME": folder,
            "TMPDIR": folder,  # where a running server's socket is looked for
            "PATH": str(COMMAND.parent),
        }
        commands: list[tuple[str, list[str]]] = [
            ("python -c pass (the floor)", [sys.executable, "-c", "pass"]),
            ("--help", ["--help"]),
            ("list", ["list"]),
            ("show ID", ["show", newest[:8]]),
            ("history ID", ["history", newest[:8]]),
            ("search WORDS", ["search", "topic 42"]),
            ("add TEXT", ["add", "One more memory for the benchmark"]),
            ("stats", ["stats"]),
            ("users", ["users"]),
            ("export", ["export"]),
            ("config", ["config", "claude-code"]),
            ("check", ["check"]),
            ("check --deep (builds the index)", ["check", "--deep"]),
            ("hook stop (reminds)", ["hook", "stop"]),
            ("hook stop (starts a capture)", ["hook", "stop"]),
        ]
        transcript = Path(folder) / "session.jsonl"
        transcript.write_text(json.dumps({"role": "user", "content": "I play the cello."}) + "\n")
        runs: list[tuple[list[str], dict[str, str], str, float]] = []
        for number, (name, arguments) in enumerate(commands):
            argv_ = arguments if arguments[0] == sys.executable else [str(COMMAND), *arguments]
            given, extra, pause = "", {}, 0.0
            if name.startswith("hook stop"):
                given = json.dumps({"session_id": f"s{number}", "transcript_path": str(transcript)})
            if name == "hook stop (starts a capture)":  # the capture itself, in the background, finds no model
                extra = {"MEMORY_MCP_LLM_BASE_URL": "http://127.0.0.1:9/v1", "MEMORY_MCP_LLM_MODEL": "none"}
                pause = 2.0  # so that its capture (a process of its own) does not slow the next round
            runs.append((argv_, {**env, **extra}, given, pause))
        # Round by round, every command once per round: a slow spell of a shared machine slows them all alike.
        took: list[list[float]] = [[] for _ in commands]
        for _ in range(args.runs):
            for number, (argv_, environment, given, pause) in enumerate(runs):
                took[number].append(timed(argv_, environment, given, pause))
        # Then with a stdio server running for the database, as an assistant keeps one: search asks it.
        with serving(env, Path(folder)):
            search = [str(COMMAND), "search", "topic 42"]
            timed(search, env)  # the server's index may still be filling
            names = [name for name, _ in commands]
            names.insert(names.index("search WORDS") + 1, "search WORDS (a stdio server running)")
            took.insert(names.index("search WORDS") + 1, [timed(search, env) for _ in range(args.runs)])
        rows: list[dict[str, Any]] = []
        for name, seconds in zip(names, map(statistics.median, took), strict=True):
            rows.append({"command": name, "seconds": round(seconds, 3), "within_goal": seconds <= GOAL})
    print(f"Command line on {args.memories:,} memories, median of {args.runs} rounds (goal: {GOAL} s each)")
    print("| command | seconds | within 0.3 s |")
    print("|---|---|---|")
    for row in rows:
        print(f"| {row['command']} | {row['seconds']:.3f} | {'yes' if row['within_goal'] else 'no'} |")
    if args.json:
        args.json.write_text(json.dumps({"memories": args.memories, "goal": GOAL, "rows": rows}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
