"""The emulator's per-request path: what its shortcuts keep exactly as before.

One timer serves every in-process invocation's timeout, one head timer and
one task a connection, the query string is split without ``parse_qsl`` when nothing in
it is quoted, byte counts skip ``parse_size``, and request-log lines of one
loop iteration leave in one write. Each test holds the shortcut to the
behaviour it stands in for.
"""

from __future__ import annotations

import asyncio
import io
import itertools
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import pytest

from lstream_cli.emulator import EmulatorConfig, FunctionConfig, RequestLog
from lstream_cli.emulator.function import FunctionError, InProcessInvoker, InvokeRequest
from lstream_cli.emulator.functionurl import _query_pairs, function_url_event
from lstream_cli.emulator.handlers import _size
from lstream_cli.emulator.http import HttpRequest, HttpServer, _Connection
from lstream_cli.emulator.logs import InvocationReport
from lstream_cli.emulator.runtime import INTERNAL_HEADER
from lstream_cli.render import serve as render_serve
from lstream_cli.render.serve import FunctionLogPrinter, RequestLogPrinter, flush_lines
from lstream_cli.units import parse_size

HANDLERS = Path(__file__).with_name("emu_test_handlers.py")


class _NullSink:
    def __init__(self) -> None:
        self.body = b""

    async def open(self, status: int, headers: dict[str, str], cookies: list[str]) -> None:
        return None

    async def send(self, data: bytes | memoryview) -> None:
        self.body += bytes(data)


def test_overlapping_in_process_invocations_each_time_out_alone() -> None:
    """Two that sleep past the timeout fail with Sandbox.Timedout; one that is quick does not."""

    async def scenario() -> list[str]:
        fn = FunctionConfig(handler=f"{HANDLERS}:sleeps", timeout_s=0.3)
        invoker = InProcessInvoker(fn)

        async def one(rid: str, quick: bool) -> str:
            event = {"raise": 1} if quick else {}
            try:
                await invoker.invoke(InvokeRequest(event, rid), _NullSink(), raw=True)
            except FunctionError as exc:
                return f"{rid}:{exc.error_type}"
            return f"{rid}:ok"

        first = asyncio.ensure_future(one("a", quick=False))
        await asyncio.sleep(0.1)
        second = asyncio.ensure_future(one("b", quick=False))
        quick = await one("c", quick=True)  # its own TimeoutError, before either deadline
        outcomes = [await first, await second, quick]
        assert invoker._deadlines._slots == {}  # nothing left in flight
        return outcomes

    assert asyncio.run(scenario()) == ["a:Sandbox.Timedout", "b:Sandbox.Timedout", "c:TimeoutError"]


def test_a_cancelled_in_process_invocation_is_a_cancellation_not_a_timeout() -> None:
    async def scenario() -> None:
        fn = FunctionConfig(handler=f"{HANDLERS}:sleeps", timeout_s=30)
        invoker = InProcessInvoker(fn)
        task = asyncio.ensure_future(invoker.invoke(InvokeRequest({}, "r"), _NullSink(), raw=True))
        await asyncio.sleep(0.05)
        task.cancel()  # the server stopping
        with pytest.raises(asyncio.CancelledError):
            await task
        assert invoker._deadlines._slots == {}
        # and the next invocation runs, on the same timer
        with pytest.raises(FunctionError, match="TimeoutError"):  # its own, not the deadline
            await invoker.invoke(InvokeRequest({"raise": 1}, "s"), _NullSink(), raw=True)
        assert invoker._deadlines._slots == {}

    asyncio.run(scenario())


class _Transport:
    def __init__(self) -> None:
        self.written = b""
        self.closed = False

    def set_write_buffer_limits(self, high: int, low: int) -> None:
        return None

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return ("127.0.0.1", 1) if name == "peername" else default

    def write(self, data: bytes) -> None:
        self.written += data

    def close(self) -> None:
        self.closed = True

    def pause_reading(self) -> None:
        self.reading = False

    def resume_reading(self) -> None:
        self.reading = True


