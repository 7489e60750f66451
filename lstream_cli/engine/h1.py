"""A fast HTTP/1.1 transport for httpx: plain sockets, llhttp (httptools) parsing.

httpx's default transport parses with h11 in pure Python; on one large
chunked stream over loopback that caps ``lstream get`` well below curl. This
transport keeps httpx's client (URL handling, headers, timeouts, the
``Response`` API) and replaces only the wire layer:

- the request goes out exactly as httpx built it (method, raw target,
  headers in order, ``Host`` included); nothing is added;
- the response is returned as soon as its head is parsed; its body stream does
  one large read per step (128 KiB: the read and its copy stay in a core's L2
  cache, which measured faster than 1 MiB reads), feeds it to llhttp and
  yields the body bytes of that read as ONE delivery. A Content-Length body
  needs no parsing past its head, so its reads are yielded as they come.
  Memory stays flat: at most one read is held, whatever the body's size;
- framing: chunked, Content-Length and close-delimited bodies; no body for
  HEAD, 1xx, 204 and 304; 1xx interim responses (``100 Continue``) skipped.
  A body that ends early (EOF before the terminating chunk or before
  Content-Length, or a reset) raises after the bytes received were yielded,
  so the caller keeps them;
- timeouts from httpx (connect covers TCP and TLS, read is per ``recv``, an
  idle timeout, write covers the request) raise httpx's own timeout errors;
- the trace hook gets the event names httpcore uses, so ``engine.single``
  measures connect and header times the same way over either transport;
- a small keep-alive pool per (scheme, host, port); connect events are only
  reported for fresh connections.

Proxies are not supported (``lstream`` builds its clients with
``trust_env=False``); neither are HTTP/2 and protocol upgrades.
"""

from __future__ import annotations

import contextlib
import select
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import httptools
import httpx

from lstream_cli.engine.tls import client_context

__all__ = ["IDLE_DEADLINE", "READ_SIZE", "H1Transport", "StallTimeout"]

READ_SIZE = 128 * 1024  # bytes asked of one recv (one delivery at most); fits in L2 with its copy
# Trace event: the read that completed the head also carried body bytes.
BODY_WITH_HEAD = "lstream.receive_body_with_head.complete"
_MAX_IDLE = 4  # idle connections kept per (scheme, host, port)
_KEEPALIVE_S = 5.0  # an idle connection older than this is closed, not reused

# Request extension: a callable giving the perf_counter_ns instant by which
# the next body byte must come (``BodyMeter.idle_deadline_ns``), or None.
IDLE_DEADLINE = "lstream.idle_deadline"

Trace = Callable[[str, dict[str, Any]], None]
_Key = tuple[str, str, int]
IdleDeadline = Callable[[], int | None]


class StallTimeout(httpx.ReadTimeout):
    """The body's idle deadline (``--stall-timeout``) passed with nothing new."""


def _arm(sock: socket.socket, idle: IdleDeadline, read_timeout: float | None) -> bool:
    """Set the next recv's timeout from the idle deadline; True when it is the limit."""
    deadline = idle()
    if deadline is None:
        sock.settimeout(read_timeout)
        return False
    # Never 0: that would make the socket non-blocking; a past deadline still
    # takes the bytes already waiting, then times out at once.
    left = max(1e-6, (deadline - time.perf_counter_ns()) / 1e9)
    if read_timeout is not None and read_timeout <= left:
        sock.settimeout(read_timeout)
        return False
    sock.settimeout(left)
    return True


class _Conn:
    """One socket (plain or TLS) and where it may go back to."""

    __slots__ = ("idle_since", "key", "sock")

    def __init__(self, key: _Key, sock: socket.socket) -> None:
        self.key = key
        self.sock = sock
        self.idle_since = 0.0

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()

    def reusable(self, now: float) -> bool:
        """Idle, recent, and the peer has neither closed nor sent anything."""
        if now - self.idle_since > _KEEPALIVE_S:
            return False
        try:
            if isinstance(self.sock, ssl.SSLSocket) and self.sock.pending():
                return False
            readable, _, _ = select.select([self.sock], [], [], 0)
        except (OSError, ValueError):
            return False
        return not readable


