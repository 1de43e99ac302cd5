"""The stdio transport: lines read and written on the event loop (no thread per line), every request answered."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import logging
import os
import stat
import sys
from collections.abc import AsyncIterator, Callable
from typing import Any, BinaryIO, Final

import anyio
import mcp_types as types
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream
from mcp.server.stdio import stdio_server
from mcp.shared.message import SessionMessage
from pydantic import ValidationError

logger = logging.getLogger(__name__)

PARSE_ERROR: Final = -32700
INVALID_REQUEST: Final = -32600
LINE_LIMIT: Final = 64 * 1024 * 1024
"""The longest line read as one message (bytes); a longer one is answered with an error and skipped."""
WRITE_GRACE: Final = 5.0
"""Seconds a stopping server waits for a client to read the replies still queued."""
DRAIN: Final = 60.0
"""Seconds the server keeps answering the requests it has when the client closes its end (then it stops)."""


def _error(ident: Any, code: int, message: str) -> str:
    reply = {"jsonrpc": "2.0", "id": ident, "error": {"code": code, "message": message}}
    return json.dumps(reply, separators=(",", ":"))


def _unpaired(value: Any) -> bool:
    """True when a string anywhere in `value` holds a lone surrogate (JSON's \\ud800 escapes decode to one)."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return True
        return False
    if isinstance(value, dict):
        return any(_unpaired(key) or _unpaired(item) for key, item in value.items())
    if isinstance(value, list):
        return any(_unpaired(item) for item in value)
    return False


def verdict(line: bytes) -> str | None:
    """What to do with one line read from the client: None to pass it to the SDK, else the reply to write in its
    place ("" for nothing: a blank line, or a broken notification, which JSON-RPC never answers).

    The SDK drops, without a reply, any line it cannot read as a message, so a caller would wait for its own
    timeout: not JSON, not valid UTF-8, a batch, a message of no known shape, and text with an unpaired surrogate
    (which no handler could store). Each gets an error here, with the request's id when it has one."""
    if not line.strip():
        return ""
    try:
        text, readable = line.decode("utf-8"), True
    except UnicodeDecodeError:
        text, readable = line.decode("utf-8", errors="replace"), False
    try:
        message = json.loads(text)
    except ValueError as exc:
        return _error(
            None, PARSE_ERROR, f"Parse error: the line is not JSON ({exc}). Send one JSON-RPC message a line."
        )
    if not isinstance(message, dict):
        return _error(None, INVALID_REQUEST, "Invalid request: send one JSON-RPC object a line (batches are not used).")
    ident = message.get("id")
    answerable = isinstance(ident, str) or (isinstance(ident, int) and not isinstance(ident, bool))
    problem = None
    if not readable:
        problem = "the line is not valid UTF-8; send UTF-8 text"
    elif _unpaired(message):
        problem = "a string holds an unpaired surrogate escape (such as \\ud800), which is no text; send proper UTF-8"
    else:
        try:
            types.jsonrpc_message_adapter.validate_python(message, by_name=False)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(part) for part in first["loc"][1:]) or "the message"
            problem = f"{where}: {first['msg']} (expected a JSON-RPC 2.0 request, notification or response)"
    if problem is None:
        return None
    if "method" in message and "id" not in message:  # a notification: never answered
        logger.info("a notification was dropped: %s", problem)
        return ""
    return _error(ident if answerable else None, INVALID_REQUEST, f"Invalid request: {problem}. Nothing was done.")


class _Wire:
    """The client's side of stdout: whole lines, written one at a time (the SDK's replies and ours)."""

    def __init__(self, binary: BinaryIO) -> None:
        self._file = anyio.wrap_file(io.TextIOWrapper(binary, encoding="utf-8", write_through=True))
        self._lock = anyio.Lock()

    async def write(self, text: str) -> None:
        async with self._lock:
            await self._file.write(text)

    async def flush(self) -> None:
        async with self._lock:
            await self._file.flush()


class _CheckedLines:
    """The client's lines, as the SDK reads them, with those it would drop answered on `wire` and held back."""

    def __init__(self, binary: BinaryIO, wire: _Wire) -> None:
        self._file = anyio.wrap_file(binary)
        self._wire = wire

    async def __aiter__(self) -> AsyncIterator[str]:
        async for line in self._file:
            reply = verdict(line)
            if reply is None:
                yield line.decode("utf-8")
            elif reply:
                await self._wire.write(reply + "\n")
                await self._wire.flush()


def _claim() -> tuple[BinaryIO, BinaryIO, Callable[[], None]]:
    """The protocol's own copies of stdin and stdout; fd 0 then reads the null device and fd 1 writes to stderr,
    so that a stray print or a child process can never corrupt the wire (as the SDK's own transport does)."""
    if sys.platform == "win32":
        return sys.stdin.buffer, sys.stdout.buffer, lambda: None
    sys.stdout.flush()
    wire_in, wire_out = os.dup(0), os.dup(1)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(2, 1)
    os.close(null)

    def release() -> None:
        with contextlib.suppress(OSError):
            os.dup2(wire_in, 0)
            os.dup2(wire_out, 1)

    # closefd=False: a worker thread may still block reading the descriptor after the transport ends.
    return os.fdopen(wire_in, "rb", closefd=False), os.fdopen(wire_out, "wb", closefd=False), release


