"""Connections to a SQLite file: WAL, a busy timeout, durable commits; and the BLOB form of vectors."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

import aiosqlite
import numpy as np

from ...errors import StoreError
from ...models import Vector
from ...private import private_file, private_folder
from .._rows import placeholders

BUSY_TIMEOUT_MS: Final = 10_000
MMAP_BYTES: Final = 256 * 1024 * 1024
"""How much of the file a one-shot process (a command, a hook) reads through a memory map rather than a read() per
page: loading the search index at 10,000 memories 100 -> 70 ms, `memory-mcp check` 0.33 -> 0.24 s. A server does
not map the file: its mapped pages would count as its resident memory (1.9x as much at 100,000 memories)."""
_IN_CHUNK: Final = 500  # ids per `IN (...)`, well under SQLite's bound-parameter limit


def mark(_: int) -> str:
    """SQLite's placeholder, whatever the parameter's position."""
    return "?"


def encode_vector(vector: Vector) -> bytes:
    """A vector as a little-endian float32 BLOB."""
    return np.asarray(vector, dtype="<f4").tobytes()


def decode_vector(blob: bytes) -> Vector:
    """The inverse of `encode_vector`."""
    return np.frombuffer(blob, dtype="<f4").astype(np.float32)


async def fetch_all(connection: aiosqlite.Connection, sql: str, parameters: Sequence[Any] = ()) -> list[sqlite3.Row]:
    """Every row of a query, in one trip to the connection's thread (a cursor would take three)."""
    return list(await connection.execute_fetchall(sql, parameters))


async def connect(path: str, *, mapped: bool = False) -> aiosqlite.Connection:
    """A connection to `path` (see the module's docstring); `mapped`: reads go through a memory map of the file."""
    # isolation_level=None: we open every write transaction ourselves with BEGIN IMMEDIATE, which takes
    # the write lock up front instead of failing half-way when another process writes too.
    connection = await aiosqlite.connect(path, isolation_level=None)
    try:
        await connection.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        await connection.execute("PRAGMA journal_mode = WAL")
        await connection.execute("PRAGMA synchronous = FULL")
        await connection.execute("PRAGMA foreign_keys = ON")
        if mapped:
            await connection.execute(f"PRAGMA mmap_size = {MMAP_BYTES}")
    except BaseException:
        await connection.close()
        raise
    return connection


class QuickReads:
    """A read connection used on the event loop's own thread for reads of a few rows by key: microseconds, where a
    trip to an aiosqlite connection's thread costs ~60. It never waits: when the file is busy at that instant (a
    WAL recovery), or on any other error, a read answers None and the caller reads through its thread instead
    (which waits, or reports the error)."""

    def __init__(self, path: str) -> None:
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA busy_timeout = 0")
        self._db.execute("PRAGMA query_only = 1")

    @classmethod
    def open(cls, path: str) -> QuickReads | None:
        """A connection to `path`, or None when it cannot be made (every read then goes through the thread)."""
        try:
            return cls(path)
        except sqlite3.Error:
            return None

    def fetch_all(self, sql: str, parameters: Sequence[Any] = ()) -> list[Any] | None:
        """Every row of a query, or None when it cannot be read at once."""
        try:
            return self._db.execute(sql, parameters).fetchall()
        except sqlite3.Error:
            return None

    def close(self) -> None:
        """Close the connection."""
        self._db.close()


def chunks(values: Sequence[Any]) -> list[tuple[list[Any], str]]:
    """`values` in chunks small enough for one `IN (...)`, each with its placeholders."""
    return [
        (list(values[start : start + _IN_CHUNK]), placeholders(mark, len(values[start : start + _IN_CHUNK])))
        for start in range(0, len(values), _IN_CHUNK)
    ]


def prepare(path: str | Path) -> str:
    """The path SQLite should open, with its folder created (`:memory:` passes as it is)."""
    location = str(path)
    if location == ":memory:":
        return location
    resolved = Path(location).expanduser()
    try:
        private_folder(resolved.parent)
    except OSError as exc:
        raise StoreError(f"Cannot create the folder for the database {str(resolved)!r}: {exc}.") from exc
    # A new database is its owner's only: it holds every memory and the password hashes. SQLite gives its WAL and
    # shared-memory files the mode of the database file.
    with contextlib.suppress(OSError):  # an unwritable place is reported by the open that follows
        private_file(resolved)
    return str(resolved)
