"""Opaque page tokens for newest-first listings: a (created_at, id) position, base64 JSON."""

from __future__ import annotations

import base64
import binascii
import json

from .errors import InvalidInputError
from .models import Cursor


def encode_cursor(position: Cursor) -> str:
    """An opaque page token for a listing position."""
    return base64.urlsafe_b64encode(json.dumps(list(position)).encode()).decode().rstrip("=")


def decode_cursor(token: str) -> Cursor:
    """The position inside a token from `encode_cursor`; InvalidInputError for anything else."""
    try:
        created_at, memory_id = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        if isinstance(created_at, str) and isinstance(memory_id, str):
            return created_at, memory_id
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
        pass
    raise InvalidInputError(
        "cursor is not a next_cursor this server returned. Call list_memories without a cursor to start again."
    )