class _Outlet(asyncio.Protocol):
    """The write side of the pipe to the client: waits while the pipe is full, so a slow reader slows the server
    rather than growing a buffer without end."""

    def __init__(self) -> None:
        self._open = asyncio.Event()
        self._open.set()
        self.closed = asyncio.Event()

    def pause_writing(self) -> None:
        self._open.clear()

    def resume_writing(self) -> None:
        self._open.set()

    def connection_lost(self, exc: Exception | None) -> None:
        self._open.set()
        self.closed.set()

    async def drained(self) -> None:
        await self._open.wait()


def _pipelike(*files: BinaryIO) -> bool:
    """True when every file is a pipe or a socket: what the event loop can watch without a thread (a terminal or
    a regular file is read and written the SDK's way, and a terminal is never left non-blocking)."""
    if sys.platform == "win32":
        return False
    try:
        asyncio.get_running_loop()
    except RuntimeError:  # another event loop (trio)
        return False
    modes = [os.fstat(file.fileno()).st_mode for file in files]
    return all(stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode) for mode in modes)


@contextlib.asynccontextmanager
async def _loop_streams(
    source: BinaryIO, sink: BinaryIO
) -> AsyncIterator[tuple[MemoryObjectReceiveStream[Any], MemoryObjectSendStream[SessionMessage]]]:
    """Streams over pipes watched by the event loop. Each line is validated once (the SDK's transport reads each in
    a worker thread and writes each reply with two more); a line that is not a message gets `verdict`'s reply."""
    loop = asyncio.get_running_loop()
    descriptors = (source.fileno(), sink.fileno())  # the transports close the file objects, not the descriptors
    reader = asyncio.StreamReader(limit=LINE_LIMIT)
    inlet, _ = await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), source)
    outlet = _Outlet()
    pipe, _ = await loop.connect_write_pipe(lambda: outlet, sink)
    to_server, from_client = anyio.create_memory_object_stream[SessionMessage | Exception](0)
    to_client, from_server = anyio.create_memory_object_stream[SessionMessage](0)
    # The requests read and not yet answered: at the end of input they are answered before the server stops, so
    # that `printf '...' | memory-mcp` gets every reply.
    unanswered: set[Any] = set()
    answered = asyncio.Event()

    async def read() -> None:
        with contextlib.suppress(anyio.BrokenResourceError, anyio.ClosedResourceError):
            await forward()

    async def forward() -> None:
        async with to_server:
            while True:
                try:
                    line = await reader.readline()
                except ValueError:  # longer than LINE_LIMIT: the buffer up to the limit was dropped
                    problem = (
                        f"Invalid request: a line longer than {LINE_LIMIT:,} bytes. Nothing was done; send less a call."
                    )
                    pipe.write(_error(None, INVALID_REQUEST, problem).encode() + b"\n")
                    continue
                if not line:
                    with anyio.move_on_after(DRAIN):
                        while unanswered:
                            answered.clear()
                            await answered.wait()
                    return
                try:
                    message = types.jsonrpc_message_adapter.validate_json(line, by_name=False)
                except ValidationError:
                    reply = verdict(line)
                    if reply is None:  # plain JSON the strict parser refused (NaN, say), yet a message
                        message = types.jsonrpc_message_adapter.validate_python(json.loads(line), by_name=False)
                    else:
                        if reply:
                            pipe.write(reply.encode() + b"\n")
                        continue
                if isinstance(message, types.JSONRPCRequest):
                    unanswered.add(message.id)
                await to_server.send(SessionMessage(message))

    written = anyio.Event()

    async def write() -> None:
        async with from_server:
            async for outgoing in from_server:
                reply = outgoing.message
                pipe.write(reply.model_dump_json(by_alias=True, exclude_unset=True).encode() + b"\n")
                if isinstance(reply, types.JSONRPCResponse | types.JSONRPCError) and reply.id in unanswered:
                    unanswered.discard(reply.id)
                    answered.set()
                await outlet.drained()
        written.set()

    try:
        async with anyio.create_task_group() as group:
            group.start_soon(read)
            group.start_soon(write)
            try:
                yield from_client, to_client
            finally:
                inlet.close()  # the reader sees the end of input
                from_client.close()
                to_client.close()  # the writer ends once every reply queued is written,
                with anyio.CancelScope(shield=True), anyio.move_on_after(WRITE_GRACE):
                    await written.wait()
                group.cancel_scope.cancel()  # or gives up on a client that no longer reads
    finally:
        pipe.close()  # after what is buffered has gone out
        with anyio.CancelScope(shield=True), anyio.move_on_after(WRITE_GRACE):
            await outlet.closed.wait()
        for descriptor in descriptors:
            with contextlib.suppress(OSError):
                os.set_blocking(descriptor, True)


@contextlib.asynccontextmanager
async def stdio_streams() -> AsyncIterator[tuple[Any, Any]]:
    """(read, write) streams for a server over this process's stdin and stdout."""
    source, sink, release = _claim()
    try:
        if _pipelike(source, sink):
            async with _loop_streams(source, sink) as streams:
                yield streams
        else:
            wire = _Wire(sink)
            async with stdio_server(_CheckedLines(source, wire), wire) as streams:  # type: ignore[arg-type]
                yield streams
    finally:
        release()
