"""What the hooks recall, and their fast path: a running stdio server answers them over a socket of the user's own.

A hook runs as a new process on every prompt. Opening the database and loading the search index in it costs a
few hundred milliseconds at 10,000 memories; a server that is running for the same database (as the host that
runs the hooks keeps one) has them loaded already. Such a server listens on a Unix socket in a folder only its
user can enter, named after the database, and answers three questions: the newest memories (session start), the
few that match a prompt, and `memory-mcp search` (when the command's search settings are the server's). The
hook and the command try that first, and open the database themselves only when no server answers. Both paths
call the same functions below.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import socket
import stat
import sys
import tempfile
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from . import capture
from .locations import database_key, default_db_path, login_user
from .projects import working_project

if TYPE_CHECKING:
    import asyncio

    from .engine import MemoryEngine
    from .relevance import Relevance

logger = logging.getLogger(__name__)

SESSION_BUDGET: Final = 6_000
"""Characters of memories printed at session start (about 1,500 tokens)."""
PROMPT_HITS: Final = 3
"""At most this many memories added to a prompt, and only those relevant to it (`relevance`)."""
NEWEST: Final = 100
"""Memories read for the session start, newest first, before the budget cuts them."""
_PROMPT_CHARS: Final = 2_000
"""The start of a long prompt that is searched."""
_LINE_LIMIT: Final = 65_536
"""Longest request a server reads (a prompt is cut to 2,000 characters before it is sent)."""
_ANSWER_WITHIN: Final = 2.0
"""Seconds a hook waits for a server before it opens the database itself."""
STEPS: Final = ("session-start", "prompt", "stop", "pre-compact")
SEARCH: Final = "search"
"""The command line's question: a search, answered with its results (see `found`)."""
_relevance: Relevance | None = None


# -- the hook's question -------------------------------------------------------------------------------


def event_of(text: str) -> dict[str, Any]:
    """The JSON a host sends a hook on stdin ({} when there is none or it is not a JSON object)."""
    try:
        found = json.loads(text or "{}")
    except ValueError:
        return {}
    return found if isinstance(found, dict) else {}


def request_for(step: str, event: Mapping[str, Any], env: Mapping[str, str]) -> dict[str, Any]:
    """What to recall for a hook `step`: for whom (MEMORY_MCP_USER, else the login name), in which project
    (MEMORY_MCP_PROJECT, else the git repository of the event's `cwd`: Claude Code sends the session's folder),
    and the prompt."""
    cwd = event.get("cwd")
    return {
        "step": step,
        "user": env.get("MEMORY_MCP_USER") or login_user(),
        "project": working_project(Path(cwd) if isinstance(cwd, str) and cwd else None),
        "prompt": str(event.get("prompt") or "")[:_PROMPT_CHARS],
    }


def database_of(env: Mapping[str, str]) -> str:
    """The database a hook reads, as `locations.database_key` names it: MEMORY_MCP_DATABASE_URL, else
    MEMORY_MCP_DB, else the default file (what the server resolves from the same variables)."""
    location = env.get("MEMORY_MCP_DATABASE_URL") or env.get("MEMORY_MCP_DB") or str(default_db_path(env))
    return database_key(location)


REMINDER: Final = (
    "Before you finish: if the user told you lasting facts about themselves in this session (preferences, "
    "plans, people, decisions) that are not in memory yet, save each with add_memory; if not, just finish."
)


def stop_reminder(event: Mapping[str, Any]) -> str:
    """Once per session, before the model stops: a Stop hook's decision asking it to save what it learned
    ("" when this session was reminded already, or is continuing because of the reminder)."""
    session = capture.session_of(event)
    if event.get("stop_hook_active") or not session:
        return ""
    marker = Path(tempfile.gettempdir()) / "memory-mcp-reminded" / session
    if marker.exists():
        return ""
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.touch()
    return json.dumps({"decision": "block", "reason": REMINDER})


def fast(step: str, text: str, env: Mapping[str, str]) -> str | None:
    """What hook `step` prints for the event `text`, when that needs no database (the stop reminder, a capture
    started) or a running server answers; None when the caller must open the database itself."""
    event = event_of(text)
    if step in ("stop", "pre-compact"):
        # With a language model named, the session's new messages are remembered in the background instead of
        # reminding the model to save them (`capture`); PreCompact without one has nothing to do.
        if capture.start(event, env):
            return ""
        return stop_reminder(event) if step == "stop" else ""
    request = request_for(step, event, env)
    if step == "prompt" and not request["prompt"].strip():
        return ""
    return ask(database_of(env), request)


