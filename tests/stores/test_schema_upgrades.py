"""Databases of earlier releases open in place: every memory, vector and history row kept, the new schema in force."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import asyncpg
import pytest

from memory_mcp import open_engine
from memory_mcp.app import accounts_of
from memory_mcp.embedders import default_embedder
from memory_mcp.search.analyzer import Analyzer
from memory_mcp.stores.postgres.migrations import SCHEMA, migrations
from memory_mcp.stores.postgres.migrations import SCHEMA_VERSION as PG_VERSION
from memory_mcp.stores.sqlite.migrations import SCHEMA_VERSION as SQLITE_VERSION
from memory_mcp.validation import content_hash

from ..helpers import ROOT
from .test_postings import COUNTS_DRIFT, POSTINGS_DRIFT

MADE_BY_MAIN = ROOT / "tests" / "data" / "schema2-main.sqlite3"
"""A SQLite file written by memory-mcp at schema 2 (main at eaf5e22): Sam's two memories (one updated, one added and
deleted in between), and one of agent "coder"."""
MADE_BY_MAIN_3 = ROOT / "tests" / "data" / "schema3-main.sqlite3"
"""A SQLite file written by memory-mcp at schema 3 (main at 98d7d0c): Sam's tea (added, updated), a cat (added,
deleted), Paris, a memory of project "shop" and one of agent "coder"; history rows 1-7."""
T0 = "2025-01-01T00:00:00.000000Z"


async def test_a_sqlite_file_of_schema_2_opens_with_everything_kept(tmp_path: Path) -> None:
    db = tmp_path / "memories.db"
    shutil.copy(MADE_BY_MAIN, db)
    async with open_engine(db) as engine:
        sam = engine.scope("sam")
        texts = sorted(memory.text for memory in (await engine.page(sam, limit=10)).memories)
        assert texts == ["Sam drinks oolong tea every morning", "Sam lives in Paris", "The build uses pnpm workspaces"]
        [tea] = [hit.memory for hit in await engine.search("oolong", sam, limit=1)]
        assert [entry.event for entry in await engine.history(tea.id, sam)] == ["ADD", "UPDATE"]
        assert tea.scope.project is None  # memories of before projects belong to the user everywhere
        # The project joined the unique key: the same words may now be kept in a project as well.
        again = await engine.add("Sam lives in Paris", engine.scope("sam", project="alpha"))
        assert again.created
        assert again.memory.scope.project == "alpha"
        assert (await engine.add("Sam lives in Paris", sam)).created is False
        assert await accounts_of(engine).add_account("sam", "scrypt$hash")  # schema 6: accounts for sign-in
        assert (
            await accounts_of(engine).reserve_signin("a", [("sam", 5)], 1.0, 300.0) == 0
        )  # 7: attempts in the database
    with sqlite3.connect(db) as raw:
        assert raw.execute("PRAGMA user_version").fetchone()[0] == SQLITE_VERSION == 7
        events = raw.execute("SELECT event, project FROM history WHERE memory_id = ?", (again.memory.id,)).fetchall()
        assert events == [("ADD", "alpha")]


async def test_a_sqlite_file_of_schema_3_opens_with_everything_kept_and_can_supersede(tmp_path: Path) -> None:
    db = tmp_path / "memories.db"
    shutil.copy(MADE_BY_MAIN_3, db)
    with sqlite3.connect(db) as raw:
        before = raw.execute("SELECT seq, memory_id, event, created_at FROM history ORDER BY seq").fetchall()
    async with open_engine(db) as engine:
        sam = engine.scope("sam")
        listed = {memory.text: memory for memory in (await engine.page(sam, limit=10)).memories}
        assert sorted(listed) == [
            "Review style: small commits",
            "Sam drinks oolong tea every morning",
            "Sam lives in Paris",
            "The build uses pnpm workspaces",
        ]
        paris = listed["Sam lives in Paris"]
        assert paris.current
        assert paris.valid_from == paris.created_at
        assert paris.entities == ()
        assert listed["The build uses pnpm workspaces"].scope.project == "shop"
        assert listed["Review style: small commits"].scope.agent_id == "coder"
        tea = listed["Sam drinks oolong tea every morning"]
        assert [entry.event for entry in await engine.history(tea.id, sam)] == ["ADD", "UPDATE"]
        # The new schema in force: supersession (a SUPERSEDE history row), entities, links.
        _, new = await engine.supersede(paris.id, sam, "Sam moved to Berlin", entities=["Berlin"])
        assert [entry.event for entry in await engine.history(new.id, sam)] == ["ADD", "SUPERSEDE", "ADD"]
        assert (await engine.page(sam, entity="berlin")).memories == [new]
        await engine.link(sam, tea.id, new.id, "relates_to")
        assert [link.type for link in await engine.links(sam, tea.id)] == ["relates_to"]
        # A text is unique among current memories only: the old fact may be stated again.
        assert (await engine.add("Sam lives in Paris", sam)).created
    with sqlite3.connect(db) as raw:
        assert raw.execute("PRAGMA user_version").fetchone()[0] == SQLITE_VERSION
        after = raw.execute("SELECT seq, memory_id, event, created_at FROM history ORDER BY seq").fetchall()
        assert after[: len(before)] == before  # every history row kept, with its sequence number
        assert [row[0] for row in after[len(before) :]] == list(range(8, 8 + len(after) - len(before)))


_TOASTED = f"SELECT pg_relation_size(reltoastrelid) FROM pg_class WHERE oid = '{SCHEMA}.memories'::regclass"
"""Bytes in the TOAST table of the memories (vectors, terms or texts stored out of their rows)."""


@pytest.mark.parametrize("released", [1, 2, 3, 4, 5, 6, 7, 9])
async def test_a_postgresql_schema_of_every_release_opens_with_everything_kept(
    postgres_url: str, released: int
) -> None:
    embedder, analyzer = default_embedder(), Analyzer()
    facts = ["Sam lives in Paris", "Sam drinks oolong tea every morning"]
    vectors = await embedder.embed_documents(facts)
    connection = await asyncpg.connect(postgres_url)
    try:  # the schema exactly as that release left it, with two memories written as it wrote them
        await connection.execute("CREATE EXTENSION IF NOT EXISTS vector")
        for steps in migrations(embedder.dim)[:released]:
            for statement in steps:
                await connection.execute(statement)
        await connection.execute(f"INSERT INTO {SCHEMA}.settings VALUES ('schema_version', $1)", str(released))
        for number, (fact, vector) in enumerate(zip(facts, vectors, strict=True)):
            await connection.execute(
                f"INSERT INTO {SCHEMA}.memories (id, user_id, text, content_hash, embedding, terms, created_at,"
                " updated_at) VALUES ($1, 'sam', $2, $3, $4::vector, $5, $6, $6)",
                f"m{number}",
                fact,
                content_hash(fact),
                "[" + ",".join(map(repr, vector.tolist())) + "]",
                analyzer.terms(fact),
                T0,
            )
        toasted = await connection.fetchval(_TOASTED)
    finally:
        await connection.close()
    assert (toasted > 0) is (released < 7)  # before schema 7 a vector of this size went to the TOAST table
    async with open_engine(postgres_url) as engine:
        sam = engine.scope("sam")
        assert [hit.memory.id for hit in await engine.search("oolong tea", sam, limit=1)] == ["m1"]
        assert [entry.event for entry in await engine.history("m0", sam)] == ["ADD"]
        again = await engine.add("Sam lives in Paris", engine.scope("sam", project="alpha"))
        assert again.created
        assert again.memory.scope.project == "alpha"
        assert await engine.count(engine.scope("sam", project="beta")) == 2
        assert await engine.count(engine.scope("sam", project="alpha")) == 3
        old, new = await engine.supersede("m0", sam, "Sam moved to Berlin", valid_from="2025-06")
        assert old.valid_to == new.valid_from == "2025-06-01T00:00:00.000000Z"
        then = engine.validity("2025-03")
        assert [hit.memory.id for hit in await engine.search("Paris", sam, limit=1, validity=then)] == ["m0"]
        assert "m0" not in [hit.memory.id for hit in await engine.search("Paris", sam)]  # superseded: not current
        assert await accounts_of(engine).add_account("sam", "scrypt$hash")  # schema 6: accounts for sign-in
        assert (
            await accounts_of(engine).reserve_signin("a", [("sam", 5)], 1.0, 300.0) == 0
        )  # 8: attempts in the database
        await accounts_of(engine).save_oauth_client("c", "{}")
        await accounts_of(engine).client_used("c", 2.0)
        assert await accounts_of(engine).count_unused_clients() == 0
    connection = await asyncpg.connect(postgres_url)
    try:
        version = await connection.fetchval(f"SELECT value FROM {SCHEMA}.settings WHERE key = 'schema_version'")
        assert version == str(PG_VERSION) == "10"
        # Schema 7 keeps vectors in their rows (an exact search reads them all): the rows of before were rewritten.
        assert await connection.fetchval(_TOASTED) == 0
        stats = await connection.fetch(f"SELECT project, memories FROM {SCHEMA}.scope_stats ORDER BY project")
        assert [(row["project"], row["memories"]) for row in stats] == [("", 3), ("alpha", 1)]  # with the superseded
        # 9: each scope's vectors added up, kept by the trigger through the adds and the supersession above.
        drift = await connection.fetchval(
            f"""SELECT max(l2_distance(s.embedding_sum, m.total)) FROM {SCHEMA}.scope_stats AS s
                JOIN (SELECT project, sum(embedding) AS total FROM {SCHEMA}.memories GROUP BY project) AS m
                USING (project)"""
        )
        assert drift < 1e-4
        # 10: postings and per-term counts, filled from the memories stored before and kept since.
        assert await connection.fetchval(POSTINGS_DRIFT) == await connection.fetchval(COUNTS_DRIFT) == 0
        assert await connection.fetchval(f"SELECT count(*) FROM {SCHEMA}.postings WHERE memory_id = 'm1'") == 6
    finally:
        await connection.close()
