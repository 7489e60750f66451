"""The Lambda Runtime API, service side, for one execution environment.

A runtime (``aws-lambda-ric``, a ``bootstrap``) finds it at
``AWS_LAMBDA_RUNTIME_API=127.0.0.1:PORT``; each environment has its own
loopback port, so every request is known to come from that environment.

- ``GET /2018-06-01/runtime/invocation/next``: a long poll, answered when an
  invocation is dispatched: the event as the body, and the headers
  ``Lambda-Runtime-Aws-Request-Id``, ``-Deadline-Ms``,
  ``-Invoked-Function-Arn``, ``-Trace-Id`` and, when the caller gave them,
  ``-Client-Context`` and ``-Cognito-Identity``.
- ``POST /2018-06-01/runtime/invocation/{id}/response``: buffered (a whole
  body; over 6,291,556 bytes: 413 ``RequestEntityTooLarge`` to the runtime)
  or, with ``Lambda-Runtime-Function-Response-Mode: streaming``, a chunked
  body read as it comes and never faster than the caller takes it: past a
  small buffer the connection stops being read, so TCP's window carries the
  caller's pace (and the 2 MBps cap) back to the function's writes, and the
  end of the response lets it be read again (the runtime's next response
  may come on the same connection). The chunks are read into large buffers
  and passed on as slices of them, never copied here (:class:`ChunkedDecoder`).
  The trailers ``Lambda-Runtime-Function-Error-Type`` / ``-Error-Body``
  (base64 JSON) are an error mid-stream. Any other response mode is 400
  ``InvalidFunctionResponseMode`` and fails the invocation with
  ``Runtime.InvalidResponseModeHeader``.
- ``POST /2018-06-01/runtime/invocation/{id}/error`` and
  ``POST /2018-06-01/runtime/init/error``: the function's error document.
- A response for an id that is not the one in flight (unknown, or answered
  already) is 400 ``InvalidRequestID``; other paths 404. Successes are 202
  ``{"status":"OK"}``, as the Runtime API answers.

:class:`Invocation` is what the environment and this server share: the
event going in, the response coming out (chunks, a buffered body, an error).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
import re
import socket
import sys
from collections import deque
from typing import Any, Literal, Protocol

import httptools

from lstream_cli.chunked import ChunkedDecoder
from lstream_cli.emulator.config import BUFFERED_RESPONSE_LIMIT

__all__ = [
    "ERROR_BODY_LIMIT",
    "Invocation",
    "RuntimeApiServer",
]

_PREFIX = "/2018-06-01/runtime/"
_RESPONSE = re.compile(r"^/2018-06-01/runtime/invocation/([^/]+)/(response|error)$")
_MODE_HEADER = "lambda-runtime-function-response-mode"
_ERROR_TYPE = "lambda-runtime-function-error-type"
_ERROR_BODY = "lambda-runtime-function-error-body"
_HIGH_WATER = 4 * 1024 * 1024  # bytes queued from a streaming response before reading stops
_LOW_WATER = 1024 * 1024
_STREAM_BUFFER = 2 * 1024 * 1024  # receive buffer while a streamed body arrives
_HEAD_BUFFER = 64 * 1024  # receive buffer otherwise (heads, /next, buffered bodies)
_MIN_ROOM = 64 * 1024  # a buffer with less room left than this is retired
_SPARES = 4  # retired buffers kept for reuse
_RECEIVE_BUFFER = 1024 * 1024  # SO_RCVBUF of the runtime's connections (the kernel doubles it)
ERROR_BODY_LIMIT = BUFFERED_RESPONSE_LIMIT  # an error document is a payload too

_ACCEPTED = b'{"status":"OK"}'
_INVALID_ID = b'{"errorMessage":"Invalid request ID","errorType":"InvalidRequestID"}'
_INVALID_MODE = (
    b'{"errorMessage":"Invalid function response mode","errorType":"InvalidFunctionResponseMode"}'
)
_TOO_LARGE = (
    b'{"errorMessage":"Exceeded maximum allowed payload size (%d bytes).",'
    b'"errorType":"RequestEntityTooLarge"}' % BUFFERED_RESPONSE_LIMIT
)
_NOT_FOUND = b'{"errorMessage":"Not Found","errorType":"NotFound"}'


class Invocation:
    """One invocation in an environment: the event in, the runtime's response out."""

    def __init__(
        self,
        request_id: str,
        payload: bytes,
        headers: list[tuple[str, str]],
    ) -> None:
        self.request_id = request_id
        self.payload = payload
        self.next_headers = headers  # the /next answer's Lambda-Runtime-* headers
        self.state: Literal["pending", "sent", "responding", "done"] = "pending"
        self.mode: Literal["buffered", "streaming"] | None = None
        self.content_type = "application/json"
        self.chunks: deque[bytes | memoryview] = deque()
        self.queued = 0  # bytes in chunks
        self.body = b""  # a buffered response
        self.error_type: str | None = None  # /error, or the trailers of a stream
        self.error_body = b""
        self.too_large = False  # a buffered response over the limit (413 sent)
        self.invalid_mode = False
        self.cut = False  # the runtime's connection closed in the middle of the response
        self.finished = False  # the response (or error) is complete
        self.expired = False  # past the function's timeout
        self._conn: _RuntimeConnection | None = None
        self._waiter: asyncio.Future[None] | None = None

    # -- the environment's side ---------------------------------------------
    def wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def expire(self) -> None:
        """The function's time is up (a timer set once per invocation calls this)."""
        self.expired = True
        self.wake()

    async def wait(self) -> bool:
        """Wait for news (data, an end, a wake); False once the time is up."""
        if self.chunks or self.finished:
            return True
        if self.expired:
            return False
        self._waiter = asyncio.get_running_loop().create_future()
        try:
            await self._waiter
        finally:
            self._waiter = None
        return not self.expired or bool(self.chunks) or self.finished

    def pop(self) -> bytes | memoryview:
        data = self.chunks.popleft()
        self.queued -= len(data)
        conn = self._conn
        if conn is not None and self.queued <= _LOW_WATER:
            conn.resume()
        return data

    def trailer_error(self) -> tuple[str, bytes] | None:
        """The error a stream's trailers carried, as (type, JSON document)."""
        if self.error_type is None:
            return None
        return self.error_type, self.error_body

    # -- the server's side ----------------------------------------------------
    def _push(self, conn: _RuntimeConnection, data: bytes | memoryview) -> None:
        self.chunks.append(data)
        self.queued += len(data)
        if self.queued > _HIGH_WATER:
            conn.pause()
        self.wake()

    def _finish(self) -> None:
        self.finished = True
        self.state = "done"
        conn = self._conn
        self._conn = None
        if conn is not None:
            # Reading may have stopped on this response's last bytes: the
            # connection's next request (the runtime's next response) must be read.
            conn.resume()
        self.wake()


