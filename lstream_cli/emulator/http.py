"""A lean HTTP/1.1 server: asyncio Protocol + httptools (llhttp), flow-controlled.

Why not a framework: the emulator must never be what limits a load test, so
each connection is one :class:`asyncio.Protocol` that parses with httptools
and answers with ``transport.write``; chunked bodies wait on the transport's
high-water mark (``pause_writing``/``resume_writing``) so a 1 GiB stream keeps
memory flat. An application is one coroutine ``app(request, response)``;
requests on one connection are answered in order (pipelining is allowed).

Malformed requests get 400 and the connection is closed (an HTTP/1.1
request without ``Host``, a request-target that is not a path: an
absolute-form URL is taken as its path, as RFC 9112 asks); a request line and
headers over 64 KiB get 431, and ones not complete within 30 s get 408, as
does a body that stops arriving for 30 s before its end, so a client can
neither fill memory nor hold a request open forever. Bodies over
the server's limit are read and discarded, then answered 413 by the
application (``request.too_large``), so the client always reads the answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from http import HTTPStatus
from itertools import chain
from typing import Any

import httptools

__all__ = [
    "App",
    "ClientGone",
    "Headers",
    "HttpRequest",
    "HttpResponse",
    "HttpServer",
    "reason_phrase",
    "render_fields",
]

_HIGH_WATER = 1024 * 1024
_LOW_WATER = 256 * 1024
_MAX_PIPELINE = 32
_BACKLOG = 2048
_SMALL = 16 * 1024  # chunks below this are framed in one write
MAX_HEAD = 64 * 1024  # request line + headers: past this, 431
HEAD_TIMEOUT_S = 30.0  # a request's line and headers must arrive within this: else 408
BODY_IDLE_TIMEOUT_S = 30.0  # a request body that stops this long before its end: 408


class _Refused(Exception):
    """Raised in a parser callback to refuse the request with ``_Connection._refusal``."""


class ClientGone(ConnectionError):
    """The client closed the connection while the response was being written."""


def reason_phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


_STATUS_LINES: dict[int, bytes] = {}
# The request headers the server itself reads, by their lower-case name.
_FRAMING = {
    b"host": "host",
    b"expect": "expect",
    b"content-length": "content-length",
    b"transfer-encoding": "transfer-encoding",
}
# Header names as received, decoded, with what the server reads in them (None:
# nothing): clients send the same few names on every request. Bounded: long
# names, and names past the first 512, are decoded each time.
_NAMES: dict[bytes, tuple[str, str | None]] = {}
_NAMES_MAX = 512


def _status_line(status: int) -> bytes:
    line = _STATUS_LINES.get(status)
    if line is None:
        line = f"HTTP/1.1 {status} {reason_phrase(status)}\r\n".encode("latin-1")
        _STATUS_LINES[status] = line
    return line


class HttpRequest:
    """One request as received: the raw target and headers, in order."""

    __slots__ = (
        "body",
        "client",
        "headers",
        "http10",
        "keep_alive",
        "method",
        "target",
        "too_large",
    )

    def __init__(
        self,
        method: str,
        target: str,
        headers: list[tuple[str, str]],
        body: bytes,
        keep_alive: bool,
        too_large: bool,
        client: str,
        http10: bool = False,
    ) -> None:
        self.method = method  # upper-case, as sent
        self.target = target  # request-target exactly as received (percent-encoded)
        self.headers = headers  # (name, value) as received, in order
        self.body = body  # empty when too_large
        self.keep_alive = keep_alive
        self.too_large = too_large  # the body exceeded the server's limit
        self.client = client  # peer IP address
        self.http10 = http10  # an HTTP/1.0 request: no chunked framing in the answer

    @property
    def path(self) -> str:
        return self.target.partition("?")[0]

    @property
    def query(self) -> str:
        return self.target.partition("?")[2]

    def header(self, name: str) -> str | None:
        """The first header of that name (case-insensitive), or None."""
        lname = name.lower()
        for key, value in self.headers:
            if key.lower() == lname:
                return value
        return None


# A response's header fields: (name, value) pairs, or those already rendered.
Headers = Iterable[tuple[str, str]] | bytes


def render_fields(headers: Iterable[tuple[str, str]]) -> bytes:
    """Header lines as sent (``name: value\\r\\n`` each), encoded once."""
    return "".join([f"{name}: {value}\r\n" for name, value in headers]).encode("latin-1", "replace")


def _bodiless(status: int) -> bool:
    """Statuses whose responses carry no body at all (RFC 9110 §6.4.1)."""
    return status < 200 or status in (204, 304)


class HttpResponse:
    """Writes one response: either whole (:meth:`send`) or streamed (start/write/end)."""

    __slots__ = (
        "_chunked",
        "_conn",
        "_head",
        "_http10",
        "bytes_sent",
        "finished",
        "started",
        "status",
    )

    def __init__(self, conn: _Connection, head: bool, http10: bool = False) -> None:
        self._conn = conn
        self._head = head  # a HEAD request: headers only
        self._http10 = http10  # HTTP/1.0 knows no chunked: a stream ends with the connection
        self._chunked = False
        self.started = False
        self.finished = False
        self.status = 0
        self.bytes_sent = 0  # body bytes written

    @property
    def client_gone(self) -> bool:
        return self._conn.closed

    async def wait_gone(self) -> None:
        """Return once the client has closed the connection."""
        await asyncio.shield(self._conn.gone)

    def _head_bytes(self, status: int, headers: Headers, length: int | None) -> bytes:
        # Already rendered (``render_fields``), or rendered now.
        fields = headers if isinstance(headers, bytes) else render_fields(headers)
        head = (_STATUS_LINES.get(status) or _status_line(status)) + fields
        if status < 200 or status in (204, 304):  # _bodiless(status)
            pass  # no framing: the client reads no body after a 1xx, 204 or 304
        elif length is None:
            if self._chunked:
                head += b"transfer-encoding: chunked\r\n"
        else:
            head += b"content-length: %d\r\n" % length
        if not self._conn.keep_alive:
            head += b"connection: close\r\n"
        return head + b"\r\n"

    def send(self, status: int, body: bytes, headers: Headers = ()) -> None:
        """The whole response at once, with Content-Length."""
        if self.started:
            raise RuntimeError("response already started")
        self.started = self.finished = True
        self.status = status
        if _bodiless(status):
            self._head = True  # whatever the handler wrote, none of it may follow
            body = b""
        conn = self._conn
        conn.buffer(self._head_bytes(status, headers, len(body)), flush=False)
        if body and not self._head:
            self.bytes_sent = len(body)
            conn.response_done(body)  # with the head, in one write
        else:
            conn.response_done()

    def start(
        self,
        status: int,
        headers: Headers,
        content_length: int | None = None,
        now: bool = False,
    ) -> None:
        """Status line and headers; the body follows (chunked without a length).

        They are held until the first body bytes (or the end), so they leave in
        one packet with them, as Lambda sends a stream's status; ``now`` sends
        them at once.
        """
        if self.started:
            raise RuntimeError("response already started")
        self.started = True
        self.status = status
        if _bodiless(status):
            self._head = True  # the body is dropped, as AWS's front end does
        self._chunked = content_length is None and not self._http10 and not self._head
        if content_length is None and self._http10:
            self._conn.keep_alive = False  # close-delimited: the end of the body is the close
        self._conn.buffer(self._head_bytes(status, headers, content_length), flush=now)

    async def write(self, data: bytes | memoryview) -> None:
        """Write body bytes, waiting while the client is slower than we are."""
        conn = self._conn
        if self.finished:
            # The response has ended: these bytes would land in the next one.
            raise RuntimeError("write after the response ended")
        if conn.closed:
            raise ClientGone("client closed the connection")
        n = len(data)
        if not n or self._head:
            return
        if conn.paused:
            await conn.drain()
        self.bytes_sent += n
        if self._chunked:
            if n < _SMALL:
                conn.buffer(b"%x\r\n%b\r\n" % (n, bytes(data)))
            else:
                # The size line (after anything pending), the data and its CRLF in one writev.
                conn.write_after(b"%x\r\n" % n, data, b"\r\n")
        elif n < _SMALL:
            conn.buffer(data)
        else:
            conn.flush()
            conn.write(data)
        if conn.paused:
            await conn.drain()

    def end(self) -> None:
        """Finish the body (the terminating chunk) and free the connection."""
        if self.finished:
            return
        self.finished = True
        if self._chunked and not self._head:
            self._conn.response_done(b"0\r\n\r\n")
        else:
            self._conn.response_done()

    def abort(self) -> None:
        """Cut the response: close the connection without ending the body."""
        self.finished = True
        self._conn.abort()


App = Callable[[HttpRequest, HttpResponse], Awaitable[None]]


class _Connection(asyncio.Protocol):
    def __init__(self, server: HttpServer) -> None:
        self.server = server
        self.loop = server.loop
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        self.client = ""
        self.closed = False
        self.paused = False
        self.keep_alive = True
        self._drain_waiter: asyncio.Future[None] | None = None
        self._url = bytearray()
        self._headers: list[tuple[str, str]] = []
        self._has_host = False
        self._continues = 0
        self._body_follows = False
        self._body: list[bytes] = []
        self._body_size = 0
        self._too_large = False
        self._queue: deque[HttpRequest] = deque()
        # One task serves the connection's requests in order; between them it waits
        # on ``_wakeup`` (not a task per request).
        self._task: asyncio.Task[None] | None = None
        self._wakeup: asyncio.Future[None] | None = None
        self._busy = False  # a request is queued or its response is being sent
        self._reading_paused = False
        self._close_after = False
        self._pending: list[bytes | memoryview] = []
        self._pending_size = 0
        self._flush_handle: asyncio.Handle | None = None  # this loop iteration's flush
        self._in_head = True  # reading a request line and headers (or idle between requests)
        self._head_size = 0  # bytes received since this request's head began
        self._fed = 0  # the size of the bytes being parsed
        self._carried = 0  # the size of the read in which the request before ended
        self._head_timer: asyncio.TimerHandle | None = None
        self._head_began: float | None = None  # when this request's head began (None: not in one)
        self._refusal: tuple[int, bytes] | None = None
        # A refusal (400/408/431) found while earlier requests are still being
        # answered waits for them: it is sent after their responses, then closes.
        self._deferred: tuple[int, bytes] | None = None
        self._body_timer: asyncio.TimerHandle | None = None
        self._body_at = 0.0  # when body bytes last arrived
        self.gone: asyncio.Future[None] = self.loop.create_future()  # done when the peer left

    # -- asyncio.Protocol ------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        tcp: Any = transport
        tcp.set_write_buffer_limits(high=_HIGH_WATER, low=_LOW_WATER)
        self.transport = tcp
        peer = transport.get_extra_info("peername")
        self.client = str(peer[0]) if peer else ""
        self.server.connections.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._stop_head_timer()
        self._stop_body_timer()
        if not self.gone.done():
            self.gone.set_result(None)
        self.server.connections.discard(self)
        waiter = self._drain_waiter
        if waiter is not None and not waiter.done():
            waiter.set_exception(ClientGone("client closed the connection"))
        self._drain_waiter = None
        wakeup = self._wakeup
        if wakeup is not None:  # the connection's task waits for a request: it ends now
            self._wakeup = None
            wakeup.set_result(None)

    def pause_writing(self) -> None:
        self.paused = True

    def resume_writing(self) -> None:
        self.paused = False
        waiter = self._drain_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
        self._drain_waiter = None

    def data_received(self, data: bytes) -> None:
        if self.closed or self._deferred is not None:
            return  # refused: nothing after the bad request is read
        self._fed = len(data)
        if self._in_head:
            self._head_size += self._fed
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._reject(400, b'{"message": "Upgrade not supported"}')
        except httptools.HttpParserError:
            status, body = self._refusal or (400, b'{"message": "Bad Request"}')
            self._reject(status, body)
            return
        if self._in_head and self._head_size > self.server.max_head:
            # httptools holds a header being received whole: refuse before memory fills.
            self._reject(431, b'{"message": "Request Header Fields Too Large"}')

    def _head_timed_out(self) -> None:
        # One timer per connection, not per request: it is armed by the first head
        # and, when it fires, looks at the head in progress (if any).
        self._head_timer = None
        began = self._head_began
        if began is None or self.closed:
            return  # no head in progress: the next one arms the timer again
        timeout = self.server.head_timeout
        if self._busy:
            # A pipelined head behind a response still being sent: wait for that
            # response to end, so that no 408 lands inside its body.
            self._head_timer = self.loop.call_later(timeout, self._head_timed_out)
            return
        left = began + timeout - self.loop.time()
        if left > 0:  # this head began after the one the timer was armed for
            self._head_timer = self.loop.call_later(left, self._head_timed_out)
            return
        self._reject(408, b'{"message": "Request Timeout"}')

    def _body_timed_out(self) -> None:
        self._body_timer = None
        if self.closed:
            return
        idle = self.loop.time() - self._body_at
        if idle < self.server.body_timeout or self._busy:
            # Not idle long enough, or a response is still being sent before it:
            # no 408 may land inside that response.
            idle = min(idle, self.server.body_timeout - 0.001) if not self._busy else 0.0
            self._body_timer = self.loop.call_later(
                self.server.body_timeout - idle, self._body_timed_out
            )
            return
        self._reject(408, b'{"message": "Request Timeout"}')

    def _stop_body_timer(self) -> None:
        if self._body_timer is not None:
            self._body_timer.cancel()
            self._body_timer = None

    def _stop_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def eof_received(self) -> bool | None:
        if not self._busy and not self._queue:
            return None  # close now
        self._close_after = True
        return True  # keep the write side open to finish queued responses

    # -- httptools callbacks -----------------------------------------------
    def on_message_begin(self) -> None:
        self._head_began = self.loop.time()  # the head's time starts with its first byte
        if self._head_timer is None:
            self._head_timer = self.loop.call_later(self.server.head_timeout, self._head_timed_out)
        self._url = bytearray()
        self._headers = []
        self._has_host = False
        self._continues = 0  # Expect: 100-continue headers
        self._body_follows = False
        self._body = []
        self._body_size = 0
        self._too_large = False

    def on_url(self, url: bytes) -> None:
        self._url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        known = _NAMES.get(name)
        if known is None:
            known = (name.decode("latin-1"), _FRAMING.get(name.lower()))
            if len(_NAMES) < _NAMES_MAX and len(name) <= 64:
                _NAMES[name] = known
        self._headers.append((known[0], value.decode("latin-1")))
        kind = known[1]
        if kind is not None:  # Host, Expect, Content-Length, Transfer-Encoding
            if kind == "host":
                self._has_host = True
            elif kind == "expect":
                self._continues += value.lower() == b"100-continue"
            elif kind == "transfer-encoding" or value.strip() not in (b"", b"0"):
                self._body_follows = True  # a body follows

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._head_began = None  # the head timer, when it fires, finds no head in progress
        if self._head_size + self._carried + self._fed > self.server.max_head:
            # The bytes that may hold this head (the rest of the read that ended the
            # request before it, every read since) could pass the limit: count the
            # head itself. (Otherwise the bound, never below its size, says it is under.)
            headers = self._headers
            # Each header line counts its name, value, ": " and CRLF.
            head = len(self._url) + sum(map(len, chain.from_iterable(headers))) + 4 * len(headers)
            if head > self.server.max_head:
                self._refuse(431, b'{"message": "Request Header Fields Too Large"}')
        target = bytes(self._url)
        if not target.startswith(b"/"):
            # absolute-form (RFC 9112 3.2.2): a server takes the path (and query) from it.
            scheme, sep, rest = target.partition(b"://")
            if not sep or scheme.lower() not in (b"http", b"https"):
                self._refuse(400, b'{"message": "Bad Request"}')
            at = min((i for i in (rest.find(b"/"), rest.find(b"?")) if i >= 0), default=-1)
            path = rest[at:] if at >= 0 else b"/"
            self._url = bytearray(path if path.startswith(b"/") else b"/" + path)
        if not self._has_host and self.parser.get_http_version() == "1.1":
            self._refuse(400, b'{"message": "Bad Request"}')
        for _ in range(self._continues):
            self.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        if self._body_follows:
            # A body follows: it must keep arriving until its end.
            self._body_at = self.loop.time()
            if self._body_timer is None:
                self._body_timer = self.loop.call_later(
                    self.server.body_timeout, self._body_timed_out
                )

    def on_body(self, body: bytes) -> None:
        self._body_at = self.loop.time()
        self._body_size += len(body)
        if self._body_size > self.server.max_body:
            self._too_large = True
            self._body = []
        elif not self._too_large:
            self._body.append(body)

    def _refuse(self, status: int, body: bytes) -> None:
        self._refusal = (status, body)
        raise _Refused

    def on_message_complete(self) -> None:
        self._stop_body_timer()
        self._in_head = True  # the next bytes begin the next request's head
        self._head_size = 0
        self._carried = self._fed  # the next head may begin in what is left of this read
        parser = self.parser
        body = self._body
        request = HttpRequest(
            parser.get_method().decode("latin-1"),
            self._url.decode("latin-1"),
            self._headers,
            (body[0] if len(body) == 1 else b"".join(body)) if body else b"",
            parser.should_keep_alive(),
            self._too_large,
            self.client,
            parser.get_http_version() == "1.0",
        )
        self._body = []
        self._queue.append(request)
        if not self._busy:
            self._busy = True
            wakeup = self._wakeup
            if wakeup is not None:  # the connection's task waits for this request
                self._wakeup = None
                wakeup.set_result(None)
            elif self._task is None:
                self._task = self.loop.create_task(self._serve())
        elif len(self._queue) > _MAX_PIPELINE and not self._reading_paused:
            assert self.transport is not None
            self.transport.pause_reading()
            self._reading_paused = True

    # -- serving -----------------------------------------------------------
    async def _serve(self) -> None:
        request: HttpRequest | None = None
        response: HttpResponse | None = None
        try:
            while not self.closed:
                if not self._queue:
                    if self._deferred is not None:  # every request before it is answered
                        self._busy = False
                        self._reject(*self._deferred)
                        break
                    if self._close_after:
                        break
                    self._busy = False
                    wakeup = self._wakeup = self.loop.create_future()
                    request = response = None  # hold no body while waiting
                    await wakeup  # the next request, or the connection's end
                    continue
                request = self._queue.popleft()
                if (
                    self._reading_paused
                    and self._deferred is None
                    and len(self._queue) <= _MAX_PIPELINE // 2
                ):
                    assert self.transport is not None
                    self.transport.resume_reading()
                    self._reading_paused = False
                self.keep_alive = request.keep_alive
                response = HttpResponse(self, request.method == "HEAD", request.http10)
                try:
                    await self.server.app(request, response)
                except (ClientGone, ConnectionError):
                    self.abort()
                    return
                except asyncio.CancelledError:
                    raise
                except BaseException:  # even a handler's sys.exit() must not stop the server
                    if not response.started:
                        response.send(500, b'{"message": "Internal server error"}')
                    else:
                        response.abort()
                        return
                else:
                    if not response.started:
                        response.send(500, b'{"message": "Internal server error"}')
                    elif not response.finished:
                        response.end()
                if not self.keep_alive:
                    return
            if self._close_after and self.transport is not None:
                self.transport.close()
        finally:
            self._task = self._wakeup = None
            self._busy = False

    def write(self, data: bytes | memoryview) -> None:
        """Write now (after anything buffered)."""
        if self._pending:
            self.flush()
        if not self.closed and self.transport is not None:
            self.transport.write(data)

    def write_after(self, head: bytes, data: bytes | memoryview, tail: bytes = b"") -> None:
        """Write anything buffered, then ``head``, ``data`` and ``tail``: one system call."""
        pending = self._pending
        if pending:
            pending.append(head)
            head = b"".join(pending)
            self._pending = []
            self._pending_size = 0
        if not self.closed and self.transport is not None:
            self.transport.writelines((head, data, tail) if tail else (head, data))

    def buffer(self, data: bytes | memoryview, flush: bool = True) -> None:
        """Queue small pieces; they leave together on this loop iteration's flush.

        A 1 KiB response (head, chunk, terminator) becomes one write, while a
        stream's writes still go out at once: the flush runs as soon as the
        handler yields to the loop.
        """
        self._pending.append(data)
        self._pending_size += len(data)
        if self._pending_size >= _SMALL:
            self.flush()  # a handler that never yields still sends, and feels backpressure
        elif flush and self._flush_handle is None:
            self._flush_handle = self.loop.call_soon(self._scheduled_flush)

    def _scheduled_flush(self) -> None:
        self._flush_handle = None
        self.flush()

    def flush(self) -> None:
        handle = self._flush_handle
        if handle is not None:  # flushed before the loop came to it: nothing left for it
            handle.cancel()
            self._flush_handle = None
        pending = self._pending
        if not pending:
            return
        data = pending[0] if len(pending) == 1 else b"".join(pending)
        self._pending = []
        self._pending_size = 0
        if not self.closed and self.transport is not None:
            self.transport.write(data)

    async def drain(self) -> None:
        if self.closed:
            raise ClientGone("client closed the connection")
        if not self.paused:
            return
        waiter = self._drain_waiter
        if waiter is None:
            waiter = self._drain_waiter = self.loop.create_future()
        await waiter

    def response_done(self, tail: bytes = b"") -> None:
        """The response's last bytes (``tail``) and anything buffered go out now."""
        if tail:
            self._pending.append(tail)
        self.flush()
        if not self.keep_alive and self.transport is not None:
            self.transport.close()

    def abort(self) -> None:
        """Cut: what was written still arrives, then the connection closes mid-body."""
        if self.transport is not None and not self.closed:
            self.flush()
            self.transport.close()
        self.closed = True

    def _reject(self, status: int, body: bytes) -> None:
        self._stop_head_timer()
        self._stop_body_timer()
        if self.transport is None or self.closed:
            return
        if self._busy:
            # Requests before the bad one (pipelined) are answered first, in order.
            if self._deferred is None:
                self._deferred = (status, body)
                self.transport.pause_reading()
                self._reading_paused = True
            return
        self._deferred = None
        head = (
            _status_line(status) + b"content-type: application/json\r\n"
            b"content-length: %d\r\nconnection: close\r\n\r\n" % len(body)
        )
        self.transport.write(head + body)
        self.transport.close()
        self.closed = True
        self.server.on_reject(self.client, status)

    def shutdown(self) -> None:
        self._stop_head_timer()
        self._stop_body_timer()
        if self._task is not None:
            self._task.cancel()
        if self.transport is not None and not self.closed:
            self.transport.close()


