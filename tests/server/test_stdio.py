"""The installed `memory-mcp` command over a real stdio pipe, as MCP hosts launch it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import anyio
import mcp_types as types
import pytest
from mcp import Client, StdioServerParameters
from mcp.shared.message import SessionMessage

from ..helpers import data

BIN = Path(sys.executable).parent
COMMAND = BIN / ("memory-mcp.exe" if sys.platform == "win32" else "memory-mcp")


def params(env: dict[str, str], *args: str) -> StdioServerParameters:
    assert COMMAND.exists(), f"{COMMAND} is missing: install the project (pip install -e '.[test]') first"
    return StdioServerParameters(command=str(COMMAND), args=list(args), env=env)


@pytest.mark.parametrize("mode", [pytest.param("auto", id="2026-07-28"), pytest.param("legacy", id="handshake")])
async def test_console_script_serves_tools_over_stdio(tmp_path: Path, mode: str) -> None:
    env = {"MEMORY_MCP_DB": str(tmp_path / "m.db"), "MEMORY_MCP_LOG_LEVEL": "DEBUG"}
    async with Client(params(env), mode=mode) as client:
        names = {tool.name for tool in (await client.list_tools()).tools}
        assert {"add_memory", "search_memory", "update_memory", "delete_memory"} <= names
        added = data(await client.call_tool("add_memory", {"user_id": "u", "text": "I love hiking in the Swiss Alps"}))
        found = data(await client.call_tool("search_memory", {"user_id": "u", "query": "hiking"}))
    assert found["results"][0]["id"] == added["id"]


async def test_memories_survive_a_server_restart(tmp_path: Path) -> None:
    env = {"MEMORY_MCP_DB": str(tmp_path / "m.db")}
    async with Client(params(env)) as client:
        added = data(await client.call_tool("add_memory", {"user_id": "u", "text": "Allergic to peanuts"}))
    async with Client(params(env), mode="legacy") as client:
        found = data(await client.call_tool("search_memory", {"user_id": "u", "query": "peanuts"}))
        resource = await client.read_resource(f"memory://users/u/memories/{added['id']}")
    assert [r["id"] for r in found["results"]] == [added["id"]]
    assert "Allergic to peanuts" in str(resource.contents[0])


async def test_python_dash_m_with_db_flag(tmp_path: Path) -> None:
    db = tmp_path / "flag.db"
    server = StdioServerParameters(command=sys.executable, args=["-m", "memory_mcp", "--db", str(db)], env={})
    async with Client(server) as client:
        data(await client.call_tool("add_memory", {"user_id": "u", "text": "fact"}))
    assert db.exists()


async def test_default_database_lives_in_the_user_data_folder(tmp_path: Path) -> None:
    async with Client(params({"HOME": str(tmp_path)})) as client:
        data(await client.call_tool("add_memory", {"user_id": "u", "text": "fact"}))
    assert (tmp_path / ".local" / "share" / "memory-mcp" / "memory.db").exists()


def test_bad_setting_exits_with_a_message_and_writes_nothing_to_stdout(tmp_path: Path) -> None:
    assert COMMAND.exists()
    result = subprocess.run(
        [str(COMMAND)],
        env={"MEMORY_MCP_EMBED_DIM": "many", "MEMORY_MCP_DB": str(tmp_path / "m.db")},
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert result.stdout == ""
    assert "MEMORY_MCP_EMBED_DIM" in result.stderr


def test_help_lists_every_setting() -> None:
    """`serve --help` lists the settings (the bare command's help lists the commands and points there)."""
    result = subprocess.run([str(COMMAND), "serve", "--help"], capture_output=True, text=True, timeout=60, check=True)
    for flag in ("--db", "--embed-dim", "--reembed", "--max-text-chars", "--max-results", "--log-level"):
        assert flag in result.stdout
    assert "MEMORY_MCP_DB" in result.stdout


def _start_and_handshake(tmp_path: Path) -> subprocess.Popen[bytes]:
    """Start the server on a pipe and wait for its answer to `initialize`, so it is surely serving."""
    process = subprocess.Popen(
        [str(COMMAND)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env={"MEMORY_MCP_DB": str(tmp_path / "m.db")},
    )
    assert process.stdin is not None
    assert process.stdout is not None
    request = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}},
    }
    process.stdin.write((json.dumps(request) + "\n").encode())
    process.stdin.flush()
    answer = json.loads(process.stdout.readline())
    assert answer["id"] == 1
    assert answer["result"]["serverInfo"]["name"] == "memory-mcp"
    return process


def test_closing_stdin_stops_the_server(tmp_path: Path) -> None:
    with _start_and_handshake(tmp_path) as process:
        assert process.stdin is not None
        process.stdin.close()
        assert process.wait(timeout=30) == 0


