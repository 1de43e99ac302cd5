"""The official MCP Inspector's command-line mode against the installed server, as the README tells people to try it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

INSPECTOR = "@modelcontextprotocol/inspector@2.12.0"
COMMAND = Path(sys.executable).parent / ("memory-mcp.exe" if sys.platform == "win32" else "memory-mcp")
NPX = shutil.which("npx")

pytestmark = pytest.mark.skipif(
    NPX is None and not os.environ.get("MEMORY_MCP_REQUIRE_NODE"),
    reason="npx (Node.js) is not installed, so the Inspector cannot run; .ci/run installs it and requires these",
)


def inspect(db: Path, *args: str) -> Any:
    """Run `npx @modelcontextprotocol/inspector --cli memory-mcp ARGS`; its JSON answer."""
    assert NPX is not None
    result = subprocess.run(
        [NPX, "-y", INSPECTOR, "--cli", str(COMMAND), "-e", f"MEMORY_MCP_DB={db}", "-e", "MEMORY_MCP_TOOLS=all", *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={**os.environ, "npm_config_update_notifier": "false"},
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout)


def test_inspector_lists_tools_calls_them_and_reads_resources(tmp_path: Path) -> None:
    db = tmp_path / "m.db"
    tools = {tool["name"] for tool in inspect(db, "--method", "tools/list")["tools"]}
    assert {"add_memory", "add_memories", "search_memory", "update_memory", "delete_memory"} <= tools

    added = inspect(
        db, "--method", "tools/call", "--tool-name", "add_memory",
        "--tool-arg", "user_id=alice", "text=Likes green tea", 'metadata={"topic": "drinks"}',
    )["structuredContent"]  # fmt: skip
    assert (added["event"], added["metadata"]) == ("ADD", {"topic": "drinks"})

    found = inspect(
        db, "--method", "tools/call", "--tool-name", "search_memory", "--tool-arg", "user_id=alice", "query=tea",
    )["structuredContent"]["results"]  # fmt: skip
    assert [hit["id"] for hit in found] == [added["id"]]

    resource = inspect(db, "--method", "resources/read", "--uri", "memory://users/alice/memories")
    listing = json.loads(resource["contents"][0]["text"])
    assert [m["text"] for m in listing["memories"]] == ["Likes green tea"]

    prompts = {prompt["name"] for prompt in inspect(db, "--method", "prompts/list")["prompts"]}
    assert prompts == {"what_do_you_remember", "forget_about"}
