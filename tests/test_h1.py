"""engine.h1 against raw-socket servers on 127.0.0.1: framing, failures, timing hooks.

Each test scripts the server byte for byte, so the transport sees exactly
what real servers send (chunk extensions, trailers, interim responses,
cut streams, resets, stalls) and what it sends is checked as raw bytes.
Where a test needs the client to have read something before the server goes
on, the two sides wait on events, never on sleeps.
"""

from __future__ import annotations

import socket
import ssl
import struct
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress

import httpx
import pytest

from lstream_cli.engine.h1 import BODY_WITH_HEAD, READ_SIZE, H1Transport

Script = Callable[[socket.socket, "RawServer"], None]
WAIT = 10.0  # seconds: only a bound for "it did not hang"


class RawServer:
    """Accepts connections and runs ``script`` on each, in its own thread."""

    def __init__(self, script: Script, tls: ssl.SSLContext | None = None) -> None:
        self.script = script
        self.tls = tls
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.connections = 0
        self.requests: list[bytes] = []
        self.go = threading.Event()  # set by a test to let the script go on
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            with self.lock:
                self.connections += 1
            threading.Thread(target=self._run, args=(conn,), daemon=True).start()

    def _run(self, conn: socket.socket) -> None:
        try:
            if self.tls is not None:
                conn = self.tls.wrap_socket(conn, server_side=True)
            self.script(conn, self)
        except OSError:
            pass
        finally:
            with suppress(OSError):
                conn.close()

    def read_request(self, conn: socket.socket) -> bytes | None:
        """One request (head and Content-Length body), or None at EOF."""
        data = b""
        while b"\r\n\r\n" not in data:
            part = conn.recv(65536)
            if not part:
                return None
            data += part
        head, _, body = data.partition(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        while len(body) < length:
            part = conn.recv(65536)
            if not part:
                break
            body += part
        self.requests.append(head + b"\r\n\r\n" + body)
        return head

    def close(self) -> None:
        # Closing alone does not wake the thread blocked in accept(), which would
        # keep the port listening until the session ends; shutting down does.
        with suppress(OSError):
            self.listener.shutdown(socket.SHUT_RDWR)
        self.listener.close()
        self.thread.join(WAIT)


@contextmanager
def serving(script: Script, tls: ssl.SSLContext | None = None) -> Iterator[RawServer]:
    server = RawServer(script, tls)
    try:
        yield server
    finally:
        server.go.set()
        server.close()


def reply(raw: bytes) -> Script:
    """A script that reads one request, sends ``raw`` and closes."""

    def script(conn: socket.socket, server: RawServer) -> None:
        if server.read_request(conn) is not None:
            conn.sendall(raw)

    return script


def client(timeout: float | None = WAIT, **kw: object) -> httpx.Client:
    return httpx.Client(transport=H1Transport(**kw), timeout=timeout)  # type: ignore[arg-type]


def deliveries(response: httpx.Response) -> tuple[list[bytes], BaseException | None]:
    """Everything the stream yielded, and what it raised at the end (if anything)."""
    got: list[bytes] = []
    try:
        for part in response.iter_raw():
            got.append(part)
    except httpx.HTTPError as exc:
        return got, exc
    return got, None


def fetch(url: str, method: str = "GET", **kw: object) -> tuple[httpx.Response, list[bytes]]:
    with client(**kw) as http, http.stream(method, url) as response:
        got, error = deliveries(response)
        assert error is None, error
        return response, got


# -- framing -----------------------------------------------------------------


def test_chunked_odd_sizes_extensions_and_trailers() -> None:
    parts = [b"a", b"bcdefgh", b"i" * 4097, b"xyz"]
    raw = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-Id: 7\r\n\r\n"
    for i, part in enumerate(parts):
        raw += b'%X;ext=%d;q="v"\r\n%s\r\n' % (len(part), i, part)
    raw += b"0\r\nX-Trailer: done\r\nX-Other: 1\r\n\r\n"
    with serving(reply(raw)) as server:
        response, got = fetch(server.url + "/")
    assert response.status_code == 200
    assert response.headers["x-id"] == "7"
    assert b"".join(got) == b"".join(parts)
    assert all(got)  # never an empty delivery
    assert response.extensions["http_version"] == b"HTTP/1.1"
    assert response.extensions["reason_phrase"] == b"OK"


def test_content_length_body_keeps_header_case_and_order() -> None:
    body = bytes(range(256)) * 40
    raw = b"HTTP/1.1 201 Created\r\nX-B: 2\r\nContent-Length: %d\r\nX-A: 1\r\n\r\n" % len(body)
    with serving(reply(raw + body)) as server:
        response, got = fetch(server.url + "/")
    assert response.status_code == 201 and b"".join(got) == body
    assert response.headers.raw == [
        (b"X-B", b"2"),
        (b"Content-Length", str(len(body)).encode()),
        (b"X-A", b"1"),
    ]
    assert response.extensions["reason_phrase"] == b"Created"


def test_close_delimited_body_ends_at_eof() -> None:
    raw = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n" + b"until close" * 1000
    with serving(reply(raw)) as server:
        _, got = fetch(server.url + "/")
    assert b"".join(got) == b"until close" * 1000


def test_head_has_no_body_even_with_content_length() -> None:
    def script(conn: socket.socket, server: RawServer) -> None:
        server.read_request(conn)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n")
        server.go.wait(WAIT)  # keep the connection open: the body must not be awaited

    with serving(script) as server:
        response, got = fetch(server.url + "/", method="HEAD", timeout=WAIT)
    assert response.status_code == 200 and got == []
    assert server.requests[0].startswith(b"HEAD / HTTP/1.1\r\n")


@pytest.mark.parametrize("status", [204, 304])
def test_no_body_statuses(status: int) -> None:
    def script(conn: socket.socket, server: RawServer) -> None:
        server.read_request(conn)
        conn.sendall(b"HTTP/1.1 %d X\r\nETag: e\r\n\r\n" % status)
        server.go.wait(WAIT)

    with serving(script) as server:
        response, got = fetch(server.url + "/")
    assert response.status_code == status and got == []


def test_interim_100_continue_is_skipped() -> None:
    raw = (
        b"HTTP/1.1 100 Continue\r\nX-Interim: yes\r\n\r\n"
        b"HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\n"
        b"HTTP/1.1 200 Fine\r\nContent-Length: 2\r\n\r\nok"
    )
    with serving(reply(raw)) as server:
        response, got = fetch(server.url + "/")
    assert response.status_code == 200 and b"".join(got) == b"ok"
    assert "x-interim" not in response.headers and "link" not in response.headers
    assert response.extensions["reason_phrase"] == b"Fine"


def test_body_arriving_with_the_head_is_the_first_delivery() -> None:
    raw = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nfirst\r\n"

    def script(conn: socket.socket, server: RawServer) -> None:
        server.read_request(conn)
        conn.sendall(raw)
        server.go.wait(WAIT)
        conn.sendall(b"6\r\nsecond\r\n0\r\n\r\n")

    with serving(script) as server, client() as http, http.stream("GET", server.url) as response:
        stream = response.iter_raw()
        assert next(stream) == b"first"
        server.go.set()
        assert list(stream) == [b"second"]


def test_one_delivery_per_read() -> None:
    """Three chunks sent one at a time give three deliveries, not one, not six."""
    parts = [b"A" * 3000, b"B" * 10, b"C" * 70000]

    def script(conn: socket.socket, server: RawServer) -> None:
        server.read_request(conn)
        conn.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        for part in parts:
            server.go.wait(WAIT)
            server.go.clear()
            conn.sendall(b"%x\r\n%s\r\n" % (len(part), part))
        conn.sendall(b"0\r\n\r\n")

    got: list[bytes] = []
    with serving(script) as server, client() as http, http.stream("GET", server.url) as response:
        server.go.set()
        for part in response.iter_raw():
            got.append(part)
            if sum(map(len, got)) in (3000, 3010):
                server.go.set()  # the next chunk only after this one was delivered
    # The last chunk (70000 bytes) may span several reads; the first two are whole.
    assert got[:2] == parts[:2]
    assert b"".join(got[2:]) == parts[2]


# -- truncation and malformed responses ---------------------------------------


@pytest.mark.parametrize(
    ("raw", "body", "needle"),
    [
        (
            b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n" + b"y" * 500,
            b"y" * 500,
            "received 500 of 1,000 bytes",
        ),
        (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n4\r\ndefg\r\n",
            b"abcdefg",
            "no terminating 0-size chunk",
        ),
        (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n10\r\nhalf",
            b"abchalf",
            "no terminating 0-size chunk",
        ),
    ],
    ids=["short-content-length", "no-last-chunk", "mid-chunk"],
)
def test_truncation_raises_after_yielding_what_came(raw: bytes, body: bytes, needle: str) -> None:
    with (
        serving(reply(raw)) as server,
        client() as http,
        http.stream("GET", server.url) as response,
    ):
        got, error = deliveries(response)
    assert b"".join(got) == body
    assert isinstance(error, httpx.RemoteProtocolError)
    assert needle in str(error)


def test_reset_mid_body_is_a_read_error_after_the_bytes() -> None:
    def script(conn: socket.socket, server: RawServer) -> None:
        server.read_request(conn)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n" + b"r" * 2000)
        server.go.wait(WAIT)
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))

    got: list[bytes] = []
    with (
        serving(script) as server,
        client() as http,
        http.stream("GET", server.url) as response,
        pytest.raises(httpx.ReadError, match="reset"),
    ):
        for part in response.iter_raw():
            got.append(part)
            if sum(map(len, got)) == 2000:
                server.go.set()
    assert b"".join(got) == b"r" * 2000


