"""The engine's swappable parts as structural protocols: Embedder, MemoryStore, Retriever (and what feeds them)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

from .filters import Filter
from .models import (
    Cursor,
    Grant,
    HistoryEntry,
    IndexHit,
    IndexRows,
    Link,
    Listed,
    Matrix,
    Meaning,
    Memory,
    MemoryId,
    MemoryRecord,
    PlainMemory,
    Query,
    Row,
    Scope,
    UserSummary,
    Validity,
    Vector,
)


class LanguageModel(Protocol):
    """**Protocol:** a language model asked for JSON that fits a schema (the host's, through MCP sampling, or an
    OpenAI-compatible endpoint); the caller parses the answer strictly."""

    @property
    def name(self) -> str:
        """Which model, for messages."""
        ...

    async def complete(self, system: str, prompt: str, schema: Mapping[str, Any], name: str) -> str:
        """The model's answer (text meant to be JSON fitting `schema`, called `name`)."""
        ...


class WordMeaning(Protocol):
    """**Protocol:** a word table: each word's meaning as a unit row (zeros for a word it does not know)."""

    def word_vectors(self, words: Sequence[str]) -> Matrix:
        """One row per word."""
        ...


class Embedder(Protocol):
    """**Protocol:** texts -> L2-normalised float32 rows of length `dim`, deterministic per configuration.

    `id` names the embedder and its configuration (e.g. ``hash-v2-256``); it is stored with the
    vectors so that vectors of different embedders are never compared.
    """

    @property
    def id(self) -> str: ...

    @property
    def dim(self) -> int: ...

    async def embed_documents(self, texts: Sequence[str]) -> Matrix: ...

    async def embed_query(self, text: str) -> Vector: ...


@runtime_checkable
class AccountStore(Protocol):
    """**Protocol:** who may sign in over HTTP, the OAuth clients they allowed, and the secrets issued to them.

    Secrets are kept by their SHA-256 only, so a copy of the database signs nobody in. Every server on one database
    sees the same accounts, clients and tokens.
    """

    async def account_password(self, name: str) -> str | None:
        """The password hash of account `name` (None when there is none)."""
        ...

    async def account_names(self) -> list[str]:
        """Every account's name, sorted."""
        ...

    async def add_account(self, name: str, password_hash: str) -> bool:
        """Create an account; False (and nothing changed) when one of that name exists."""
        ...

    async def set_account_password(self, name: str, password_hash: str) -> bool:
        """Change an account's password and end its sign-ins; False when there is no such account."""
        ...

    async def remove_account(self, name: str) -> bool:
        """Remove an account and every secret issued to it (its memories stay); False when there was none."""
        ...

    async def oauth_client(self, client_id: str) -> str | None:
        """The stored metadata (JSON) of a registered client."""
        ...

    async def save_oauth_client(self, client_id: str, metadata: str) -> None:
        """Store (or replace) a client's metadata (JSON)."""
        ...

    async def save_grant(self, token_hash: str, kind: str, grant: Grant) -> None:
        """Store a secret of `kind` by its hash."""
        ...

    async def grant(self, token_hash: str, kind: str, now: float) -> Grant | None:
        """The unexpired secret of `kind` with this hash."""
        ...

    async def take_grant(self, token_hash: str, kind: str, now: float) -> Grant | None:
        """Remove and return the unexpired secret of `kind` with this hash, atomically: of two servers taking one
        code at once, only one gets it."""
        ...

    async def revoke_grant(self, grant_id: str) -> None:
        """Remove every secret of one sign-in (its codes, access and refresh tokens)."""
        ...

    async def purge_grants(self, now: float) -> int:
        """Remove the expired secrets; how many."""
        ...

    async def count_grants(self, kind: str, now: float) -> int:
        """How many unexpired secrets of `kind` there are (pending sign-ins are capped)."""
        ...

    async def count_unused_clients(self) -> int:
        """How many registered clients never got a token (registrations are capped)."""
        ...

    async def client_used(self, client_id: str, when: float) -> None:
        """Record that a registered client got a token at `when` (epoch s)."""
        ...

    async def purge_clients(self, now: float, unclaimed_before: float, unused_before: float) -> int:
        """Remove the registered clients that hold no unexpired secret and either never got a token and registered
        before `unclaimed_before`, or last got one before `unused_before`; how many."""
        ...

    async def reserve_signin(self, attempt: str, keys: Sequence[tuple[str, int]], now: float, window: float) -> float:
        """Count a sign-in attempt against each (key, limit), atomically for every server on the database: when
        every key has fewer than its limit of attempts within `window` seconds, record `attempt` under each and
        return 0; else record nothing and return the seconds until one may try again. Reserving before the
        password check means a burst of attempts at once cannot get past the limit."""
        ...

    async def clear_signin(self, attempt: str, keys: Sequence[str] = ()) -> None:
        """Forget a reserved `attempt` (it succeeded, so it was no failure) and every attempt under `keys`."""
        ...

    async def purge_signin(self, before: float) -> int:
        """Forget the sign-in attempts made before `before`; how many."""
        ...


