"""Exact merging of worker results, -n/-c/-r splitting, thresholds."""

from __future__ import annotations

import dataclasses
import random

import pytest

from lstream_cli._exitcodes import UsageError
from lstream_cli.engine.results import BenchReport, RunStats, build_report
from lstream_cli.engine.thresholds import ThresholdResult, evaluate, parse_threshold
from lstream_cli.engine.workers import LoadConfig, plan_workers, split_evenly
from lstream_cli.measure import BodyMeter
from lstream_cli.models import ErrorClass, RequestRecord
from lstream_cli.request import RequestSpec
from lstream_cli.stats import Histogram, percentile_exact


def _record(ttfb_us: int, total_us: int, status: int = 200, reads: int = 3) -> RequestRecord:
    meter = BodyMeter(0, keep_timeline=False)
    meter.headers(ttfb_us * 1000, status)
    step = (total_us - ttfb_us) * 1000 // max(1, reads - 1)
    for i in range(reads):
        meter.data(ttfb_us * 1000 + i * step, 100)
    return meter.finish(total_us * 1000, True)


def test_merged_worker_histograms_equal_one_histogram_of_all_values() -> None:
    rng = random.Random(7)
    values = [(rng.randint(50, 5_000_000), rng.randint(1, 90_000)) for _ in range(3000)]
    parts = [RunStats(), RunStats(), RunStats()]
    whole = RunStats()
    for i, (ttfb, extra) in enumerate(values):
        rec = _record(ttfb, ttfb + extra)
        parts[i % 3].add(rec)
        whole.add(rec)
    merged = RunStats()
    for p in parts:
        merged.merge_state(p.to_state())  # as shipped from worker processes
    assert merged.requests == whole.requests == 3000
    for name, hist in whole.histograms().items():
        other = merged.histograms()[name]
        assert other.count == hist.count
        assert other.summary() == hist.summary(), name
        assert other.buckets(30) == hist.buckets(30), name
    # And against a histogram filled directly with the raw values.
    direct = Histogram()
    for ttfb, _ in values:
        direct.record_raw(ttfb)
    assert merged.ttfb.summary() == direct.summary()


def test_counts_by_class_and_status_merge() -> None:
    a, b = RunStats(), RunStats()
    a.add(_record(10, 20, status=503))
    a.add(_record(10, 20, status=429))
    b.add(_record(10, 20, status=200))
    meter = BodyMeter(0)
    b.add(meter.finish(5, False, error=ErrorClass.CONNECT, detail="Connection refused"))
    a.merge(b)
    assert a.requests == 4 and a.ok == 1
    assert a.errors == {"http_5xx": 1, "throttled": 1, "connect": 1}
    assert a.status == {503: 1, 429: 1, 200: 1}
    assert a.details == {"connect: Connection refused": 1}
    # Latency histograms only hold requests whose response completed.
    assert a.ttfb.count == 3


@pytest.mark.parametrize(("total", "parts"), [(10, 3), (1, 1), (7, 7), (1000, 6), (5, 2)])
def test_split_evenly_adds_up(total: int, parts: int) -> None:
    shares = split_evenly(total, parts)
    assert sum(shares) == total
    assert max(shares) - min(shares) <= 1
    assert len(shares) == parts


def _config(**kw: object) -> LoadConfig:
    base: dict[str, object] = {
        "spec": RequestSpec(url="http://127.0.0.1:1/", auth="none"),
        "concurrency": 10,
        "requests": 101,
        "duration_s": None,
        "rate": None,
        "workers": 4,
    }
    base.update(kw)
    return LoadConfig(**base)  # type: ignore[arg-type]


def test_plan_splits_requests_and_connections_exactly() -> None:
    plans = plan_workers(_config())
    assert len(plans) == 4
    assert sum(p.requests or 0 for p in plans) == 101
    assert sum(p.concurrency for p in plans) == 10


def test_plan_never_has_more_workers_than_connections_or_requests() -> None:
    assert len(plan_workers(_config(concurrency=2))) == 2
    assert len(plan_workers(_config(requests=1))) == 1


def test_plan_splits_rate_with_interleaved_phases() -> None:
    plans = plan_workers(_config(requests=None, duration_s=2.0, rate=100.0, workers=4))
    assert sum(p.rate or 0 for p in plans) == pytest.approx(100.0)
    assert [p.rate_offset_s for p in plans] == pytest.approx([0.0, 0.01, 0.02, 0.03])


def _report(**errors: int) -> BenchReport:
    stats = RunStats()
    for i in range(100):
        stats.add(_record(1000 + i * 10, 5000 + i * 10))
    stats.begin_ns, stats.end_ns = 0, 1_000_000_000
    report = build_report(stats, "http://x/")
    return dataclasses.replace(report, errors={ErrorClass(k): v for k, v in errors.items()})


