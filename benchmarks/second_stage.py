"""What search's second stage costs: search latency with it and without it (the fused order), in one engine.

One user's N memories (benchmarks/workload.py's sentences), 200 short queries made of their words; each round
times every query once with the second stage and once without, alternately, so that both see the same machine.
Prints the median of each and their ratio per N (the goal for 10,000: within 1.3x).

Run: python benchmarks/second_stage.py [--sizes 1000,10000] [--rounds 5] [--json OUT]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from memory_mcp import open_engine

sys.path.insert(0, str(Path(__file__).parent))
from workload import sentences


async def measure(size: int, rounds: int) -> dict[str, float]:
    """Median seconds of a search of `size` memories, with and without the second stage."""
    with tempfile.TemporaryDirectory() as folder:
        async with open_engine(Path(folder) / "s.db") as engine:
            scope = engine.scope("u")
            texts = sentences(size)
            for start in range(0, size, 1000):
                await engine.add_many([(text, None) for text in texts[start : start + 1000]], scope)
            queries = [" ".join(text.split()[:4]) for text in sentences(size + 200)[size:]]
            ranker = engine.ranking.ranker
            took: dict[str, list[float]] = {"with": [], "without": []}
            for _ in range(rounds):
                for query in queries:
                    for name, stage in (("with", ranker), ("without", None)):
                        engine.ranking.ranker = stage
                        started = time.perf_counter()
                        await engine.search(query, scope, limit=10)
                        took[name].append(time.perf_counter() - started)
            engine.ranking.ranker = ranker
    with_stage, without = statistics.median(took["with"]), statistics.median(took["without"])
    return {"memories": size, "with_ms": with_stage * 1000, "without_ms": without * 1000, "ratio": with_stage / without}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--sizes", default="1000,10000", help="memories per run, comma-separated")
    parser.add_argument("--rounds", type=int, default=5, help="times each query is asked each way")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    rows = [asyncio.run(measure(int(size), args.rounds)) for size in args.sizes.split(",")]
    print("| memories | search p50, second stage | search p50, fused order | ratio |")
    print("|---|---|---|---|")
    for row in rows:
        print(f"| {row['memories']:,} | {row['with_ms']:.2f} ms | {row['without_ms']:.2f} ms | {row['ratio']:.2f}x |")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
