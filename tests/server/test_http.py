"""Streamable HTTP on loopback: bearer tokens bound to users, 401s, health, and the loopback-only rule."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import anyio
import httpx2
import pytest
from mcp import Client, MCPError

from ..helpers import data, error_text
from ..helpers.servers import ALICE, BOB, COMMAND, client, free_port, launch, start


def run_cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run `memory-mcp --transport http` to completion (for start-up refusals)."""
    return subprocess.run(
        [str(COMMAND), "--transport", "http", "--port", str(free_port()), *args],
        env={"MEMORY_MCP_DB": str(tmp_path / "m.db")},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    tokens = tmp_path / "tokens.json"
    tokens.write_text(json.dumps({ALICE: "alice", BOB: "bob"}))
    process, base = start(tmp_path, env={"MEMORY_MCP_TOKENS_FILE": str(tokens)})
    yield base
    process.terminate()
    process.wait(timeout=30)


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer not-a-token"}, {"Authorization": "Basic eA=="}])
def test_no_token_or_a_wrong_one_gets_401(server: str, headers: dict[str, str]) -> None:
    hello = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
    answer = httpx2.post(f"{server}/mcp", json=hello, headers={"Accept": "application/json", **headers})
    assert answer.status_code == 401
    assert "Bearer" in answer.headers["www-authenticate"]


def test_health_needs_no_token_and_tells_the_count_only_to_a_token(server: str) -> None:
    answer = httpx2.get(f"{server}/health")
    assert answer.status_code == 200
    assert answer.json() == {"status": "ok", "index_ready": True}
    wrong = httpx2.get(f"{server}/health", headers={"Authorization": "Bearer not-a-token"})
    assert "memories" not in wrong.json()
    known = httpx2.get(f"{server}/health", headers={"Authorization": f"Bearer {ALICE}"})
    assert known.json()["memories"] == 0


async def test_each_token_acts_as_its_own_user_only(server: str) -> None:
    async with client(server, ALICE) as alice:
        added = data(await alice.call_tool("add_memory", {"user_id": "alice", "text": "Alice keeps bees"}))
        found = data(await alice.call_tool("search_memory", {"user_id": "alice", "query": "bees"}))
        assert [r["id"] for r in found["results"]] == [added["id"]]
        refused = await alice.call_tool("add_memory", {"user_id": "bob", "text": "planted by alice"})
        assert "token belongs to user 'alice'" in error_text(refused)
    async with client(server, BOB) as bob:
        for tool, arguments in [
            ("search_memory", {"user_id": "alice", "query": "bees"}),
            ("get_memory", {"user_id": "alice", "memory_id": added["id"]}),
            ("delete_memory", {"user_id": "alice", "memory_id": added["id"]}),
            ("delete_all_memories", {"user_id": "alice"}),
        ]:
            assert "token belongs to user 'bob'" in error_text(await bob.call_tool(tool, arguments))
        assert data(await bob.call_tool("search_memory", {"user_id": "bob", "query": "bees"}))["results"] == []
        result = await bob.call_tool("get_memory", {"user_id": "bob", "memory_id": added["id"]})
        assert "No memory with id" in error_text(result)
        with pytest.raises(MCPError):
            await bob.read_resource("memory://users/alice/memories")
        with pytest.raises(MCPError):
            await bob.read_resource(f"memory://users/alice/memories/{added['id']}")
        with pytest.raises(MCPError):
            await bob.read_resource("memory://users/alice/stats")
        own = await bob.read_resource("memory://users/bob/memories")
        assert json.loads(own.contents[0].text)["total"] == 0  # type: ignore[union-attr]
    async with client(server, ALICE) as alice:
        kept = data(await alice.call_tool("get_memory", {"user_id": "alice", "memory_id": added["id"]}))
        assert kept["text"] == "Alice keeps bees"


def test_without_tokens_or_accounts_a_non_loopback_address_is_refused(tmp_path: Path) -> None:
    result = run_cli(tmp_path, "--host", "0.0.0.0")
    assert result.returncode == 2
    assert "Refusing to serve HTTP on 0.0.0.0 without sign-in" in result.stderr
    assert "memory-mcp users add NAME" in result.stderr


@pytest.mark.parametrize(
    ("content", "message"),
    [
        pytest.param("{not json", "not valid JSON", id="not-json"),
        pytest.param("[]", "non-empty JSON object", id="not-an-object"),
        pytest.param('{"short": "alice"}', "shorter than 16", id="short-token"),
        pytest.param('{"a-long-enough-token-1234": "a b"}', "not a valid user id", id="bad-user"),
    ],
)
def test_a_bad_tokens_file_is_a_clear_error(tmp_path: Path, content: str, message: str) -> None:
    tokens = tmp_path / "tokens.json"
    tokens.write_text(content)
    result = run_cli(tmp_path, "--tokens-file", str(tokens))
    assert result.returncode == 2
    assert message in result.stderr


async def test_loopback_without_tokens_serves_everyone(tmp_path: Path) -> None:
    process, base = start(tmp_path)
    try:
        async with Client(f"{base}/mcp") as anyone:
            data(await anyone.call_tool("add_memory", {"user_id": "carol", "text": "Carol likes jazz"}))
            found = data(await anyone.call_tool("search_memory", {"user_id": "carol", "query": "jazz"}))
        assert found["results"][0]["text"] == "Carol likes jazz"
        # DNS-rebinding protection: a page on another origin that resolves to 127.0.0.1 is turned away.
        hello = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
        rebound = httpx2.post(f"{base}/mcp", json=hello, headers={"Host": "evil.example.com"})
        assert rebound.status_code == 421
    finally:
        process.terminate()
        process.wait(timeout=30)


async def test_a_token_can_only_listen_to_its_own_users_changes(server: str) -> None:
    async with client(server, BOB) as bob:
        with pytest.raises(MCPError, match="only listen to memory://users/bob/memories"):
            async with bob.listen(resource_subscriptions=["memory://users/alice/memories"]):
                pass
        async with bob.listen(resource_subscriptions=["memory://users/bob/memories"]) as subscription:
            await bob.call_tool("add_memory", {"user_id": "bob", "text": "Bob rows on Sundays"})
            with anyio.fail_after(10):
                event = await subscription.__anext__()
        assert getattr(event, "uri", None) == "memory://users/bob/memories"


def test_the_address_is_said_on_start_without_a_warning(tmp_path: Path) -> None:
    """Where to connect is said once on stderr, as news (a normal start logged no WARNING line since)."""
    port = free_port()
    log = tmp_path / "err.log"
    with log.open("w") as err:
        process, base = launch(
            [str(COMMAND), "--transport", "http", "--port", str(port)],
            {"MEMORY_MCP_DB": str(tmp_path / "m.db")},
            port,
            err,
        )
        process.terminate()
        process.wait(timeout=30)
    said = log.read_text()
    assert f"serving MCP at {base}/mcp (no sign-in). Ctrl-C stops it." in said
    assert not [line for line in said.splitlines() if "WARNING" in line and "serving MCP" in line]
