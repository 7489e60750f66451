"""The per-second series: recorded per worker, merged exactly by second, flat in memory."""

from __future__ import annotations

import random

import pytest

import lstream_cli.engine.series as series_mod
from lstream_cli.engine.series import SeriesMerger, SeriesRecorder
from lstream_cli.engine.workers import LoadConfig, LoadOutcome, Progress, run_load
from lstream_cli.measure import BodyMeter
from lstream_cli.models import ErrorClass, RequestRecord
from lstream_cli.request import RequestSpec
from lstream_cli.stats import Histogram
from tests.engine.httpserver import TestServer

S = 1_000_000_000


class Clock:
    """perf_counter_ns under the test's control."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, now: int = 10 * S) -> None:
        self.now = now
        monkeypatch.setattr(series_mod.time, "perf_counter_ns", lambda: self.now)


def _ok(ttfb_us: int, total_us: int, status: int = 200) -> RequestRecord:
    m = BodyMeter(0, keep_timeline=False)
    m.headers(ttfb_us * 500, status)
    m.data(ttfb_us * 1000, 10)
    return m.finish(total_us * 1000, True)


def test_a_second_counts_starts_ends_classes_and_the_mean_in_flight(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = Clock(monkeypatch)
    begin = clock.now
    received = [0]
    rec = SeriesRecorder(begin, lambda: received[0])
    rec.start()
    rec.start()  # two in flight from 0 s
    clock.now = begin + S // 2
    rec.add(_ok(1000, 2000))  # one ends at 0.5 s
    received[0] = 500
    clock.now = begin + S + S // 4  # 1.25 s: the first second closes
    rec.add(_ok(3000, 4000, status=503))
    [first] = rec.take()
    assert first["k"] == 0 and first["span_s"] == 1.0
    assert (first["started"], first["requests"], first["ok"]) == (2, 1, 1)
    assert first["status"] == {200: 1} and first["errors"] == {}
    # 2 in flight for 0.5 s, then 1 for 0.5 s: a mean of 1.5.
    assert first["in_flight"] == pytest.approx(1.5)
    assert first["bytes"] == 500
    assert first["ttfb"] == {1000: 1} and first["total"] == {2000: 1}
    received[0] = 700
    [second] = rec.finish(begin + S + S // 2)  # ends at 1.5 s: a half second
    assert second["k"] == 1 and second["span_s"] == pytest.approx(0.5)
    assert second["requests"] == 1 and second["ok"] == 0
    assert second["status"] == {503: 1} and second["errors"] == {"http_5xx": 1}
    assert second["total"] == {4000: 1}  # its latency is measured all the same
    assert second["in_flight"] == pytest.approx(0.5)  # 1 until 1.25 s, then 0, over 0.5 s
    assert second["bytes"] == 200


def test_failures_are_counted_by_class_and_quiet_seconds_are_kept(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = Clock(monkeypatch)
    begin = clock.now
    rec = SeriesRecorder(begin)
    rec.start()
    clock.now = begin + 3 * S + 1  # nothing for three seconds, then a cut stream
    rec.add(BodyMeter(0).finish(1000, False))
    rec.start()
    rec.add(BodyMeter(0).finish(1000, False, error=ErrorClass.THROTTLED))
    seconds = rec.tick(begin + 4 * S)
    assert [s["k"] for s in seconds] == [0, 1, 2, 3]
    assert [s["in_flight"] for s in seconds[:3]] == [1.0, 1.0, 1.0]
    assert seconds[3]["errors"] == {"truncated": 1, "throttled": 1}
    assert seconds[3]["ok"] == 0 and seconds[3]["started"] == 1


def _state(k: int, ttfb: dict[int, int], **kw: object) -> dict[str, object]:
    base: dict[str, object] = {
        "k": k,
        "span_s": 1.0,
        "started": sum(ttfb.values()),
        "requests": sum(ttfb.values()),
        "ok": sum(ttfb.values()),
        "errors": {},
        "status": {200: sum(ttfb.values())},
        "in_flight": 2.0,
        "bytes": 100,
        "events": None,
        "ttfb": ttfb,
        "total": ttfb,
    }
    base.update(kw)
    return base


def test_the_parent_merges_a_second_exactly_once_every_worker_shipped_it() -> None:
    rng = random.Random(3)
    parts = [{rng.randint(100, 90_000): rng.randint(1, 5) for _ in range(400)} for _ in range(3)]
    merger = SeriesMerger(3)
    merger.add(0, [_state(0, parts[0])])
    merger.add(1, [_state(0, parts[1], errors={"http_5xx": 2})])
    assert merger.points == []  # worker 2 has not shipped second 0: still mergeable
    merger.add(2, [_state(0, parts[2]), _state(1, {500: 1})])
    [point] = merger.points  # second 1 waits for workers 0 and 1
    direct = Histogram(highest=3_600_000_000)
    for part in parts:
        for raw, n in part.items():
            direct.record_raw(raw, n)
    assert point.ttfb_ms == {
        "p50": direct.percentile(50.0),
        "p90": direct.percentile(90.0),
        "p99": direct.percentile(99.0),
    }
    assert point.requests == sum(sum(p.values()) for p in parts)
    assert point.in_flight == pytest.approx(6.0)  # the workers' means add up
    assert point.bytes == 300
    assert point.errors == {ErrorClass.HTTP_5XX: 2}
    merger.end(0)
    merger.end(1)  # the others ended: second 1 is complete
    assert [p.t_s for p in merger.points] == [0, 1]
    assert merger.finish()[1].requests == 1


def test_a_second_shipped_through_json_merges_as_the_pickled_one() -> None:
    """String keys (a state that went through JSON) and int keys give the same point."""
    import json

    rng = random.Random(5)
    part = {rng.randint(100, 90_000): rng.randint(1, 5) for _ in range(300)}
    pickled, through_json = SeriesMerger(1), SeriesMerger(1)
    pickled.add(0, [_state(0, part), _state(1, {})])
    through_json.add(0, json.loads(json.dumps([_state(0, part), _state(1, {})])))
    assert pickled.points == through_json.points
    point = pickled.points[0]
    assert (point.requests, point.ttfb_ms["p99"] is not None) == (sum(part.values()), True)


def test_the_parent_keeps_only_summaries(monkeypatch: pytest.MonkeyPatch) -> None:
    """An hour of seconds leaves 3,600 small points and no histogram behind."""
    merger = SeriesMerger(2)
    for k in range(3600):
        for w in (0, 1):
            merger.add(w, [_state(k, {1000 + k: 1, 2000: 2})])
        assert len(merger._pending) == 0
    points = merger.finish()
    assert len(points) == 3600
    assert not any(isinstance(v, Histogram) for p in points for v in p.__slots__)
    assert points[-1].ttfb_ms["p50"] == pytest.approx(2.0)


def _run(url: str, seconds: float, concurrency: int, workers: int) -> LoadOutcome:
    spec = RequestSpec(url=url, auth="none")
    return run_load(LoadConfig(spec, concurrency, None, seconds, None, workers))


def test_series_of_a_run_adds_up_to_its_totals(server: TestServer) -> None:
    out = _run(server.url("/flaky?every=4"), 2.3, concurrency=4, workers=2)
    stats, series = out.stats, out.series
    assert [p.t_s for p in series] == list(range(len(series))) and len(series) == 3
    assert sum(p.requests for p in series) == stats.requests > 0
    assert sum(p.ok for p in series) == stats.ok
    assert (
        sum(p.errors.get(ErrorClass.HTTP_5XX, 0) for p in series)
        == stats.errors[ErrorClass.HTTP_5XX]
    )
    assert sum(p.status.get(200, 0) for p in series) == stats.status[200]
    assert sum(p.started for p in series) == stats.requests + stats.aborted
    assert sum(p.bytes for p in series) >= stats.bytes
    assert series[-1].span_s < 1.0 and all(p.span_s == 1.0 for p in series[:-1])
    # Four connections busy the whole time (a closed loop on a fast server).
    assert all(3.0 < p.in_flight <= 4.0 for p in series)
    assert all(p.ttfb_ms["p50"] is not None for p in series)
    assert all(p.target is None for p in series)


def test_bytes_of_a_long_stream_spread_over_the_seconds_that_carried_them(
    server: TestServer,
) -> None:
    out = _run(server.url("/knee?burst=100000&slow=400"), 2.5, concurrency=2, workers=1)
    assert out.stats.requests == 0  # the streams outlast the run: none finished
    assert [p.requests for p in out.series] == [0, 0, 0]
    # Yet every second carried bytes: they are counted as they arrive.
    assert all(p.bytes > 0 for p in out.series)


def test_the_dashboard_gets_the_seconds_as_they_close(server: TestServer) -> None:
    seen: list[Progress] = []
    spec = RequestSpec(url=server.url("/delay?ms=5"), auth="none")
    config = LoadConfig(spec, 2, None, 2.6, None, 2, live=True)
    out = run_load(config, seen.append)
    with_series = [p.series for p in seen if p.series]
    assert with_series, "no second reached the dashboard"
    assert [len(s) for s in with_series] == sorted(len(s) for s in with_series)
    assert with_series[-1][0] == out.series[0]  # the same merged points as the result


def test_a_second_closed_by_a_request_waits_to_be_shipped(monkeypatch: pytest.MonkeyPatch) -> None:
    """The worker ships when a second is closed, whoever closed it (a request or the clock)."""
    clock = Clock(monkeypatch)
    begin = clock.now
    rec = SeriesRecorder(begin)
    assert not rec.closed
    clock.now = begin + S + 5  # the first request after the boundary closes second 0
    rec.start()
    assert rec.closed and rec.boundary_ns == begin + 2 * S
    assert [s["k"] for s in rec.take()] == [0] and not rec.closed
