"""HTTP/1.1 client connections for the load engine: asyncio + httptools (llhttp).

httpx spends tens of microseconds per request in pool bookkeeping; a load
generator that must keep up with hey cannot. Here one :class:`Connection`
is an ``asyncio.BufferedProtocol`` whose parser callbacks feed a
:class:`~lstream_cli.measure.BodyMeter` directly, so the measurement is the
same as ``get``'s and the per-request work is a handful of calls.

Picture::

    RequestTemplate --bytes--> Connection.request(meter) --future--> RequestRecord
        buffer_updated -> llhttp (headers, chunked bodies) -> meter.headers/data/finish
                       -> raw count (rest of a Content-Length body >= 64 KiB) -> meter.data
    Connector.connect() -> Connection (TCP, or TLS with SNI + verification)

A connection serves one request at a time (no pipelining) and is kept
alive between requests while the server allows it. A request sent on a
reused connection that the server had already closed, before any byte of
response, is retried once on a fresh connection, as browsers and curl do:
that is keep-alive housekeeping, not a failed request.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import time
from typing import Any, cast

import httptools

from lstream_cli import __version__
from lstream_cli.engine.tls import client_context
from lstream_cli.measure import BodyMeter, classify_status
from lstream_cli.models import ErrorClass, RequestRecord
from lstream_cli.request import RequestSpec
from lstream_cli.signing import Signer, wire_url

__all__ = [
    "RAW_BODY_FROM",
    "READ_SIZE",
    "RETRY",
    "TIMELINE_FROM_BYTES",
    "ConnectError",
    "Connection",
    "Connector",
    "RequestTemplate",
]

READ_SIZE = 256 * 1024  # bytes per socket read
RAW_BODY_FROM = 64 * 1024  # Content-Length bodies this long are counted without llhttp
# The BodyMeter timeline (knee, gap p99) is kept for responses without a
# Content-Length (streams) and for bodies announced at least this long; a
# short Content-Length body skips it unless it turns out longer.
TIMELINE_FROM_BYTES = 1_000_000
_HINT_BYTES = 512  # of a 4xx answer, kept to tell TooManyRequests apart
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


class _Retry:
    """Sentinel: the reused connection was closed before any response byte."""

    def __repr__(self) -> str:
        return "RETRY"


RETRY = _Retry()


class ConnectError(Exception):
    """Connecting failed; ``error`` is its class, the message one line."""

    def __init__(self, error: ErrorClass, message: str) -> None:
        super().__init__(message)
        self.error = error


class RequestTemplate:
    """The request bytes, built once and re-signed only when the second changes.

    Headers sent: Host, the user's ``-H`` headers in order, ``user-agent``
    unless given, Content-Length for bodies, and the SigV4 headers from the
    same :class:`Signer` that ``get`` uses.
    """

    def __init__(self, spec: RequestSpec, signer: Signer | None) -> None:
        import httpx

        self.spec = spec
        self.signer = signer
        url = httpx.URL(wire_url(spec.url))
        self.tls = url.scheme == "https"  # TLS with verification and SNI
        self.host = url.host  # name for DNS and SNI
        self.port = url.port or (443 if self.tls else 80)
        self.url = str(url)
        target = url.raw_path.decode("ascii") or "/"
        given = {name.lower() for name, _ in spec.headers}
        lines = [f"{spec.method} {target} HTTP/1.1"]
        if "host" not in given:
            lines.append(f"Host: {url.netloc.decode('ascii')}")
        lines.extend(f"{name}: {value}" for name, value in spec.headers)
        if "user-agent" not in given:
            lines.append(f"user-agent: lstream/{__version__}")
        body = spec.body or b""
        if (body or spec.method in _BODY_METHODS) and "content-length" not in given:
            lines.append(f"Content-Length: {len(body)}")
        self._head = ("\r\n".join(lines) + "\r\n").encode("latin-1")
        self._body = body
        self._static = self._head + b"\r\n" + body
        self._second = -1  # wall-clock second of the cached signed bytes
        self._signed = b""

    def bytes(self) -> bytes:
        """The request to write now (validly signed for this second)."""
        if self.signer is None:
            return self._static
        second = int(time.time())
        if second != self._second:
            extra = self.signer.sign(
                self.spec.method, self.url, self.spec.headers, self.spec.body or None
            )
            signed = "".join(f"{k}: {v}\r\n" for k, v in extra.items()).encode("latin-1")
            self._signed = self._head + signed + b"\r\n" + self._body
            self._second = second
        return self._signed


class Connection(asyncio.BufferedProtocol):
    """One keep-alive connection; ``request`` returns a future of the record.

    A buffered protocol: the loop reads into one buffer shared by the
    worker's connections (reads are handled one at a time). Headers and
    chunked bodies go through llhttp; a Content-Length body of at least
    :data:`RAW_BODY_FROM` bytes is then only counted, without the parser or
    a copy, which is what lets one process keep up with hey on big streams.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, buffer: memoryview | None = None) -> None:
        self.loop = loop
        self._buf = buffer if buffer is not None else memoryview(bytearray(READ_SIZE))
        self._length = -1  # Content-Length of the response in flight, -1 when none
        self._body_left = 0  # raw mode: body bytes still due, the parser bypassed
        self.transport: asyncio.Transport | None = None
        self.alive = False  # connected and not closed by either side
        self.used = 0  # responses completed on this connection
        self.last_rx_ns = 0  # last byte received (or request sent), for --timeout
        self.meter: BodyMeter | None = None  # the request in flight, if any
        self._waiter: asyncio.Future[RequestRecord | _Retry] | None = None
        self._parser = httptools.HttpResponseParser(self)
        self._now = 0
        self._started = False  # a byte of the response has arrived
        self._headers_done = False
        self._interim = False  # inside a 1xx answer, before the final one
        self._framed = False  # Content-Length or chunked: EOF is not the end
        self._keep_alive = True
        self._hint: bytearray | None = None  # 4xx/5xx headers and first bytes
        self._head: bytearray | None = None  # raw bytes until the headers end

    # -- asyncio.Protocol ---------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        self.alive = True

    def get_buffer(self, sizehint: int) -> memoryview:
        return self._buf

    def buffer_updated(self, nbytes: int) -> None:
        left = self._body_left
        if not left:
            self.data_received(bytes(self._buf[:nbytes]))
            return
        now = time.perf_counter_ns()
        self.last_rx_ns = now
        meter = self.meter
        if meter is None:
            self.abort()
            return
        if nbytes < left:
            self._body_left = left - nbytes
            meter.data(now, nbytes, self._buf[:nbytes] if meter.wants_bytes else None)
            return
        self._body_left = 0
        meter.data(now, left, self._buf[:left] if meter.wants_bytes else None)
        self._now = now
        self._parser = httptools.HttpResponseParser(self)  # the old one is mid-body
        self.on_message_complete()
        if nbytes > left:
            self.abort()  # bytes beyond the body nobody asked for

    def data_received(self, data: bytes) -> None:
        now = time.perf_counter_ns()
        self.last_rx_ns = now
        self._now = now
        if self.meter is None:
            self.abort()  # bytes nobody asked for: the stream is out of step
            return
        self._started = True
        head = self._head
        if head is not None:
            head += data
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            if self._headers_done:
                self._resolve_failure(ErrorClass.TRUNCATED, f"invalid HTTP response: {exc}")
            else:  # no status line and headers: no response at all (as in `get`)
                self._resolve_failure(ErrorClass.CONNECT, f"malformed HTTP response: {exc}")
            self.abort()
            return
        meter = self.meter
        if meter is not None and self._length >= RAW_BODY_FROM and self._headers_done:
            left = self._length - meter.bytes
            if left > 0:
                self._body_left = left  # count the rest of this body raw

    def connection_lost(self, exc: Exception | None) -> None:
        self.alive = False
        if self.meter is None:
            return
        now = time.perf_counter_ns()
        if not self._started:
            if self.used > 0 and not isinstance(exc, ssl.SSLError):
                self.meter = None
                self._resolve(RETRY)
                return
            if isinstance(exc, ssl.SSLError):
                self._resolve_failure(ErrorClass.TLS, f"TLS error: {exc}")
            else:
                self._resolve_failure(
                    ErrorClass.CONNECT, "connection closed before any response", now
                )
        elif self._headers_done and not self._framed:
            # Neither Content-Length nor chunked: the body ends at EOF.
            meter = self.meter
            self.meter = None
            self._resolve(meter.finish(now, True, error=self._classify(meter)))
        elif not self._headers_done:
            self._resolve_failure(
                ErrorClass.CONNECT, "connection closed before the end of the response head", now
            )
        else:
            self._resolve_failure(ErrorClass.TRUNCATED, "connection closed mid-response", now)

    # -- httptools callbacks ------------------------------------------------
    # No on_header callback: a Python call per header costs more than one
    # scan of the raw header block, done once in on_headers_complete.

    def on_headers_complete(self) -> None:
        status = self._parser.get_status_code()
        raw = self._head
        if 100 <= status < 200 and status != 101:
            # An interim answer (100 Continue, 103 Early Hints): llhttp ends it
            # here; the final response follows on the same stream, as in `get`.
            self._interim = True
            if raw is not None:
                end = raw.find(b"\r\n\r\n")
                self._head = raw[end + 4 :] if end >= 0 else bytearray()
            return
        self._headers_done = True
        self._keep_alive = self._parser.should_keep_alive()
        self._head = None
        original = b""
        if raw is not None:
            end = raw.find(b"\r\n\r\n")
            original = bytes(raw[: end if end >= 0 else len(raw)])
        block = original.lower()
        # 4xx/5xx: keep the headers as sent (x-amzn-ErrorType: TooManyRequestsException).
        self._hint = bytearray(original) if status >= 400 else None
        length = -1
        value = _header_value(block, b"\ncontent-length:")
        if value is not None:
            self._framed = True
            length = int(value) if value.isdigit() else -1
        else:
            value = _header_value(block, b"\ntransfer-encoding:")
            self._framed = value is not None and b"chunked" in value
        self._length = length
        meter = self.meter
        if meter is not None:
            if length >= TIMELINE_FROM_BYTES or length < 0:
                meter.keep_timeline = True  # a stream, or a long body: knee and gap p99
            if meter.wants_bytes:  # events: --events auto needs the Content-Type
                ctype = _header_value(block, b"\ncontent-type:")
                meter.headers(self._now, status, _content_type(ctype))
            else:
                meter.headers(self._now, status)

    def on_body(self, body: bytes) -> None:
        meter = self.meter
        if meter is None:
            return
        meter.data(self._now, len(body), body if meter.wants_bytes else None)
        if not meter.keep_timeline and meter.bytes >= TIMELINE_FROM_BYTES:
            meter.keep_timeline = True
        hint = self._hint
        if hint is not None and len(hint) < _HINT_BYTES:
            hint += body[:_HINT_BYTES]

    def on_message_complete(self) -> None:
        if self._interim:
            self._interim = False
            return
        meter = self.meter
        if meter is None:
            return
        self.meter = None
        self.used += 1
        record = meter.finish(self._now, True, error=self._classify(meter))
        if not self._keep_alive:
            self.close()
        self._resolve(record)

    # -- driving ------------------------------------------------------------
    def request(self, data: bytes, meter: BodyMeter) -> asyncio.Future[RequestRecord | _Retry]:
        """Send ``data``; the future resolves to the finished record (or RETRY)."""
        fut: asyncio.Future[RequestRecord | _Retry] = self.loop.create_future()
        self._waiter = fut
        self.meter = meter
        self._started = False
        self._headers_done = False
        self._interim = False
        self._framed = False
        self._hint = None
        self._head = bytearray()
        self._length = -1
        self._body_left = 0
        self.last_rx_ns = time.perf_counter_ns()
        if not self.alive or self.transport is None:
            self.connection_lost(None)
            return fut
        self.transport.write(data)
        return fut

    def expire(self, detail: str, error: ErrorClass = ErrorClass.TIMEOUT) -> None:
        """--timeout elapsed with no byte (or --stall-timeout, ``STALLED``): fail, drop."""
        if self.meter is not None:
            self._resolve_failure(error, detail)
        self.abort()

    def close(self) -> None:
        self.alive = False
        if self.transport is not None:
            self.transport.close()

    def abort(self) -> None:
        self.alive = False
        self.meter = None
        if self.transport is not None:
            self.transport.abort()

    # -- internals ----------------------------------------------------------
    def _classify(self, meter: BodyMeter) -> ErrorClass | None:
        status = meter.status
        if status is None or status < 400:
            return None
        hint = self._hint
        return classify_status(status, bytes(hint) if hint is not None else b"")

    def _resolve(self, result: RequestRecord | _Retry) -> None:
        fut = self._waiter
        self._waiter = None
        if fut is not None and not fut.done():
            fut.set_result(result)

    def _resolve_failure(self, error: ErrorClass, detail: str, now: int | None = None) -> None:
        meter = self.meter
        self.meter = None
        if meter is None:
            return
        record = meter.finish(
            time.perf_counter_ns() if now is None else now, False, error=error, detail=detail
        )
        self._resolve(record)


