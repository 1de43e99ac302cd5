"""The PostgreSQL + pgvector backend: same answers as SQLite, shared by servers, HNSW, retries, migration."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from mcp import Client, StdioServerParameters

from memory_mcp import open_engine
from memory_mcp.engine import MemoryEngine
from memory_mcp.errors import StoreError
from memory_mcp.locations import redact
from memory_mcp.stores.postgres import PostgresStore, search_sql
from memory_mcp.stores.postgres import connection as pg_connection

from ..helpers import ROOT, data, load_benchmark, untied
from ..helpers.servers import ALICE, client, free_port, launch

COMMAND = Path(sys.executable).parent / ("memory-mcp.exe" if sys.platform == "win32" else "memory-mcp")
FACTS = [
    "I love hiking in the Swiss Alps",
    "Allergic to peanuts and cashews",
    "My sister lives in Berlin and works as a nurse",
    "Prefers window seats on long flights",
    "Hiked the Matterhorn trail last summer",
    "Drinks oat milk in coffee every morning",
    "Plays the cello in a community orchestra",
    "Wants to visit Japan in the spring",
]
QUERIES = ["hiking", "peanut allergy", "where does my sister live", "flights", "coffee", "music", "travel plans"]


async def fill(engine: MemoryEngine) -> None:
    await engine.add_many([(fact, {"n": i}) for i, fact in enumerate(FACTS)], engine.scope("alice"))
    await engine.add("Hiking boots are in the garage", engine.scope("alice", agent_id="home"))
    await engine.add("I love hiking too", engine.scope("bob"))


async def test_search_ranks_exactly_as_the_in_memory_index(db_path: Path, postgres_url: str) -> None:
    async with open_engine(db_path) as local, open_engine(postgres_url) as shared:
        await fill(local)
        await fill(shared)
        for query in QUERIES:
            for scope in (local.scope("alice"), local.scope("alice", agent_id="home"), local.scope("bob")):
                for threshold in (None, -1.0):
                    ours = await local.search(query, scope, limit=5, threshold=threshold)
                    theirs = await shared.search(query, scope, limit=5, threshold=threshold)
                    assert [h.score for h in theirs] == pytest.approx([h.score for h in ours], abs=1e-5)
                    # Equal scores (unrelated texts all score 0) may come in any order; the rest must match.
                    assert untied(theirs) == untied(ours), (query, scope)


async def test_a_scopes_vector_sum_is_kept_through_adds_deletes_and_an_empty_start(postgres_url: str) -> None:
    """The meaning leg's mean comes from per-scope sums the trigger keeps: after adds, an update, a delete and an
    emptied scope whose sum was unknown (as schema 9 leaves a scope emptied before it), they equal the vectors'."""
    async with open_engine(postgres_url) as engine:
        alice = engine.scope("alice")
        stored = await engine.add_many([(fact, {}) for fact in FACTS], alice)
        await engine.update(stored[0].memory.id, alice, text="Alice moved to Lyon")  # type: ignore[union-attr]
        await engine.delete(stored[1].memory.id, alice)  # type: ignore[union-attr]
        await engine.delete_all(engine.scope("bob"))
        await engine.add("Bob keeps bees", engine.scope("bob"))
        connection = await asyncpg.connect(postgres_url)
        try:
            await connection.execute("UPDATE memory_mcp.scope_stats SET embedding_sum = NULL WHERE user_id = 'bob'")
            await engine.delete_all(engine.scope("bob"))  # an empty scope whose sum is unknown
            await engine.add("Bob keeps bees", engine.scope("bob"))  # the next insert sets it
            drift = await connection.fetchval(
                """SELECT max(l2_distance(s.embedding_sum, m.total)) FROM memory_mcp.scope_stats AS s
                   JOIN (SELECT user_id, sum(embedding) AS total FROM memory_mcp.memories GROUP BY user_id) AS m
                   USING (user_id)"""
            )
        finally:
            await connection.close()
        assert drift < 1e-4


