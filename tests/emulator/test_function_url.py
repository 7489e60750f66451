"""Function URLs (stream and buffered) through real HTTP clients."""

from __future__ import annotations

import contextlib
import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from lstream_cli.emulator import EmulatorConfig, Endpoints, RequestLog, running_emulator
from lstream_cli.emulator.config import (
    BUFFERED_RESPONSE_LIMIT,
    REQUEST_LIMIT,
    STREAM_LIMIT,
)
from lstream_cli.emulator.handlers import expected_body

HANDLERS = Path(__file__).with_name("emu_test_handlers.py")


def raw_exchange(base: str, payload: bytes) -> bytes:
    """Send raw bytes, read until the server closes (or 5 s pass)."""
    parts = urlsplit(base)
    with socket.create_connection((parts.hostname, parts.port), timeout=5) as sock:
        sock.sendall(payload)
        chunks = []
        try:
            while data := sock.recv(65536):
                chunks.append(data)
        except TimeoutError:
            pass
    return b"".join(chunks)


def test_stream_sends_the_pattern_chunked(emu: Endpoints) -> None:
    with httpx.stream("GET", emu.stream + "/any/path?size=300000&chunk=65536") as r:
        assert r.status_code == 200
        assert r.headers["transfer-encoding"] == "chunked"
        assert r.headers["content-type"] == "application/octet-stream"
        assert r.headers["x-amzn-requestid"]
        body = r.read()
    assert body == expected_body(300_000)


def test_stream_status_parameter(emu: Endpoints) -> None:
    r = httpx.get(emu.stream + "/?size=10&status=418")
    assert (r.status_code, r.content) == (418, expected_body(10))


def test_buffered_sends_content_length(emu: Endpoints) -> None:
    r = httpx.get(emu.buffered + "/?size=5000")
    assert r.status_code == 200
    assert r.headers["content-length"] == "5000"
    assert "transfer-encoding" not in r.headers
    assert r.content == expected_body(5000)


def test_buffered_limit_is_exactly_6291556_bytes(emu: Endpoints) -> None:
    ok = httpx.get(emu.buffered + f"/?size={BUFFERED_RESPONSE_LIMIT}&chunk=1MiB")
    assert ok.status_code == 200
    assert len(ok.content) == BUFFERED_RESPONSE_LIMIT
    over = httpx.get(emu.buffered + f"/?size={BUFFERED_RESPONSE_LIMIT + 1}&chunk=1MiB")
    assert over.status_code == 502
    assert over.headers["x-amzn-errortype"] == "Function.ResponseSizeTooLarge"
    assert over.content == b"Internal Server Error"


def test_stream_goes_past_the_buffered_limit(emu: Endpoints) -> None:
    r = httpx.get(emu.stream + "/?size=7MB&chunk=1MiB")
    assert r.status_code == 200
    assert len(r.content) == 7_000_000


@pytest.mark.parametrize("endpoint", ["stream", "buffered", "lambda_api"])
def test_request_body_over_6291456_bytes_is_413(emu: Endpoints, endpoint: str) -> None:
    base = getattr(emu, endpoint)
    path = "/2015-03-31/functions/f/invocations" if endpoint == "lambda_api" else "/"
    r = httpx.post(base + path, content=b"{" + b" " * (REQUEST_LIMIT - 2) + b"}")
    assert r.status_code != 413  # exactly at the limit: accepted
    r = httpx.post(base + path, content=b"x" * (REQUEST_LIMIT + 1))
    assert r.status_code == 413
    assert r.headers["x-amzn-errortype"] == "RequestEntityTooLargeException"
    assert "6291456" in r.text
    assert httpx.get(emu.stream + "/?size=3").status_code == 200  # still serving


def test_stream_cut_after_200_mb(emu: Endpoints) -> None:
    received = 0
    with (
        pytest.raises(httpx.RemoteProtocolError),
        httpx.stream("GET", emu.stream + f"/?size={STREAM_LIMIT + 1}&chunk=4MiB") as r,
    ):
        assert r.status_code == 200
        for chunk in r.iter_raw():
            received += len(chunk)
    assert received == STREAM_LIMIT


def test_synthetic_failure_mid_stream_cuts_the_stream(emu: Endpoints) -> None:
    received = 0
    with (
        pytest.raises(httpx.RemoteProtocolError),
        httpx.stream("GET", emu.stream + "/?size=100000&chunk=1000&fail_at=5000") as r,
    ):
        assert r.status_code == 200
        for chunk in r.iter_raw():
            received += len(chunk)
    assert received == 5000
    assert httpx.get(emu.stream + "/?size=3").content == b"\x00\x01\x02"


