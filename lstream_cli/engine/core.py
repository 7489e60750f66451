"""The HTTP/1.1 client core: bytes in, measured events out, no sockets.

``lstream get`` (blocking sockets, :mod:`lstream_cli.engine.h1`) and the load
engine (asyncio, :mod:`lstream_cli.engine.protocol`) are two thin shells over
this module, so what one command reads from a response the other reads too:

- :class:`RequestTemplate`: the request bytes (method, target, headers in a
  fixed order, body), signed with the same :class:`~lstream_cli.signing.Signer`;
- :class:`Exchange`: one response. The shell feeds it what the socket
  delivered (:meth:`Exchange.feed`), tells it about the end of the stream
  (:meth:`Exchange.eof`), a failure (:meth:`Exchange.failed`) or a deadline
  (:meth:`Exchange.expire`); the exchange parses with llhttp (httptools),
  decides the framing, hands every body delivery to the
  :class:`~lstream_cli.measure.BodyMeter` and classifies the outcome;
- :func:`setup_error`: the one mapping of a connection set-up failure
  (DNS, TCP, proxy tunnel, TLS) to an :class:`~lstream_cli.models.ErrorClass`;
- :func:`order_addresses`: the connection order over every resolved address
  (happy eyeballs, RFC 8305: IPv6 first, families interleaved), and
  :func:`literal_address` for a host that is an IP address (nothing to look up);
- :class:`Route`: how TCP reaches the origin (directly, or through a proxy's
  tunnel); the shells run its steps in one fixed order: resolve, TCP, tunnel,
  TLS, send.

Parser settings, decided once (what curl reads, it reads):

- bare LF line ends are accepted;
- Transfer-Encoding with Content-Length: chunked framing wins (RFC 9112
  §6.3) and the record carries a note saying so;
- 1xx interim responses (``100 Continue``, ``103 Early Hints``) are skipped;
  101 ends the exchange with its head;
- no body for HEAD, 204 and 304 (bytes a server sends anyway are not counted
  and the connection is not reused);
- a body with neither Content-Length nor chunked ends when the server closes
  the connection (complete); a Content-Length or chunked body that ends early
  is truncated, after every byte that arrived was counted;
- a Content-Length body is counted without the parser once its head is
  parsed (the framing is a count; bytes past it are not ours);
- a chunked body is decoded without the parser too, once its head is parsed
  (:class:`~lstream_cli.chunked.ChunkedDecoder`: the chunk data is never
  copied); chunk extensions and trailers are read and ignored.

One body delivery is what one read from the socket carried: its body bytes
are handed to the meter together (with the bytes themselves when
``meter.wants_bytes``), so ``reads`` and the gap figures describe the
network, in both shells alike. The sink gets the same bytes without a copy
made for it: a Content-Length body as a slice of the shell's read buffer,
a chunked one as slices of that buffer too (one per chunk in the read),
never joined or copied (a copy of each chunk, as llhttp hands its body
over, is a fresh allocation per chunk; joined, a fresh ``mmap`` and its
page faults, each read).
"""

from __future__ import annotations

import signal
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Protocol

import httptools

from lstream_cli import __version__
from lstream_cli.chunked import ChunkedDecoder
from lstream_cli.engine.tls import tls_error
from lstream_cli.measure import BodyMeter, classify_status
from lstream_cli.models import ErrorClass, RequestRecord
from lstream_cli.net.trust import Trust, tls_failure_reason
from lstream_cli.request import RequestSpec
from lstream_cli.supervise import stopped_by
from lstream_cli.url import parse_url

if TYPE_CHECKING:
    from lstream_cli.signing import Signer

__all__ = [
    "MAX_HEAD_BYTES",
    "RETRY",
    "STAGGER_S",
    "USER_AGENT",
    "AddrInfo",
    "Exchange",
    "Origin",
    "RequestTemplate",
    "Resolver",
    "Retry",
    "Route",
    "SetupError",
    "Tunnel",
    "literal_address",
    "order_addresses",
    "setup_error",
]

