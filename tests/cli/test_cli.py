"""Every command of `memory-mcp`, run through the installed console script as a person or a script would."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client, StdioServerParameters

from memory_mcp.app import open_engine
from memory_mcp.locations import login_user
from memory_mcp.server import build_server

from ..helpers import DEFAULT_ID, data
from ..helpers.chat_server import Reply, answer, chat_server

BIN = Path(sys.executable).parent
COMMAND = BIN / ("memory-mcp.exe" if sys.platform == "win32" else "memory-mcp")
COMMANDS = (
    "serve list search show history add edit delete users stats export import backup check config remember".split()  # noqa: SIM905
)


def cli(
    db: Path, *args: str, stdin: str | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run `memory-mcp ARGS` on database `db`."""
    assert COMMAND.exists(), f"{COMMAND} is missing: install the project (pip install -e '.[test]') first"
    return subprocess.run(
        [str(COMMAND), *args],
        env={"MEMORY_MCP_DB": str(db), "PATH": str(BIN), **(env or {})},
        input=stdin,
        stdin=None if stdin is not None else subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stderr
    return result.stdout


def as_json(result: subprocess.CompletedProcess[str]) -> Any:
    return json.loads(ok(result))


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "m.db"


def test_every_command_has_help() -> None:
    top = ok(subprocess.run([str(COMMAND), "--help"], capture_output=True, text=True, timeout=60, check=False))
    for command in COMMANDS:
        assert command in top
        result = subprocess.run([str(COMMAND), command, "--help"], capture_output=True, text=True, timeout=60)
        assert "Usage: memory-mcp " + command in ok(result)
    version = subprocess.run([str(COMMAND), "--version"], capture_output=True, text=True, timeout=60, check=True)
    assert version.stdout.startswith("memory-mcp, version ")


def test_add_list_show_search_edit_history_delete(db: Path) -> None:
    added = as_json(cli(db, "add", "I love hiking in the Swiss Alps", "--user", "alice", "--json"))
    assert added["event"] == "ADD"
    assert "Added " in ok(cli(db, "add", "Allergic to peanuts", "-u", "alice", "--metadata", '{"topic": "health"}'))
    again = ok(cli(db, "add", "allergic to PEANUTS", "-u", "alice"))
    assert again.startswith("Already remembered as ")
    ok(cli(db, "add", "Secret of bob", "-u", "bob"))

    listing = as_json(cli(db, "list", "-u", "alice", "--json"))
    assert [m["text"] for m in listing["memories"]] == ["Allergic to peanuts", "I love hiking in the Swiss Alps"]
    table = ok(cli(db, "list", "-u", "alice"))
    assert added["id"] in table
    assert "Swiss Alps" in table
    assert "Secret" not in table
    filtered = as_json(cli(db, "list", "-u", "alice", "--filter", '{"topic": "health"}', "--json"))
    assert [m["text"] for m in filtered["memories"]] == ["Allergic to peanuts"]
    first_page = as_json(cli(db, "list", "-u", "alice", "--limit", "1", "--json"))
    second = as_json(cli(db, "list", "-u", "alice", "--limit", "1", "--cursor", first_page["next_cursor"], "--json"))
    assert second["memories"][0]["id"] == added["id"]

    assert as_json(cli(db, "show", added["id"], "-u", "alice", "--json"))["text"].startswith("I love hiking")
    assert "Swiss Alps" in ok(cli(db, "show", added["id"], "-u", "alice"))
    hits = as_json(cli(db, "search", "hiking", "-u", "alice", "--json"))["results"]
    assert hits[0]["id"] == added["id"]
    assert hits[0]["score"] > 0
    assert "Swiss Alps" in ok(cli(db, "search", "hiking", "-u", "alice"))
    # Bob's search sees only Bob's memory, and only as a weak match: nothing of his is about hiking.
    bobs = as_json(cli(db, "search", "hiking", "-u", "bob", "--json"))["results"]
    assert [(hit["text"], hit["match"]) for hit in bobs] == [("Secret of bob", "weak")]

    edited = as_json(cli(db, "edit", added["id"], "-u", "alice", "--text", "I love hiking in the Dolomites", "--json"))
    assert edited["text"] == "I love hiking in the Dolomites"
    history = as_json(cli(db, "history", added["id"], "-u", "alice", "--json"))["history"]
    assert [(h["event"], h["new_text"]) for h in history] == [
        ("ADD", "I love hiking in the Swiss Alps"),
        ("UPDATE", "I love hiking in the Dolomites"),
    ]
    assert "Dolomites" in ok(cli(db, "history", added["id"], "-u", "alice"))

    deleted = as_json(cli(db, "delete", added["id"], "-u", "alice", "--json"))["deleted"]
    assert [m["id"] for m in deleted] == [added["id"]]
    missing = cli(db, "show", added["id"], "-u", "alice")
    assert missing.returncode == 1
    assert "No memory with id" in missing.stderr
    assert missing.stdout == ""
    assert [h["event"] for h in as_json(cli(db, "history", added["id"], "-u", "alice", "--json"))["history"]][-1] == (
        "DELETE"
    )


def test_edit_opens_the_editor_without_text(db: Path, tmp_path: Path) -> None:
    memory = as_json(cli(db, "add", "Lives in Lisbon", "-u", "u", "--json"))
    editor = tmp_path / "editor.py"
    editor.write_text("import sys\nopen(sys.argv[1], 'w').write('Lives in Porto\\n')\n")
    env = {"EDITOR": f"{sys.executable} {editor}"}
    ok(cli(db, "edit", memory["id"], "-u", "u", env=env))
    assert as_json(cli(db, "show", memory["id"], "-u", "u", "--json"))["text"] == "Lives in Porto"


def test_the_user_can_come_from_the_environment(db: Path) -> None:
    ok(cli(db, "add", "Drinks oat milk", env={"MEMORY_MCP_USER": "carol"}))
    assert as_json(cli(db, "list", "-u", "carol", "--json"))["total"] == 1


def test_delete_all_asks_for_confirmation(db: Path) -> None:
    for text in ("one", "two", "three"):
        ok(cli(db, "add", f"fact {text}", "-u", "u"))
    ok(cli(db, "add", "fact of another", "-u", "v"))
    refused = cli(db, "delete", "--all", "-u", "u")
    assert refused.returncode == 2
    assert "--yes" in refused.stderr
    declined = cli(db, "delete", "--all", "-u", "u", stdin="n\n")  # stdin is a pipe: no prompt, same refusal
    assert declined.returncode == 2
    assert as_json(cli(db, "delete", "--all", "-u", "u", "--yes", "--json")) == {"deleted": 3}
    assert as_json(cli(db, "list", "-u", "v", "--json"))["total"] == 1
    both = cli(db, "delete", "some-id", "--all", "-u", "u")
    assert both.returncode == 2
    assert "not both" in both.stderr


def test_users_and_stats(db: Path) -> None:
    ok(cli(db, "add", "fact a", "-u", "alice"))
    ok(cli(db, "add", "fact b", "-u", "alice", "--agent", "coder", "--run", "r1"))
    ok(cli(db, "add", "fact c", "-u", "bob"))
    users = as_json(cli(db, "users", "--json"))["users"]
    assert [(u["user_id"], u["memories"], u["agents"], u["runs"]) for u in users] == [
        ("alice", 2, 1, 1),
        ("bob", 1, 0, 0),
    ]
    assert "alice" in ok(cli(db, "users"))
    stats = as_json(cli(db, "stats", "--json"))
    assert (stats["users"], stats["memories"], stats["embedder"]) == (2, 3, DEFAULT_ID)
    assert stats["size_bytes"] > 0
    assert stats["oldest"] <= stats["newest"]
    alice = as_json(cli(db, "stats", "-u", "alice", "--json"))
    assert (alice["memories"], alice["agents"]) == (2, 1)
    assert "memories" in ok(cli(db, "stats"))


def test_export_import_round_trip_through_files_and_pipes(db: Path, tmp_path: Path) -> None:
    ok(cli(db, "add", "I love hiking", "-u", "alice", "--metadata", '{"topic": "hobby"}'))
    ok(cli(db, "add", "Plays the cello", "-u", "bob"))
    path = tmp_path / "export.jsonl"
    result = cli(db, "export", str(path), "--history", "--vectors")
    assert ok(result) == ""
    assert "Exported 2 memories" in result.stderr
    piped = ok(cli(db, "export", "--user", "bob"))
    assert [json.loads(line)["text"] for line in piped.splitlines()[1:]] == ["Plays the cello"]

    copy = tmp_path / "copy.db"
    assert as_json(cli(copy, "import", str(path), "--json")) == {"added": 2, "skipped": 0, "failed": []}
    assert "0 added, 2 already there" in ok(cli(copy, "import", str(path)))
    assert as_json(cli(copy, "import", "-", "--json", stdin=piped)) == {"added": 0, "skipped": 1, "failed": []}
    original = [json.loads(line) for line in path.read_text().splitlines()[1:]]
    ok(cli(copy, "export", str(tmp_path / "again.jsonl"), "--history", "--vectors"))
    assert [json.loads(line) for line in (tmp_path / "again.jsonl").read_text().splitlines()[1:]] == original


def test_import_reports_failures_with_a_nonzero_exit(db: Path, tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(
        '{"format": "memory-mcp", "version": 1}\n'
        '{"id": "a", "user_id": "u", "text": "good", "created_at": "2026-01-01T00:00:00Z"}\n'
        '{"id": "b", "user_id": "u", "text": ""}\n'
    )
    result = cli(db, "import", str(path))
    assert result.returncode == 1
    assert "1 added, 0 already there, 1 failed" in result.stdout
    assert "line 3" in result.stderr


def test_import_the_reference_servers_memory_file(db: Path) -> None:
    official = Path(__file__).parent.parent / "data" / "official-memory.jsonl"
    needs_user = cli(db, "import", "--from", "official-memory", str(official))
    assert needs_user.returncode == 2
    assert "--user" in needs_user.stderr
    report = as_json(cli(db, "import", "--from", "official-memory", str(official), "-u", "alice", "--json"))
    assert report == {"added": 9, "skipped": 0, "failed": []}
    hits = as_json(cli(db, "search", "rocket skates", "-u", "alice", "--json"))["results"]
    assert hits[0]["text"] == "Acme Corp: Makes rocket-powered roller skates"


@pytest.mark.slow  # a server process and the command line at once: the second tier
def test_backup_while_a_server_is_writing(db: Path, tmp_path: Path) -> None:
    server = StdioServerParameters(command=str(COMMAND), args=[], env={"MEMORY_MCP_DB": str(db)})
    target = tmp_path / "backup.db"

    async def scenario() -> int:
        async with Client(server) as client:
            for i in range(50):
                data(await client.call_tool("add_memory", {"user_id": "u", "text": f"fact number {i}"}))
            result = await anyio.to_thread.run_sync(lambda: cli(db, "backup", str(target)))
            for i in range(50, 60):
                data(await client.call_tool("add_memory", {"user_id": "u", "text": f"fact number {i}"}))
        assert result.returncode == 0, result.stderr
        assert "Backed up to" in result.stderr
        return int(as_json(cli(db, "stats", "--json"))["memories"])

    assert anyio.run(scenario) == 60
    with sqlite3.connect(target) as connection:  # one self-contained file, no -wal beside it
        assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    assert not (tmp_path / "backup.db.partial").exists()
    copied = as_json(cli(target, "check", "--json"))
    assert copied["ok"] is True
    assert copied["memories"] == 50
    exists = cli(db, "backup", str(target))
    assert exists.returncode == 2
    assert "--force" in exists.stderr
    ok(cli(db, "backup", str(target), "--force"))
    assert as_json(cli(target, "stats", "--json"))["memories"] == 60


def test_check_finds_problems_and_exits_nonzero(db: Path) -> None:
    for i in range(3):
        ok(cli(db, "add", f"healthy fact {i}", "-u", "u"))
    healthy = cli(db, "check")
    assert healthy.returncode == 0
    assert healthy.stdout.rstrip().endswith("ok")
    deep = cli(db, "check", "--deep")
    assert deep.returncode == 0
    assert "indexed" in deep.stdout
    with sqlite3.connect(db) as connection:
        connection.execute("UPDATE memories SET content_hash = 'x' WHERE text = 'healthy fact 0'")
        connection.execute("UPDATE memories SET embedding = zeroblob(12) WHERE text = 'healthy fact 1'")
        connection.execute("UPDATE memories SET metadata = '[1]' WHERE text = 'healthy fact 2'")
    report = cli(db, "check", "--json")
    assert report.returncode == 1
    problems = json.loads(report.stdout)["problems"]
    assert any("wrong length" in p for p in problems)
    assert any("not a JSON object (1:" in p for p in problems)
    assert not any("hash" in p for p in problems)  # the texts are read by --deep
    deep_problems = json.loads(cli(db, "check", "--deep", "--json").stdout)["problems"]
    assert any("duplicate-check hash does not match (1:" in p for p in deep_problems)
    other_embedder = cli(db, "check", "--embed-dim", "64")
    assert other_embedder.returncode == 1
    assert "hash-v2-64" in other_embedder.stderr
    missing = cli(db.with_name("nothing.db"), "check")
    assert missing.returncode == 1
    assert "no database" in missing.stderr


def test_check_finds_links_that_join_no_two_memories_of_one_user(db: Path) -> None:
    ids = [as_json(cli(db, "add", f"fact {i}", "-u", user, "--json"))["id"] for i, user in enumerate("aab")]
    ok(cli(db, "link", ids[0], ids[1], "--type", "part_of", "-u", "a"))
    assert cli(db, "check").returncode == 0
    with sqlite3.connect(db) as connection:  # what no command can make: a link to another user's memory
        connection.execute(
            "INSERT INTO links (user_id, source_id, target_id, type, created_at) VALUES ('a', ?, ?, 'x', '')",
            (ids[0], ids[2]),
        )
    report = cli(db, "check", "--json")
    assert report.returncode == 1
    assert any("Links that do not join two memories of one user" in p for p in json.loads(report.stdout)["problems"])


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        pytest.param(["show", "-u", "u", "ab"], 2, "too short to find a memory by", id="short-id"),
        pytest.param(["list", "-u", "a b"], 2, "not a valid id", id="bad-user"),
        pytest.param(["add", "x", "-u", "u", "--metadata", "{oops"], 2, "Not valid JSON", id="bad-json"),
        pytest.param(["search", "the", "-u", "u"], 2, "no words to search by", id="stopword-query"),
        pytest.param(["show", "nope", "-u", "u"], 1, "No memory with id", id="not-found"),
        pytest.param(["list", "-u", "u", "--embed-dim", "many"], 2, "--embed-dim", id="bad-setting"),
        pytest.param(["export", "--agent", "a"], 2, "--user", id="agent-without-user"),
        pytest.param(["frobnicate"], 2, "No such command", id="unknown-command"),
    ],
)
def test_bad_input_gets_a_message_and_an_exit_code(db: Path, args: list[str], code: int, message: str) -> None:
    result = cli(db, *args)
    assert result.returncode == code, result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr


