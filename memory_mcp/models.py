"""Domain records of memory-mcp: scopes, memories, search hits, pages and history entries; no I/O."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal, NamedTuple, NewType

MemoryId = NewType("MemoryId", str)
if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    Vector = npt.NDArray[np.float32]
    """One embedding: a 1-D float32 array."""
    Matrix = npt.NDArray[np.float32]
    """Embeddings as rows: a 2-D float32 array."""
else:  # the aliases are for the type checker: numpy loads where arrays are made, so records alone stay light
    Vector = Matrix = Any
Metadata = dict[str, Any]
"""A JSON object of the caller's own fields."""

HistoryEvent = Literal["ADD", "UPDATE", "DELETE"]
Cursor = tuple[str, str]
"""A position in a newest-first listing: (created_at, id) of the last memory seen."""


def now() -> str:
    """The current UTC time as a fixed-width ISO 8601 string (sorts like the time itself)."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True)
class Scope:
    """Who a memory belongs to: a user, optionally narrowed to one agent and/or one run (mem0 semantics), and
    everywhere or in one project (a workspace).

    On a write, `project=None` keeps the memory for the user everywhere (a general memory). On a read,
    `project=None` sees every project's memories and the general ones; a project sees the general memories
    plus its own, never another project's. Agent and run narrow a read to exactly that agent or run.
    """

    user_id: str
    agent_id: str | None = None
    run_id: str | None = None
    project: str | None = None

    def contains(self, other: Scope) -> bool:
        """True when a memory stored under `other` is visible from this scope."""
        return (
            self.user_id == other.user_id
            and (self.agent_id is None or self.agent_id == other.agent_id)
            and (self.run_id is None or self.run_id == other.run_id)
            and (self.project is None or other.project is None or self.project == other.project)
        )


@dataclass(frozen=True)
class Memory:
    """One stored memory. Timestamps are ISO 8601 UTC strings."""

    id: MemoryId
    text: str
    scope: Scope
    metadata: Metadata
    created_at: str
    updated_at: str


@dataclass(frozen=True)
class AddResult:
    """The outcome of an add: the stored memory (or the one that made storing it needless), whether it is new,
    and the memories of the scope that resemble it, most alike first."""

    memory: Memory
    created: bool
    similar: tuple[Similar, ...] = ()
    skipped: bool = False
    """True when nothing was stored because a near-duplicate exists (`memory` is that one)."""


@dataclass(frozen=True)
class Similar:
    """A stored memory that resembles a new one: `duplicate` when it likely states the same fact, `related` when it
    is likely about the same thing (and may say something else, e.g. an older state)."""

    memory: Memory
    score: float
    kind: Literal["duplicate", "related"]


@dataclass(frozen=True)
class BatchItem:
    """The outcome of one item of a batch add: added, a no-op duplicate, or an error that names the problem."""

    status: Literal["added", "noop", "error"]
    memory: Memory | None = None
    error: str | None = None


@dataclass(frozen=True)
class SearchHit:
    """A memory found by search, with its fused score (higher is closer) and how well it matches.

    `match` is "strong" when the memory shares a distinctive word with the query or is close to it in
    meaning, "weak" when it is only the best the scope holds (search found nothing related and returned
    its nearest memories anyway, so that the caller can judge).
    """

    memory: Memory
    score: float
    match: Literal["strong", "weak"] = "strong"


class IndexHit(NamedTuple):
    """A search index's answer: the fused score and the two parts it is made of."""

    id: MemoryId
    score: float
    keyword: float
    """Share of the query's weighted terms the memory matches (BM25, saturated), from 0 to 1."""
    similarity: float
    """Cosine similarity of the embeddings, from -1 to 1."""


class Row(NamedTuple):
    """A memory as the engine hands it to a store and a search: with its text's hash, vector and search terms."""

    memory: Memory
    content_hash: str
    """SHA-256 of the normalised text: one scope never holds two memories with the same."""
    vector: Vector
    terms: Sequence[str]
    """The analysed search terms of the text, in order, with repeats (for the keyword leg)."""


@dataclass(frozen=True)
class IndexRows:
    """A batch of stored memories as an in-process index loads them: ids, scopes, vectors (rows) and texts."""

    ids: list[MemoryId]
    scopes: list[Scope]
    vectors: Matrix
    texts: list[str]


@dataclass(frozen=True)
class Page:
    """One page of a listing, newest first; `next_cursor` is None on the last page."""

    memories: list[Memory]
    next_cursor: str | None
    total: int


@dataclass(frozen=True)
class HistoryEntry:
    """One recorded change of a memory."""

    memory_id: MemoryId
    event: HistoryEvent
    old_text: str | None
    new_text: str | None
    old_metadata: Metadata | None
    new_metadata: Metadata | None
    created_at: str


@dataclass(frozen=True)
class UserSummary:
    """What one user has stored: how many memories, from when to when, across how many agents and runs."""

    user_id: str
    memories: int
    oldest: str | None
    newest: str | None
    agents: int
    runs: int


@dataclass(frozen=True)
class MemoryRecord:
    """A memory as it travels between databases: with its vector (if kept) and its change history."""

    memory: Memory
    vector: Vector | None = None
    history: tuple[HistoryEntry, ...] = ()


@dataclass(frozen=True)
class Limits:
    """Input limits the engine enforces. All but `max_filter_nodes` and `id_max_chars` are settings
    (`MEMORY_MCP_MAX_*`); those two are fixed, and only code that builds a `Limits` itself can change them."""

    max_text_chars: int = 10_000
    max_metadata_bytes: int = 16_384
    max_metadata_depth: int = 8
    max_results: int = 100
    max_filter_nodes: int = 64
    max_batch: int = 1_000
    id_max_chars: int = 128