def _connection() -> tuple[_Connection, _Transport]:
    """A connection of a server with a 30 s head timeout, on a recording transport."""

    async def app(request: Any, response: Any) -> None:
        response.send(200, b"ok")

    conn = _Connection(HttpServer(app, 1024, head_timeout=30.0))
    transport = _Transport()
    conn.connection_made(transport)  # type: ignore[arg-type]
    return conn, transport


def test_the_head_timer_gives_a_later_head_its_whole_time() -> None:
    """The timer armed for an earlier head finds a later one: it waits the rest, then 408."""

    async def scenario() -> None:
        conn, transport = _connection()
        conn.data_received(b"GET / HTTP/1.1\r\nHo")  # a head begins: the timer is armed
        assert conn._head_timer is not None
        loop = asyncio.get_running_loop()
        conn._head_began = loop.time() - 10.0  # as if it began 10 s ago
        conn._head_timed_out()  # the timer fires early for this head: 20 s are left
        assert transport.written == b"" and not transport.closed
        assert conn._head_timer is not None  # armed again for the rest
        conn._head_began = loop.time() - 30.5
        conn._head_timed_out()
        assert transport.written.startswith(b"HTTP/1.1 408 ") and transport.closed
        conn.connection_lost(None)

    asyncio.run(scenario())


