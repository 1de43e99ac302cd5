"""A SQLite database that cannot grow (a full disk; here SQLite's own size limit, which fails writes the same way,
SQLITE_FULL): every add past it is a clear tool error that loses nothing, and the file stays sound."""

from __future__ import annotations

import sys
from pathlib import Path

import anyio
from mcp import Client

from memory_mcp import open_engine
from memory_mcp.server import build_server
from memory_mcp.stores import SqliteStore

from ..helpers import data, error_text

COMMAND = Path(sys.executable).parent / "memory-mcp"


async def test_a_full_disk_is_a_clear_error_and_the_file_passes_check(db_path: Path) -> None:
    kept: list[str] = []
    errors: list[str] = []
    async with open_engine(db_path) as engine:
        store = engine.store
        assert isinstance(store, SqliteStore)
        [(pages,)] = list(await store.reader.execute_fetchall("PRAGMA page_count"))
        await store._writer.execute(f"PRAGMA max_page_count = {pages + 12}")  # about 50 KB more, then full
        async with Client(build_server(engine)) as client:
            for n in range(400):
                text = f"Alice's note number {n}: " + "the quick brown fox jumps over the lazy dog " * 8
                result = await client.call_tool("add_memory", {"user_id": "alice", "text": text})
                if result.is_error:
                    errors.append(error_text(result))
                    if len(errors) == 3:
                        break
                else:
                    kept.append(data(result)["id"])
            assert len(errors) == 3, "the limit was never reached"
            assert kept, "nothing could be stored before the limit"
            for said in errors:
                assert "database or disk is full" in said
                assert "nothing was changed" in said
                assert "disk space" in said
            # Reads still work, and everything acknowledged is there.
            listed = data(await client.call_tool("list_memories", {"user_id": "alice", "limit": 100}))
            assert {memory["id"] for memory in listed["memories"]} == set(kept)
    checked = await anyio.run_process([str(COMMAND), "check", "--db", str(db_path)], check=False)
    assert checked.returncode == 0, (checked.stdout + checked.stderr).decode()