def test_no_response_at_all() -> None:
    def script(conn: socket.socket, server: RawServer) -> None:
        server.read_request(conn)

    with (
        serving(script) as server,
        client() as http,
        pytest.raises(httpx.RemoteProtocolError, match="without sending a response"),
    ):
        http.get(server.url)


def test_eof_inside_the_head() -> None:
    with (
        serving(reply(b"HTTP/1.1 200 OK\r\nContent-Le")) as server,
        client() as http,
        pytest.raises(httpx.RemoteProtocolError, match="head"),
    ):
        http.get(server.url)


@pytest.mark.parametrize(
    "raw",
    [
        b"HTTP/1.1 abc OK\r\n\r\n",
        b"NOT HTTP AT ALL\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    ],
)
def test_malformed_response(raw: bytes) -> None:
    with (
        serving(reply(raw)) as server,
        client() as http,
        pytest.raises(httpx.RemoteProtocolError, match="malformed HTTP response"),
    ):
        http.get(server.url)


def test_malformed_chunk_after_good_ones_keeps_the_good_ones() -> None:
    def script(conn: socket.socket, server: RawServer) -> None:
        server.read_request(conn)
        conn.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n")
        server.go.wait(WAIT)
        conn.sendall(b"3\r\nabc\r\nqq\r\n")

    got: list[bytes] = []
    with (
        serving(script) as server,
        client() as http,
        http.stream("GET", server.url) as response,
        pytest.raises(httpx.RemoteProtocolError, match="malformed"),
    ):
        for part in response.iter_raw():
            got.append(part)
            server.go.set()
    assert b"".join(got) == b"okabc"


# -- timeouts ---------------------------------------------------------------


def stall(head: bytes = b"") -> Script:
    def script(conn: socket.socket, server: RawServer) -> None:
        server.read_request(conn)
        if head:
            conn.sendall(head)
        server.go.wait(WAIT)

    return script


def test_read_timeout_before_the_head() -> None:
    with serving(stall()) as server, client(timeout=0.2) as http, pytest.raises(httpx.ReadTimeout):
        http.get(server.url)


def test_read_timeout_is_per_read_mid_body() -> None:
    head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nsome\r\n"
    with (
        serving(stall(head)) as server,
        client(timeout=0.2) as http,
        http.stream("GET", server.url) as response,
    ):
        got, error = deliveries(response)
    assert got == [b"some"]
    assert isinstance(error, httpx.ReadTimeout)


def test_write_timeout_when_the_server_never_reads() -> None:
    def script(conn: socket.socket, server: RawServer) -> None:
        server.go.wait(WAIT)  # never reads

    body = b"x" * (64 << 20)  # more than loopback's socket buffers hold
    with serving(script) as server, client(timeout=0.3) as http, pytest.raises(httpx.WriteTimeout):
        http.post(server.url, content=body)


def test_connect_timeout_covers_the_tls_handshake() -> None:
    """A server that accepts TCP but never speaks TLS: the handshake times out."""

    def script(conn: socket.socket, server: RawServer) -> None:
        server.go.wait(WAIT)

    with (
        serving(script) as server,
        client(timeout=0.3) as http,
        pytest.raises(httpx.ConnectTimeout),
    ):
        http.get(f"https://127.0.0.1:{server.port}/")


def test_no_timeout_means_blocking_reads() -> None:
    head = b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n"

    def script(conn: socket.socket, server: RawServer) -> None:
        server.read_request(conn)
        conn.sendall(head)
        server.go.wait(WAIT)
        conn.sendall(b"end")

    with (
        serving(script) as server,
        client(timeout=None) as http,
        http.stream("GET", server.url) as response,
    ):
        server.go.set()
        assert response.read() == b"end"


# -- connecting -------------------------------------------------------------


def test_connection_refused_keeps_the_os_message() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with client() as http, pytest.raises(httpx.ConnectError) as info:
        http.get(f"http://127.0.0.1:{port}/")
    assert "[Errno 111] Connection refused" in str(info.value)
    assert isinstance(info.value.__cause__, ConnectionRefusedError)


def test_dns_failure_keeps_the_resolver_message(unresolvable_host: str) -> None:
    host = unresolvable_host
    try:
        socket.getaddrinfo(host, 80)
    except socket.gaierror as exc:
        expected = str(exc)
    else:
        pytest.fail(f"{host} resolved")
    with client() as http, pytest.raises(httpx.ConnectError) as info:
        http.get(f"http://{host}/")
    assert str(info.value) == expected


# -- TLS ----------------------------------------------------------------------


class TLS:
    """A test CA, a server certificate for 127.0.0.1, a client context trusting it."""

    def __init__(self) -> None:
        import trustme

        self.ca = trustme.CA()
        cert = self.ca.issue_cert("127.0.0.1", "localhost")
        self.server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        cert.configure_cert(self.server_ctx)
        self.client_ctx = ssl.create_default_context()
        self.ca.configure_trust(self.client_ctx)


@pytest.fixture(scope="module")
def tls_ca() -> TLS:
    return TLS()


OK_RAW = b"HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\nsecure hello"


def test_tls_untrusted_certificate_fails_with_the_ssl_reason(tls_ca: TLS) -> None:
    with (
        serving(reply(OK_RAW), tls=tls_ca.server_ctx) as server,
        client() as http,
        pytest.raises(httpx.ConnectError) as info,
    ):
        http.get(server.url)
    assert "certificate verify failed: unable to get local issuer certificate" in str(info.value)
    assert isinstance(info.value.__cause__, ssl.SSLCertVerificationError)


def test_tls_trusted_certificate_and_insecure_both_work(tls_ca: TLS) -> None:
    with serving(reply(OK_RAW), tls=tls_ca.server_ctx) as server:
        _, got = fetch(server.url + "/", verify=tls_ca.client_ctx)
        assert b"".join(got) == b"secure hello"
        _, got = fetch(server.url + "/", verify=False)
        assert b"".join(got) == b"secure hello"


def test_tls_hostname_is_checked(tls_ca: TLS) -> None:
    """A certificate from a trusted CA, but for another name, is refused."""
    import trustme

    other = trustme.CA()
    wrong = other.issue_cert("elsewhere.example")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    wrong.configure_cert(ctx)
    trusting = ssl.create_default_context()
    other.configure_trust(trusting)
    with (
        serving(reply(OK_RAW), tls=ctx) as server,
        client(verify=trusting) as http,
        pytest.raises(httpx.ConnectError, match="certificate verify failed: IP address mismatch"),
    ):
        http.get(server.url)


# -- trace ------------------------------------------------------------------


def traced(http: httpx.Client, url: str) -> list[str]:
    events: list[str] = []
    http.get(url, extensions={"trace": lambda name, info: events.append(name)})
    return events


HTTP_EVENTS = [
    "connection.connect_tcp.started",
    "connection.connect_tcp.complete",
    "http11.send_request_headers.started",
    "http11.send_request_headers.complete",
    "http11.send_request_body.started",
    "http11.send_request_body.complete",
    "http11.receive_response_headers.started",
    "http11.receive_response_headers.complete",
]


def test_trace_events_in_order_http() -> None:
    with (
        serving(reply(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")) as s,
        client() as http,
    ):
        assert traced(http, s.url) == HTTP_EVENTS


def test_trace_events_in_order_https(tls_ca: TLS) -> None:
    raw = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    with serving(reply(raw), tls=tls_ca.server_ctx) as s, client(verify=tls_ca.client_ctx) as http:
        assert traced(http, s.url) == [
            *HTTP_EVENTS[:2],
            "connection.start_tls.started",
            "connection.start_tls.complete",
            *HTTP_EVENTS[2:],
        ]


def test_head_complete_is_traced_before_the_body_arrives() -> None:
    """``headers_ms`` comes from this event: it must not wait for the body."""
    marks: list[str] = []

    def script(conn: socket.socket, server: RawServer) -> None:
        server.read_request(conn)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\n")
        server.go.wait(WAIT)
        conn.sendall(b"body")

    with serving(script) as server, client() as http:
        request = http.build_request(
            "GET", server.url, extensions={"trace": lambda name, info: marks.append(name)}
        )
        response = http.send(request, stream=True)
        assert marks[-1] == "http11.receive_response_headers.complete"
        server.go.set()
        assert response.read() == b"body"
        response.close()
    assert BODY_WITH_HEAD not in marks  # the body came in a later read


# -- keep-alive -------------------------------------------------------------


def keep_alive(body: bytes = b"hello", close_after: int = 0) -> Script:
    """Answer requests on one connection; ``Connection: close`` on request N."""

    def script(conn: socket.socket, server: RawServer) -> None:
        n = 0
        while server.read_request(conn) is not None:
            n += 1
            extra = b"Connection: close\r\n" if n == close_after else b""
            conn.sendall(
                b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n%s\r\n%s" % (len(body), extra, body)
            )
            if extra:
                return

    return script


def test_keep_alive_reuses_one_connection_and_skips_connect_events() -> None:
    with serving(keep_alive()) as server, client() as http:
        first = traced(http, server.url + "/1")
        second = traced(http, server.url + "/2")
        assert http.get(server.url + "/3").content == b"hello"
    assert server.connections == 1
    # "hello" came in the head's own read, which the transport says.
    assert first == [*HTTP_EVENTS, BODY_WITH_HEAD]
    assert second == [*HTTP_EVENTS[2:], BODY_WITH_HEAD]  # no connect events on reuse
    assert [r.split(b" ")[1] for r in server.requests] == [b"/1", b"/2", b"/3"]


def test_https_keep_alive_skips_connect_and_tls_events(tls_ca: TLS) -> None:
    with (
        serving(keep_alive(), tls=tls_ca.server_ctx) as server,
        client(verify=tls_ca.client_ctx) as http,
    ):
        first = traced(http, server.url + "/1")
        second = traced(http, server.url + "/2")
    assert server.connections == 1
    assert "connection.start_tls.complete" in first
    assert second == [*HTTP_EVENTS[2:], BODY_WITH_HEAD]


def test_response_finished_after_the_transport_closed_is_not_kept() -> None:
    closed = threading.Event()

    def script(conn: socket.socket, server: RawServer) -> None:
        server.read_request(conn)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello")
        if server.read_request(conn) is None:
            closed.set()

    with serving(script) as server:
        http = client()
        with http.stream("GET", server.url) as response:
            http.close()
            assert response.read() == b"hello"
        assert closed.wait(WAIT)


def test_connection_close_is_honoured() -> None:
    with serving(keep_alive(close_after=1)) as server, client() as http:
        assert http.get(server.url).content == b"hello"
        assert http.get(server.url).content == b"hello"
    assert server.connections == 2


def test_chunked_response_connection_is_reused() -> None:
    def script(conn: socket.socket, server: RawServer) -> None:
        while server.read_request(conn) is not None:
            conn.sendall(
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n"
            )

    with serving(script) as server, client() as http:
        assert [http.get(server.url).content for _ in range(3)] == [b"hi"] * 3
    assert server.connections == 1


def test_unfinished_response_is_not_reused() -> None:
    body = b"z" * 500_000
    with serving(keep_alive(body)) as server, client() as http:
        with http.stream("GET", server.url) as response:
            next(response.iter_raw())  # then close half-way through
        assert http.get(server.url).content == body
    assert server.connections == 2


def test_server_closing_an_idle_connection_is_retried_fresh() -> None:
    """The server drops the kept connection when the second request arrives on it."""

    def script(conn: socket.socket, server: RawServer) -> None:
        server.read_request(conn)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        if server.connections == 1:
            server.read_request(conn)  # read the second request, answer nothing, close
            return
        while server.read_request(conn) is not None:
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")

    with serving(script) as server, client() as http:
        assert http.get(server.url + "/a").content == b"ok"
        assert http.get(server.url + "/b").content == b"ok"
    assert server.connections == 2
    assert [r.split(b" ")[1] for r in server.requests] == [b"/a", b"/b", b"/b"]


def test_close_closes_idle_connections() -> None:
    closed = threading.Event()

    def script(conn: socket.socket, server: RawServer) -> None:
        server.read_request(conn)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        if server.read_request(conn) is None:
            closed.set()

    with serving(script) as server:
        http = client()
        assert http.get(server.url).content == b"ok"
        http.close()
        assert closed.wait(WAIT)


# -- what is sent -------------------------------------------------------------


def test_request_is_sent_exactly_as_httpx_built_it() -> None:
    with serving(keep_alive(b"")) as server, client() as http:
        http.headers.clear()
        http.post(
            server.url + "/a%20b/%C3%BC?z=1&a=2",
            content=b'{"k": 1}',
            headers=[
                ("X-First", "1"),
                ("content-type", "application/json"),
                ("X-Dup", "a"),
                ("X-Dup", "b"),
            ],
        )
    sent = server.requests[0]
    assert sent == (
        b"POST /a%20b/%C3%BC?z=1&a=2 HTTP/1.1\r\n"
        b"Host: 127.0.0.1:" + str(server.port).encode() + b"\r\n"
        b"X-First: 1\r\n"
        b"content-type: application/json\r\n"
        b"X-Dup: a\r\n"
        b"X-Dup: b\r\n"
        b"Content-Length: 8\r\n"
        b'\r\n{"k": 1}'
    )


def test_streamed_request_body_is_chunk_encoded() -> None:
    received: list[bytes] = []

    def script(conn: socket.socket, server: RawServer) -> None:
        data = b""
        while not data.endswith(b"0\r\n\r\n"):
            part = conn.recv(65536)
            if not part:
                break
            data += part
        received.append(data)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")

    def body() -> Iterator[bytes]:
        yield b"abc"
        yield b""
        yield b"defgh"

    with serving(script) as server, client() as http:
        assert http.post(server.url, content=body()).status_code == 200
    head, _, rest = received[0].partition(b"\r\n\r\n")
    assert b"Transfer-Encoding: chunked" in head
    assert rest == b"3\r\nabc\r\n5\r\ndefgh\r\n0\r\n\r\n"


def test_early_answer_while_sending_is_read() -> None:
    """A server that answers 413 and closes before reading a large body."""

    def script(conn: socket.socket, server: RawServer) -> None:
        data = b""
        while b"\r\n\r\n" not in data:
            data += conn.recv(65536)
        conn.sendall(b"HTTP/1.1 413 Too Large\r\nContent-Length: 3\r\nConnection: close\r\n\r\nbig")
        conn.shutdown(socket.SHUT_WR)
        # Unread data in the buffer makes close() send a reset to the client.

    with serving(script) as server, client() as http:
        response = http.post(server.url, content=b"x" * (32 << 20))
    assert response.status_code == 413 and response.content == b"big"


# -- memory -------------------------------------------------------------------


@pytest.mark.parametrize("chunked", [True, False], ids=["chunked", "content-length"])
def test_big_body_never_accumulates(chunked: bool) -> None:
    size, block = 200 * 1024 * 1024, b"0123456789abcdef" * 65536  # 1 MiB

    def script(conn: socket.socket, server: RawServer) -> None:
        server.read_request(conn)
        if chunked:
            conn.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
            frame = b"%x\r\n" % len(block)
            for _ in range(size // len(block)):
                conn.sendall(frame)
                conn.sendall(block)
                conn.sendall(b"\r\n")
            conn.sendall(b"0\r\n\r\n")
        else:
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % size)
            for _ in range(size // len(block)):
                conn.sendall(block)

    total = largest = count = 0
    with serving(script) as server, client() as http, http.stream("GET", server.url) as response:
        for part in response.iter_raw():
            total += len(part)
            largest = max(largest, len(part))
            count += 1
    assert total == size
    assert 0 < largest <= READ_SIZE
    assert count >= size // READ_SIZE
