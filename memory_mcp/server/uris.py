"""The resource URIs of a user's memories: memory://users/{user_id}/..."""

from __future__ import annotations


def memories_uri(user_id: str) -> str:
    """URI of a user's memories resource."""
    return f"memory://users/{user_id}/memories"


def memory_uri(user_id: str, memory_id: str) -> str:
    """URI of one memory's resource."""
    return f"memory://users/{user_id}/memories/{memory_id}"


def stats_uri(user_id: str) -> str:
    """URI of a user's stats resource."""
    return f"memory://users/{user_id}/stats"
