"""The examples run as documented, and the client configurations are valid JSON of the right shape."""

from __future__ import annotations

import ast
import json
import os
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


def test_keeping_true_example_supersedes_and_follows_a_link(tmp_path: Path) -> None:
    out = run_example("keeping_true.py", tmp_path / "m.db")
    calls = out.split("\n\n")
    then = next(block for block in calls if 'as_of="2022-06"' in block)
    assert '"text": "Sam lives in Paris"' in then
    assert '"valid_to": "2024-03-01"' in then
    before, after = [b for b in calls if b.startswith('> search_memory(query="where Sam lives", threshold=0.1)\n<')]
    assert "Sam lives in Paris" in before
    assert "Sam lives in Berlin" in after
    assert "Paris" not in after
    last = calls[-1] if calls[-1].strip() else calls[-2]
    assert '"match": "linked"' in last
    assert "The ryokan had a hot spring bath" in last


def test_remembering_through_sampling_example(tmp_path: Path) -> None:
    """The README's sampling transcript: the server process asks the client's (scripted) model twice, and the job
    change supersedes, the restated fact is known, the family fact the user told is kept, the guessed health fact
    is skipped, and the instruction in the conversation deletes nothing."""
    out = run_example("remember_by_sampling.py", tmp_path / "m.db")
    assert out.count("<- sampling/createMessage") == 2
    report = json.loads(out.split("<- the tool's result (shortened)\n")[1].split("\nnow:")[0])
    assert [(item["event"], item["fact"]) for item in report["results"]] == [
        ("UPDATE", "Sam works at Globex"),
        ("NOOP", "Sam lives in Leeds"),
        ("ADD", "Sam's daughter Mia starts school in September 2027"),
        ("SKIP", "Sam has diabetes"),
    ]
    assert report["results"][0]["memory"]["valid_from"] == "2026-11-02"
    assert report["model"] == "the host's model (MCP sampling)"
    now = next(line for line in out.splitlines() if line.startswith("now: "))
    assert sorted(ast.literal_eval(now.removeprefix("now: "))) == [
        "Sam lives in Leeds",
        "Sam works at Globex",
        "Sam's daughter Mia starts school in September 2027",
    ]
    assert "as of 2026-10-01: ['Sam works at Acme']" in out


def test_embedded_engine_example(tmp_path: Path) -> None:
    out = run_example("embed_in_app.py", tmp_path / "m.db")
    assert "Prefers window seats on flights" in out.splitlines()[0]
    assert "1 memory about health: Allergic to peanuts" in out


def test_command_line_walkthrough(tmp_path: Path) -> None:
    bin_folder = Path(sys.executable).parent
    result = subprocess.run(
        ["bash", str(EXAMPLES / "walkthrough.sh"), str(tmp_path)],
        env={"PATH": f"{bin_folder}{os.pathsep}{os.environ['PATH']}", "HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "$ memory-mcp add 'I love hiking in the Swiss Alps'" in out
    assert out.count("\nAdded ") == 3
    assert "Updated " in out
    assert "Allergic to peanuts and cashews" in out
    assert "2 added, 0 already there, 0 failed" in out
    assert "0 added, 2 already there, 0 failed" in out  # the second import of the same file
    assert "Exported 2 memories" in result.stderr
    assert "Backed up to" in result.stderr
    assert "\nok\n" in out
    assert (tmp_path / "backup.db").exists()
    assert (tmp_path / "copy.db").exists()


def test_host_configurations_launch_the_console_script() -> None:
    desktop = json.loads((EXAMPLES / "claude_desktop_config.json").read_text())["mcpServers"]["memory"]
    vscode = json.loads((EXAMPLES / "vscode_mcp.json").read_text())["servers"]["memory"]
    assert vscode["type"] == "stdio"
    for entry in (desktop, vscode):
        assert entry["command"].endswith("/bin/memory-mcp")
        assert "MEMORY_MCP_DB" in entry["env"]
