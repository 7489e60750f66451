"""The event parsers: SSE to the WHATWG rules, NDJSON and lines, at every split."""

from __future__ import annotations

import random
from collections.abc import Callable

import pytest

from lstream_cli.events import (
    SseCollector,
    SseEvent,
    format_for_content_type,
)
from tests.counter_impls import IMPLEMENTATIONS, Counters, counters_of

# Every counter test runs against both implementations: the pure-Python
# counters of lstream_cli.events and the compiled ones of _eventscan.
impl = pytest.mark.parametrize("counters", IMPLEMENTATIONS, indirect=True)


@pytest.fixture
def counters(request: pytest.FixtureRequest) -> Counters:
    return counters_of(request.param)


def _counts(counter: object, parts: list[bytes]) -> list[int]:
    return [counter.feed(p) for p in parts]  # type: ignore[attr-defined]


def _splits(stream: bytes) -> list[list[bytes]]:
    """The stream whole, in one-byte reads, and cut in two at every offset."""
    out = [[stream], [stream[i : i + 1] for i in range(len(stream))]]
    out.extend([stream[:i], stream[i:]] for i in range(1, len(stream)))
    return out


def _msg(data: str, type_: str = "message", id_: str = "", retry: int | None = None) -> SseEvent:
    return SseEvent(type_, data, id_, retry)


# (stream, events dispatched, as decoded)
SSE_TABLE: list[tuple[bytes, list[SseEvent]]] = [
    (b"data: a\n\n", [_msg("a")]),
    (b"data: a\r\n\r\n", [_msg("a")]),
    (b"data: a\r\r", [_msg("a")]),
    (b"data: a\n\ndata: b\n\n", [_msg("a"), _msg("b")]),
    # multi-line data joined with LF; one leading space dropped, not two
    (b"data: one\ndata:  two\ndata:three\n\n", [_msg("one\n two\nthree")]),
    (b"data\n\n", [_msg("")]),  # a data field with no value: dispatched, empty
    (b"data:\n\n", [_msg("")]),
    (b"data\ndata\n\n", [_msg("\n")]),
    # comments are not events, nor do they end one
    (b": keep-alive\n\n", []),
    (b":\n\n: x\n\n", []),
    (b"data: a\n: note\ndata: b\n\n", [_msg("a\nb")]),
    # fields without data make no event
    (b"event: ping\n\n", []),
    (b"id: 7\n\n", []),
    (b"retry: 100\n\n", []),
    (b"event: add\ndata: x\n\n", [_msg("x", "add")]),
    (b"event: add\n\ndata: x\n\n", [_msg("x")]),  # the type is reset by the blank line
    (b"id: 1\ndata: x\n\ndata: y\n\n", [_msg("x", id_="1"), _msg("y", id_="1")]),
    (b"id: 1\ndata: x\n\nid: a\0b\ndata: y\n\n", [_msg("x", id_="1"), _msg("y", id_="1")]),
    (b"id\ndata: x\n\n", [_msg("x", id_="")]),
    (b"retry: 10\ndata: x\n\nretry: 1x\ndata: y\n\n", [_msg("x", retry=10), _msg("y", retry=10)]),
    # unknown fields and near-misses of "data" are ignored
    (b"datax: 1\n\n", []),
    (b"data : 1\n\n", []),
    (b"Data: 1\n\n", []),
    (b"foo\nbar: 2\n\n", []),
    # blank lines in a row dispatch once
    (b"data: a\n\n\n\n\ndata: b\n\n\n", [_msg("a"), _msg("b")]),
    (b"\n\n\ndata: a\n\n", [_msg("a")]),
    # CR, LF and CRLF mixed; CR CR LF is two line ends
    (b"data: a\rdata: b\r\n\ndata: c\r\r\n", [_msg("a\nb"), _msg("c")]),
    (b"data: a\r\n\rdata: b\n\r", [_msg("a"), _msg("b")]),
    # a leading BOM is dropped (once)
    (b"\xef\xbb\xbfdata: a\n\n", [_msg("a")]),
    (b"\xef\xbb\xbf\xef\xbb\xbfdata: a\n\n", []),  # the second BOM is a field name
    (b"\xef\xbbdata: a\n\n", []),  # a cut BOM is not one
    # a missing final blank line: the last event is never dispatched
    (b"data: a\n\ndata: b\n", [_msg("a")]),
    (b"data: a\n\ndata: b", [_msg("a")]),
    (b"data: a", []),
    (b"", []),
    # UTF-8 payload
    ("data: \u00e9t\u00e9 \u2603\n\n".encode(), [_msg("\u00e9t\u00e9 \u2603")]),
]


