"""OAuth sign-in as a client and a person do it, for the tests: accounts, registration, PKCE, the sign-in form,
the redirect back, and client metadata documents served over https."""

from __future__ import annotations

import base64
import hashlib
import http.server
import json
import re
import secrets
import ssl
import subprocess
import threading
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import httpx2
import trustme

from .servers import COMMAND

PASSWORDS = {"alice": "alice-correct-horse", "bob": "bob-battery-staple"}
CALLBACK = "http://127.0.0.1:9/callback"  # never reached: the test reads the code from the redirect itself


def add_account(db: Path, name: str, password: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(COMMAND), "users", "add", name, "--db", str(db)],
        input=password + "\n",
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def sign_in(authorize_url: str, name: str, password: str, action: str = "allow") -> httpx2.Response:
    """What the person does in the browser: open the authorization URL, read the page, submit the form."""
    with httpx2.Client(timeout=30) as browser:
        page = browser.get(authorize_url, follow_redirects=True)
        assert page.status_code == 200, page.text
        assert "Sign in to your memory" in page.text
        request = re.search(r'name="request" value="([^"]+)"', page.text)
        assert request is not None
        form = {"request": request.group(1), "name": name, "password": password, "action": action}
        return browser.post(str(page.url.copy_with(query=None)), data=form)


def redirected(response: httpx2.Response) -> dict[str, str]:
    assert response.status_code == 303, response.text
    location = response.headers["location"]
    assert location.startswith(CALLBACK)
    return {key: values[0] for key, values in parse_qs(urlparse(location).query).items()}


def register(base: str) -> str:
    answer = httpx2.post(
        f"{base}/register",
        json={
            "client_name": "Manual",
            "redirect_uris": [CALLBACK],
            "token_endpoint_auth_method": "none",
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
        },
        timeout=10,
    )
    assert answer.status_code == 201, answer.text
    client_id: str = answer.json()["client_id"]
    return client_id


def authorize_url(base: str, client_id: str, challenge: str, redirect: str = CALLBACK) -> str:
    query = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": redirect,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        "state": "s-123",
        "resource": f"{base}/mcp",
    }
    return str(httpx2.URL(f"{base}/authorize", params=query))


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


class Documents:
    """Client metadata documents served over https on 127.0.0.1, with a certificate of a test CA."""

    def __init__(self, ca: trustme.CA, *names: str) -> None:
        self.pages: dict[str, tuple[int, bytes, dict[str, str]]] = {}
        pages = self.pages

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                status, body, headers = pages.get(self.path, (404, b"{}", {}))
                self.send_response(status)
                for key, value in {"Content-Type": "application/json", **headers}.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ca.issue_cert("127.0.0.1", *names).configure_cert(context)
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.base = f"https://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def add(self, path: str, document: dict[str, Any] | bytes, status: int = 200, **headers: str) -> str:
        body = document if isinstance(document, bytes) else json.dumps(document).encode()
        self.pages[path] = (status, body, headers)
        return self.base + path

    def client(self, path: str, **fields: Any) -> str:
        url = self.base + path
        return self.add(
            path,
            {
                "client_id": url,
                "client_name": "Metadata Document App",
                "redirect_uris": [CALLBACK],
                "grant_types": ["authorization_code", "refresh_token"],
                "response_types": ["code"],
                "token_endpoint_auth_method": "none",
                **fields,
            },
        )

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
