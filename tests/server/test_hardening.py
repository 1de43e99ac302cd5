"""The HTTP face against an attacker: DNS rebinding, cross-site changes, unbounded and slow bodies, slow headers,
too many connections, a racing sign-in lockout, forged proxy headers, anonymous state, log forging, who sees
/health's count, and the files the server writes."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import select
import socket
import sqlite3
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import anyio
import httpx2
import pytest
import trustme
import uvicorn
from mcp.server.auth.provider import AuthorizationParams
from pydantic import AnyUrl
from starlette.applications import Starlette

from memory_mcp.app import accounts_of, open_engine
from memory_mcp.logs import FORMAT, OneLineFormatter
from memory_mcp.server import build_server, signin, view
from memory_mcp.server.clients import ClientDocuments, public, redirect_allowed
from memory_mcp.server.guard import Rules
from memory_mcp.server.http import Timeouts, every, uvicorn_config
from memory_mcp.server.oauth import WEB_CLIENT, Authority

from ..helpers.servers import ALICE, BOB, COMMAND, free_port, launch, port_of, start, ui_server
from ..helpers.signin import PASSWORDS, Documents, add_account, authorize_url, pkce, register

MiB = 1024 * 1024


# -- helpers -----------------------------------------------------------------------------------------------------


@contextmanager
def in_process(db: Path, *, timeouts: Timeouts | None = None, rules: Rules | None = None) -> Iterator[int]:
    """A server on loopback, run by uvicorn in a thread of this process with the settings given; its port."""
    port = free_port()
    timeouts, rules = timeouts or Timeouts(), rules or Rules()
    running: list[uvicorn.Server] = []

    async def main() -> None:
        async with open_engine(db) as engine:
            server = build_server(engine, rest=True, default_user="alice", url=f"http://127.0.0.1:{port}/mcp")
            config = uvicorn_config(server, host="127.0.0.1", port=port, rules=rules, timeouts=timeouts)
            running.append(uvicorn.Server(config))
            await running[0].serve()

    thread = threading.Thread(target=asyncio.run, args=(main(),), daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx2.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                break
        except httpx2.HTTPError:
            pass
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.05)
    try:
        yield port
    finally:
        running[0].should_exit = True
        thread.join(timeout=30)


def raw_request(port: int, head: str, chunks: Iterable[bytes] = ()) -> tuple[int, bytes, int]:
    """Send a request's head, then body chunks until the server answers (or closes); its status, its body, and how
    many body bytes went out before it answered."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as connection:
        connection.sendall(head.replace("\n", "\r\n").encode() + b"\r\n")
        sent = 0
        try:
            for chunk in chunks:
                if select.select([connection], [], [], 0)[0]:
                    break  # the answer has come: stop sending, as a client reading its socket would
                connection.sendall(chunk)
                sent += len(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass
        answer = b""
        try:
            while b"\r\n\r\n" not in answer or len(answer) < _expected(answer):
                piece = connection.recv(65536)
                if not piece:
                    break
                answer += piece
        except ConnectionResetError:
            pass
    status = int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/") else 0
    return status, answer.partition(b"\r\n\r\n")[2], sent


def _expected(answer: bytes) -> int:
    head, _, _ = answer.partition(b"\r\n\r\n")
    found = re.search(rb"(?i)content-length: *(\d+)", head)
    return len(head) + 4 + (int(found.group(1)) if found else 0)


def megabytes(total: int, size: int = 64 * 1024) -> Iterator[bytes]:
    block = b"x" * size
    for _ in range(total * MiB // size):
        yield block


def chunked(total: int) -> Iterator[bytes]:
    for block in megabytes(total):
        yield f"{len(block):x}\r\n".encode() + block + b"\r\n"
    yield b"0\r\n\r\n"


def rss_mib(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    found = re.search(r"VmRSS:\s+(\d+) kB", status)
    assert found is not None
    return int(found.group(1)) / 1024


def peak_mib(pid: int) -> float:
    found = re.search(r"VmHWM:\s+(\d+) kB", Path(f"/proc/{pid}/status").read_text())
    assert found is not None
    return int(found.group(1)) / 1024


@pytest.fixture
def tokens_server(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    tokens = tmp_path / "tokens.json"
    tokens.write_text(json.dumps({ALICE: "alice", BOB: "bob"}))
    tokens.chmod(0o600)
    process, base = start(tmp_path, env={"MEMORY_MCP_TOKENS_FILE": str(tokens)})
    try:
        yield process, base
    finally:
        process.terminate()
        process.wait(timeout=30)


# -- 1. DNS rebinding and cross-site changes ----------------------------------------------------------------------


def test_a_foreign_host_is_refused_on_every_route_of_the_ui_server(tmp_path: Path) -> None:
    """DNS rebinding: a request that names another host is refused before any handler runs, on the page, the REST
    API, /mcp and /health alike; this server's own names and addresses are served."""
    process, base = ui_server(tmp_path)
    try:
        port = port_of(base)
        added = httpx2.post(f"{base}/api/v1/memories", json={"text": "Alice keeps bees"}, timeout=10)
        assert added.status_code == 201, added.text
        evil = {"Host": f"evil.example.com:{port}"}
        for method, path in [("GET", "/api/v1/memories"), ("GET", "/"), ("GET", "/health"), ("POST", "/mcp")]:
            answer = httpx2.request(method, f"{base}{path}", headers=evil, timeout=10, json={})
            assert answer.status_code == 421, (path, answer.text)
            assert answer.headers["content-type"] == "application/problem+json"
            assert "--allowed-host evil.example.com" in answer.json()["detail"]
        planted = httpx2.post(f"{base}/api/v1/memories", json={"text": "planted"}, headers=evil, timeout=10)
        assert planted.status_code == 421
        for host in (f"127.0.0.1:{port}", f"localhost:{port}", f"LOCALHOST.:{port}"):
            listed = httpx2.get(f"{base}/api/v1/memories", headers={"Host": host}, timeout=10)
            assert listed.status_code == 200, host
            assert [memory["text"] for memory in listed.json()["memories"]] == ["Alice keeps bees"]
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_a_page_of_another_site_cannot_change_memories(tmp_path: Path) -> None:
    """A state-changing request whose Origin is another site (CSRF from a page the person visits) is refused, even
    to the right host; the server's own page and clients without an Origin are served."""
    process, base = ui_server(tmp_path)
    try:
        port = port_of(base)
        for origin in ("https://evil.example", "null", f"http://evil.example:{port}", "http://localhost:3000"):
            answer = httpx2.post(
                f"{base}/api/v1/memories", json={"text": "planted"}, headers={"Origin": origin}, timeout=10
            )
            assert answer.status_code == 403, origin
        own = httpx2.post(f"{base}/api/v1/memories", json={"text": "mine"}, headers={"Origin": base}, timeout=10)
        assert own.status_code == 201
        read = httpx2.get(f"{base}/api/v1/memories", headers={"Origin": "https://evil.example"}, timeout=10)
        assert read.status_code == 200  # a read is harmless: without CORS the other page cannot see the answer
        assert "access-control-allow-origin" not in read.headers
        assert [memory["text"] for memory in read.json()["memories"]] == ["mine"]
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_rules_name_the_hosts_a_server_answers_to() -> None:
    """IP literals and localhost always (a page cannot rebind an address), the public URL's host and each allowed
    name; "*" turns the check off; an Origin must be the request's own host or a name of the server."""
    rules = Rules.of("https://memory.example.com/mcp", ["team.internal"])
    for host in ("127.0.0.1:8000", "[::1]:8000", "localhost", "10.1.2.3:80", "memory.example.com", "TEAM.internal:1"):
        assert rules.host_allowed(host), host
    for host in ("evil.example.com", "memory.example.com.evil.test", "", "localhost.evil.test"):
        assert not rules.host_allowed(host), host
    assert Rules(frozenset({"*"})).host_allowed("anything.example")
    assert rules.origin_allowed("https://memory.example.com", "127.0.0.1:8000", "/api/v1/memories")
    assert rules.origin_allowed("http://10.1.2.3:80", "10.1.2.3:80", "/api/v1/memories")
    assert not rules.origin_allowed("http://10.9.9.9", "10.1.2.3:80", "/api/v1/memories")
    assert not rules.origin_allowed("http://localhost:6274", "127.0.0.1:8000", "/api/v1/memories")
    assert rules.origin_allowed("http://localhost:6274", "127.0.0.1:8000", "/mcp")  # the Inspector in a browser


# -- 2. Bodies -----------------------------------------------------------------------------------------------------


def test_an_unauthenticated_body_is_refused_before_it_is_read(tokens_server: tuple[Any, str]) -> None:
    """A 1 GiB POST without a token gets 401 before the server reads it: a few MiB go out at most, and the
    server's memory stays where it was (on main, four of these took it to 7.2 GB)."""
    process, base = tokens_server
    port = port_of(base)
    before = rss_mib(process.pid)
    head = f"POST /api/v1/memories HTTP/1.1\nHost: 127.0.0.1:{port}\nContent-Type: application/json\n"
    status, body, sent = raw_request(port, head + "Transfer-Encoding: chunked\n", chunked(1024))
    assert status == 401
    assert json.loads(body)["detail"].startswith("Send Authorization: Bearer")
    assert sent < 64 * MiB
    status, body, sent = raw_request(port, head + f"Content-Length: {1024 * MiB}\n", megabytes(1024))
    assert status == 413  # a length over any limit is refused before anything else
    assert sent < 64 * MiB
    assert rss_mib(process.pid) - before < 40


def test_a_body_over_the_limit_is_cut_off_while_it_streams(tokens_server: tuple[Any, str]) -> None:
    """With a valid token, a chunked body (no length said) is refused with 413 once it passes the route's limit,
    and a declared length over the limit is refused before a byte is sent; within the limit all is well."""
    process, base = tokens_server
    port = port_of(base)
    before = rss_mib(process.pid)
    head = f"POST /api/v1/memories HTTP/1.1\nHost: 127.0.0.1:{port}\nAuthorization: Bearer {ALICE}\n"
    status, body, sent = raw_request(port, head + "Transfer-Encoding: chunked\n", chunked(512))
    assert status == 413
    assert "larger than 1,048,576 bytes" in json.loads(body)["detail"]
    assert sent < 128 * MiB
    status, body, sent = raw_request(port, head + f"Content-Length: {2 * MiB}\n")
    assert status == 413
    assert sent == 0
    mcp = f"POST /mcp HTTP/1.1\nHost: 127.0.0.1:{port}\nAuthorization: Bearer {ALICE}\n"
    assert raw_request(port, mcp + f"Content-Length: {5 * MiB}\n")[0] == 413
    assert rss_mib(process.pid) - before < 60
    added = httpx2.post(
        f"{base}/api/v1/memories",
        json={"text": "Alice keeps bees"},
        headers={"Authorization": f"Bearer {ALICE}"},
        timeout=10,
    )
    assert added.status_code == 201


def test_a_body_that_stops_arriving_is_answered_408(tmp_path: Path) -> None:
    """A client that sends half a body and pauses is answered 408 after the deadline instead of holding the call."""
    with in_process(tmp_path / "m.db", rules=Rules(body_timeout=0.5)) as port:
        head = f"POST /api/v1/memories HTTP/1.1\nHost: 127.0.0.1:{port}\nContent-Length: 100\n"
        started = time.monotonic()
        status, body, _ = raw_request(port, head, [b'{"text": "half'])
        assert status == 408
        assert "stopped arriving" in json.loads(body)["detail"]
        assert time.monotonic() - started < 10


# -- 4. Slow clients and connection cap ------------------------------------------------------------------------


def test_slow_headers_are_timed_out_and_connections_past_the_cap_closed(tmp_path: Path) -> None:
    """Connections whose headers never end are closed after the header timeout; past the connection cap new ones
    are closed at once; /health answers again once they are gone (on main they stayed open until released)."""
    with in_process(tmp_path / "m.db", timeouts=Timeouts(header=2.0, max_connections=40)) as port:
        slow = []
        for _ in range(50):
            connection = socket.create_connection(("127.0.0.1", port), timeout=5)
            connection.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # and never the blank line
            slow.append(connection)
        time.sleep(0.5)
        closed_at_once = sum(1 for connection in slow if _closed(connection, 0.05))
        assert closed_at_once >= 10  # the cap of 40 left at most 40 open
        time.sleep(2.5)
        assert all(_closed(connection, 1.0) for connection in slow)
        for connection in slow:
            connection.close()
        assert httpx2.get(f"http://127.0.0.1:{port}/health", timeout=5).status_code == 200


def _closed(connection: socket.socket, wait: float) -> bool:
    connection.settimeout(wait)
    try:
        return connection.recv(1) == b""
    except TimeoutError:
        return False
    except ConnectionResetError:
        return True


# -- 3. The sign-in lockout ----------------------------------------------------------------------------------------


@pytest.fixture
def signin_server(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    for name, password in PASSWORDS.items():
        assert add_account(tmp_path / "http.db", name, password).returncode == 0
    process, base = start(tmp_path)
    try:
        yield process, base
    finally:
        process.terminate()
        process.wait(timeout=30)


def signin_form(base: str) -> tuple[str, str]:
    """A fresh sign-in: the page's address and its request id."""
    client_id = register(base)
    page = httpx2.get(authorize_url(base, client_id, pkce()[1]), follow_redirects=True, timeout=10)
    found = re.search(r'name="request" value="([^"]+)"', page.text)
    assert found is not None
    return str(page.url.copy_with(query=None)), found.group(1)


async def _sign_ins(url: str, request: str, password: str, count: int, **client: Any) -> list[int]:
    form = {"request": request, "name": "alice", "password": password, "action": "allow"}
    limits = httpx2.Limits(max_connections=count)
    async with httpx2.AsyncClient(timeout=120, limits=limits, **client) as http:
        answers = await asyncio.gather(*(http.post(url, data=form) for _ in range(count)))
    return [answer.status_code for answer in answers]


def test_a_burst_of_wrong_passwords_gets_five_guesses_and_the_owner_elsewhere_still_signs_in(
    signin_server: tuple[subprocess.Popen[bytes], str],
) -> None:
    """300 wrong passwords at once for one account from one address: exactly 5 are checked (401), the rest 429,
    and memory stays bounded (on main: 100 guesses and 0.55 -> 1.2 GB). The owner, from another address, is not
    locked out; X-Forwarded-For from an untrusted client changes nothing."""
    process, base = signin_server
    url, request = signin_form(base)
    before = peak_mib(process.pid)
    statuses = asyncio.run(_sign_ins(url, request, "wrong password", 300))
    assert statuses.count(401) == 5
    assert statuses.count(429) == 295
    assert peak_mib(process.pid) - before < 200
    forged = httpx2.post(
        url,
        data={"request": request, "name": "alice", "password": PASSWORDS["alice"], "action": "allow"},
        headers={"X-Forwarded-For": "203.0.113.9"},
        timeout=30,
    )
    assert forged.status_code == 429  # still counted as 127.0.0.1
    transport = httpx2.HTTPTransport(local_address="127.0.0.2")
    with httpx2.Client(transport=transport, timeout=30) as elsewhere:
        answer = elsewhere.post(
            url,
            data={"request": request, "name": "alice", "password": PASSWORDS["alice"], "action": "allow"},
        )
    assert answer.status_code == 303, answer.text
    assert "code=" in answer.headers["location"]


@pytest.mark.slow  # two server processes: the second tier
def test_two_servers_on_one_database_share_the_failure_count(tmp_path: Path) -> None:
    """Failures through one server count at the other: three here and three there make the sixth a 429."""
    assert add_account(tmp_path / "http.db", "alice", PASSWORDS["alice"]).returncode == 0
    first, one = start(tmp_path)
    second, two = start(tmp_path)
    try:
        url_one, request = signin_form(one)
        url_two = url_one.replace(one, two)
        statuses = []
        for url in (url_one, url_one, url_one, url_two, url_two, url_two):
            form = {"request": request, "name": "alice", "password": "nope", "action": "allow"}
            statuses.append(httpx2.post(url, data=form, timeout=30).status_code)
        assert statuses == [401] * 5 + [429]
    finally:
        for process in (first, second):
            process.terminate()
            process.wait(timeout=30)


async def test_password_checks_run_at_most_two_at_a_time(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Twelve sign-ins at once for twelve accounts (each under its own limit) wait their turn for the password
    check: never more than `CHECKS` (2) scrypt checks hold memory at the same moment."""
    running, most = 0, 0
    guard = threading.Lock()

    def slow_check(password: str, stored: str) -> bool:
        nonlocal running, most
        with guard:
            running += 1
            most = max(most, running)
        time.sleep(0.05)
        with guard:
            running -= 1
        return False

    monkeypatch.setattr(signin, "verify_password", slow_check)
    async with open_engine(tmp_path / "m.db", index=False) as engine:
        authority = Authority(
            accounts_of(engine), issuer="http://127.0.0.1:1", resource="http://127.0.0.1:1/mcp", static=None
        )
        client = await authority.get_client(WEB_CLIENT)
        assert client is not None
        params = AuthorizationParams(
            state="s",
            scopes=["memory"],
            code_challenge="c" * 43,
            redirect_uri=AnyUrl("http://127.0.0.1:1/"),
            redirect_uri_provided_explicitly=True,
        )
        request = parse_qs(urlparse(await authority.authorize(client, params)).query)["request"][0]
        app = Starlette(routes=signin.signin_routes(authority))
        transport = httpx2.ASGITransport(app=app)
        async with httpx2.AsyncClient(transport=transport, base_url="http://127.0.0.1:1") as http:
            answers = await asyncio.gather(
                *(
                    http.post("/signin", data={"request": request, "name": f"user{n}", "password": "x"})
                    for n in range(12)
                )
            )
    assert [answer.status_code for answer in answers] == [401] * 12
    assert most == signin.CHECKS == 2


# -- 5. Anonymous state --------------------------------------------------------------------------------------------


def test_anonymous_sign_in_state_is_bounded(signin_server: tuple[subprocess.Popen[bytes], str], tmp_path: Path) -> None:
    """A long `state` is refused and stores nothing; a redirect URI with a user name, or of a browser's own scheme,
    is refused at registration."""
    _, base = signin_server
    client_id = register(base)
    query = httpx2.URL(authorize_url(base, client_id, pkce()[1])).params.set("state", "s" * 3000)
    answer = httpx2.get(f"{base}/authorize", params=query, timeout=10)
    assert answer.status_code in (302, 303, 400)
    assert "state is longer than" in (answer.headers.get("location", "") + answer.text).replace("+", " ")
    with sqlite3.connect(tmp_path / "http.db") as raw:
        assert raw.execute("SELECT count(*) FROM oauth_grants WHERE kind = 'request'").fetchone()[0] == 0
    for uri in ("intent://x#Intent;end", "chrome://settings", "view-source:https://x.example", "javascript:alert(1)"):
        refused = httpx2.post(
            f"{base}/register",
            json={"client_name": "X", "redirect_uris": [uri], "token_endpoint_auth_method": "none"},
            timeout=10,
        )
        assert refused.status_code == 400, uri
    userinfo = httpx2.post(
        f"{base}/register",
        json={"redirect_uris": ["https://good@evil.example/cb"], "token_endpoint_auth_method": "none"},
        timeout=10,
    )
    assert userinfo.status_code == 400
    assert userinfo.json()["error"] == "invalid_redirect_uri"


# -- 6. Files ------------------------------------------------------------------------------------------------------


def test_the_database_its_folder_backups_and_exports_are_the_owners_only(tmp_path: Path) -> None:
    """Under an everyday umask (022) the database, its WAL and shared-memory files, a backup and an export are
    0600 and a folder made for the database 0700; a database others can read is named at start."""
    folder = tmp_path / "data" / "memory-mcp"
    db = folder / "memory.db"
    env = {"MEMORY_MCP_DB": str(db), "HOME": str(tmp_path), "PATH": os.environ.get("PATH", "")}

    def under_umask_022(*args: str) -> None:
        done = subprocess.run(
            ["sh", "-c", 'umask 022 && exec "$0" "$@"', str(COMMAND), *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, done.stderr

    under_umask_022("add", "--user", "alice", "Alice keeps bees")
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert stat.S_IMODE(db.stat().st_mode) == 0o600
    for extra in folder.glob("memory.db-*"):
        assert stat.S_IMODE(extra.stat().st_mode) == 0o600, extra
    for command, target in (("backup", tmp_path / "copy.db"), ("export", tmp_path / "all.jsonl")):
        under_umask_022(command, str(target))
        assert stat.S_IMODE(target.stat().st_mode) == 0o600, command
    db.chmod(0o644)
    served = subprocess.run(
        [str(COMMAND)], env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60
    )
    assert f"the database (every memory and the password hashes) {db} can be read by every user" in served.stderr


def test_a_tokens_file_others_can_read_is_named_at_start(tmp_path: Path) -> None:
    tokens = tmp_path / "tokens.json"
    tokens.write_text(json.dumps({ALICE: "alice"}))
    tokens.chmod(0o640)
    port = free_port()
    env = {"MEMORY_MCP_DB": str(tmp_path / "m.db"), "MEMORY_MCP_TOKENS_FILE": str(tokens)}
    with (tmp_path / "err.log").open("w") as err:
        process = subprocess.Popen(
            [str(COMMAND), "--transport", "http", "--port", str(port)], env=env, stdout=subprocess.DEVNULL, stderr=err
        )
        try:
            deadline = time.monotonic() + 30
            while "can be read by" not in (tmp_path / "err.log").read_text() and time.monotonic() < deadline:
                time.sleep(0.1)
        finally:
            process.terminate()
            process.wait(timeout=30)
    assert (
        f"tokens file (anyone who reads it can act as its users) {tokens} can be read by its group"
        in (tmp_path / "err.log").read_text()
    )


# -- 7. Log forging ------------------------------------------------------------------------------------------------


def test_a_newline_in_a_client_name_cannot_forge_a_log_line(tmp_path: Path) -> None:
    assert add_account(tmp_path / "http.db", "alice", PASSWORDS["alice"]).returncode == 0
    log = tmp_path / "server.log"
    port = free_port()
    command = [str(COMMAND), "--transport", "http", "--port", str(port)]
    env = {"MEMORY_MCP_DB": str(tmp_path / "http.db"), "MEMORY_MCP_LOG_LEVEL": "INFO"}
    with log.open("w") as err:
        process, base = launch(command, env, port, stderr=err)
        try:
            forged = "Harmless\n2026-12-06 07:00:00,000 CRITICAL memory_mcp: all memories deleted"
            answer = httpx2.post(
                f"{base}/register",
                json={
                    "client_name": forged,
                    "redirect_uris": ["http://127.0.0.1:9/cb"],
                    "token_endpoint_auth_method": "none",
                },
                timeout=10,
            )
            assert answer.status_code == 201
            deadline = time.monotonic() + 10
            while "OAuth client registered" not in log.read_text() and time.monotonic() < deadline:
                time.sleep(0.1)
        finally:
            process.terminate()
            process.wait(timeout=30)
    lines = log.read_text().splitlines()
    assert not [line for line in lines if "CRITICAL" in line.split(" memory_mcp")[0]]
    assert any("Harmless\\n2026-12-06" in line for line in lines)


# -- 8. /health ----------------------------------------------------------------------------------------------------


def test_health_counts_only_the_token_users_memories(tokens_server: tuple[Any, str]) -> None:
    """One user must not see when others write: /health with alice's token counts alice's memories only."""
    _, base = tokens_server
    for token, text in ((BOB, "Bob one"), (BOB, "Bob two"), (ALICE, "Alice one")):
        added = httpx2.post(
            f"{base}/api/v1/memories", json={"text": text}, headers={"Authorization": f"Bearer {token}"}, timeout=10
        )
        assert added.status_code == 201
    assert (
        httpx2.get(f"{base}/health", headers={"Authorization": f"Bearer {ALICE}"}, timeout=10).json()["memories"] == 1
    )
    assert httpx2.get(f"{base}/health", headers={"Authorization": f"Bearer {BOB}"}, timeout=10).json()["memories"] == 2
    assert "memories" not in httpx2.get(f"{base}/health", timeout=10).json()


# -- 9. Redirect URIs, metadata fetches, the view --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("uri", "allowed"),
    [
        pytest.param("https://app.example/cb", True, id="https"),
        pytest.param("http://127.0.0.1:9/cb", True, id="loopback-http"),
        pytest.param("http://localhost/cb", True, id="localhost-http"),
        pytest.param("com.example.app:/oauth/cb", True, id="reverse-dns-scheme"),
        pytest.param("cursor://anysphere.cursor-mcp/oauth/callback", True, id="cursor"),
        pytest.param("http://app.example/cb", False, id="plain-http"),
        pytest.param("https://good@evil.example/cb", False, id="userinfo"),
        pytest.param("https://good:pw@evil.example/cb", False, id="userinfo-password"),
        pytest.param("https://app.example/cb#frag", False, id="fragment"),
        pytest.param("intent://cb#Intent;scheme=x;end", False, id="intent"),
        pytest.param("chrome://settings", False, id="chrome"),
        pytest.param("view-source:https://app.example", False, id="view-source"),
        pytest.param("javascript:alert(1)", False, id="javascript"),
        pytest.param("myapp://cb", False, id="scheme-without-a-dot"),
    ],
)
def test_redirect_uris_are_https_loopback_or_an_apps_own_scheme(uri: str, allowed: bool) -> None:
    assert redirect_allowed(uri) is allowed


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("8.8.8.8", True),
        ("2606:4700::1111", True),
        ("100.64.0.1", False),  # carrier-grade NAT
        ("2002:7f00:1::", False),  # 6to4 of 127.0.0.1
        ("2002:0808:0808::", False),  # any 6to4
        ("64:ff9b::a00:1", False),  # NAT64 of 10.0.0.1
        ("::ffff:10.0.0.1", False),  # IPv4-mapped private
        ("10.0.0.1", False),
        ("169.254.169.254", False),
        ("127.0.0.1", False),
        ("::1", False),
        ("fd00::1", False),
    ],
)
def test_only_public_addresses_count_as_public(address: str, expected: bool) -> None:
    assert public(address) is expected


async def test_a_metadata_document_is_fetched_from_the_address_that_was_checked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The host is resolved once; the fetch connects to that address (TLS still checks the host name), so a second
    DNS answer cannot send it elsewhere. Here any second lookup of the name fails the test."""
    ca = trustme.CA()
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "ca.pem"))
    served = Documents(ca, "client.test")
    lookups: list[str] = []
    real = socket.getaddrinfo

    def resolve(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host == "client.test":
            lookups.append(host)
            assert len(lookups) == 1, "client.test was resolved a second time"
            return real("127.0.0.1", *args, **kwargs)
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    try:
        url = served.client("/c.json").replace("127.0.0.1", "client.test")
        served.add("/c.json", {**json.loads(served.pages["/c.json"][1]), "client_id": url})
        client = await ClientDocuments(allow_loopback=True).get(url)
        assert client.client_name == "Metadata Document App"
        assert lookups == ["client.test"]
    finally:
        served.close()


def test_the_view_declares_that_it_loads_and_connects_nothing() -> None:
    document = (Path(view.__file__).parent / "web" / "view.html").read_text()
    assert "Content-Security-Policy" in document
    assert "default-src 'none'" in document
    assert "connect-src" not in document  # falls back to default-src 'none'
    assert "event.source !== window.parent" in document  # answers only its host


# -- logs ----------------------------------------------------------------------------------------------------------


def test_log_lines_escape_control_characters_but_keep_tracebacks() -> None:
    formatter = OneLineFormatter(FORMAT)
    record = logging.LogRecord("memory_mcp", logging.INFO, __file__, 1, "client %s", ("a\nCRITICAL b\r\x1b[31m",), None)
    line = formatter.format(record)
    assert "\n" not in line
    assert "a\\nCRITICAL b\\r\\x1b[31m" in line
    try:
        int("boom")
    except ValueError:
        record.exc_info = sys.exc_info()
    assert "Traceback (most recent call last):\n" in formatter.format(record)


async def test_the_purge_repeats_and_survives_a_failure() -> None:
    """The periodic purge runs again after its interval, and a failing run is logged and retried, never fatal."""
    calls: list[float] = []
    fourth = anyio.Event()

    async def purge() -> None:
        calls.append(time.monotonic())
        if len(calls) == 2:
            raise RuntimeError("the database is away")
        if len(calls) == 4:
            fourth.set()

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(every, 0.02, purge)
            await fourth.wait()
            tasks.cancel_scope.cancel()
    assert len(calls) == 4


def test_a_server_with_accounts_purges_expired_sign_in_state_when_it_starts(tmp_path: Path) -> None:
    """Expired secrets, old attempts and a registration that never signed anyone in are gone once the server is up
    (on main they went only on 1% of token issues)."""
    db = tmp_path / "http.db"
    assert add_account(db, "alice", PASSWORDS["alice"]).returncode == 0
    with sqlite3.connect(db) as raw:
        raw.execute("INSERT INTO oauth_clients (client_id, metadata, created_at) VALUES ('old', '{}', '2020-01-01')")
        raw.execute("INSERT INTO oauth_grants VALUES ('h', 'request', 'g', '', 'old', '{}', ?)", (time.time() - 10,))
        raw.execute("INSERT INTO signin_attempts VALUES ('a', 'k', ?)", (time.time() - 3600,))
    process, _ = start(tmp_path)
    try:
        deadline = time.monotonic() + 20
        while True:
            with sqlite3.connect(db) as raw:
                left = [
                    raw.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
                    for table in ("oauth_clients", "oauth_grants", "signin_attempts")
                ]
            if left == [0, 0, 0] or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert left == [0, 0, 0]
    finally:
        process.terminate()
        process.wait(timeout=30)
