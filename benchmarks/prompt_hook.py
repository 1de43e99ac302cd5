"""The prompt hook's relevance: which stored memories it adds to prompts, against what a person would want added.

benchmarks/data/prompt_hook.json (CC0, written for this project): one user's 24 memories and 68 prompts typed into a
coding assistant (coding, writing, planning, personal questions), each labelled with the memories a person would
want the assistant reminded of; 39 need none. The hook's own function (`recall.matching`) answers each prompt from
an engine holding those memories. Reported, overall and per half (within each kind, the prompts needing a memory
and those needing none, in file order: tune the even, check the odd):

- clean: the share of prompts needing no memory to which the hook adds none (goal: 0.95 or more);
- right: the share of prompts needing one to which it adds at least one of theirs (goal: 0.80 or more);
- wrong: how many memories it adds that the prompt does not need, over all prompts.

Run: python benchmarks/prompt_hook.py [--json OUT]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from memory_mcp import open_engine
from memory_mcp.recall import matching

DATA = Path(__file__).resolve().parent / "data" / "prompt_hook.json"


async def injections(data: dict[str, Any]) -> list[set[str]]:
    """For each prompt, the keys of the memories the hook adds to it."""
    user = data["user"]
    with tempfile.TemporaryDirectory() as folder:
        async with open_engine(Path(folder) / "hook.db") as engine:
            keys = {}
            for key, text in data["memories"].items():
                keys[(await engine.add(text, engine.scope(user))).memory.text] = key
            return [
                {keys[text] for text in await matching(engine, user, None, prompt)} for prompt, _ in data["prompts"]
            ]


def figures(data: dict[str, Any], added: Sequence[set[str]], half: int | None = None) -> dict[str, float]:
    """clean, right and wrong (see the module's docstring) over every prompt, or one half (0: tune, 1: check)."""
    clean, right, wrong, idle, needing = 0, 0, 0, 0, 0
    seen = {True: 0, False: 0}  # prompts of each kind so far: the halves alternate within a kind
    for (_, wanted), given in zip(data["prompts"], added, strict=True):
        position = seen[bool(wanted)]
        seen[bool(wanted)] += 1
        if half is not None and position % 2 != half:
            continue
        wrong += len(given - set(wanted))
        if wanted:
            needing += 1
            right += bool(given & set(wanted))
        else:
            idle += 1
            clean += not given
    return {"clean": clean / max(idle, 1), "right": right / max(needing, 1), "wrong": wrong, "prompts": idle + needing}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--data", type=Path, default=DATA, help="the labelled prompts (default: the shipped set)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    data = json.loads(args.data.read_text(encoding="utf-8"))
    added = asyncio.run(injections(data))
    rows = {"all": figures(data, added), "tune half": figures(data, added, 0), "check half": figures(data, added, 1)}
    print(f"Prompt hook on {args.data.name}: {len(data['prompts'])} prompts, {len(data['memories'])} memories")
    print("| prompts | n | clean (no memory added where none is needed) | right (a needed memory added) | wrong |")
    print("|---|---|---|---|---|")
    for name, row in rows.items():
        print(f"| {name} | {row['prompts']} | {row['clean']:.2f} | {row['right']:.2f} | {row['wrong']} |")
    for (prompt, wanted), given in zip(data["prompts"], added, strict=True):
        if given != set(wanted):
            print(f"  {prompt[:60]!r}: added {sorted(given)}, wanted {sorted(wanted)}", file=sys.stderr)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
