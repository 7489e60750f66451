"""The client core without sockets: bytes in, one outcome out, however the bytes are split.

Each response is fed whole, one byte per read, and in two reads split at
every offset; the outcome (status, body, completeness, error class, notes,
whether the connection may be reused) must not depend on the split. Only
``reads`` (one delivery per read) may.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import httptools
import pytest

from lstream_cli.engine.core import MAX_HEAD_BYTES, RETRY, TE_AND_CL_NOTE, Exchange
from lstream_cli.measure import BodyMeter
from lstream_cli.models import ErrorClass


@dataclass(frozen=True)
class Case:
    name: str
    raw: bytes
    status: int
    body: bytes
    complete: bool  # after the bytes (and, for close-delimited, the EOF)
    error: ErrorClass | None
    reusable: bool
    eof: bool = False  # the server closes after the bytes
    method: str = "GET"


RAW = b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"  # a chunked-looking body
CASES = [
    Case("length", b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", 200, b"hello", True, None, True),
    Case("bare-lf", b"HTTP/1.1 200 OK\nContent-Length: 5\n\nhello", 200, b"hello", True, None, True),
    Case(
        "te-and-cl",
        b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
        200, b"hello", True, None, True,
    ),
    Case(
        "chunked-ext-trailers",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        b'3;a=b\r\nabc\r\nA;q="x y"\r\n0123456789\r\n0\r\nX-T: 1\r\n\r\n',
        200, b"abc0123456789", True, None, True,
    ),
    Case(
        "interim",
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"
        b"HTTP/1.1 201 Made\r\nContent-Length: 2\r\n\r\nok",
        201, b"ok", True, None, True,
    ),
    Case("long-length", b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokEXTRA", 200, b"ok", True, None, False),
    Case("no-content-body", b"HTTP/1.1 204 No Content\r\n\r\nhello", 204, b"", True, None, False),
    Case("close-delimited", b"HTTP/1.1 200 OK\r\n\r\nuntil the end", 200, b"until the end", True, None, False, eof=True),
    Case("short-length", b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nshort", 200, b"short", False, ErrorClass.TRUNCATED, False, eof=True),
    Case("cut-chunked", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n", 200, b"abc", False, ErrorClass.TRUNCATED, False, eof=True),
    Case("chunked-bare-lf", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\nabc\n1A\r\n" + b"z" * 26 + b"\n0\n\n", 200, b"abc" + b"z" * 26, True, None, True),
    Case("chunked-then-extra", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\nEXTRA", 200, b"ok", True, None, False),
    Case("chunk-longer-than-its-size", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n2\r\nabc\r\n0\r\n\r\n", 200, b"okab", False, ErrorClass.TRUNCATED, False),
    Case("head", b"HTTP/1.1 200 OK\r\nContent-Length: 500\r\n\r\n", 200, b"", True, None, True, method="HEAD"),
    Case("throttled-by-type", b"HTTP/1.1 400 X\r\nx-amzn-ErrorType: TooManyRequestsException\r\nContent-Length: 0\r\n\r\n", 400, b"", True, ErrorClass.THROTTLED, True),
    Case("throttled-by-body", b'HTTP/1.1 400 X\r\nContent-Length: 25\r\n\r\n{"t":"TooManyRequestsEx"}', 400, b'{"t":"TooManyRequestsEx"}', True, ErrorClass.THROTTLED, True),
    Case("server-error", b"HTTP/1.1 503 X\r\nContent-Length: 4\r\n\r\nbusy", 503, b"busy", True, ErrorClass.HTTP_5XX, True),
    Case("http10-close", b"HTTP/1.0 200 OK\r\n\r\nold", 200, b"old", True, None, False, eof=True),
    # chunked not the final coding: read until the close, raw (RFC 9112 section 6.3)
    Case("te-chunked-gzip", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n" + RAW, 200, RAW, True, None, False, eof=True),
    Case("te-xchunkedx", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: xchunkedx\r\n\r\n" + RAW, 200, RAW, True, None, False, eof=True),
    Case("te-not-final-and-cl", b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked;q=1\r\n\r\n" + RAW, 200, RAW, True, None, False, eof=True),
    Case("te-lines-chunked-first", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n\r\n" + RAW, 200, RAW, True, None, False, eof=True),
    Case("te-lines-chunked-last", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\ntransfer-encoding:  identity ,\tChunked \r\n\r\n" + RAW, 200, b"hello world", True, None, True),
    Case("chunked-long-extension", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;" + b"e" * 2000 + b"\r\nhello\r\n0;" + b"e" * 2000 + b"\r\n\r\n", 200, b"hello", True, None, True),
]  # fmt: skip


def _run(case: Case, pieces: list[bytes]) -> tuple[Exchange, bytes]:
    got = bytearray()
    ex = Exchange(BodyMeter(0), case.method, sink=got.extend)
    now = 1
    for piece in pieces:
        now += 1
        ex.feed(memoryview(bytearray(piece)), now)
    if case.eof and not ex.done:
        ex.eof(now + 1)
    return ex, bytes(got)


def _splits(raw: bytes) -> list[list[bytes]]:
    out = [[raw], [raw[i : i + 1] for i in range(len(raw))]]
    out.extend([raw[:i], raw[i:]] for i in range(1, len(raw)))
    return out


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_the_outcome_does_not_depend_on_how_the_bytes_are_split(case: Case) -> None:
    for pieces in _splits(case.raw):
        ex, body = _run(case, pieces)
        record = ex.record
        assert record is not None, (case.name, pieces)
        assert (record.status, body, record.complete, record.error) == (
            case.status,
            case.body,
            case.complete,
            case.error,
        ), (case.name, pieces, record.error_detail)
        assert record.bytes == len(case.body)
        assert ex.reusable == case.reusable, (case.name, pieces)
        assert (TE_AND_CL_NOTE in record.notes) == (case.name == "te-and-cl")


def test_headers_and_status_line_as_received() -> None:
    raw = b"HTTP/1.1 200 Fine Thanks\r\nX-A: 1\r\nx-b:  two  \r\nContent-Length: 0\r\n\r\n"
    ex, _ = _run(CASES[0], [raw])
    assert ex.status_line == "HTTP/1.1 200 Fine Thanks"
    assert ex.str_headers() == (("X-A", "1"), ("x-b", "two"), ("Content-Length", "0"))
    assert ex.record is not None and ex.record.response_headers == ex.str_headers()


def test_malformed_head_and_malformed_chunk() -> None:
    ex, _ = _run(CASES[0], [b"HTTP/1.1 abc OK\r\n\r\n"])
    assert ex.record is not None and ex.record.error is ErrorClass.CONNECT
    assert ex.record.status is None
    raw = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\nzz\r\n"
    ex, body = _run(CASES[0], [raw])
    assert ex.record is not None and ex.record.error is ErrorClass.TRUNCATED
    assert body == b"ok" and not ex.reusable


def test_a_reused_connection_closed_before_any_byte_is_a_retry() -> None:
    assert Exchange(BodyMeter(0), reused=True).eof(5) is RETRY
    assert Exchange(BodyMeter(0), reused=True).failed(ConnectionResetError(), 5) is RETRY
    fresh = Exchange(BodyMeter(0)).eof(5)
    assert fresh is not RETRY and fresh.error is ErrorClass.CONNECT  # type: ignore[union-attr]


def test_deadlines_timeout_then_stall() -> None:
    ex = Exchange(BodyMeter(0), timeout_ns=1000)
    ex.last_rx_ns = 10
    assert ex.deadline_ns() == 1010
    record = ex.expire(1010)
    assert record.error is ErrorClass.TIMEOUT and "--timeout" in (record.error_detail or "")


def test_a_head_that_never_ends_is_refused_with_bounded_memory() -> None:
    ex = Exchange(BodyMeter(0))
    ex.feed(b"HTTP/1.1 200 OK\r\n", 1)
    line = b"X-Filler: " + b"f" * 1000 + b"\r\n"
    for i in range(MAX_HEAD_BYTES // len(line) + 2):
        if ex.feed(line * 1, 2 + i):
            break
    assert ex.record is not None and ex.record.error is ErrorClass.CONNECT
    assert "no end of the head" in (ex.record.error_detail or "")


def test_a_read_of_several_chunks_is_one_delivery_in_pieces() -> None:
    """Chunks that came in one read: one delivery to the meter, each chunk to the sink as is."""
    chunks = [b"a" * 3000, b"b" * 7, b"c" * 65536]
    raw = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    raw += b"".join(b"%x\r\n" % len(c) + c + b"\r\n" for c in chunks)
    parts: list[bytes] = []
    meter = BodyMeter(0)
    ex = Exchange(meter, sink=parts.append)
    head_end = raw.index(b"\r\n\r\n") + 4
    ex.feed(memoryview(raw[:head_end]), 1)
    assert not ex.feed(memoryview(raw[head_end:]), 2)  # the terminating chunk is still due
    assert parts == chunks  # never joined: the pieces llhttp handed over, in order
    assert (meter.reads, meter.bytes) == (1, sum(map(len, chunks)))
    assert ex.feed(memoryview(b"0\r\n\r\n"), 3)
    assert ex.record is not None and ex.record.complete and ex.record.bytes == meter.bytes


def test_chunk_data_reaches_the_sink_as_slices_of_the_read_buffer() -> None:
    """No copy of a chunk's data: the sink sees views of the buffer the read went into."""
    raw = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    chunks = [b"x" * 70000, b"y" * 5, b"z" * 4096]
    body = b"".join(b"%X;n=1\r\n" % len(c) + c + b"\r\n" for c in chunks) + b"0\r\nT: v\r\n\r\n"
    buf = bytearray(len(body))
    seen: list[tuple[bool, bytes]] = []

    def sink(piece: object) -> None:
        assert isinstance(piece, memoryview)
        seen.append((piece.obj is buf, bytes(piece)))  # copied here: valid only during the call

    meter = BodyMeter(0)
    ex = Exchange(meter, sink=sink)
    assert not ex.feed(memoryview(raw), 1)
    # The body in three reads into the same buffer, each cut inside a size line.
    cuts = [0, 70003, body.index(b"\r\n1000") + 4, len(body)]
    done = False
    for i, (a, b) in enumerate(itertools.pairwise(cuts)):
        buf[: b - a] = body[a:b]
        done = ex.feed(memoryview(buf)[: b - a], 2 + i)
    assert done and ex.record is not None and ex.record.complete and ex.reusable
    assert all(same for same, _ in seen)
    assert b"".join(data for _, data in seen) == b"".join(chunks)
    assert (meter.reads, meter.bytes) == (3, sum(map(len, chunks)))


