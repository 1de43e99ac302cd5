"""Per-term postings in impact order and per-term document counts, kept by triggers, so search reads few rows.

A posting is (memory, term) with the memory's scope, whether it is current (not superseded) and the term's impact
in it: its BM25 saturation at the scope's average length when written. The index `postings_best` holds a term's
postings in a user's memories best first with everything a search's walk needs, so the walk never reads a memory.
"""

from __future__ import annotations

from typing import Final

from ...scoring import K1, B
from .connection import SCHEMA

_SCOPE: Final = "user_id, term, agent_id, run_id, project"
"""The key of `term_stats`: the user and term first, so that a search reads one index range per query term."""


def _impact(tf: str, length: str, average: str) -> str:
    """A term's BM25 saturation in a memory (what its IDF is multiplied by), at the scope's average length then.

    It only orders a term's postings (best first): search scores its candidates afresh, with today's average."""
    return f"{tf} * {K1 + 1.0!r} / ({tf} + {K1!r} * (1.0 - {B!r} + {B!r} * {length} / greatest({average}, 1.0)))"


def post(rows: str) -> tuple[str, str]:
    """The statements that add the postings and the document counts of the memories `rows` (a relation or a
    subquery with the columns of `memories`): terms counted once per memory, counts added in key order so that
    concurrent writers take their row locks in one order."""
    same = " AND ".join(f"s.{column} = r.{column}" for column in ("user_id", "agent_id", "run_id", "project"))
    average = f"(SELECT s.terms::float8 / greatest(s.memories, 1) FROM {SCHEMA}.scope_stats AS s WHERE {same})"
    postings = f"""
        INSERT INTO {SCHEMA}.postings (memory_id, user_id, agent_id, run_id, project, current, term, impact)
        SELECT r.id, r.user_id, r.agent_id, r.run_id, r.project, r.valid_to IS NULL, t.term,
               {_impact("t.tf", "cardinality(r.terms)", f"coalesce({average}, cardinality(r.terms))")}
        FROM {rows} AS r
        CROSS JOIN LATERAL (SELECT term, count(*)::float8 AS tf FROM unnest(r.terms) AS term GROUP BY term) AS t
    """
    counts = f"""
        INSERT INTO {SCHEMA}.term_stats AS s ({_SCOPE}, memories)
        SELECT r.user_id, t.term, r.agent_id, r.run_id, r.project, count(*)
        FROM {rows} AS r CROSS JOIN LATERAL (SELECT DISTINCT unnest(r.terms) AS term) AS t
        GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2, 3, 4, 5
        ON CONFLICT ({_SCOPE}) DO UPDATE SET memories = s.memories + excluded.memories
    """
    return postings, counts


def unpost(rows: str) -> tuple[str, str, str]:
    """The statements that take back what `post` added for the memories `rows`; counts that reach 0 go."""
    gone = f"""SELECT r.user_id, t.term, r.agent_id, r.run_id, r.project, count(*) AS memories
               FROM {rows} AS r CROSS JOIN LATERAL (SELECT DISTINCT unnest(r.terms) AS term) AS t
               GROUP BY 1, 2, 3, 4, 5"""
    same = " AND ".join(f"s.{column} = g.{column}" for column in _SCOPE.split(", "))
    return (
        f"DELETE FROM {SCHEMA}.postings AS p USING {rows} AS r WHERE p.memory_id = r.id",
        f"UPDATE {SCHEMA}.term_stats AS s SET memories = s.memories - g.memories FROM ({gone}) AS g WHERE {same}",
        f"DELETE FROM {SCHEMA}.term_stats AS s USING ({gone}) AS g WHERE {same} AND s.memories <= 0",
    )


def _body(*statements: str) -> str:
    return "".join(f"{statement};\n" for statement in statements)


_CHANGED: Final = (
    "(SELECT {side}.* FROM removed AS o JOIN added AS n USING (id) WHERE o.terms IS DISTINCT FROM n.terms)"
)
"""The memories of an UPDATE whose terms changed (their text did), before (`o`) or after (`n`)."""
_CURRENT: Final = f"""
    UPDATE {SCHEMA}.postings AS p SET current = n.valid_to IS NULL
    FROM removed AS o JOIN added AS n USING (id)
    WHERE p.memory_id = n.id AND o.terms IS NOT DISTINCT FROM n.terms
      AND (o.valid_to IS NULL) IS DISTINCT FROM (n.valid_to IS NULL)
"""
"""An UPDATE that superseded memories (or made them current again) without changing their text."""

MIGRATION: Final = (
    f"""
    CREATE TABLE {SCHEMA}.postings (
        memory_id text NOT NULL,
        user_id   text NOT NULL,
        agent_id  text NOT NULL,
        run_id    text NOT NULL,
        project   text NOT NULL,
        current   boolean NOT NULL,
        term      text NOT NULL,
        impact    real NOT NULL,
        PRIMARY KEY (memory_id, term)
    )
    """,
    f"""
    CREATE TABLE {SCHEMA}.term_stats (
        user_id  text NOT NULL,
        term     text NOT NULL,
        agent_id text NOT NULL,
        run_id   text NOT NULL,
        project  text NOT NULL,
        memories bigint NOT NULL,
        PRIMARY KEY ({_SCOPE})
    )
    """,
    *post(f"{SCHEMA}.memories"),
    f"""CREATE INDEX postings_best ON {SCHEMA}.postings (user_id, term, impact DESC)
        INCLUDE (memory_id, agent_id, run_id, project, current)""",
    f"""
    CREATE FUNCTION {SCHEMA}.postings_change() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'INSERT' THEN
            {_body(*post("added"))}
        ELSIF TG_OP = 'DELETE' THEN
            {_body(*unpost("removed"))}
        ELSE
            {_body(*unpost(_CHANGED.format(side="o")), *post(_CHANGED.format(side="n")), _CURRENT)}
        END IF;
        RETURN NULL;
    END $$
    """,
    # The terms' GIN index answers the sets of terms read together: without a pending list to scan on every search
    # (fastupdate keeps up to 4 MB of new entries unsorted until a vacuum; measured 3x slower at 10,000).
    f"ALTER INDEX {SCHEMA}.memories_terms SET (fastupdate = off)",
    f"SELECT gin_clean_pending_list('{SCHEMA}.memories_terms'::regclass)",
    f"""CREATE TRIGGER memories_postings_add AFTER INSERT ON {SCHEMA}.memories REFERENCING NEW TABLE AS added
        FOR EACH STATEMENT EXECUTE FUNCTION {SCHEMA}.postings_change()""",
    f"""CREATE TRIGGER memories_postings_delete AFTER DELETE ON {SCHEMA}.memories REFERENCING OLD TABLE AS removed
        FOR EACH STATEMENT EXECUTE FUNCTION {SCHEMA}.postings_change()""",
    f"""CREATE TRIGGER memories_postings_update AFTER UPDATE ON {SCHEMA}.memories
        REFERENCING OLD TABLE AS removed NEW TABLE AS added
        FOR EACH STATEMENT EXECUTE FUNCTION {SCHEMA}.postings_change()""",
)
"""Schema step 10: the tables, filled from the memories stored before, and the triggers that keep them."""
