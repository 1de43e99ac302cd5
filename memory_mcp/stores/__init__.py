"""Stores: the durable source of truth. SQLite (the default, one file) or PostgreSQL with pgvector (shared)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..locations import is_postgres
from .sqlite import SqliteStore

if TYPE_CHECKING:
    from .postgres import PostgresStore

__all__ = ["PostgresStore", "SqliteStore", "open_store"]


def __getattr__(name: str) -> Any:
    """PostgresStore loads on first use: the SQLite default never imports asyncpg (PEP 562)."""
    if name == "PostgresStore":
        from .postgres import PostgresStore

        return PostgresStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


async def open_store(
    location: str | Path, *, dim: int, pool: tuple[int, int], mapped: bool = False
) -> SqliteStore | PostgresStore:
    """The store at `location`: a `postgresql://` URL (through a pool of (min, max) connections; a new
    database gets vectors of length `dim`), else a SQLite file, created with its folder if missing (`mapped`: read
    through a memory map, for a one-shot process)."""
    where = str(location)
    if is_postgres(where):
        from .postgres import PostgresStore

        return await PostgresStore.open(where, dim=dim, min_size=pool[0], max_size=pool[1])
    return await SqliteStore.open(where, mapped=mapped)
