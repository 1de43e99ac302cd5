"""OpenAIChat: a language model behind any OpenAI-compatible `/chat/completions` endpoint (Ollama, LM Studio, vLLM,
OpenAI), asked for JSON that fits a schema, with timeouts and retries with back-off."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final

import anyio

from .errors import LanguageModelError

if TYPE_CHECKING:
    import httpx2  # loaded when a model is made: the command line starts without it

logger = logging.getLogger(__name__)

_RETRY_STATUS: Final = frozenset({408, 409, 425, 429, 500, 502, 503, 504})


class OpenAIChat:
    """Asks an OpenAI-compatible chat endpoint, temperature 0, for an answer in a JSON schema (`response_format`
    json_schema, strict); the answer is returned as text for the caller to parse strictly."""

    def __init__(
        self,
        *,
        base_url: str,
        model: str,
        api_key: str | None = None,
        timeout: float = 60.0,
        attempts: int = 3,
        backoff: float = 0.5,
        client: httpx2.AsyncClient | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.attempts = attempts
        self.backoff = backoff
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        if client is None:
            import httpx2

            client = httpx2.AsyncClient(timeout=timeout, headers=headers)
        self._client = client

    async def aclose(self) -> None:
        """Close the HTTP client."""
        await self._client.aclose()

    @property
    def name(self) -> str:
        """The model and where it answers, for messages."""
        return f"{self.model} at {self.base_url}"

    async def complete(self, system: str, prompt: str, schema: Mapping[str, Any], name: str) -> str:
        """The model's answer to `prompt` under `system`, asked to fit `schema` (called `name`)."""
        body = {
            "model": self.model,
            "temperature": 0,
            "messages": [{"role": "system", "content": system}, {"role": "user", "content": prompt}],
            "response_format": {"type": "json_schema", "json_schema": {"name": name, "schema": schema, "strict": True}},
        }
        import httpx2

        delay = self.backoff
        for attempt in range(1, self.attempts + 1):
            try:
                response = await self._client.post(f"{self.base_url}/chat/completions", json=body)
            except httpx2.HTTPError as exc:
                problem = f"{type(exc).__name__}: {exc}"
            else:
                if response.status_code not in _RETRY_STATUS:
                    return self._answer(response)
                problem = f"HTTP {response.status_code}"
            if attempt == self.attempts:
                raise LanguageModelError(
                    f"The language model {self.name} did not answer ({problem}, {self.attempts} attempts); "
                    "nothing was stored. Check MEMORY_MCP_LLM_BASE_URL, or add the facts with add_memory."
                )
            logger.warning("language model request failed (%s); retry %d in %.1fs", problem, attempt, delay)
            await anyio.sleep(delay)
            delay *= 2
        raise AssertionError("unreachable")

    def _answer(self, response: httpx2.Response) -> str:
        if response.status_code != 200:
            raise LanguageModelError(
                f"The language model {self.name} answered HTTP {response.status_code}: {response.text[:300]}; "
                "nothing was stored."
            )
        try:
            message = response.json()["choices"][0]["message"]
        except (ValueError, KeyError, IndexError, TypeError):
            raise LanguageModelError(
                f"The language model {self.name} answered in no chat-completions shape; nothing was stored."
            ) from None
        if message.get("refusal"):
            raise LanguageModelError(f"The language model refused: {message['refusal']}; nothing was stored.")
        content = message.get("content")
        if not isinstance(content, str):
            raise LanguageModelError(f"The language model {self.name} answered without text; nothing was stored.")
        return content
