"""OAuth 2.1 sign-in on a real HTTP server, end to end with the MCP SDK's own client OAuth support: discovery from
the 401, dynamic client registration, PKCE, the sign-in and consent page, tokens bound to one user, refresh
rotation, revocation; and what an attacker would try."""

from __future__ import annotations

import hashlib
import json
import re
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest
import trustme
from hypothesis import given, settings
from hypothesis import strategies as st
from mcp import Client
from mcp.client.auth import OAuthClientProvider
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import AuthorizationCodeResult, OAuthClientInformationFull, OAuthClientMetadata, OAuthToken

from memory_mcp.server.clients import ClientDocumentError, ClientDocuments, is_document_url

from ..helpers import data, error_text
from ..helpers.servers import ALICE, COMMAND, free_port, launch, start
from ..helpers.signin import (
    CALLBACK,
    PASSWORDS,
    Documents,
    add_account,
    authorize_url,
    pkce,
    redirected,
    register,
    sign_in,
)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[str]:
    for name, password in PASSWORDS.items():
        assert add_account(tmp_path / "http.db", name, password).returncode == 0
    tokens = tmp_path / "tokens.json"
    tokens.write_text(f'{{"{ALICE}": "alice"}}')
    process, base = start(tmp_path, env={"MEMORY_MCP_TOKENS_FILE": str(tokens)})
    try:
        yield base
    finally:
        process.terminate()
        process.wait(timeout=10)


class Memory:
    """The SDK client's token storage, in memory."""

    def __init__(self) -> None:
        self.tokens: OAuthToken | None = None
        self.client: OAuthClientInformationFull | None = None

    async def get_tokens(self) -> OAuthToken | None:
        return self.tokens

    async def set_tokens(self, tokens: OAuthToken) -> None:
        self.tokens = tokens

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        return self.client

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        self.client = client_info


def oauth_client(base: str, name: str, storage: Memory) -> OAuthClientProvider:
    answer: dict[str, str] = {}

    async def redirect_handler(url: str) -> None:
        answer.update(redirected(sign_in(url, name, PASSWORDS[name])))

    async def callback_handler() -> AuthorizationCodeResult:
        return AuthorizationCodeResult(code=answer["code"], state=answer.get("state"), iss=answer.get("iss"))

    metadata = OAuthClientMetadata(
        client_name="Test Assistant",
        redirect_uris=[CALLBACK],  # type: ignore[list-item]
        grant_types=["authorization_code", "refresh_token"],
        response_types=["code"],
        token_endpoint_auth_method="none",
    )
    return OAuthClientProvider(f"{base}/mcp", metadata, storage, redirect_handler, callback_handler)