def test_ctrl_c_stops_the_server_while_it_waits_for_input(tmp_path: Path) -> None:
    with _start_and_handshake(tmp_path) as process:
        process.send_signal(signal.SIGINT)
        try:
            assert process.wait(timeout=30) == 130
        finally:
            process.kill()


def _requests(*messages: dict[str, object]) -> bytes:
    hello = {
        "jsonrpc": "2.0",
        "id": 0,
        "method": "initialize",
        "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}},
    }
    lines = [hello, {"jsonrpc": "2.0", "method": "notifications/initialized"}, *messages]
    return b"".join(json.dumps(line).encode() + b"\n" for line in lines)


def test_a_server_reading_a_file_serves_it_and_stops_at_its_end(tmp_path: Path) -> None:
    """A regular file is not a pipe the event loop can watch: it is read the SDK's way (a worker thread a line).
    The end of the file is the end of the session, so the SDK may cut requests still running then."""
    ask = [{"jsonrpc": "2.0", "id": 1, "method": "tools/list"}, {"jsonrpc": "2.0", "id": 2, "method": "ping"}]
    (tmp_path / "in.jsonl").write_bytes(_requests(*ask))
    with (tmp_path / "in.jsonl").open("rb") as source, (tmp_path / "out.jsonl").open("wb") as sink:
        env = {"MEMORY_MCP_DB": str(tmp_path / "m.db")}
        code = subprocess.run([str(COMMAND)], stdin=source, stdout=sink, stderr=subprocess.DEVNULL, env=env, timeout=60)
    assert code.returncode == 0
    answers = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert answers[0]["id"] == 0
    assert answers[0]["result"]["serverInfo"]["name"] == "memory-mcp"
    assert {answer["id"] for answer in answers} <= {0, 1, 2}


def test_a_line_over_the_limit_is_refused_and_the_next_is_served(monkeypatch: pytest.MonkeyPatch) -> None:
    """On pipes the lines are read by the event loop; one longer than the limit gets an error with no id, a line
    only the lenient JSON parser reads (NaN) is still served, and every reply is written before the end."""
    from memory_mcp.server import stdio

    monkeypatch.setattr(stdio, "LINE_LIMIT", 1024)

    async def serve(source: object, sink: object) -> None:
        async with stdio._loop_streams(source, sink) as (incoming, outgoing), outgoing:  # type: ignore[arg-type]
            async for message in incoming:
                request = message.message
                reply = types.JSONRPCResponse(jsonrpc="2.0", id=request.id, result={"echo": request.method})
                await outgoing.send(SessionMessage(reply))

    client_in, server_out = os.pipe()
    server_in, client_out = os.pipe()
    lines = [
        b'{"jsonrpc": "2.0", "id": 1, "method": "' + b"x" * 2000 + b'"}',
        b'{"jsonrpc": "2.0", "id": 2, "method": "ping", "params": {"x": NaN}}',
        b'{"jsonrpc": "2.0", "id": 3, "method": "ping"}',
    ]
    os.write(client_out, b"\n".join(lines) + b"\n")
    os.close(client_out)
    with os.fdopen(server_in, "rb") as source, os.fdopen(server_out, "wb") as sink:
        anyio.run(serve, source, sink)
    with os.fdopen(client_in, "rb") as replies:
        answers = [json.loads(line) for line in replies.read().splitlines()]
    assert [answer.get("id") for answer in answers] == [None, 2, 3]
    assert "longer than 1,024 bytes" in answers[0]["error"]["message"]
    assert answers[2]["result"] == {"echo": "ping"}


def test_requests_piped_in_all_get_their_replies_after_the_input_ends(tmp_path: Path) -> None:
    """`printf '...' | memory-mcp`: the input ends at once, and every request read is still answered (not cut off
    with "Connection closed"), then the server stops."""
    ask = [
        {
            "jsonrpc": "2.0",
            "id": number,
            "method": "tools/call",
            "params": {"name": "add_memory", "arguments": {"user_id": "u", "text": f"piped fact {number}"}},
        }
        for number in range(1, 6)
    ]
    ask.append({"jsonrpc": "2.0", "id": 6, "method": "ping"})
    result = subprocess.run(
        [str(COMMAND)],
        input=_requests(*ask),
        capture_output=True,
        env={"MEMORY_MCP_DB": str(tmp_path / "m.db")},
        timeout=60,
        check=False,
    )
    assert result.returncode == 0
    answers = [json.loads(line) for line in result.stdout.splitlines()]
    replies = {answer["id"]: answer for answer in answers if "id" in answer}
    assert sorted(replies) == [0, 1, 2, 3, 4, 5, 6]
    assert all("result" in reply for reply in replies.values()), [r for r in replies.values() if "error" in r]
    assert all(replies[number]["result"]["isError"] is False for number in range(1, 6))