def _tolerate_what_curl_accepts(parser: httptools.HttpResponseParser) -> None:
    """Read responses curl reads: bare LF line ends, and Transfer-Encoding with
    Content-Length (chunked wins, RFC 9112 §6.3). llhttp refuses both by
    default, which made ``get`` fail where curl succeeds. (An httptools
    without ``set_dangerous_leniencies`` stays strict.)
    """
    lenient = getattr(parser, "set_dangerous_leniencies", None)
    if lenient is not None:
        lenient(lenient_chunked_length=True, lenient_optional_cr_before_lf=True)


def _version(parser: httptools.HttpResponseParser) -> bytes:
    """The response's protocol as sent (``HTTP/1.0`` or ``HTTP/1.1``)."""
    try:
        return b"HTTP/" + parser.get_http_version().encode("ascii")
    except (AttributeError, ValueError):
        return b"HTTP/1.1"


class _Message:
    """llhttp's callbacks for one response (interim 1xx responses are dropped)."""

    __slots__ = (
        "body",
        "done",
        "extra",
        "head_done",
        "headers",
        "keep_alive",
        "parser",
        "reason",
        "skip_body",
        "status",
    )

    def __init__(self, skip_body: bool) -> None:
        self.parser = httptools.HttpResponseParser(self)
        _tolerate_what_curl_accepts(self.parser)
        self.reason = b""
        self.headers: list[tuple[bytes, bytes]] = []
        self.status = 0
        self.head_done = False  # the final (non-1xx) head is parsed
        self.done = False  # the final message is complete
        self.keep_alive = False
        self.extra = False  # bytes arrived after the final message
        self.body: list[bytes] = []
        self.skip_body = skip_body  # HEAD: whatever follows the head is not ours

    def on_message_begin(self) -> None:
        if self.done:
            self.extra = True
            return
        self.reason = b""
        self.headers = []

    def on_status(self, status: bytes) -> None:
        self.reason += status

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        status = self.parser.get_status_code()
        if 100 <= status < 200 and status != 101:
            return  # interim response: its message completes without a body
        self.status = status
        self.head_done = True

    def on_body(self, body: bytes) -> None:
        if self.skip_body:
            self.extra = True
        else:
            self.body.append(body)

    def on_message_complete(self) -> None:
        if self.head_done and not self.done:
            self.done = True
            self.keep_alive = self.parser.should_keep_alive()

    def framing(self) -> tuple[str, int | None]:
        """("chunked" | "length" | "eof" | "none", Content-Length)."""
        if self.skip_body or self.status in (101, 204, 304):
            return "none", None
        length: int | None = None
        for name, value in self.headers:
            lname = name.lower()
            if lname == b"transfer-encoding" and b"chunked" in value.lower():
                return "chunked", None
            if lname == b"content-length":
                try:
                    length = int(value)
                except ValueError:
                    length = None
        if length is not None:
            return "length", length
        return "eof", None


def _timeout(request: httpx.Request, kind: str) -> float | None:
    timeouts = request.extensions.get("timeout") or {}
    value = timeouts.get(kind)
    return None if value is None else float(value)


