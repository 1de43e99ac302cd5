"""A real headless Chromium driven over the DevTools protocol on a pipe (no driver, no download): open pages,
type as a person does, read the page, save screenshots."""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

CANDIDATES = ("chromium", "chromium-browser", "google-chrome")


def chromium() -> str | None:
    """The browser's command, when one is installed (Debian: apt-get install chromium)."""
    return next((found for name in CANDIDATES if (found := shutil.which(name))), None)


class Browser:
    """One headless Chromium with one tab. Commands go in on fd 3 and answers come out on fd 4, NUL-separated."""

    def __init__(self, command: str, profile: Path, *extra: str) -> None:
        to_browser, self._commands = os.pipe()
        self._answers, from_browser = os.pipe()

        def wire() -> None:  # in the child: its fds 3 and 4 become the pipe ends (moved above 10 first)
            inlet, outlet = fcntl.fcntl(to_browser, fcntl.F_DUPFD, 10), fcntl.fcntl(from_browser, fcntl.F_DUPFD, 10)
            os.dup2(inlet, 3)
            os.dup2(outlet, 4)

        self.process = subprocess.Popen(
            [
                command,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--disable-extensions",
                "--remote-debugging-pipe",
                f"--user-data-dir={profile}",
                "--window-size=1000,1100",
                *extra,
                "about:blank",
            ],
            preexec_fn=wire,
            pass_fds=(3, 4),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        os.close(to_browser)
        os.close(from_browser)
        self._buffer = b""
        self._next = 0
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        self.session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        self.send("Page.enable", session=True)
        self.send("Runtime.enable", session=True)

    def send(self, method: str, params: dict[str, Any] | None = None, *, session: bool = False) -> dict[str, Any]:
        self._next += 1
        message: dict[str, Any] = {"id": self._next, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = self.session
        os.write(self._commands, json.dumps(message).encode() + b"\0")
        while True:
            answer = self._read()
            if answer.get("id") == self._next:
                if "error" in answer:
                    raise RuntimeError(f"{method}: {answer['error']}")
                result: dict[str, Any] = answer.get("result", {})
                return result

    def _read(self) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            chunk = os.read(self._answers, 1 << 20)
            if not chunk:
                raise RuntimeError("the browser closed its pipe")
            self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\0")
        parsed: dict[str, Any] = json.loads(line)
        return parsed

    def open(self, url: str) -> None:
        self.send("Page.navigate", {"url": url}, session=True)
        self.wait("document.readyState === 'complete'")

    def run(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page (promises awaited)."""
        answer = self.send(
            "Runtime.evaluate", {"expression": expression, "awaitPromise": True, "returnByValue": True}, session=True
        )
        if "exceptionDetails" in answer:
            raise RuntimeError(f"{expression}: {answer['exceptionDetails']}")
        return answer["result"].get("value")

    def wait(self, condition: str, timeout: float = 15.0) -> Any:
        """Wait until a JavaScript expression is truthy; its value."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                value = self.run(condition)
            except RuntimeError:  # the page is navigating
                value = None
            if value:
                return value
            if time.monotonic() > deadline:
                raise TimeoutError(f"waited {timeout} s for: {condition}")
            time.sleep(0.1)

    def type_into(self, selector: str, text: str) -> None:
        """Focus a field and type into it with the keyboard (the browser's own input events)."""
        self.run(f"document.querySelector({json.dumps(selector)}).focus()")
        self.run(f"document.querySelector({json.dumps(selector)}).select?.()")
        self.send("Input.insertText", {"text": text}, session=True)

    def click(self, selector: str) -> None:
        self.run(f"document.querySelector({json.dumps(selector)}).click()")

    def screenshot(self, path: Path) -> Path:
        data = self.send("Page.captureScreenshot", {"format": "png"}, session=True)["data"]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(data))
        return path

    def close(self) -> None:
        with contextlib.suppress(RuntimeError, OSError):
            self.send("Browser.close")
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        os.close(self._commands)
        os.close(self._answers)


def shots(tmp_path: Path) -> Path:
    """Where a test saves its screenshots: $MEMORY_MCP_SCREENSHOTS, else the test's folder."""
    return Path(os.environ.get("MEMORY_MCP_SCREENSHOTS") or tmp_path / "screenshots")


BROWSER = chromium()
"""The browser the page tests drive (None where none is installed)."""
needs_browser: pytest.MarkDecorator = pytest.mark.skipif(
    BROWSER is None and not os.environ.get("MEMORY_MCP_REQUIRE_BROWSER"),
    reason="no Chromium here (apt-get install chromium); .ci/run installs it and requires these tests",
)
"""Skip a test without a browser, unless MEMORY_MCP_REQUIRE_BROWSER is set (as in CI): then it fails instead."""