@impl
@pytest.mark.parametrize(("stream", "expected"), SSE_TABLE)
def test_sse_table_at_every_split(
    counters: Counters, stream: bytes, expected: list[SseEvent]
) -> None:
    SseCounter = counters.sse
    for parts in _splits(stream):
        collector = SseCollector()
        counts = _counts(collector, parts)
        assert collector.events == expected, parts
        assert sum(counts) == len(expected)
        counter = SseCounter()
        assert _counts(counter, parts) == counts, parts
        assert counter.end() == 0


SAMPLE = (
    b"\xef\xbb\xbf: stream opened\r\n"
    b"retry: 2500\r\n\r\n"
    b'event: token\r\nid: 1\r\ndata: {"t": "Hel"}\r\n\r\n'
    b"data: lo\rdata: world\r\r"
    b": keep-alive\n\n"
    b"data:\n\n"
    b"event: done\ndata: [DONE]\n\n"
    b"data: never dispatched\n"
)


@impl
def test_sse_sample_stream_counts_each_event_in_the_read_that_completes_it(
    counters: Counters,
) -> None:
    SseCounter = counters.sse
    expected = [
        SseEvent("token", '{"t": "Hel"}', "1", 2500),
        SseEvent("message", "lo\nworld", "1", 2500),
        SseEvent("message", "", "1", 2500),
        SseEvent("done", "[DONE]", "1", 2500),
    ]
    # The byte that completes each event: the end of its blank line (a CR
    # ends a line by itself; the LF of a CRLF only joins it).
    last_bytes = [
        SAMPLE.index(b'"}\r\n\r\n') + 4,
        SAMPLE.index(b"world\r\r") + 6,
        SAMPLE.index(b"data:\n\n") + 6,
        SAMPLE.index(b"[DONE]\n\n") + 7,
    ]
    for parts in _splits(SAMPLE):
        collector, counter = SseCollector(), SseCounter()
        offset = 0
        for part in parts:
            due = sum(1 for i in last_bytes if offset <= i < offset + len(part))
            assert counter.feed(part) == due, (parts, offset)
            assert collector.feed(part) == due
            offset += len(part)
        assert collector.events == expected


@impl
def test_sse_cr_at_the_end_of_a_read_then_lf(counters: Counters) -> None:
    counter = counters.sse()
    assert counter.feed(b"data: a\r") == 0
    assert counter.feed(b"\n\r") == 1  # CRLF then CR: the blank line
    assert counter.feed(b"\ndata: b\n\n") == 1  # this LF is a second blank line, not part of a CRLF


@impl
def test_sse_counter_agrees_with_the_decoder_on_random_streams(counters: Counters) -> None:
    SseCounter = counters.sse
    rng = random.Random(20261201)
    words = [
        b"data: x",
        b"data:",
        b"data",
        b"event: e",
        b"id: 1",
        b": c",
        b"",
        b"datum",
        b"retry: 5",
    ]
    ends = [b"\n", b"\r\n", b"\r"]
    common = [b"data: x", b"data: yy", b"", b""]  # mostly the two-count fast shape
    for trial in range(1000):
        pick = words if trial % 2 else common
        stream = b"".join(rng.choice(pick) + rng.choice(ends) for _ in range(rng.randint(0, 30)))
        cuts = sorted(rng.sample(range(len(stream) + 1), min(len(stream) + 1, rng.randint(0, 8))))
        parts = [stream[a:b] for a, b in zip([0, *cuts], [*cuts, len(stream)], strict=True)]
        collector, counter = SseCollector(), SseCounter()
        assert _counts(counter, parts) == _counts(collector, parts), stream


