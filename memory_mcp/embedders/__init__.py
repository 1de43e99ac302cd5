"""Embedders: the default (feature hashing + a shipped word table, numpy only), a local model, an OpenAI-style API."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio.to_thread

from ..config import DEFAULT_EMBED_DIM, Settings
from ..models import Meaning
from ..protocols import Embedder
from ..scoring import MEANING_WEIGHT, default_meaning_room, default_min_similarity, default_vector_weight
from ..search.ranker import Ranker, Weights, shipped, weights_file
from .combined import CombinedEmbedder
from .hash import HashEmbedder
from .static import StaticEmbedder

__all__ = [
    "CombinedEmbedder",
    "HashEmbedder",
    "StaticEmbedder",
    "default_embedder",
    "kind_of",
    "meaning_of",
    "meaning_room_for",
    "min_similarity_for",
    "open_embedder",
    "ranker_for",
    "vector_weight_for",
]


def default_embedder(dim: int = DEFAULT_EMBED_DIM) -> CombinedEmbedder:
    """The default: spelling (SHA-256 feature hashing, `dim` long) beside meaning (the shipped word table)."""
    return CombinedEmbedder([(HashEmbedder(dim), 1.0 - MEANING_WEIGHT), (StaticEmbedder(), MEANING_WEIGHT)])


def kind_of(embedder: Embedder) -> str:
    """The kind of an embedder, as the settings name it: hash, default, or (any other) model."""
    if isinstance(embedder, HashEmbedder):
        return "hash"
    return "default" if isinstance(embedder, CombinedEmbedder) else "model"


def meaning_of(embedder: Embedder) -> Meaning | None:
    """Where the embedder's vectors carry meaning, for search's meaning leg: the word table's columns of the
    default, a model's whole vector; None for feature hashing alone, which knows spelling, not meaning."""
    if isinstance(embedder, HashEmbedder):
        return None
    if isinstance(embedder, CombinedEmbedder):
        return next(
            (
                Meaning(start, stop, scale)
                for part, start, stop, scale in embedder.spans()
                if not isinstance(part, HashEmbedder)
            ),
            None,
        )
    return Meaning(0, embedder.dim)


def meaning_room_for(embedder: Embedder) -> int:
    """The places the meaning leg takes after the best result with this embedder (`scoring.default_meaning_room`)."""
    return default_meaning_room(kind_of(embedder))


def ranker_for(embedder: Embedder) -> Ranker | None:
    """Search's second stage for this embedder: weights fitted with it (the default's, or a local model's shipped
    beside them), with the word table for word-by-word alignment; None for an embedder no weights were fitted for,
    whose search keeps the fused score's order."""
    if isinstance(embedder, CombinedEmbedder):
        for part, _, _, _ in embedder.spans():
            if isinstance(part, StaticEmbedder):
                return Ranker(part)
        return None
    fitted = shipped(weights_file(embedder.id))
    return Ranker(StaticEmbedder(), Weights.load(fitted)) if fitted.is_file() else None


def vector_weight_for(embedder: Embedder) -> float:
    """The measured vector weight of the fused score for this embedder (see `scoring.default_vector_weight`)."""
    return default_vector_weight(kind_of(embedder))


def min_similarity_for(embedder: Embedder) -> float:
    """The cosine from which a memory counts as related, for this embedder (`scoring.default_min_similarity`)."""
    return default_min_similarity(kind_of(embedder))


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