USER_AGENT = f"lstream/{__version__}"
STAGGER_S = 0.25  # happy eyeballs: the next address is tried this long after the last began
_HINT_BYTES = 512  # of a 4xx/5xx body, kept to tell TooManyRequests apart
MAX_HEAD_BYTES = 1 << 20  # a response head (with any 1xx before it) longer than this is refused
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
_NO_BODY_STATUSES = frozenset({204, 304})
TE_AND_CL_NOTE = (
    "the response had both Transfer-Encoding and Content-Length: "
    "read as chunked (Transfer-Encoding wins)"
)

AddrInfo = tuple[int, tuple[Any, ...]]  # (address family, socket address)
# socket.getaddrinfo's signature (host, port, family, type, proto, flags).
Resolver = Callable[..., Sequence[tuple[Any, ...]]]


class Retry:
    """Sentinel: a reused connection was closed before any response byte.

    The request goes out once more on a fresh connection, as browsers and
    curl do: keep-alive housekeeping, not a failed request.
    """

    def __repr__(self) -> str:
        return "RETRY"


RETRY = Retry()


class SetupError(Exception):
    """Connecting failed; ``error`` is its class, the message one line."""

    def __init__(self, error: ErrorClass, message: str) -> None:
        super().__init__(message)
        self.error = error


# --- where to connect -----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Origin:
    """The server the URL names: scheme, host (for SNI and ``Host``), port."""

    scheme: str
    host: str
    port: int

    @property
    def tls(self) -> bool:
        return self.scheme == "https"

    @property
    def key(self) -> tuple[str, str, int]:
        return (self.scheme, self.host, self.port)


class Tunnel(Protocol):
    """A step between TCP and TLS (an HTTP proxy's CONNECT), run by the shells.

    The shell writes :meth:`request` on the fresh TCP connection, then feeds
    what comes back to :meth:`feed` until it returns True (the tunnel is up).
    ``feed`` raises :class:`SetupError` when the proxy refuses.
    """

    def request(self) -> bytes: ...

    def feed(self, data: bytes) -> bool: ...


@dataclass(frozen=True, slots=True)
class Route:
    """How TCP reaches the origin: the address dialled and the steps on the way.

    Direct by default (dial the origin itself). A proxy layer builds a route
    that dials the proxy and either opens a ``tunnel`` (CONNECT, https) or
    sends the request in absolute form with ``headers`` added (http).
    """

    host: str  # name or address to resolve and dial
    port: int
    # Makes the step run after TCP, before TLS: a new one for each connection
    # (it keeps that connection's state, the proxy's answer so far).
    tunnel: Callable[[], Tunnel] | None = None
    absolute_form: bool = False  # request target is the absolute URL (http via a proxy)
    headers: tuple[tuple[str, str], ...] = ()  # added to the request (Proxy-Authorization)
    label: str | None = None  # for -v: which proxy, credentials removed; None = direct

    @classmethod
    def direct(cls, origin: Origin) -> Route:
        return cls(origin.host, origin.port)


def literal_address(host: str, port: int) -> list[AddrInfo] | None:
    """``host`` as an address when it is an IP literal (no lookup to do), else None."""
    for family in (socket.AF_INET, socket.AF_INET6):
        try:
            socket.inet_pton(family, host)
        except (OSError, ValueError):
            continue
        addr: tuple[Any, ...] = (host, port) if family == socket.AF_INET else (host, port, 0, 0)
        return [(family, addr)]
    return None


def order_addresses(infos: Sequence[tuple[Any, ...]]) -> list[AddrInfo]:
    """Every resolved address once, in happy-eyeballs order (RFC 8305 §4).

    IPv6 first when there is any, then the families alternate, each keeping
    the resolver's order. ``infos`` are ``getaddrinfo`` tuples.
    """
    seen: set[tuple[int, tuple[Any, ...]]] = set()
    v6: list[AddrInfo] = []
    other: list[AddrInfo] = []
    for info in infos:
        family, addr = info[0], tuple(info[4])
        if (family, addr) in seen:
            continue
        seen.add((family, addr))
        (v6 if family == socket.AF_INET6 else other).append((family, addr))
    ordered: list[AddrInfo] = []
    for i in range(max(len(v6), len(other))):
        ordered.extend(group[i] for group in (v6, other) if i < len(group))
    return ordered


