"""memory-mcp: long-term memory for AI assistants over the Model Context Protocol."""

from __future__ import annotations

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
from .version import __version__

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
