"""The JSON shapes of memories, search hits, pages and history entries, as the tools and the commands print them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .models import HistoryEntry, Link, Memory, Page, SearchHit, UserSummary


def memory_json(memory: Memory) -> dict[str, Any]:
    """One memory: id, text, scope (user, agent, run, project), metadata, times, validity and entities."""
    return {
        "id": memory.id,
        "text": memory.text,
        "user_id": memory.scope.user_id,
        "agent_id": memory.scope.agent_id,
        "run_id": memory.scope.run_id,
        "project": memory.scope.project,
        "metadata": memory.metadata,
        "created_at": memory.created_at,
        "updated_at": memory.updated_at,
        "valid_from": memory.valid_from,
        "valid_to": memory.valid_to,
        "superseded_by": memory.superseded_by,
        "entities": list(memory.entities),
    }


def linked_memory_json(memory: Memory, links: Sequence[Link]) -> dict[str, Any]:
    """One memory with its links, both ways (what get_memory, the one-memory resource, REST and `show` give)."""
    return {**memory_json(memory), "links": [link_json(link) for link in links]}


def hit_json(hit: SearchHit) -> dict[str, Any]:
    """A search hit: the memory, its score (6 decimals), how well it matched, and for a linked neighbour the
    result it hangs from and the link."""
    found = {**memory_json(hit.memory), "score": round(hit.score, 6), "match": hit.match}
    if hit.linked_from is not None:
        found.update(linked_from=hit.linked_from, link=hit.link)
    return found


def link_json(link: Link) -> dict[str, Any]:
    """One link between two memories."""
    return {
        "source_id": link.source_id,
        "target_id": link.target_id,
        "type": link.type,
        "metadata": link.metadata,
        "created_at": link.created_at,
    }


def page_json(page: Page) -> dict[str, Any]:
    """One page of a listing."""
    return {"memories": [memory_json(m) for m in page.memories], "next_cursor": page.next_cursor, "total": page.total}


def history_json(entry: HistoryEntry) -> dict[str, Any]:
    """One recorded change of a memory."""
    return {
        "memory_id": entry.memory_id,
        "event": entry.event,
        "old_text": entry.old_text,
        "new_text": entry.new_text,
        "old_metadata": entry.old_metadata,
        "new_metadata": entry.new_metadata,
        "created_at": entry.created_at,
    }


def user_stats_json(summary: UserSummary, embedder: str) -> dict[str, Any]:
    """What is stored about one user: counts, time span, and the embedder of the vectors."""
    return {
        "user_id": summary.user_id,
        "memories": summary.memories,
        "oldest": summary.oldest,
        "newest": summary.newest,
        "agents": summary.agents,
        "runs": summary.runs,
        "embedder": embedder,
    }