# -- what is recalled, on either path ----------------------------------------------------------------


async def newest(engine: MemoryEngine, user: str, project: str | None) -> list[str]:
    """The texts of the user's newest memories (general, and the project's)."""
    page = await engine.page(engine.scope(user, project=project), limit=NEWEST)
    return [memory.text for memory in page.memories]


async def matching(engine: MemoryEngine, user: str, project: str | None, prompt: str) -> list[str]:
    """The texts of the few memories relevant to `prompt` (`relevance.Relevance`: none when nothing is)."""
    from .relevance import Relevance  # here: the hook's own process may never search (the server answers it)

    global _relevance  # one per process, made on first use: its word lists are analysed once
    if _relevance is None:
        _relevance = Relevance(engine.analyzer)
    asked = prompt[:_PROMPT_CHARS]
    hits = await engine.search(asked, engine.scope(user, project=project), limit=PROMPT_HITS)
    return [hit.memory.text for hit in _relevance.chosen(asked, hits)]


def session_context(texts: list[str], project: str | None) -> str:
    """What the model reads at session start: the newest memories within SESSION_BUDGET ("" when none)."""
    lines, used = [], 0
    for text in texts:
        line = f"- {text}"
        if used + len(line) > SESSION_BUDGET:
            break
        lines.append(line)
        used += len(line) + 1
    if not lines:
        return ""
    where = "" if project is None else f", general and of project {project}"
    return (
        f"What you remember about the user (memory-mcp, {len(lines)} of their newest memories{where}; "
        "search_memory finds others, add_memory keeps new facts):\n" + "\n".join(lines)
    )


def prompt_context(texts: list[str]) -> str:
    """What the model reads beside a prompt ("" when nothing matched)."""
    if not texts:
        return ""
    return "Memories that may bear on this (memory-mcp):\n" + "\n".join(f"- {text}" for text in texts)


