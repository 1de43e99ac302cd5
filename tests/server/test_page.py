"""The memories page in a real headless Chromium, used as a person would: sign in (OAuth), see a memory added
through the REST API, search as you type, edit, delete and undo, read the history, sign out. Screenshots are saved
(to $MEMORY_MCP_SCREENSHOTS, else the test's folder)."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest

from ..helpers.browser import BROWSER, Browser, needs_browser, shots
from ..helpers.servers import ALICE, COMMAND, free_port, launch, start
from ..helpers.signin import PASSWORDS, add_account

pytestmark = needs_browser


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Browser]:
    assert BROWSER is not None, "MEMORY_MCP_REQUIRE_BROWSER is set but no Chromium is installed"
    opened = Browser(BROWSER, tmp_path / "profile")
    try:
        yield opened
    finally:
        opened.close()


def visible(selector: str) -> str:
    return f"(e => e && !e.hidden && !e.closest('[hidden]'))(document.querySelector({json.dumps(selector)}))"


def texts() -> str:
    return "[...document.querySelectorAll('#memories .text')].map(e => e.textContent)"


def test_sign_in_see_search_edit_delete_undo_and_sign_out(tmp_path: Path, browser: Browser) -> None:
    assert add_account(tmp_path / "http.db", "alice", PASSWORDS["alice"]).returncode == 0
    tokens = tmp_path / "tokens.json"
    tokens.write_text(json.dumps({ALICE: "alice"}))
    process, base = start(tmp_path, env={"MEMORY_MCP_TOKENS_FILE": str(tokens)})
    rest = httpx2.Client(base_url=f"{base}/api/v1", headers={"Authorization": f"Bearer {ALICE}"}, timeout=10)
    try:
        browser.open(f"{base}/")
        browser.wait(visible("#signin-button"))
        browser.screenshot(shots(tmp_path) / "1-signed-out.png")
        browser.click("#signin-button")
        browser.wait("location.pathname === '/signin' && document.readyState === 'complete'")
        assert "The memories page of this server" in browser.run("document.body.innerText")
        browser.type_into("#name", "alice")
        browser.type_into("#password", PASSWORDS["alice"])
        browser.screenshot(shots(tmp_path) / "2-sign-in.png")
        browser.click("button[value=allow]")
        browser.wait(visible("#app"))
        assert browser.run("location.search") == ""  # the code left the address bar
        browser.wait("document.querySelector('#who').textContent === 'Signed in as alice'")

        added = rest.post("/memories", json={"text": "Alice loves Thai green curry", "metadata": {"topic": "food"}})
        assert added.status_code == 201
        rest.post("/memories", json={"text": "Alice's sister Anna lives in Oslo", "metadata": {"topic": "family"}})
        browser.open(f"{base}/")
        browser.wait(f"{texts()}.length === 2")
        assert browser.run(texts()) == ["Alice's sister Anna lives in Oslo", "Alice loves Thai green curry"]
        assert "food" in browser.wait("document.querySelector('#by-topic').innerText")

        browser.type_into("#search", "curry")
        browser.wait("document.querySelector('#list-title').textContent.includes('curry')")
        assert browser.run(texts())[0] == "Alice loves Thai green curry"  # best first; weak ones may follow, marked
        scores = browser.run("[...document.querySelectorAll('#memories .score')].map(e => e.textContent)")
        assert scores[0].startswith("score 0.")
        assert "match" not in scores[0]
        assert all("weak match" in score for score in scores[1:])
        browser.screenshot(shots(tmp_path) / "3-search.png")

        browser.click("#memories .edit")
        browser.type_into("#memories .editor textarea", "Alice loves Thai red curry")
        browser.click("#memories .editor button[type=submit]")
        browser.wait(f"{texts()}.includes('Alice loves Thai red curry')")
        assert [m["text"] for m in rest.get("/memories").json()["memories"]].count("Alice loves Thai red curry") == 1

        browser.click("#memories .history")
        history = browser.wait("document.querySelector('#memories .changes li:nth-child(2)')?.textContent")
        assert "UPDATE" in history

        browser.click("#memories .delete")
        browser.wait("document.querySelector('#status').textContent.startsWith('Deleted')")
        assert rest.get("/memories").json()["total"] == 1
        browser.click("#status button")
        browser.wait("document.querySelector('#status').textContent === 'Restored.'")
        assert sorted(m["text"] for m in rest.get("/memories").json()["memories"]) == [
            "Alice loves Thai red curry",
            "Alice's sister Anna lives in Oslo",
        ]

        browser.run("document.querySelector('#search').select()")
        browser.send(
            "Input.dispatchKeyEvent",
            {"type": "keyDown", "key": "Backspace", "code": "Backspace", "windowsVirtualKeyCode": 8},
            session=True,
        )
        browser.send(
            "Input.dispatchKeyEvent",
            {"type": "keyUp", "key": "Backspace", "code": "Backspace", "windowsVirtualKeyCode": 8},
            session=True,
        )
        browser.wait("document.querySelector('#list-title').textContent === 'Newest first (2 in all)'")
        browser.screenshot(shots(tmp_path) / "4-memories.png")

        token = browser.run("sessionStorage.getItem('memory-access')")
        assert httpx2.get(f"{base}/api/v1/memories", headers={"Authorization": f"Bearer {token}"}).status_code == 200
        browser.click("#signout")
        browser.wait(visible("#signin-button"))
        assert httpx2.get(f"{base}/api/v1/memories", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    finally:
        rest.close()
        process.terminate()
        process.wait(timeout=10)


def test_the_ui_command_shows_ones_own_memories_without_sign_in(tmp_path: Path, browser: Browser) -> None:
    db = tmp_path / "m.db"
    subprocess.run(
        [str(COMMAND), "add", "Sam keeps bees", "--user", "sam", "--db", str(db)], check=True, capture_output=True
    )
    port = free_port()
    process, base = launch(
        [str(COMMAND), "ui", "--no-browser", "--port", str(port), "--db", str(db), "-u", "sam"], {}, port
    )
    try:
        browser.open(f"{base}/")
        browser.wait(f"{texts()}.length === 1")
        assert browser.run(texts()) == ["Sam keeps bees"]
        assert browser.run("document.querySelector('#who').textContent") == "Memories of sam"
        browser.type_into("#add-text", "Sam's hives are by the orchard")
        browser.type_into("#add-topic", "bees")
        browser.click("#add-form button[type=submit]")
        browser.wait(f"{texts()}.length === 2")
        assert browser.run("document.querySelector('#signout').hidden") is True
    finally:
        process.terminate()
        process.wait(timeout=10)
    listed = subprocess.run(
        [str(COMMAND), "list", "--user", "sam", "--json", "--db", str(db)], check=True, capture_output=True, text=True
    )
    assert "Sam's hives are by the orchard" in listed.stdout


def test_the_page_loads_nothing_from_another_origin(tmp_path: Path) -> None:
    port = free_port()
    process, base = launch(
        [str(COMMAND), "ui", "--no-browser", "--port", str(port), "--db", str(tmp_path / "m.db")], {}, port
    )
    try:
        page = httpx2.get(f"{base}/", timeout=10)
        assert "default-src 'none'" in page.headers["content-security-policy"]
        assert "http" not in page.text.replace(base, "").split("<body")[0]  # every asset is local
        for asset in ("app.js", "app.css"):
            assert httpx2.get(f"{base}/web/{asset}", timeout=10).status_code == 200
        assert httpx2.get(f"{base}/web/../app.py", timeout=10).status_code == 404
    finally:
        process.terminate()
        process.wait(timeout=10)
