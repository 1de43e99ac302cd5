"""Pydantic shapes of what the MCP tools and resources return, built from the engine's records."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from .engine.remembering import Remembered
from .models import AddResult, BatchItem, HistoryEntry, Link, Memory, Page, SearchHit, Similar, UserSummary
from .tally import Tally
from .wire import history_json, hit_json, link_json, linked_memory_json, memory_json, user_stats_json


class MemoryOut(BaseModel):
    """One stored memory."""

    id: str = Field(description="The memory's id; pass it to get_memory, update_memory or delete_memory.")
    text: str = Field(description="The remembered fact.")
    user_id: str = Field(description="Whose memory it is.")
    agent_id: str | None = Field(default=None, description="The agent it is limited to, if any.")
    run_id: str | None = Field(default=None, description="The run (session) it is limited to, if any.")
    project: str | None = Field(default=None, description="The project it is kept to; null: the user everywhere.")
    metadata: dict[str, Any] = Field(description="The caller's own fields.")
    created_at: str = Field(description="When it was first stored (ISO 8601, UTC).")
    updated_at: str = Field(description="When it last changed (ISO 8601, UTC).")
    valid_from: str = Field(description="Since when the fact is true (ISO 8601, UTC).")
    valid_to: str | None = Field(default=None, description="Until when it was true; null while it is current.")
    superseded_by: str | None = Field(default=None, description="The memory that replaced it, once superseded.")
    entities: list[str] = Field(default_factory=list, description="Who or what it is about.")

    @classmethod
    def of(cls, memory: Memory) -> MemoryOut:
        """The wire form of a domain memory."""
        return cls(**memory_json(memory))


class SimilarOut(BaseModel):
    """A stored memory that resembles the one just added."""

    id: str
    text: str
    score: float
    kind: Literal["duplicate", "related"]

    @classmethod
    def of(cls, similar: Similar) -> SimilarOut:
        """The wire form of a resembling memory."""
        return cls(id=similar.memory.id, text=similar.memory.text, score=round(similar.score, 6), kind=similar.kind)


class AddMemoryOut(MemoryOut):
    """The outcome of add_memory."""

    event: Literal["ADD", "NOOP", "SKIP"] = Field(
        description="ADD: stored as a new memory. NOOP: exactly this text was already remembered in this scope; "
        "the existing memory is returned unchanged (use update_memory to change its metadata). SKIP: not stored, "
        'because if_similar="skip" and a near-duplicate exists; that memory is returned.'
    )
    similar: list[SimilarOut] = Field(
        default_factory=list, description="Stored memories that resemble it, most alike first."
    )

    @classmethod
    def of_add(cls, result: AddResult) -> AddMemoryOut:
        """The wire form of an add's outcome."""
        event: Literal["ADD", "NOOP", "SKIP"] = "SKIP" if result.skipped else "ADD" if result.created else "NOOP"
        return cls(
            **memory_json(result.memory), event=event, similar=[SimilarOut.of(found) for found in result.similar]
        )


class MemoryIn(BaseModel):
    """One memory to add in a batch."""

    text: str = Field(description="One self-contained fact in plain words.")
    metadata: dict[str, Any] | None = Field(default=None, description="Optional JSON object of your own fields.")
    entities: list[str] | None = Field(default=None, description="Optional names of who or what it is about.")
    valid_from: str | None = Field(default=None, description="Optional: since when it is true, if before today.")


class LinkOut(BaseModel):
    """A directed, typed link from one memory to another."""

    source_id: str
    target_id: str
    type: str
    metadata: dict[str, Any]
    created_at: str

    @classmethod
    def of(cls, link: Link) -> LinkOut:
        """The wire form of a link."""
        return cls(**link_json(link))


class GetMemoryOut(MemoryOut):
    """One memory with its links."""

    links: list[LinkOut] = Field(default_factory=list, description="Its links, both ways, oldest first.")

    @classmethod
    def of_linked(cls, memory: Memory, links: Sequence[Link]) -> GetMemoryOut:
        """The wire form of a memory with its links."""
        return cls(**linked_memory_json(memory, links))


class LinkMemoriesOut(BaseModel):
    """The outcome of link_memories."""

    link: LinkOut
    created: bool = Field(description="False when this link already existed (it is returned as it was).")


class UnlinkOut(BaseModel):
    """The outcome of unlink_memories."""

    removed: list[LinkOut]


