"""Reads: one memory, pages, counts, history and summaries of what a scope holds (no search)."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Mapping
from typing import Any

from .. import validation
from ..errors import InvalidInputError, NotFoundError
from ..filters import predicate
from ..links import supersession_chain
from ..models import (
    CURRENT,
    HistoryEntry,
    Memory,
    MemoryId,
    MemoryRecord,
    Page,
    PlainMemory,
    Scope,
    UserSummary,
    Validity,
)
from ..paging import decode_cursor, encode_cursor
from ..tally import LINK, Tally, grouping, tally
from .parts import EngineParts


class Reads(EngineParts):
    """What needs no search: one memory, pages, counts by group, history, per-user summaries, export batches."""

    async def get(self, memory_id: str, scope: Scope) -> Memory:
        """One memory by id; NotFoundError when `scope` cannot see it (even if another user has it)."""
        return await self._get(memory_id, scope)

    async def ids_starting(self, prefix: str, scope: Scope, limit: int = 10) -> list[MemoryId]:
        """Ids of the memories `scope` can see that start with `prefix` (at most `limit`): short ids typed by hand."""
        if not isinstance(prefix, str) or not prefix.strip():
            raise InvalidInputError("memory_id is empty. Use search_memory or list_memories to find ids.")
        return await self.store.ids_starting(scope, prefix, limit)

    async def page(
        self,
        scope: Scope,
        *,
        cursor: str | None = None,
        limit: int = 20,
        filters: Mapping[str, Any] | None = None,
        validity: Validity = CURRENT,
        entity: str | None = None,
    ) -> Page:
        """A page of the memories of `scope` and `validity` (naming `entity`, when given), newest first, with
        the total and the next page's cursor."""
        size = validation.limit(limit, self.limits)
        after = None if cursor is None else decode_cursor(cursor)
        where = self._filter(filters)
        named = self._entity(entity)
        if where is None and named is None:
            rows = await self.store.page(scope, after, size + 1, validity)
            total = await self.store.count(scope, validity)
        else:
            test = None if where is None else predicate(where)
            matches = [
                (row.id, row.position)
                for row in await self.store.listing(scope, where, validity, named)
                if test is None or test(row.metadata)
            ]
            total = len(matches)
            if after is not None:
                matches = [(memory_id, position) for memory_id, position in matches if position < after]
            chosen = matches[: size + 1]
            found = await self.store.get_many(scope, [memory_id for memory_id, _ in chosen])
            rows = [found[memory_id] for memory_id, _ in chosen if memory_id in found]
        page = rows[:size]
        more = len(rows) > size
        next_cursor = encode_cursor((page[-1].created_at, page[-1].id)) if more and page else None
        return Page(page, next_cursor, total)

    async def summarize(
        self,
        scope: Scope,
        group_by: str,
        *,
        filters: Mapping[str, Any] | None = None,
        limit: int = 20,
        validity: Validity = CURRENT,
        entity: str | None = None,
    ) -> Tally:
        """The memories of `scope` and `validity` (that `filters` match, naming `entity`) counted by `group_by`:
        month stored or valid from, entity, link type or a metadata field's values; most first (months in time
        order), at most `limit` groups."""
        size = validation.limit(limit, self.limits)
        by = grouping(group_by)  # a bad group_by is refused before anything is read
        where = self._filter(filters)
        named = self._entity(entity)
        test = None if where is None else predicate(where)
        rows = [
            row for row in await self.store.listing(scope, where, validity, named) if test is None or test(row.metadata)
        ]
        links: dict[MemoryId, set[str]] | None = None
        if by == LINK:
            links = {row.id: set() for row in rows}
            for link in await self.store.links(scope.user_id, list(links)):
                for end in (link.source_id, link.target_id):
                    if end in links:
                        links[end].add(link.type)
        return tally(rows, group_by, size, links)

    async def history(self, memory_id: str, scope: Scope) -> list[HistoryEntry]:
        """Every recorded change of a memory, oldest first; still there after it is deleted. A memory in a chain
        of supersessions shows the whole chain: each entry names its memory."""
        if not isinstance(memory_id, str) or not memory_id.strip():
            raise InvalidInputError("memory_id is empty. Use search_memory or list_memories to find ids.")
        if len(memory_id) > self.limits.id_max_chars:
            raise NotFoundError(memory_id[: self.limits.id_max_chars])
        chain = await supersession_chain(self.store, MemoryId(memory_id), scope)
        entries = [
            (entry, step) for step, member in enumerate(chain) for entry in await self.store.history(scope, member)
        ]
        if not entries:
            raise NotFoundError(memory_id)
        return [entry for entry, _ in sorted(entries, key=lambda pair: (pair[0].created_at, pair[1]))]

    async def count(self, scope: Scope, validity: Validity = CURRENT) -> int:
        """How many memories of `validity` (default: current) `scope` can see."""
        return await self.store.count(scope, validity)

    async def count_all(self) -> int:
        """How many memories the database holds, all users together."""
        return await self.store.count_all()

    async def summaries(self, user_id: str | None = None) -> list[UserSummary]:
        """What each user (or the one given) has stored, by user id."""
        return await self.store.summaries(user_id)

    async def summary(self, scope: Scope) -> UserSummary:
        """What one user has stored (zero memories when nothing)."""
        found = await self.store.summaries(scope.user_id)
        return found[0] if found else UserSummary(scope.user_id, 0, None, None, 0, 0)

    def records(
        self, scope: Scope | None, *, vectors: bool = False, history: bool = False
    ) -> AsyncGenerator[list[MemoryRecord], None]:
        """Every memory of `scope` (None: all users), oldest first, in batches, for export."""
        return self.store.iter_records(scope, vectors=vectors, history=history)

    def plain(self, scope: Scope | None) -> AsyncGenerator[list[PlainMemory], None]:
        """What `records` gives without vectors and history, as plain values: an export's lines, made fast."""
        return self.store.iter_plain(scope)