def test_a_refused_chunked_body_keeps_its_first_bytes_for_the_hints() -> None:
    body = [b'{"message":', b'"TooManyRequestsException"}']
    raw = b"HTTP/1.1 400 X\r\nTransfer-Encoding: chunked\r\n\r\n"
    raw += b"".join(b"%x\r\n" % len(c) + c + b"\r\n" for c in body) + b"0\r\n\r\n"
    parts: list[bytes] = []
    ex = Exchange(BodyMeter(0), sink=parts.append)
    assert ex.feed(memoryview(raw), 1)
    assert parts == body
    assert ex.record is not None and ex.record.error is ErrorClass.THROTTLED


def _llhttp_body(raw: bytes) -> tuple[bytes, bool]:
    """What llhttp alone makes of ``raw``: the body, and whether it ended before the close."""
    body = bytearray()
    done = []

    class Callbacks:
        def on_body(self, data: bytes) -> None:
            body.extend(data)

        def on_message_complete(self) -> None:
            done.append(True)

    parser = httptools.HttpResponseParser(Callbacks())
    parser.set_dangerous_leniencies(lenient_chunked_length=True, lenient_optional_cr_before_lf=True)
    parser.feed_data(raw)
    return bytes(body), bool(done)


@pytest.mark.parametrize(
    "coding",
    [
        b"chunked", b"CHUNKED", b"gzip, chunked", b"gzip,chunked", b" chunked ", b"\tchunked",
        b", chunked", b"gzip ,\tchunked", b"chunked, chunked", b"chunked, gzip", b"xchunkedx",
        b"chunked,", b"chunked , ", b"chunked;x=1", b"chunked\t", b"chunked \t", b"gzip",
        b"identity", b"gzip\r\nTransfer-Encoding: chunked", b"chunked\r\nTransfer-Encoding: gzip",
    ],
)  # fmt: skip
@pytest.mark.parametrize("length", [b"", b"Content-Length: 5\r\n"])
def test_the_framing_of_a_transfer_encoding_agrees_with_llhttp(
    coding: bytes, length: bytes
) -> None:
    raw = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: " + coding + b"\r\n" + length + b"\r\n" + RAW
    want, ended = _llhttp_body(raw)
    for pieces in ([raw], [raw[:60], raw[60:]], [raw[i : i + 1] for i in range(len(raw))]):
        ex, body = _run(Case("te", raw, 200, want, True, None, ended, eof=True), pieces)
        assert ex.record is not None
        assert (body, ex.record.complete, ex.record.error) == (want, True, None), coding
        assert ex.framing == ("chunked" if ended else "eof"), coding