class BatchItemOut(BaseModel):
    """The outcome of one item of add_memories, at the item's position."""

    status: Literal["added", "noop", "skipped", "error"] = Field(
        description="added: stored as new. noop: exactly this text is already remembered (or repeats an earlier "
        'item); `memory` is that memory. skipped: not stored (if_similar="skip"), `memory` is its near-duplicate. '
        "error: not stored; `error` says why."
    )
    memory: MemoryOut | None = Field(default=None, description="The stored or already known memory.")
    error: str | None = Field(default=None, description="What was wrong with this item.")
    similar: list[SimilarOut] = Field(default_factory=list, description="Stored memories it resembles.")

    @classmethod
    def of(cls, item: BatchItem) -> BatchItemOut:
        """The wire form of a batch outcome."""
        return cls(
            status=item.status,
            memory=None if item.memory is None else MemoryOut.of(item.memory),
            error=item.error,
            similar=[SimilarOut.of(found) for found in item.similar],
        )


class AddMemoriesOut(BaseModel):
    """What add_memories did, one entry per input item, in input order."""

    results: list[BatchItemOut]


class SearchHitOut(MemoryOut):
    """A memory found by search_memory."""

    score: float = Field(
        description="How well the memory's words and spelling match the query, higher is closer (at most 1). "
        "The order also weighs how many of the question's words it holds and word-by-word meaning, so a later "
        "result may show a higher score."
    )
    match: Literal["strong", "meaning", "weak", "linked"] = Field(
        description="strong: shares a distinctive word with the query, or is close in meaning. meaning: found by "
        "meaning alone, sharing few or no words with the query; judge if it fits. weak: nothing stored "
        "matched, so these are only the nearest memories, maybe unrelated: judge them and try other words before "
        "concluding the user never told you. linked: not matched by the query, but linked to the result "
        "`linked_from` (asked for with `neighbors`)."
    )
    linked_from: str | None = Field(default=None, description="For linked: the result it is linked to.")
    link: str | None = Field(default=None, description='For linked: the link type ("<-type": pointing back).')

    @classmethod
    def of_hit(cls, hit: SearchHit) -> SearchHitOut:
        """The wire form of a search hit."""
        return cls(**hit_json(hit))


class SearchResultOut(BaseModel):
    """What search_memory found."""

    results: list[SearchHitOut] = Field(description="Memories, best first (see each one's `match`).")
    note: str | None = Field(
        default=None, description="Present when results are weak or empty: what that means and what to try next."
    )


class MemoryPageOut(BaseModel):
    """One page of list_memories."""

    memories: list[MemoryOut] = Field(description="Memories on this page, newest first.")
    next_cursor: str | None = Field(
        description="Pass as `cursor` to get the next page; null when this is the last page."
    )
    total: int = Field(description="How many memories match in all, across every page.")

    @classmethod
    def of(cls, page: Page) -> MemoryPageOut:
        """The wire form of a page."""
        return cls(memories=[MemoryOut.of(m) for m in page.memories], next_cursor=page.next_cursor, total=page.total)


class DeleteAllOut(BaseModel):
    """The outcome of delete_all_memories."""

    deleted: int = Field(description="How many memories were deleted.")


class HistoryEntryOut(BaseModel):
    """One recorded change."""

    memory_id: str = Field(description="The memory changed (a supersession chain shows several).")
    event: Literal["ADD", "UPDATE", "DELETE", "SUPERSEDE"]
    old_text: str | None = Field(description="Text before the change (null for ADD).")
    new_text: str | None = Field(description="Text after the change (null for DELETE).")
    old_metadata: dict[str, Any] | None = Field(description="Metadata before the change (null for ADD).")
    new_metadata: dict[str, Any] | None = Field(description="Metadata after the change (null for DELETE).")
    created_at: str = Field(description="When the change happened (ISO 8601, UTC).")

    @classmethod
    def of(cls, entry: HistoryEntry) -> HistoryEntryOut:
        """The wire form of a history entry."""
        return cls(**history_json(entry))


class HistoryOut(BaseModel):
    """The changes of one memory, oldest first."""

    memory_id: str
    history: list[HistoryEntryOut]


class MemoriesResourceOut(BaseModel):
    """Content of memory://users/{user_id}/memories."""

    user_id: str
    total: int = Field(description="How many memories the user has in all.")
    shown: int = Field(description="How many are included here (the newest).")
    truncated: bool = Field(description="True when more memories exist than are shown.")
    note: str | None = Field(default=None, description="How to see the rest, when truncated.")
    memories: list[MemoryOut]


