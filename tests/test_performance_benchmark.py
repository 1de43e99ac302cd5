"""The performance benchmark runs end to end on a small size (speed itself is measured by the script, not here)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .helpers import load_benchmark


def test_the_benchmark_runs_and_reports_every_section(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    module = load_benchmark("performance")
    out = tmp_path / "perf.json"
    assert module.main(["--max-n", "1000", "--quick", "--no-peers", "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    results = json.loads(out.read_text())
    # Every goal of this run is printed beside its bound, met or not.
    goals = module.goals(results)
    assert {goal[0] for goal in goals} >= {
        "add_many in process, batches of 1,000",
        "add_memories over stdio, 500 a call",
        "stdio ping (bare pipe client) / a line-echo process",
    }
    assert all(f"| {goal} | {measured} | {bound} |" in printed for goal, measured, bound, _ in goals)
    assert [row["n"] for row in results["search"]] == [1000]
    assert results["writes"]["single_add_per_s"] > 0
    assert results["mcp"]["search_memory"]["median_ms"] > 0
    assert results["isolation"]["users"] == 1000
    assert results["search"][0]["vs_hash_only"] > 0
    assert results["embedding"]["default_cold"] > 0
    assert results["commands"]["hook prompt, a server running"]["median_ms"] > 0
    assert results["keeping"]["supersede_per_s"] > 0
    assert all(cold["first_search_rebuild_s"] > 0 for cold in results["cold_start"])
    assert results["keeping"]["search_as_of"]["median_ms"] > 0


def test_synthetic_memories_are_deterministic_and_distinct() -> None:
    module = load_benchmark("performance")
    first, again = module.sentences(500), module.sentences(500)
    assert first == again
    assert len(set(first)) == 500
    assert all(6 <= len(text.split()) - 1 <= 25 for text in first)


def test_the_command_line_benchmark_times_every_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """benchmarks/cli.py runs each command as a person types it and prints a row per command beside the goal."""
    module = load_benchmark("cli")
    out = tmp_path / "cli.json"
    assert module.main(["--memories", "300", "--runs", "1", "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    rows = json.loads(out.read_text())["rows"]
    assert [row["command"] for row in rows][1:] == [
        "--help", "list", "show ID", "history ID", "search WORDS", "search WORDS (a stdio server running)", "add TEXT",
        "stats", "users", "export", "config",
        "check", "check --deep (builds the index)", "hook stop (reminds)", "hook stop (starts a capture)",
    ]  # fmt: skip
    assert all(row["seconds"] > 0 and f"| {row['command']} | {row['seconds']:.3f} |" in printed for row in rows)


def test_the_second_stage_benchmark_times_search_both_ways(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """benchmarks/second_stage.py times the same searches with and without the second stage and prints the ratio."""
    module = load_benchmark("second_stage")
    out = tmp_path / "stage.json"
    assert module.main(["--sizes", "300", "--rounds", "1", "--json", str(out)]) == 0
    [row] = json.loads(out.read_text())
    assert row["memories"] == 300
    assert min(row["with_ms"], row["without_ms"]) > 0
    assert (
        f"| 300 | {row['with_ms']:.2f} ms | {row['without_ms']:.2f} ms | {row['ratio']:.2f}x |"
        in capsys.readouterr().out
    )