async def test_a_remote_host_signs_in_and_acts_only_as_that_user(served: str) -> None:
    unauthenticated = httpx2.post(f"{served}/mcp", json={}, timeout=10)
    assert unauthenticated.status_code == 401
    assert "resource_metadata=" in unauthenticated.headers["www-authenticate"]
    resource = httpx2.get(f"{served}/.well-known/oauth-protected-resource/mcp", timeout=10).json()
    assert resource["resource"] == f"{served}/mcp"
    assert [server.rstrip("/") for server in resource["authorization_servers"]] == [served]
    metadata = httpx2.get(f"{served}/.well-known/oauth-authorization-server", timeout=10).json()
    assert metadata["code_challenge_methods_supported"] == ["S256"]
    assert {"authorization_code", "refresh_token"} <= set(metadata["grant_types_supported"])
    assert metadata["registration_endpoint"] == f"{served}/register"
    assert "none" in metadata["token_endpoint_auth_methods_supported"]  # public clients: PKCE, no secret

    storage = Memory()
    async with (
        httpx2.AsyncClient(auth=oauth_client(served, "alice", storage)) as http,
        Client(streamable_http_client(f"{served}/mcp", http_client=http)) as alice,
    ):
        added = await alice.call_tool("add_memory", {"text": "Alice signed in with OAuth"})
        assert not added.is_error, added.content
        assert data(added)["user_id"] == "alice"
        as_bob = await alice.call_tool("search_memory", {"user_id": "bob", "query": "OAuth"})
        assert as_bob.is_error
        assert "belongs to user 'alice'" in error_text(as_bob)
    assert storage.tokens is not None
    assert storage.tokens.refresh_token
    assert storage.client is not None
    assert storage.client.client_id

    bob_storage = Memory()
    async with (
        httpx2.AsyncClient(auth=oauth_client(served, "bob", bob_storage)) as http,
        Client(streamable_http_client(f"{served}/mcp", http_client=http)) as bob,
    ):
        found = await bob.call_tool("search_memory", {"query": "Alice signed in with OAuth"})
        assert data(found)["results"] == []  # bob's token reads bob's memories only

    # The same access token works on the REST API, and the static tokens file still works.
    token = storage.tokens.access_token
    listed = httpx2.get(f"{served}/api/v1/memories", headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert [memory["text"] for memory in listed.json()["memories"]] == ["Alice signed in with OAuth"]
    static = httpx2.get(f"{served}/api/v1/memories", headers={"Authorization": f"Bearer {ALICE}"}, timeout=10)
    assert static.json()["total"] == 1

    # Refresh rotates: the new pair works, the old refresh token is refused, and using it again ends the sign-in.
    client_id = storage.client.client_id
    refresh = {"grant_type": "refresh_token", "refresh_token": storage.tokens.refresh_token, "client_id": client_id}
    renewed = httpx2.post(f"{served}/token", data=refresh, timeout=10)
    assert renewed.status_code == 200, renewed.text
    fresh = renewed.json()
    assert fresh["refresh_token"] != storage.tokens.refresh_token
    headers = {"Authorization": f"Bearer {fresh['access_token']}"}
    assert httpx2.get(f"{served}/api/v1/memories", headers=headers, timeout=10).status_code == 200
    replay = httpx2.post(f"{served}/token", data=refresh, timeout=10)
    assert replay.status_code == 400
    assert replay.json()["error"] == "invalid_grant"
    assert httpx2.get(f"{served}/api/v1/memories", headers=headers, timeout=10).status_code == 401

    # Revocation ends a sign-in at once.
    assert bob_storage.tokens is not None
    assert bob_storage.client is not None
    bob_id = bob_storage.client.client_id
    revoked_pair = httpx2.post(
        f"{served}/token",
        data={"grant_type": "refresh_token", "refresh_token": bob_storage.tokens.refresh_token, "client_id": bob_id},
        timeout=10,
    ).json()
    bob_headers = {"Authorization": f"Bearer {revoked_pair['access_token']}"}
    assert httpx2.get(f"{served}/api/v1/memories", headers=bob_headers, timeout=10).status_code == 200
    gone = httpx2.post(
        f"{served}/revoke",
        # The SDK's revocation handler (2.3) requires the client_secret field even of a public client: sent empty.
        data={"token": revoked_pair["access_token"], "client_id": bob_id, "client_secret": ""},
        timeout=10,
    )
    assert gone.status_code == 200, gone.text
    assert httpx2.get(f"{served}/api/v1/memories", headers=bob_headers, timeout=10).status_code == 401


def test_a_stolen_code_without_its_verifier_is_worthless_and_a_code_works_once(served: str) -> None:
    client_id = register(served)
    verifier, challenge = pkce()
    answer = redirected(sign_in(authorize_url(served, client_id, challenge), "alice", PASSWORDS["alice"]))
    assert answer["state"] == "s-123"
    exchange: dict[str, Any] = {
        "grant_type": "authorization_code",
        "code": answer["code"],
        "redirect_uri": CALLBACK,
        "client_id": client_id,
    }
    assert httpx2.post(f"{served}/token", data=exchange, timeout=10).status_code == 400  # no verifier
    wrong = httpx2.post(f"{served}/token", data=exchange | {"code_verifier": pkce()[0]}, timeout=10)
    assert wrong.status_code == 400
    right = httpx2.post(f"{served}/token", data=exchange | {"code_verifier": verifier}, timeout=10)
    assert right.status_code == 200, right.text
    assert right.json()["token_type"].lower() == "bearer"
    again = httpx2.post(f"{served}/token", data=exchange | {"code_verifier": verifier}, timeout=10)
    assert again.status_code == 400


def test_a_redirect_uri_the_client_did_not_register_is_refused(served: str) -> None:
    client_id = register(served)
    _, challenge = pkce()
    answer = httpx2.get(authorize_url(served, client_id, challenge, redirect="https://evil.example/steal"), timeout=10)
    assert answer.status_code == 400
    assert "location" not in answer.headers  # never sent anywhere
    refused = httpx2.post(
        f"{served}/register",
        json={
            "client_name": "Plain",
            "redirect_uris": ["http://attacker.example/cb"],
            "token_endpoint_auth_method": "none",
        },
        timeout=10,
    )
    assert refused.status_code == 400
    assert refused.json()["error"] == "invalid_redirect_uri"


def test_a_wrong_password_is_refused_then_rate_limited_and_deny_sends_access_denied(served: str) -> None:
    client_id = register(served)
    _, challenge = pkce()
    url = authorize_url(served, client_id, challenge)
    wrong = sign_in(url, "alice", "not-the-password")
    assert wrong.status_code == 401
    assert "Wrong account name or password." in wrong.text
    assert sign_in(url, "nobody", "whatever-password").status_code == 401
    for _ in range(4):
        sign_in(url, "alice", "still-not-it")
    limited = sign_in(url, "alice", PASSWORDS["alice"])
    assert limited.status_code == 429
    assert "Too many failed sign-ins" in limited.text
    denied = redirected(sign_in(url, "bob", "", action="deny"))
    assert denied["error"] == "access_denied"
    assert denied["state"] == "s-123"


def test_accounts_from_the_command_line(tmp_path: Path) -> None:
    db = tmp_path / "m.db"
    assert add_account(db, "carol", "long enough password").returncode == 0
    again = add_account(db, "carol", "another password")
    assert again.returncode != 0
    assert "already" in again.stderr
    short = add_account(db, "dave", "short")
    assert short.returncode != 0
    assert "at least 8 characters" in short.stderr
    bad = add_account(db, "not a name", "long enough password")
    assert bad.returncode != 0
    assert "cannot be an account name" in bad.stderr
    listed = subprocess.run(
        [str(COMMAND), "users", "accounts", "--json", "--db", str(db)], capture_output=True, text=True, check=True
    )
    assert '"carol"' in listed.stdout
    changed = subprocess.run(
        [str(COMMAND), "users", "passwd", "carol", "--db", str(db)],
        input="a new long password\n",
        capture_output=True,
        text=True,
        check=False,
    )
    assert changed.returncode == 0, changed.stderr
    removed = subprocess.run(
        [str(COMMAND), "users", "remove", "carol", "--db", str(db)], capture_output=True, text=True, check=False
    )
    assert removed.returncode == 0, removed.stderr
    missing = subprocess.run(
        [str(COMMAND), "users", "remove", "carol", "--db", str(db)], capture_output=True, text=True, check=False
    )
    assert missing.returncode != 0
    assert "no account" in missing.stderr


@pytest.fixture
def ca(tmp_path: Path) -> trustme.CA:
    authority = trustme.CA()
    authority.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    return authority


@pytest.fixture
def documents(ca: trustme.CA) -> Iterator[Documents]:
    served = Documents(ca)
    try:
        yield served
    finally:
        served.close()


async def test_a_client_named_by_its_metadata_document_signs_in_without_registering(
    tmp_path: Path, documents: Documents
) -> None:
    assert add_account(tmp_path / "http.db", "alice", PASSWORDS["alice"]).returncode == 0
    env = {"MEMORY_MCP_ALLOW_LOOPBACK_CLIENTS": "1", "SSL_CERT_FILE": str(tmp_path / "ca.pem")}
    process, base = start(tmp_path, env=env)
    try:
        metadata = httpx2.get(f"{base}/.well-known/oauth-authorization-server", timeout=10).json()
        assert metadata["client_id_metadata_document_supported"] is True
        client_url = documents.client("/oauth/client.json")
        storage = Memory()
        provider = oauth_client(base, "alice", storage)
        provider.context.client_metadata_url = client_url
        async with (
            httpx2.AsyncClient(auth=provider) as http,
            Client(streamable_http_client(f"{base}/mcp", http_client=http)) as alice,
        ):
            added = await alice.call_tool("add_memory", {"text": "Alice came through a metadata document"})
            assert data(added)["user_id"] == "alice"
        assert storage.client is not None
        assert storage.client.client_id == client_url  # the URL is the client id: nothing was registered
    finally:
        process.terminate()
        process.wait(timeout=10)


async def test_metadata_documents_are_fetched_with_bounds(
    documents: Documents, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "ca.pem"))
    good = documents.client("/good.json")
    with pytest.raises(ClientDocumentError, match="private address"):
        await ClientDocuments().get(good)  # loopback only when allowed, other private addresses never
    fetcher = ClientDocuments(allow_loopback=True)
    assert (await fetcher.get(good)).client_name == "Metadata Document App"
    refusals = {
        documents.client("/big.json", padding="x" * 20_000): "larger than",
        documents.add("/other.json", {"client_id": "https://elsewhere.example/c.json", "redirect_uris": [CALLBACK]}): (
            "client_id is not"
        ),
        documents.client("/secret.json", client_secret="s3cret"): "public",
        documents.add("/moved.json", b"", 302, Location=good): "answered 302",
        documents.add("/text.json", b"not json"): "not JSON",
        documents.client("/missing-redirects.json", redirect_uris=[]): "redirect_uris",
        documents.client("/plain-http.json", redirect_uris=["http://attacker.example/cb"]): "redirect_uris",
        documents.add("/list.json", b"[1, 2]"): "client_id is not",
    }
    for url, reason in refusals.items():
        with pytest.raises(ClientDocumentError, match=reason):
            await fetcher.get(url)
    assert is_document_url(good)
    assert not is_document_url("http://127.0.0.1/client.json")
    assert not is_document_url("https://example.com")


