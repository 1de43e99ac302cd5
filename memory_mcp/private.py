"""Files only their owner may read: the database, its folder, backups and exports (0600 files, 0700 folders)."""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path
from typing import IO

FILE_MODE = 0o600
FOLDER_MODE = 0o700


def private_folder(path: Path) -> None:
    """Create `path` (and its parents) if missing; a folder made here is its owner's only."""
    if not path.is_dir():
        path.mkdir(parents=True, exist_ok=True, mode=FOLDER_MODE)
        with contextlib.suppress(OSError):  # mkdir's mode passes through the umask; make it exact
            path.chmod(FOLDER_MODE)


def private_file(path: Path) -> None:
    """Create an empty `path` readable by its owner only, unless it exists (an existing file keeps its mode)."""
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, FILE_MODE))


def open_private(path: Path) -> IO[str]:
    """`path` opened for writing text (emptied first), readable by its owner only."""
    descriptor = os.open(path, os.O_CREAT | os.O_TRUNC | os.O_WRONLY, FILE_MODE)
    if hasattr(os, "fchmod"):  # an existing file keeps its mode through O_CREAT: make it private too (POSIX)
        os.fchmod(descriptor, FILE_MODE)
    return os.fdopen(descriptor, "w", encoding="utf-8")


def exposed(path: Path) -> str | None:
    """Who else may read `path`: "other users" or "its group" when its mode lets them, else None."""
    try:
        mode = path.stat().st_mode
    except OSError:
        return None
    if mode & stat.S_IROTH:
        return "every user of this machine"
    if mode & stat.S_IRGRP:
        return "its group"
    return None
