"""Shared fixtures: a fresh database file per test, an engine on it, and a server over the engine."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from mcp.server.mcpserver import MCPServer
from mcp.types import CallToolResult, TextContent

from memory_mcp.engine import MemoryEngine
from memory_mcp.server import build_server


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "memory.db"


@pytest.fixture
async def engine(db_path: Path) -> AsyncIterator[MemoryEngine]:
    async with MemoryEngine.open(db_path) as opened:
        yield opened


@pytest.fixture
def server(engine: MemoryEngine) -> MCPServer:
    return build_server(engine)


def load_benchmark(name: str) -> ModuleType:
    """Import a script from benchmarks/ (not a package) as a module."""
    path = Path(__file__).parent.parent / "benchmarks" / f"{name}.py"
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
