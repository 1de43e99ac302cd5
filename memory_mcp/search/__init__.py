"""Search: text analysis, the fused score's constants, the in-memory index and the engine's retrievers."""

from __future__ import annotations

from .analyzer import Analyzer
from .in_store import StoreSearch
from .index import NumpyIndex
from .local import LocalSearch
from .no_search import NoSearch

__all__ = ["Analyzer", "LocalSearch", "NoSearch", "NumpyIndex", "StoreSearch"]
