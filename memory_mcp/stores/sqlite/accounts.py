"""Accounts, OAuth clients and hashed OAuth secrets in the SQLite file (see `protocols.AccountStore`)."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol

import aiosqlite

from ...models import Grant, iso_time, now
from .connection import fetch_all

_GRANT_COLUMNS = "grant_id, user_id, client_id, data, expires_at"


def _grant(row: Any) -> Grant:
    return Grant(str(row[0]), str(row[1]), str(row[2]), str(row[3]), float(row[4]))


class _Connected(Protocol):
    _reader: aiosqlite.Connection

    def _transaction(self, *, single_statement: bool = False) -> AbstractAsyncContextManager[aiosqlite.Connection]: ...


class SqliteAccounts:
    """The `AccountStore` half of `SqliteStore` (mixed in; it brings the connections)."""

    async def account_password(self: _Connected, name: str) -> str | None:
        rows = await fetch_all(self._reader, "SELECT password FROM accounts WHERE name = ?", (name,))
        return str(rows[0][0]) if rows else None

    async def account_names(self: _Connected) -> list[str]:
        return [str(row[0]) for row in await fetch_all(self._reader, "SELECT name FROM accounts ORDER BY name")]

    async def add_account(self: _Connected, name: str, password_hash: str) -> bool:
        async with self._transaction(single_statement=True) as db:
            cursor = await db.execute(
                "INSERT INTO accounts (name, password, created_at) VALUES (?, ?, ?) ON CONFLICT (name) DO NOTHING",
                (name, password_hash, now()),
            )
            return cursor.rowcount == 1

    async def set_account_password(self: _Connected, name: str, password_hash: str) -> bool:
        async with self._transaction() as db:
            cursor = await db.execute("UPDATE accounts SET password = ? WHERE name = ?", (password_hash, name))
            await db.execute("DELETE FROM oauth_grants WHERE user_id = ?", (name,))
            return cursor.rowcount == 1

    async def remove_account(self: _Connected, name: str) -> bool:
        async with self._transaction() as db:
            cursor = await db.execute("DELETE FROM accounts WHERE name = ?", (name,))
            await db.execute("DELETE FROM oauth_grants WHERE user_id = ?", (name,))
            return cursor.rowcount == 1

    async def oauth_client(self: _Connected, client_id: str) -> str | None:
        rows = await fetch_all(self._reader, "SELECT metadata FROM oauth_clients WHERE client_id = ?", (client_id,))
        return str(rows[0][0]) if rows else None

    async def save_oauth_client(self: _Connected, client_id: str, metadata: str) -> None:
        async with self._transaction(single_statement=True) as db:
            await db.execute(
                "INSERT INTO oauth_clients (client_id, metadata, created_at) VALUES (?, ?, ?)"
                " ON CONFLICT (client_id) DO UPDATE SET metadata = excluded.metadata",
                (client_id, metadata, now()),
            )

    async def save_grant(self: _Connected, token_hash: str, kind: str, grant: Grant) -> None:
        async with self._transaction(single_statement=True) as db:
            await db.execute(
                f"INSERT INTO oauth_grants (token_hash, kind, {_GRANT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (token_hash, kind, grant.grant_id, grant.user_id, grant.client_id, grant.data, grant.expires_at),
            )

    async def grant(self: _Connected, token_hash: str, kind: str, now: float) -> Grant | None:
        rows = await fetch_all(
            self._reader,
            f"SELECT {_GRANT_COLUMNS} FROM oauth_grants WHERE token_hash = ? AND kind = ? AND expires_at > ?",
            (token_hash, kind, now),
        )
        return _grant(rows[0]) if rows else None

    async def take_grant(self: _Connected, token_hash: str, kind: str, now: float) -> Grant | None:
        async with self._transaction() as db:
            rows = list(
                await db.execute_fetchall(
                    f"DELETE FROM oauth_grants WHERE token_hash = ? AND kind = ? RETURNING {_GRANT_COLUMNS}",
                    (token_hash, kind),
                )
            )
        return _grant(rows[0]) if rows and float(rows[0][4]) > now else None

    async def revoke_grant(self: _Connected, grant_id: str) -> None:
        async with self._transaction(single_statement=True) as db:
            await db.execute("DELETE FROM oauth_grants WHERE grant_id = ?", (grant_id,))

    async def purge_grants(self: _Connected, now: float) -> int:
        async with self._transaction(single_statement=True) as db:
            cursor = await db.execute("DELETE FROM oauth_grants WHERE expires_at <= ?", (now,))
            return cursor.rowcount

    async def count_grants(self: _Connected, kind: str, now: float) -> int:
        rows = await fetch_all(
            self._reader, "SELECT count(*) FROM oauth_grants WHERE kind = ? AND expires_at > ?", (kind, now)
        )
        return int(rows[0][0])

    async def count_unused_clients(self: _Connected) -> int:
        rows = await fetch_all(self._reader, "SELECT count(*) FROM oauth_clients WHERE used_at IS NULL")
        return int(rows[0][0])

    async def client_used(self: _Connected, client_id: str, when: float) -> None:
        async with self._transaction(single_statement=True) as db:
            await db.execute("UPDATE oauth_clients SET used_at = ? WHERE client_id = ?", (when, client_id))

    async def purge_clients(self: _Connected, now: float, unclaimed_before: float, unused_before: float) -> int:
        async with self._transaction(single_statement=True) as db:
            cursor = await db.execute(
                "DELETE FROM oauth_clients WHERE"
                " ((used_at IS NULL AND created_at < ?) OR used_at < ?)"
                " AND NOT EXISTS (SELECT 1 FROM oauth_grants g"
                " WHERE g.client_id = oauth_clients.client_id AND g.expires_at > ?)",
                (iso_time(unclaimed_before), unused_before, now),
            )
            return cursor.rowcount

    async def reserve_signin(
        self: _Connected, attempt: str, keys: Sequence[tuple[str, int]], now: float, window: float
    ) -> float:
        async with self._transaction() as db:
            wait = 0.0
            for key, limit in keys:
                rows = list(
                    await db.execute_fetchall(
                        "SELECT count(*), min(at) FROM signin_attempts WHERE key = ? AND at > ?", (key, now - window)
                    )
                )
                count, oldest = int(rows[0][0]), rows[0][1]
                if count >= limit:
                    wait = max(wait, float(oldest) + window - now)
            if wait > 0:
                return wait
            await db.executemany(
                "INSERT INTO signin_attempts (attempt, key, at) VALUES (?, ?, ?)",
                [(attempt, key, now) for key, _ in keys],
            )
            return 0.0

    async def clear_signin(self: _Connected, attempt: str, keys: Sequence[str] = ()) -> None:
        async with self._transaction() as db:
            await db.execute("DELETE FROM signin_attempts WHERE attempt = ?", (attempt,))
            for key in keys:
                await db.execute("DELETE FROM signin_attempts WHERE key = ?", (key,))

    async def purge_signin(self: _Connected, before: float) -> int:
        async with self._transaction(single_statement=True) as db:
            cursor = await db.execute("DELETE FROM signin_attempts WHERE at <= ?", (before,))
            return cursor.rowcount
