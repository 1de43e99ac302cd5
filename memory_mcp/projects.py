"""Which project (workspace) the user works in: a name from a directory's git root, a root's URI or the setting."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Final
from urllib.parse import unquote, urlparse

from .validation import USER_PATTERN

ALL: Final = "*"
"""On a read: every project's memories (and the general ones)."""
CURRENT: Final = "current"
"""On a write: the project the host has open."""
_NOT_IN_NAME: Final = re.compile(r"[^A-Za-z0-9_.@:+-]+")
_NAME: Final = re.compile(USER_PATTERN)


def name_of(directory: Path) -> str | None:
    """The project name for a directory: the name of its git repository's top folder (the directory itself when
    it is in none), with characters an id may not hold replaced by "-"; None for a file system root."""
    top = git_root(directory) or directory
    name = _NOT_IN_NAME.sub("-", top.name).strip("-")[:128]
    return name if name and _NAME.fullmatch(name) else None


def git_root(directory: Path) -> Path | None:
    """The nearest folder at or above `directory` that holds `.git` (a repository or a worktree), if any."""
    try:
        here = directory.resolve()
    except OSError:
        return None
    for folder in (here, *here.parents):
        if (folder / ".git").exists():
            return folder
    return None


def name_of_uri(uri: str) -> str | None:
    """The project name for an MCP root (`file:///home/sam/code/app`): that of its folder, by `name_of`."""
    parsed = urlparse(uri)
    if parsed.scheme != "file" or not parsed.path:
        return None
    return name_of(Path(unquote(parsed.path)))


def working_project(directory: Path | None = None) -> str | None:
    """The project one works in on the command line and in hooks: MEMORY_MCP_PROJECT, else the git repository
    `directory` (default: the working directory) is in, named by its top folder; None outside a repository."""
    fixed = os.environ.get("MEMORY_MCP_PROJECT")
    if fixed:
        return fixed
    here = directory or Path.cwd()
    return name_of(here) if git_root(here) is not None else None