class UserStatsOut(BaseModel):
    """Content of memory://users/{user_id}/stats: what is stored about one user."""

    user_id: str
    memories: int = Field(description="How many memories the user has.")
    oldest: str | None = Field(description="When the oldest was stored (ISO 8601, UTC); null when none.")
    newest: str | None = Field(description="When the newest was stored (ISO 8601, UTC); null when none.")
    agents: int = Field(description="How many distinct agents the memories are limited to.")
    runs: int = Field(description="How many distinct runs (sessions) the memories are limited to.")
    embedder: str = Field(description="The embedder that makes the vectors search compares.")

    @classmethod
    def of(cls, summary: UserSummary, embedder: str) -> UserStatsOut:
        """The wire form of a user's summary."""
        return cls(**user_stats_json(summary, embedder))


class GroupOut(BaseModel):
    """One group of summarize_memories."""

    value: str
    count: int


class SummaryOut(BaseModel):
    """What summarize_memories counted."""

    group_by: str
    total: int = Field(description="How many memories were counted (those the filters match).")
    groups: list[GroupOut] = Field(description="Values and their counts, most first (months in time order).")
    missing: int = Field(description="Memories without the field (0 for months).")
    truncated: bool = Field(description="True when there are more groups than the limit shows.")

    @classmethod
    def of(cls, counted: Tally) -> SummaryOut:
        """The wire form of a tally."""
        return cls(
            group_by=counted.group_by,
            total=counted.total,
            groups=[GroupOut(value=group.value, count=group.count) for group in counted.groups],
            missing=counted.missing,
            truncated=counted.truncated,
        )


class EntityOut(BaseModel):
    """One entity and how many memories name it."""

    name: str
    memories: int


class EntitiesResourceOut(BaseModel):
    """Content of memory://users/{user_id}/entities: who and what the user's current memories are about."""

    user_id: str
    entities: list[EntityOut] = Field(description="Names and how many memories name each, most first.")
    truncated: bool = Field(description="True when there are more entities than shown.")

    @classmethod
    def of(cls, user_id: str, counted: Tally) -> EntitiesResourceOut:
        """The wire form of an entity tally."""
        return cls(
            user_id=user_id,
            entities=[EntityOut(name=group.value, memories=group.count) for group in counted.groups],
            truncated=counted.truncated,
        )


class ConversationMessageIn(BaseModel):
    """One message of a conversation to remember."""

    model_config = ConfigDict(extra="forbid")

    role: Literal["user", "assistant"] = Field(description="Who said it.")
    content: str = Field(description="What was said (text).", min_length=1, max_length=20_000)


class RememberedOut(BaseModel):
    """What became of one fact of the conversation."""

    fact: str = Field(description="The fact the model drew from the conversation.")
    event: Literal["ADD", "UPDATE", "NOOP", "SKIP"] = Field(
        description="ADD: stored as new; UPDATE: replaced `replaced` (kept in history); NOOP: already known; SKIP: "
        "a health, family or money fact the user did not state about themselves, not stored."
    )
    memory: MemoryOut | None = Field(description="The memory that now holds the fact (null for SKIP).")
    replaced: str | None = Field(default=None, description="For UPDATE: the id of the memory it superseded.")


class RememberOut(BaseModel):
    """What remember_conversation did."""

    results: list[RememberedOut] = Field(description="One entry per fact, in the conversation's order.")
    model: str = Field(description="Which language model read the conversation.")

    @classmethod
    def of(cls, done: Sequence[Remembered], model: str) -> RememberOut:
        """The wire form of what `MemoryEngine.remember` did with `model`."""
        return cls(
            results=[
                RememberedOut(
                    fact=item.fact,
                    event=item.action,
                    memory=None if item.memory is None else MemoryOut.of(item.memory),
                    replaced=item.replaced.id if item.replaced else None,
                )
                for item in done
            ],
            model=model,
        )


class ConversationIn(BaseModel):
    """A conversation to remember."""

    model_config = ConfigDict(extra="forbid")

    messages: list[ConversationMessageIn] = Field(
        description='The conversation, oldest first: [{"role": "user", "content": "..."}, ...].',
        min_length=1,
        max_length=500,
    )
