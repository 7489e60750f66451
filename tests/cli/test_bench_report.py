"""The typed bench result: error classes to the exit status, JSON only when written."""

from __future__ import annotations

import dataclasses
import io
import json

import pytest
from rich.console import Console

from lstream_cli._exitcodes import ExitStatus
from lstream_cli.cli.bench import exit_status
from lstream_cli.engine.results import BenchReport, BenchSettings, RunStats, build_report
from lstream_cli.engine.series import SeriesPoint
from lstream_cli.engine.thresholds import evaluate, parse_threshold
from lstream_cli.engine.workers import Progress
from lstream_cli.measure import BodyMeter
from lstream_cli.models import ErrorClass
from lstream_cli.render.bench import format_progress, format_sparklines, print_report
from lstream_cli.render.console import Output
from lstream_cli.stats import Histogram


def _stats(ok: int = 0, **errors: int) -> RunStats:
    stats = RunStats()
    for i in range(ok):
        m = BodyMeter(0)
        m.headers(1_000_000 + i * 1000, 200)
        m.data(1_500_000 + i * 1000, 10)
        stats.add(m.finish(2_000_000 + i * 1000, True))
    for name, n in errors.items():
        for _ in range(n):
            cls = ErrorClass(name)
            stats.add(
                BodyMeter(0).finish(1000, False, error=None if cls is ErrorClass.TRUNCATED else cls)
            )
    stats.begin_ns, stats.end_ns = 0, 1_000_000_000
    return stats


@pytest.mark.parametrize(
    ("errors", "expected"),
    [
        ({"truncated": 3}, ExitStatus.TRUNCATED),
        ({"connect": 2, "timeout": 1}, ExitStatus.NETWORK),
        ({"http_5xx": 2}, ExitStatus.HTTP_ERROR),
        ({"truncated": 1, "connect": 1}, ExitStatus.HTTP_ERROR),  # mixed classes
    ],
)
def test_every_request_failed_exits_with_gets_code_for_the_class(
    errors: dict[str, int], expected: ExitStatus
) -> None:
    report = build_report(_stats(**errors), "http://x/")
    assert all(isinstance(cls, ErrorClass) for cls in report.errors)
    assert exit_status(report, interrupted=False) is expected


def test_a_breached_threshold_exits_6_and_interrupted_wins() -> None:
    report = build_report(_stats(ok=10, http_5xx=1), "http://x/")
    assert exit_status(report, interrupted=False) is ExitStatus.SUCCESS
    graded = dataclasses.replace(
        report, thresholds=evaluate([parse_threshold("errors.count==0")], report)
    )
    assert exit_status(graded, interrupted=False) is ExitStatus.THRESHOLDS
    assert exit_status(graded, interrupted=True) is ExitStatus.INTERRUPTED


def test_report_is_frozen_and_holds_histograms_not_json() -> None:
    report = build_report(_stats(ok=20), "http://x/", BenchSettings(concurrency=3))
    assert isinstance(report, BenchReport)
    with pytest.raises(dataclasses.FrozenInstanceError):
        report.requests = 1  # type: ignore[misc]
    ttfb = report.histograms["ttfb_ms"]
    assert isinstance(ttfb, Histogram) and ttfb.count == 20
    assert report.summaries["ttfb_ms"].min == pytest.approx(1.5)
    assert report.summaries["ttfb_ms"].max == pytest.approx(1.519)


def test_to_json_writes_the_documented_fields_in_order() -> None:
    report = build_report(_stats(ok=5, throttled=2), "http://x/", BenchSettings(concurrency=3))
    doc = report.to_json()
    json.dumps(doc, allow_nan=False)  # plain JSON types only
    assert doc["errors"] == {"throttled": 2}
    assert type(next(iter(doc["errors"]))) is str  # the class's value, not the enum
    assert list(doc)[:9] == [
        "url", "requests", "ok", "errors", "status", "duration_s", "rps", "bytes", "bytes_per_s",
    ]  # fmt: skip
    assert doc["concurrency"] == 3 and doc["mode"] == "closed"
    assert (
        Histogram.from_state(doc["histograms"]["ttfb_ms"]).summary()
        == (report.summaries["ttfb_ms"])
    )


def _point(t: int, requests: int, p99: float | None) -> SeriesPoint:
    pcts = {"p50": p99, "p90": p99, "p99": p99}
    return SeriesPoint(t, 1.0, requests, requests, requests, {}, {}, 1.0, 0, pcts, pcts)


def test_sparklines_scale_each_second_to_the_largest() -> None:
    series = [_point(0, 0, None), _point(1, 50, 10.0), _point(2, 100, 40.0)]
    text = str(format_sparklines(series))
    rps_line, p99_line = text.splitlines()
    assert rps_line.startswith("  req/s    ▁▅█") and rps_line.endswith("max 100")
    assert p99_line.startswith("  TTFB p99  ▃█") and p99_line.endswith("max 40.00 ms")
    frame = str(format_progress(Progress(3.0, 150, 150, 0, 0, 50.0, 0.0, 1.0, 2.0, None, 3.0,
                                         tuple(series))))  # fmt: skip
    assert "req/s    ▁▅█" in frame  # the dashboard draws the same lines


def test_the_final_report_has_the_sparklines_of_its_series() -> None:
    report = dataclasses.replace(
        build_report(_stats(ok=3), "http://x/"),
        series=(_point(0, 2, 1.0), _point(1, 1, 2.0)),
    )
    buf = io.StringIO()
    print_report(Output(Console(file=buf, width=100, color_system=None)), report)
    assert "per second, seconds 0-1 of the run" in buf.getvalue()
    assert "req/s    █▅" in buf.getvalue()
