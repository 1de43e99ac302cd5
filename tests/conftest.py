"""Shared fixtures: a fresh database file per test, an engine on it, and a server over the engine."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from mcp.server.mcpserver import MCPServer

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