async def test_a_write_through_one_server_is_seen_by_another_at_once(postgres_url: str) -> None:
    async with open_engine(postgres_url) as first, open_engine(postgres_url) as second:
        added = (await first.add("Allergic to peanuts", first.scope("alice"))).memory
        assert [h.memory.id for h in await second.search("peanuts", second.scope("alice"))] == [added.id]
        await second.update(added.id, second.scope("alice"), text="Allergic to cashews")
        # The other server sees the new text at once: no keyword of the old one is left, only nearness of meaning.
        assert all(hit.score <= 0.3 for hit in await first.search("peanuts", first.scope("alice")))
        assert [h.memory.text for h in await first.search("cashews", first.scope("alice"))] == ["Allergic to cashews"]
        await first.delete(added.id, first.scope("alice"))
        assert await second.search("cashews", second.scope("alice")) == []
        duplicate = await second.add("allergic to PEANUTS", second.scope("alice"))
        again = await first.add("Allergic to peanuts", first.scope("alice"))
        assert (duplicate.created, again.created, again.memory.id) == (True, False, duplicate.memory.id)


@pytest.mark.slow  # two server processes: the second tier
async def test_two_server_processes_share_one_database(postgres_url: str) -> None:
    env = {"MEMORY_MCP_DATABASE_URL": postgres_url}
    one = StdioServerParameters(command=str(COMMAND), args=[], env=env)
    async with Client(one) as writer, Client(one) as reader:
        added = data(await writer.call_tool("add_memory", {"user_id": "u", "text": "Keeps bees on the roof"}))
        found = data(await reader.call_tool("search_memory", {"user_id": "u", "query": "bees"}))["results"]
        assert [hit["id"] for hit in found] == [added["id"]]
        other = data(await reader.call_tool("search_memory", {"user_id": "v", "query": "bees"}))["results"]
        assert other == []


async def test_an_unreachable_server_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pg_connection, "_RETRIES", (0.01, 0.01))
    with pytest.raises(StoreError, match=r"Cannot reach PostgreSQL at postgresql://me:\*\*\*@127\.0\.0\.1:9/x"):
        await PostgresStore.open("postgresql://me:secret@127.0.0.1:9/x", dim=8, min_size=1, max_size=2)


async def test_transient_failures_are_retried_and_others_are_not(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pg_connection, "_RETRIES", (0.0, 0.0, 0.0))
    calls: list[str] = []

    async def flaky() -> str:
        calls.append("try")
        if len(calls) < 3:
            raise asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed in the middle of operation")
        return "done"

    async def broken() -> str:
        calls.append("broken")
        raise asyncpg.exceptions.UndefinedTableError("no such table")

    assert await pg_connection._retrying(flaky) == "done"
    assert calls == ["try"] * 3
    with pytest.raises(asyncpg.exceptions.UndefinedTableError):
        await pg_connection._retrying(broken)
    assert calls.count("broken") == 1


def test_passwords_never_reach_messages() -> None:
    assert redact("postgresql://me:secret@db:5432/memory") == "postgresql://me:***@db:5432/memory"
    assert redact("postgresql://db/memory") == "postgresql://db/memory"


def cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(COMMAND), *args], env={"PATH": str(COMMAND.parent), **env}, capture_output=True, text=True, timeout=120
    )


def test_migrate_moves_sqlite_memories_to_postgresql(tmp_path: Path, postgres_url: str) -> None:
    db = str(tmp_path / "m.db")
    for text, user in (("I love hiking", "alice"), ("Allergic to peanuts", "alice"), ("Plays cello", "bob")):
        assert cli("add", text, "-u", user, env={"MEMORY_MCP_DB": db}).returncode == 0
    first = cli("list", "-u", "alice", "--json", env={"MEMORY_MCP_DB": db})
    [newest, _] = json.loads(first.stdout)["memories"]
    assert (
        cli("edit", newest["id"], "-u", "alice", "--text", "Allergic to cashews", env={"MEMORY_MCP_DB": db}).returncode
        == 0
    )

    moved = cli("migrate", "--from", f"sqlite:{db}", "--to", postgres_url, "--json", env={})
    assert moved.returncode == 0, moved.stderr
    report: dict[str, Any] = json.loads(moved.stdout)
    assert report == {"copied": 3, "already": 0, "missing": [], "source": 3}
    again = json.loads(cli("migrate", "--from", db, "--to", postgres_url, "--json", env={}).stdout)
    assert (again["copied"], again["already"], again["missing"]) == (0, 3, [])

    pg = {"MEMORY_MCP_DATABASE_URL": postgres_url}
    history = json.loads(cli("history", newest["id"], "-u", "alice", "--json", env=pg).stdout)["history"]
    assert [(h["event"], h["new_text"]) for h in history] == [
        ("ADD", "Allergic to peanuts"),
        ("UPDATE", "Allergic to cashews"),
    ]
    hits = json.loads(cli("search", "hiking", "-u", "alice", "--json", env=pg).stdout)["results"]
    assert [hit["text"] for hit in hits if hit["match"] == "strong"] == ["I love hiking"]
    stats = json.loads(cli("stats", "--json", env=pg).stdout)
    assert (stats["memories"], stats["users"]) == (3, 2)
    assert "***" in stats["database"] or "@" not in stats["database"]