class H1Transport(httpx.BaseTransport):
    """HTTP/1.1 over sockets with llhttp; see the module docstring."""

    def __init__(
        self,
        verify: bool | ssl.SSLContext = True,
        *,
        read_size: int = READ_SIZE,
        max_idle: int = _MAX_IDLE,
    ) -> None:
        self._verify = verify
        self._ssl: ssl.SSLContext | None = None
        self._read_size = read_size
        self._max_idle = max_idle
        self._idle: dict[_Key, list[_Conn]] = {}
        self._lock = threading.Lock()
        self._closed = False

    # -- pool --------------------------------------------------------------

    def _take(self, key: _Key) -> _Conn | None:
        now = time.monotonic()
        with self._lock:
            idle = self._idle.get(key) or []
            while idle:
                conn = idle.pop()
                if conn.reusable(now):
                    return conn
                conn.close()
        return None

    def _give_back(self, conn: _Conn) -> None:
        with self._lock:
            idle = self._idle.get(conn.key, [])
            if not self._closed and len(idle) < self._max_idle:
                conn.idle_since = time.monotonic()
                idle.append(conn)
                self._idle[conn.key] = idle
                return
        conn.close()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            conns = [c for idle in self._idle.values() for c in idle]
            self._idle.clear()
        for conn in conns:
            conn.close()

    # -- one exchange ------------------------------------------------------

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        if url.scheme not in ("http", "https"):
            raise httpx.UnsupportedProtocol(f"Request URL has an unsupported scheme '{url.scheme}'")
        if not url.host:
            raise httpx.UnsupportedProtocol("Request URL is missing a host")
        port = url.port or (443 if url.scheme == "https" else 80)
        key: _Key = (url.scheme, url.host, port)
        trace: Trace | None = request.extensions.get("trace")

        conn = self._take(key)
        if conn is not None:
            try:
                return self._exchange(conn, request, trace, reused=True)
            except _Stale as stale:
                # The server closed the idle connection as we sent: once more on a
                # fresh one, if the body can be sent again (it nearly always can).
                if not isinstance(request.stream, httpx.ByteStream):
                    raise stale.error from stale.error.__cause__
        conn = self._connect(key, request, trace)
        return self._exchange(conn, request, trace, reused=False)

    def _connect(self, key: _Key, request: httpx.Request, trace: Trace | None) -> _Conn:
        scheme, host, port = key
        timeout = _timeout(request, "connect")
        _emit(trace, "connection.connect_tcp.started", {"host": host, "port": port})
        try:
            sock = socket.create_connection((host, port), timeout=timeout)
        except TimeoutError as exc:
            _emit(trace, "connection.connect_tcp.failed", {"exception": exc})
            raise httpx.ConnectTimeout(f"timed out connecting to {host}:{port}") from exc
        except OSError as exc:
            _emit(trace, "connection.connect_tcp.failed", {"exception": exc})
            raise httpx.ConnectError(str(exc) or exc.__class__.__name__) from exc
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        _emit(trace, "connection.connect_tcp.complete", {"return_value": sock})
        if scheme == "https":
            if self._ssl is None:
                self._ssl = client_context(self._verify)
            _emit(trace, "connection.start_tls.started", {"server_hostname": host})
            try:
                sock = self._ssl.wrap_socket(sock, server_hostname=host)
            except TimeoutError as exc:
                sock.close()
                _emit(trace, "connection.start_tls.failed", {"exception": exc})
                raise httpx.ConnectTimeout(f"timed out in the TLS handshake with {host}") from exc
            except ssl.SSLError as exc:
                sock.close()
                _emit(trace, "connection.start_tls.failed", {"exception": exc})
                raise httpx.ConnectError(str(exc)) from exc
            except OSError as exc:
                sock.close()
                _emit(trace, "connection.start_tls.failed", {"exception": exc})
                raise httpx.ConnectError(str(exc) or exc.__class__.__name__) from exc
            _emit(trace, "connection.start_tls.complete", {"return_value": sock})
        return _Conn(key, sock)

    def _exchange(
        self, conn: _Conn, request: httpx.Request, trace: Trace | None, reused: bool
    ) -> httpx.Response:
        msg = _Message(skip_body=request.method == "HEAD")
        buf = bytearray(self._read_size)
        read_timeout = _timeout(request, "read")
        try:
            write_error = self._send(conn, request, trace)
            pending = _read_head(conn.sock, msg, buf, read_timeout, trace, write_error, reused)
        except BaseException:
            conn.close()
            raise
        if msg.skip_body:
            msg.done = True
            msg.keep_alive = msg.parser.should_keep_alive() and not msg.extra
        stream = _BodyStream(self, conn, msg, buf, read_timeout, pending)
        stream.idle = request.extensions.get(IDLE_DEADLINE)
        return httpx.Response(
            msg.status,
            headers=msg.headers,
            stream=stream,
            extensions={"http_version": _version(msg.parser), "reason_phrase": msg.reason},
        )

    def _send(
        self, conn: _Conn, request: httpx.Request, trace: Trace | None
    ) -> httpx.WriteError | None:
        """Write the request; a peer that closed early may still have answered."""
        sock = conn.sock
        sock.settimeout(_timeout(request, "write"))
        lines = [b"%s %s HTTP/1.1\r\n" % (request.method.encode("ascii"), request.url.raw_path)]
        chunked = False
        for name, value in request.headers.raw:
            lines.append(b"%s: %s\r\n" % (name, value))
            if name.lower() == b"transfer-encoding" and b"chunked" in value.lower():
                chunked = True
        lines.append(b"\r\n")
        try:
            _emit(trace, "http11.send_request_headers.started", {"request": request})
            sock.sendall(b"".join(lines))
            _emit(trace, "http11.send_request_headers.complete", {})
            _emit(trace, "http11.send_request_body.started", {"request": request})
            stream = request.stream
            assert isinstance(stream, httpx.SyncByteStream)
            for part in stream:
                if chunked:
                    if part:
                        sock.sendall(b"%x\r\n%s\r\n" % (len(part), part))
                elif part:
                    sock.sendall(part)
            if chunked:
                sock.sendall(b"0\r\n\r\n")
            _emit(trace, "http11.send_request_body.complete", {})
        except TimeoutError as exc:
            raise httpx.WriteTimeout("timed out sending the request") from exc
        except OSError as exc:
            # The server may have answered and closed (a 413, a 403): read it first.
            error = httpx.WriteError(str(exc) or exc.__class__.__name__)
            error.__cause__ = exc
            return error
        return None


