"""memory-mcp: long-term memory for AI assistants over the Model Context Protocol."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any, Final

from .version import __version__

if TYPE_CHECKING:
    from .app import open_engine
    from .embedders import HashEmbedder
    from .engine import MemoryEngine
    from .errors import (
        ConfigError,
        DuplicateError,
        EmbeddingError,
        FilterError,
        InvalidInputError,
        MemoryMCPError,
        NotFoundError,
        StoreError,
    )
    from .models import AddResult, HistoryEntry, Limits, Memory, MemoryId, Page, Scope, SearchHit
    from .protocols import Embedder, MemoryStore, Retriever, SearchIndex
    from .search import Analyzer, LocalSearch, NumpyIndex, StoreSearch
    from .stores import SqliteStore

_HOMES: Final = {
    "open_engine": "app",
    "HashEmbedder": "embedders",
    "MemoryEngine": "engine",
    **dict.fromkeys(
        (
            "ConfigError",
            "DuplicateError",
            "EmbeddingError",
            "FilterError",
            "InvalidInputError",
            "MemoryMCPError",
            "NotFoundError",
            "StoreError",
        ),
        "errors",
    ),
    **dict.fromkeys(
        ("AddResult", "HistoryEntry", "Limits", "Memory", "MemoryId", "Page", "Scope", "SearchHit"), "models"
    ),
    **dict.fromkeys(("Embedder", "MemoryStore", "Retriever", "SearchIndex"), "protocols"),
    **dict.fromkeys(("Analyzer", "LocalSearch", "NumpyIndex", "StoreSearch"), "search"),
    "SqliteStore": "stores",
}
"""Where each public name lives. They load on first use (PEP 562), so that a command that needs a few modules
(a hook, `memory-mcp list`) does not pay for importing them all."""


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'memory_mcp' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{home}", __name__), name)
    globals()[name] = value
    return value


__all__ = [
    "AddResult",
    "Analyzer",
    "ConfigError",
    "DuplicateError",
    "Embedder",
    "EmbeddingError",
    "FilterError",
    "HashEmbedder",
    "HistoryEntry",
    "InvalidInputError",
    "Limits",
    "LocalSearch",
    "Memory",
    "MemoryEngine",
    "MemoryId",
    "MemoryMCPError",
    "MemoryStore",
    "NotFoundError",
    "NumpyIndex",
    "Page",
    "Retriever",
    "Scope",
    "SearchHit",
    "SearchIndex",
    "SqliteStore",
    "StoreError",
    "StoreSearch",
    "__version__",
    "open_engine",
]