def setup_error(
    stage: str,
    exc: BaseException,
    where: str,
    timeout_s: float | None,
    trust: Trust | None = None,
) -> SetupError:
    """The one classification of a set-up failure (``stage``: resolve, tcp, tunnel, tls).

    ``where`` names the host (and port) for the message; ``trust``, the CA
    bundle a certificate was checked against (named when the check fails).
    """
    if isinstance(exc, SetupError):
        return exc
    if isinstance(exc, TimeoutError | BlockingIOError) or tls_error(exc, "SSLWantReadError"):
        what = {"resolve": "resolving", "tls": "in the TLS handshake with"}.get(
            stage, "connecting to"
        )
        after = "" if timeout_s is None else f" after {timeout_s:g}s"
        return SetupError(ErrorClass.TIMEOUT, f"timed out {what} {where}{after}")
    if stage == "resolve":
        return SetupError(ErrorClass.CONNECT, f"cannot resolve host {where}: {_reason(exc)}")
    if tls_error(exc) or stage == "tls":
        why = tls_failure_reason(exc, trust) if tls_error(exc) else _reason(exc)
        return SetupError(ErrorClass.TLS, f"TLS handshake with {where} failed: {why}")
    if stage == "tunnel":
        return SetupError(ErrorClass.CONNECT, f"proxy tunnel to {where} failed: {_reason(exc)}")
    return SetupError(ErrorClass.CONNECT, f"cannot connect to {where}: {_reason(exc)}")


def _reason(exc: BaseException) -> str:
    if tls_error(exc, "SSLCertVerificationError"):
        return f"certificate verify failed: {getattr(exc, 'verify_message', '')}"
    if tls_error(exc):
        return str(getattr(exc, "reason", None) or exc)
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__


# --- the request ----------------------------------------------------------------


class RequestTemplate:
    """The request bytes, built once and re-signed only when the second changes.

    Headers sent, in order: ``Host``, ``User-Agent``, ``Accept: */*`` (each
    unless the user gave it), the user's ``-H`` headers in order, the route's
    headers, ``Content-Length`` for a body (and for POST, PUT, PATCH), then
    the SigV4 headers. No ``Accept-Encoding``: the body is measured as sent.
    """

    def __init__(
        self,
        spec: RequestSpec,
        signer: Signer | None,
        route_for: Callable[[Origin], Route] | None = None,
    ) -> None:
        self.spec = spec
        self.signer = signer
        # The wire form parsed once more: the target, Host and the signature all
        # cover this one (``HTTP://h:80/`` keeps its port the first time only).
        url = parse_url(str(parse_url(spec.url)))
        if url.scheme not in ("http", "https"):
            raise ValueError(f"unsupported URL scheme {url.scheme!r} (http or https)")
        if not url.host:
            raise ValueError("the URL has no host")
        tls = url.scheme == "https"
        self.origin = Origin(url.scheme, url.host_text, url.port or (443 if tls else 80))
        # The proxy layer's choice for this origin; direct when there is none.
        self.route = route_for(self.origin) if route_for is not None else Route.direct(self.origin)
        self.url = str(url)
        self.method = spec.method.upper()
        target = url.raw_path
        if self.route.absolute_form:
            target = self.url
        self.target = target
        given = {name.lower() for name, _ in spec.headers}
        headers: list[tuple[str, str]] = []
        if "host" not in given:
            headers.append(("Host", url.netloc))
        if "user-agent" not in given:
            headers.append(("User-Agent", USER_AGENT))
        if "accept" not in given:
            headers.append(("Accept", "*/*"))
        headers.extend(spec.headers)
        headers.extend(self.route.headers)
        body = spec.body or b""
        if (body or self.method in _BODY_METHODS) and "content-length" not in given:
            headers.append(("Content-Length", str(len(body))))
        self._headers = tuple(headers)
        self._body = body
        self._first = f"{self.method} {target} HTTP/1.1\r\n".encode("latin-1")
        self._static = self._render(self._headers)
        self._second = -1  # wall-clock second of the cached signed request
        self._signed = (b"", self._headers)

    def _render(self, headers: Sequence[tuple[str, str]]) -> bytes:
        lines = "".join(f"{k}: {v}\r\n" for k, v in headers)
        return self._first + lines.encode("latin-1") + b"\r\n" + self._body

    def build(self) -> tuple[bytes, tuple[tuple[str, str], ...]]:
        """The request to write now (validly signed for this second), and its headers."""
        if self.signer is None:
            return self._static, self._headers
        second = int(time.time())
        if second != self._second:
            extra = self.signer.sign(
                self.spec.method, self.url, self.spec.headers, self.spec.body or None
            )
            headers = self._headers + tuple(extra.items())
            self._signed = (self._render(headers), headers)
            self._second = second
        return self._signed

    def bytes(self) -> bytes:
        return self.build()[0]


