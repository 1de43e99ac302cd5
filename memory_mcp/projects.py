"""Which project (workspace) the user works in: a name from a directory's git root, a root's URI or the setting."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Final
from urllib.parse import unquote, urlparse

from .errors import InvalidInputError
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


def asks_for_current(given: str | None, *, read: bool) -> bool:
    """True when a call's project argument needs the current project looked up (see `chosen`): "current", or
    nothing given on a read."""
    return given == CURRENT or (given is None and read)


def chosen(given: str | None, *, read: bool, current: str | None, argument: str, no_current: str) -> str | None:
    """The project a call's `argument` names, by the rules every face shares (tools, REST, command line): on a read,
    omitted means the current one (`current`, None when there is none) and "*" every one; on a write, omitted means
    none (the memory is the user's everywhere) and "current" the current one. None: no project. InvalidInputError
    for "*" on a write, and for "current" when there is none (`no_current` says why, in the face's words)."""
    if given == ALL:
        if not read:
            raise InvalidInputError(
                f'{argument} "*" (every project) is only for reads; name one project, or leave {argument} out.'
            )
        return None
    if given is None and not read:
        return None
    if given is not None and given != CURRENT:
        return given
    if current is None and given == CURRENT:
        raise InvalidInputError(
            f'{argument} "current": {no_current}. Name the project, or leave {argument} out to keep the memory for '
            "the user everywhere."
        )
    return current