def test_synthetic_failure_in_buffered_mode_is_502(emu: Endpoints) -> None:
    r = httpx.get(emu.buffered + "/?size=100000&fail_at=5000")
    assert r.status_code == 502
    assert r.headers["x-amzn-errortype"] == "Function.Unhandled"


def test_failure_before_the_first_write_is_502_in_stream_mode(emu: Endpoints) -> None:
    r = httpx.get(emu.stream + "/?fail_at=0")
    assert r.status_code == 502
    assert r.headers["content-length"] == str(len(r.content))


def test_bad_parameters_are_400_and_the_server_carries_on(emu: Endpoints) -> None:
    r = httpx.get(emu.stream + "/?size=huge")
    assert r.status_code == 400
    assert "size" in r.json()["message"]
    assert httpx.get(emu.stream + "/?size=3").status_code == 200


def test_malformed_request_gets_400_and_the_next_request_is_served(emu: Endpoints) -> None:
    answer = raw_exchange(emu.stream, b"NOT HTTP AT ALL\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 400 ")
    answer = raw_exchange(emu.stream, b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: zz\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 400 ")
    assert httpx.get(emu.stream + "/?size=3").status_code == 200


@pytest.mark.parametrize(
    ("head", "filler"),
    [
        (b"GET /?size=3 HTTP/1.1\r\nHost: x\r\n", b"X-Big: " + b"a" * 8000 + b"\r\n"),  # many
        (b"GET /?size=3 HTTP/1.1\r\nHost: x\r\nX-One: ", b"b" * 8000),  # one endless value
        (b"GET /", b"c" * 8000),  # one endless URL
    ],
    ids=["many-headers", "one-endless-value", "one-endless-url"],
)
def test_an_endless_request_head_is_431(emu: Endpoints, head: bytes, filler: bytes) -> None:
    """A head past 64 KiB is refused while it is still arriving (memory stays bounded)."""
    parts = urlsplit(emu.stream)
    with socket.create_connection((parts.hostname, parts.port), timeout=5) as sock:
        sock.sendall(head)
        answer = b""
        try:
            for _ in range(1000):  # up to 8 MB, never ending the head
                sock.sendall(filler)
        except OSError:
            pass  # the server closed the connection after answering
        with contextlib.suppress(OSError):
            while data := sock.recv(65536):
                answer += data
    assert answer.startswith(b"HTTP/1.1 431 ")
    assert answer.endswith(b'{"message": "Request Header Fields Too Large"}')
    assert httpx.get(emu.stream + "/?size=3").status_code == 200


def test_a_request_pipelined_before_a_431_gets_its_answer_first(emu: Endpoints) -> None:
    good = b"GET /?size=3 HTTP/1.1\r\nHost: x\r\n\r\n"
    huge = b"GET /?size=4 HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 70_000 + b"\r\n\r\n"
    for base in (emu.stream, emu.buffered):
        answer = raw_exchange(base, good + huge + good)
        assert answer.startswith(b"HTTP/1.1 200 "), answer[:200]
        first, sep, rest = answer.partition(b"HTTP/1.1 431 ")
        assert sep and first.count(b"HTTP/1.1 ") == 1  # the 200, then the 431 (and the close)
        assert rest.endswith(b'{"message": "Request Header Fields Too Large"}')


def test_a_large_head_under_64_kib_and_a_large_body_are_served(emu: Endpoints) -> None:
    headers = {f"x-h{i}": "v" * 900 for i in range(60)}  # about 55 KB of headers
    r = httpx.post(emu.buffered + "/?size=3", headers=headers, content=b"z" * 200_000)
    assert r.status_code == 200


def test_a_request_head_not_complete_in_time_is_408(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("lstream_cli.emulator.http.HEAD_TIMEOUT_S", 0.2)
    with running_emulator(EmulatorConfig(throttle=False)) as emu:
        answer = raw_exchange(emu.stream, b"GET /?size=3 HTTP/1.1\r\nHost: x\r\n")
        assert answer.startswith(b"HTTP/1.1 408 ")
        # an idle keep-alive connection is not a slow request: it gets its answer
        parts = urlsplit(emu.stream)
        with socket.create_connection((parts.hostname, parts.port), timeout=5) as sock:
            sock.sendall(b"GET /?size=3 HTTP/1.1\r\nHost: x\r\n\r\n")
            assert sock.recv(65536).startswith(b"HTTP/1.1 200 ")
            time.sleep(0.5)
            sock.sendall(b"GET /?size=3 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            assert sock.recv(65536).startswith(b"HTTP/1.1 200 ")
        # a half head pipelined behind a slow answer: the answer first, then the 408
        answer = raw_exchange(
            emu.stream,
            b"GET /?size=3&delay_ms=600 HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\n",
        )
        assert answer.startswith(b"HTTP/1.1 200 ")
        assert b"\x00\x01\x02\r\n0\r\n\r\nHTTP/1.1 408 " in answer


@pytest.mark.parametrize(
    "request_line",
    [
        b"GET /?size=3 HTTP/1.1\r\n\r\n",  # HTTP/1.1 without Host
        b"OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET ftp://x/?size=3 HTTP/1.1\r\nHost: x\r\n\r\n",
    ],
    ids=["no-host", "asterisk", "ftp-url"],
)
@pytest.mark.parametrize("endpoint", ["stream", "apigw", "lambda_api"])
def test_requests_http_1_1_forbids_get_400(
    emu: Endpoints, endpoint: str, request_line: bytes
) -> None:
    answer = raw_exchange(getattr(emu, endpoint), request_line)
    assert answer.startswith(b"HTTP/1.1 400 ")


def raw_echo(echo: tuple[Endpoints, list[RequestLog]], endpoint: str, head: bytes) -> bytes:
    """A raw request to the echo handler's ``endpoint``; the answer, checked to be its 201."""
    answer = raw_exchange(getattr(echo[0], endpoint), head)
    assert answer.startswith(b"HTTP/1.1 201 ")
    return answer


@pytest.mark.parametrize("endpoint", ["stream", "apigw", "apigw_stream"])
def test_an_absolute_form_target_is_taken_as_its_path(
    echo: tuple[Endpoints, list[RequestLog]], endpoint: str
) -> None:
    target = b"GET http://h.example/p%20q?a=1 HTTP/1.1\r\n"
    answer = raw_echo(echo, endpoint, target + b"Host: x\r\nConnection: close\r\n\r\n")
    assert b'"rawPath": "/p%20q"' in answer
    assert b'"rawQueryString": "a=1"' in answer


def test_keep_alive_and_pipelining(emu: Endpoints) -> None:
    one = b"GET /?size=5 HTTP/1.1\r\nHost: x\r\n\r\n"
    last = b"GET /?size=2 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    answer = raw_exchange(emu.buffered, one + one + last)
    assert answer.count(b"HTTP/1.1 200 OK") == 3
    assert answer.endswith(b"\x00\x01")


def test_expect_100_continue_is_honoured(emu: Endpoints) -> None:
    answer = raw_exchange(
        emu.buffered,
        b"POST /?size=1 HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 2\r\n"
        b"Connection: close\r\n\r\nhi",
    )
    assert answer.startswith(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK")


@pytest.mark.parametrize("endpoint", ["stream", "apigw_stream"])
@pytest.mark.parametrize("connection", [b"", b"Connection: keep-alive\r\n"])
def test_http_1_0_clients_get_a_close_delimited_stream(
    emu: Endpoints, endpoint: str, connection: bytes
) -> None:
    """HTTP/1.0 has no chunked framing (ab, old proxies): the close ends the body."""
    request = b"GET /?size=70000 HTTP/1.0\r\nHost: x\r\n" + connection + b"\r\n"
    answer = raw_exchange(getattr(emu, endpoint), request)
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 ")
    assert b"transfer-encoding" not in head.lower()
    assert b"connection: close" in head.lower()
    assert body == expected_body(70000)


@pytest.mark.parametrize("endpoint", ["stream", "buffered", "apigw", "apigw_stream"])
@pytest.mark.parametrize("status", [204, 304])
def test_no_body_after_204_or_304(emu: Endpoints, endpoint: str, status: int) -> None:
    """A 204/304 carries no body: bytes after it would corrupt the next response."""
    first = f"GET /?status={status}&size=10 HTTP/1.1\r\nHost: x\r\n\r\n".encode()
    last = b"GET /?size=3 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    answer = raw_exchange(getattr(emu, endpoint), first + last)
    head, _, rest = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 %d " % status)
    assert b"transfer-encoding" not in head.lower()
    assert b"content-length" not in head.lower()
    assert rest.startswith(b"HTTP/1.1 200 OK\r\n")  # the next response, right after the head
    assert rest.endswith((b"\x00\x01\x02", b"3\r\n\x00\x01\x02\r\n0\r\n\r\n"))
    # And a keep-alive client carries on with the same connection.
    with httpx.Client() as client:
        assert client.get(getattr(emu, endpoint) + f"/?status={status}&size=10").content == b""
        assert client.get(getattr(emu, endpoint) + "/?size=3").content == b"\x00\x01\x02"


def test_head_gets_headers_only(emu: Endpoints) -> None:
    r = httpx.head(emu.buffered + "/?size=100")
    assert r.status_code == 200
    assert r.headers["content-length"] == "100"
    assert r.content == b""


@pytest.fixture(scope="module")
def echo() -> Iterator[tuple[Endpoints, list[RequestLog]]]:
    logs: list[RequestLog] = []
    config = EmulatorConfig(handler=f"{HANDLERS}:echo_event", log=logs.append, throttle=False)
    with running_emulator(config) as endpoints:
        yield endpoints, logs


def test_the_handler_gets_a_payload_2_0_event(echo: tuple[Endpoints, list[RequestLog]]) -> None:
    emu, _ = echo
    r = httpx.post(
        emu.stream + "/a%20b/c?x=1&x=2&empty=&y=%2F",
        content=b'{"k": "v"}',
        headers={"content-type": "application/json", "X-Custom": "Yes", "Cookie": "a=1; b=2"},
    )
    assert r.status_code == 201
    assert r.headers["x-handler"] == "echo"
    doc = r.json()
    event = doc["event"]
    assert event["version"] == "2.0"
    assert event["rawPath"] == "/a%20b/c"
    assert event["rawQueryString"] == "x=1&x=2&empty=&y=%2F"
    assert event["queryStringParameters"] == {"x": "1,2", "empty": "", "y": "/"}
    assert event["headers"]["x-custom"] == "Yes"
    assert event["cookies"] == ["a=1", "b=2"]
    assert event["body"] == '{"k": "v"}'
    assert event["isBase64Encoded"] is False
    http = event["requestContext"]["http"]
    assert http["method"] == "POST"
    assert http["path"] == "/a%20b/c"
    assert http["sourceIp"] == "127.0.0.1"
    assert doc["function_name"] == "lstream-emulator"
    assert doc["remaining_ms"] > 0


@pytest.mark.parametrize("endpoint", ["stream", "apigw", "apigw_stream"])
def test_utf8_header_values_arrive_as_text(
    echo: tuple[Endpoints, list[RequestLog]], endpoint: str
) -> None:
    """Through API Gateway too (a non-ASCII header value was once a 500 there)."""
    head = "GET / HTTP/1.1\r\nHost: x\r\nX-Name: h\u00e9llo \u20ac\r\nConnection: close\r\n\r\n"
    answer = raw_echo(echo, endpoint, head.encode())
    assert b'"x-name": "h\\u00e9llo \\u20ac"' in answer


def test_binary_bodies_arrive_base64(echo: tuple[Endpoints, list[RequestLog]]) -> None:
    emu, _ = echo
    event = httpx.put(emu.buffered + "/", content=b"\xff\x00\x01").json()["event"]
    assert event["isBase64Encoded"] is True
    assert event["body"] == "/wAB"
    assert "queryStringParameters" not in event


def test_requests_are_logged_without_query_or_secrets(
    echo: tuple[Endpoints, list[RequestLog]],
) -> None:
    emu, logs = echo
    logs.clear()
    httpx.get(emu.buffered + "/logged?X-Amz-Signature=abcdef", headers={"Authorization": "s"})
    assert len(logs) == 1
    log = logs[0]
    assert (log.endpoint, log.method, log.path, log.status) == ("buffered", "GET", "/logged", 201)
    assert log.bytes > 0
    assert "abcdef" not in repr(log)


@pytest.mark.parametrize(
    ("handler", "stream_status", "buffered_status"),
    [("crash_before_write", 502, 502), ("crash_after_write", None, 502)],
)
def test_crashing_handlers(handler: str, stream_status: int | None, buffered_status: int) -> None:
    with running_emulator(EmulatorConfig(handler=f"{HANDLERS}:{handler}")) as emu:
        if stream_status is None:
            with pytest.raises(httpx.RemoteProtocolError):
                httpx.get(emu.stream + "/")
        else:
            assert httpx.get(emu.stream + "/").status_code == stream_status
        assert httpx.get(emu.buffered + "/").status_code == buffered_status
        # The server is still there for the next request.
        assert httpx.get(emu.buffered + "/").status_code == buffered_status


def test_secret_header_is_checked_by_the_function() -> None:
    config = EmulatorConfig(secret_header=("X-Origin-Verify", "s3cret-value"), throttle=False)
    with running_emulator(config) as emu:
        for base in (emu.stream, emu.buffered):
            r = httpx.get(base + "/?size=10")
            assert r.status_code == 403
            assert r.json() == {"Message": "Forbidden"}
            wrong = httpx.get(base + "/?size=10", headers={"X-Origin-Verify": "nope"})
            assert wrong.status_code == 403
            right = httpx.get(base + "/?size=10", headers={"x-origin-verify": "s3cret-value"})
            assert right.status_code == 200
        # API Gateway adds the header, so calls through it pass.
        assert httpx.get(emu.apigw + "/?size=10").content == expected_body(10)
        assert httpx.get(emu.apigw_stream + "/?size=10").content == expected_body(10)


def test_error_bodies_are_json_where_aws_sends_json(emu: Endpoints) -> None:
    r = httpx.post(emu.stream + "/", content=b"x" * (REQUEST_LIMIT + 1))
    assert json.loads(r.content)["Message"].startswith("Request must be smaller")


def first_bytes(base: str, request: bytes, wait_s: float) -> bytes:
    """What arrives within ``wait_s`` (nothing, when the server holds its answer)."""
    parts = urlsplit(base)
    with socket.create_connection((parts.hostname, parts.port), timeout=5) as sock:
        sock.sendall(request)
        sock.settimeout(wait_s)
        try:
            return sock.recv(65536)
        except TimeoutError:
            return b""


def test_stream_status_waits_for_the_first_write(emu: Endpoints) -> None:
    # delay_ms=60000: the handler sleeps a minute before its first write, so
    # nothing at all (not even the status line) may arrive in the meantime.
    request = b"GET /?size=10&delay_ms=60000 HTTP/1.1\r\nHost: x\r\n\r\n"
    assert first_bytes(emu.stream, request, 0.5) == b""
    # The same without the delay: the status line and the body together.
    answer = first_bytes(emu.stream, b"GET /?size=10 HTTP/1.1\r\nHost: x\r\n\r\n", 5)
    assert answer.startswith(b"HTTP/1.1 200 OK\r\n")


def test_lambda_api_stream_answers_before_the_first_event(emu: Endpoints) -> None:
    body = b'{"size": 10, "delay_ms": 60000}'
    request = (
        b"POST /2021-11-15/functions/f/response-streaming-invocations HTTP/1.1\r\n"
        b"Host: x\r\nContent-Length: %d\r\n\r\n%b" % (len(body), body)
    )
    answer = first_bytes(emu.lambda_api, request, 5)
    assert answer.startswith(b"HTTP/1.1 200 OK\r\n")
    assert b"application/vnd.amazon.eventstream" in answer
    assert answer.endswith(b"\r\n\r\n")  # headers only: no event yet


def test_malformed_requests_are_logged(echo: tuple[Endpoints, list[RequestLog]]) -> None:
    emu, logs = echo
    logs.clear()
    assert raw_exchange(emu.stream, b"\x00\x01garbage\r\n\r\n").startswith(b"HTTP/1.1 400 ")
    assert [(log.endpoint, log.status) for log in logs] == [("stream", 400)]


def test_a_handler_calling_sys_exit_does_not_stop_the_server() -> None:
    with running_emulator(EmulatorConfig(handler=f"{HANDLERS}:exits")) as emu:
        assert httpx.get(emu.stream + "/").status_code == 502
        assert httpx.get(emu.buffered + "/").status_code == 502
        with pytest.raises(httpx.RemoteProtocolError):
            httpx.get(emu.stream + "/?after=1")
        r = httpx.post(emu.lambda_api + "/2015-03-31/functions/f/invocations", content=b"{}")
        assert r.headers["x-amz-function-error"] == "Unhandled"
        assert r.json()["errorType"] == "SystemExit"
        assert httpx.get(emu.buffered + "/").status_code == 502  # still serving


def test_a_client_that_does_not_read_holds_the_handler_back() -> None:
    """Flow control: the handler waits for the client; the body is never piled up in memory."""
    import time

    import emu_test_handlers

    config = EmulatorConfig(handler="emu_test_handlers:counting", throttle=False)
    with running_emulator(config) as emu:
        parts = urlsplit(emu.stream)
        with socket.create_connection((parts.hostname, parts.port), timeout=5) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
            emu_test_handlers.PROGRESS.clear()
            sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            deadline = time.monotonic() + 30
            while not emu_test_handlers.PROGRESS and time.monotonic() < deadline:
                time.sleep(0.01)  # the handler's first write went through
            time.sleep(1.0)  # read nothing for a while: room to pile up, were it allowed
            written = emu_test_handlers.PROGRESS[-1] if emu_test_handlers.PROGRESS else 0
    # Kernel socket buffers plus the 1 MiB high-water mark: far below 100 MiB.
    assert 0 < written < 32 * 1024 * 1024