# --- the response ---------------------------------------------------------------


class Exchange:
    """One response: llhttp's callbacks, the framing, the meter, the outcome.

    ``feed`` returns True once the response is complete; :attr:`record` is
    then set. ``eof``, ``failed`` and ``expire`` end it otherwise and return
    the record, or :data:`RETRY` for a reused connection that was found
    closed before any byte. ``method`` is upper case. ``on_head`` (called once the final head is
    parsed, before any of its body is delivered) and ``sink`` (each body
    delivery, a bytes-like object valid only during the call) are the shell's.
    ``keep_headers`` False (the load engine) leaves the response headers out
    of the record and the status line's version unread: they cost more than
    a small response's whole parse.
    """

    # Defaults as class attributes: a request's exchange sets only what it
    # changes (the load engine makes one per request, so this is hot).
    record: RequestRecord | None = None
    status = 0
    reason = b""
    version = "HTTP/1.1"
    headers: Sequence[tuple[bytes, bytes]] = ()
    head_done = False  # the final (non-1xx) head is parsed
    framing = ""  # "chunked" | "length" | "eof" | "none", once the head is parsed
    keep_alive = False  # the connection may serve another request
    extra = False  # bytes arrived that are not part of this response
    notes: tuple[str, ...] = ()
    _received = 0  # bytes of the response so far (head included)
    _interim = False  # inside a 1xx answer
    _parsed = False  # llhttp saw the final message end
    _length = -1  # Content-Length, -1 when none
    _raw_left = 0  # Content-Length body bytes still due, counted without llhttp
    _chunks: ChunkedDecoder | None = None  # a chunked body's decoder, once its head is parsed
    _head_buf: bytes | bytearray = b""  # what arrived until the final head was parsed
    _fed = 0  # bytes of _head_buf llhttp has been given
    _scan = (0, 0, -1)  # the head being parsed: start, end of its last line, body start
    _head_start = 0  # where the message being parsed begins in _head_buf
    _block = b""  # the final head: status line and header lines
    _hint: bytearray | None = None  # 4xx/5xx: headers and first body bytes
    sink: Callable[[Any], object] | None = None
    on_head: Callable[[Exchange], object] | None = None

    def __init__(
        self,
        meter: BodyMeter,
        method: str = "GET",
        *,
        reused: bool = False,
        timeout_ns: int | None = None,
        sink: Callable[[Any], object] | None = None,
        on_head: Callable[[Exchange], object] | None = None,
        keep_headers: bool = True,
        timeline_from: int | None = None,
    ) -> None:
        self.meter = meter
        self.keep_headers = keep_headers  # the meter records the response headers
        # Set: the meter keeps its timeline only for a stream (no Content-Length)
        # or a body announced at least this long.
        self.timeline_from = timeline_from
        self.reused = reused  # on a kept-alive connection: closed before any byte = retry
        self.timeout_ns = timeout_ns  # --timeout: longest silence allowed, None = never
        if sink is not None:  # else the class's None (the load engine has neither)
            self.sink = sink
        if on_head is not None:
            self.on_head = on_head
        self.last_rx_ns = time.perf_counter_ns()  # last byte received (or the exchange began)
        self._skip_body = method == "HEAD"
        self._body: list[bytes] = []  # llhttp's body pieces of the current read
        parser = httptools.HttpResponseParser(self)
        parser.set_dangerous_leniencies(
            lenient_chunked_length=True, lenient_optional_cr_before_lf=True
        )
        self._parser: httptools.HttpResponseParser | None = parser

    @property
    def done(self) -> bool:
        return self.record is not None

    @property
    def started(self) -> bool:
        """A byte of the response has arrived."""
        return self._received > 0

    @property
    def content_length(self) -> int:
        """The Content-Length the head announced, -1 when none."""
        return self._length

    @property
    def reusable(self) -> bool:
        """Complete, and the connection may carry the next request."""
        return (
            self.record is not None
            and self.record.complete
            and self.keep_alive
            and not self.extra
            and self.framing != "eof"
        )

    @property
    def status_line(self) -> str:
        """As received, e.g. ``HTTP/1.1 200 OK`` (what curl -i shows)."""
        reason = self.reason.decode("latin-1")
        return f"{self.version} {self.status} {reason}".rstrip()

    def str_headers(self) -> tuple[tuple[str, str], ...]:
        return tuple((k.decode("latin-1"), v.decode("latin-1")) for k, v in self.headers)

    def deadline_ns(self) -> int | None:
        """The perf_counter_ns instant by which the next byte must arrive, or None."""
        deadline = None if self.timeout_ns is None else self.last_rx_ns + self.timeout_ns
        stall = self.meter.idle_deadline_ns()
        if stall is not None and (deadline is None or stall < deadline):
            return stall
        return deadline

    # -- input from the shell ----------------------------------------------------

    def feed(self, data: bytes | memoryview, now: int) -> bool:
        """One read from the socket; True when the response is now complete.

        llhttp gets the head (and a chunked or close-delimited body); a
        Content-Length body is only counted, so llhttp never sees it.
        """
        self.last_rx_ns = now
        if self.record is not None:
            self.extra = True  # nothing more is ours
            return True
        self._received += len(data)
        if self.head_done:
            return self._body_read(data, now)
        buf = self._head_buf
        if not buf:
            buf = bytes(data)  # nearly always: the whole head came in one read
        elif isinstance(buf, bytearray):
            buf += data
        else:
            buf = bytearray(buf) + data  # a head over several reads grows in place
        self._head_buf = buf
        fed = self._fed
        while True:
            start = self._head_start
            while start < len(buf) and buf[start] in b"\r\n":
                start += 1  # line ends before a status line (llhttp skips them too)
            # Bytes already fed held no blank line: look again only from just before them.
            end, after = _head_end(buf, max(start, fed - 3))
            self._scan = (start, end, after)
            upto = after if after >= 0 else len(buf)
            failure = self._parse(memoryview(buf)[fed:upto])
            fed = upto
            if failure is not None:
                self._end(now, False, ErrorClass.CONNECT, f"malformed HTTP response: {failure}")
                return True
            if self.head_done or after < 0 or self._head_start != after:
                break  # the final head, or the rest of a head still to come
        self._fed = fed
        if not self.head_done:
            if len(buf) > MAX_HEAD_BYTES:
                detail = f"malformed HTTP response: no end of the head in {len(buf):,} bytes"
                self._end(now, False, ErrorClass.CONNECT, detail)
                return True
            return False
        self._head_buf = b""
        self._fed = 0
        self._head_parsed(now)
        rest = memoryview(buf)[fed:]
        if rest:
            return self._body_read(rest, now)
        return self._finished(now)

    def _parse(self, data: bytes | memoryview) -> str | None:
        """Feed llhttp; a malformed message becomes the reason, bytes past ours ``extra``."""
        parser = self._parser
        assert parser is not None
        try:
            parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self.framing = "none"  # 101: the head is all there is for HTTP
            self.keep_alive = False
        except httptools.HttpParserError as exc:
            if self._parsed or self.framing == "none":
                self.extra = True  # bytes after the answer: not ours
            else:
                return str(exc) or type(exc).__name__
        return None

    def _body_read(self, data: bytes | memoryview, now: int) -> bool:
        """Body bytes of one read (the head is parsed); True when complete."""
        framing = self.framing
        if framing == "length":
            n, left = len(data), self._raw_left
            if n < left:
                self._raw_left = left - n
                self._deliver(now, n, data)
                return False
            self._raw_left = 0
            self._deliver(now, left, data if n == left else data[:left])
            if n > left:
                self.extra = True
            self._complete(now)  # the count is reached: the body is whole
            return True
        if framing == "none":
            self.extra = True  # a HEAD (or 204/304) answer has no body
            return self._finished(now)
        if self._chunks is not None:
            return self._chunked_read(self._chunks, data, now)
        failure = self._parse(data)
        body = self._body
        if len(body) == 1:
            chunk = body[0]
            body.clear()
            self._deliver(now, len(chunk), chunk)
        elif body:
            self._deliver_pieces(now, body)
            body.clear()
        if failure is not None:
            self._end(now, False, ErrorClass.TRUNCATED, f"invalid HTTP response: {failure}")
            return True
        return self._finished(now)

    def _chunked_read(self, decoder: ChunkedDecoder, data: bytes | memoryview, now: int) -> bool:
        """A chunked body's bytes of one read, decoded in place; True when complete."""
        pieces = decoder.feed(data, 0, len(data))
        if len(pieces) == 1:
            piece = pieces[0]
            self._deliver(now, len(piece), piece)
        elif pieces:
            self._deliver_pieces(now, pieces)
        if decoder.error is not None:
            self._end(now, False, ErrorClass.TRUNCATED, f"invalid HTTP response: {decoder.error}")
            return True
        if not decoder.done:
            return False
        self._parsed = True
        if decoder.rest < len(data):
            self.extra = True  # bytes after the last chunk and its trailers: not ours
        self._complete(now)
        return True

    def _finished(self, now: int) -> bool:
        """Complete the response if its framing says it is over."""
        framing = self.framing
        if (
            framing == "none"
            or (framing == "length" and self._raw_left == 0)
            or (framing == "chunked" and self._parsed)
        ):
            self._complete(now)
            return True
        return False

    def eof(self, now: int) -> RequestRecord | Retry:
        """The server closed the connection (cleanly)."""
        if self.record is not None:
            return self.record
        if not self.started:
            if self.reused:
                return RETRY
            return self._end(
                now, False, ErrorClass.CONNECT, "connection closed before any response"
            )
        if not self.head_done:
            return self._end(
                now,
                False,
                ErrorClass.CONNECT,
                "connection closed before the end of the response head",
            )
        if self.framing == "eof":
            return self._complete(now)
        return self._end(now, False, ErrorClass.TRUNCATED, self._cut_detail())

    def failed(self, exc: BaseException, now: int) -> RequestRecord | Retry:
        """Reading (or writing) failed with ``exc`` (a reset, a TLS alert, a time-out)."""
        if self.record is not None:
            return self.record
        if isinstance(exc, TimeoutError | BlockingIOError) or tls_error(exc, "SSLWantReadError"):
            return self.expire(now)
        reason = _reason(exc)
        tls = tls_error(exc)
        if not self.started:
            if self.reused and not tls:
                return RETRY
            if tls:
                return self._end(now, False, ErrorClass.TLS, f"TLS error: {reason}")
            return self._end(
                now, False, ErrorClass.CONNECT, f"connection failed before a response: {reason}"
            )
        if not self.head_done:
            return self._end(
                now,
                False,
                ErrorClass.CONNECT,
                f"connection failed inside the response head: {reason}",
            )
        if self.framing == "eof" and tls_error(exc, "SSLEOFError"):
            # A close-delimited body over TLS ended without close_notify: as curl, the end.
            return self._complete(now)
        return self._end(now, False, ErrorClass.TRUNCATED, f"{self._cut_detail()} ({reason})")

    def expire(self, now: int) -> RequestRecord:
        """The deadline passed with no byte: STALLED (--stall-timeout) or TIMEOUT."""
        if self.record is not None:
            return self.record
        stall = self.meter.idle_deadline_ns()
        limit = self.timeout_ns
        timeout_at = None if limit is None else self.last_rx_ns + limit
        if stall is not None and now >= stall and (timeout_at is None or stall <= timeout_at):
            return self._end(now, False, ErrorClass.STALLED, self.meter.stall_detail())
        secs = "" if limit is None else f" for {limit / 1e9:g}s"
        what = "data" if self.head_done else "the response"
        return self._end(
            now,
            False,
            ErrorClass.TIMEOUT,
            f"timed out: no byte{secs} waiting for {what} (--timeout)",
        )

    def interrupted(self, now: int) -> RequestRecord:
        """Ctrl-C or SIGTERM: incomplete, with no error class (the server did nothing wrong)."""
        why = "terminated (SIGTERM)" if stopped_by() == signal.SIGTERM else "interrupted (Ctrl-C)"
        record = self._end(now, False, None, why)
        record = replace(record, error=None)
        self.record = record
        return record

    # -- llhttp's callbacks ------------------------------------------------------

    # No on_header, on_status or on_message_begin: a Python call per header
    # costs more than one scan of the head block llhttp has just validated.

    def on_headers_complete(self) -> None:
        if self.head_done:
            self.extra = True  # a second message: not ours
            return
        parser = self._parser
        assert parser is not None
        start, end, after = self._scan  # where feed found this head's blank line
        status = parser.get_status_code()
        if 100 <= status < 200 and status != 101:
            self._interim = True  # llhttp ends it here; the final response follows
            self._head_start = after
            return
        self._block = bytes(self._head_buf[start:end])
        self.status = status
        self.head_done = True

    def on_body(self, body: bytes) -> None:
        if not self._parsed:
            self._body.append(body)

    def on_message_complete(self) -> None:
        if self._interim:
            self._interim = False
        elif self.head_done and not self._parsed:
            self._parsed = True
            assert self._parser is not None
            self.keep_alive = self._parser.should_keep_alive()

    # -- internals ---------------------------------------------------------------

    def _head_parsed(self, now: int) -> None:
        """Decide the framing, tell the meter and the shell."""
        status = self.status
        block = self._block
        parser = self._parser
        assert parser is not None
        meter = self.meter
        # --events auto reads the Content-Type: a meter that asks gets the headers.
        keep = self.keep_headers or meter.wants_headers
        if keep or status >= 400:
            self.version, self.reason, self.headers = _fields(block)
        lower = block.lower()
        length = _content_length(lower)
        if self._skip_body or status in _NO_BODY_STATUSES or status == 101:
            self.framing = "none"
        elif b"\ntransfer-encoding:" in lower and _chunked(lower):
            self.framing = "chunked"
            # The body is decoded without llhttp; its trailers are checked, bounded, not kept.
            self._chunks = ChunkedDecoder(keep_trailers=False, trailer_limit=MAX_HEAD_BYTES)
            if length is not None:
                self.notes = (*self.notes, TE_AND_CL_NOTE)
        elif b"\ntransfer-encoding:" in lower:
            # chunked is not the final coding: the body ends when the server closes
            # (RFC 9112 section 6.3), a Content-Length notwithstanding, as llhttp reads it.
            self.framing = "eof"
        elif length is not None:
            self.framing = "length"
            self._length = length
        else:
            self.framing = "eof"
        if not self._parsed:
            self.keep_alive = status != 101 and parser.should_keep_alive()
        if status >= 400:
            self._hint = bytearray(block)
        if keep:
            meter.headers(now, status, self.str_headers())
        else:
            meter.headers(now, status)
        since = self.timeline_from
        if since is not None and (self.framing != "length" or self._length >= since):
            meter.keep_timeline = True  # a stream, or a long body: knee and gap p99
        if self.on_head is not None:
            self.on_head(self)
        if self.framing == "length" and length:
            # The body is a count: no parser, no copy (bytes past it are not ours).
            self._raw_left = length

    def _deliver(self, now: int, n: int, data: bytes | memoryview) -> None:
        meter = self.meter
        meter.data(now, n, data if meter.wants_bytes else None)
        hint = self._hint
        if hint is not None and len(hint) < 4 * _HINT_BYTES:
            hint += data[:_HINT_BYTES]
        if self.sink is not None:
            self.sink(data)

    def _deliver_pieces(self, now: int, pieces: Sequence[bytes | memoryview]) -> None:
        """One read's chunked body in several pieces: one delivery, no joined copy."""
        meter = self.meter
        n = sum(map(len, pieces))
        meter.data(now, n, b"".join(pieces) if meter.wants_bytes else None)
        hint = self._hint
        if hint is not None:
            for piece in pieces:
                if len(hint) < 4 * _HINT_BYTES:
                    hint += piece[:_HINT_BYTES]
        sink = self.sink
        if sink is not None:
            for piece in pieces:
                sink(piece)

    def _cut_detail(self) -> str:
        got = self.meter.bytes
        if self.framing == "chunked":
            return (
                "connection closed before the end of the chunked body "
                f"(no terminating 0-size chunk) after {got:,} bytes"
            )
        return (
            "connection closed before the end of the body: "
            f"received {got:,} of {max(self._length, 0):,} bytes (Content-Length)"
        )

    def _complete(self, now: int) -> RequestRecord:
        error = None
        if self.status >= 400:
            hint = self._hint
            error = classify_status(self.status, "" if hint is None else hint.decode("latin-1"))
        if self.framing == "eof":
            self.keep_alive = False
        return self._end(now, True, error, None)

    def _end(
        self, now: int, complete: bool, error: ErrorClass | None, detail: str | None
    ) -> RequestRecord:
        if self.record is not None:
            return self.record
        record = self.meter.finish(now, complete, error=error, detail=detail)
        if self.notes:
            record = replace(record, notes=self.notes)
        if not complete:
            self.keep_alive = False
        self.record = record
        self._parser = None  # it refers back to this exchange: no cycle left for the GC
        return record


