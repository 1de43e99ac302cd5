"""Guarantees under stress: several server processes on one file lose nothing; kill -9 loses no acknowledged write."""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import anyio
from mcp import Client, StdioServerParameters

from memory_mcp import open_engine

from .helpers import data, local_index

COMMAND = Path(sys.executable).parent / "memory-mcp"
PROCESSES = 4
OPERATIONS = 250


async def test_four_processes_on_one_file_lose_nothing_and_agree(tmp_path: Path) -> None:
    """4 stdio servers x 250 mixed operations at once; then every process finds every surviving memory."""
    env = {"MEMORY_MCP_DB": str(tmp_path / "shared.db")}
    alive: dict[str, str] = {}  # memory id -> its unique token, for every acknowledged, not deleted memory
    deleted: set[str] = set()

    async def worker(number: int, client: Client) -> None:
        rng = random.Random(number)
        mine: list[str] = []
        for op in range(OPERATIONS):
            kind = rng.random()
            if kind < 0.7 or not mine:
                token = f"p{number}op{op}"
                added = data(await client.call_tool("add_memory", {"user_id": "u", "text": f"fact {token} here"}))
                mine.append(added["id"])
                alive[added["id"]] = token
            elif kind < 0.8:
                memory_id = rng.choice(mine)
                token = f"p{number}op{op}upd"
                data(
                    await client.call_tool(
                        "update_memory", {"user_id": "u", "memory_id": memory_id, "text": f"fact {token} here"}
                    )
                )
                alive[memory_id] = token
            elif kind < 0.9:
                memory_id = mine.pop(rng.randrange(len(mine)))
                data(await client.call_tool("delete_memory", {"user_id": "u", "memory_id": memory_id}))
                alive.pop(memory_id)
                deleted.add(memory_id)
            else:
                data(await client.call_tool("search_memory", {"user_id": "u", "query": "fact", "limit": 5}))

    clients = [Client(StdioServerParameters(command=str(COMMAND), env=env)) for _ in range(PROCESSES)]
    opened = [await client.__aenter__() for client in clients]
    try:
        with anyio.fail_after(240):
            async with anyio.create_task_group() as group:
                for number, client in enumerate(opened):
                    group.start_soon(worker, number, client)
            # Every process, asked afterwards, finds a sample of the survivors and none of the deleted.
            rng = random.Random(99)
            sample = rng.sample(sorted(alive), min(40, len(alive)))
            for client in opened:
                listed = data(await client.call_tool("list_memories", {"user_id": "u", "limit": 1}))
                assert listed["total"] == len(alive)
                for memory_id in sample:
                    found = data(await client.call_tool("search_memory", {"user_id": "u", "query": alive[memory_id]}))
                    assert [r["id"] for r in found["results"]][:1] == [memory_id]
                for memory_id in list(deleted)[:10]:
                    result = await client.call_tool("get_memory", {"user_id": "u", "memory_id": memory_id})
                    assert result.is_error is True
    finally:
        for client in reversed(clients):
            await client.__aexit__(None, None, None)
    async with open_engine(tmp_path / "shared.db") as engine:
        stored = await engine.page(engine.scope("u"), limit=100)
        assert stored.total == len(alive)
        assert len(local_index(engine)) == len(alive)


class RawServer:
    """A server process driven by hand over its pipes, so the test decides when it dies."""

    def __init__(self, db: Path) -> None:
        self.process = subprocess.Popen(
            [str(COMMAND)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env={"MEMORY_MCP_DB": str(db)},
        )
        self.next_id = 0
        self.call(
            "initialize",
            {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}},
        )
        self.send("notifications/initialized", None, notify=True)

    def send(self, method: str, params: dict[str, Any] | None, *, notify: bool = False) -> int:
        assert self.process.stdin is not None
        message: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
        if params is not None:
            message["params"] = params
        if not notify:
            self.next_id += 1
            message["id"] = self.next_id
        self.process.stdin.write((json.dumps(message) + "\n").encode())
        self.process.stdin.flush()
        return self.next_id

    def call(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        request = self.send(method, params)
        assert self.process.stdout is not None
        while True:
            answer = json.loads(self.process.stdout.readline())
            if answer.get("id") == request:
                result: dict[str, Any] = answer["result"]
                return result

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()
        for stream in (self.process.stdin, self.process.stdout):
            if stream is not None:
                stream.close()


def test_kill_9_in_a_stream_of_writes_loses_no_acknowledged_write(tmp_path: Path) -> None:
    """Kill the server at random points of a stream of adds, deletes and updates; restart; check everything."""
    db = tmp_path / "crash.db"
    rng = random.Random(7)
    acknowledged: dict[str, str] = {}  # memory id -> token of its last acknowledged text
    gone: set[str] = set()
    for round_number in range(5):
        server = RawServer(db)
        try:
            for op in range(rng.randint(20, 60)):
                token = f"r{round_number}op{op}"
                if acknowledged and rng.random() < 0.2:
                    memory_id = rng.choice(sorted(acknowledged))
                    answer = server.call(
                        "tools/call",
                        {"name": "delete_memory", "arguments": {"user_id": "u", "memory_id": memory_id}},
                    )
                    assert not answer.get("isError"), answer
                    acknowledged.pop(memory_id)
                    gone.add(memory_id)
                else:
                    answer = server.call(
                        "tools/call",
                        {"name": "add_memory", "arguments": {"user_id": "u", "text": f"crash fact {token}"}},
                    )
                    assert not answer.get("isError"), answer
                    acknowledged[answer["structuredContent"]["id"]] = token
            # A write in flight when the process dies may or may not land; it was never acknowledged.
            server.send(
                "tools/call", {"name": "add_memory", "arguments": {"user_id": "u", "text": f"in flight {round_number}"}}
            )
        finally:
            server.kill()

        with sqlite3.connect(db) as raw:
            assert raw.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
            ids = {row[0] for row in raw.execute("SELECT id FROM memories")}
            texts = {row[0] for row in raw.execute("SELECT text FROM memories")}
        assert set(acknowledged) <= ids
        assert not (gone & ids)
        assert texts - {f"crash fact {t}" for t in acknowledged.values()} <= {
            f"in flight {n}" for n in range(round_number + 1)
        }

    async def verify() -> None:
        async with open_engine(db) as engine:
            scope = engine.scope("u")
            stored: set[str] = set()
            cursor = None
            while True:
                page = await engine.page(scope, cursor=cursor, limit=100)
                stored.update(memory.id for memory in page.memories)
                if page.next_cursor is None:
                    break
                cursor = page.next_cursor
            assert local_index(engine).ids(scope) == stored
            for memory_id, token in acknowledged.items():
                [hit, *_] = await engine.search(token, scope)
                assert hit.memory.id == memory_id

    anyio.run(verify)
    assert os.path.exists(db)
