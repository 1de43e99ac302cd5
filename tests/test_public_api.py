"""The public names of the package stay importable from its top level (the layer rules: test_layers.py)."""

from __future__ import annotations

import memory_mcp


def test_exported_members() -> None:
    assert sorted(memory_mcp.__all__) == sorted(
        [
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
    )
    for name in memory_mcp.__all__:
        assert getattr(memory_mcp, name) is not None
