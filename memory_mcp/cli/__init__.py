"""The `memory-mcp` console script: the commands (`commands.app`), and the hooks' path that loads none of them."""

from __future__ import annotations

import contextlib
import io
import logging
import os
import sys
from typing import Any, NoReturn

from ..logs import FORMAT, OneLineFormatter

__all__ = ["app", "main"]


def main() -> NoReturn:
    """Entry point of the console script."""
    # stdout carries the protocol when serving: every log line goes to stderr.
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(OneLineFormatter(FORMAT))
    logging.basicConfig(handlers=[handler])
    if len(sys.argv) == 3 and sys.argv[1] == "hook":
        _hook(sys.argv[2])
    from .commands import ONE_SHOT, app

    if len(sys.argv) > 1 and sys.argv[1] in ONE_SHOT:
        try:
            app.main(prog_name="memory-mcp")
        except SystemExit as stop:
            _leave(stop.code)
    app.main(prog_name="memory-mcp")


def _leave(code: object) -> NoReturn:
    """End a one-shot command at once, its output flushed: its work is committed and its files closed, and letting
    the interpreter free every object of a loaded search index first takes longer than the search (40 ms at 10,000
    memories)."""
    if code is not None and not isinstance(code, int):
        sys.stderr.write(f"{code}\n")
        code = 1
    try:
        sys.stdout.flush()
    except (BrokenPipeError, ValueError):  # the reader went away (`| head`): nothing is lost that it wanted
        code = code or 1
    with contextlib.suppress(OSError, ValueError):
        sys.stderr.flush()
    logging.shutdown()
    os._exit(code or 0)


def _hook(step: str) -> None:
    """Answer a hook without loading the commands when no database needs opening (the stop reminder) or a
    running server answers (see `memory_mcp.recall`); otherwise hand its event on to `memory-mcp hook STEP`."""
    from .. import recall

    if step not in recall.STEPS:
        return
    event = sys.stdin.read()
    try:
        context = recall.fast(step, event, os.environ)
    except Exception:  # the slow path reports nothing either: a hook must never stand in the user's way
        logging.getLogger(__name__).debug("the hook's fast path failed", exc_info=True)
        context = None
    if context is None:
        sys.stdin = io.StringIO(event)
        return
    if context:
        sys.stdout.write(context + "\n")
        sys.stdout.flush()
    sys.exit(0)


def __getattr__(name: str) -> Any:
    """`app` (the click group) loads on first use (PEP 562)."""
    if name == "app":
        from .commands import app

        return app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