def test_sqlite_only_commands_say_so_for_postgresql(tmp_path: Path, postgres_url: str) -> None:
    pg = {"MEMORY_MCP_DATABASE_URL": postgres_url}
    for args in (["backup", str(tmp_path / "b.db")], ["check"]):
        result = cli(*args, env=pg)
        assert result.returncode == 2
        assert "PostgreSQL" in result.stderr
    bad = cli("list", "-u", "u", env={"MEMORY_MCP_DATABASE_URL": "mysql://x"})
    assert bad.returncode == 2
    assert "postgresql://" in bad.stderr


@pytest.mark.slow  # a benchmark: the second tier
async def test_the_postgres_benchmark_runs_and_reports(
    tmp_path: Path, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    bench = load_benchmark("postgres")
    monkeypatch.setattr(search_sql, "SCAN_MAX", 100)  # 300 memories searched as a large scope is: through postings
    row = await bench.bench_size(300, postgres_url, tmp_path, 5, "64MB", True, busy_seconds=0.2)
    crowd = await bench.many_users(postgres_url, 20, 10, 5)
    servers = await bench.two_servers(postgres_url, writes=6)
    results = {"cpu_count": 2, "sizes": [row], "many_users": crowd, "two_servers": servers}
    table = bench.report(results)
    assert row["path"] == "postings + HNSW"
    assert crowd["search"]["median_ms"] > 0
    assert "200 memories over 20 users" in table
    goals = bench.goals(results)  # 300 memories has no time bound of its own: recall, and the many-users goal
    assert [goal[0] for goal in goals] == [
        "PostgreSQL recall@10 at 300, broad (served vs exact scan)",
        "PostgreSQL recall@10 at 300, rare words (served vs exact scan)",
        "PostgreSQL, 200 memories over 20 users: one user's search p50",
    ]
    assert "| PostgreSQL, 200 memories over 20 users" in load_benchmark("performance").goal_table(goals)
    assert "| 300 | postings + HNSW |" in table
    assert servers["seen_at_once"] == 6  # no cache anywhere: the other server sees each write at once
    for figures in (row["broad"], row["narrow"], *row["filtered"].values()):
        assert 0.9 <= figures["search_recall_at_10"] <= 1.0
        assert figures["scan"]["median_ms"] > 0
        assert figures["served"]["median_ms"] > 0
    assert set(row["filtered"]) == set(bench.SELECTIVITY)
    assert "| 300 | 0.5% |" in table


@pytest.mark.slow  # two server processes: the second tier
async def test_the_compose_examples_servers_share_the_database_over_http(tmp_path: Path, postgres_url: str) -> None:
    """The server command of examples/docker-compose.postgres.yml, run twice on loopback (no Docker here)."""
    compose = (ROOT / "examples" / "docker-compose.postgres.yml").read_text()
    found = re.search(r"(memory-mcp --transport http [^\"\n]*)", compose)
    assert found is not None
    assert "MEMORY_MCP_DATABASE_URL: postgresql://" in compose
    tokens = tmp_path / "tokens.json"
    tokens.write_text(json.dumps({ALICE: "alice"}))
    processes = []
    try:
        bases = []
        for _ in range(2):
            port = free_port()
            line = found.group(1).replace("0.0.0.0", "127.0.0.1").replace("/tokens.json", str(tokens))
            command = [str(COMMAND), *shlex.split(line.replace("--port 8000", f"--port {port}"))[1:]]
            process, base = launch(command, {"MEMORY_MCP_DATABASE_URL": postgres_url}, port)
            processes.append(process)
            bases.append(base)
        async with client(bases[0], ALICE) as first, client(bases[1], ALICE) as second:
            added = data(await first.call_tool("add_memory", {"user_id": "alice", "text": "Rides a tandem bicycle"}))
            found_hits = data(await second.call_tool("search_memory", {"user_id": "alice", "query": "tandem"}))
            assert [hit["id"] for hit in found_hits["results"]] == [added["id"]]
    finally:
        for process in processes:
            process.terminate()
            process.wait(timeout=30)
