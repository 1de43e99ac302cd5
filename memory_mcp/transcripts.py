"""A conversation as messages: JSON or JSONL of {role, content}, or a Claude Code transcript, read strictly."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Final

from .errors import InvalidInputError

ROLES: Final = frozenset({"user", "assistant", "system"})
MAX_CHARS: Final = 200_000
"""The most text of a conversation taken at once (about 50,000 words): a longer one is refused, not cut."""


@dataclass(frozen=True)
class Message:
    """One turn: who spoke and what they said (text only)."""

    role: str
    content: str


def _text(content: Any) -> str | None:
    """A message's text: a string, or the text blocks of a list of content blocks (tool calls and results, images
    and thinking are left out); None when it is neither."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [block.get("text") for block in content if isinstance(block, dict) and block.get("type") == "text"]
        return "\n".join(part for part in parts if isinstance(part, str))
    return None


def _message(item: Any, where: str) -> Message | None:
    """One entry: {role, content}, or a Claude Code line ({type, message: {role, content}}); None for the lines of a
    Claude Code transcript that are not messages (summaries, snapshots) and for messages without text."""
    if not isinstance(item, dict):
        raise InvalidInputError(f'{where} is not an object: each message must be {{"role": ..., "content": ...}}.')
    if "message" in item and "type" in item:  # Claude Code's transcript line
        if item["type"] not in ("user", "assistant") or not isinstance(item["message"], dict):
            return None
        item = item["message"]
    elif "role" not in item and "type" in item:
        return None  # another kind of transcript line
    role, text = item.get("role"), _text(item.get("content"))
    if role not in ROLES:
        raise InvalidInputError(f"{where} has role {role!r}: use one of {', '.join(sorted(ROLES))}.")
    if text is None:
        raise InvalidInputError(f'{where} has no text content: give "content" as a string or a list of text blocks.')
    return Message(str(role), text) if text.strip() else None


def line_message(line: str, where: str) -> Message | None:
    """The message of one JSON line (None for a line that holds none: blank, a Claude Code summary or snapshot);
    InvalidInputError names `where` when the line is not JSON or not a message."""
    if not line.strip():
        return None
    try:
        item = json.loads(line)
    except ValueError as exc:
        raise InvalidInputError(f"{where} of the conversation is not valid JSON: {exc}.") from None
    return _message(item, where)


def read_transcript(raw: str) -> list[Message]:
    """The messages of a conversation given as a JSON array, JSON lines, or a Claude Code transcript (JSON lines);
    InvalidInputError says which line or entry is wrong."""
    stripped = raw.strip()
    if not stripped:
        raise InvalidInputError("The conversation is empty: give a JSON array or JSON lines of {role, content}.")
    if stripped.startswith("["):
        try:
            items = json.loads(stripped)
        except ValueError as exc:
            raise InvalidInputError(f"The conversation is not valid JSON: {exc}.") from None
        found = [_message(item, f"Message {n + 1}") for n, item in enumerate(items)]
    else:
        found = []
        for number, line in enumerate(stripped.splitlines(), start=1):
            found.append(line_message(line, f"Line {number}"))
    messages = [message for message in found if message is not None]
    if not messages:
        raise InvalidInputError("The conversation holds no message with text.")
    if sum(len(message.content) for message in messages) > MAX_CHARS:
        raise InvalidInputError(
            f"The conversation is longer than {MAX_CHARS:,} characters: remember it in parts (a session at a time)."
        )
    return messages
