"""The knee detector and the body meter (the README's measurement definition)."""

from __future__ import annotations

import pytest

from lstream_cli.knee import detect_knee
from lstream_cli.measure import BodyMeter, classify_status
from lstream_cli.models import ErrorClass

MS = 1_000_000


def burst_then_capped(
    burst: int, fast_bps: float, slow_bps: float, seconds: float, step_ms: int = 10
) -> list[tuple[int, int]]:
    pts: list[tuple[int, int]] = [(MS, 0)]
    t, b = MS, 0
    step_fast = int(fast_bps * step_ms / 1000)
    while b < burst:
        t += step_ms * MS
        b = min(burst, b + step_fast)
        pts.append((t, b))
    end = t + int(seconds * 1e9)
    step_slow = int(slow_bps * step_ms / 1000)
    while t < end:
        t += step_ms * MS
        b += step_slow
        pts.append((t, b))
    return pts


def test_lambda_shape_6mb_then_2mbps() -> None:
    knee = detect_knee(burst_then_capped(6_000_000, 200e6, 2e6, 3.0))
    assert knee is not None
    assert knee.burst_bytes == pytest.approx(6_000_000, rel=0.05)
    assert knee.rate_after_burst_bytes_per_s == pytest.approx(2e6, rel=0.05)


def test_apigw_shape_10mb_then_2mbps() -> None:
    knee = detect_knee(burst_then_capped(10_000_000, 100e6, 2e6, 2.0))
    assert knee is not None
    assert knee.burst_bytes == pytest.approx(10_000_000, rel=0.05)


@pytest.mark.parametrize(
    "points",
    [
        [(i * 10 * MS, i * 20_000) for i in range(1, 300)],  # one steady rate
        [(i * 10 * MS, i * 20_000) for i in range(1, 5)],  # too short to tell
        burst_then_capped(6_000_000, 200e6, 150e6, 1.0),  # rate barely drops
        burst_then_capped(6_000_000, 200e6, 2e6, 0.1),  # capped part too short
    ],
)
def test_no_knee(points: list[tuple[int, int]]) -> None:
    assert detect_knee(points) is None


def test_meter_offsets_gaps_and_rate() -> None:
    m = BodyMeter(t_start_ns=1000 * MS)
    m.connected(1000 * MS, 1001 * MS)
    m.headers(1002 * MS, 200, (("content-type", "text/plain"),))
    m.data(1010 * MS, 100)
    m.data(1020 * MS, 100)
    m.data(1050 * MS, 100)
    r = m.finish(1060 * MS, complete=True)
    assert r.connect_ms == 1.0
    assert r.headers_ms == 2.0
    assert r.ttfb_ms == 10.0
    assert r.total_ms == 60.0
    assert (r.bytes, r.reads) == (300, 3)
    assert r.gap_max_ms == 30.0
    assert r.gap_p99_ms == pytest.approx(30.0, rel=1e-3)
    assert r.bytes_per_s == pytest.approx(300 / 0.050)
    assert r.ok and r.error is None


def test_meter_empty_body_ttfb_is_headers() -> None:
    m = BodyMeter(0)
    m.headers(5 * MS, 204)
    r = m.finish(6 * MS, complete=True)
    assert r.ttfb_ms == 5.0 and r.bytes == 0 and r.gap_max_ms is None


def test_meter_incomplete_is_truncated_and_status_classes() -> None:
    m = BodyMeter(0)
    m.headers(1, 200)
    m.data(2, 10)
    r = m.finish(3, complete=False)
    assert r.error is ErrorClass.TRUNCATED and not r.ok and r.total_ms is None
    m = BodyMeter(0)
    m.headers(1, 503)
    assert m.finish(2, complete=True).error is ErrorClass.HTTP_5XX


@pytest.mark.parametrize(
    ("status", "hint", "expected"),
    [
        (200, b"", None),
        (204, b"", None),
        (302, b"", None),
        (403, b"", ErrorClass.HTTP_4XX),
        (404, b"", ErrorClass.HTTP_4XX),
        (429, b"", ErrorClass.THROTTLED),
        (400, b'{"__type":"TooManyRequestsException"}', ErrorClass.THROTTLED),
        (500, b"", ErrorClass.HTTP_5XX),
        (502, b"", ErrorClass.HTTP_5XX),
    ],
)
def test_classify_status(status: int, hint: bytes, expected: ErrorClass | None) -> None:
    assert classify_status(status, hint) is expected