async def test_serve_command_serves_stdio(db: Path) -> None:
    server = StdioServerParameters(
        command=str(COMMAND), args=["serve", "--transport", "stdio", "--db", str(db)], env={}
    )
    async with Client(server) as client:
        data(await client.call_tool("add_memory", {"user_id": "u", "text": "served by the serve command"}))
    assert as_json(cli(db, "list", "-u", "u", "--json"))["total"] == 1


def test_config_prints_what_to_paste_into_each_host(db: Path) -> None:
    desktop = as_json(cli(db, "config", "claude-desktop"))["mcpServers"]["memory"]
    vscode = as_json(cli(db, "config", "vscode"))["servers"]["memory"]
    assert desktop["command"] == vscode["command"] == str(COMMAND)
    me = login_user()
    assert desktop["env"] == vscode["env"] == {"MEMORY_MCP_DB": str(db), "MEMORY_MCP_USER": me}
    assert vscode["type"] == "stdio"
    assert ok(cli(db, "config", "claude-code")).strip() == (
        f"claude mcp add memory -e MEMORY_MCP_DB={db} -e MEMORY_MCP_USER={me} -- {COMMAND}"
    )
    # Whose memories the host keeps can be chosen; an id that is not one is refused.
    chosen = as_json(cli(db, "config", "cursor", "--user", "sam@example.com"))["mcpServers"]["memory"]
    assert chosen["env"]["MEMORY_MCP_USER"] == "sam@example.com"
    refused = cli(db, "config", "cursor", "--user", "sam smith")
    assert refused.returncode == 2
    assert "no spaces or slashes" in refused.stderr
    everything = ok(cli(db, "config"))
    for host in ("Claude Desktop", "Cursor", ".vscode/mcp.json", "Claude Code"):
        assert host in everything