def _head_end(buf: bytes | bytearray, start: int) -> tuple[int, int]:
    """(end of the head's last line, start of what follows its blank line) in ``buf``.

    The blank line ends with CRLF or a bare LF; (len(buf), -1) when it has
    not arrived yet.
    """
    crlf = buf.find(b"\n\r\n", start)
    # A bare-LF blank line counts only before the CRLF one: look no further (not
    # through the body that follows the head in the same read).
    lf = buf.find(b"\n\n", start) if crlf < 0 else buf.find(b"\n\n", start, crlf + 1)
    if crlf >= 0 and (lf < 0 or crlf < lf):
        return crlf + 1, crlf + 3
    if lf >= 0:
        return lf + 1, lf + 2
    return len(buf), -1


def _fields(block: bytes) -> tuple[str, bytes, list[tuple[bytes, bytes]]]:
    """The version, reason phrase and header fields of a validated head block."""
    lines = block.split(b"\n")
    first = lines[0].rstrip(b"\r").split(b" ", 2)
    version = first[0].decode("latin-1")
    reason = first[2] if len(first) > 2 else b""
    headers: list[tuple[bytes, bytes]] = []
    for raw in lines[1:]:
        line = raw.rstrip(b"\r")
        if not line:
            continue
        if line[:1] in (b" ", b"\t") and headers:  # obs-fold: the previous value goes on
            name, value = headers[-1]
            headers[-1] = (name, value + b" " + line.strip(b" \t"))
            continue
        name, _, value = line.partition(b":")
        headers.append((name, value.strip(b" \t")))
    return version, reason, headers


def _content_length(lower: bytes) -> int | None:
    """The Content-Length of a lower-cased head block (llhttp checked repeats agree)."""
    pos = lower.find(b"\ncontent-length:")
    if pos < 0:
        return None
    eol = lower.find(b"\n", pos + 16)
    value = lower[pos + 16 : eol if eol >= 0 else len(lower)].strip()
    return int(value) if value.isdigit() else None


def _chunked(lower: bytes) -> bool:
    """Whether the final transfer coding of a lower-cased head block is chunked.

    The codings of every Transfer-Encoding line, in order, are one list: its
    last element is the final coding. Spaces and tabs before it and spaces
    after it are passed over, as llhttp does (a tab after it, a parameter or
    an empty last element make it not chunked, for llhttp too).
    """
    marker = b"\ntransfer-encoding:"
    pos = lower.rfind(marker) + len(marker)
    eol = lower.find(b"\n", pos)
    value = lower[pos : eol if eol >= 0 else len(lower)].removesuffix(b"\r")
    return value.rpartition(b",")[2].lstrip(b" \t").rstrip(b" ") == b"chunked"
