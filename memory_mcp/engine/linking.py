"""Linking: typed links between two memories of one user, and a memory read with its links."""

from __future__ import annotations

from collections.abc import Sequence

from .. import validation
from ..errors import InvalidInputError
from ..models import (
    Link,
    Memory,
    Metadata,
    Scope,
    now,
)
from .parts import EngineParts


class Linking(EngineParts):
    """Typed, directed links between two memories of one user: add, remove, and read a memory with its links."""

    async def link(
        self, scope: Scope, source_id: str, target_id: str, link_type: str, metadata: Metadata | None = None
    ) -> tuple[Link, bool]:
        """Link two memories of the user (directed, typed); returns the link and whether it is new (the same
        source, target and type stored before is kept as it was)."""
        kind = validation.link_type(link_type)
        fields = validation.metadata(metadata, self.limits)
        async with self._write_lock:
            source = await self._get(source_id, scope)
            target = await self._get(target_id, scope)
            if source.id == target.id:
                raise InvalidInputError("A memory cannot be linked to itself: give two different memory ids.")
            link = Link(source.id, target.id, kind, fields, now())
            created = await self.store.link(scope.user_id, [link]) == 1
        if not created:
            link = next(
                found
                for found in await self.store.links(scope.user_id, [source.id])
                if (found.source_id, found.target_id, found.type) == (source.id, target.id, kind)
            )
        return link, created

    async def link_many(self, user_id: str, links: Sequence[Link]) -> int:
        """Store links as they were elsewhere (an import): those between two memories of `user_id` that are not
        there yet; returns how many were stored."""
        async with self._write_lock:
            return await self.store.link(user_id, links) if links else 0

    async def unlink(self, scope: Scope, source_id: str, target_id: str, link_type: str | None = None) -> list[Link]:
        """Remove the links from one memory to another (of one type, or all); returns those removed."""
        kind = None if link_type is None else validation.link_type(link_type)
        async with self._write_lock:
            source = await self._get(source_id, scope)
            target = await self._get(target_id, scope)
            removed = await self.store.unlink(scope.user_id, source.id, target.id, kind)
        if not removed:
            raise InvalidInputError(
                f"There is no {kind + ' ' if kind else ''}link from {source.id!r} to {target.id!r} (links are "
                "directed: get_memory shows a memory's links both ways)."
            )
        return removed

    async def get_linked(self, memory_id: str, scope: Scope) -> tuple[Memory, list[Link]]:
        """One memory with its links, both ways, oldest first (NotFoundError when `scope` cannot see it)."""
        memory = await self._get(memory_id, scope)
        return memory, await self.store.links(scope.user_id, [memory.id])

    async def links(self, scope: Scope, memory_id: str) -> list[Link]:
        """The links of one memory, both ways, oldest first (NotFoundError when `scope` cannot see it)."""
        return (await self.get_linked(memory_id, scope))[1]
