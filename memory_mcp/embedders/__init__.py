"""Embedders: the hash embedder (the default, numpy only), a local sentence-transformers model, an OpenAI-style API."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio.to_thread

from ..config import Settings
from ..protocols import Embedder
from .hash import HashEmbedder

__all__ = ["HashEmbedder", "open_embedder"]


@asynccontextmanager
async def open_embedder(settings: Settings) -> AsyncIterator[Embedder]:
    """The configured embedder, ready to use (an HTTP one has connected and learnt its vector length).

    The optional ones are imported only when chosen: the local model needs the [local] extra.
    """
    if settings.embedder == "openai":
        from .openai import OpenAIEmbedder

        remote = await OpenAIEmbedder.connect(
            base_url=settings.openai_base_url,
            model=settings.openai_model,
            api_key=settings.openai_api_key,
            timeout=settings.openai_timeout,
        )
        try:
            yield remote
        finally:
            await remote.aclose()
    elif settings.embedder == "local":
        from .local import LocalEmbedder

        yield await anyio.to_thread.run_sync(LocalEmbedder, settings.local_model)
    else:
        yield HashEmbedder(settings.embed_dim)
