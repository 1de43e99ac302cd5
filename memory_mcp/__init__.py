"""memory-mcp: long-term memory for AI assistants over the Model Context Protocol."""

from __future__ import annotations

from .analyzer import Analyzer
from .embedder import HashEmbedder
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
from .index import NumpyIndex
from .models import AddResult, HistoryEntry, Limits, Memory, MemoryId, Page, Scope, SearchHit
from .protocols import Embedder, MemoryStore, SearchIndex
from .store import SqliteStore

__version__ = "0.1.0"

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
    "Memory",
    "MemoryEngine",
    "MemoryId",
    "MemoryMCPError",
    "MemoryStore",
    "NotFoundError",
    "NumpyIndex",
    "Page",
    "Scope",
    "SearchHit",
    "SearchIndex",
    "SqliteStore",
    "StoreError",
    "__version__",
]
