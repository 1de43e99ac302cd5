"""Domain records of memory-mcp: scopes, memories, search hits, pages and history entries; no I/O."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final, Literal, NamedTuple, NewType

MemoryId = NewType("MemoryId", str)
if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    from .filters import Filter

    Vector = npt.NDArray[np.float32]
    """One embedding: a 1-D float32 array."""
    Matrix = npt.NDArray[np.float32]
    """Embeddings as rows: a 2-D float32 array."""
else:  # the aliases are for the type checker: numpy loads where arrays are made, so records alone stay light
    Vector = Matrix = Any
Metadata = dict[str, Any]
"""A JSON object of the caller's own fields."""

HistoryEvent = Literal["ADD", "UPDATE", "DELETE", "SUPERSEDE"]
LINK_TYPES: Final = ("relates_to", "supersedes", "contradicts", "part_of")
"""The link types the tools suggest; any other short label is allowed too."""
Cursor = tuple[str, str]
"""A position in a newest-first listing: (created_at, id) of the last memory seen."""


def new_id() -> MemoryId:
    """A fresh memory id: a random UUID. (A time-ordered one, version 7, made inserts ~15% faster by keeping the
    indexes on ids growing at one end, but memories added the same minute then share their first 8 characters:
    the short ids people type would be ambiguous.)"""
    return MemoryId(str(uuid.uuid4()))


_ISO: Final = "%Y-%m-%dT%H:%M:%S.%fZ"


def now() -> str:
    """The current UTC time as a fixed-width ISO 8601 string (sorts like the time itself)."""
    return datetime.now(UTC).strftime(_ISO)


def iso_time(epoch: float) -> str:
    """A moment (seconds since the epoch) in the form of `now`."""
    return datetime.fromtimestamp(epoch, UTC).strftime(_ISO)


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
    """One stored memory. Timestamps are ISO 8601 UTC strings.

    A memory is true from `valid_from` (when stored, unless the caller said it started earlier) until
    `valid_to`: open (None) while current, set when a newer memory (`superseded_by`) replaced it. `entities`
    are the names of the people, places or things it is about, as given.
    """

    id: MemoryId
    text: str
    scope: Scope
    metadata: Metadata
    created_at: str
    updated_at: str
    valid_from: str = ""
    """Empty means "since it was stored" and reads back as `created_at`."""
    valid_to: str | None = None
    superseded_by: MemoryId | None = None
    entities: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.valid_from:
            object.__setattr__(self, "valid_from", self.created_at)

    @property
    def current(self) -> bool:
        """True until a newer memory supersedes this one."""
        return self.valid_to is None


@dataclass(frozen=True)
class Validity:
    """Which memories a read sees by time: the current ones (the default), every one (`include_superseded`), or
    those that were true at `as_of` (an ISO time in our fixed-width form; superseded ones included)."""

    as_of: str | None = None
    include_superseded: bool = False

    @property
    def current_only(self) -> bool:
        """True for the default view: memories no newer one has superseded."""
        return self.as_of is None and not self.include_superseded

    def admits(self, memory: Memory) -> bool:
        """True when `memory` belongs to this view."""
        if self.as_of is not None:
            return memory.valid_from <= self.as_of and (memory.valid_to is None or self.as_of < memory.valid_to)
        return self.include_superseded or memory.valid_to is None


CURRENT: Final = Validity()
"""The default view: current memories only."""


@dataclass(frozen=True)
class Link:
    """A typed, directed link between two memories of one user (e.g. a newer fact `supersedes` an older one)."""

    source_id: MemoryId
    target_id: MemoryId
    type: str
    metadata: Metadata
    created_at: str


class Listed(NamedTuple):
    """A memory as a listing or a count reads it: no text, just what filters and groups look at."""

    id: MemoryId
    position: Cursor
    metadata: Metadata
    valid_from: str
    entities: tuple[str, ...]


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
    """The outcome of one item of a batch add: added, a no-op duplicate, skipped as a near-duplicate, or an error
    that names the problem; with the stored memories it resembles (when the batch compared them)."""

    status: Literal["added", "noop", "skipped", "error"]
    memory: Memory | None = None
    error: str | None = None
    similar: tuple[Similar, ...] = ()


