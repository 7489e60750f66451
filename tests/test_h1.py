"""get's client (engine.single.fetch over engine.h1 and engine.core) against raw sockets.

Each test scripts the server byte for byte, so the client sees exactly what
real servers send (chunk extensions, trailers, interim responses, cut
streams, resets, stalls) and what it sends is checked as raw bytes. Where a
test needs the client to have read something before the server goes on, the
two sides wait on events, never on sleeps.
"""

from __future__ import annotations

import socket
import ssl
import struct
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress

import pytest
from botocore.credentials import Credentials

from lstream_cli import __version__
from lstream_cli.engine.h1 import READ_SIZE, Client
from lstream_cli.engine.single import fetch
from lstream_cli.models import ErrorClass, RequestRecord
from lstream_cli.request import RequestSpec
from lstream_cli.signing import Signer

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


class Got:
    """A sink keeping every delivery (as bytes), and the head ``on_head`` saw."""

    def __init__(self, on_delivery: Callable[[Got], None] | None = None) -> None:
        self.parts: list[bytes] = []
        self.on_delivery = on_delivery
        self.status_line = ""
        self.headers: tuple[tuple[str, str], ...] = ()

    def __call__(self, chunk: object) -> None:
        assert isinstance(chunk, bytes | memoryview)
        self.parts.append(bytes(chunk))
        if self.on_delivery is not None:
            self.on_delivery(self)

    def head(
        self, sent: object, status: int, headers: tuple[tuple[str, str], ...], line: str
    ) -> None:
        assert not self.parts  # the head comes before any of its body
        self.status_line, self.headers = line, headers

    @property
    def body(self) -> bytes:
        return b"".join(self.parts)

    @property
    def total(self) -> int:
        return sum(map(len, self.parts))


def client(timeout: float | None = WAIT, **kw: object) -> Client:
    return Client(timeout_s=timeout, **kw)  # type: ignore[arg-type]


def get(
    url: str,
    method: str = "GET",
    *,
    http: Client | None = None,
    on_delivery: Callable[[Got], None] | None = None,
    timeout: float | None = WAIT,
    body: bytes | None = None,
    headers: tuple[tuple[str, str], ...] = (),
    signer: Signer | None = None,
    **kw: object,
) -> tuple[RequestRecord, Got]:
    spec = RequestSpec(url, method=method, body=body, headers=headers, auth="none", timeout=timeout)
    got = Got(on_delivery)
    own = http is None
    http = http if http is not None else client(timeout, **kw)
    try:
        record = fetch(spec, signer, sink=got, on_head=got.head, client=http)
    finally:
        if own:
            http.close()
    return record, got


def ok(url: str, method: str = "GET", **kw: object) -> tuple[RequestRecord, Got]:
    record, got = get(url, method, **kw)  # type: ignore[arg-type]
    assert record.ok, (record.error, record.error_detail)
    assert record.bytes == got.total  # the meter counted what the sink got
    return record, got


# -- framing -----------------------------------------------------------------


def test_chunked_odd_sizes_extensions_and_trailers() -> None:
    parts = [b"a", b"bcdefgh", b"i" * 4097, b"xyz"]
    raw = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-Id: 7\r\n\r\n"
    for i, part in enumerate(parts):
        raw += b'%X;ext=%d;q="v"\r\n%s\r\n' % (len(part), i, part)
    raw += b"0\r\nX-Trailer: done\r\nX-Other: 1\r\n\r\n"
    with serving(reply(raw)) as server:
        record, got = ok(server.url + "/")
    assert record.status == 200
    assert got.headers == (("Transfer-Encoding", "chunked"), ("X-Id", "7"))  # no trailers
    assert got.body == b"".join(parts)
    assert all(got.parts)  # never an empty delivery
    assert got.status_line == "HTTP/1.1 200 OK"


def test_content_length_body_keeps_header_case_and_order() -> None:
    body = bytes(range(256)) * 40
    raw = b"HTTP/1.1 201 Created\r\nX-B: 2\r\nContent-Length: %d\r\nX-A: 1\r\n\r\n" % len(body)
    with serving(reply(raw + body)) as server:
        record, got = ok(server.url + "/")
    assert record.status == 201 and got.body == body
    assert got.headers == (("X-B", "2"), ("Content-Length", str(len(body))), ("X-A", "1"))
    assert got.status_line == "HTTP/1.1 201 Created"


def test_close_delimited_body_ends_at_eof() -> None:
    raw = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n" + b"until close" * 1000
    with serving(reply(raw)) as server:
        _, got = ok(server.url + "/")
    assert got.body == b"until close" * 1000


