"""DNS rebinding in a real headless Chromium: a page served under another name that resolves to this machine
(a host-resolver rule stands in for the attacker's DNS) can neither read nor change memories."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest

from ..helpers.browser import BROWSER, Browser, needs_browser
from ..helpers.servers import port_of, ui_server

pytestmark = needs_browser


@pytest.fixture
def rebinding_browser(tmp_path: Path) -> Iterator[Browser]:
    assert BROWSER is not None, "MEMORY_MCP_REQUIRE_BROWSER is set but no Chromium is installed"
    opened = Browser(BROWSER, tmp_path / "profile", "--host-resolver-rules=MAP rebind.test 127.0.0.1")
    try:
        yield opened
    finally:
        opened.close()


def test_a_rebound_page_can_neither_read_add_nor_delete(tmp_path: Path, rebinding_browser: Browser) -> None:
    """The attack of the report, in the browser: http://rebind.test:PORT is this server by DNS, so its scripts are
    same-origin with it. Every fetch they make is refused (421), and the memories stay as they were."""
    process, base = ui_server(tmp_path)
    try:
        added = httpx2.post(f"{base}/api/v1/memories", json={"text": "Alice keeps bees"}, timeout=10)
        assert added.status_code == 201
        memory_id = added.json()["id"]
        port = port_of(base)
        rebinding_browser.open(f"http://rebind.test:{port}/")
        assert "does not answer to the host name 'rebind.test'" in rebinding_browser.run("document.body.innerText")
        rebinding_browser.screenshot(tmp_path / "screenshots" / "rebind-refused.png")
        read = rebinding_browser.run(
            "fetch('/api/v1/memories?user_id=alice').then(r => r.status + ' ' + r.headers.get('content-type'))"
        )
        assert read == "421 application/problem+json"
        planted = rebinding_browser.run(
            "fetch('/api/v1/memories', {method: 'POST', headers: {'Content-Type': 'application/json'},"
            " body: JSON.stringify({text: 'planted by a page'})}).then(r => r.status)"
        )
        assert planted == 421
        deleted = rebinding_browser.run(
            f"fetch('/api/v1/memories/{memory_id}', {{method: 'DELETE'}}).then(r => r.status)"
        )
        assert deleted == 421
        # Seen through the right name, the page works and nothing changed.
        rebinding_browser.open(f"http://127.0.0.1:{port}/")
        listed = rebinding_browser.run(
            "fetch('/api/v1/memories').then(r => r.json()).then(page => page.memories.map(m => m.text))"
        )
        assert listed == ["Alice keeps bees"]
    finally:
        process.terminate()
        process.wait(timeout=30)