class HttpServer:
    """One listening socket serving one application."""

    def __init__(
        self,
        app: App,
        max_body: int,
        on_reject: Callable[[str, int], None] | None = None,
        max_head: int = MAX_HEAD,
        head_timeout: float | None = None,
        body_timeout: float | None = None,
    ) -> None:
        self.app = app
        self.max_body = max_body
        self.max_head = max_head  # request line + headers, in bytes
        # seconds for a request's line and headers
        self.head_timeout = HEAD_TIMEOUT_S if head_timeout is None else head_timeout
        # seconds a request body may pause before its end
        self.body_timeout = BODY_IDLE_TIMEOUT_S if body_timeout is None else body_timeout
        self.connections: set[_Connection] = set()
        self.loop: asyncio.AbstractEventLoop = asyncio.get_running_loop()
        self._server: asyncio.base_events.Server | None = None
        self._on_reject = on_reject

    def on_reject(self, client: str, status: int) -> None:
        if self._on_reject is not None:
            self._on_reject(client, status)

    async def listen(self, host: str, port: int, sock: socket.socket | None = None) -> int:
        """Start listening (on ``sock`` when given); returns the bound port."""
        if sock is not None:
            self._server = await self.loop.create_server(
                lambda: _Connection(self), sock=sock, backlog=_BACKLOG
            )
        else:
            self._server = await self.loop.create_server(
                lambda: _Connection(self),
                host=host,
                port=port,
                reuse_address=True,
                backlog=_BACKLOG,
            )
        sock = self._server.sockets[0]
        return int(sock.getsockname()[1])

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for conn in list(self.connections):
            conn.shutdown()
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2.0)
