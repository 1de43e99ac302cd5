"""The examples run as documented, and the client configurations are valid JSON of the right shape."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

EXAMPLES = Path(__file__).parent.parent / "examples"


def run_example(name: str, db: Path) -> str:
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / name), str(db)], capture_output=True, text=True, timeout=120, check=True
    )
    return result.stdout


def test_stdio_client_example_adds_and_finds(tmp_path: Path) -> None:
    out = run_example("client_stdio.py", tmp_path / "m.db")
    assert out.count("added:") == 2
    first_hit = next(line for line in out.splitlines() if line.startswith("found:"))
    assert first_hit.endswith("I love hiking in the Swiss Alps")


def test_embedded_engine_example(tmp_path: Path) -> None:
    out = run_example("embed_in_app.py", tmp_path / "m.db")
    assert "Prefers window seats on flights" in out.splitlines()[0]
    assert "1 memory about health: Allergic to peanuts" in out


def test_host_configurations_launch_the_console_script() -> None:
    desktop = json.loads((EXAMPLES / "claude_desktop_config.json").read_text())["mcpServers"]["memory"]
    vscode = json.loads((EXAMPLES / "vscode_mcp.json").read_text())["servers"]["memory"]
    assert vscode["type"] == "stdio"
    for entry in (desktop, vscode):
        assert entry["command"].endswith("/bin/memory-mcp")
        assert "MEMORY_MCP_DB" in entry["env"]
