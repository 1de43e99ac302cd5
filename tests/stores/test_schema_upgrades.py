"""Databases of earlier releases open in place: every memory, vector and history row kept, the new schema in force."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import asyncpg
import pytest

from memory_mcp import open_engine
from memory_mcp.embedders import default_embedder
from memory_mcp.search.analyzer import Analyzer
from memory_mcp.stores.postgres.migrations import SCHEMA, migrations
from memory_mcp.stores.postgres.migrations import SCHEMA_VERSION as PG_VERSION
from memory_mcp.stores.sqlite.migrations import SCHEMA_VERSION as SQLITE_VERSION
from memory_mcp.validation import content_hash

from ..helpers import ROOT

MADE_BY_MAIN = ROOT / "tests" / "data" / "schema2-main.sqlite3"
"""A SQLite file written by memory-mcp at schema 2 (main at eaf5e22): Sam's two memories (one updated, one added and
deleted in between), and one of agent "coder"."""
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
    with sqlite3.connect(db) as raw:
        assert raw.execute("PRAGMA user_version").fetchone()[0] == SQLITE_VERSION == 3
        events = raw.execute("SELECT event, project FROM history WHERE memory_id = ?", (again.memory.id,)).fetchall()
        assert events == [("ADD", "alpha")]


@pytest.mark.parametrize("released", [1, 2, 3])
async def test_a_postgresql_schema_of_every_release_opens_with_everything_kept(
    postgres_url: str, released: int
) -> None:
    embedder, analyzer = default_embedder(), Analyzer()
    facts = ["Sam lives in Paris", "Sam drinks oolong tea every morning"]
    vectors = await embedder.embed_documents(facts)
    connection = await asyncpg.connect(postgres_url)
    try:  # the schema exactly as that release left it, with two memories written as it wrote them
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
    finally:
        await connection.close()
    async with open_engine(postgres_url) as engine:
        sam = engine.scope("sam")
        assert [hit.memory.id for hit in await engine.search("oolong tea", sam, limit=1)] == ["m1"]
        assert [entry.event for entry in await engine.history("m0", sam)] == ["ADD"]
        again = await engine.add("Sam lives in Paris", engine.scope("sam", project="alpha"))
        assert again.created
        assert again.memory.scope.project == "alpha"
        assert await engine.count(engine.scope("sam", project="beta")) == 2
        assert await engine.count(engine.scope("sam", project="alpha")) == 3
    connection = await asyncpg.connect(postgres_url)
    try:
        version = await connection.fetchval(f"SELECT value FROM {SCHEMA}.settings WHERE key = 'schema_version'")
        assert version == str(PG_VERSION) == "4"
        stats = await connection.fetch(f"SELECT project, memories FROM {SCHEMA}.scope_stats ORDER BY project")
        assert [(row["project"], row["memories"]) for row in stats] == [("", 2), ("alpha", 1)]
    finally:
        await connection.close()
