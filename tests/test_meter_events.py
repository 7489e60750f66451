"""The meter's event side: counts, instants, gaps, rates, auto mode, stall deadline."""

from __future__ import annotations

from lstream_cli.measure import BodyMeter, MeterOptions
from lstream_cli.models import ErrorClass

MS = 1_000_000
SSE = (("content-type", "text/event-stream"),)


def _meter(events: str | None = "sse", stall_ms: int | None = None) -> BodyMeter:
    return BodyMeter(
        0,
        options=MeterOptions(
            events=events,  # type: ignore[arg-type]
            stall_timeout_ns=None if stall_ms is None else stall_ms * MS,
        ),
    )


def _feed(m: BodyMeter, at_ms: int, chunk: bytes) -> None:
    m.data(at_ms * MS, len(chunk), chunk if m.wants_bytes else None)


def test_events_are_stamped_with_the_read_that_completes_them() -> None:
    m = _meter()
    m.headers(1 * MS, 200, SSE)
    _feed(m, 2, b": prelude\n\n")  # a comment: first byte, no event
    _feed(m, 5, b"data: a\n\nda")  # one event, half of the next
    _feed(m, 9, b"ta: b\n\ndata: c\n\ndata: d\n\n")  # three at once
    _feed(m, 20, b"data: e\n")  # not dispatched yet
    _feed(m, 30, b"\n")
    rec = m.finish(31 * MS, complete=True)
    assert rec.first_byte_ns == 2 * MS
    assert rec.events == 5
    assert rec.first_event_ns == 5 * MS
    assert rec.ttfe_ms == 5.0
    assert rec.last_event_ns == 30 * MS
    gaps = rec.event_gaps
    assert gaps is not None
    # 5 -> 9, then two at 9 (0 ms), 9 -> 30
    assert gaps.zero == 2
    assert gaps.nonzero_ns == (4 * MS, 21 * MS)
    assert gaps.count == 4
    assert rec.events_per_s == 4 / 0.025
    js = rec.to_json("http://x/")
    assert js["events"] == 5
    assert js["ttfe_ms"] == 5.0
    assert js["event_gap_ms"] == {"p50": 0.0, "p90": 21.0, "p99": 21.0, "max": 21.0}
    assert js["events_per_s"] == 160.0


def test_without_events_the_fields_are_none_and_no_bytes_are_wanted() -> None:
    m = BodyMeter(0)
    assert not m.wants_bytes
    m.headers(MS, 200, SSE)
    m.data(2 * MS, 9, None)
    rec = m.finish(3 * MS, complete=True)
    assert (rec.events, rec.ttfe_ms, rec.event_gaps, rec.events_per_s) == (None, None, None, None)
    js = rec.to_json("u")
    assert js["events"] is None and js["event_gap_ms"] is None


def test_one_event_has_no_gap_and_no_rate() -> None:
    m = _meter("ndjson")
    m.headers(MS, 200)
    _feed(m, 2, b'{"a": 1}')  # completed only by the end of the body
    rec = m.finish(4 * MS, complete=True)
    assert rec.events == 1
    assert rec.first_event_ns == 2 * MS  # its last byte came at 2 ms
    assert rec.events_per_s is None
    assert rec.to_json("u")["event_gap_ms"] == {"p50": None, "p90": None, "p99": None, "max": None}


def test_a_cut_body_does_not_complete_the_last_ndjson_line() -> None:
    m = _meter("ndjson")
    m.headers(MS, 200)
    _feed(m, 2, b'{"a": 1}\n{"a"')
    rec = m.finish(4 * MS, complete=False)
    assert rec.events == 1
    assert rec.error is ErrorClass.TRUNCATED


def test_auto_picks_the_format_from_the_content_type() -> None:
    m = _meter("auto")
    assert m.wants_bytes  # undecided until the headers
    m.headers(MS, 200, (("Content-Type", "application/x-ndjson"),))
    assert m.wants_bytes
    _feed(m, 2, b"1\n2\n")
    assert m.finish(3 * MS, complete=True).events == 2

    m = _meter("auto")
    m.headers(MS, 200, (("content-type", "application/octet-stream"),))
    assert not m.wants_bytes
    _feed(m, 2, b"data: a\n\n")
    assert m.finish(3 * MS, complete=True).events is None

    m = _meter("auto")
    m.headers(MS, 200, ())
    assert not m.wants_bytes


def test_idle_deadline_follows_the_last_event_after_the_first_byte() -> None:
    m = BodyMeter(100 * MS, options=MeterOptions(events="sse", stall_timeout_ns=50 * MS))
    assert m.idle_deadline_ns() is None  # before the first byte: --timeout's business
    m.headers(101 * MS, 200, SSE)
    assert m.idle_deadline_ns() is None
    m.data(110 * MS, 11, b": comment\n\n")
    assert m.idle_deadline_ns() == 160 * MS  # first byte + 50 ms
    m.data(120 * MS, 9, b"data: a\n\n")
    assert m.idle_deadline_ns() == 170 * MS
    m.data(150 * MS, 12, b": keepalive\n")  # bytes, but no event: the deadline stays
    assert m.idle_deadline_ns() == 170 * MS
    rec = m.finish(171 * MS, complete=False, error=ErrorClass.STALLED, detail="no event")
    assert rec.error is ErrorClass.STALLED
    assert rec.events == 1


def test_idle_deadline_follows_the_last_byte_without_events() -> None:
    m = BodyMeter(0, options=MeterOptions(stall_timeout_ns=10 * MS))
    assert not m.wants_bytes
    m.headers(MS, 200)
    m.data(2 * MS, 5)
    assert m.idle_deadline_ns() == 12 * MS
    m.data(7 * MS, 5)
    assert m.idle_deadline_ns() == 17 * MS
    assert BodyMeter(0).idle_deadline_ns() is None


def test_only_auto_asks_a_client_for_the_response_headers() -> None:
    # The load engine leaves the headers out unless the meter asks: a named
    # format does not need them, auto reads the Content-Type from them.
    assert _meter("auto").wants_headers
    for events in ("sse", "ndjson", "lines", None):
        assert not _meter(events).wants_headers
    assert not BodyMeter(0).wants_headers