class _Stale(Exception):
    """A reused connection gave nothing back: the peer had closed it while idle."""

    def __init__(self, error: httpx.HTTPError) -> None:
        super().__init__(str(error))
        self.error = error


def _emit(trace: Trace | None, event: str, info: dict[str, Any]) -> None:
    if trace is not None:
        trace(event, info)


def _feed(msg: _Message, data: memoryview) -> httpx.RemoteProtocolError | None:
    """Parse ``data``; a malformed response becomes an error to raise in order."""
    try:
        msg.parser.feed_data(data)
    except httptools.HttpParserUpgrade:
        # 101 Switching Protocols: the head is all there is for HTTP.
        msg.done = True
        msg.keep_alive = False
    except httptools.HttpParserError as exc:
        if msg.done:
            msg.extra = True  # junk after a complete message: ours is intact
            return None
        return httpx.RemoteProtocolError(f"malformed HTTP response: {exc}")
    return None


def _read_head(
    sock: socket.socket,
    msg: _Message,
    buf: bytearray,
    read_timeout: float | None,
    trace: Trace | None,
    write_error: httpx.WriteError | None,
    reused: bool,
) -> httpx.RemoteProtocolError | None:
    """Read until the final head is parsed; returns a body error to raise later."""
    view = memoryview(buf)
    got = 0
    _emit(trace, "http11.receive_response_headers.started", {})
    sock.settimeout(read_timeout)
    while not msg.head_done:
        try:
            n = sock.recv_into(buf)
        except TimeoutError as exc:
            raise httpx.ReadTimeout("timed out waiting for the response") from exc
        except OSError as exc:
            error: httpx.HTTPError = httpx.ReadError(str(exc) or exc.__class__.__name__)
            error.__cause__ = exc
            if reused and got == 0:
                raise _Stale(error) from exc
            raise (write_error or error) from exc
        if n == 0:
            if got == 0:
                error = httpx.RemoteProtocolError("Server disconnected without sending a response.")
                if reused:
                    raise _Stale(error)
                raise write_error or error
            raise httpx.RemoteProtocolError(
                "Server disconnected before the end of the response head."
            )
        got += n
        failure = _feed(msg, view[:n])
        if failure is not None:
            if not msg.head_done:
                raise failure
            return failure
    _emit(
        trace,
        "http11.receive_response_headers.complete",
        {"return_value": (b"HTTP/1.1", msg.status, msg.reason, msg.headers)},
    )
    if msg.body:
        # The first body bytes came in the same read as the end of the head:
        # they arrived then, not when the caller gets round to taking them.
        _emit(trace, BODY_WITH_HEAD, {})
    return None