def test_head_has_no_body_even_with_content_length() -> None:
    def script(conn: socket.socket, server: RawServer) -> None:
        server.read_request(conn)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n")
        server.go.wait(WAIT)  # keep the connection open: the body must not be awaited

    with serving(script) as server:
        record, got = ok(server.url + "/", method="HEAD")
    assert record.status == 200 and got.parts == [] and record.bytes == 0
    assert server.requests[0].startswith(b"HEAD / HTTP/1.1\r\n")


@pytest.mark.parametrize("status", [204, 304])
def test_no_body_statuses(status: int) -> None:
    def script(conn: socket.socket, server: RawServer) -> None:
        server.read_request(conn)
        conn.sendall(b"HTTP/1.1 %d X\r\nETag: e\r\n\r\n" % status)
        server.go.wait(WAIT)

    with serving(script) as server:
        record, got = ok(server.url + "/")
    assert record.status == status and got.parts == []


def test_interim_100_continue_is_skipped() -> None:
    raw = (
        b"HTTP/1.1 100 Continue\r\nX-Interim: yes\r\n\r\n"
        b"HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\n"
        b"HTTP/1.1 200 Fine\r\nContent-Length: 2\r\n\r\nok"
    )
    with serving(reply(raw)) as server:
        record, got = ok(server.url + "/")
    assert record.status == 200 and got.body == b"ok"
    assert got.headers == (("Content-Length", "2"),)
    assert got.status_line == "HTTP/1.1 200 Fine"


def test_body_arriving_with_the_head_is_stamped_with_the_head() -> None:
    raw = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nfirst\r\n"

    def script(conn: socket.socket, server: RawServer) -> None:
        server.read_request(conn)
        conn.sendall(raw)
        server.go.wait(WAIT)
        conn.sendall(b"6\r\nsecond\r\n0\r\n\r\n")

    with serving(script) as server:
        record, got = ok(server.url, on_delivery=lambda g: server.go.set())
    assert got.parts == [b"first", b"second"]
    assert record.headers_ns == record.first_byte_ns  # one read carried both
    assert record.reads == 2


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

    def next_chunk(got: Got) -> None:
        if got.total in (3000, 3010):
            server.go.set()  # the next chunk only after this one was delivered

    with serving(script) as server:
        server.go.set()
        record, got = ok(server.url, on_delivery=next_chunk)
    # The last chunk (70000 bytes) may span several reads; the first two are whole.
    assert got.parts[:2] == parts[:2]
    assert b"".join(got.parts[2:]) == parts[2]
    assert record.reads == len(got.parts)


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
def test_truncation_keeps_what_came(raw: bytes, body: bytes, needle: str) -> None:
    with serving(reply(raw)) as server:
        record, got = get(server.url)
    assert got.body == body and record.bytes == len(body)
    assert record.error is ErrorClass.TRUNCATED and not record.complete
    assert needle in (record.error_detail or "")


def test_reset_mid_body_is_truncated_after_the_bytes() -> None:
    def script(conn: socket.socket, server: RawServer) -> None:
        server.read_request(conn)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n" + b"r" * 2000)
        server.go.wait(WAIT)
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))

    def reset_now(got: Got) -> None:
        if got.total == 2000:
            server.go.set()

    with serving(script) as server:
        record, got = get(server.url, on_delivery=reset_now)
    assert got.body == b"r" * 2000
    assert record.error is ErrorClass.TRUNCATED
    assert "reset" in (record.error_detail or "").lower()


def test_no_response_at_all() -> None:
    def script(conn: socket.socket, server: RawServer) -> None:
        server.read_request(conn)

    with serving(script) as server:
        record, _ = get(server.url)
    assert record.error is ErrorClass.CONNECT and record.status is None
    assert "before any response" in (record.error_detail or "")


def test_eof_inside_the_head() -> None:
    with serving(reply(b"HTTP/1.1 200 OK\r\nContent-Le")) as server:
        record, _ = get(server.url)
    assert record.error is ErrorClass.CONNECT and record.status is None
    assert "head" in (record.error_detail or "")


@pytest.mark.parametrize(
    "raw",
    [
        b"HTTP/1.1 abc OK\r\n\r\n",
        b"NOT HTTP AT ALL\r\n\r\n",
    ],
)
def test_malformed_response(raw: bytes) -> None:
    with serving(reply(raw)) as server:
        record, _ = get(server.url)
    assert record.error is ErrorClass.CONNECT and record.status is None
    assert "malformed HTTP response" in (record.error_detail or "")


