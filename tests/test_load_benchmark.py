"""The load benchmark, small: a few clients for two seconds, REST and MCP sessions, nothing lost, no errors."""

from __future__ import annotations

import json
from pathlib import Path

from .helpers import load_benchmark


def test_the_load_benchmark_runs_clients_and_finds_every_acknowledged_write(tmp_path: Path) -> None:
    bench = load_benchmark("load")
    out = tmp_path / "load.json"
    assert bench.main(["--clients", "2,4", "--seconds", "2", "--json", str(out)]) == 0
    rows = json.loads(out.read_text())
    assert [row["clients"] for row in rows] == [2, 4]
    for row in rows:
        assert row["calls"] > 0
        assert row["errors"] == row["missing"] == 0
        assert {"add", "search"} <= set(row["operations"])  # the two most frequent operations always run


def test_the_scaling_soak_and_kill_modes_report_what_they_measured(tmp_path: Path) -> None:
    """--scaling compares read throughput of 1 and 2 workers; --soak samples the server's processes; --kill-worker
    kills one worker half-way, and still no acknowledged write is missing."""
    bench = load_benchmark("load")
    scaling = tmp_path / "scaling.json"
    assert bench.main(["--scaling", "--workers", "2", "--seconds", "2", "--json", str(scaling)]) == 0
    rates = json.loads(scaling.read_text())
    assert rates["workers"] == [1, 2]
    assert all(rate > 0 for rate in rates["calls_per_second"])
    soak = tmp_path / "soak.json"
    assert bench.main(["--soak", "--clients", "4", "--seconds", "6", "--every", "2", "--json", str(soak)]) == 0
    samples = json.loads(soak.read_text())["samples"]
    assert len(samples) >= 2
    assert all(sample["rss_mb"] > sample["anon_mb"] > 0 and sample["fds"] > 0 for sample in samples)
    killed = tmp_path / "killed.json"
    code = bench.main(["--clients", "8", "--seconds", "6", "--workers", "2", "--kill-worker", "--json", str(killed)])
    [row] = json.loads(killed.read_text())
    assert row["killed_worker"] is not None
    assert row["missing"] == 0
    assert row["errors"] <= 8  # at most the calls in flight
    assert code == (0 if row["errors"] == 0 else 1)
