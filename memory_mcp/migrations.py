"""Numbered schema steps of the SQLite store; `PRAGMA user_version` records how many have run."""

from __future__ import annotations

from typing import Final

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
)

SCHEMA_VERSION: Final = len(MIGRATIONS)