class EnvironmentSide(Protocol):
    """What a :class:`RuntimeApiServer` asks of its environment."""

    def invocation(self, request_id: str) -> Invocation | None:
        """The invocation in flight with that id (None: unknown, or none)."""

    def next_requested(self, conn: _RuntimeConnection) -> None:
        """The runtime asks for its next invocation (answer with ``conn.send_next``)."""

    def init_error(self, error_type: str, body: bytes) -> None:
        """The runtime failed to initialise."""


def _refs(spares: list[bytearray], i: int) -> int:
    return sys.getrefcount(spares[i])


# The count for a buffer only the list holds, measured the same way (so it is
# right whatever the interpreter counts for the call itself): every live
# memoryview of a buffer adds one.
_UNSHARED_REFS = _refs([bytearray(1)], 0)


def _unshared(spares: list[bytearray], i: int) -> bool:
    """No memoryview of ``spares[i]`` is alive: nothing else holds it."""
    return _refs(spares, i) <= _UNSHARED_REFS


class _RuntimeConnection(asyncio.BufferedProtocol):
    """One connection from the runtime.

    Heads, ``/next`` and buffered bodies are parsed by httptools. A streamed
    response's chunked body is read into large buffers and decoded by
    :class:`ChunkedDecoder`: its data goes on as memoryviews of those
    buffers, never copied in this process, and a buffer is written again
    only once no view of it is left (the transport to the caller may still
    hold some).
    """

    def __init__(self, side: EnvironmentSide) -> None:
        self.side = side
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self._paused = False
        self._buf = bytearray()
        self._filled = 0
        self._spares: list[bytearray] = []
        self._fresh = True  # at a message boundary: nothing of the next head parsed yet
        self._tail = b""  # the last bytes of a head still arriving (its end may be split)
        self._headers_now = False  # httptools reached the end of a head in this feed
        self._completed_last = True  # the last thing httptools parsed ended a message
        self._decoder: ChunkedDecoder | None = None
        self._keep_alive = True
        self._reset()

    def _reset(self) -> None:
        self._url = bytearray()
        self._headers: dict[str, str] = {}
        self._trailers: dict[str, str] = {}
        self._in_trailers = False
        self._action = ""
        self._invocation: Invocation | None = None
        self._body: list[bytes] = []
        self._size = 0

    # -- asyncio.Protocol -------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        inv = self._invocation
        if inv is not None and not inv.finished:
            inv.cut = True  # a response that never ended
            inv._finish()

    def get_buffer(self, sizehint: int) -> memoryview:
        size = _STREAM_BUFFER if self._decoder is not None else _HEAD_BUFFER
        if len(self._buf) != size or len(self._buf) - self._filled < min(_MIN_ROOM, size // 4):
            self._buf = self._take_buffer(size)
            self._filled = 0
        end = len(self._buf)
        inv = self._invocation
        if self._decoder is not None and inv is not None:
            # Never read much past the high-water mark: what the function is ahead
            # of its caller stays within the same few MiB however large the reads.
            end = min(end, self._filled + max(_HIGH_WATER - inv.queued, _MIN_ROOM))
        return memoryview(self._buf)[self._filled : end]

    def _take_buffer(self, size: int) -> bytearray:
        """A buffer of ``size`` bytes no view refers to: a spare one, or a new one."""
        spares = self._spares
        if self._buf:
            spares.append(self._buf)
        self._buf = bytearray()
        for i in range(len(spares) - 1, -1, -1):
            if len(spares[i]) == size and _unshared(spares, i):
                return spares.pop(i)
        if len(spares) > _SPARES:
            del spares[0]
        return bytearray(size)

    def buffer_updated(self, nbytes: int) -> None:
        start = self._filled
        self._filled = end = start + nbytes
        if self._decoder is not None:
            self._decode(self._buf, start, end)
        else:
            self.data_received(bytes(memoryview(self._buf)[start:end]))

    def data_received(self, data: bytes) -> None:
        """Bytes outside a decoded stream: to httptools (a head alone when at a boundary)."""
        if not self._fresh:
            self._parse(data)
            return
        joined = self._tail + data
        at = joined.find(b"\r\n\r\n")
        if at < 0:  # no head has ended: still at the boundary once these are parsed
            self._tail = joined[-3:]
            if self._parse(data):
                self._fresh = True
            return
        cut = at + 4 - len(self._tail)  # where the head ends in ``data``
        self._tail = b""
        self._fresh = False
        self._headers_now = False
        if not self._parse(data[:cut]):
            return
        if self._headers_now and self._action == "stream" and self._chunked_body():
            # The body is ours from here: decoded as it comes, passed on without copies.
            self._decoder = ChunkedDecoder()
            self.parser = httptools.HttpRequestParser(self)  # for the next request
            if cut < len(data):
                self._decode(data, cut, len(data))
            return
        if cut < len(data):
            self._parse(data[cut:])

    def _chunked_body(self) -> bool:
        coding = self._headers.get("transfer-encoding", "")
        return coding.lower().strip() == "chunked" and "content-length" not in self._headers

    def _parse(self, data: bytes) -> bool:
        """Feed httptools; False when the request was malformed (answered 400, closed)."""
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            self._bad_request()
            return False
        self._fresh = self._completed_last
        return True

    def _decode(self, buf: bytes | bytearray, start: int, end: int) -> None:
        decoder = self._decoder
        assert decoder is not None
        pieces = decoder.feed(buf, start, end)
        inv = self._invocation
        if inv is not None:
            for piece in pieces:  # what came before a framing error too
                inv._push(self, piece)
        if decoder.error is not None:
            self._decoder = None
            self._bad_request()
            return
        if decoder.done:
            self._decoder = None
            del self._spares[:-1]  # one spare kept for the next stream: idle memory stays small
            self._trailers = decoder.trailers
            self._end_message()
            self._fresh = True
            if decoder.rest < end and not self.closed:
                self.data_received(bytes(memoryview(buf)[decoder.rest : end]))

    def _bad_request(self) -> None:
        self._answer(400, b'{"errorMessage":"Bad Request","errorType":"BadRequest"}')
        if self.transport is not None:
            self.transport.close()

    def pause(self) -> None:
        if not self._paused and self.transport is not None:
            self._paused = True
            self.transport.pause_reading()

    def resume(self) -> None:
        if self._paused and self.transport is not None and not self.closed:
            self._paused = False
            self.transport.resume_reading()

    # -- httptools callbacks ------------------------------------------------
    def on_message_begin(self) -> None:
        self._completed_last = False
        self._reset()

    def on_url(self, url: bytes) -> None:
        self._url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        target = self._trailers if self._in_trailers else self._headers
        target[name.decode("latin-1").lower()] = value.decode("latin-1")

    def on_headers_complete(self) -> None:
        self._headers_now = True
        self._keep_alive = self.parser.should_keep_alive()
        self._in_trailers = True
        method = self.parser.get_method()
        path = bytes(self._url).partition(b"?")[0].decode("latin-1")
        if method == b"GET" and path == _PREFIX + "invocation/next":
            self._action = "next"
            return
        if method == b"POST" and path == _PREFIX + "init/error":
            self._action = "init_error"
            return
        match = _RESPONSE.match(path) if method == b"POST" else None
        if match is None:
            self._action = "not_found"
            return
        inv = self.side.invocation(_unquote(match.group(1)))
        if inv is None or inv.state != "sent":
            self._action = "invalid_id"
            return
        if match.group(2) == "error":
            self._action = "error"
            self._invocation = inv
            inv.state = "responding"
            return
        mode = self._headers.get(_MODE_HEADER, "")
        inv.state = "responding"
        self._invocation = inv
        inv._conn = self
        inv.content_type = self._headers.get("content-type", "application/json")
        if mode == "streaming":
            self._action = "stream"
            inv.mode = "streaming"
            inv.wake()  # the response has begun
        elif mode == "":
            self._action = "buffered"
            inv.mode = "buffered"
        else:
            self._action = "invalid_mode"

    def on_body(self, body: bytes) -> None:
        inv = self._invocation
        if self._action == "stream" and inv is not None:
            inv._push(self, body)
            return
        self._size += len(body)
        limit = BUFFERED_RESPONSE_LIMIT if self._action == "buffered" else ERROR_BODY_LIMIT
        if self._size <= limit:
            self._body.append(body)
        else:
            self._body = []  # read and dropped: the answer is a 413

    def on_message_complete(self) -> None:
        self._completed_last = True
        self._end_message()

    def _end_message(self) -> None:
        action = self._action
        inv = self._invocation
        self._invocation = None
        body = b"".join(self._body)
        self._body = []
        if action == "next":
            self.side.next_requested(self)
            return
        if action == "not_found":
            self._answer(404, _NOT_FOUND)
        elif action == "invalid_id":
            self._answer(400, _INVALID_ID)
        elif action == "init_error":
            self._answer(202, _ACCEPTED)
            error_type = self._headers.get(_ERROR_TYPE, "Runtime.Unknown")
            self.side.init_error(error_type, body)
        elif inv is None:
            self._answer(500, b'{"errorMessage":"no invocation","errorType":"Internal"}')
        elif action == "invalid_mode":
            self._answer(400, _INVALID_MODE)
            inv.invalid_mode = True
            inv._finish()
        elif action == "error":
            self._answer(202, _ACCEPTED)
            inv.error_type = self._headers.get(_ERROR_TYPE, "Unhandled")
            inv.error_body = body
            inv._finish()
        elif action == "buffered":
            if self._size > BUFFERED_RESPONSE_LIMIT:
                self._answer(413, _TOO_LARGE)
                inv.too_large = True
            else:
                self._answer(202, _ACCEPTED)
                inv.body = body
            inv._finish()
        elif action == "stream":
            self._answer(202, _ACCEPTED)
            trailer_type = self._trailers.get(_ERROR_TYPE)
            if trailer_type:
                inv.error_type = trailer_type
                inv.error_body = _trailer_body(self._trailers.get(_ERROR_BODY, ""), trailer_type)
            inv._finish()

    # -- answers ----------------------------------------------------------------
    def _answer(self, status: int, body: bytes) -> None:
        if self.transport is None or self.closed:
            return
        reason = {200: "OK", 202: "Accepted", 400: "Bad Request", 404: "Not Found"}.get(
            status, "Payload Too Large" if status == 413 else "Error"
        )
        head = [f"HTTP/1.1 {status} {reason}\r\n", "Content-Type: application/json\r\n"]
        head.append(f"Content-Length: {len(body)}\r\n\r\n")
        self.transport.write("".join(head).encode("latin-1") + body)
        if not self._keep_alive:
            self.transport.close()

    def send_next(self, inv: Invocation) -> bool:
        """Answer the waiting ``/next`` with ``inv`` (now in flight); False if it left."""
        if self.transport is None or self.closed:
            return False
        inv.state = "sent"
        head = ["HTTP/1.1 200 OK\r\n", "Content-Type: application/json\r\n"]
        head.extend(f"{k}: {v}\r\n" for k, v in inv.next_headers)
        head.append(f"Content-Length: {len(inv.payload)}\r\n\r\n")
        self.transport.write("".join(head).encode("utf-8") + inv.payload)
        return True


def _unquote(text: str) -> str:
    from urllib.parse import unquote

    return unquote(text)


def _trailer_body(raw: str, error_type: str) -> bytes:
    """The error trailer's body: base64 JSON (a plain text one is wrapped)."""
    try:
        doc = base64.b64decode(raw, validate=True)
        json.loads(doc)
        return doc
    except (binascii.Error, ValueError):
        return json.dumps({"errorType": error_type, "errorMessage": raw}).encode("utf-8")


class RuntimeApiServer:
    """The Runtime API of one environment, listening on a loopback port."""

    def __init__(self, side: EnvironmentSide) -> None:
        self.side = side
        self._server: asyncio.base_events.Server | None = None
        self._connections: set[_RuntimeConnection] = set()
        self.port = 0

    async def listen(self, host: str = "127.0.0.1") -> int:
        loop = asyncio.get_running_loop()

        def factory() -> _RuntimeConnection:
            conn = _RuntimeConnection(self.side)
            self._connections.add(conn)
            return conn

        sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
        try:
            # A fixed receive buffer (the kernel's autotuning would let it grow to
            # tens of MiB): what the function can be ahead of its caller stays
            # known, its 4 MiB queue here plus a little in the sockets.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, _RECEIVE_BUFFER)
            sock.bind((host, 0))
            self._server = await loop.create_server(factory, sock=sock)
        except BaseException:
            sock.close()
            raise
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self.port

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for conn in self._connections:
            if conn.transport is not None and not conn.closed:
                conn.transport.close()
        self._connections.clear()
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 1.0)
            self._server = None


