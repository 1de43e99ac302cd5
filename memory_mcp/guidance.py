"""What the model is told about using memory: the server's handshake instructions, and rules files for hosts."""

from __future__ import annotations

from typing import Final

INSTRUCTIONS: Final = """\
Long-term memory about the people you talk with, kept between conversations.
- Before answering anything that may depend on what you know about the user (preferences, plans, people,
  past decisions), call search_memory with a short query.
- When the user tells you a lasting fact, call add_memory with one short self-contained fact per call.
  Search first: if a stored memory says something older (the fact changed), call update_memory on it with
  keep_history=true, which keeps the old fact as past; if it was simply wrong, update_memory without it.
- When the user asks you to forget something, find it with search_memory and call delete_memory.
- Memories hold for the user everywhere; pass project="current" to add_memory for facts about the workspace you
  work in only (its code, conventions, decisions). Searches see the general memories and the current project's.
"""


def instructions(default_user: str | None, tokens: bool) -> str:
    """What the model is told at the handshake, with who the user is when the server knows."""
    if default_user is not None:
        return INSTRUCTIONS + f"You may leave user_id out: this server keeps the memories of {default_user!r}."
    if tokens:
        return INSTRUCTIONS + "You may leave user_id out: your access token says whose memories these are."
    return INSTRUCTIONS + "Always pass the same user_id for the same person."


RULES_FILES: Final = {
    "cursor": ".cursor/rules/memory.mdc",
    "vscode": ".github/copilot-instructions.md",
    "claude-code": "CLAUDE.md",
    "agents": "AGENTS.md",
}
"""Where each host reads always-on instructions for its model."""


def rules(host: str, default_user: str | None) -> str:
    """The instructions as a rules file for `host` (see RULES_FILES), for hosts that run no hooks."""
    body = "# Long-term memory (memory-mcp)\n\n" + instructions(default_user, tokens=False) + "\n"
    if host == "cursor":
        return "---\ndescription: Long-term memory with the memory MCP server\nalwaysApply: true\n---\n" + body
    return body
