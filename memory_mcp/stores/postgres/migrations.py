"""Numbered schema steps of the PostgreSQL store, in the `memory_mcp` schema; `settings.schema_version` counts them."""

from __future__ import annotations

import logging
from typing import Any, Final

from ...errors import StoreError
from .connection import SCHEMA as SCHEMA
from .connection import Connections
from .postings import MIGRATION as POSTINGS

logger = logging.getLogger(__name__)

_SCHEMA_KEY: Final = "schema_version"
_LOCK: Final = 0x6D656D6F7279  # advisory lock id ("memory") held while migrating


def migrations(dim: int) -> tuple[tuple[str, ...], ...]:
    """Numbered schema steps; the vector column takes the embedder's length."""
    return (
        (
            f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}",
            f"CREATE TABLE {SCHEMA}.settings (key text PRIMARY KEY, value text NOT NULL)",
            f"""
            CREATE TABLE {SCHEMA}.memories (
                id           text PRIMARY KEY,
                user_id      text NOT NULL,
                agent_id     text NOT NULL DEFAULT '',
                run_id       text NOT NULL DEFAULT '',
                text         text NOT NULL,
                metadata     text NOT NULL DEFAULT '{{}}',
                content_hash text NOT NULL,
                embedding    vector({dim}) NOT NULL,
                terms        text[] NOT NULL DEFAULT '{{}}',
                created_at   text NOT NULL,
                updated_at   text NOT NULL
            )
            """,
            f"CREATE UNIQUE INDEX memories_scope_hash ON {SCHEMA}.memories (user_id, agent_id, run_id, content_hash)",
            f"CREATE INDEX memories_user_newest ON {SCHEMA}.memories (user_id, created_at DESC, id DESC)",
            f"CREATE INDEX memories_terms ON {SCHEMA}.memories USING gin (terms)",
            f"CREATE INDEX memories_embedding ON {SCHEMA}.memories USING hnsw (embedding vector_cosine_ops)",
            f"""
            CREATE TABLE {SCHEMA}.history (
                seq          bigserial PRIMARY KEY,
                memory_id    text NOT NULL,
                user_id      text NOT NULL,
                agent_id     text NOT NULL DEFAULT '',
                run_id       text NOT NULL DEFAULT '',
                event        text NOT NULL CHECK (event IN ('ADD', 'UPDATE', 'DELETE')),
                old_text     text,
                new_text     text,
                old_metadata text,
                new_metadata text,
                created_at   text NOT NULL
            )
            """,
            f"CREATE INDEX history_memory ON {SCHEMA}.history (user_id, memory_id, seq)",
            f"""
            CREATE FUNCTION {SCHEMA}.memories_add_history() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                INSERT INTO {SCHEMA}.history (memory_id, user_id, agent_id, run_id, event, new_text, new_metadata,
                                              created_at)
                VALUES (NEW.id, NEW.user_id, NEW.agent_id, NEW.run_id, 'ADD', NEW.text, NEW.metadata, NEW.created_at);
                RETURN NEW;
            END $$
            """,
            f"""
            CREATE TRIGGER memories_add_history AFTER INSERT ON {SCHEMA}.memories
            FOR EACH ROW EXECUTE FUNCTION {SCHEMA}.memories_add_history()
            """,
        ),
        # 2: per-scope counts kept by the database itself, so search needs no scan for its BM25 statistics.
        (
            f"""
            CREATE TABLE {SCHEMA}.scope_stats (
                user_id  text NOT NULL,
                agent_id text NOT NULL,
                run_id   text NOT NULL,
                memories bigint NOT NULL,
                terms    bigint NOT NULL,
                PRIMARY KEY (user_id, agent_id, run_id)
            )
            """,
            f"""
            INSERT INTO {SCHEMA}.scope_stats
            SELECT user_id, agent_id, run_id, count(*), coalesce(sum(cardinality(terms)), 0)
            FROM {SCHEMA}.memories GROUP BY user_id, agent_id, run_id
            """,
            f"""
            CREATE FUNCTION {SCHEMA}.scope_stats_change() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                IF TG_OP = 'INSERT' THEN
                    INSERT INTO {SCHEMA}.scope_stats AS s
                    VALUES (NEW.user_id, NEW.agent_id, NEW.run_id, 1, cardinality(NEW.terms))
                    ON CONFLICT (user_id, agent_id, run_id)
                    DO UPDATE SET memories = s.memories + 1, terms = s.terms + excluded.terms;
                ELSIF TG_OP = 'UPDATE' THEN
                    UPDATE {SCHEMA}.scope_stats SET terms = terms + cardinality(NEW.terms) - cardinality(OLD.terms)
                    WHERE user_id = OLD.user_id AND agent_id = OLD.agent_id AND run_id = OLD.run_id;
                ELSE
                    UPDATE {SCHEMA}.scope_stats SET memories = memories - 1, terms = terms - cardinality(OLD.terms)
                    WHERE user_id = OLD.user_id AND agent_id = OLD.agent_id AND run_id = OLD.run_id;
                END IF;
                RETURN NULL;
            END $$
            """,
            f"""
            CREATE TRIGGER memories_scope_stats AFTER INSERT OR DELETE OR UPDATE OF terms ON {SCHEMA}.memories
            FOR EACH ROW EXECUTE FUNCTION {SCHEMA}.scope_stats_change()
            """,
        ),
        # 3: metadata as jsonb beside the exact text, so metadata filters run in SQL.
        (f"ALTER TABLE {SCHEMA}.memories ADD COLUMN meta jsonb GENERATED ALWAYS AS (metadata::jsonb) STORED",),
        # 4: projects. A memory belongs to the user everywhere ('') or to one project; the project joins the unique
        # key, the history rows and the per-scope counts like the rest of the scope.
        (
            f"ALTER TABLE {SCHEMA}.memories ADD COLUMN project text NOT NULL DEFAULT ''",
            f"ALTER TABLE {SCHEMA}.history ADD COLUMN project text NOT NULL DEFAULT ''",
            f"DROP INDEX {SCHEMA}.memories_scope_hash",
            f"""CREATE UNIQUE INDEX memories_scope_hash
                ON {SCHEMA}.memories (user_id, agent_id, run_id, project, content_hash)""",
            f"""
            CREATE OR REPLACE FUNCTION {SCHEMA}.memories_add_history() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                INSERT INTO {SCHEMA}.history (memory_id, user_id, agent_id, run_id, project, event, new_text,
                                              new_metadata, created_at)
                VALUES (NEW.id, NEW.user_id, NEW.agent_id, NEW.run_id, NEW.project, 'ADD', NEW.text, NEW.metadata,
                        NEW.created_at);
                RETURN NEW;
            END $$
            """,
            f"ALTER TABLE {SCHEMA}.scope_stats ADD COLUMN project text NOT NULL DEFAULT ''",
            f"ALTER TABLE {SCHEMA}.scope_stats DROP CONSTRAINT scope_stats_pkey",
            f"ALTER TABLE {SCHEMA}.scope_stats ADD PRIMARY KEY (user_id, agent_id, run_id, project)",
            f"""
            CREATE OR REPLACE FUNCTION {SCHEMA}.scope_stats_change() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                IF TG_OP = 'INSERT' THEN
                    INSERT INTO {SCHEMA}.scope_stats AS s (user_id, agent_id, run_id, project, memories, terms)
                    VALUES (NEW.user_id, NEW.agent_id, NEW.run_id, NEW.project, 1, cardinality(NEW.terms))
                    ON CONFLICT (user_id, agent_id, run_id, project)
                    DO UPDATE SET memories = s.memories + 1, terms = s.terms + excluded.terms;
                ELSIF TG_OP = 'UPDATE' THEN
                    UPDATE {SCHEMA}.scope_stats SET terms = terms + cardinality(NEW.terms) - cardinality(OLD.terms)
                    WHERE user_id = OLD.user_id AND agent_id = OLD.agent_id AND run_id = OLD.run_id
                      AND project = OLD.project;
                ELSE
                    UPDATE {SCHEMA}.scope_stats SET memories = memories - 1, terms = terms - cardinality(OLD.terms)
                    WHERE user_id = OLD.user_id AND agent_id = OLD.agent_id AND run_id = OLD.run_id
                      AND project = OLD.project;
                END IF;
                RETURN NULL;
            END $$
            """,
        ),
        # 5: memories that stay true over time: validity (valid_from NULL means "since stored"), a text unique
        # among a scope's current memories only, entities (names as given, keys as matched, GIN-indexed), links
        # between memories (gone with either end), and SUPERSEDE history rows.
        (
            f"""ALTER TABLE {SCHEMA}.memories ADD COLUMN valid_from text, ADD COLUMN valid_to text,
                ADD COLUMN superseded_by text, ADD COLUMN entities text[] NOT NULL DEFAULT '{{}}',
                ADD COLUMN entity_keys text[] NOT NULL DEFAULT '{{}}'""",
            f"DROP INDEX {SCHEMA}.memories_scope_hash",
            f"""CREATE UNIQUE INDEX memories_scope_hash
                ON {SCHEMA}.memories (user_id, agent_id, run_id, project, content_hash) WHERE valid_to IS NULL""",
            f"CREATE INDEX memories_entities ON {SCHEMA}.memories USING gin (entity_keys)",
            f"""
            CREATE TABLE {SCHEMA}.links (
                user_id    text NOT NULL,
                source_id  text NOT NULL REFERENCES {SCHEMA}.memories (id) ON DELETE CASCADE,
                target_id  text NOT NULL REFERENCES {SCHEMA}.memories (id) ON DELETE CASCADE,
                type       text NOT NULL,
                metadata   text NOT NULL DEFAULT '{{}}',
                created_at text NOT NULL,
                PRIMARY KEY (source_id, target_id, type)
            )
            """,
            f"CREATE INDEX links_target ON {SCHEMA}.links (target_id)",
            f"ALTER TABLE {SCHEMA}.history DROP CONSTRAINT history_event_check",
            f"""ALTER TABLE {SCHEMA}.history ADD CONSTRAINT history_event_check
                CHECK (event IN ('ADD', 'UPDATE', 'DELETE', 'SUPERSEDE'))""",
        ),
        # 6: sign-in over HTTP (OAuth), shared by every server on the database: accounts with password hashes,
        # registered clients, and the secrets issued (sign-in requests, codes, access and refresh tokens), by
        # their SHA-256 only.
        (
            f"CREATE TABLE {SCHEMA}.accounts (name text PRIMARY KEY, password text NOT NULL, created_at text NOT NULL)",
            f"""CREATE TABLE {SCHEMA}.oauth_clients (client_id text PRIMARY KEY, metadata text NOT NULL,
                created_at text NOT NULL)""",
            f"""
            CREATE TABLE {SCHEMA}.oauth_grants (
                token_hash text PRIMARY KEY,
                kind       text NOT NULL,
                grant_id   text NOT NULL,
                user_id    text NOT NULL,
                client_id  text NOT NULL,
                data       text NOT NULL,
                expires_at double precision NOT NULL
            )
            """,
            f"CREATE INDEX oauth_grants_grant ON {SCHEMA}.oauth_grants (grant_id)",
            f"CREATE INDEX oauth_grants_user ON {SCHEMA}.oauth_grants (user_id)",
        ),
        # 7: a memory's vector, terms and text kept in its row, not in the TOAST table (rows up to a page: 8160
        # bytes; the vector is the last to move out): an exact search reads every vector and the terms of a
        # scope, and fetching each from TOAST cost more than the cosine itself (2 us a row, 5x the scan). Stored
        # rows are rewritten once, in place.
        (
            f"ALTER TABLE {SCHEMA}.memories SET (toast_tuple_target = 8160)",
            f"ALTER TABLE {SCHEMA}.memories ALTER COLUMN embedding SET STORAGE MAIN",
            # The rows stored before are written anew (a change of type to the same type, through a value), which
            # also rebuilds the indexes: faster than changing every row in place under an HNSW index.
            f"""
            DO $$
            DECLARE kind text;
            BEGIN
                SELECT format_type(atttypid, atttypmod) INTO kind FROM pg_attribute
                WHERE attrelid = '{SCHEMA}.memories'::regclass AND attname = 'embedding';
                EXECUTE format('ALTER TABLE {SCHEMA}.memories ALTER COLUMN embedding TYPE %s'
                               ' USING embedding::real[]::%s', kind, kind);
            END $$
            """,
        ),
        # 8: sign-in attempts counted in the database, shared by every server (an attempt is reserved before its
        # password check), and when a registered client last got a token, so that unused registrations are purged.
        (
            f"CREATE TABLE {SCHEMA}.signin_attempts (attempt text NOT NULL, key text NOT NULL, at double precision"
            " NOT NULL)",
            f"CREATE INDEX signin_attempts_key ON {SCHEMA}.signin_attempts (key, at)",
            f"CREATE INDEX signin_attempts_attempt ON {SCHEMA}.signin_attempts (attempt)",
            f"ALTER TABLE {SCHEMA}.oauth_clients ADD COLUMN used_at double precision",
        ),
        # 9: each scope's vectors added up, kept by the same trigger as its counts, so that search reads the scope's
        # mean meaning without a scan (`meaning`). NULL for a scope left empty before this (the next insert sets it)
        # and while unknown: during a re-embedding, which adds them up again at its end.
        (
            f"ALTER TABLE {SCHEMA}.scope_stats ADD COLUMN embedding_sum vector",
            f"""
            UPDATE {SCHEMA}.scope_stats AS s SET embedding_sum = m.total
            FROM (SELECT user_id, agent_id, run_id, project, sum(embedding) AS total FROM {SCHEMA}.memories
                  GROUP BY user_id, agent_id, run_id, project) AS m
            WHERE s.user_id = m.user_id AND s.agent_id = m.agent_id AND s.run_id = m.run_id AND s.project = m.project
            """,
            f"""
            CREATE OR REPLACE FUNCTION {SCHEMA}.scope_stats_change() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                IF TG_OP = 'INSERT' THEN
                    INSERT INTO {SCHEMA}.scope_stats AS s
                        (user_id, agent_id, run_id, project, memories, terms, embedding_sum)
                    VALUES (NEW.user_id, NEW.agent_id, NEW.run_id, NEW.project, 1, cardinality(NEW.terms),
                            NEW.embedding)
                    ON CONFLICT (user_id, agent_id, run_id, project)
                    DO UPDATE SET memories = s.memories + 1, terms = s.terms + excluded.terms,
                                  embedding_sum = CASE WHEN s.memories = 0 THEN excluded.embedding_sum
                                                       ELSE s.embedding_sum + excluded.embedding_sum END;
                ELSIF TG_OP = 'UPDATE' THEN
                    IF OLD.terms IS DISTINCT FROM NEW.terms OR OLD.embedding IS DISTINCT FROM NEW.embedding THEN
                        UPDATE {SCHEMA}.scope_stats
                        SET terms = terms + cardinality(NEW.terms) - cardinality(OLD.terms),
                            embedding_sum = CASE WHEN OLD.embedding IS NOT DISTINCT FROM NEW.embedding
                                                 THEN embedding_sum
                                                 ELSE embedding_sum - OLD.embedding + NEW.embedding END
                        WHERE user_id = OLD.user_id AND agent_id = OLD.agent_id AND run_id = OLD.run_id
                          AND project = OLD.project;
                    END IF;
                ELSE
                    UPDATE {SCHEMA}.scope_stats SET memories = memories - 1, terms = terms - cardinality(OLD.terms),
                        embedding_sum = embedding_sum - OLD.embedding
                    WHERE user_id = OLD.user_id AND agent_id = OLD.agent_id AND run_id = OLD.run_id
                      AND project = OLD.project;
                END IF;
                RETURN NULL;
            END $$
            """,
            # Every update: naming the vector column (UPDATE OF) would forbid changing its type on a re-embedding.
            f"DROP TRIGGER memories_scope_stats ON {SCHEMA}.memories",
            f"""
            CREATE TRIGGER memories_scope_stats AFTER INSERT OR DELETE OR UPDATE
            ON {SCHEMA}.memories FOR EACH ROW EXECUTE FUNCTION {SCHEMA}.scope_stats_change()
            """,
        ),
        # 10: postings in impact order and per-term document counts (`postings`), so that search takes the best
        # memories of each query term through an index instead of scoring every memory that shares a word.
        POSTINGS,
    )


