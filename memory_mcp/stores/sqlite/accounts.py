"""Accounts, OAuth clients and hashed OAuth secrets in the SQLite file (see `protocols.AccountStore`)."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol

import aiosqlite

from ...models import Grant, now
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