def test_malformed_chunk_after_good_ones_keeps_the_good_ones() -> None:
    def script(conn: socket.socket, server: RawServer) -> None:
        server.read_request(conn)
        conn.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n")
        server.go.wait(WAIT)
        conn.sendall(b"3\r\nabc\r\nqq\r\n")

    with serving(script) as server:
        record, got = get(server.url, on_delivery=lambda g: server.go.set())
    assert got.body == b"okabc"
    assert record.error is ErrorClass.TRUNCATED and record.status == 200
    assert "invalid HTTP response" in (record.error_detail or "")


# -- timeouts ---------------------------------------------------------------


def stall(head: bytes = b"") -> Script:
    def script(conn: socket.socket, server: RawServer) -> None:
        server.read_request(conn)
        if head:
            conn.sendall(head)
        server.go.wait(WAIT)

    return script


def test_read_timeout_before_the_head() -> None:
    with serving(stall()) as server:
        record, _ = get(server.url, timeout=0.2)
    assert record.error is ErrorClass.TIMEOUT and record.status is None
    assert "--timeout" in (record.error_detail or "")


def test_read_timeout_is_per_read_mid_body() -> None:
    head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nsome\r\n"
    with serving(stall(head)) as server:
        record, got = get(server.url, timeout=0.2)
    assert got.parts == [b"some"]
    assert record.error is ErrorClass.TIMEOUT and record.status == 200


def test_write_timeout_when_the_server_never_reads() -> None:
    def script(conn: socket.socket, server: RawServer) -> None:
        server.go.wait(WAIT)  # never reads

    body = b"x" * (64 << 20)  # more than loopback's socket buffers hold
    with serving(script) as server:
        record, _ = get(server.url, "POST", body=body, timeout=0.3)
    assert record.error is ErrorClass.TIMEOUT and record.status is None


def test_connect_timeout_covers_the_tls_handshake() -> None:
    """A server that accepts TCP but never speaks TLS: the handshake times out."""

    def script(conn: socket.socket, server: RawServer) -> None:
        server.go.wait(WAIT)

    with serving(script) as server:
        record, _ = get(f"https://127.0.0.1:{server.port}/", timeout=0.3)
    assert record.error is ErrorClass.TIMEOUT
    assert "TLS handshake" in (record.error_detail or "")
    assert record.connect_ns is not None and record.tls_ns is not None


def test_no_timeout_means_blocking_reads() -> None:
    head = b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n"

    def script(conn: socket.socket, server: RawServer) -> None:
        server.read_request(conn)
        conn.sendall(head)
        server.go.wait(WAIT)
        conn.sendall(b"end")

    def on_head(*_: object) -> None:
        server.go.set()

    with serving(script) as server, client(timeout=None) as http:
        spec = RequestSpec(server.url, auth="none", timeout=None)
        got = Got()
        record = fetch(spec, sink=got, on_head=on_head, client=http)
    assert record.ok and got.body == b"end"


# -- connecting -------------------------------------------------------------


def test_connection_refused_keeps_the_os_message() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    record, _ = get(f"http://127.0.0.1:{port}/")
    assert record.error is ErrorClass.CONNECT
    assert record.error_detail == f"cannot connect to 127.0.0.1:{port}: Connection refused"
    assert record.dns_ns is not None and record.connect_ns is not None


def test_dns_failure_keeps_the_resolver_message(unresolvable_host: str) -> None:
    host = unresolvable_host
    record, _ = get(f"http://{host}/")
    assert record.error is ErrorClass.CONNECT
    assert record.error_detail == f"cannot resolve host {host}: Name or service not known"
    assert record.dns_ns is not None and record.connect_ns is None


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
    with serving(reply(OK_RAW), tls=tls_ca.server_ctx) as server:
        record, _ = get(server.url)
    assert record.error is ErrorClass.TLS
    assert "certificate verify failed" in (record.error_detail or "")
    assert record.tls_ns is not None  # the handshake ran (and failed)


def test_tls_trusted_certificate_and_insecure_both_work(tls_ca: TLS) -> None:
    with serving(reply(OK_RAW), tls=tls_ca.server_ctx) as server:
        record, got = ok(server.url + "/", verify=tls_ca.client_ctx)
        assert got.body == b"secure hello"
        assert record.tls_ns is not None and record.connect_ns is not None
        _, got = ok(server.url + "/", verify=False)
        assert got.body == b"secure hello"