def test_meter_memory_is_bounded_for_many_reads() -> None:
    m = BodyMeter(0)
    m.headers(1, 200)
    for i in range(200_000):
        m.data(2 + i * 10_000, 1000)  # 10 us apart: coalesced into 5 ms slots
    r = m.finish(2 + 200_000 * 10_000, complete=True)
    assert r.reads == 200_000 and r.bytes == 200_000_000
    assert len(m._timeline) < 500


def test_meter_finds_the_knee_when_reads_come_closer_than_a_slot() -> None:
    """6 MiB at once, then 2 MiB/s in reads 2 ms apart: one curve point per slot.

    Reads closer together than the 5 ms slot must not all melt into one
    point, or a fast capped stream (a 2 MBps cap in small reads, a
    ``--time-scale`` run) shows no knee at all.
    """
    ms = 1_000_000
    m = BodyMeter(0)
    m.headers(1 * ms, 200)
    t = 2 * ms
    for _ in range(96):  # 6 MiB in 64 KiB reads, 20 us apart
        m.data(t, 65536)
        t += 20_000
    for _ in range(1000):  # then 2 s at 2 MiB/s: 4 KiB every 2 ms
        t += 2 * ms
        m.data(t, 4194)
    r = m.finish(t, complete=True)
    assert r.knee is not None
    assert abs(r.knee.burst_bytes - 6 * 1024 * 1024) <= 64 * 1024
    assert abs(r.knee.rate_after_burst_bytes_per_s - 2_097_000) < 100_000


def test_meter_timeline_stays_bounded_for_long_streams() -> None:
    """A long stream (here 40 min of 5 ms slots) keeps a bounded curve with its ends."""
    m = BodyMeter(0)
    m.headers(1, 200)
    n = 480_000
    for i in range(n):
        m.data(2 + i * 5_000_000, 1000)
    assert len(m._timeline) <= 1025
    assert m._timeline[0] == (2, 1000)
    assert m._timeline[-1] == (2 + (n - 1) * 5_000_000, n * 1000)


def test_meter_keeps_the_knee_of_a_long_stream_through_compaction() -> None:
    """60 s at 2 MiB/s after the burst: the curve is thinned, the knee stays."""
    ms = 1_000_000
    m = BodyMeter(0)
    m.headers(ms, 200)
    t = 2 * ms
    for _ in range(96):
        m.data(t, 65536)
        t += 20_000
    for _ in range(30_000):  # 4 KiB every 2 ms
        t += 2 * ms
        m.data(t, 4194)
    r = m.finish(t, complete=True)
    assert len(m._timeline) <= 1025
    assert r.knee is not None
    # The fit sees 256 points over 60 s (one per ~0.23 s, ~0.5 MB at 2 MiB/s),
    # with or without the thinning: the burst is placed to that resolution.
    assert abs(r.knee.burst_bytes - 6 * 1024 * 1024) <= 1024 * 1024
    assert abs(r.knee.rate_after_burst_bytes_per_s - 2_097_000) < 100_000


def test_single_read_body_has_no_rate() -> None:
    m = BodyMeter(0)
    m.headers(1 * MS, 200)
    m.data(2 * MS, 5000)
    r = m.finish(3 * MS, complete=True)
    assert r.reads == 1 and r.bytes == 5000
    assert r.bytes_per_s is None  # no span to divide by, in get and bench alike


def test_finish_puts_every_measured_figure_in_its_own_field() -> None:
    """The record is built positionally: each field is checked by name, all values distinct."""
    from dataclasses import fields

    from lstream_cli.measure import MeterOptions

    m = BodyMeter(1_000, options=MeterOptions(events="lines"))
    m.set_up(11, 22, 33)
    m.headers(1_000 + 44, 201, (("x-a", "b"),))
    m.data(1_000 + 55, 3, b"a\nb")
    m.data(1_000 + 77, 4, b"c\nd\n")
    rec = m.finish(1_000 + 99, True)
    expected = {
        "t_start_ns": 1_000,
        "status": 201,
        "connect_ns": 22,
        "headers_ns": 44,
        "first_byte_ns": 55,
        "end_ns": 99,
        "bytes": 7,
        "reads": 2,
        "gap_max_ns": 22,
        "gap_p99_ns": 22,
        "knee": None,
        "complete": True,
        "error": None,
        "error_detail": None,
        "response_headers": (("x-a", "b"),),
        "dns_ns": 11,
        "tls_ns": 33,
        "notes": (),
        "events": 3,
        "first_event_ns": 55,
        "last_event_ns": 77,
    }
    assert {f.name for f in fields(rec)} == {*expected, "event_gaps"}
    for name, value in expected.items():
        assert getattr(rec, name) == value, name
    assert rec.event_gaps is not None and rec.event_gaps.nonzero_ns == (22,)
    assert rec.event_gaps.zero == 1
