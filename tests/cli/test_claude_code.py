"""The setup lines the README and `memory-mcp config` give for Claude Code, run in the real Claude Code CLI (npm
@anthropic-ai/claude-code; .ci/run installs it): the server is added and `claude mcp list` shows it connected."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from ..helpers import ROOT
from ..helpers.servers import ALICE, COMMAND, start

CLAUDE = os.environ.get("MEMORY_MCP_CLAUDE") or shutil.which("claude")
pytestmark = pytest.mark.skipif(
    CLAUDE is None and not os.environ.get("MEMORY_MCP_REQUIRE_CLAUDE"),
    reason="no Claude Code CLI here (npm install @anthropic-ai/claude-code); .ci/run installs it and requires these",
)


def in_claude(home: Path, line: str) -> subprocess.CompletedProcess[str]:
    """Run a shell line as a person would, with `claude` on the PATH, in a project folder of a fresh home."""
    assert CLAUDE is not None, "MEMORY_MCP_REQUIRE_CLAUDE is set but no Claude Code CLI is installed"
    project = home / "project"
    project.mkdir(exist_ok=True)
    env = {
        "HOME": str(home),
        "PATH": f"{Path(CLAUDE).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "DISABLE_AUTOUPDATER": "1",
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
    }
    return subprocess.run(
        ["bash", "-c", line], cwd=project, env=env, capture_output=True, text=True, timeout=180, check=False
    )


def assert_connected(home: Path, db: Path) -> None:
    listed = in_claude(home, "claude mcp list")
    assert listed.returncode == 0, listed.stdout + listed.stderr
    assert re.search(r"^memory: .*memory-mcp.* - \S+ Connected$", listed.stdout, re.MULTILINE), listed.stdout
    shown = in_claude(home, "claude mcp get memory")
    assert "Connected" in shown.stdout, shown.stdout
    assert f"MEMORY_MCP_DB={db}" in shown.stdout


def test_the_printed_claude_code_line_adds_a_connected_server(tmp_path: Path) -> None:
    """`eval "$(memory-mcp config claude-code)"`, the README's headline step, works on the first try."""
    db = tmp_path / "memory.db"
    added = in_claude(tmp_path, f'eval "$("{COMMAND}" config claude-code --db "{db}" --user alice)"')
    assert added.returncode == 0, added.stdout + added.stderr
    assert "Added stdio MCP server memory" in added.stdout
    assert_connected(tmp_path, db)


def test_the_readmes_hand_written_claude_code_line_adds_a_connected_server(tmp_path: Path) -> None:
    """The README's Claude Code block, its placeholders filled in, adds a server that connects."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    found = re.search(r"\*\*Claude Code\*\*:\n\n```bash\n(claude mcp add [^\n]+)\n```", readme)
    assert found is not None, "the README's Claude Code block moved"
    db = tmp_path / "memory.db"
    line = (
        found.group(1)
        .replace("/ABSOLUTE/PATH/TO/memory.db", str(db))
        .replace("YOUR_NAME", "alice")
        .replace("/ABSOLUTE/PATH/TO/memory-mcp/.venv/bin/memory-mcp", str(COMMAND))
    )
    added = in_claude(tmp_path, line)
    assert added.returncode == 0, added.stdout + added.stderr
    assert_connected(tmp_path, db)


def test_the_readmes_http_line_connects_with_a_token(tmp_path: Path) -> None:
    """The README's Claude Code line for an HTTP server with a tokens file, pointed at a running server."""
    readme = " ".join((ROOT / "README.md").read_text(encoding="utf-8").split())
    found = re.search(r"Claude Code `(claude mcp add --transport http memory [^`]+)`", readme)
    assert found is not None, "the README's HTTP line for Claude Code moved"
    tokens = tmp_path / "tokens.json"
    tokens.write_text(json.dumps({ALICE: "alice"}))
    tokens.chmod(0o600)
    process, base = start(tmp_path, env={"MEMORY_MCP_TOKENS_FILE": str(tokens)})
    try:
        line = found.group(1).replace("http://127.0.0.1:8000", base).replace("<token>", ALICE)
        added = in_claude(tmp_path, line)
        assert added.returncode == 0, added.stdout + added.stderr
        listed = in_claude(tmp_path, "claude mcp list")
        assert f"memory: {base}/mcp (HTTP) - " in listed.stdout
        assert "Connected" in listed.stdout.split(f"memory: {base}/mcp")[1].splitlines()[0], listed.stdout
    finally:
        process.terminate()
        process.wait(timeout=30)