def test_a_head_timer_finding_no_head_disarms() -> None:
    async def scenario() -> None:
        conn, transport = _connection()
        conn.data_received(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        await asyncio.sleep(0.01)
        assert transport.written.startswith(b"HTTP/1.1 200 ")
        conn._head_timed_out()  # idle between requests: nothing to time out
        assert conn._head_timer is None and not transport.closed
        conn.data_received(b"GET / HTTP/1.1\r\n")  # the next head arms it again
        assert conn._head_timer is not None
        conn.connection_lost(None)
        assert conn._head_timer is None

    asyncio.run(scenario())


def test_one_task_serves_a_keep_alive_connection_and_ends_with_it() -> None:
    async def scenario() -> None:
        conn, transport = _connection()
        conn.data_received(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        task = conn._task
        assert task is not None
        for _ in range(3):
            await asyncio.sleep(0.01)
            conn.data_received(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        await asyncio.sleep(0.01)
        assert conn._task is task and transport.written.count(b"HTTP/1.1 200 ") == 4
        assert not task.done()  # waiting for the next request
        conn.connection_lost(None)
        await asyncio.sleep(0)
        assert task.done() and not task.cancelled() and conn._task is None

    asyncio.run(scenario())


def _event_headers(headers: list[tuple[str, str]]) -> tuple[dict[str, str], list[str]]:
    request = HttpRequest("GET", "/?a=1", headers, b"", True, False, "127.0.0.1")
    event = function_url_event(request, "id", "us-east-1", None, "rid")
    return event["headers"], event.get("cookies", [])


def test_event_headers_are_the_same_by_either_way_of_reading_them() -> None:
    plain = [("Host", "x"), ("User-Agent", "hey/0.0.1"), ("Accept-Encoding", "gzip")]
    assert _event_headers(plain) == (
        {"host": "x", "user-agent": "hey/0.0.1", "accept-encoding": "gzip"},
        [],
    )
    # Each of these takes the header-by-header way; the plain headers read the same in it.
    twice = [*plain, ("X-A", "1"), ("x-a", "2")]
    assert _event_headers(twice)[0] == {**_event_headers(plain)[0], "x-a": "1,2"}
    cookie = [*plain, ("Cookie", "a=1; b=2")]
    assert _event_headers(cookie) == (_event_headers(plain)[0], ["a=1", "b=2"])
    token = [*plain, (INTERNAL_HEADER.upper(), "secret-token")]
    assert _event_headers(token) == _event_headers(plain)
    utf8 = [*plain, ("X-Name", "h\u00e9llo".encode().decode("latin-1"))]
    assert _event_headers(utf8)[0] == {**_event_headers(plain)[0], "x-name": "h\u00e9llo"}


_QUERY_PIECES = ["a", "=", "&", "b", "", "x=", "==", "&&", ";", "c=d", "é", "%41", "+", "%zz"]


def test_the_query_is_split_as_parse_qsl_splits_it() -> None:
    for n in range(1, 5):
        for combo in itertools.product(_QUERY_PIECES, repeat=n):
            query = "".join(combo)
            assert _query_pairs(query) == parse_qsl(query, keep_blank_values=True), query


@pytest.mark.parametrize(
    "text",
    ["0", "1024", "000123", "999999999999999", "12345678901234567890", "1KiB", " 5 ", "7MB", "٣"],
)
def test_synthetic_sizes_read_as_parse_size_reads_them(text: str) -> None:
    assert _size({"size": text}, "size", None) == parse_size(text)


def test_synthetic_sizes_refuse_what_parse_size_refuses() -> None:
    for text in ("-1", "1.5.5", "12 34", "0x10"):
        with pytest.raises(ValueError):
            parse_size(text)
        with pytest.raises(ValueError):
            _size({"size": text}, "size", None)


class _Recorder(io.StringIO):
    def __init__(self) -> None:
        super().__init__()
        self.writes: list[str] = []

    def write(self, text: str) -> int:
        self.writes.append(text)
        return len(text)


def _log(path: str) -> RequestLog:
    return RequestLog("stream", "GET", path, 200, 3, 0.5)


def test_request_lines_of_one_batch_leave_in_one_write_in_order() -> None:
    stream = _Recorder()
    requests = RequestLogPrinter(stream)
    functions = FunctionLogPrinter(stream)

    async def scenario() -> None:
        requests(_log("/1"))
        requests(_log("/2"))
        assert stream.writes == []  # waiting for the batch's flush
        await asyncio.sleep(0)
        requests(_log("/2b"))  # a later loop iteration, the same batch
        # The flush's timer is due before this sleep's: it has run when the sleep ends.
        await asyncio.sleep(render_serve.BATCH_S * 2)
        assert len(stream.writes) == 1
        requests(_log("/3"))
        # A function-log line is written at once, after the request line before it.
        functions(InvocationReport("f", "rid", 1.0, 1, 128, 64, None))
        assert len(stream.writes) == 2
        requests(_log("/4"))
        await asyncio.sleep(render_serve.BATCH_S * 2)

    asyncio.run(scenario())
    text = "".join(stream.writes)
    order = [line.split()[3] if "stream" in line else "REPORT" for line in text.splitlines()]
    assert order == ["/1", "/2", "/2b", "/3", "REPORT", "/4"]
    assert len(stream.writes) == 3


def test_request_lines_outside_a_loop_and_at_exit_are_written() -> None:
    stream = _Recorder()
    printer = RequestLogPrinter(stream)
    printer(_log("/now"))  # no loop on this thread: written at once
    assert len(stream.writes) == 1 and "/now" in stream.writes[0]

    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(asyncio.sleep(0))
        # A line left waiting by a loop that stopped before its flush ran.
        loop.call_soon(printer, _log("/late"))
        loop.run_until_complete(asyncio.sleep(0))
        loop.call_soon(printer, _log("/later"))
        loop.stop()
        loop.run_forever()  # runs the call, not the flush it schedules
    finally:
        loop.close()
    flush_lines()  # what print_stopped and exit do
    text = "".join(stream.writes)
    assert "/late" in text and "/later" in text
    assert render_serve._lines == {}


def test_many_waiting_request_lines_are_written_without_waiting() -> None:
    stream = _Recorder()
    printer = RequestLogPrinter(stream)

    async def scenario() -> None:
        for i in range(render_serve._MAX_WAITING):
            printer(_log(f"/{i}"))
        assert len(stream.writes) == 1  # the limit reached: out at once

    asyncio.run(scenario())
    flush_lines()
    assert "".join(stream.writes).count("\n") == render_serve._MAX_WAITING


def test_the_synthetic_handler_answers_the_same_behind_both_urls() -> None:
    """End to end through the shortcuts: headers, framing and bytes of a 1 KiB answer."""
    import httpx

    from lstream_cli.emulator import running_emulator

    logs: list[RequestLog] = []
    with running_emulator(EmulatorConfig(throttle=False, log=logs.append)) as emu:
        for base, framing in ((emu.stream, "transfer-encoding"), (emu.buffered, "content-length")):
            r = httpx.get(base + "/?size=1024&size=1024", timeout=10)  # a name twice: joined
            assert r.status_code == 400  # "1024,1024" is no size
            r = httpx.get(base + "/?size=1KiB&chunk=100", timeout=10)
            assert r.status_code == 200 and r.content == bytes(range(256)) * 4
            assert r.headers["content-type"] == "application/octet-stream"
            assert framing in r.headers and r.headers["x-amzn-requestid"]
    assert [(log.endpoint, log.status, log.bytes) for log in logs] == [
        ("stream", 400, logs[0].bytes),
        ("stream", 200, 1024),
        ("buffered", 400, logs[2].bytes),
        ("buffered", 200, 1024),
    ]


def _query_as_parse_qsl(query: str) -> dict[str, str]:
    """The event's queryStringParameters by the book: parse_qsl, repeated names joined."""
    joined: dict[str, str] = {}
    for key, value in parse_qsl(query, keep_blank_values=True):
        joined[key] = f"{joined[key]},{value}" if key in joined else value
    return joined


def test_the_event_query_is_what_parse_qsl_makes_of_it() -> None:
    for n in range(1, 4):
        for combo in itertools.product(_QUERY_PIECES, repeat=n):
            query = "".join(combo)
            request = HttpRequest("GET", f"/p?{query}", [], b"", True, False, "127.0.0.1")
            event = function_url_event(request, "id", "us-east-1", None, "rid")
            assert event["rawQueryString"] == query
            assert event.get("queryStringParameters", {}) == _query_as_parse_qsl(query), query


_HEADER_SETS: list[tuple[dict[str, str], list[str]]] = [
    ({}, []),
    ({"content-type": "text/plain"}, []),
    ({"Content-Type": "text/html", "X-A": "1"}, []),
    ({"x-a": "1", "content-length": "5", "Transfer-Encoding": "chunked", "connection": "x"}, []),
    ({"x-b": "caf\u00e9", "x-c": "\u2603"}, ["a=1", "b=2; Path=/"]),
    ({"x-a": "1"}, ["only"]),
]


@pytest.mark.parametrize(("headers", "cookies"), _HEADER_SETS)
def test_rendered_response_fields_are_the_header_pairs_rendered(
    headers: dict[str, str], cookies: list[str]
) -> None:
    from lstream_cli.emulator.functionurl import response_fields, response_headers
    from lstream_cli.emulator.http import render_fields

    for default_type in ("application/json", "application/octet-stream"):
        for rid in ("rid-1", "rid-2", "rid-1"):  # the first one again: from the cache
            expected = render_fields(response_headers(headers, rid, default_type, cookies))
            assert response_fields(headers, rid, default_type, cookies) == expected
            assert expected.endswith(b"x-amzn-requestid: " + rid.encode() + b"\r\n")


def test_rendered_response_fields_stay_right_past_the_cache_and_for_odd_values() -> None:
    from lstream_cli.emulator import functionurl
    from lstream_cli.emulator.http import render_fields

    for i in range(functionurl._FIELDS_MAX * 2 + 3):  # headers that change with each answer
        headers = {"x-n": str(i)}
        got = functionurl.response_fields(headers, "r", "application/json")
        assert got == render_fields(functionurl.response_headers(headers, "r", "application/json"))
        assert len(functionurl._FIELDS) <= functionurl._FIELDS_MAX
    odd: Any = {"x-list": ["a", "b"]}  # not text (a key cannot hold it): rendered, not kept
    size = len(functionurl._FIELDS)
    got = functionurl.response_fields(odd, "r", "application/json")
    assert got == render_fields(functionurl.response_headers(odd, "r", "application/json"))
    assert len(functionurl._FIELDS) == size


def _limited_connection(max_head: int) -> tuple[_Connection, _Transport]:
    async def app(request: Any, response: Any) -> None:
        response.send(200, request.target.encode())

    conn = _Connection(HttpServer(app, 1024, max_head=max_head))
    transport = _Transport()
    conn.connection_made(transport)  # type: ignore[arg-type]
    return conn, transport


def test_a_pipelined_head_over_the_limit_is_431_though_most_came_in_an_earlier_read() -> None:
    """The head's size is counted from the read that ended the request before it."""

    async def scenario() -> None:
        conn, transport = _limited_connection(2048)
        big = b"GET /2 HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"p" * 3000
        conn.data_received(b"GET /1 HTTP/1.1\r\nHost: x\r\n\r\n" + big)
        await asyncio.sleep(0.01)
        assert transport.written.count(b"HTTP/1.1 200 ") == 1 and not transport.closed
        conn.data_received(b"\r\n\r\n")  # its end, in a read of its own
        await asyncio.sleep(0.01)
        assert transport.written.count(b"HTTP/1.1 431 ") == 1 and transport.closed

    asyncio.run(scenario())


@pytest.mark.parametrize(
    ("bad", "status"),
    [
        (b"GET /2 HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"p" * 3000 + b"\r\n\r\n", 431),
        (b"GET /2 HTTP/1.1\r\nHost: x\r\nContent-Length: zz\r\n\r\n", 400),
        (b"GET /2 HTTP/1.1\r\n\r\n", 400),  # no Host
    ],
    ids=["head-too-large", "bad-length", "no-host"],
)
def test_requests_before_a_refused_pipelined_one_are_answered_first(
    bad: bytes, status: int
) -> None:
    """[good, bad, good] in one read: the first is answered, then the refusal and the close."""

    async def scenario() -> None:
        conn, transport = _limited_connection(2048)
        conn.data_received(
            b"GET /1 HTTP/1.1\r\nHost: x\r\n\r\n" + bad + b"GET /3 HTTP/1.1\r\nHost: x\r\n\r\n"
        )
        conn.data_received(b"GET /4 HTTP/1.1\r\nHost: x\r\n\r\n")  # after it: not read
        await asyncio.sleep(0.01)
        first, _, rest = transport.written.partition(b"HTTP/1.1 %d " % status)
        assert first.startswith(b"HTTP/1.1 200 ") and first.endswith(b"\r\n\r\n/1")
        assert rest and b"HTTP/1.1 200" not in rest and transport.closed

    asyncio.run(scenario())


def test_many_small_pipelined_requests_in_one_large_read_are_not_431() -> None:
    async def scenario() -> None:
        conn, transport = _limited_connection(512)
        one = b"GET /%d HTTP/1.1\r\nHost: x\r\n\r\n"
        burst = b"".join(one % i for i in range(60))  # 60 heads, more than 512 bytes in all
        assert len(burst) > 3 * 512
        for i in range(0, len(burst), 700):  # heads split across reads too
            conn.data_received(burst[i : i + 700])
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.01)
        assert transport.written.count(b"HTTP/1.1 200 ") == 60 and not transport.closed
        answers = transport.written.split(b"HTTP/1.1 200 ")[1:]
        assert [a.rsplit(b"\r\n\r\n", 1)[1] for a in answers] == [b"/%d" % i for i in range(60)]
        conn.connection_lost(None)

    asyncio.run(scenario())


def test_a_head_just_under_the_limit_split_across_reads_is_served() -> None:
    async def scenario() -> None:
        conn, transport = _limited_connection(512)
        head = b"GET /ok HTTP/1.1\r\nHost: x\r\nX-Pad: "
        head += b"p" * (500 - len(head) - 4) + b"\r\n\r\n"
        for i in range(0, len(head), 97):
            conn.data_received(head[i : i + 97])
        await asyncio.sleep(0.01)
        assert transport.written.startswith(b"HTTP/1.1 200 ") and not transport.closed
        conn.connection_lost(None)

    asyncio.run(scenario())


def test_header_names_read_the_same_from_the_first_request_to_past_the_kept_ones() -> None:
    """Names kept decoded (with what the server reads in them) change nothing: case, framing."""
    from lstream_cli.emulator import http

    seen: list[tuple[list[tuple[str, str]], bytes]] = []

    async def app(request: Any, response: Any) -> None:
        seen.append((list(request.headers), request.body))
        response.send(200, b"ok")

    async def scenario() -> None:
        conn = _Connection(HttpServer(app, 1024))
        transport = _Transport()
        conn.connection_made(transport)  # type: ignore[arg-type]
        long_name = "X-" + "L" * 100  # too long to be kept: decoded each time
        names = ["CONTENT-LENGTH", "content-length", "Content-Length"]
        many = [f"X-Many-{i}" for i in range(http._NAMES_MAX + 10)]  # past the kept ones
        for round_ in range(2):  # the second time the names are the kept ones
            for name in names:
                conn.data_received(
                    b"POST /b HTTP/1.1\r\nhOsT: x\r\n%b: 3\r\n%b: v\r\n\r\nabc"
                    % (name.encode(), long_name.encode())
                )
                await asyncio.sleep(0.01)
            head = "".join(f"{n}: {round_}\r\n" for n in many)
            conn.data_received(f"GET / HTTP/1.1\r\nHost: x\r\n{head}\r\n".encode())
            await asyncio.sleep(0.01)
        assert transport.written.count(b"HTTP/1.1 200 ") == 8 and not transport.closed
        assert len(http._NAMES) <= http._NAMES_MAX
        for round_ in range(2):
            batch = seen[round_ * 4 : round_ * 4 + 4]
            for (headers, body), name in zip(batch, names, strict=False):
                assert headers == [("hOsT", "x"), (name, "3"), (long_name, "v")]
                assert body == b"abc"  # the length read whatever the name's case
            headers, body = batch[3]
            assert headers == [("Host", "x"), *[(n, str(round_)) for n in many]]
            request = HttpRequest("GET", "/", headers, b"", True, False, "127.0.0.1")
            event = function_url_event(request, "id", "us-east-1", None, "rid")
            assert event["headers"] == {n.lower(): v for n, v in headers}
        conn.connection_lost(None)

    asyncio.run(scenario())


def test_request_lines_show_byte_counts_as_format_bytes_does_past_the_kept_ones() -> None:
    from lstream_cli.units import format_bytes

    for n in [0, 1, 999, 1000, 1024, 6_291_556, 10**9 + 1, *range(0, 3_000_000, 997)]:
        line = render_serve.format_request_line(RequestLog("stream", "GET", "/", 200, n, 1.5), 0)
        assert f" 200 {format_bytes(n)} 1.5 ms" in line
        assert len(render_serve._sizes) <= 1024


def _exchange(base: str, raw: bytes) -> bytes:
    """Send ``raw`` on one connection and read until the server closes it."""
    import socket
    from urllib.parse import urlsplit

    parts = urlsplit(base)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        sock.sendall(raw)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def test_small_answers_on_the_wire_byte_for_byte() -> None:
    """Status line, header lines in order, framing and body of 1 KiB answers, pipelined."""
    import re

    from lstream_cli.emulator import running_emulator

    body = bytes(range(256)) * 4
    get = b"GET /?size=1024 HTTP/1.1\r\nHost: x\r\nUser-Agent: t\r\n\r\n"
    last = b"GET /?size=1024 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    rid = rb"x-amzn-requestid: ([0-9a-f-]{36})\r\n"
    with running_emulator(EmulatorConfig(throttle=False)) as emu:
        streamed = _exchange(emu.stream, get + get + last)
        buffered = _exchange(emu.buffered, get + last)
        head = _exchange(emu.buffered, last.replace(b"GET", b"HEAD"))
    one = (
        rb"HTTP/1\.1 200 OK\r\ncontent-type: application/octet-stream\r\n"
        + rid
        + rb"transfer-encoding: chunked\r\n(connection: close\r\n)?\r\n400\r\n"
        + re.escape(body)
        + rb"\r\n0\r\n\r\n"
    )
    match = re.fullmatch(one * 3, streamed, re.DOTALL)
    assert match is not None, streamed[:300]
    ids = match.groups()[0::2]
    assert match.groups()[1::2] == (None, None, b"connection: close\r\n")
    whole = (
        rb"HTTP/1\.1 200 OK\r\ncontent-type: application/octet-stream\r\n"
        + rid
        + rb"content-length: 1024\r\n(connection: close\r\n)?\r\n"
        + re.escape(body)
    )
    match = re.fullmatch(whole * 2, buffered, re.DOTALL)
    assert match is not None, buffered[:300]
    ids += match.groups()[0::2]
    assert len(set(ids)) == 5  # a request id of its own for each answer
    assert re.fullmatch(
        rb"HTTP/1\.1 200 OK\r\ncontent-type: application/octet-stream\r\n"
        + rid
        + rb"content-length: 1024\r\nconnection: close\r\n\r\n",
        head,
    ), head
