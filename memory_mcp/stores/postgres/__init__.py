"""PostgreSQL with pgvector: the store and its search in SQL, shared by every server on the database."""

from __future__ import annotations

from .store import PostgresStore

__all__ = ["PostgresStore"]