@pytest.mark.parametrize(
    ("expr", "ok"),
    [
        ("ttfb_ms.p99<500", True),
        ("ttfb_ms.p99 < 1", False),
        ("ttfb_ms.max<=1.99", True),
        ("ttfb_ms.min>=1", True),
        ("ttfb_ms.min>1", False),
        ("total_ms.mean>5", True),
        ("rps>=100", True),
        ("rps>100", False),
        ("errors.count==0", True),
        ("errors.rate<0.01", True),
    ],
)
def test_thresholds_state_the_requirement(expr: str, ok: bool) -> None:
    [result] = evaluate([parse_threshold(expr)], _report())
    assert result.ok is ok
    assert result.expr == expr.strip()


def test_error_rate_threshold_breached() -> None:
    report = _report(http_5xx=5)
    assert report.requests == 100
    [result] = evaluate([parse_threshold("errors.rate<0.01")], report)
    assert result == ThresholdResult(expr="errors.rate<0.01", value=0.05, ok=False)
    assert result.to_json() == {"expr": "errors.rate<0.01", "value": 0.05, "ok": False}


def test_threshold_without_a_value_is_breached() -> None:
    stats = RunStats()
    stats.begin_ns, stats.end_ns = 0, 1
    report = build_report(stats, "http://x/")
    [result] = evaluate([parse_threshold("ttfb_ms.p99<500")], report)
    assert result.ok is False and result.value is None


@pytest.mark.parametrize(
    "expr",
    ["ttfb_ms<500", "ttfb.p99<5", "ttfb_ms.p98<5", "ttfb_ms.p99<<5", "ttfb_ms.p99<abc", "", "rps"],
)
def test_bad_threshold_is_a_usage_error(expr: str) -> None:
    with pytest.raises(UsageError):
        parse_threshold(expr)


@pytest.mark.parametrize(
    ("values", "p", "expected"),
    [
        ([], 99.0, None),
        ([7], 99.0, 7),
        ([3, 1, 2], 50.0, 2),
        (list(range(1, 101)), 99.0, 99),
        (list(range(100, 0, -1)), 100.0, 100),
        (list(range(1, 1001)), 99.9, 999),
    ],
)
def test_percentile_exact_is_nearest_rank(
    values: list[int], p: float, expected: int | None
) -> None:
    assert percentile_exact(values, p) == expected


@pytest.mark.parametrize(
    ("cpu_s", "wall_s", "warned"),
    [
        ([0.95], [1.0], True),  # busy for a second: the client may be the limit
        ([0.5, 1.9], [2.0, 2.0], True),  # one busy worker is enough
        ([0.5], [1.0], False),  # half a CPU: not saturated
        ([0.01], [0.01], False),  # 100% of a 10 ms run says nothing (all refused)
    ],
)
def test_cpu_saturation_warning_needs_a_busy_worker_over_a_real_run(
    cpu_s: list[float], wall_s: list[float], warned: bool
) -> None:
    stats = RunStats()
    stats.begin_ns, stats.end_ns = 0, 1_000_000_000
    stats.cpu_s, stats.wall_s = cpu_s, wall_s
    client = build_report(stats, "http://x/").client
    assert any("CPU" in w for w in client.warnings) is warned
    assert client.saturated is warned
    assert client.cpu_pct_max == pytest.approx(
        max(100 * c / w for c, w in zip(cpu_s, wall_s, strict=True))
    )


def test_event_loop_lag_makes_a_closed_loop_run_saturated_whatever_the_cpu() -> None:
    stats = RunStats()
    stats.begin_ns, stats.end_ns = 0, 1_000_000_000
    stats.cpu_s, stats.wall_s = [0.3], [1.0]  # 30% of a CPU: no CPU warning
    for _ in range(100):
        stats.lag.record_raw(35_000)  # 35 ms late ticks
    client = build_report(stats, "http://x/").client
    assert client.saturated is True
    assert client.reason == "event-loop lag p99 35.0 ms (over 20 ms)"
    assert client.to_json()["reason"] == client.reason


def test_a_run_that_kept_up_has_no_saturation_reason() -> None:
    stats = RunStats()
    stats.begin_ns, stats.end_ns = 0, 1_000_000_000
    stats.cpu_s, stats.wall_s = [0.3], [1.0]
    stats.lag.record_raw(1_000)
    stats.requests, stats.late = 100, 5  # 5% late: at the threshold, not over it
    client = build_report(stats, "http://x/").client
    assert (client.saturated, client.reason, client.warnings) == (False, None, ())
    assert client.to_json()["saturated"] is False and client.to_json()["reason"] is None
