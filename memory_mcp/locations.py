"""Where memories live and for whom, by default: a database location (SQLite file or PostgreSQL URL), its key and
its redacted form for messages, the default file, and the login name as a user id. Standard library only (the hooks
read these on every prompt)."""

from __future__ import annotations

import getpass
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Final

POSTGRES_SCHEMES: Final = ("postgresql://", "postgres://")
"""Database locations that select the PostgreSQL backend; anything else is a SQLite file."""


def is_postgres(location: str) -> bool:
    """True when `location` is a PostgreSQL URL rather than a SQLite file."""
    return location.startswith(POSTGRES_SCHEMES)


def redact(url: str) -> str:
    """A database URL without its password, fit for messages and logs."""
    if "://" not in url or "@" not in url:
        return url
    scheme, rest = url.split("://", 1)
    credentials, host = rest.rsplit("@", 1)
    if ":" not in credentials:
        return url
    return f"{scheme}://{credentials.split(':', 1)[0]}:***@{host}"


def login_user() -> str:
    """This account's login name as a user id (characters an id may not hold become "_"), else "me"."""
    try:
        name = getpass.getuser()
    except (OSError, KeyError):
        return "me"
    cleaned = re.sub(r"[^\w.@:+\-]", "_", name)[:128]
    return cleaned or "me"


def database_key(location: str) -> str:
    """Who is the same database: a SQLite file by its absolute path, PostgreSQL by its URL."""
    return location if is_postgres(location) else str(Path(location).expanduser().resolve())


def default_db_path(env: Mapping[str, str]) -> Path:
    """`$XDG_DATA_HOME/memory-mcp/memory.db` (`~/.local/share/...`), or `%LOCALAPPDATA%` on Windows."""
    if os.name == "nt" and env.get("LOCALAPPDATA"):
        return Path(env["LOCALAPPDATA"]) / "memory-mcp" / "memory.db"
    base = env.get("XDG_DATA_HOME") or str(Path(env.get("HOME") or Path.home()) / ".local" / "share")
    return Path(base).expanduser() / "memory-mcp" / "memory.db"
