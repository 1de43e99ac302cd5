"""HTTP servers as a person starts them, for the tests: the command, two tokens, a free port, a start that waits
for /health, and an MCP client that sends a token."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

COMMAND = Path(sys.executable).parent / "memory-mcp"
ALICE, BOB = "alice-token-7f3a9c2e51b84d06", "bob-token-0c4e8a1f93d27b65"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def start(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    command = [str(COMMAND), "--transport", "http", "--port", str(port), *args]
    return launch(command, {"MEMORY_MCP_DB": str(tmp_path / "http.db"), "MEMORY_MCP_TOOLS": "all", **(env or {})}, port)


def launch(
    command: list[str], env: dict[str, str], port: int, stderr: Any = subprocess.DEVNULL
) -> tuple[subprocess.Popen[bytes], str]:
    """Start an HTTP server process (its log to `stderr`) and wait until its /health answers on 127.0.0.1:`port`."""
    process = subprocess.Popen(command, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=stderr)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx2.get(f"{base}/health", timeout=1).status_code == 200:
                return process, base
        except httpx2.HTTPError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(f"the HTTP server did not start (exit code {process.poll()})")
        time.sleep(0.1)


@asynccontextmanager
async def client(base: str, token: str) -> AsyncIterator[Client]:
    """An MCP client whose every request carries `token`."""
    async with (
        httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=30) as http,
        Client(streamable_http_client(f"{base}/mcp", http_client=http)) as connected,
    ):
        yield connected


def port_of(base: str) -> int:
    """The port of a server's base URL."""
    return int(base.rsplit(":", 1)[1])


def ui_server(tmp_path: Path) -> tuple[subprocess.Popen[bytes], str]:
    """`memory-mcp ui --no-browser` as a person starts it: alice's memories, no sign-in."""
    port = free_port()
    command = [str(COMMAND), "ui", "--no-browser", "--port", str(port), "--user", "alice"]
    return launch(command, {"MEMORY_MCP_DB": str(tmp_path / "ui.db"), "HOME": str(tmp_path)}, port)
