"""A small scripted HTTP/1.1 server for client tests, on 127.0.0.1.

Each route writes its response by hand on the raw socket so tests can
produce what real servers do and libraries would tidy away: headers sent
long before the body, chunked bodies with gaps, a Content-Length that is
never reached, a connection cut without the terminating chunk, a server
that never answers, and the odd shapes of the differential test (bare LF,
Transfer-Encoding with Content-Length, 1xx before the answer, a 204 with a
body, chunk extensions, trailers, a reset mid-chunk). Every request is
recorded raw for signature checks. ``scripted_server(tls=ctx)`` serves the
same routes over TLS.
"""

from __future__ import annotations

import http.server
import socket
import socketserver
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from urllib.parse import parse_qs, quote, urlsplit

__all__ = ["SENT_AT", "RawRequest", "ScriptedServer", "scripted_server"]


@dataclass
class RawRequest:
    method: str
    target: str
    headers: list[tuple[str, str]]
    body: bytes


@dataclass
class ScriptedServer:
    base: str
    requests: list[RawRequest] = field(default_factory=list)


Route = Callable[[socket.socket, RawRequest, dict[str, str]], None]


def _chunk(data: bytes) -> bytes:
    return b"%x\r\n" % len(data) + data + b"\r\n"


def _head(status: int, headers: list[tuple[str, str]]) -> bytes:
    lines = [f"HTTP/1.1 {status} X"] + [f"{k}: {v}" for k, v in headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def route_chunked(sock: socket.socket, req: RawRequest, q: dict[str, str]) -> None:
    """``n`` chunks of ``size`` bytes, ``gap_ms`` apart; ``delay_ms`` before anything."""
    n, size = int(q.get("n", "4")), int(q.get("size", "1000"))
    gap, delay = float(q.get("gap_ms", "0")) / 1000, float(q.get("delay_ms", "0")) / 1000
    time.sleep(delay)
    sock.sendall(_head(200, [("content-type", "text/plain"), ("transfer-encoding", "chunked")]))
    for i in range(n):
        if i and gap:
            time.sleep(gap)
        sock.sendall(_chunk(bytes([97 + i % 26]) * size))
    sock.sendall(b"0\r\n\r\n")


# perf_counter_ns() instants some routes record, keyed by the request target:
# the server runs in the tests' process, so they compare with a record's.
SENT_AT: dict[str, dict[str, int]] = {}


def route_early_headers(sock: socket.socket, req: RawRequest, q: dict[str, str]) -> None:
    """Headers at once, the body ``wait_ms`` later (TTFB must be at the body)."""
    marks = SENT_AT.setdefault(req.target, {})
    sock.sendall(_head(200, [("transfer-encoding", "chunked")]))
    marks["head"] = time.perf_counter_ns()
    time.sleep(float(q.get("wait_ms", "300")) / 1000)
    marks["body"] = time.perf_counter_ns()
    sock.sendall(_chunk(b"x" * 100) + b"0\r\n\r\n")


def route_short_length(sock: socket.socket, req: RawRequest, q: dict[str, str]) -> None:
    """Content-Length 1000, only 500 bytes, then close."""
    sock.sendall(_head(200, [("content-length", "1000")]) + b"y" * 500)


def route_chunk_cut(sock: socket.socket, req: RawRequest, q: dict[str, str]) -> None:
    """Chunked, three chunks, then the connection closes without the last chunk."""
    sock.sendall(_head(200, [("transfer-encoding", "chunked")]))
    for _ in range(3):
        sock.sendall(_chunk(b"z" * 1000))
        time.sleep(0.01)


def route_reset(sock: socket.socket, req: RawRequest, q: dict[str, str]) -> None:
    """Some body, then a TCP reset (SO_LINGER 0)."""
    sock.sendall(_head(200, [("content-length", "100000")]) + b"r" * 2000)
    time.sleep(0.05)
    import struct

    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


def route_knee(sock: socket.socket, req: RawRequest, q: dict[str, str]) -> None:
    """``burst`` bytes at once, then ``rate`` B/s in 10 ms steps for ``seconds`` (``cut``: no end)."""
    burst, rate = int(q.get("burst", "2000000")), int(q.get("rate", "500000"))
    seconds = float(q.get("seconds", "1.0"))
    sock.sendall(_head(200, [("transfer-encoding", "chunked")]))
    sock.sendall(_chunk(b"b" * burst))
    step = rate // 100
    deadline = time.monotonic() + seconds
    nxt = time.monotonic()
    while nxt < deadline:
        nxt += 0.01
        time.sleep(max(0.0, nxt - time.monotonic()))
        sock.sendall(_chunk(b"s" * step))
    if q.get("cut"):  # end the connection without the last chunk: a cut stream
        return
    sock.sendall(b"0\r\n\r\n")


def route_redirect(sock: socket.socket, req: RawRequest, q: dict[str, str]) -> None:
    """``code`` (302) to ``to`` (default /echo); ``n`` > 1 first points to itself with n-1."""
    code, n = int(q.get("code", "302")), int(q.get("n", "1"))
    target = q.get("to", "/echo")
    if n > 1:
        target = f"/redirect?code={code}&n={n - 1}&to={quote(target, safe='')}"
    body = b"moved"
    headers = [("location", target), ("content-length", str(len(body)))]
    sock.sendall(_head(code, headers) + body)


def route_status(sock: socket.socket, req: RawRequest, q: dict[str, str]) -> None:
    code = int(q.get("code", "500"))
    body = q.get("body", '{"Message":"Forbidden"}' if code == 403 else "boom").encode()
    headers = [("content-length", str(len(body))), ("content-type", "application/json")]
    if "date" in q:
        headers.append(("date", q["date"]))
    sock.sendall(_head(code, headers) + body)


def route_binary(sock: socket.socket, req: RawRequest, q: dict[str, str]) -> None:
    body = bytes(range(256)) * 4
    sock.sendall(_head(200, [("content-length", str(len(body)))]) + body)


def route_big(sock: socket.socket, req: RawRequest, q: dict[str, str]) -> None:
    size = int(q.get("size", "1000000"))
    sock.sendall(_head(200, [("content-length", str(size)), ("content-type", "text/plain")]))
    block = b"0123456789abcdef" * 4096
    left = size
    while left > 0:
        part = block[: min(left, len(block))]
        sock.sendall(part)
        left -= len(part)


def route_hang(sock: socket.socket, req: RawRequest, q: dict[str, str]) -> None:
    time.sleep(float(q.get("seconds", "5")))


def route_echo(sock: socket.socket, req: RawRequest, q: dict[str, str]) -> None:
    body = f"{req.method} {req.target}\n".encode() + req.body
    sock.sendall(_head(200, [("content-length", str(len(body)))]) + body)


def route_cookies(sock: socket.socket, req: RawRequest, q: dict[str, str]) -> None:
    """Repeated headers, one of them a secret (a session cookie)."""
    headers = [
        ("set-cookie", "session=cookie-SECRET-1"),
        ("set-cookie", "theme=dark"),
        ("x-multi", "one"),
        ("x-multi", "two"),
        ("content-length", "2"),
    ]
    sock.sendall(_head(200, headers) + b"ok")


def route_te_and_length(sock: socket.socket, req: RawRequest, q: dict[str, str]) -> None:
    """Both framings (some proxies do it): Transfer-Encoding wins, as curl reads it."""
    head = b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"
    sock.sendall(head + _chunk(b"hello") + b"0\r\n\r\n")


def route_bare_lf(sock: socket.socket, req: RawRequest, q: dict[str, str]) -> None:
    """Line ends without CR (old or hand-written servers; curl reads them)."""
    sock.sendall(b"HTTP/1.1 200 OK\nContent-Length: 5\n\nhello")


def route_http10(sock: socket.socket, req: RawRequest, q: dict[str, str]) -> None:
    """An HTTP/1.0 answer, its body ended by closing the connection."""
    sock.sendall(b"HTTP/1.0 200 Fine\r\nContent-Type: text/plain\r\n\r\nold style")


def route_long_length(sock: socket.socket, req: RawRequest, q: dict[str, str]) -> None:
    """Content-Length 5, then more bytes than that (curl keeps the 5, drops the rest)."""
    sock.sendall(_head(200, [("content-length", "5")]) + b"hello" + b"-and-bytes-beyond")


def route_close_delimited(sock: socket.socket, req: RawRequest, q: dict[str, str]) -> None:
    """HTTP/1.1 with neither Content-Length nor chunked: the body ends at close."""
    sock.sendall(_head(200, [("content-type", "text/plain")]))
    for i in range(3):
        sock.sendall(bytes([97 + i]) * 1000)


def route_interim(sock: socket.socket, req: RawRequest, q: dict[str, str]) -> None:
    """``100 Continue`` and ``103 Early Hints`` before the answer."""
    sock.sendall(
        b"HTTP/1.1 100 Continue\r\n\r\n"
        b"HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n"
        + _head(200, [("content-length", "2")])
        + b"ok"
    )


def route_no_content_body(sock: socket.socket, req: RawRequest, q: dict[str, str]) -> None:
    """A 204 that sends a body anyway (not part of the response)."""
    sock.sendall(b"HTTP/1.1 204 No Content\r\nX-Note: body follows\r\n\r\nhello")


def route_chunk_extensions(sock: socket.socket, req: RawRequest, q: dict[str, str]) -> None:
    """Chunk sizes in mixed case with extensions (``;name=value``, quoted)."""
    sock.sendall(_head(200, [("transfer-encoding", "chunked")]))
    for i, part in enumerate([b"a" * 10, b"b" * 300, b"c" * 4097]):
        sock.sendall(b'%X;ext=%d;q="v w"\r\n%s\r\n' % (len(part), i, part))
    sock.sendall(b"0;last\r\n\r\n")


def route_trailers(sock: socket.socket, req: RawRequest, q: dict[str, str]) -> None:
    """A chunked body followed by trailer fields."""
    sock.sendall(_head(200, [("transfer-encoding", "chunked"), ("trailer", "x-checksum")]))
    sock.sendall(_chunk(b"t" * 2000) + _chunk(b"u" * 20))
    sock.sendall(b"0\r\nX-Checksum: 1234\r\nX-Other: 2\r\n\r\n")


def route_te_not_final(sock: socket.socket, req: RawRequest, q: dict[str, str]) -> None:
    """Transfer-Encoding ``te`` (chunked not the final coding): a chunked-looking body,
    then close. RFC 9112 section 6.3: read until the close, the raw bytes, complete."""
    head = _head(200, [("transfer-encoding", q.get("te", "chunked, gzip"))])
    if "length" in q:
        head = head[:-2] + b"Content-Length: %s\r\n\r\n" % q["length"].encode()
    sock.sendall(head + _chunk(b"hello") + _chunk(b" world") + b"0\r\n\r\n")


def route_long_extension(sock: socket.socket, req: RawRequest, q: dict[str, str]) -> None:
    """A chunk extension of 2 MiB (read and ignored, as curl does)."""
    sock.sendall(_head(200, [("transfer-encoding", "chunked")]))
    sock.sendall(b"5;" + b"a" * (2 << 20) + b"\r\nhello\r\n0\r\n\r\n")


def route_endless_trailers(sock: socket.socket, req: RawRequest, q: dict[str, str]) -> None:
    """A chunked body, then trailer fields of 900 KiB each that do not end."""
    sock.sendall(_head(200, [("transfer-encoding", "chunked")]) + _chunk(b"hello") + b"0\r\n")
    value = b"v" * (900 << 10)
    for i in range(int(q.get("n", "8"))):
        sock.sendall(b"X-T%d: %s\r\n" % (i, value))
    sock.sendall(b"\r\n")


def _drained(sock: socket.socket, bound_s: float = 5.0) -> None:
    """Wait (up to ``bound_s``) until the peer has every byte sent (TIOCOUTQ is 0)."""
    import fcntl
    import struct
    import termios

    deadline = time.monotonic() + bound_s
    while time.monotonic() < deadline:
        queued = struct.unpack("i", fcntl.ioctl(sock.fileno(), termios.TIOCOUTQ, b"\0" * 4))[0]
        if queued == 0:
            return
        time.sleep(0.001)


def route_reset_mid_chunk(sock: socket.socket, req: RawRequest, q: dict[str, str]) -> None:
    """One whole chunk and part of the next, then a TCP reset (no FIN)."""
    import struct

    sock.sendall(_head(200, [("transfer-encoding", "chunked")]))
    sock.sendall(_chunk(b"a" * 1000) + b"800\r\n" + b"b" * 100)
    _drained(sock)  # a reset drops whatever is still queued to send
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()  # unread nothing, linger 0: the kernel sends RST


def route_malformed_head(sock: socket.socket, req: RawRequest, q: dict[str, str]) -> None:
    """A status line that is not HTTP."""
    sock.sendall(b"HTTP/1.1 abc OK\r\n\r\n")


def route_sse(sock: socket.socket, req: RawRequest, q: dict[str, str]) -> None:
    """Server-Sent Events with known timing, chunked; the head goes out at once.

    ``n`` events (``data: event <i>``), ``gap_ms`` apart, the first after
    ``first_ms``; ``comment=1`` sends a ``: prelude`` comment with the head
    (a first byte that is not an event); ``split_ms`` sends each event in two
    writes that far apart (it counts at the second); ``crlf=1`` ends lines
    with CRLF; ``stall_after=k`` stops events after k of them and sends a
    keep-alive comment every 50 ms until ``stall_ms`` passed (bytes, no
    event); ``open_end=1`` leaves the last event without its blank line.
    The instant each event's last byte was written is recorded in SENT_AT.
    """
    marks = SENT_AT.setdefault(req.target, {})
    n, gap = int(q.get("n", "5")), float(q.get("gap_ms", "20")) / 1000
    split = float(q.get("split_ms", "0")) / 1000
    eol = b"\r\n" if q.get("crlf") == "1" else b"\n"
    stall_after = int(q.get("stall_after", "-1"))
    head = _head(200, [("content-type", "text/event-stream"), ("transfer-encoding", "chunked")])
    sock.sendall(head + (_chunk(b": prelude" + eol + eol) if q.get("comment") == "1" else b""))
    marks["head"] = time.perf_counter_ns()
    time.sleep(float(q.get("first_ms", "0")) / 1000)
    for i in range(n):
        if i == stall_after:
            end = time.monotonic() + float(q.get("stall_ms", "1000")) / 1000
            while time.monotonic() < end:
                sock.sendall(_chunk(b": keep-alive" + eol + eol))
                time.sleep(0.05)
            break
        if i:
            time.sleep(gap)
        event = b"id: %d" % i + eol + b"data: event %d" % i + eol
        last = i == n - 1 and q.get("open_end") == "1"
        if not last:
            event += eol
        # Each mark is taken just before the event's last byte is written, so a
        # client cannot see the event before its mark, however the threads run.
        if split:
            sock.sendall(_chunk(event[:5]))
            time.sleep(split)
            marks[f"event{i}"] = time.perf_counter_ns()
            sock.sendall(_chunk(event[5:]))
        else:
            marks[f"event{i}"] = time.perf_counter_ns()
            sock.sendall(_chunk(event))
    sock.sendall(b"0\r\n\r\n")


def route_ndjson(sock: socket.socket, req: RawRequest, q: dict[str, str]) -> None:
    """``n`` NDJSON rows ``gap_ms`` apart (``application/x-ndjson``), chunked.

    ``blank=1`` puts a blank line after each row (not an event); ``no_final_lf=1``
    leaves the last row without its LF (an event when the body ends).
    """
    n, gap = int(q.get("n", "5")), float(q.get("gap_ms", "20")) / 1000
    head = _head(200, [("content-type", "application/x-ndjson"), ("transfer-encoding", "chunked")])
    sock.sendall(head)
    for i in range(n):
        if i:
            time.sleep(gap)
        row = b'{"row": %d}' % i
        if i < n - 1 or q.get("no_final_lf") != "1":
            row += b"\n\n" if q.get("blank") == "1" else b"\n"
        sock.sendall(_chunk(row))
    sock.sendall(b"0\r\n\r\n")


def route_sse_length(sock: socket.socket, req: RawRequest, q: dict[str, str]) -> None:
    """``n`` SSE events as one body with a Content-Length (a static file, as nginx serves it)."""
    body = b"".join(b'data: {"token": %d}\n\n' % i for i in range(int(q.get("n", "5000"))))
    head = [("content-type", "text/event-stream"), ("content-length", str(len(body)))]
    sock.sendall(_head(200, head) + body)


def route_length_pause(sock: socket.socket, req: RawRequest, q: dict[str, str]) -> None:
    """Content-Length 200: 100 bytes, a pause of ``pause_ms``, then the other 100."""
    sock.sendall(_head(200, [("content-length", "200")]) + b"a" * 100)
    time.sleep(float(q.get("pause_ms", "1500")) / 1000)
    sock.sendall(b"b" * 100)


ROUTES: dict[str, Route] = {
    "/long-length": route_long_length,
    "/close-delimited": route_close_delimited,
    "/interim": route_interim,
    "/no-content-body": route_no_content_body,
    "/chunk-extensions": route_chunk_extensions,
    "/trailers": route_trailers,
    "/reset-mid-chunk": route_reset_mid_chunk,
    "/malformed-head": route_malformed_head,
    "/http10": route_http10,
    "/te-and-length": route_te_and_length,
    "/te-not-final": route_te_not_final,
    "/long-extension": route_long_extension,
    "/endless-trailers": route_endless_trailers,
    "/bare-lf": route_bare_lf,
    "/cookies": route_cookies,
    "/chunked": route_chunked,
    "/early-headers": route_early_headers,
    "/short-length": route_short_length,
    "/chunk-cut": route_chunk_cut,
    "/reset": route_reset,
    "/knee": route_knee,
    "/status": route_status,
    "/redirect": route_redirect,
    "/binary": route_binary,
    "/big": route_big,
    "/hang": route_hang,
    "/echo": route_echo,
    "/sse": route_sse,
    "/ndjson": route_ndjson,
    "/sse-length": route_sse_length,
    "/length-pause": route_length_pause,
}


def _read_request(rfile: socket.SocketIO | object, sock: socket.socket) -> RawRequest | None:
    data = b""
    while b"\r\n\r\n" not in data:
        part = sock.recv(65536)
        if not part:
            return None
        data += part
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    method, target, _ = lines[0].split(" ", 2)
    headers = []
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers.append((k, v.strip()))
    length = int(next((v for k, v in headers if k.lower() == "content-length"), "0"))
    while len(rest) < length:
        part = sock.recv(65536)
        if not part:
            break
        rest += part
    return RawRequest(method, target, headers, rest[:length])


class QuietHTTPServer(http.server.ThreadingHTTPServer):
    """A threading test server that keeps a client's hang-up to itself.

    Handler threads outlive the fixture that started them; one that meets a
    closed connection later must not print into another test's captured
    stderr (socketserver's default prints the traceback).
    """

    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        pass


@contextmanager
def scripted_server(tls: ssl.SSLContext | None = None) -> Iterator[ScriptedServer]:
    """The server on 127.0.0.1 (over TLS with ``tls``, a server-side context)."""
    state = ScriptedServer(base="")

    class Handler(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            sock: socket.socket = self.request
            try:
                if tls is not None:
                    sock = tls.wrap_socket(sock, server_side=True)
                req = _read_request(None, sock)
                if req is None:
                    return
                state.requests.append(req)
                parts = urlsplit(req.target)
                q = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
                route = ROUTES.get(parts.path)
                if route is None:
                    route = route_echo
                route(sock, req, q)
            except OSError:
                pass
            finally:
                if isinstance(sock, ssl.SSLSocket):
                    # close_notify, then the TCP close (the routes' end of stream).
                    with suppress(OSError, ValueError):
                        sock.settimeout(5.0)
                        sock.unwrap().close()
                    sock.close()
                else:
                    with suppress(OSError):
                        sock.shutdown(socket.SHUT_WR)

    class Server(socketserver.ThreadingTCPServer):
        daemon_threads = True
        allow_reuse_address = True

    server = Server(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    scheme = "https" if tls is not None else "http"
    state.base = f"{scheme}://127.0.0.1:{server.server_address[1]}"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
