"""A pool of asyncpg connections with pgvector: retried reads and writes, failures that say what to do; vectors."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, Final, TypeVar

import numpy as np

from ...errors import ConfigError, DuplicateError, StoreError
from ...locations import redact
from ...models import Vector

try:  # an optional backend: `pip install 'memory-mcp-engine[postgres]'`
    import asyncpg
    from pgvector.asyncpg import register_vector
except ImportError:  # pragma: no cover - exercised only without the extra
    asyncpg = None

logger = logging.getLogger(__name__)

T = TypeVar("T")

SCHEMA: Final = "memory_mcp"
"""The PostgreSQL schema that holds every table of memory-mcp."""
_RETRIES: Final = (0.1, 0.5, 2.0)  # seconds before each retry of a transient failure
_UNREACHABLE: Final = (
    "PostgreSQL cannot be reached ({exc}), after 4 tries over 2.6 s: is the database server running?{done} "
    "Try again in a moment."
)


def _transient(exc: BaseException) -> bool:
    """A failure worth retrying: the connection dropped, the server is starting or busy, or a deadlock."""
    if isinstance(exc, OSError | TimeoutError):
        return True
    if asyncpg is None:
        return False
    return isinstance(
        exc,
        asyncpg.exceptions.ConnectionDoesNotExistError
        | asyncpg.exceptions.CannotConnectNowError
        | asyncpg.exceptions.TooManyConnectionsError
        | asyncpg.exceptions.SerializationError
        | asyncpg.exceptions.DeadlockDetectedError
        | asyncpg.exceptions.InterfaceError,
    )


async def _retrying(attempt: Callable[[], Awaitable[T]]) -> T:
    """Run `attempt`, retrying transient failures after 0.1, 0.5 and 2 s; the last failure propagates."""
    for pause in _RETRIES:
        try:
            return await attempt()
        except Exception as exc:
            if not _transient(exc):
                raise
            logger.warning("PostgreSQL: %s; retrying in %.1f s", exc, pause)
            await asyncio.sleep(pause)
    return await attempt()


def is_unique_violation(exc: BaseException) -> bool:
    """True when a write failed on a unique key (the caller turns it into a DuplicateError)."""
    return asyncpg is not None and isinstance(exc, asyncpg.UniqueViolationError)


class Connections:
    """The pool a PostgreSQL store works through. Reads and whole transactions are retried on transient
    failures (a dropped connection, a deadlock); other failures become a StoreError that says what to do."""

    def __init__(self, pool: Any) -> None:
        self.pool = pool

    @classmethod
    async def open(cls, url: str, *, min_size: int, max_size: int) -> Connections:
        """Connect (retrying transient failures) and create the `vector` extension."""
        if asyncpg is None:
            raise ConfigError(
                "A postgresql:// database needs the PostgreSQL extra: pip install 'memory-mcp-engine[postgres]' "
                "(in a clone: pip install '.[postgres]')."
            )

        async def setup(connection: Any) -> None:
            await register_vector(connection)

        async def connect() -> Any:
            bootstrap = await asyncpg.connect(url)
            try:
                await bootstrap.execute("CREATE EXTENSION IF NOT EXISTS vector")
            finally:
                await bootstrap.close()
            return await asyncpg.create_pool(url, min_size=min_size, max_size=max_size, init=setup, reset=_kept)

        try:
            return cls(await _retrying(connect))
        except (OSError, TimeoutError) as exc:
            raise StoreError(f"Cannot reach PostgreSQL at {redact(url)}: {exc}. Is the server running?") from exc
        except asyncpg.PostgresError as exc:
            raise StoreError(f"PostgreSQL at {redact(url)} refused the connection: {exc}.") from exc

    async def close(self) -> None:
        """Close the pool."""
        await self.pool.close()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Any]:
        """One transaction on a pooled connection, not retried (for migrations)."""
        try:
            async with self.pool.acquire() as connection, connection.transaction():
                yield connection
        except (DuplicateError, StoreError):
            raise
        except asyncpg.UniqueViolationError:
            raise
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError) as exc:
            raise StoreError(
                f"PostgreSQL could not complete the operation ({exc}); nothing was changed. Try again in a moment; "
                "if it keeps failing, check the database server."
            ) from exc

    async def read(self, work: Callable[[Any], Awaitable[T]], *, failure: str = "could not answer") -> T:
        """Run a read on a pooled connection, retrying transient failures."""

        async def attempt() -> T:
            async with self.pool.acquire() as connection:
                return await work(connection)

        try:
            return await _retrying(attempt)
        except (OSError, TimeoutError) as exc:
            raise StoreError(_UNREACHABLE.format(exc=exc, done="")) from exc
        except (asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            raise StoreError(f"PostgreSQL {failure} ({exc}). Try again in a moment.") from exc

    async def write(self, work: Callable[[Any], Awaitable[T]], *, failure: str = "could not save the change") -> T:
        """Run `work` in one transaction, retrying it whole on transient failures; a unique-key violation
        propagates for the caller to explain."""

        async def attempt() -> T:
            async with self.pool.acquire() as connection, connection.transaction():
                return await work(connection)

        try:
            return await _retrying(attempt)
        except asyncpg.UniqueViolationError:
            raise
        except (OSError, TimeoutError) as exc:
            raise StoreError(_UNREACHABLE.format(exc=exc, done=" Nothing was changed.")) from exc
        except (asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            raise StoreError(f"PostgreSQL {failure} ({exc}); nothing was changed. Try again in a moment.") from exc


async def _kept(connection: Any) -> None:
    """What a pooled connection undoes when it is given back, beyond rolling back an open transaction (the pool
    does that): nothing, since no session state is ever set here (settings are SET LOCAL, locks are taken for a
    transaction), which saves the reset query's round trip on every use."""


def vector_of(value: Any) -> Vector:
    """A pgvector value (a numpy array, or pgvector's Vector) as float32."""
    converted = value.to_numpy() if hasattr(value, "to_numpy") else value
    return np.asarray(converted, dtype=np.float32)


def vector_text(vector: Vector) -> str:
    """A vector in pgvector's text form; each float32 prints as the shortest text that reads back the same."""
    return "[" + ",".join(map(str, vector.tolist())) + "]"
