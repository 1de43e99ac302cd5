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