def next_headers(
    request_id: str,
    deadline_ms: int,
    arn: str,
    trace_id: str,
    client_context: str | None,
    cognito_identity: str | None,
) -> list[tuple[str, str]]:
    """The ``/next`` answer's headers, as the Runtime API names them."""
    headers = [
        ("Lambda-Runtime-Aws-Request-Id", request_id),
        ("Lambda-Runtime-Deadline-Ms", str(deadline_ms)),
        ("Lambda-Runtime-Invoked-Function-Arn", arn),
        ("Lambda-Runtime-Trace-Id", trace_id),
    ]
    if client_context:
        headers.append(("Lambda-Runtime-Client-Context", client_context))
    if cognito_identity:
        headers.append(("Lambda-Runtime-Cognito-Identity", cognito_identity))
    return headers


def prelude_document(raw: bytes) -> tuple[int, dict[str, str], list[str]]:
    """The metadata prelude (``{"statusCode", "headers", "cookies"}``) of an HTTP stream."""
    try:
        doc: Any = json.loads(raw) if raw.strip() else {}
    except ValueError:
        doc = {}
    if not isinstance(doc, dict):
        doc = {}
    try:
        status = int(doc.get("statusCode", 200))
    except (TypeError, ValueError):
        status = 200
    raw_headers = doc.get("headers")
    headers = (
        {str(k): str(v) for k, v in raw_headers.items()} if isinstance(raw_headers, dict) else {}
    )
    raw_cookies = doc.get("cookies")
    cookies = [str(c) for c in raw_cookies] if isinstance(raw_cookies, list) else []
    return status, headers, cookies