@impl
def test_sse_long_lines_over_many_reads(counters: Counters) -> None:
    SseCounter = counters.sse
    counter, collector = SseCounter(), SseCollector()
    parts = [
        b"data: ",
        *([b"x" * 1000] * 50),
        b"\n",
        b"\n",
        b"da",
        b"ta",
        b":",
        b"y" * 100,
        b"\n\n",
    ]
    assert _counts(counter, parts) == _counts(collector, parts)
    assert [len(e.data) for e in collector.events] == [50_000, 100]
    # a long line that is not a data field stays one
    counter = SseCounter()
    assert sum(_counts(counter, [b"dat", b"ax" * 500, b"\n\n"])) == 0


NDJSON_TABLE: list[tuple[bytes, int, int]] = [
    # (stream, events from the reads, events the body's end adds)
    (b'{"a": 1}\n{"a": 2}\n', 2, 0),
    (b'{"a": 1}\r\n{"a": 2}\r\n', 2, 0),
    (b'{"a": 1}\n\n\n{"a": 2}\n', 2, 0),  # blank lines are not events
    (b'\r\n{"a": 1}\r\n\r\n', 1, 0),
    (b'{"a": 1}\n{"a": 2}', 1, 1),  # a last line without LF counts at the end
    (b"", 0, 0),
    (b"\n", 0, 0),
    (b"x", 0, 1),
]


@impl
@pytest.mark.parametrize(("stream", "in_reads", "at_end"), NDJSON_TABLE)
def test_ndjson_table_at_every_split(
    counters: Counters, stream: bytes, in_reads: int, at_end: int
) -> None:
    NdjsonCounter = counters.ndjson
    for parts in _splits(stream):
        counter = NdjsonCounter()
        assert sum(_counts(counter, parts)) == in_reads, parts
        assert counter.end() == at_end


@impl
def test_ndjson_counts_a_line_in_the_read_holding_its_lf(counters: Counters) -> None:
    counter = counters.ndjson()
    assert _counts(counter, [b'{"a"', b": 1}", b"\n{", b'"b": 2}\n{"c": 3}\n']) == [0, 0, 1, 2]


LINES_TABLE: list[tuple[bytes, int, int]] = [
    (b"one\ntwo\n", 2, 0),
    (b"one\n\ntwo\n", 3, 0),  # a blank line is a line
    (b"one\r\ntwo", 1, 1),
    (b"", 0, 0),
]


@impl
@pytest.mark.parametrize(("stream", "in_reads", "at_end"), LINES_TABLE)
def test_lines_table_at_every_split(
    counters: Counters, stream: bytes, in_reads: int, at_end: int
) -> None:
    LinesCounter = counters.lines
    for parts in _splits(stream):
        counter = LinesCounter()
        assert sum(_counts(counter, parts)) == in_reads, parts
        assert counter.end() == at_end


@impl
def test_memoryview_reads_count_as_bytes_do(counters: Counters) -> None:
    data = bytearray(b"data: a\n\nx\n\ny")
    make: Callable[[], object]
    for make in (counters.sse, counters.ndjson, counters.lines):
        by_view, by_bytes = make(), make()
        for a, b in ((0, 9), (9, 12), (12, 14)):
            view = memoryview(data)[a:b]
            assert by_view.feed(view) == by_bytes.feed(bytes(data[a:b]))  # type: ignore[attr-defined]
        assert by_view.end() == by_bytes.end()  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("value", "fmt"),
    [
        ("text/event-stream", "sse"),
        ("Text/Event-Stream; charset=utf-8", "sse"),
        ("application/x-ndjson", "ndjson"),
        ("application/jsonl", "ndjson"),
        ("application/json", None),
        ("text/plain", None),
        ("", None),
        (None, None),
    ],
)
def test_format_for_content_type(value: str | None, fmt: str | None) -> None:
    assert format_for_content_type(value) == fmt