class MemoryStore(Protocol):
    """**Protocol:** the durable source of truth for memories, their vectors and their history. (The stores the app
    opens keep the accounts that sign in over HTTP in the same database, as an `AccountStore`; the engine never
    sees those.)

    Reads take the caller's `Scope`; a memory outside it behaves exactly as an absent one. Each write
    method commits (memory row and history row together) before it returns. Vectors travel as float32
    numpy arrays; how a backend keeps them is its own affair.
    """

    async def close(self) -> None: ...

    # -- the embedder the stored vectors belong to --
    async def embedder_id(self) -> str | None: ...

    async def set_embedder_id(self, embedder_id: str) -> None: ...

    async def rewrite_vectors(
        self, embedder_id: str, dim: int, embed: Callable[[Sequence[str]], Awaitable[Matrix]], batch_size: int
    ) -> None:
        """Re-embed every stored text with `embed` (`batch_size` texts a call) and replace the vectors (now of
        length `dim`) and the embedder id in one transaction: a failure leaves the old ones untouched."""
        ...

    # -- writes --
    async def insert_many(self, rows: Sequence[Row]) -> set[MemoryId]:
        """Store new memories (each with its ADD history row); a text its scope holds already is skipped.
        Returns the ids stored."""
        ...

    async def replace(self, old: Memory, new: Row) -> None: ...

    async def supersede(self, old: Memory, new: Row, link: Link) -> bool:
        """Close `old` (valid until the new memory's `valid_from`, `superseded_by` it, a SUPERSEDE history row),
        store the new memory (with its ADD row) and `link`, in one transaction. False, changing nothing, when
        `old` is no longer current; DuplicateError when the scope holds the new text as a current memory."""
        ...

    async def insert_and_supersede(
        self, rows: Sequence[Row], changes: Sequence[tuple[Memory, Row, Link]]
    ) -> set[MemoryId] | None:
        """In one transaction: each (old, new, link) of `changes` as `supersede` makes it, then `rows` as
        `insert_many` stores them. The ids of `rows` stored; None, changing nothing, when an old memory is no
        longer current; DuplicateError when a change's new text is a current memory of its scope."""
        ...

    async def link(self, user_id: str, links: Sequence[Link]) -> int:
        """Store the `links` whose two ends are memories of `user_id` (others and existing ones are skipped);
        returns how many were stored."""
        ...

    async def unlink(self, user_id: str, source_id: str, target_id: str, link_type: str | None) -> list[Link]:
        """Remove the links of `user_id` from `source_id` to `target_id` (one type, or all); returns them."""
        ...

    async def links(self, user_id: str, ids: Sequence[MemoryId]) -> list[Link]:
        """The links of `user_id` that start or end at one of `ids`, oldest first."""
        ...

    async def delete(self, memory: Memory, deleted_at: str) -> None: ...

    async def delete_scope(self, scope: Scope, deleted_at: str) -> list[MemoryId]:
        """Remove the memories of `scope` (of a project: its own, not the general ones it sees), recording a
        DELETE for each; returns their ids."""
        ...

    async def restore(self, rows: Sequence[Row], history: Mapping[MemoryId, Sequence[HistoryEntry]]) -> set[MemoryId]:
        """Store memories as they were elsewhere (ids, timestamps, and the given history instead of an ADD
        row); a taken id or a text its scope holds already is skipped. Returns the ids stored."""
        ...

    # -- reads --
    async def get(self, scope: Scope, memory_id: str) -> Memory | None: ...

    async def get_many(self, scope: Scope, ids: Sequence[MemoryId]) -> dict[MemoryId, Memory]: ...

    async def find_by_hashes(self, scope: Scope, hashes: Sequence[str]) -> dict[str, Memory]: ...

    async def ids_starting(self, scope: Scope, prefix: str, limit: int) -> list[MemoryId]:
        """Up to `limit` ids of memories `scope` can see that start with `prefix` (case-sensitive), sorted."""
        ...

    async def page(self, scope: Scope, after: Cursor | None, limit: int, validity: Validity = ...) -> list[Memory]:
        """Up to `limit` memories of `scope` and `validity` (default: the current ones), newest first, after
        the cursor position."""
        ...

    async def listing(
        self, scope: Scope, where: Filter | None = None, validity: Validity = ..., entity: str | None = None
    ) -> list[Listed]:
        """The memories of `scope` and `validity` that name `entity` (an entity key; None: any), newest first:
        at least those `where` matches (a store may narrow by it or not; the engine checks every row itself)."""
        ...

    async def count(self, scope: Scope, validity: Validity = ...) -> int: ...

    async def count_all(self) -> int: ...

    async def history(self, scope: Scope, memory_id: str) -> list[HistoryEntry]: ...

    async def summaries(self, user_id: str | None = None) -> list[UserSummary]: ...

    def iter_records(
        self, scope: Scope | None, *, vectors: bool = ..., history: bool = ..., batch_size: int = ...
    ) -> AsyncGenerator[list[MemoryRecord], None]: ...

    def iter_plain(self, scope: Scope | None, *, batch_size: int = ...) -> AsyncGenerator[list[PlainMemory], None]:
        """What `iter_records` gives without vectors and history, as plain values (for an export's lines)."""
        ...