async def found(engine: MemoryEngine, request: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The results of `memory-mcp search` (`wire.hit_json` each) for `request`: {"query", "user", "agent", "run",
    "project", "limit", "threshold", "filters", "as_of", "include_superseded", "entity", "neighbors"}."""
    from .wire import hit_json

    scope = engine.scope(request.get("user"), request.get("agent"), request.get("run"), request.get("project"))
    hits = await engine.search(
        request["query"],
        scope,
        limit=request["limit"],
        threshold=request.get("threshold"),
        filters=request.get("filters"),
        validity=engine.validity(request.get("as_of"), bool(request.get("include_superseded"))),
        entity=request.get("entity"),
        neighbors=request.get("neighbors") or 0,
    )
    return [hit_json(hit) for hit in hits]


async def replied(engine: MemoryEngine, request: Any, settings: str | None) -> dict[str, Any]:
    """A server's reply to a request on its socket: a hook's context, or the results of a search made with the
    server's own search `settings` (ValueError for one made with others: the command then searches itself)."""
    if isinstance(request, dict) and request.get("step") == SEARCH:
        if settings is None or request.get("settings") != settings:
            raise ValueError("this server searches with other settings")
        return {"results": await found(engine, request)}
    return {"context": await answer(engine, request)}


def search_settings(embedder: str, embed_dim: int, vector_weight: float | None, max_results: int) -> str:
    """What must be the same for a server's search to be the command's own: the settings that change its answer."""
    return json.dumps([embedder, embed_dim, vector_weight, max_results])


async def answer(engine: MemoryEngine, request: Mapping[str, Any]) -> str:
    """The context a hook prints for `request` ({"step", "user", "project", "prompt"?})."""
    step, user, project = request.get("step"), request.get("user"), request.get("project")
    if not isinstance(user, str) or not (project is None or isinstance(project, str)):
        raise ValueError("user must be a string and project a string or null")
    if step == "session-start":
        return session_context(await newest(engine, user, project), project)
    if step == "prompt":
        prompt = request.get("prompt")
        if not isinstance(prompt, str) or not prompt.strip():
            return ""
        return prompt_context(await matching(engine, user, project, prompt.strip()))
    raise ValueError(f"unknown step {step!r}")


# -- where a server listens ----------------------------------------------------------------------------


def _folder() -> Path | None:
    """The folder of the sockets, private to this user (made with mode 0700); None where there are no Unix
    sockets or the folder is not ours alone."""
    if sys.platform == "win32" or not hasattr(socket, "AF_UNIX"):
        return None
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    folder = Path(runtime) / "memory-mcp" if runtime else Path(tempfile.gettempdir()) / f"memory-mcp-{os.getuid()}"
    try:
        folder.mkdir(mode=0o700, exist_ok=True)
        found = folder.lstat()
    except OSError:
        return None
    if not stat.S_ISDIR(found.st_mode) or found.st_uid != os.getuid() or found.st_mode & 0o077:
        logger.warning("not answering hooks through %s: it is not a folder of this user's alone", folder)
        return None
    return folder


def _prefix(database: str) -> str:
    return hashlib.sha256(database.encode()).hexdigest()[:16] + "-"


@contextlib.asynccontextmanager
async def listening(engine: MemoryEngine, database: str, settings: str | None = None) -> AsyncIterator[Path | None]:
    """Answer hooks for `database` (a `locations.database_key`) on a socket while the block runs, and the command
    line's searches made with the same `settings` (`search_settings`); yields its path (None where hooks cannot be
    answered this way: they then open the database themselves)."""
    import asyncio  # here, not at the top: a hook's process never needs it

    folder = _folder()
    if folder is None:
        yield None
        return
    path = folder / f"{_prefix(database)}{os.getpid()}.sock"
    _sweep(folder, database)  # sockets of servers that died without taking theirs away (kill -9, a crash)

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            line = await asyncio.wait_for(reader.readline(), _ANSWER_WITHIN)
            try:
                reply = await replied(engine, json.loads(line), settings)
            except Exception as exc:  # a bad request or a failed read: the caller opens the database itself
                logger.info("a request on the hooks' socket was not answered: %s", exc)
                reply = {"error": str(exc)}
            writer.write(json.dumps(reply).encode() + b"\n")
            await writer.drain()
        except (OSError, TimeoutError, ValueError):
            pass
        finally:
            writer.close()

    try:
        server = await asyncio.start_unix_server(serve, path=str(path), limit=_LINE_LIMIT)
        path.chmod(0o600)
    except OSError as exc:
        logger.info("not answering hooks through a socket: %s", exc)
        yield None
        return
    _LISTENING.add(path)
    try:
        yield path
    finally:
        server.close()
        _LISTENING.discard(path)
        with contextlib.suppress(OSError):
            path.unlink()


_LISTENING: set[Path] = set()
"""The sockets this process answers hooks on."""


def stop_listening() -> None:
    """Take this process's sockets away now (the process is about to end, perhaps before its blocks unwind: the
    stdio reader cannot be interrupted), so that no hook tries a socket nobody answers."""
    for path in list(_LISTENING):
        with contextlib.suppress(OSError):
            path.unlink()
        _LISTENING.discard(path)


def _sweep(folder: Path, database: str) -> None:
    """Remove the sockets for `database` that no process listens on any more."""
    for stale in folder.glob(_prefix(database) + "*.sock"):
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
            probe.settimeout(0.2)
            try:
                probe.connect(str(stale))
            except (ConnectionRefusedError, FileNotFoundError):
                with contextlib.suppress(OSError):
                    stale.unlink()
            except OSError:
                pass  # busy or slow: it may be alive; leave it


def ask(database: str, request: Mapping[str, Any]) -> str | None:
    """The context a running server for `database` gives for `request`; None when none answers (the caller
    then opens the database itself)."""
    reply = asked(database, request, "context")
    return reply if isinstance(reply, str) else None


def ask_search(database: str, request: Mapping[str, Any]) -> list[dict[str, Any]] | None:
    """The results a running server for `database` gives for a search `request` (see `found`); None when none
    answers, or it searches with other settings, or the search is refused (the command then searches itself and
    says why)."""
    reply = asked(database, {**request, "step": SEARCH}, "results")
    return reply if isinstance(reply, list) else None


def asked(database: str, request: Mapping[str, Any], key: str) -> Any:
    """What the first running server for `database` that answers `request` gives under `key`; None when none
    does."""
    folder = _folder()
    if folder is None:
        return None
    try:
        sockets = sorted(folder.glob(_prefix(database) + "*.sock"), key=lambda p: p.stat().st_mtime, reverse=True)
    except OSError:
        return None
    message = json.dumps(request).encode() + b"\n"
    for path in sockets:
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
                connection.settimeout(_ANSWER_WITHIN)
                connection.connect(str(path))
                connection.sendall(message)
                received = b""
                while not received.endswith(b"\n"):
                    chunk = connection.recv(65_536)
                    if not chunk:
                        break
                    received += chunk
            reply = json.loads(received)
        except (OSError, ValueError):
            continue  # a server that is gone (its socket left behind) or busy: try the next, then the database
        if isinstance(reply, dict) and key in reply:
            return reply[key]
    return None