def test_show_edit_history_and_delete_take_an_unambiguous_start_of_an_id(db: Path) -> None:
    first = as_json(cli(db, "add", "Likes green tea", "-u", "sam", "--json"))
    second = as_json(cli(db, "add", "Plays the cello", "-u", "sam", "--json"))
    short = first["id"][:8]
    assert as_json(cli(db, "show", short, "-u", "sam", "--json"))["text"] == "Likes green tea"
    assert as_json(cli(db, "edit", short, "-u", "sam", "--text", "Likes jasmine tea", "--json"))["id"] == first["id"]
    assert len(as_json(cli(db, "history", short, "-u", "sam", "--json"))["history"]) == 2
    # A start shared by both ids (there is always one: the empty start is refused as too short) is ambiguous.
    common = next((first["id"][:n] for n in range(8, 3, -1) if second["id"].startswith(first["id"][:n])), None)
    if common is not None:
        ambiguous = cli(db, "show", common, "-u", "sam")
        assert ambiguous.returncode == 2
        assert "give more of it" in ambiguous.stderr
    # Another user's memory is not found by a start of its id either.
    assert "No memory with id" in cli(db, "show", short, "-u", "bob").stderr
    assert "Deleted" in ok(cli(db, "delete", short, "-u", "sam"))
    assert as_json(cli(db, "list", "-u", "sam", "--json"))["total"] == 1


