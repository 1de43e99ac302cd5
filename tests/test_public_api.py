"""The public names of the package stay importable from its top level."""

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
    )
    for name in memory_mcp.__all__:
        assert getattr(memory_mcp, name) is not None


def test_the_engine_layer_never_imports_mcp() -> None:
    """Imports flow one way: only server.py (and serving.py and cli.py above it) may import the MCP SDK."""
    from pathlib import Path

    package = Path(memory_mcp.__file__).parent
    for module in package.glob("*.py"):
        if module.name in ("server.py", "serving.py", "cli.py"):
            continue
        source = module.read_text()
        assert "import mcp" not in source, module.name
        assert "from mcp" not in source, module.name
