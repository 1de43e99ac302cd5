"""A scripted language model behind a real OpenAI-compatible `/chat/completions` endpoint on loopback."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Reply = tuple[int, dict[str, Any]]
"""An HTTP status and the JSON body to answer with."""


def answer(content: Any) -> Reply:
    """A chat-completions answer whose message text is `content` (JSON-encoded unless it is already a string)."""
    text = content if isinstance(content, str) else json.dumps(content)
    return 200, {"choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}]}


def refusal(reason: str) -> Reply:
    return 200, {"choices": [{"index": 0, "message": {"role": "assistant", "content": None, "refusal": reason}}]}


@contextmanager
def chat_server(script: Callable[[dict[str, Any]], Reply]) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """Serve `script` (request body -> reply) at http://127.0.0.1:PORT/v1; yields that base URL and the bodies of
    the requests received, in order."""
    received: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            assert self.path == "/v1/chat/completions", self.path
            received.append(body)
            status, reply = script(body)
            data = json.dumps(reply).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1", received
    finally:
        server.shutdown()
        server.server_close()
