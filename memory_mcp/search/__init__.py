"""Search: text analysis, the fused score's constants, the in-memory index and the engine's two retrievers."""

from __future__ import annotations

from .analyzer import Analyzer
from .in_store import StoreSearch
from .index import NumpyIndex
from .local import LocalSearch

__all__ = ["Analyzer", "LocalSearch", "NumpyIndex", "StoreSearch"]