WORDS = st.text(alphabet=st.characters(exclude_categories=["Cs"]), max_size=40)


def test_any_sign_in_or_token_request_is_answered_and_none_issues_what_it_should_not(served: str) -> None:
    """Random forms and queries at every OAuth endpoint and the sign-in page: never a server error, never a token
    without a code and its verifier, never a redirect anywhere but a registered redirect URI."""
    client_id = register(served)
    _, challenge = pkce()
    with httpx2.Client(timeout=30) as browser:
        page = browser.get(authorize_url(served, client_id, challenge), follow_redirects=True)
        request = re.search(r'name="request" value="([^"]+)"', page.text)
        assert request is not None
        known = [client_id, request.group(1), "alice", PASSWORDS["alice"], CALLBACK, challenge, "S256", "allow", "deny"]
        known += ["authorization_code", "refresh_token", "code", "memory", f"{served}/mcp", "https://evil.example/cb"]
        keys = ["request", "name", "password", "action", "client_id", "redirect_uri", "response_type", "code"]
        keys += ["code_challenge", "code_challenge_method", "code_verifier", "grant_type", "refresh_token", "token"]
        keys += ["state", "scope", "resource", "client_secret"]

        @settings(max_examples=150, deadline=None)
        @given(
            endpoint=st.sampled_from(["/signin", "/authorize", "/token", "/revoke", "/register"]),
            post=st.booleans(),
            form=st.dictionaries(st.sampled_from(keys), WORDS | st.sampled_from(known), max_size=8),
        )
        def one(endpoint: str, post: bool, form: dict[str, str]) -> None:
            answer = browser.post(served + endpoint, data=form) if post else browser.get(served + endpoint, params=form)
            assert answer.status_code < 500, answer.text
            if endpoint == "/token":
                assert answer.status_code != 200, answer.text  # no code and verifier, no token
            if answer.status_code in (301, 302, 303, 307, 308):
                location = answer.headers["location"]
                assert location.startswith((CALLBACK, f"{served}/signin")), location

        one()