class _BodyStream(httpx.SyncByteStream):
    """The response body: one delivery per ``recv``, the connection freed at the end."""

    def __init__(
        self,
        transport: H1Transport,
        conn: _Conn,
        msg: _Message,
        buf: bytearray,
        read_timeout: float | None,
        pending: httpx.RemoteProtocolError | None,
    ) -> None:
        self._transport = transport
        self._conn: _Conn | None = conn
        self._msg = msg
        self._buf = buf
        self._read_timeout = read_timeout
        self._pending = pending
        self._framing, self._length = msg.framing()
        self.idle: IdleDeadline | None = None  # see IDLE_DEADLINE

    def __iter__(self) -> Iterator[bytes]:
        msg, conn = self._msg, self._conn
        if conn is None:
            raise httpx.StreamConsumed()
        body = msg.body
        received = 0
        if body:
            data = body[0] if len(body) == 1 else b"".join(body)
            body.clear()
            received += len(data)
            yield data
        if self._pending is not None:
            raise self._pending
        sock, buf = conn.sock, self._buf
        sock.settimeout(self._read_timeout)
        if self._framing == "length" and not msg.done:
            yield from self._counted(sock, received)
            return
        view = memoryview(buf)
        idle, stalled = self.idle, False
        while not msg.done:
            if idle is not None:
                stalled = _arm(sock, idle, self._read_timeout)
            try:
                n = sock.recv_into(buf)
            except TimeoutError as exc:
                if stalled:
                    raise StallTimeout("stalled (--stall-timeout)") from exc
                raise httpx.ReadTimeout("timed out waiting for data") from exc
            except OSError as exc:
                raise httpx.ReadError(str(exc) or exc.__class__.__name__) from exc
            if n == 0:
                if self._framing == "eof":
                    msg.done = True  # close-delimited: the end of the connection is the end
                    break
                raise httpx.RemoteProtocolError(self._cut_message(received))
            failure = _feed(msg, view[:n])
            if body:
                data = body[0] if len(body) == 1 else b"".join(body)
                body.clear()
                received += len(data)
                yield data
            if failure is not None:
                raise failure
        self._release()

    def _counted(self, sock: socket.socket, received: int) -> Iterator[bytes]:
        """A Content-Length body: the framing is a count, so each read is yielded as is.

        llhttp would only copy the bytes once more; the head it parsed already
        said how many follow, and whether the connection may be kept.
        """
        msg = self._msg
        remaining = (self._length or 0) - received
        size = len(self._buf)
        recv = sock.recv
        idle, stalled = self.idle, False
        while remaining > 0:
            if idle is not None:
                stalled = _arm(sock, idle, self._read_timeout)
            try:
                data = recv(size if remaining > size else remaining)
            except TimeoutError as exc:
                if stalled:
                    raise StallTimeout("stalled (--stall-timeout)") from exc
                raise httpx.ReadTimeout("timed out waiting for data") from exc
            except OSError as exc:
                raise httpx.ReadError(str(exc) or exc.__class__.__name__) from exc
            if not data:
                raise httpx.RemoteProtocolError(self._cut_message(received))
            remaining -= len(data)
            received += len(data)
            yield data
        msg.done = True
        msg.keep_alive = msg.parser.should_keep_alive()
        self._release()

    def _cut_message(self, received: int) -> str:
        if self._framing == "chunked":
            return (
                "peer closed the connection before the end of the chunked body "
                f"(no terminating 0-size chunk) after {received:,} bytes"
            )
        return (
            "peer closed the connection before the end of the body: "
            f"received {received:,} of {self._length or 0:,} bytes (Content-Length)"
        )

    def _release(self) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        msg = self._msg
        if msg.done and msg.keep_alive and not msg.extra and self._framing != "eof":
            self._transport._give_back(conn)
        else:
            conn.close()

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            if self._msg.done and self._pending is None:
                self._conn = conn
                self._release()
            else:
                conn.close()
