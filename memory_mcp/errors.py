"""Exceptions of memory-mcp; every message says what was wrong and what to do next.

Exception hierarchy::

    MemoryMCPError
    ├── ConfigError           bad settings, raised at start-up
    ├── InvalidInputError     an argument the engine cannot accept (empty text, bad limit, ...)
    │   └── FilterError       a malformed metadata filter or an unknown operator
    ├── NotFoundError         no such memory for this user (also when it belongs to someone else)
    ├── DuplicateError        an update would make a memory an exact copy of another in its scope
    ├── EmbeddingError        the embedder failed, is unreachable, or returned the wrong shape
    └── StoreError            the database cannot be used as it is (schema, embedder mismatch)
"""

from __future__ import annotations


class MemoryMCPError(Exception):
    """Base class of every error memory-mcp raises on purpose."""


class ConfigError(MemoryMCPError):
    """A setting is missing or out of range."""


class InvalidInputError(MemoryMCPError):
    """An argument was rejected; nothing was changed."""


class FilterError(InvalidInputError):
    """A metadata filter is malformed or uses an operator we do not know."""


class NotFoundError(MemoryMCPError):
    """No memory with this id is visible in the caller's scope."""

    def __init__(self, memory_id: str) -> None:
        super().__init__(
            f"No memory with id {memory_id!r} for this user. "
            "Use search_memory or list_memories to find the ids of existing memories."
        )
        self.memory_id = memory_id


class DuplicateError(MemoryMCPError):
    """The change would duplicate another memory of the same scope."""

    def __init__(self, existing_id: str) -> None:
        super().__init__(
            f"Another memory in this scope already has exactly this text (id {existing_id!r}). "
            "Delete one of the two with delete_memory, or keep the existing one."
        )
        self.existing_id = existing_id


class ForbiddenError(MemoryMCPError):
    """A call named a user other than the one its token belongs to."""

    def __init__(self, owner: str) -> None:
        super().__init__(
            f"This token belongs to user {owner!r}: pass user_id {owner!r} or leave it out. A token only ever reads "
            "and writes its own user's memories."
        )
        self.owner = owner


class EmbeddingError(MemoryMCPError):
    """The embedder could not turn text into vectors; nothing was changed."""


class LanguageModelError(MemoryMCPError):
    """A language model could not be asked, would not answer, or answered against its rules; nothing was stored."""


class ModelAnswerError(LanguageModelError):
    """The language model's answer broke its schema or its rules (a number it was not shown, a fact left out)."""


class StoreError(MemoryMCPError):
    """The database cannot be used as it is."""