@pytest.mark.slow  # two server processes: the second tier
def test_two_servers_on_one_postgresql_share_sign_ins(tmp_path: Path, postgres_url: str) -> None:
    """A sign-in on one server works on the other: accounts, clients and (hashed) tokens live in the database."""
    pg = {"MEMORY_MCP_DATABASE_URL": postgres_url}
    added = subprocess.run(
        [str(COMMAND), "users", "add", "alice"],
        input=PASSWORDS["alice"] + "\n",
        env=pg,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert added.returncode == 0, added.stderr
    ports = free_port(), free_port()
    # Behind one address (a load balancer), every server names the same public URL: issuer and audience agree.
    shared = pg | {"MEMORY_MCP_PUBLIC_URL": f"http://127.0.0.1:{ports[0]}/mcp"}
    first, one = launch([str(COMMAND), "--transport", "http", "--port", str(ports[0])], shared, ports[0])
    second, other = launch([str(COMMAND), "--transport", "http", "--port", str(ports[1])], shared, ports[1])
    try:
        client_id = register(one)
        verifier, challenge = pkce()
        code = redirected(sign_in(authorize_url(one, client_id, challenge), "alice", PASSWORDS["alice"]))["code"]
        exchange = {"grant_type": "authorization_code", "code": code, "redirect_uri": CALLBACK, "client_id": client_id}
        # The code was issued by the first server and is redeemed at the second; the tokens work at the first.
        tokens = httpx2.post(f"{other}/token", data=exchange | {"code_verifier": verifier}, timeout=10)
        assert tokens.status_code == 200, tokens.text
        headers = {"Authorization": f"Bearer {tokens.json()['access_token']}"}
        assert (
            httpx2.post(f"{one}/api/v1/memories", json={"text": "Alice is on both"}, headers=headers).status_code == 201
        )
        renewed = httpx2.post(
            f"{one}/token",
            data={
                "grant_type": "refresh_token",
                "refresh_token": tokens.json()["refresh_token"],
                "client_id": client_id,
            },
            timeout=10,
        )
        assert renewed.status_code == 200, renewed.text
        fresh = {"Authorization": f"Bearer {renewed.json()['access_token']}"}
        assert httpx2.get(f"{one}/api/v1/memories", headers=fresh).json()["total"] == 1
        # A server on the same database with another address is another audience: the token is not for it.
        third, elsewhere = start(tmp_path, env=pg)
        try:
            assert httpx2.get(f"{elsewhere}/api/v1/memories", headers=fresh).status_code == 401
        finally:
            third.terminate()
            third.wait(timeout=10)
    finally:
        for process in (first, second):
            process.terminate()
            process.wait(timeout=10)


@pytest.mark.parametrize("method", ["client_secret_post", "client_secret_basic"])
def test_a_confidential_clients_secret_is_kept_hashed_and_still_checked(
    served: str, tmp_path: Path, method: str
) -> None:
    """The secret the server issues at registration is stored as its SHA-256 only; the token endpoint still takes
    the right secret, and refuses a wrong one or the stored hash itself."""
    answer = httpx2.post(
        f"{served}/register",
        json={
            "client_name": "Confidential",
            "redirect_uris": [CALLBACK],
            "token_endpoint_auth_method": method,
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
        },
        timeout=10,
    )
    assert answer.status_code == 201, answer.text
    client_id, secret = answer.json()["client_id"], answer.json()["client_secret"]
    with sqlite3.connect(tmp_path / "http.db") as raw:
        [kept] = raw.execute("SELECT metadata FROM oauth_clients WHERE client_id = ?", (client_id,)).fetchone()
    assert secret not in kept
    stored_secret = json.loads(kept)["client_secret"]
    assert stored_secret == "sha256:" + hashlib.sha256(secret.encode()).hexdigest()

    def exchange(presented: str) -> httpx2.Response:
        verifier, challenge = pkce()
        code = redirected(sign_in(authorize_url(served, client_id, challenge), "alice", PASSWORDS["alice"]))["code"]
        form = {"grant_type": "authorization_code", "code": code, "redirect_uri": CALLBACK, "code_verifier": verifier}
        if method == "client_secret_post":
            return httpx2.post(f"{served}/token", data=form | {"client_id": client_id, "client_secret": presented})
        return httpx2.post(f"{served}/token", data=form | {"client_id": client_id}, auth=(client_id, presented))

    assert exchange("not-the-secret").status_code == 401
    assert exchange(stored_secret).status_code == 401
    right = exchange(secret)
    assert right.status_code == 200, right.text
    assert right.json()["access_token"]


def test_the_authorization_response_names_the_issuer(served: str) -> None:
    """RFC 9207: the redirect back to the client carries `iss`, and the metadata says it does."""
    metadata = httpx2.get(f"{served}/.well-known/oauth-authorization-server", timeout=10).json()
    assert metadata["authorization_response_iss_parameter_supported"] is True
    client_id = register(served)
    url = authorize_url(served, client_id, pkce()[1])
    assert redirected(sign_in(url, "alice", PASSWORDS["alice"]))["iss"] == metadata["issuer"]
    assert redirected(sign_in(url.replace("s-123", "s-456"), "bob", "", action="deny"))["iss"] == metadata["issuer"]
