"""OpenAIEmbedder against a small OpenAI-compatible server on loopback: batching, retries, clear failures."""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from mcp import Client, StdioServerParameters
from mcp.types import TextContent

from memory_mcp import open_engine
from memory_mcp.embedders import HashEmbedder
from memory_mcp.embedders.openai import OpenAIEmbedder
from memory_mcp.errors import EmbeddingError, StoreError
from memory_mcp.server import build_server

DIM = 32


@dataclass
class Endpoint:
    """What the fake endpoint does; tests change it while the server runs."""

    url: str = ""
    dim: int = DIM
    fail_next: int = 0  # answer 503 this many times first
    status: int = 200
    requests: list[dict[str, Any]] = field(default_factory=list)
    scale: float = 3.0  # answers are not unit length: the embedder must normalise


@pytest.fixture
def endpoint() -> Iterator[Endpoint]:
    state = Endpoint()
    hashing = HashEmbedder(DIM)

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:  # keep the test output clean
            pass

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            state.requests.append({"path": self.path, "auth": self.headers.get("Authorization"), **body})
            if state.fail_next > 0:
                state.fail_next -= 1
                self._answer(503, {"error": {"message": "overloaded"}})
            elif state.status != 200:
                self._answer(state.status, {"error": {"message": "invalid api key"}})
            else:
                vectors = HashEmbedder(state.dim).embed_many(body["input"]) if state.dim != DIM else None
                if vectors is None:
                    vectors = hashing.embed_many(body["input"])
                data = [
                    {"object": "embedding", "index": i, "embedding": (state.scale * vector).tolist()}
                    for i, vector in reversed(list(enumerate(vectors)))  # out of order: the index field counts
                ]
                self._answer(200, {"object": "list", "model": body["model"], "data": data})

        def _answer(self, status: int, payload: dict[str, Any]) -> None:
            raw = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()
    thread.join()


async def connect(endpoint: Endpoint, **options: Any) -> OpenAIEmbedder:
    return await OpenAIEmbedder.connect(
        base_url=endpoint.url, model="test-model", api_key="sk-test", backoff=0.01, **options
    )


async def test_connect_learns_the_dimension_and_vectors_are_unit_length(endpoint: Endpoint) -> None:
    embedder = await connect(endpoint)
    try:
        assert (embedder.dim, embedder.id) == (DIM, f"openai:test-model:{DIM}")
        vector = await embedder.embed_query("I love hiking")
        assert float(np.linalg.norm(vector)) == pytest.approx(1.0, abs=1e-5)
        np.testing.assert_allclose(vector, HashEmbedder(DIM).embed_one("I love hiking"), atol=1e-6)
    finally:
        await embedder.aclose()
    assert endpoint.requests[0]["path"] == "/v1/embeddings"
    assert endpoint.requests[0]["auth"] == "Bearer sk-test"
    assert endpoint.requests[0]["model"] == "test-model"


async def test_texts_are_sent_in_batches_and_come_back_in_order(endpoint: Endpoint) -> None:
    embedder = await connect(endpoint, batch_size=2)
    texts = ["one tea", "two coffee", "three hiking", "four alps", "five berlin"]
    try:
        matrix = await embedder.embed_documents(texts)
    finally:
        await embedder.aclose()
    assert [len(r["input"]) for r in endpoint.requests[1:]] == [2, 2, 1]
    np.testing.assert_allclose(matrix, HashEmbedder(DIM).embed_many(texts), atol=1e-6)


async def test_transient_failures_are_retried(endpoint: Endpoint) -> None:
    embedder = await connect(endpoint)
    endpoint.fail_next = 2
    try:
        await embedder.embed_query("tea")
    finally:
        await embedder.aclose()
    assert len(endpoint.requests) == 1 + 3  # probe, then two 503s and the success


async def test_an_endpoint_that_stays_down_is_a_clear_error(endpoint: Endpoint) -> None:
    embedder = await connect(endpoint, attempts=3)
    endpoint.fail_next = 10
    try:
        with pytest.raises(EmbeddingError, match=r"did not answer after 3 attempts \(HTTP 503"):
            await embedder.embed_query("tea")
    finally:
        await embedder.aclose()


async def test_nothing_listening_is_a_clear_error_at_start() -> None:
    with pytest.raises(EmbeddingError, match="MEMORY_MCP_OPENAI_BASE_URL"):
        await OpenAIEmbedder.connect(base_url="http://127.0.0.1:9/v1", attempts=2, backoff=0.01, timeout=2)


async def test_a_refusal_is_not_retried_and_names_the_fix(endpoint: Endpoint) -> None:
    endpoint.status = 401
    with pytest.raises(EmbeddingError, match=r"HTTP 401.*MEMORY_MCP_OPENAI_API_KEY"):
        await connect(endpoint)
    assert len(endpoint.requests) == 1


async def test_a_changed_dimension_is_refused(endpoint: Endpoint) -> None:
    embedder = await connect(endpoint)
    endpoint.dim = 16
    try:
        with pytest.raises(EmbeddingError, match="length 16, expected 32"):
            await embedder.embed_documents(["tea"])
    finally:
        await embedder.aclose()


async def test_the_engine_searches_with_it_and_a_failure_stores_nothing(endpoint: Endpoint, db_path: Path) -> None:
    embedder = await connect(endpoint, attempts=2)
    try:
        async with open_engine(db_path, embedder=embedder) as engine:
            async with Client(build_server(engine)) as client:
                added = await client.call_tool("add_memory", {"user_id": "u", "text": "I love hiking in the Alps"})
                assert added.is_error is False
                found = await client.call_tool("search_memory", {"user_id": "u", "query": "hiking"})
                assert found.structured_content is not None
                assert found.structured_content["results"][0]["text"] == "I love hiking in the Alps"
                endpoint.fail_next = 10
                failed = await client.call_tool("add_memory", {"user_id": "u", "text": "Allergic to peanuts"})
            assert failed.is_error is True
            [content] = failed.content
            assert isinstance(content, TextContent)
            assert "did not answer" in content.text
            assert await engine.count(engine.scope("u")) == 1
    finally:
        await embedder.aclose()


async def test_switching_from_the_hash_embedder_needs_reembed(endpoint: Endpoint, db_path: Path) -> None:
    async with open_engine(db_path) as engine:
        await engine.add("I love hiking in the Alps", engine.scope("u"))
    embedder = await connect(endpoint)
    try:
        with pytest.raises(StoreError, match="--reembed"):
            async with open_engine(db_path, embedder=embedder):
                pass
        async with open_engine(db_path, embedder=embedder, reembed=True) as engine:
            [hit] = await engine.search("hiking", engine.scope("u"))
            assert hit.memory.text == "I love hiking in the Alps"
    finally:
        await embedder.aclose()


async def test_the_console_script_uses_it_when_configured(endpoint: Endpoint, tmp_path: Path) -> None:
    command = Path(sys.executable).parent / "memory-mcp"
    env = {
        "MEMORY_MCP_DB": str(tmp_path / "m.db"),
        "MEMORY_MCP_EMBEDDER": "openai",
        "MEMORY_MCP_OPENAI_BASE_URL": endpoint.url,
        "MEMORY_MCP_OPENAI_MODEL": "test-model",
        "OPENAI_API_KEY": "sk-from-env",
    }
    async with Client(StdioServerParameters(command=str(command), env=env)) as client:
        await client.call_tool("add_memory", {"user_id": "u", "text": "Prefers window seats"})
    assert {r["auth"] for r in endpoint.requests} == {"Bearer sk-from-env"}
    assert any(r["input"] == ["Prefers window seats"] for r in endpoint.requests)
