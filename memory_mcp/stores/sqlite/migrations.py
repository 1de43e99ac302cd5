"""Numbered schema steps of the SQLite store; `PRAGMA user_version` records how many have run."""

from __future__ import annotations

import logging
from typing import Final

import aiosqlite

from ...errors import StoreError

logger = logging.getLogger(__name__)

MIGRATIONS: Final[tuple[tuple[str, ...], ...]] = (
    # 1: memories with their vectors, the change history, and store-wide settings.
    (
        """
        CREATE TABLE settings (
            key   TEXT PRIMARY KEY,
            value TEXT NOT NULL
        )
        """,
        """
        CREATE TABLE memories (
            id           TEXT PRIMARY KEY,
            user_id      TEXT NOT NULL,
            agent_id     TEXT NOT NULL DEFAULT '',
            run_id       TEXT NOT NULL DEFAULT '',
            text         TEXT NOT NULL,
            metadata     TEXT NOT NULL DEFAULT '{}',
            content_hash TEXT NOT NULL,
            embedding    BLOB NOT NULL,
            created_at   TEXT NOT NULL,
            updated_at   TEXT NOT NULL
        )
        """,
        # Scope + normalised-text hash is unique: exact duplicates cannot exist, even across processes.
        "CREATE UNIQUE INDEX memories_scope_hash ON memories (user_id, agent_id, run_id, content_hash)",
        "CREATE INDEX memories_user_newest ON memories (user_id, created_at DESC, id DESC)",
        """
        CREATE TABLE history (
            seq          INTEGER PRIMARY KEY AUTOINCREMENT,
            memory_id    TEXT NOT NULL,
            user_id      TEXT NOT NULL,
            agent_id     TEXT NOT NULL DEFAULT '',
            run_id       TEXT NOT NULL DEFAULT '',
            event        TEXT NOT NULL CHECK (event IN ('ADD', 'UPDATE', 'DELETE')),
            old_text     TEXT,
            new_text     TEXT,
            old_metadata TEXT,
            new_metadata TEXT,
            created_at   TEXT NOT NULL
        )
        """,
        "CREATE INDEX history_memory ON history (user_id, memory_id, seq)",
    ),
    # 2: the ADD history row is written by the database itself, so that storing a memory is one statement.
    (
        """
        CREATE TRIGGER memories_add_history AFTER INSERT ON memories BEGIN
            INSERT INTO history (memory_id, user_id, agent_id, run_id, event, new_text, new_metadata, created_at)
            VALUES (NEW.id, NEW.user_id, NEW.agent_id, NEW.run_id, 'ADD', NEW.text, NEW.metadata, NEW.created_at);
        END
        """,
    ),
    # 3: projects. A memory belongs to the user everywhere ('') or to one project; the same text may be kept in
    # each, so the project joins the unique key, and the history rows record it like the rest of the scope.
    (
        "ALTER TABLE memories ADD COLUMN project TEXT NOT NULL DEFAULT ''",
        "ALTER TABLE history ADD COLUMN project TEXT NOT NULL DEFAULT ''",
        "DROP INDEX memories_scope_hash",
        "CREATE UNIQUE INDEX memories_scope_hash ON memories (user_id, agent_id, run_id, project, content_hash)",
        "DROP TRIGGER memories_add_history",
        """
        CREATE TRIGGER memories_add_history AFTER INSERT ON memories BEGIN
            INSERT INTO history (memory_id, user_id, agent_id, run_id, project, event, new_text, new_metadata,
                                 created_at)
            VALUES (NEW.id, NEW.user_id, NEW.agent_id, NEW.run_id, NEW.project, 'ADD', NEW.text, NEW.metadata,
                    NEW.created_at);
        END
        """,
    ),
)

SCHEMA_VERSION: Final = len(MIGRATIONS)


def _known_version(version: int, location: str) -> int:
    if version > SCHEMA_VERSION:
        raise StoreError(
            f"The database at {location!r} has schema version {version}, newer than this memory-mcp "
            f"understands ({SCHEMA_VERSION}). Upgrade memory-mcp, or point --db at another file."
        )
    return version


async def migrate(db: aiosqlite.Connection, location: str) -> None:
    """Bring the schema up to date in one IMMEDIATE transaction, so concurrent starters migrate once."""
    await db.execute("BEGIN IMMEDIATE")
    try:
        rows = list(await db.execute_fetchall("PRAGMA user_version"))
        row = rows[0] if rows else None
        version = _known_version(int(row[0]) if row else 0, location)
        for number in range(version, SCHEMA_VERSION):
            for statement in MIGRATIONS[number]:
                await db.execute(statement)
            logger.info("database %s migrated to schema version %d", location, number + 1)
        await db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
    except BaseException:
        await db.execute("ROLLBACK")
        raise
    await db.execute("COMMIT")
