"""OpenAIEmbedder: vectors from any OpenAI-compatible `/v1/embeddings` endpoint (OpenAI, Ollama, vLLM, ...)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, Final, Self

import anyio
import httpx2
import numpy as np

from ..config import DEFAULT_OPENAI_BASE_URL, DEFAULT_OPENAI_MODEL
from ..errors import EmbeddingError
from ..models import Matrix, Vector

logger = logging.getLogger(__name__)

_RETRY_STATUS: Final = frozenset({408, 409, 425, 429, 500, 502, 503, 504})


class OpenAIEmbedder:
    """Embeds through an OpenAI-compatible HTTP API, in batches, with timeouts and retries with back-off.

    The vector length is learnt from the endpoint when the embedder connects, and every later answer
    is checked against it; vectors are L2-normalised so that cosine similarity is a dot product.
    """

    def __init__(
        self,
        *,
        base_url: str = DEFAULT_OPENAI_BASE_URL,
        model: str = DEFAULT_OPENAI_MODEL,
        api_key: str | None = None,
        timeout: float = 30.0,
        batch_size: int = 128,
        attempts: int = 4,
        backoff: float = 0.5,
        client: httpx2.AsyncClient | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.batch_size = batch_size
        self.attempts = attempts
        self.backoff = backoff
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = client or httpx2.AsyncClient(timeout=timeout, headers=headers)
        self._dim: int | None = None

    @classmethod
    async def connect(cls, **options: Any) -> Self:
        """An embedder whose vector length has been read from the endpoint (EmbeddingError if it is down)."""
        embedder = cls(**options)
        try:
            probe = await embedder._request(["dimension probe"])
        except BaseException:
            await embedder.aclose()
            raise
        embedder._dim = probe.shape[1]
        logger.info("embedding endpoint %s model %s: %d dimensions", embedder.base_url, embedder.model, embedder.dim)
        return embedder

    async def aclose(self) -> None:
        """Close the HTTP connection pool."""
        await self._client.aclose()

    @property
    def id(self) -> str:
        """``openai:<model>:<dim>``: another model or length is another embedder."""
        return f"openai:{self.model}:{self.dim}"

    @property
    def dim(self) -> int:
        """Length of every vector (known after `connect`)."""
        if self._dim is None:
            raise EmbeddingError("The embedder has not connected yet; use `await OpenAIEmbedder.connect(...)`.")
        return self._dim

    async def embed_documents(self, texts: Sequence[str]) -> Matrix:
        """Embed `texts` in batches of `batch_size`."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        parts = [await self._request(texts[i : i + self.batch_size]) for i in range(0, len(texts), self.batch_size)]
        return np.concatenate(parts)

    async def embed_query(self, text: str) -> Vector:
        """Embed one query."""
        vector: Vector = (await self._request([text]))[0]
        return vector

    async def _request(self, texts: Sequence[str]) -> Matrix:
        url = f"{self.base_url}/embeddings"
        delay = self.backoff
        for attempt in range(1, self.attempts + 1):
            try:
                response = await self._client.post(url, json={"model": self.model, "input": list(texts)})
            except httpx2.HTTPError as exc:  # refused, reset, timed out
                problem = f"{type(exc).__name__}: {exc}"
            else:
                if response.status_code == 200:
                    return self._vectors(response, len(texts))
                problem = f"HTTP {response.status_code}: {response.text[:300]}"
                if response.status_code not in _RETRY_STATUS:
                    raise EmbeddingError(
                        f"The embedding endpoint {url} refused the request ({problem}). Check the model name "
                        "(MEMORY_MCP_OPENAI_MODEL) and the API key (MEMORY_MCP_OPENAI_API_KEY)."
                    )
            if attempt < self.attempts:
                logger.warning("embedding request failed (%s); retry %d in %.1fs", problem, attempt, delay)
                await anyio.sleep(delay)
                delay *= 2
        raise EmbeddingError(
            f"The embedding endpoint {url} did not answer after {self.attempts} attempts ({problem}). "
            "Check that it is running and that MEMORY_MCP_OPENAI_BASE_URL points at it; nothing was changed."
        )

    def _vectors(self, response: httpx2.Response, count: int) -> Matrix:
        try:
            items = sorted(response.json()["data"], key=lambda item: item["index"])
            matrix = np.array([item["embedding"] for item in items], dtype=np.float32)
        except (ValueError, KeyError, TypeError) as exc:
            raise EmbeddingError(f"The embedding endpoint answered something that is not embeddings: {exc}.") from exc
        if matrix.ndim != 2 or matrix.shape[0] != count:
            raise EmbeddingError(f"The embedding endpoint returned {matrix.shape[0]} vectors for {count} texts.")
        if self._dim is not None and matrix.shape[1] != self._dim:
            raise EmbeddingError(
                f"The embedding endpoint returned vectors of length {matrix.shape[1]}, expected {self._dim}: "
                "the model behind it changed. Restart memory-mcp (with --reembed to convert stored memories)."
            )
        norms = np.linalg.norm(matrix, axis=1, keepdims=True)
        np.divide(matrix, norms, out=matrix, where=norms > 0)
        return matrix
