"""Several server processes on one port: a supervisor binds the socket, starts workers that share it, starts
another when one dies, and on SIGTERM or SIGINT stops them all, each finishing the calls it has in flight.

Each worker is a whole server (`memory-mcp` with the same options) on the same database: a write through one is
seen by a search through another at once, as for two stdio servers (the SQLite store's change log, PostgreSQL's
own search). The kernel hands each new connection to one of the workers, so a session cannot be kept in one
process's memory: with more than one worker, MCP over HTTP is stateless (no sampling, roots or notifications from
the server; every other call works the same).
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from typing import Final

logger = logging.getLogger(__name__)

LISTEN_FD: Final = "MEMORY_MCP_LISTEN_FD"
"""Set for a worker: the file descriptor of the listening socket it inherits from the supervisor."""
_QUICK_DEATH: Final = 5.0  # a worker that ends sooner than this after its start did not start
_QUICK_DEATHS_ALLOWED: Final = 3


def listening_sockets(host: str, port: int, count: int) -> list[socket.socket]:
    """The sockets the workers accept connections on (inheritable): one per worker, all bound to the port with
    SO_REUSEPORT so that the kernel spreads new connections evenly over them (one accepting process would
    otherwise take most of a burst); where the option is missing, one socket that every worker shares."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    spread = hasattr(socket, "SO_REUSEPORT") and sys.platform.startswith("linux")
    made = []
    for _ in range(count if spread else 1):
        listener = socket.create_server((host, port), family=family, backlog=2048, reuse_port=spread)
        listener.set_inheritable(True)
        made.append(listener)
    return made


def inherited_socket() -> socket.socket | None:
    """In a worker, the socket the supervisor bound (None in a server that binds its own)."""
    descriptor = os.environ.get(LISTEN_FD)
    return None if not descriptor else socket.socket(fileno=int(descriptor))


def supervise(workers: int, host: str, port: int, argv: Sequence[str]) -> int:
    """Serve with `workers` processes of `memory-mcp` (`argv`: its arguments) on one port until SIGTERM or
    SIGINT, then stop them and return 0; 1 when workers keep dying at start (the reason is in their log)."""
    listeners = listening_sockets(host, port, workers)
    command = [sys.executable, "-m", "memory_mcp", *argv]

    def start(number: int) -> tuple[subprocess.Popen[bytes], float]:
        # A replacement gets the socket of the worker it replaces (the supervisor keeps it open, so connections
        # meanwhile wait in its queue). Its own process group: Ctrl-C reaches the supervisor alone, which stops
        # each worker once (a second signal would make uvicorn drop the calls in flight).
        listener = listeners[number % len(listeners)]
        env = {**os.environ, LISTEN_FD: str(listener.fileno())}
        child = subprocess.Popen(
            command, env=env, pass_fds=(listener.fileno(),), stdin=subprocess.DEVNULL, process_group=0
        )
        return child, time.monotonic()

    stopping = False

    def stop(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True
        for child, _ in children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)  # each drains its calls in flight, then ends

    children = [start(number) for number in range(workers)]
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    logger.info("serving with %d workers on %s:%d", workers, host, port)
    quick = 0
    while not (stopping and all(child.poll() is not None for child, _ in children)):
        time.sleep(0.2)
        for number, (child, started) in enumerate(children):
            code = child.poll()
            if code is None or stopping:
                continue
            quick = quick + 1 if time.monotonic() - started < _QUICK_DEATH else 0
            if quick > _QUICK_DEATHS_ALLOWED:
                logger.error("workers keep ending at start (the last with code %s): stopping", code)
                stop(signal.SIGTERM, None)
                break
            logger.warning("worker %d (pid %d) ended with code %s; starting another", number, child.pid, code)
            children[number] = start(number)
    for listener in listeners:
        listener.close()
    return 1 if quick > _QUICK_DEATHS_ALLOWED else 0