def test_tls_hostname_is_checked(tls_ca: TLS) -> None:
    """A certificate from a trusted CA, but for another name, is refused."""
    import trustme

    other = trustme.CA()
    wrong = other.issue_cert("elsewhere.example")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    wrong.configure_cert(ctx)
    trusting = ssl.create_default_context()
    other.configure_trust(trusting)
    with serving(reply(OK_RAW), tls=ctx) as server:
        record, _ = get(server.url, verify=trusting)
    assert record.error is ErrorClass.TLS
    assert "certificate verify failed" in (record.error_detail or "")


def test_tls_read_timeout_mid_body(tls_ca: TLS) -> None:
    """The kernel's receive timer bounds reads over TLS too."""
    head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nsome\r\n"
    with serving(stall(head), tls=tls_ca.server_ctx) as server:
        record, got = get(server.url, timeout=0.3, verify=tls_ca.client_ctx)
    assert got.body == b"some"
    assert record.error is ErrorClass.TIMEOUT and record.status == 200


# -- timing of the set-up phases ------------------------------------------------


def test_phases_are_timed_apart_http() -> None:
    with serving(reply(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")) as server:
        record, _ = ok(server.url)
    assert record.dns_ns is not None and record.connect_ns is not None
    assert record.tls_ns is None  # plain HTTP: no handshake
    assert record.headers_ns is not None
    assert record.dns_ns + record.connect_ns <= record.headers_ns


def test_head_is_reported_before_the_body_arrives() -> None:
    """``headers_ms`` is the head's own read: it must not wait for the body."""

    def script(conn: socket.socket, server: RawServer) -> None:
        server.read_request(conn)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\n")
        server.go.wait(WAIT)
        conn.sendall(b"body")

    seen: list[int] = []

    def on_head(*_: object) -> None:
        seen.append(len(server.requests))
        server.go.set()  # the body is sent only once the head was reported

    with serving(script) as server, client() as http:
        got = Got()
        record = fetch(RequestSpec(server.url, auth="none"), sink=got, on_head=on_head, client=http)
    assert seen == [1] and got.body == b"body"
    assert record.headers_ns is not None and record.first_byte_ns is not None
    assert record.headers_ns < record.first_byte_ns


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


def test_keep_alive_reuses_one_connection_and_reports_no_set_up() -> None:
    with serving(keep_alive()) as server, client() as http:
        first, _ = ok(server.url + "/1", http=http)
        second, _ = ok(server.url + "/2", http=http)
        _, got = ok(server.url + "/3", http=http)
    assert got.body == b"hello"
    assert server.connections == 1
    assert first.connect_ns is not None and first.dns_ns is not None
    assert (second.dns_ns, second.connect_ns, second.tls_ns) == (None, None, None)
    assert [r.split(b" ")[1] for r in server.requests] == [b"/1", b"/2", b"/3"]


def test_https_keep_alive_skips_the_handshake(tls_ca: TLS) -> None:
    with (
        serving(keep_alive(), tls=tls_ca.server_ctx) as server,
        client(verify=tls_ca.client_ctx) as http,
    ):
        first, _ = ok(server.url + "/1", http=http)
        second, _ = ok(server.url + "/2", http=http)
    assert server.connections == 1
    assert first.tls_ns is not None and second.tls_ns is None


def test_connection_close_is_honoured() -> None:
    with serving(keep_alive(close_after=1)) as server, client() as http:
        assert ok(server.url, http=http)[1].body == b"hello"
        assert ok(server.url, http=http)[1].body == b"hello"
    assert server.connections == 2


def test_chunked_response_connection_is_reused() -> None:
    def script(conn: socket.socket, server: RawServer) -> None:
        while server.read_request(conn) is not None:
            conn.sendall(
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n"
            )

    with serving(script) as server, client() as http:
        assert [ok(server.url, http=http)[1].body for _ in range(3)] == [b"hi"] * 3
    assert server.connections == 1


def test_close_delimited_response_is_not_reused() -> None:
    def script(conn: socket.socket, server: RawServer) -> None:
        server.read_request(conn)
        conn.sendall(b"HTTP/1.1 200 OK\r\n\r\nto the end")

    with serving(script) as server, client() as http:
        assert ok(server.url, http=http)[1].body == b"to the end"
        assert ok(server.url, http=http)[1].body == b"to the end"
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
        assert ok(server.url + "/a", http=http)[1].body == b"ok"
        record, got = ok(server.url + "/b", http=http)
    assert got.body == b"ok"
    assert record.connect_ns is not None  # the fresh connection's set-up
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
        assert ok(server.url, http=http)[1].body == b"ok"
        http.close()
        assert closed.wait(WAIT)


# -- what is sent -------------------------------------------------------------


def test_request_bytes_on_the_wire() -> None:
    with serving(keep_alive(b"")) as server:
        ok(
            server.url + "/a%20b/%C3%BC?z=1&a=2",
            "POST",
            body=b'{"k": 1}',
            headers=(
                ("X-First", "1"),
                ("content-type", "application/json"),
                ("X-Dup", "a"),
                ("X-Dup", "b"),
            ),
        )
    sent = server.requests[0]
    assert sent == (
        b"POST /a%20b/%C3%BC?z=1&a=2 HTTP/1.1\r\n"
        b"Host: 127.0.0.1:" + str(server.port).encode() + b"\r\n"
        b"User-Agent: lstream/" + __version__.encode() + b"\r\n"
        b"Accept: */*\r\n"
        b"X-First: 1\r\n"
        b"content-type: application/json\r\n"
        b"X-Dup: a\r\n"
        b"X-Dup: b\r\n"
        b"Content-Length: 8\r\n"
        b'\r\n{"k": 1}'
    )


def test_users_host_user_agent_and_accept_replace_the_defaults() -> None:
    with serving(keep_alive(b"")) as server:
        ok(
            server.url,
            headers=(
                ("accept", "text/event-stream"),
                ("Host", "example.com"),
                ("User-Agent", "me"),
            ),
        )
    head = server.requests[0].split(b"\r\n")
    assert head[1:4] == [b"accept: text/event-stream", b"Host: example.com", b"User-Agent: me"]
    assert len(head) == 6  # request line, three headers, the blank line pair


def test_signed_request_carries_the_signature_and_no_accept_encoding() -> None:
    signer = Signer(Credentials("AKIDEXAMPLE", "secret", "tok"), "us-east-1")
    with serving(keep_alive(b"")) as server:
        ok(server.url + "/x", "POST", body=b"{}", headers=(("x-trace", "1"),), signer=signer)
    head = server.requests[0].decode("latin-1").lower()
    assert "authorization: aws4-hmac-sha256 credential=akidexample/" in head
    assert "x-trace" in head.split("authorization:")[1].split("\r\n")[0]
    assert "x-amz-security-token: tok\r\n" in head
    assert "x-amz-content-sha256: " in head
    assert "accept-encoding" not in head
    assert head.endswith("\r\n\r\n{}")


def test_early_answer_while_sending_is_read() -> None:
    """A server that answers 413 and closes before reading a large body."""

    def script(conn: socket.socket, server: RawServer) -> None:
        data = b""
        while b"\r\n\r\n" not in data:
            data += conn.recv(65536)
        conn.sendall(b"HTTP/1.1 413 Too Large\r\nContent-Length: 3\r\nConnection: close\r\n\r\nbig")
        conn.shutdown(socket.SHUT_WR)
        # Unread data in the buffer makes close() send a reset to the client.

    with serving(script) as server:
        record, got = get(server.url, "POST", body=b"x" * (32 << 20))
    assert record.status == 413 and got.body == b"big"
    assert record.error is ErrorClass.HTTP_4XX


@pytest.mark.parametrize(
    ("status", "extra", "error"),
    [
        (200, b"", None),
        (403, b"", ErrorClass.HTTP_4XX),
        (429, b"", ErrorClass.THROTTLED),
        (400, b"x-amzn-ErrorType: TooManyRequestsException\r\n", ErrorClass.THROTTLED),
        (502, b"", ErrorClass.HTTP_5XX),
    ],
)
def test_status_classes(status: int, extra: bytes, error: ErrorClass | None) -> None:
    raw = b"HTTP/1.1 %d X\r\n%sContent-Length: 1\r\n\r\nx" % (status, extra)
    with serving(reply(raw)) as server:
        record, _ = get(server.url)
    assert record.complete and record.error is error


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

    def sink(chunk: object) -> None:
        nonlocal total, largest, count
        assert isinstance(chunk, bytes | memoryview)
        total += len(chunk)
        largest = max(largest, len(chunk))
        count += 1

    with serving(script) as server, client() as http:
        record = fetch(RequestSpec(server.url, auth="none"), sink=sink, client=http)
    assert record.ok and record.bytes == total == size
    assert 0 < largest <= READ_SIZE
    assert count >= size // READ_SIZE