def test_trailers_are_checked_but_not_kept() -> None:
    raw = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\nX-T: 1\r\n\r\n"
    ex, body = _run(CASES[0], [raw])
    assert ex.record is not None and ex.record.complete and body == b"ok"
    assert ex._chunks is not None and ex._chunks.done and ex._chunks.trailers == {}


def test_a_trailer_section_that_never_ends_is_refused_with_bounded_memory() -> None:
    got = bytearray()
    ex = Exchange(BodyMeter(0), sink=got.extend)
    ex.feed(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n", 1)
    line = b"X-T: " + b"v" * (900 << 10) + b"\r\n"
    reads = 0
    while not ex.done and reads < 150 * 15:
        at = (reads % 15) << 16  # 64 KiB reads: each line over 15 of them
        ex.feed(memoryview(line)[at : at + (1 << 16)], 2 + reads)
        reads += 1
    record = ex.record
    assert record is not None and record.error is ErrorClass.TRUNCATED and not record.complete
    assert reads <= MAX_HEAD_BYTES // (1 << 16) + 2  # stopped at the bound, not at the end
    assert "trailer section longer than" in (record.error_detail or "")
    assert bytes(got) == b"hello" and record.bytes == 5 and not ex.reusable


def test_a_chunk_extension_over_a_mebibyte_is_skipped() -> None:
    raw = (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;"
        + b"a" * (2 << 20)
        + b"\r\nhello\r\n0\r\n\r\n"
    )
    for step in (1 << 16, 1 << 20, len(raw)):
        ex, body = _run(CASES[0], [raw[i : i + step] for i in range(0, len(raw), step)])
        assert ex.record is not None and ex.record.complete and ex.record.error is None
        assert body == b"hello" and ex.reusable