def test_messages_on_the_command_line_name_its_commands(db: Path) -> None:
    missing = cli(db, "show", "no-such-memory", "-u", "sam")
    assert missing.returncode == 1
    assert "memory-mcp search or memory-mcp list" in missing.stderr
    assert "search_memory" not in missing.stderr


def test_edit_without_an_editor_or_a_terminal_says_what_to_do(db: Path) -> None:
    added = as_json(cli(db, "add", "Likes tea", "-u", "sam", "--json"))
    result = cli(db, "edit", added["id"], "-u", "sam", stdin="", env={"EDITOR": "", "VISUAL": ""})
    assert result.returncode == 2
    assert "give the new text with --text" in result.stderr
    assert as_json(cli(db, "show", added["id"], "-u", "sam", "--json"))["text"] == "Likes tea"


def test_one_user_is_one_user(db: Path) -> None:
    ok(cli(db, "add", "fact", "-u", "alice"))
    shown = ok(cli(db, "users"))
    assert "1 user" in shown
    assert "1 users" not in shown


def test_plain_jsonl_lines_import_as_memories(db: Path, tmp_path: Path) -> None:
    """Lines of {"text": ...} from any tool, with no header, are memories, not the reference server's graph."""
    source = tmp_path / "notes.jsonl"
    source.write_text(
        '{"text": "Likes green tea", "metadata": {"topic": "drinks"}}\n'
        '{"text": 5}\n'
        '{"text": "Plays the cello", "user_id": "bob"}\n'
    )
    report = cli(db, "import", str(source), "--json")
    assert report.returncode == 1  # a line failed
    outcome = json.loads(report.stdout)
    assert (outcome["added"], outcome["skipped"]) == (1, 0)
    assert outcome["failed"] == [
        "line 1: no user: give --user, or a user_id on the line",
        "line 2: no user: give --user, or a user_id on the line",
    ]
    again = json.loads(cli(db, "import", str(source), "-u", "sam", "--json").stdout)
    assert (again["added"], again["skipped"]) == (2, 0)  # --user puts the cello under sam too
    assert again["failed"] == ["line 2: text must be a string (the words themselves), not int '5'."]
    sams = as_json(cli(db, "list", "-u", "sam", "--json"))["memories"]
    assert {m["text"]: m["metadata"] for m in sams} == {"Likes green tea": {"topic": "drinks"}, "Plays the cello": {}}