class ChangeFeed(Protocol):
    """**Protocol:** what an in-process index needs from its store: every row once, then the changes since.

    Every committed change, from any process, gets a growing sequence number.
    """

    def iter_index_rows(self, batch_size: int) -> AsyncIterator[IndexRows]: ...

    async def last_change(self) -> int: ...

    async def changed_since(self, seq: int, limit: int) -> list[tuple[int, MemoryId, str]]:
        """(sequence number, memory id, time stamped) of the changes after `seq`, oldest first."""
        ...

    async def index_rows(self, ids: Sequence[MemoryId]) -> IndexRows:
        """Those of `ids` that exist now, of any user (for the index only)."""
        ...

    def iter_vectors(self, batch_size: int) -> AsyncIterator[tuple[list[MemoryId], Matrix]]:
        """Every memory's id and vector, in batches."""
        ...

    async def save_snapshot(self, seq: int, meta: dict[str, Any], parts: Sequence[bytes]) -> None:
        """Keep an index snapshot that reflects every change up to `seq` (replacing the one before)."""
        ...

    async def load_snapshot(self) -> tuple[int, dict[str, Any], list[bytes]] | None:
        """The kept index snapshot: (seq, meta as saved, parts), or None."""
        ...


class SearchIndex(Protocol):
    """**Protocol:** in-memory hybrid search over the memories of a scope: words (BM25) and vectors (cosine).

    Scores lie in [-1, 1], higher is closer. Methods are synchronous on purpose: each one runs to
    completion on the event loop, so concurrent async handlers never see a half-applied change.
    """

    def __len__(self) -> int: ...

    @property
    def dim(self) -> int: ...

    def add(
        self,
        items: Sequence[tuple[MemoryId, Scope]],
        vectors: Matrix,
        terms: Sequence[Sequence[str]],
        closed: Sequence[bool] | None = None,
    ) -> None: ...

    def remove(self, ids: Iterable[MemoryId]) -> None: ...

    def set_closed(self, ids: Iterable[MemoryId], closed: bool = True) -> None: ...

    def search(
        self,
        vector: Vector,
        terms: Sequence[str],
        scope: Scope,
        k: int,
        *,
        threshold: float | None = None,
        superseded: bool = False,
        room: int = 0,
        pool: int = 0,
    ) -> list[IndexHit]: ...

    def count(self, scope: Scope) -> int: ...

    def ids(self, scope: Scope) -> set[MemoryId]: ...


