"""The default backend: one SQLite file (WAL) holds memories, vector BLOBs and history; an index searches it."""

from __future__ import annotations

from .store import SqliteStore

__all__ = ["SqliteStore"]
