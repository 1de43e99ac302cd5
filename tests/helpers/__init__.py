"""Helpers the tests share: reading tool results, loading benchmark scripts, the in-process index of an engine."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

from mcp.types import CallToolResult, TextContent

from memory_mcp.embedders import default_embedder
from memory_mcp.engine import MemoryEngine
from memory_mcp.models import SearchHit
from memory_mcp.search import LocalSearch, NumpyIndex
from memory_mcp.stores import PostgresStore, SqliteStore

ROOT = Path(__file__).resolve().parents[2]
"""The repository's top folder."""
DEFAULT_ID = default_embedder().id
"""The id of the default embedder (spelling + meaning), as the database records it."""


def strong(hits: list[SearchHit]) -> list[SearchHit]:
    """The hits that really match (the weak ones only fill a short answer with the nearest memories)."""
    return [hit for hit in hits if hit.match == "strong"]


def local_index(engine: MemoryEngine) -> NumpyIndex:
    """The in-process index of an engine on SQLite (PostgreSQL searches in the database and keeps none)."""
    retriever = engine.retriever
    assert isinstance(retriever, LocalSearch)
    assert isinstance(retriever.index, NumpyIndex)
    return retriever.index


async def history_position(engine: MemoryEngine) -> int:
    """The sequence number of the newest history row: it moves with every committed change, on either backend."""
    store = engine.store
    if isinstance(store, SqliteStore):
        return await store.last_change()
    assert isinstance(store, PostgresStore)
    return int(await store.db.read(lambda db: db.fetchval("SELECT coalesce(max(seq), 0) FROM memory_mcp.history")))


def keeps_an_index(engine: MemoryEngine) -> bool:
    """True when the engine searches a copy in this process (SQLite), False when the store searches (PostgreSQL)."""
    return isinstance(engine.retriever, LocalSearch)


def load_benchmark(name: str) -> ModuleType:
    """Import a script from benchmarks/ (not a package) as a module."""
    path = ROOT / "benchmarks" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"benchmark_{name}", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses in the script look their module up here
    spec.loader.exec_module(module)
    return module


def data(result: CallToolResult) -> dict[str, Any]:
    """The structured content of a successful tool call."""
    assert result.is_error is False, result.content
    content: dict[str, Any] | None = result.structured_content
    assert content is not None
    return content


def error_text(result: CallToolResult) -> str:
    """The message of a failed tool call."""
    assert result.is_error is True
    [content] = result.content
    assert isinstance(content, TextContent)
    return content.text


def untied(hits: list[Any]) -> list[str]:
    """The texts of hits whose score no other hit (and not the last one's) shares, in order."""
    scores = [round(hit.score, 5) for hit in hits]
    last = scores[-1] if scores else None
    return [
        hit.memory.text for hit, score in zip(hits, scores, strict=True) if scores.count(score) == 1 and score != last
    ]


ALL_TOOLS = (
    "add_memory",
    "add_memories",
    "remember_conversation",
    "search_memory",
    "get_memory",
    "link_memories",
    "unlink_memories",
    "list_memories",
    "update_memory",
    "delete_memory",
    "delete_all_memories",
    "memory_history",
    "summarize_memories",
)
"""Every tool of MEMORY_MCP_TOOLS=all, in the order tools/list gives them."""
