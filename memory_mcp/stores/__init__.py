"""Stores: the durable source of truth. SQLite (the default, one file) or PostgreSQL with pgvector (shared)."""

from __future__ import annotations

from pathlib import Path

from ..config import is_postgres
from .postgres import PostgresStore
from .sqlite import SqliteStore

__all__ = ["PostgresStore", "SqliteStore", "open_store"]


async def open_store(location: str | Path, *, dim: int, pool: tuple[int, int]) -> SqliteStore | PostgresStore:
    """The store at `location`: a `postgresql://` URL (through a pool of (min, max) connections; a new
    database gets vectors of length `dim`), else a SQLite file, created with its folder if missing."""
    where = str(location)
    if is_postgres(where):
        return await PostgresStore.open(where, dim=dim, min_size=pool[0], max_size=pool[1])
    return await SqliteStore.open(where)