@pytest.mark.parametrize(
    ("host", "where"),
    [
        pytest.param("cursor", ".cursor/rules/memory.mdc", id="cursor"),
        pytest.param("vscode", ".github/copilot-instructions.md", id="vscode"),
        pytest.param("agents", "AGENTS.md", id="agents"),
    ],
)
def test_instructions_print_the_rules_a_host_without_hooks_reads(db: Path, host: str, where: str) -> None:
    """The same instructions the server sends at the handshake, as a rules file, with where to save it."""
    result = cli(db, "instructions", host, "--user", "sam")
    assert result.returncode == 0, result.stderr
    assert where in result.stderr
    assert "call search_memory" in result.stdout
    assert "memories of 'sam'" in result.stdout
    assert result.stdout.startswith("---\n") == (host == "cursor")  # Cursor's rule header: always applied


def test_the_readme_handshake_check_gets_one_answer_and_ends(db: Path) -> None:
    # README "Troubleshooting" tells people to pipe this message into the configured command.
    readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    line = next(line for line in readme.splitlines() if line.strip().startswith('echo \'{"jsonrpc"'))
    message = line.strip().removeprefix("echo '").split("'")[0]
    answer = ok(cli(db, stdin=message + "\n")).splitlines()
    assert len(answer) == 1
    result = json.loads(answer[0])["result"]
    assert result["serverInfo"]["name"] == "memory-mcp"
    assert "search_memory" in result["instructions"]