SCHEMA_VERSION: Final = len(migrations(1))


async def migrate(connections: Connections, dim: int) -> None:
    """Bring the schema up to date in one transaction under an advisory lock, so concurrent starters migrate once.

    `dim` is the vector length a new database is made with."""
    async with connections.transaction() as db:
        await db.execute(f"SELECT pg_advisory_xact_lock({_LOCK})")
        exists = await db.fetchval("SELECT to_regclass($1)", f"{SCHEMA}.settings")
        version = 0
        if exists is not None:
            found = await db.fetchval(f"SELECT value FROM {SCHEMA}.settings WHERE key = $1", _SCHEMA_KEY)
            version = int(found or 0)
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"The database's memory-mcp schema is version {version}, newer than this memory-mcp understands "
                f"({SCHEMA_VERSION}). Upgrade memory-mcp."
            )
        for number, steps in enumerate(migrations(dim)[version:], start=version + 1):
            for statement in steps:
                await db.execute(statement)
            logger.info("PostgreSQL schema migrated to version %d", number)
        await set_setting(db, _SCHEMA_KEY, str(SCHEMA_VERSION))


async def set_setting(db: Any, key: str, value: str) -> None:
    """Write one row of the settings table (the schema version, the embedder of the stored vectors)."""
    await db.execute(
        f"INSERT INTO {SCHEMA}.settings (key, value) VALUES ($1, $2)"
        " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        key,
        value,
    )
