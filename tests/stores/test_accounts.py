"""Accounts and hashed OAuth secrets on both backends: the same answers, single-use takes, and clean removal."""

from __future__ import annotations

import time

from memory_mcp.engine import MemoryEngine
from memory_mcp.models import Grant
from memory_mcp.passwords import hash_password, verify_password
from memory_mcp.server.oauth import digest


async def test_accounts_are_added_once_changed_and_removed_with_their_secrets(engine: MemoryEngine) -> None:
    store = engine.store
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
    store = engine.store
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