class SearchingStore(MemoryStore, Protocol):
    """**Protocol:** a store that also searches (PostgreSQL), so no process keeps an index of its own."""

    async def search(
        self,
        query: Query,
        *,
        vector_weight: float,
        min_similarity: float,
        meaning: Meaning | None = None,
    ) -> list[IndexHit]:
        """The `query.k` best of the memories of its scope and validity that its `where` matches (or a superset of
        those, which the engine checks again), by the engine's fused score; without a threshold, only related ones
        (a shared term, or a cosine of at least `min_similarity`). With `query.room` and `meaning`, and no threshold,
        the meaning leg's best `room` + 1 (or `query.pool`) follow, marked `by_meaning`, and with `query.pool` every
        hit carries its closeness and coverage (as `SearchIndex.search` does)."""
        ...


class Retriever(Protocol):
    """**Protocol:** the engine's search: the best memories of a scope for a query, current with every write.

    The engine tells it of each write it commits (`committed`), under the engine's write lock, which it
    hands over at `start`: a retriever that keeps a copy of the store takes that lock while it reads
    the store, so no write races it.
    """

    @property
    def ready(self) -> bool:
        """True once searches need not wait (an in-process index has been filled)."""
        ...

    @property
    def indexed(self) -> int | None:
        """How many memories this process holds for search; None when it searches the store itself."""
        ...

    @property
    def searches(self) -> bool:
        """False for an engine opened without search (its `search` refuses, and an add compares with nothing)."""
        ...

    @property
    def in_process(self) -> bool:
        """True when it searches a copy kept in this process (an add then compares while the store commits; a
        store that searches itself would see the write, so the comparison comes first)."""
        ...

    async def start(self, writes: asyncio.Lock, *, background: bool) -> None: ...

    async def stop(self) -> None: ...

    async def search(self, query: Query, *, locked: bool = False) -> list[IndexHit]:
        """The `query.k` best of its scope by the fused score, at least those of its validity (the caller applies
        `where` and the validity; a retriever may narrow by them), the meaning leg's picks after them with
        `query.room` (none where vectors carry no meaning). `locked`: the caller holds the write lock and called
        `refresh` under it (an add comparing its text while the store commits it): search as things are, without
        reading in changes (the caller's own commit may land meanwhile) or waiting for the lock."""
        ...

    async def refresh(self) -> None:
        """Read in what other processes committed; the caller holds the write lock (see `search(locked=True)`)."""
        ...

    def committed(
        self,
        stored: Sequence[Row] = (),
        removed: Sequence[MemoryId] = (),
        stamps: Iterable[tuple[MemoryId, str]] = (),
        closed: Sequence[MemoryId] = (),
    ) -> None:
        """The engine committed these writes: (re)index `stored`, drop `removed`, mark `closed` superseded.
        `stamps` are the (memory, time) of the history rows written, by which a copy of the store recognises
        its own changes."""
        ...
