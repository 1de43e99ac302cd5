"""The sign-in and consent page of the authorization server: who asks, where it sends you back, your password."""

from __future__ import annotations

import html
import json
import logging
import secrets
import time
from typing import Final

import anyio.to_thread
from mcp.server.auth.provider import construct_redirect_uri
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from ..passwords import decoy, verify_password
from .oauth import SIGNIN_PATH, Authority

logger = logging.getLogger(__name__)

FAILURES: Final = 5
"""Failed sign-ins allowed per account name from one address within `WINDOW` seconds (a stranger elsewhere cannot
lock the owner out)."""
ADDRESS_FAILURES: Final = 20
"""Failed sign-ins allowed from one address within `WINDOW` seconds, whatever the account names."""
WINDOW: Final = 300.0
CHECKS: Final = 2
"""Password checks run at once in one process (each scrypt check takes 32 MiB for ~0.1 s); more wait their turn."""

_HEADERS: Final = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'",
    "X-Frame-Options": "DENY",
    # same-origin, not no-referrer: under no-referrer a browser sends `Origin: null` with the form, which the guard
    # cannot tell from a sandboxed page elsewhere; the sign-in address still never leaves this server.
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}

_STYLE: Final = """
body{font:16px/1.5 system-ui,sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem;color:#1b1b1b}
h1{font-size:1.4rem}label{display:block;margin-top:1rem;font-weight:600}
input[type=text],input[type=password]{width:100%;padding:.5rem;font-size:1rem;box-sizing:border-box}
.who{background:#f3f4f6;padding:.75rem 1rem;border-radius:.5rem}.error{color:#a40000;font-weight:600}
button{margin-top:1.5rem;margin-right:.75rem;padding:.6rem 1.2rem;font-size:1rem;cursor:pointer}
code{word-break:break-all}
"""


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    document = (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" '
        f'content="width=device-width,initial-scale=1"><title>{html.escape(title)} · memory-mcp</title>'
        f"<style>{_STYLE}</style></head><body><main>{body}</main></body></html>"
    )
    return HTMLResponse(document, status_code=status, headers=_HEADERS)


def _form(request: str, client: str, client_id: str, redirect: str, *, name: str = "", error: str = "") -> str:
    problem = f'<p class="error" role="alert">{html.escape(error)}</p>' if error else ""
    return f"""
<h1>Sign in to your memory</h1>
<div class="who"><p><strong>{html.escape(client)}</strong> wants to read and change the memories kept for you on
this server.</p><p>Client id: <code>{html.escape(client_id)}</code><br>It will send you back to:
<code>{html.escape(redirect)}</code><br>(An app names itself: allow it only if you started this sign-in and know
that address.)</p></div>
{problem}
<form method="post" action="{SIGNIN_PATH}">
<input type="hidden" name="request" value="{html.escape(request)}">
<label for="name">Account name</label><input id="name" name="name" type="text" autocomplete="username"
 value="{html.escape(name)}" required autofocus>
<label for="password">Password</label><input id="password" name="password" type="password"
 autocomplete="current-password">
<button type="submit" name="action" value="allow">Sign in and allow</button>
<button type="submit" name="action" value="deny" formnovalidate>Deny</button>
</form>"""


def _gone() -> HTMLResponse:
    return _page(
        "Sign-in expired",
        "<h1>This sign-in has expired or was used already</h1><p>Go back to the app and connect again.</p>",
        400,
    )


def signin_keys(name: str, address: str) -> list[tuple[str, int]]:
    """What a sign-in attempt counts against, with each key's limit: the account from this address, and the
    address itself."""
    return [(json.dumps(["account", name, address]), FAILURES), (json.dumps(["address", address]), ADDRESS_FAILURES)]


def signin_routes(authority: Authority) -> list[Route]:
    """GET shows who asks and the form; POST checks the password and sends the person back with a code (or
    with `access_denied`)."""
    checks: list[anyio.CapacityLimiter] = []  # made on first use, inside the event loop

    async def context(request_id: str) -> tuple[str, str, str, str | None] | None:
        pending = await authority.pending(request_id)
        if pending is None:
            return None
        grant, params = pending
        client = await authority.get_client(grant.client_id)
        name = (client.client_name if client else None) or "An application"
        return name, grant.client_id, str(params.redirect_uri), params.state

    async def show(request: Request) -> Response:
        request_id = request.query_params.get("request", "")
        found = await context(request_id)
        if found is None:
            return _gone()
        client, client_id, redirect, _ = found
        return _page("Sign in", _form(request_id, client, client_id, redirect))

    async def submit(request: Request) -> Response:
        form = await request.form()
        request_id, name = str(form.get("request", "")), str(form.get("name", "")).strip()
        password, action = str(form.get("password", "")), str(form.get("action", ""))
        found = await context(request_id)
        if found is None:
            return _gone()
        client, client_id, redirect, state = found
        if action == "deny":
            await authority.deny(request_id)
            denied = construct_redirect_uri(redirect, error="access_denied", state=state, iss=authority.issuer_id)
            return RedirectResponse(denied, 303)
        # The address the request came from (X-Forwarded-For counts only from a proxy named in --trusted-proxy).
        address = request.client.host if request.client else ""
        keys, attempt = signin_keys(name, address), secrets.token_hex(16)
        # The attempt is counted before the password is checked: of many sent at once, only the allowed number
        # reach the check; the others are refused without costing a hash.
        wait = await authority.store.reserve_signin(attempt, keys, time.time(), WINDOW)
        if wait > 0:
            error = f"Too many failed sign-ins. Try again in {int(wait // 60) + 1} minutes."
            return _page("Sign in", _form(request_id, client, client_id, redirect, name=name, error=error), 429)
        if not checks:
            checks.append(anyio.CapacityLimiter(CHECKS))
        async with checks[0]:
            stored = await authority.store.account_password(name) if name else None
            valid = await anyio.to_thread.run_sync(verify_password, password, stored or decoy())
        if stored is None or not valid:
            logger.warning("failed sign-in for account %r from %s", name, address)
            error = "Wrong account name or password."
            return _page("Sign in", _form(request_id, client, client_id, redirect, name=name, error=error), 401)
        await authority.store.clear_signin(attempt, [keys[0][0]])  # it was no failure, and ends this run of them
        code = await authority.approve(request_id, name)
        if code is None:
            return _gone()
        # RFC 9207: `iss` names this server, so a client talking to several cannot be sent another's code.
        return RedirectResponse(construct_redirect_uri(redirect, code=code, state=state, iss=authority.issuer_id), 303)

    return [
        Route(SIGNIN_PATH, show, methods=["GET"]),
        Route(SIGNIN_PATH, submit, methods=["POST"]),
    ]