class Connector:
    """Opens connections to one target: DNS once, then TCP (+TLS) each time."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        host: str,
        port: int,
        tls: bool,
        insecure: bool,
        timeout_s: float | None,
    ) -> None:
        self.loop = loop
        self.host = host  # name for SNI and certificate checks
        self.port = port
        self.timeout_s = timeout_s  # connect timeout; None = never
        # The same trust as `get`: the system's store (SSL_CERT_FILE / SSL_CERT_DIR)
        # plus certifi's bundle; -k turns verification off.
        self.ssl: ssl.SSLContext | None = client_context(not insecure) if tls else None
        self._addr: tuple[Any, ...] | None = None
        self._family = 0
        self._buffer = memoryview(bytearray(READ_SIZE))  # shared by this worker's connections

    async def _resolve(self) -> None:
        try:
            infos = await self.loop.getaddrinfo(
                self.host, self.port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
            )
        except OSError as exc:
            raise ConnectError(ErrorClass.CONNECT, f"cannot resolve {self.host}: {exc}") from None
        if not infos:
            raise ConnectError(ErrorClass.CONNECT, f"cannot resolve {self.host}")
        self._family = infos[0][0]
        self._addr = infos[0][4]

    async def connect(self) -> Connection:
        """A fresh connection; raises :class:`ConnectError` with its class."""
        if self._addr is None:
            await self._resolve()
        assert self._addr is not None
        conn = Connection(self.loop, self._buffer)
        coro = self.loop.create_connection(
            lambda: conn,
            self._addr[0],
            self.port,
            ssl=self.ssl,
            server_hostname=self.host if self.ssl is not None else None,
            family=self._family,
        )
        try:
            if self.timeout_s is None:
                await coro
            else:
                await asyncio.wait_for(coro, self.timeout_s)
        except ssl.SSLError as exc:
            raise ConnectError(ErrorClass.TLS, f"TLS handshake failed: {_reason(exc)}") from None
        except asyncio.TimeoutError:
            raise ConnectError(
                ErrorClass.TIMEOUT, f"connect timed out after {self.timeout_s:g}s"
            ) from None
        except OSError as exc:
            raise ConnectError(ErrorClass.CONNECT, _reason(exc)) from None
        return conn


def _header_value(block: bytes, marker: bytes) -> bytes | None:
    """The value of the header starting with ``marker`` in a lower-cased block."""
    pos = block.find(marker)
    if pos < 0:
        return None
    eol = block.find(b"\r", pos)
    return block[pos + len(marker) : eol if eol >= 0 else len(block)].strip()


def _content_type(value: bytes | None) -> tuple[tuple[str, str], ...]:
    """The response's Content-Type as meter headers (lower-cased, as parsed)."""
    return () if value is None else (("content-type", value.decode("latin-1")),)


def _reason(exc: BaseException) -> str:
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"certificate verify failed: {exc.verify_message}"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__
