"""Accounts, OAuth clients and hashed OAuth secrets in PostgreSQL, shared by every server (`protocols.AccountStore`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from ...models import Grant, iso_time, now
from .connection import Connections
from .migrations import SCHEMA

_GRANT_COLUMNS = "grant_id, user_id, client_id, data, expires_at"


def _grant(row: Any) -> Grant:
    return Grant(str(row[0]), str(row[1]), str(row[2]), str(row[3]), float(row[4]))


class _Connected(Protocol):
    db: Connections


class PostgresAccounts:
    """The `AccountStore` half of `PostgresStore` (mixed in; it brings the pool)."""

    async def account_password(self: _Connected, name: str) -> str | None:
        found = await self.db.read(
            lambda db: db.fetchval(f"SELECT password FROM {SCHEMA}.accounts WHERE name = $1", name)
        )
        return None if found is None else str(found)

    async def account_names(self: _Connected) -> list[str]:
        rows = await self.db.read(lambda db: db.fetch(f"SELECT name FROM {SCHEMA}.accounts ORDER BY name"))
        return [str(row[0]) for row in rows]

    async def add_account(self: _Connected, name: str, password_hash: str) -> bool:
        status = await self.db.write(
            lambda db: db.execute(
                f"INSERT INTO {SCHEMA}.accounts (name, password, created_at) VALUES ($1, $2, $3)"
                " ON CONFLICT (name) DO NOTHING",
                name,
                password_hash,
                now(),
            )
        )
        return str(status).endswith(" 1")

    async def set_account_password(self: _Connected, name: str, password_hash: str) -> bool:
        async def work(db: Any) -> str:
            status = await db.execute(
                f"UPDATE {SCHEMA}.accounts SET password = $1 WHERE name = $2", password_hash, name
            )
            await db.execute(f"DELETE FROM {SCHEMA}.oauth_grants WHERE user_id = $1", name)
            return str(status)

        return (await self.db.write(work)).endswith(" 1")

    async def remove_account(self: _Connected, name: str) -> bool:
        async def work(db: Any) -> str:
            status = await db.execute(f"DELETE FROM {SCHEMA}.accounts WHERE name = $1", name)
            await db.execute(f"DELETE FROM {SCHEMA}.oauth_grants WHERE user_id = $1", name)
            return str(status)

        return (await self.db.write(work)).endswith(" 1")

    async def oauth_client(self: _Connected, client_id: str) -> str | None:
        found = await self.db.read(
            lambda db: db.fetchval(f"SELECT metadata FROM {SCHEMA}.oauth_clients WHERE client_id = $1", client_id)
        )
        return None if found is None else str(found)

    async def save_oauth_client(self: _Connected, client_id: str, metadata: str) -> None:
        await self.db.write(
            lambda db: db.execute(
                f"INSERT INTO {SCHEMA}.oauth_clients (client_id, metadata, created_at) VALUES ($1, $2, $3)"
                " ON CONFLICT (client_id) DO UPDATE SET metadata = excluded.metadata",
                client_id,
                metadata,
                now(),
            )
        )

    async def save_grant(self: _Connected, token_hash: str, kind: str, grant: Grant) -> None:
        await self.db.write(
            lambda db: db.execute(
                f"INSERT INTO {SCHEMA}.oauth_grants (token_hash, kind, {_GRANT_COLUMNS})"
                " VALUES ($1, $2, $3, $4, $5, $6, $7)",
                token_hash,
                kind,
                grant.grant_id,
                grant.user_id,
                grant.client_id,
                grant.data,
                grant.expires_at,
            )
        )

    async def grant(self: _Connected, token_hash: str, kind: str, now: float) -> Grant | None:
        row = await self.db.read(
            lambda db: db.fetchrow(
                f"SELECT {_GRANT_COLUMNS} FROM {SCHEMA}.oauth_grants"
                " WHERE token_hash = $1 AND kind = $2 AND expires_at > $3",
                token_hash,
                kind,
                now,
            )
        )
        return None if row is None else _grant(row)

    async def take_grant(self: _Connected, token_hash: str, kind: str, now: float) -> Grant | None:
        row = await self.db.write(
            lambda db: db.fetchrow(
                f"DELETE FROM {SCHEMA}.oauth_grants WHERE token_hash = $1 AND kind = $2 RETURNING {_GRANT_COLUMNS}",
                token_hash,
                kind,
            )
        )
        return None if row is None or float(row[4]) <= now else _grant(row)

    async def revoke_grant(self: _Connected, grant_id: str) -> None:
        await self.db.write(lambda db: db.execute(f"DELETE FROM {SCHEMA}.oauth_grants WHERE grant_id = $1", grant_id))

    async def purge_grants(self: _Connected, now: float) -> int:
        status = await self.db.write(
            lambda db: db.execute(f"DELETE FROM {SCHEMA}.oauth_grants WHERE expires_at <= $1", now)
        )
        return int(str(status).rsplit(" ", 1)[-1])

    async def count_grants(self: _Connected, kind: str, now: float) -> int:
        found = await self.db.read(
            lambda db: db.fetchval(
                f"SELECT count(*) FROM {SCHEMA}.oauth_grants WHERE kind = $1 AND expires_at > $2", kind, now
            )
        )
        return int(found)

    async def count_unused_clients(self: _Connected) -> int:
        found = await self.db.read(
            lambda db: db.fetchval(f"SELECT count(*) FROM {SCHEMA}.oauth_clients WHERE used_at IS NULL")
        )
        return int(found)

    async def client_used(self: _Connected, client_id: str, when: float) -> None:
        await self.db.write(
            lambda db: db.execute(
                f"UPDATE {SCHEMA}.oauth_clients SET used_at = $1 WHERE client_id = $2", when, client_id
            )
        )

    async def purge_clients(self: _Connected, now: float, unclaimed_before: float, unused_before: float) -> int:
        status = await self.db.write(
            lambda db: db.execute(
                f"DELETE FROM {SCHEMA}.oauth_clients c WHERE"
                " ((c.used_at IS NULL AND c.created_at < $1) OR c.used_at < $2)"
                f" AND NOT EXISTS (SELECT 1 FROM {SCHEMA}.oauth_grants g"
                " WHERE g.client_id = c.client_id AND g.expires_at > $3)",
                iso_time(unclaimed_before),
                unused_before,
                now,
            )
        )
        return int(str(status).rsplit(" ", 1)[-1])

    async def reserve_signin(
        self: _Connected, attempt: str, keys: Sequence[tuple[str, int]], now: float, window: float
    ) -> float:
        async def work(db: Any) -> float:
            # One lock for all sign-in counting: of two servers checking one account at once, one waits.
            await db.execute("SELECT pg_advisory_xact_lock(hashtext('memory_mcp.signin_attempts'))")
            wait = 0.0
            for key, limit in keys:
                row = await db.fetchrow(
                    f"SELECT count(*), min(at) FROM {SCHEMA}.signin_attempts WHERE key = $1 AND at > $2",
                    key,
                    now - window,
                )
                if int(row[0]) >= limit:
                    wait = max(wait, float(row[1]) + window - now)
            if wait > 0:
                return wait
            await db.executemany(
                f"INSERT INTO {SCHEMA}.signin_attempts (attempt, key, at) VALUES ($1, $2, $3)",
                [(attempt, key, now) for key, _ in keys],
            )
            return 0.0

        return await self.db.write(work)

    async def clear_signin(self: _Connected, attempt: str, keys: Sequence[str] = ()) -> None:
        async def work(db: Any) -> None:
            await db.execute(f"DELETE FROM {SCHEMA}.signin_attempts WHERE attempt = $1", attempt)
            if keys:
                await db.execute(f"DELETE FROM {SCHEMA}.signin_attempts WHERE key = ANY($1::text[])", list(keys))

        await self.db.write(work)

    async def purge_signin(self: _Connected, before: float) -> int:
        status = await self.db.write(
            lambda db: db.execute(f"DELETE FROM {SCHEMA}.signin_attempts WHERE at <= $1", before)
        )
        return int(str(status).rsplit(" ", 1)[-1])
