"""Claude Code hooks: install/uninstall edit only our entries of settings.json; the hook commands print context."""

from __future__ import annotations

import contextlib
import json
import os
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ..helpers.chat_server import Reply, answer, chat_server

COMMAND = Path(sys.executable).parent / "memory-mcp"


def run(
    home: Path,
    *args: str,
    stdin: str = "",
    user: str = "sam",
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    env = {
        "HOME": str(home),
        "MEMORY_MCP_DB": str(home / "m.db"),
        "MEMORY_MCP_USER": user,
        "TMPDIR": str(home),
        **(env or {}),
    }
    return subprocess.run(
        [str(COMMAND), *args],
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=cwd or home,
    )


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path


def test_install_writes_hooks_of_the_documented_shape_and_keeps_everything_else(home: Path) -> None:
    settings = home / ".claude" / "settings.json"
    settings.parent.mkdir()
    theirs = {"type": "command", "command": "echo mine"}
    settings.write_text(json.dumps({"model": "opus", "hooks": {"UserPromptSubmit": [{"hooks": [theirs]}]}}))
    assert run(home, "hooks", "install", "claude-code").returncode == 0
    written = json.loads(settings.read_text())
    assert written["model"] == "opus"
    assert set(written["hooks"]) == {"SessionStart", "UserPromptSubmit", "Stop"}
    for event, groups in written["hooks"].items():
        assert isinstance(groups, list), event
        for group in groups:
            assert set(group) <= {"matcher", "hooks"}
            for hook in group["hooks"]:
                assert hook["type"] == "command"
                assert isinstance(hook["command"], str)
                assert isinstance(hook.get("timeout", 10), int)
    assert written["hooks"]["SessionStart"][0]["matcher"] == "startup|resume|clear|compact"
    assert {"hooks": [theirs]} in written["hooks"]["UserPromptSubmit"]
    ours = [g for g in written["hooks"]["UserPromptSubmit"] if "memory-mcp" in g["hooks"][0]["command"]]
    assert ours[0]["hooks"][0]["command"].startswith(f"MEMORY_MCP_USER=sam MEMORY_MCP_DB={home.resolve() / 'm.db'} ")
    # Idempotent: a second install changes nothing; uninstall removes ours only, twice as well.
    assert "nothing changed" in run(home, "hooks", "install", "claude-code").stdout
    assert json.loads(settings.read_text()) == written
    assert run(home, "hooks", "uninstall", "claude-code").returncode == 0
    assert json.loads(settings.read_text()) == {"model": "opus", "hooks": {"UserPromptSubmit": [{"hooks": [theirs]}]}}
    assert "nothing changed" in run(home, "hooks", "uninstall", "claude-code").stdout


def test_a_settings_file_that_is_not_json_is_left_alone(home: Path) -> None:
    settings = home / ".claude" / "settings.json"
    settings.parent.mkdir()
    settings.write_text("{ not json")
    result = run(home, "hooks", "install", "claude-code")
    assert result.returncode == 2
    assert "not valid JSON" in result.stderr
    assert settings.read_text() == "{ not json"


def test_the_hooks_print_what_the_model_should_see(home: Path) -> None:
    for text in ("I'm vegetarian", "My sister Anna lives in Oslo"):
        assert run(home, "add", text, "-u", "sam").returncode == 0
    started = run(home, "hook", "session-start", stdin=json.dumps({"source": "startup"}))
    assert started.returncode == 0
    assert "- I'm vegetarian" in started.stdout
    assert "- My sister Anna lives in Oslo" in started.stdout
    cooking = run(home, "hook", "prompt", stdin=json.dumps({"prompt": "Is my sister Anna still in Oslo?"}))
    assert "My sister Anna lives in Oslo" in cooking.stdout
    unrelated = run(home, "hook", "prompt", stdin=json.dumps({"prompt": "quantum chromodynamics lecture notes"}))
    assert (unrelated.returncode, unrelated.stdout) == (0, "")  # nothing matches well: nothing is added
    nobody = run(home, "hook", "session-start", stdin="{}", user="nobody")
    assert (nobody.returncode, nobody.stdout) == (0, "")


def test_the_stop_hook_reminds_once_per_session(home: Path) -> None:
    first = run(home, "hook", "stop", stdin=json.dumps({"session_id": "s1", "stop_hook_active": False}))
    assert json.loads(first.stdout)["decision"] == "block"
    assert "add_memory" in json.loads(first.stdout)["reason"]
    again = run(home, "hook", "stop", stdin=json.dumps({"session_id": "s1", "stop_hook_active": False}))
    assert again.stdout == ""
    continuing = run(home, "hook", "stop", stdin=json.dumps({"session_id": "s2", "stop_hook_active": True}))
    assert continuing.stdout == ""


def test_the_cli_and_the_hooks_keep_each_repository_to_its_project(home: Path) -> None:
    """The project is the git repository one works in (for the hooks: the session's `cwd`); general memories show
    everywhere, a project's only in it, unless every project is asked for."""
    alpha, beta = home / "alpha", home / "beta"
    for top in (alpha, beta):
        (top / ".git").mkdir(parents=True)
    (alpha / "src").mkdir()
    added = json.loads(
        run(home, "add", "Deploys go out on Fridays", "-p", "current", "--json", cwd=alpha / "src").stdout
    )
    assert added["project"] == "alpha"
    assert json.loads(run(home, "add", "Sam indents with tabs", "--json", cwd=alpha).stdout)["project"] is None

    def listed(cwd: Path, *args: str) -> set[str]:
        page = json.loads(run(home, "list", "--json", *args, cwd=cwd).stdout)
        return {memory["text"] for memory in page["memories"]}

    assert listed(alpha) == {"Deploys go out on Fridays", "Sam indents with tabs"}
    assert listed(beta) == {"Sam indents with tabs"}
    assert listed(beta, "--project", "*") == listed(home) == listed(alpha)  # outside a repository: all
    question = {"prompt": "When do deploys go out?"}
    assert "Fridays" in run(home, "hook", "prompt", stdin=json.dumps({**question, "cwd": str(alpha)})).stdout
    assert "Fridays" not in run(home, "hook", "prompt", stdin=json.dumps({**question, "cwd": str(beta)})).stdout
    started = run(home, "hook", "session-start", stdin=json.dumps({"source": "startup", "cwd": str(alpha)})).stdout
    assert "of project alpha" in started
    assert "- Deploys go out on Fridays" in started
    refused = run(home, "add", "Where would this go?", "-p", "current", cwd=home)
    assert refused.returncode == 2
    assert "not in a git repository" in refused.stderr


@contextlib.contextmanager
def stdio_server(home: Path) -> Iterator[tuple[dict[str, str], Path]]:
    """A stdio server on `home`'s database for the block, listening for hooks: its environment and socket folder."""
    env = {"HOME": str(home), "MEMORY_MCP_DB": str(home / "m.db"), "MEMORY_MCP_USER": "sam", "TMPDIR": str(home)}
    server = subprocess.Popen(
        [str(COMMAND)], env=env, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        folder = home / f"memory-mcp-{os.getuid()}"
        deadline = time.monotonic() + 30
        while not list(folder.glob("*.sock")) and time.monotonic() < deadline:
            time.sleep(0.05)
        yield env, folder
    finally:
        assert server.stdin is not None
        server.stdin.close()
        server.wait(timeout=30)


def test_a_running_server_answers_the_hooks_without_numpy_or_the_database(home: Path) -> None:
    """The fast path: a stdio server for the same database answers over its socket (mode 0600, in a folder of
    mode 0700), so the hook process never imports numpy; it prints what opening the database would print."""
    for text in ("I'm vegetarian", "My sister Anna lives in Oslo"):
        assert run(home, "add", text, "-u", "sam").returncode == 0
    question = json.dumps({"prompt": "Is my sister Anna still in Oslo?"})
    opened = run(home, "hook", "prompt", stdin=question).stdout  # no server yet: the hook opens the database
    assert "My sister Anna lives in Oslo" in opened
    with stdio_server(home) as (env, folder):
        [socket_file] = folder.glob("*.sock")
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700
        assert stat.S_IMODE(socket_file.stat().st_mode) == 0o600
        command = [sys.executable, "-X", "importtime", "-m", "memory_mcp", "hook", "prompt"]
        fast = subprocess.run(
            command, env=env, input=question, capture_output=True, text=True, timeout=60, check=False, cwd=home
        )
        assert fast.stdout == opened
        assert "numpy" not in fast.stderr  # -X importtime lists every module imported
        started = run(home, "hook", "session-start", stdin="{}")
        assert "- I'm vegetarian" in started.stdout
    assert list(folder.glob("*.sock")) == []  # the server took its socket away


def test_a_running_server_answers_the_command_lines_search_made_with_its_settings(home: Path) -> None:
    """`memory-mcp search` asks a stdio server for the same database first: the same results as searching itself,
    without numpy; a search with other settings (another vector weight) or one the engine refuses is made by the
    command itself, with its own answer or message."""
    for text in ("I'm vegetarian", "My sister Anna lives in Oslo", "Anna is a nurse", "I bake bread on Sundays"):
        assert run(home, "add", text, "-u", "sam").returncode == 0
    asked = ["search", "Anna", "--json", "-n", "3"]
    alone = run(home, *asked)
    assert alone.returncode == 0
    refused = run(home, "search", "Anna", "--filter", '{"a": {"$near": 1}}')
    assert refused.returncode == 2
    with stdio_server(home) as (env, _):

        def traced(*args: str, extra: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
            command = [sys.executable, "-X", "importtime", "-m", "memory_mcp", *args]
            environment = {**env, **(extra or {})}
            return subprocess.run(command, env=environment, capture_output=True, text=True, timeout=60, cwd=home)

        served = traced(*asked)
        assert json.loads(served.stdout) == json.loads(alone.stdout)
        assert "numpy" not in served.stderr  # answered by the server: -X importtime lists every module imported
        weighted = traced(*asked, extra={"MEMORY_MCP_VECTOR_WEIGHT": "0.9"})
        assert weighted.returncode == 0
        assert "numpy" in weighted.stderr  # other settings: the command searched itself
        assert weighted.stdout == run(home, *asked, env={"MEMORY_MCP_VECTOR_WEIGHT": "0.9"}).stdout
        again = traced("search", "Anna", "--filter", '{"a": {"$near": 1}}')
        assert (again.returncode, again.stderr.splitlines()[-1]) == (2, refused.stderr.splitlines()[-1])


async def test_a_server_removes_the_sockets_of_dead_servers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A server killed with -9 leaves its socket behind; the next server for the database takes it away (a hook
    would otherwise try it first, in vain), and leaves other databases' sockets alone."""
    import socket as sockets

    from memory_mcp import open_engine, recall

    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    monkeypatch.setattr("tempfile.tempdir", None)
    database = str(tmp_path / "m.db")
    folder = tmp_path / f"memory-mcp-{os.getuid()}"
    folder.mkdir(mode=0o700)
    dead = folder / f"{recall._prefix(database)}1.sock"
    other = folder / f"{recall._prefix('elsewhere')}1.sock"
    for path in (dead, other):  # bound, then closed: nothing listens, as after a crash
        with sockets.socket(sockets.AF_UNIX, sockets.SOCK_STREAM) as bound:
            bound.bind(str(path))
    async with open_engine(database) as engine, recall.listening(engine, database) as listened:
        assert listened is not None
        assert listened.exists()
        assert not dead.exists()
        assert other.exists()


def test_a_server_stopped_by_sigterm_takes_its_hooks_socket_away(tmp_path: Path) -> None:
    """A host or a service manager stops a server with SIGTERM: it exits (143) and removes the socket its hooks
    were answered on, as Ctrl-C does (before, the socket stayed behind)."""
    runtime = tmp_path / "run"
    runtime.mkdir(mode=0o700)
    env = {"MEMORY_MCP_DB": str(tmp_path / "m.db"), "XDG_RUNTIME_DIR": str(runtime), "HOME": str(tmp_path)}
    server = subprocess.Popen(
        [str(COMMAND)], env=env, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 30
        while not list(runtime.glob("memory-mcp/*.sock")):
            assert time.monotonic() < deadline, "the server never listened for hooks"
            time.sleep(0.05)
        server.terminate()
        assert server.wait(timeout=30) == 143
        assert list(runtime.glob("memory-mcp/*.sock")) == []
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
        assert server.stdin is not None
        server.stdin.close()


def said(role: str, text: str) -> str:
    """One line of a Claude Code transcript."""
    content: Any = text if role == "user" else [{"type": "text", "text": text}]
    return json.dumps({"type": role, "message": {"role": role, "content": content}, "sessionId": "s-1"}) + "\n"


def memory_script(release: threading.Event) -> Any:
    """A model that waits for `release`, then draws one fact per thing it recognises, all new."""

    def script(body: dict[str, Any]) -> Reply:
        release.wait(30)
        request = body["messages"][1]["content"]
        if body["response_format"]["json_schema"]["name"] == "facts":
            known = {"cello": "sam plays the cello", "Lisbon": "sam lives in Lisbon"}
            facts: list[dict[str, Any]] = [
                {"text": fact, "valid_from": None, "entities": []} for word, fact in known.items() if word in request
            ]
            return answer({"facts": facts})
        count = request.count("Fact ")
        return answer({"decisions": [{"fact": n, "action": "ADD", "memory": None} for n in range(1, count + 1)]})

    return script


def finished(home: Path, times: int) -> str:
    """The capture log once `times` captures have ended (each with a "remembered up to" or a "failed" line)."""
    log = home / ".local" / "state" / "memory-mcp" / "captured" / "capture.log"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        text = log.read_text() if log.exists() else ""
        if text.count("remembered up to byte") + text.count("failed, to be tried again") >= times:
            return text
        time.sleep(0.1)
    raise AssertionError(f"the capture did not finish: {log.read_text() if log.exists() else 'no log'}")


def test_stop_and_pre_compact_remember_the_session_in_the_background_once(home: Path) -> None:
    """With a language model named, Stop returns at once (no reminder), a detached capture remembers the session's
    messages; the same transcript again changes nothing (no request at all), and only new lines are read later."""
    transcript = home / "session.jsonl"
    transcript.write_text(said("user", "I finally started cello lessons!") + said("assistant", "Lovely, enjoy them."))
    release = threading.Event()
    with chat_server(memory_script(release)) as (url, received):
        model = {"MEMORY_MCP_LLM_BASE_URL": url, "MEMORY_MCP_LLM_MODEL": "scripted"}
        event = {"session_id": "s-1", "transcript_path": str(transcript), "stop_hook_active": False}
        started = time.monotonic()
        stop = run(home, "hook", "stop", stdin=json.dumps({**event, "hook_event_name": "Stop"}), env=model)
        assert time.monotonic() - started < 20  # the model holds its answer for 30 s: the hook did not wait for it
        assert (stop.returncode, stop.stdout, stop.stderr) == (0, "", "")
        deadline = time.monotonic() + 30
        while not received and time.monotonic() < deadline:  # the capture asks the model after the hook ended
            time.sleep(0.05)
        assert len(received) == 1
        release.set()
        log = finished(home, 1)
        assert "ADD sam plays the cello" in log
        listed = json.loads(run(home, "list", "-u", "sam", "--json").stdout)
        assert [m["text"] for m in listed["memories"]] == ["sam plays the cello"]
        assert listed["memories"][0]["metadata"] == {"source": "conversation"}
        assert len(received) == 2
        # PreCompact on the same transcript: nothing new, no request, nothing changed.
        run(home, "hook", "pre-compact", stdin=json.dumps({**event, "hook_event_name": "PreCompact"}), env=model)
        finished(home, 2)
        assert len(received) == 2
        # A new turn: only it is read.
        with transcript.open("a") as handle:
            handle.write(said("user", "Also, I moved to Lisbon last month."))
        run(home, "hook", "stop", stdin=json.dumps({**event, "hook_event_name": "Stop"}), env=model)
        finished(home, 3)
        assert len(received) == 4
        assert "Lisbon" in received[2]["messages"][1]["content"]
        assert "cello" not in received[2]["messages"][1]["content"]
    listed = json.loads(run(home, "list", "-u", "sam", "--json").stdout)
    assert sorted(m["text"] for m in listed["memories"]) == ["sam lives in Lisbon", "sam plays the cello"]


def test_a_failed_capture_keeps_its_place_and_is_tried_again(home: Path) -> None:
    transcript = home / "session.jsonl"
    transcript.write_text(said("user", "I finally started cello lessons!"))
    event = json.dumps({"session_id": "s-2", "transcript_path": str(transcript), "hook_event_name": "PreCompact"})
    with chat_server(lambda body: (400, {"error": {"message": "model not found"}})) as (url, _):
        model = {"MEMORY_MCP_LLM_BASE_URL": url, "MEMORY_MCP_LLM_MODEL": "missing"}
        assert run(home, "hook", "pre-compact", stdin=event, env=model).returncode == 0
        log = finished(home, 1)
    assert "model not found" in log
    assert "remembered up to" not in log
    assert json.loads(run(home, "list", "-u", "sam", "--json").stdout)["memories"] == []
    release = threading.Event()
    release.set()
    with chat_server(memory_script(release)) as (url, _):
        model = {"MEMORY_MCP_LLM_BASE_URL": url, "MEMORY_MCP_LLM_MODEL": "scripted"}
        run(home, "hook", "pre-compact", stdin=event, env=model)
        assert "remembered up to" in finished(home, 2)
    listed = json.loads(run(home, "list", "-u", "sam", "--json").stdout)
    assert [m["text"] for m in listed["memories"]] == ["sam plays the cello"]


def test_install_with_a_model_adds_capture_and_never_writes_the_key(home: Path) -> None:
    env = {"MEMORY_MCP_LLM_BASE_URL": "http://localhost:11434/v1", "MEMORY_MCP_LLM_MODEL": "llama3.2",
           "MEMORY_MCP_LLM_API_KEY": "sk-secret"}  # fmt: skip
    assert run(home, "hooks", "install", "claude-code", env=env).returncode == 0
    written = (home / ".claude" / "settings.json").read_text()
    hooks = json.loads(written)["hooks"]
    assert "sk-secret" not in written
    for event in ("Stop", "PreCompact"):
        command = hooks[event][0]["hooks"][0]["command"]
        assert "MEMORY_MCP_LLM_BASE_URL=http://localhost:11434/v1 MEMORY_MCP_LLM_MODEL=llama3.2 " in command
    assert "MEMORY_MCP_LLM" not in hooks["UserPromptSubmit"][0]["hooks"][0]["command"]
    half = run(home, "hooks", "install", "claude-code", "--llm-model", "llama3.2")
    assert half.returncode == 2
    assert "--llm-base-url" in half.stderr
