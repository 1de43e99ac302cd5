"""Embedders: the default (feature hashing + a shipped word table, numpy only), a local model, an OpenAI-style API."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio.to_thread

from ..config import DEFAULT_EMBED_DIM, MEANING_WEIGHT, Settings, default_vector_weight
from ..protocols import Embedder
from .combined import CombinedEmbedder
from .hash import HashEmbedder
from .static import StaticEmbedder

__all__ = [
    "CombinedEmbedder",
    "HashEmbedder",
    "StaticEmbedder",
    "default_embedder",
    "open_embedder",
    "vector_weight_for",
]


def default_embedder(dim: int = DEFAULT_EMBED_DIM) -> CombinedEmbedder:
    """The default: spelling (SHA-256 feature hashing, `dim` long) beside meaning (the shipped word table)."""
    return CombinedEmbedder([(HashEmbedder(dim), 1.0 - MEANING_WEIGHT), (StaticEmbedder(), MEANING_WEIGHT)])


def vector_weight_for(embedder: Embedder) -> float:
    """The measured vector weight of the fused score for this embedder (see `config.default_vector_weight`)."""
    if isinstance(embedder, HashEmbedder):
        return default_vector_weight("hash")
    if isinstance(embedder, CombinedEmbedder):
        return default_vector_weight("default")
    return default_vector_weight("model")


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
    elif settings.embedder == "hash":
        yield HashEmbedder(settings.embed_dim)
    else:
        yield default_embedder(settings.embed_dim)
