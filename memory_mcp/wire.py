"""The JSON shapes of memories, search hits, pages and history entries, as the tools and the commands print them."""

from __future__ import annotations

from typing import Any

from .models import HistoryEntry, Memory, Page, SearchHit


def memory_json(memory: Memory) -> dict[str, Any]:
    """One memory: id, text, scope (user, agent, run, project), metadata and times."""
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
    }


def hit_json(hit: SearchHit) -> dict[str, Any]:
    """A search hit: the memory, its score (6 decimals) and how well it matched."""
    return {**memory_json(hit.memory), "score": round(hit.score, 6), "match": hit.match}


def page_json(page: Page) -> dict[str, Any]:
    """One page of a listing."""
    return {"memories": [memory_json(m) for m in page.memories], "next_cursor": page.next_cursor, "total": page.total}


def history_json(entry: HistoryEntry) -> dict[str, Any]:
    """One recorded change of a memory."""
    return {
        "event": entry.event,
        "old_text": entry.old_text,
        "new_text": entry.new_text,
        "old_metadata": entry.old_metadata,
        "new_metadata": entry.new_metadata,
        "created_at": entry.created_at,
    }
