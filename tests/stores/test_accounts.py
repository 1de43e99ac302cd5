"""Accounts and hashed OAuth secrets on both backends: the same answers, single-use takes, and clean removal."""

from __future__ import annotations

import asyncio
import time

from memory_mcp.app import accounts_of
from memory_mcp.engine import MemoryEngine
from memory_mcp.models import Grant
from memory_mcp.passwords import hash_password, verify_password
from memory_mcp.server.oauth import digest, tidy


async def test_accounts_are_added_once_changed_and_removed_with_their_secrets(engine: MemoryEngine) -> None:
    store = accounts_of(engine)
    hashed = hash_password("correct horse battery")
    assert await store.add_account("alice", hashed)
    assert not await store.add_account("alice", hash_password("another one!"))  # the first stays
    stored = await store.account_password("alice")
    assert stored is not None
    assert verify_password("correct horse battery", stored)
    assert not verify_password("wrong password", stored)
    assert await store.account_password("bob") is None
    assert await store.add_account("bob", hash_password("bob's password"))
    assert await store.account_names() == ["alice", "bob"]

    later = time.time() + 600
    await store.save_grant(digest("a-token"), "access", Grant("g1", "alice", "c1", '{"scopes": []}', later))
    await store.save_grant(digest("b-token"), "access", Grant("g2", "bob", "c1", "{}", later))
    assert await store.set_account_password("alice", hash_password("a new password"))  # ends alice's sign-ins
    assert await store.grant(digest("a-token"), "access", time.time()) is None
    assert await store.grant(digest("b-token"), "access", time.time()) is not None
    assert not await store.set_account_password("carol", hashed)
    assert await store.remove_account("bob")
    assert await store.grant(digest("b-token"), "access", time.time()) is None
    assert not await store.remove_account("bob")
    assert await store.account_names() == ["alice"]


async def test_secrets_are_kept_by_hash_taken_once_and_expire(engine: MemoryEngine) -> None:
    store = accounts_of(engine)
    moment = time.time()
    code = Grant("g1", "alice", "client", '{"x": 1}', moment + 300)
    await store.save_grant(digest("the-code"), "code", code)
    assert await store.grant("the-code", "code", moment) is None  # only the hash is a key
    assert await store.grant(digest("the-code"), "access", moment) is None  # kinds are apart
    assert await store.grant(digest("the-code"), "code", moment) == code
    assert await store.take_grant(digest("the-code"), "code", moment) == code
    assert await store.take_grant(digest("the-code"), "code", moment) is None  # single use

    await store.save_grant(digest("old"), "refresh", Grant("g2", "alice", "client", "{}", moment - 1))
    assert await store.grant(digest("old"), "refresh", moment) is None
    assert await store.take_grant(digest("old"), "refresh", moment) is None
    await store.save_grant(digest("stale"), "access", Grant("g3", "alice", "client", "{}", moment - 1))
    await store.save_grant(digest("live"), "access", Grant("g3", "alice", "client", "{}", moment + 60))
    await store.save_grant(digest("other"), "access", Grant("g4", "alice", "client", "{}", moment + 60))
    assert await store.purge_grants(moment) == 1
    await store.revoke_grant("g3")
    assert await store.grant(digest("live"), "access", moment) is None
    assert await store.grant(digest("other"), "access", moment) is not None

    await store.save_oauth_client("client", '{"client_id": "client"}')
    await store.save_oauth_client("client", '{"client_id": "client", "client_name": "App"}')
    assert await store.oauth_client("client") == '{"client_id": "client", "client_name": "App"}'
    assert await store.oauth_client("nobody") is None


async def test_sign_in_attempts_are_reserved_atomically_and_a_success_is_no_failure(engine: MemoryEngine) -> None:
    """Of 20 attempts reserved at once against a limit of 5, exactly 5 get through; a success clears its key."""
    store = accounts_of(engine)
    moment = time.time()
    keys = [("alice@127.0.0.1", 5), ("127.0.0.1", 20)]
    waits = await asyncio.gather(*(store.reserve_signin(f"a{n}", keys, moment, 300.0) for n in range(20)))
    assert sum(1 for wait in waits if wait == 0) == 5
    assert all(0 < wait <= 300 for wait in waits if wait)
    assert await store.reserve_signin("other", [("bob@127.0.0.1", 5), ("127.0.0.1", 20)], moment, 300.0) == 0
    assert await store.reserve_signin("later", keys, moment + 301, 300.0) == 0  # the window moved on
    await store.clear_signin("later", ["alice@127.0.0.1"])
    assert await store.reserve_signin("again", keys, moment + 302, 300.0) == 0
    # Left from the first moment: alice's five under the address (the success cleared her account key), bob's two.
    assert await store.purge_signin(moment + 1) == 5 + 2


async def test_unused_registrations_and_waiting_sign_ins_are_counted_and_purged(engine: MemoryEngine) -> None:
    """A registration that never got a token is purged after a day, one that did after a month unused, none while a
    secret of it lives; pending sign-ins are counted until they expire."""
    store = accounts_of(engine)
    moment = time.time()
    for client in ("fresh", "never-used", "used-long-ago", "used-lately", "holding-a-token"):
        await store.save_oauth_client(client, "{}")
    assert await store.count_unused_clients() == 5
    await store.client_used("used-long-ago", moment - 40 * 86400)
    await store.client_used("used-lately", moment - 86400)
    await store.client_used("holding-a-token", moment - 40 * 86400)
    assert await store.count_unused_clients() == 2
    await store.save_grant(digest("r"), "refresh", Grant("g", "alice", "holding-a-token", "{}", moment + 600))
    await store.save_grant(digest("q1"), "request", Grant("q1", "", "fresh", "{}", moment + 600))
    await store.save_grant(digest("q2"), "request", Grant("q2", "", "fresh", "{}", moment - 1))
    assert await store.count_grants("request", moment) == 1
    # Registered "just now" counts as long ago when the day is `moment + 1`; "fresh" holds a live sign-in request.
    assert await store.purge_clients(moment, moment + 1, moment - 30 * 86400) == 2  # never-used, used-long-ago
    for kept in ("fresh", "used-lately", "holding-a-token"):
        assert await store.oauth_client(kept) == "{}"
    assert await store.oauth_client("never-used") is None
    # Two days on every secret has expired: "fresh" never got a token, "holding-a-token" was last used 42 days ago.
    purged = await tidy(store, 300.0, moment + 2 * 86400)
    assert purged == {"grants": 3, "attempts": 0, "clients": 2}
    assert await store.oauth_client("used-lately") == "{}"