def test_config_write_adds_the_server_to_a_hosts_file_and_keeps_the_rest(db: Path, tmp_path: Path) -> None:
    """The one-command path for the file-based hosts: idempotent, other servers and keys kept."""
    home = tmp_path / "home"
    cursor_file = home / ".cursor" / "mcp.json"
    cursor_file.parent.mkdir(parents=True)
    cursor_file.write_text(json.dumps({"mcpServers": {"other": {"command": "x"}}, "theme": "dark"}))
    env = {"HOME": str(home), "APPDATA": str(home)}
    written = cli(db, "config", "cursor", "--write", "-u", "sam", env=env)
    assert written.returncode == 0, written.stderr
    assert "server 'memory' added" in written.stdout
    saved = json.loads(cursor_file.read_text())
    assert saved["theme"] == "dark"
    assert saved["mcpServers"]["other"] == {"command": "x"}
    assert saved["mcpServers"]["memory"]["env"] == {"MEMORY_MCP_DB": str(db), "MEMORY_MCP_USER": "sam"}
    assert "already as it should be" in ok(cli(db, "config", "cursor", "--write", "-u", "sam", env=env))
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    vscode = subprocess.run(
        [str(COMMAND), "config", "vscode", "--write", "-u", "sam"],
        env={"MEMORY_MCP_DB": str(db), "PATH": str(BIN), **env},
        cwd=workspace,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert vscode.returncode == 0, vscode.stderr
    assert json.loads((workspace / ".vscode" / "mcp.json").read_text())["servers"]["memory"]["type"] == "stdio"
    desktop = ok(cli(db, "config", "claude-desktop", "--write", "-u", "sam", env=env))
    assert "claude_desktop_config.json: server 'memory' added" in desktop
    refused = cli(db, "config", "claude-code", "--write", env=env)
    assert refused.returncode == 2
    assert "claude mcp add" in refused.stderr
    assert "code --add-mcp" in ok(cli(db, "config", env=env))


def test_stats_by_a_field_draws_bars_of_the_counts(db: Path) -> None:
    for text, topic in (("Likes ramen", "food"), ("Bakes bread", "food"), ("Works at a bank", "work")):
        ok(cli(db, "add", text, "-u", "sam", "--metadata", json.dumps({"topic": topic})))
    ok(cli(db, "add", "Has a cat", "-u", "sam"))
    drawn = ok(cli(db, "stats", "--by", "topic", "-u", "sam")).splitlines()
    assert drawn[0] == "sam: 4 memories by topic"
    assert [line.split()[0] for line in drawn[1:]] == ["food", "work", "(none)"]
    assert drawn[1].count("█") == 2 * drawn[2].count("█")
    counted = as_json(cli(db, "stats", "--by", "topic", "-u", "sam", "--json"))
    assert counted["groups"] == [{"value": "food", "count": 2}, {"value": "work", "count": 1}]
    alone = cli(db, "stats", "--by", "topic")
    assert alone.returncode == 2
    assert "give --user" in alone.stderr


async def test_every_count_is_of_current_memories_and_the_export_header_counts_its_lines(db: Path) -> None:
    """A superseded memory is history: `users`, `stats`, `list`, the stats and memories resources all count the
    current memories (3 here); an export, which carries history too, says in its header how many lines follow."""
    async with open_engine(db) as engine:
        sam = engine.scope("sam")
        paris = await engine.add("Sam lives in Paris", sam)
        await engine.add("Sam drinks oolong tea", sam)
        await engine.add("Sam plays chess", sam)
        await engine.supersede(paris.memory.id, sam, "Sam moved to Berlin")
        async with Client(build_server(engine)) as client:
            stats = json.loads(_text(await client.read_resource("memory://users/sam/stats")))
            listed = json.loads(_text(await client.read_resource("memory://users/sam/memories")))
    assert stats["memories"] == listed["total"] == len(listed["memories"]) == 3
    assert [u["memories"] for u in as_json(cli(db, "users", "--json"))["users"]] == [3]
    assert as_json(cli(db, "stats", "--json"))["memories"] == 3
    assert as_json(cli(db, "list", "-u", "sam", "--json"))["total"] == 3
    for args in (["export"], ["export", "--user", "sam"]):
        header, *lines = ok(cli(db, *args)).splitlines()
        assert json.loads(header)["memories"] == len(lines) == 4, args


def _text(result: Any) -> str:
    [content] = result.contents
    return str(content.text)


def test_commands_default_to_the_login_name_like_config_and_the_hooks(db: Path) -> None:
    """`list`, `search`, `show` and the other one-user commands act for MEMORY_MCP_USER, else the login name, as
    `config`, `ui` and the hooks do (they needed --user before)."""
    me = login_user()
    added = ok(cli(db, "add", "I keep bees on the roof"))
    memory_id = added.split()[-1]
    listed = as_json(cli(db, "list", "--json"))
    assert [(memory["user_id"], memory["text"]) for memory in listed["memories"]] == [(me, "I keep bees on the roof")]
    assert "bees" in ok(cli(db, "search", "bees"))
    assert "bees" in ok(cli(db, "show", memory_id[:8]))
    other = as_json(cli(db, "list", "--json", env={"MEMORY_MCP_USER": "sam"}))
    assert other["total"] == 0


def test_cli_papercuts_stay_fixed(db: Path) -> None:
    """A short id says it is too short; `check` says what a missing snapshot means; the next-page hint is one
    line that can be pasted; --help shows the commands before any option of the server."""
    ok(cli(db, "add", "-u", "sam", "Sam plays chess"))
    short = cli(db, "show", "-u", "sam", "ab")
    assert short.returncode != 0
    assert "'ab' is too short to find a memory by: give at least 4 characters" in short.stderr
    checked = ok(cli(db, "check"))
    assert "None" not in checked
    assert "index_snapshot  none yet" in checked
    for n in range(3):
        ok(cli(db, "add", "-u", "sam", f"Sam fact number {n}"))
    paged = ok(cli(db, "list", "-u", "sam", "--limit", "2", env={"COLUMNS": "30"}))
    [hint] = [line for line in paged.splitlines() if line.startswith("More:")]
    assert hint.startswith("More: memory-mcp list --user sam --cursor ")
    rest = ok(cli(db, *hint.removeprefix("More: memory-mcp ").split(), "--json"))
    assert len(json.loads(rest)["memories"]) == 2
    top = ok(subprocess.run([str(COMMAND), "--help"], capture_output=True, text=True, timeout=60, check=False))
    assert "--transport" not in top
    assert top.index("Commands:") < top.index("serve --help")


def test_remember_reads_a_conversation_and_reports_each_fact(db: Path, tmp_path: Path) -> None:
    """`memory-mcp remember FILE` with a scripted model behind a real OpenAI-compatible endpoint: a new fact is
    added, a changed one supersedes the old (kept in history), and without a model configured it says what to do."""
    ok(cli(db, "add", "-u", "sam", "Sam works at Acme"))
    talk = tmp_path / "talk.jsonl"
    talk.write_text(
        json.dumps({"role": "user", "content": "I started at Globex last week, and I have a cat called Miso."}) + "\n"
    )

    def script(body: dict[str, Any]) -> Reply:
        if body["response_format"]["json_schema"]["name"] == "facts":
            return answer(
                {
                    "facts": [
                        {"text": "Sam works at Globex", "valid_from": None, "entities": ["Globex"]},
                        {"text": "Sam has a cat called Miso", "valid_from": None, "entities": ["Miso"]},
                    ]
                }
            )
        return answer(
            {
                "decisions": [
                    {"fact": 1, "action": "UPDATE", "memory": 1},
                    {"fact": 2, "action": "ADD", "memory": None},
                ]
            }
        )

    with chat_server(script) as (url, received):
        env = {"MEMORY_MCP_LLM_BASE_URL": url, "MEMORY_MCP_LLM_MODEL": "scripted"}
        printed = ok(cli(db, "remember", str(talk), "-u", "sam", env=env))
        report = as_json(cli(db, "remember", "-", "-u", "sam", "--json", stdin=talk.read_text(), env=env))
    assert "updated " in printed
    assert "(replaces " in printed
    assert "added    " in printed
    assert len(received) == 4
    # The second time Globex is the memory 1 (superseded by the same words), and the cat, stored word for word
    # already, is known.
    assert [item["event"] for item in report] == ["UPDATE", "NOOP"]
    missing = cli(db, "remember", str(talk), "-u", "sam")
    assert missing.returncode == 2
    assert "MEMORY_MCP_LLM_BASE_URL" in missing.stderr
    bad = cli(
        db, "remember", "-", "-u", "sam", stdin="[{", env={"MEMORY_MCP_LLM_BASE_URL": "x", "MEMORY_MCP_LLM_MODEL": "y"}
    )
    assert bad.returncode == 2
    assert "not valid JSON" in bad.stderr


def test_workers_are_for_http_and_a_sane_number(db: Path) -> None:
    stdio = cli(db, "serve", "--workers", "2")
    assert stdio.returncode == 2
    assert "--workers serves HTTP: add --transport http" in stdio.stderr
    too_many = cli(db, "serve", "--transport", "http", "--workers", "65")
    assert too_many.returncode == 2
    assert "from 1 to 64" in too_many.stderr
    # A serving option in the environment does not stop the other commands.
    assert cli(db, "list", "-u", "sam", env={"MEMORY_MCP_WORKERS": "4"}).returncode == 0
