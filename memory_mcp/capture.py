"""Capture without being asked: the Stop and PreCompact hooks hand a session's transcript to a background remember.

A hook must return at once (the host waits for it), and remembering takes two requests to a language model. So the
hook only starts `memory-mcp hook capture` as a detached process of its own and returns. That process reads the
transcript from where the last capture of the same session stopped (a byte position kept per database, user and
session in a private state folder), remembers the new messages a part at a time, and moves the position on after
each part is stored: the same conversation captured twice changes nothing, and a part that failed is tried again
by the next hook. One capture of a session runs at a time (a lock file); what they do is logged to `capture.log`
in the same folder. Only the standard library is imported here: the hook's own process stays light.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import subprocess
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from .errors import InvalidInputError
from .transcripts import MAX_CHARS, Message, line_message

LOG_NAME: Final = "capture.log"


def configured(env: Mapping[str, str]) -> bool:
    """True when a language model is named (MEMORY_MCP_LLM_BASE_URL and MEMORY_MCP_LLM_MODEL)."""
    return bool(env.get("MEMORY_MCP_LLM_BASE_URL") and env.get("MEMORY_MCP_LLM_MODEL"))


def session_of(event: Mapping[str, Any]) -> str:
    """The event's session id, reduced to letters, digits, - and _ ("" when it has none)."""
    return "".join(ch for ch in str(event.get("session_id") or "") if ch.isalnum() or ch in "-_")[:128]


def state_folder(env: Mapping[str, str]) -> Path:
    """`$XDG_STATE_HOME/memory-mcp/captured` (`~/.local/state/...`), made private to this user."""
    base = env.get("XDG_STATE_HOME") or str(Path(env.get("HOME") or Path.home()) / ".local" / "state")
    folder = Path(base).expanduser() / "memory-mcp" / "captured"
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    return folder


def start(event: Mapping[str, Any], env: Mapping[str, str]) -> bool:
    """Start a background capture of the event's transcript; False (nothing started) without a model, a session
    or a transcript. Returns as soon as the process is started."""
    session, transcript = session_of(event), event.get("transcript_path")
    if not configured(env) or not session or not isinstance(transcript, str) or not transcript:
        return False
    folder = state_folder(env)
    command = [sys.executable, "-m", "memory_mcp", "hook", "capture", "--session", session, "--transcript", transcript]
    with open(folder / LOG_NAME, "ab") as log:
        subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,  # not ended with the hook, nor by the host's signals to it
            env=dict(env),
        )
    return True


# -- the position of each session ----------------------------------------------------------------------


def position_file(folder: Path, database: str, user: str, session: str) -> Path:
    """Where the capture of `session` for `user` in `database` records how far it has read."""
    owner = hashlib.sha256(f"{database}\n{user}".encode()).hexdigest()[:16]
    return folder / f"{owner}-{session}.json"


def read_position(path: Path, transcript: Path) -> int:
    """The byte offset up to which `transcript` was remembered (0 when never, or when the file is now shorter:
    it was rewritten)."""
    try:
        recorded = json.loads(path.read_text(encoding="utf-8"))
        offset = int(recorded["offset"])
    except (OSError, ValueError, KeyError, TypeError):
        return 0
    try:
        return offset if transcript.stat().st_size >= offset else 0
    except OSError:
        return 0


def save_position(path: Path, transcript: Path, offset: int) -> None:
    """Record `offset` (written whole: a new file renamed over the old)."""
    fresh = path.with_suffix(".tmp")
    fresh.write_text(json.dumps({"transcript": str(transcript), "offset": offset}), encoding="utf-8")
    fresh.replace(path)


@contextlib.contextmanager
def only_one(path: Path) -> Iterator[bool]:
    """Hold the capture lock of one session while the block runs; yields False when another capture holds it."""
    try:
        import fcntl
    except ImportError:  # no advisory locks (Windows): captures are rare enough to run unguarded
        yield True
        return
    with open(path.with_suffix(".lock"), "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


# -- the new part of a transcript ----------------------------------------------------------------------


@dataclass(frozen=True)
class Part:
    """Messages of a transcript to remember together, and the byte offset just after the last line they came from."""

    messages: list[Message]
    end: int


def new_parts(transcript: Path, offset: int, limit: int = MAX_CHARS) -> tuple[list[Part], list[str]]:
    """The messages of `transcript` (JSON lines) after byte `offset`, in parts of at most `limit` characters, and
    what was skipped (lines that are not JSON or not a message; a message longer than `limit` is cut to it).
    Only complete lines are read: a line still being written is left for the next capture."""
    with open(transcript, "rb") as handle:
        handle.seek(offset)
        data = handle.read()
    complete = data[: data.rfind(b"\n") + 1]
    parts: list[Part] = []
    skipped: list[str] = []
    messages: list[Message] = []
    size, position = 0, offset
    for number, raw in enumerate(complete.splitlines(keepends=True), start=1):
        position += len(raw)
        try:
            message = line_message(raw.decode("utf-8", errors="replace"), f"Line {number} after byte {offset}")
        except InvalidInputError as exc:
            skipped.append(str(exc))
            message = None
        if message is None:
            continue
        if len(message.content) > limit:
            skipped.append(f"a message of {len(message.content):,} characters was cut to {limit:,}")
            message = Message(message.role, message.content[:limit])
        if messages and size + len(message.content) > limit:
            parts.append(Part(messages, position - len(raw)))
            messages, size = [], 0
        messages.append(message)
        size += len(message.content)
    if messages or position > offset:
        parts.append(Part(messages, position))
    return parts, skipped
