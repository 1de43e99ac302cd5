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
    # 4: memories that stay true over time. Validity (valid_from, NULL for "since stored"; valid_to and
    # superseded_by once a newer memory replaced it): a text is unique among a scope's current memories only.
    # Entities as JSON lists (names as given, keys as matched), indexed through memory_entities, which triggers
    # keep equal to them. Links between memories, removed with either end. The history accepts SUPERSEDE, which
    # SQLite can only add to a CHECK by rebuilding the table (the ADD trigger is set aside meanwhile).
    (
        "ALTER TABLE memories ADD COLUMN valid_from TEXT",
        "ALTER TABLE memories ADD COLUMN valid_to TEXT",
        "ALTER TABLE memories ADD COLUMN superseded_by TEXT",
        "ALTER TABLE memories ADD COLUMN entities TEXT NOT NULL DEFAULT '[]'",
        "ALTER TABLE memories ADD COLUMN entity_keys TEXT NOT NULL DEFAULT '[]'",
        "DROP INDEX memories_scope_hash",
        """CREATE UNIQUE INDEX memories_scope_hash ON memories (user_id, agent_id, run_id, project, content_hash)
           WHERE valid_to IS NULL""",
        """
        CREATE TABLE memory_entities (
            user_id    TEXT NOT NULL,
            entity_key TEXT NOT NULL,
            memory_id  TEXT NOT NULL,
            name       TEXT NOT NULL,
            PRIMARY KEY (user_id, entity_key, memory_id)
        ) WITHOUT ROWID
        """,
        "CREATE INDEX memory_entities_memory ON memory_entities (memory_id)",
        """
        CREATE TRIGGER memories_entities_add AFTER INSERT ON memories WHEN NEW.entity_keys <> '[]' BEGIN
            INSERT OR IGNORE INTO memory_entities (user_id, entity_key, memory_id, name)
            SELECT NEW.user_id, k.value, NEW.id, json_extract(NEW.entities, '$[' || k.key || ']')
            FROM json_each(NEW.entity_keys) AS k;
        END
        """,
        """
        CREATE TRIGGER memories_entities_change AFTER UPDATE OF entity_keys ON memories BEGIN
            DELETE FROM memory_entities WHERE memory_id = OLD.id;
            INSERT OR IGNORE INTO memory_entities (user_id, entity_key, memory_id, name)
            SELECT NEW.user_id, k.value, NEW.id, json_extract(NEW.entities, '$[' || k.key || ']')
            FROM json_each(NEW.entity_keys) AS k;
        END
        """,
        """
        CREATE TABLE links (
            user_id    TEXT NOT NULL,
            source_id  TEXT NOT NULL,
            target_id  TEXT NOT NULL,
            type       TEXT NOT NULL,
            metadata   TEXT NOT NULL DEFAULT '{}',
            created_at TEXT NOT NULL,
            PRIMARY KEY (source_id, target_id, type)
        )
        """,
        "CREATE INDEX links_target ON links (target_id)",
        """
        CREATE TRIGGER memories_forget_relations AFTER DELETE ON memories BEGIN
            DELETE FROM memory_entities WHERE memory_id = OLD.id;
            DELETE FROM links WHERE source_id = OLD.id;
            DELETE FROM links WHERE target_id = OLD.id;
        END
        """,
        "DROP TRIGGER memories_add_history",
        """
        CREATE TABLE history_4 (
            seq          INTEGER PRIMARY KEY AUTOINCREMENT,
            memory_id    TEXT NOT NULL,
            user_id      TEXT NOT NULL,
            agent_id     TEXT NOT NULL DEFAULT '',
            run_id       TEXT NOT NULL DEFAULT '',
            event        TEXT NOT NULL CHECK (event IN ('ADD', 'UPDATE', 'DELETE', 'SUPERSEDE')),
            old_text     TEXT,
            new_text     TEXT,
            old_metadata TEXT,
            new_metadata TEXT,
            created_at   TEXT NOT NULL,
            project      TEXT NOT NULL DEFAULT ''
        )
        """,
        """INSERT INTO history_4 (seq, memory_id, user_id, agent_id, run_id, event, old_text, new_text, old_metadata,
                                  new_metadata, created_at, project)
           SELECT seq, memory_id, user_id, agent_id, run_id, event, old_text, new_text, old_metadata, new_metadata,
                  created_at, project FROM history""",
        "DROP TABLE history",
        "ALTER TABLE history_4 RENAME TO history",
        "CREATE INDEX history_memory ON history (user_id, memory_id, seq)",
        """
        CREATE TRIGGER memories_add_history AFTER INSERT ON memories BEGIN
            INSERT INTO history (memory_id, user_id, agent_id, run_id, project, event, new_text, new_metadata,
                                 created_at)
            VALUES (NEW.id, NEW.user_id, NEW.agent_id, NEW.run_id, NEW.project, 'ADD', NEW.text, NEW.metadata,
                    NEW.created_at);
        END
        """,
    ),
    # 5: a snapshot of the in-process search index (its partitions as BLOBs; what they reflect, the history
    # sequence number and versions, in settings), so that a restart reads it instead of analysing every text.
    ("CREATE TABLE index_snapshot (part INTEGER PRIMARY KEY, data BLOB NOT NULL)",),
    # 6: sign-in over HTTP (OAuth): accounts with password hashes, registered clients, and the secrets issued
    # (sign-in requests, codes, access and refresh tokens), by their SHA-256 only.
    (
        "CREATE TABLE accounts (name TEXT PRIMARY KEY, password TEXT NOT NULL, created_at TEXT NOT NULL)",
        "CREATE TABLE oauth_clients (client_id TEXT PRIMARY KEY, metadata TEXT NOT NULL, created_at TEXT NOT NULL)",
        """
        CREATE TABLE oauth_grants (
            token_hash TEXT PRIMARY KEY,
            kind       TEXT NOT NULL,
            grant_id   TEXT NOT NULL,
            user_id    TEXT NOT NULL,
            client_id  TEXT NOT NULL,
            data       TEXT NOT NULL,
            expires_at REAL NOT NULL
        )
        """,
        "CREATE INDEX oauth_grants_grant ON oauth_grants (grant_id)",
        "CREATE INDEX oauth_grants_user ON oauth_grants (user_id)",
    ),
    # 7: sign-in attempts counted in the database (every process on the file sees the same count; an attempt is
    # reserved before its password check), and when a registered client last got a token, so that registrations
    # nobody uses are purged.
    (
        "CREATE TABLE signin_attempts (attempt TEXT NOT NULL, key TEXT NOT NULL, at REAL NOT NULL)",
        "CREATE INDEX signin_attempts_key ON signin_attempts (key, at)",
        "CREATE INDEX signin_attempts_attempt ON signin_attempts (attempt)",
        "ALTER TABLE oauth_clients ADD COLUMN used_at REAL",
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