@dataclass(frozen=True)
class SearchHit:
    """A memory found by search, with its fused score (higher is closer) and how well it matches.

    `match` is "strong" when the memory shares a distinctive word with the query or is close to it in
    meaning, "meaning" when it is among the closest in meaning alone and was placed near the top so that
    memories sharing only common words with the query do not bury it (its score, lower, is kept), "weak" when
    it is only the best the scope holds (search found nothing related and returned its nearest memories
    anyway, so that the caller can judge), "linked" when it was not found by the query but is linked to a
    memory that was (its score is that memory's).
    """

    memory: Memory
    score: float
    match: Literal["strong", "meaning", "weak", "linked"] = "strong"
    linked_from: MemoryId | None = None
    """For match="linked" (a neighbour asked for with `neighbors`): the memory of the results it is linked to."""
    link: str | None = None
    """For match="linked": the type of that link, read from `linked_from` to this memory ("<-type" when it
    points the other way)."""
    closeness: float | None = None
    """The memory's centred meaning to the query (`meaning.centred`) when the meaning leg measured it (its picks:
    the few closest in meaning), else None. Not shown to clients; the prompt hook weighs it."""


@dataclass(frozen=True)
class Query:
    """One search as a retriever takes it: the question (its vector and analysed terms), whose memories, how many,
    and how. Without a `threshold`, only related memories (a shared term, or close enough); with `room`, the meaning
    leg's best `room` + 1 follow the best `k` (see `IndexHit.by_meaning`). `where` and `validity` may narrow the
    candidates (the engine checks them again)."""

    vector: Vector
    terms: Sequence[str]
    scope: Scope
    k: int
    threshold: float | None = None
    where: Filter | None = None
    validity: Validity = CURRENT
    room: int = 0
    pool: int = 0
    """For the second stage (`search.ranker`): with a `pool`, this many of the meaning leg's best follow the best `k`
    (instead of `room` + 1), and every hit carries its closeness and coverage."""


class IndexHit(NamedTuple):
    """A search index's answer: the fused score and the two parts it is made of."""

    id: MemoryId
    score: float
    keyword: float
    """Share of the query's weighted terms the memory matches (BM25, saturated), from 0 to 1."""
    similarity: float
    """Cosine similarity of the embeddings, from -1 to 1."""
    by_meaning: bool = False
    """True for the meaning leg's picks a search returns after its best by score (see `Meaning`)."""
    closeness: float | None = None
    """For the meaning leg's picks, and every hit of a search with a `Query.pool`: the memory's centred meaning to
    the query (`meaning.centred`)."""
    coverage: float = 0.0
    """With a `Query.pool`: the share of the query's term weight (IDF) found in the memory, each term once."""


class Meaning(NamedTuple):
    """Where an embedder's vectors carry meaning: columns `start` to `stop`, scaled by `scale` (a unit vector of
    meaning times `scale`, or zeros). Search compares meaning after taking away the average meaning of the
    scope's memories, so what they all share (a user's chatter) stops counting: see `search.meaning`."""

    start: int
    stop: int
    scale: float = 1.0


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
    closed: list[bool] | None = None
    """Per row, True when the memory is superseded (None: none is)."""


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


MEMORY_FIELDS: Final = (
    "id",
    "text",
    "user_id",
    "agent_id",
    "run_id",
    "project",
    "metadata",
    "created_at",
    "updated_at",
    "valid_from",
    "valid_to",
    "superseded_by",
    "entities",
)
"""A memory's values in a flat row: the keys of its JSON shape (`wire.memory_json`), in order, and of `PlainMemory`."""


class PlainMemory(NamedTuple):
    """A memory as plain values, for an export that writes many (no Memory object made: a tenth of the time)."""

    values: tuple[Any, ...]
    """In the order of `MEMORY_FIELDS`, as `wire.memory_json` gives them (no project: None; entities: a list)."""
    links: tuple[Link, ...] = ()
    """The links that start at this memory."""


@dataclass(frozen=True)
class MemoryRecord:
    """A memory as it travels between databases: with its vector (if kept) and its change history."""

    memory: Memory
    vector: Vector | None = None
    history: tuple[HistoryEntry, ...] = ()
    links: tuple[Link, ...] = ()
    """Links to restore once the memories are stored: in an export, those that start at this memory."""


@dataclass(frozen=True)
class Limits:
    """Input limits the engine enforces. Text, metadata, results and batch are settings (`MEMORY_MCP_MAX_*`);
    the others are fixed, and only code that builds a `Limits` itself can change them."""

    max_text_chars: int = 10_000
    max_metadata_bytes: int = 16_384
    max_metadata_depth: int = 8
    max_results: int = 100
    max_filter_nodes: int = 64
    max_batch: int = 1_000
    id_max_chars: int = 128
    max_entities: int = 20
    """Most entity names one memory may carry."""
    max_neighbors: int = 2
    """Most link hops a search may follow."""


@dataclass(frozen=True)
class Grant:
    """One stored OAuth secret (a sign-in request, an authorization code, an access or a refresh token), by the
    SHA-256 of the secret: who it is for, which client holds it, what it carries (JSON), until when (epoch s)."""

    grant_id: str
    user_id: str
    client_id: str
    data: str
    expires_at: float
