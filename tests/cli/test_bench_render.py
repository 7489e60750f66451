"""The live dashboard's data and frames, and the final report's text."""

from __future__ import annotations

import dataclasses
import io

from rich.console import Console

from lstream_cli.engine.results import BenchSettings, RunStats, build_report
from lstream_cli.engine.thresholds import ThresholdResult
from lstream_cli.engine.workers import LoadConfig, Progress, run_load
from lstream_cli.render.bench import Dashboard, format_progress, print_report
from lstream_cli.render.console import Output
from lstream_cli.request import RequestSpec
from tests.engine.httpserver import TestServer


def _console() -> tuple[Console, io.StringIO]:
    buf = io.StringIO()
    return Console(file=buf, force_terminal=True, width=120, color_system=None), buf


def test_live_snapshots_reach_the_dashboard(server: TestServer) -> None:
    seen: list[Progress] = []
    config = LoadConfig(
        spec=RequestSpec(url=server.url("/delay?ms=5"), auth="none"),
        concurrency=4,
        requests=None,
        duration_s=0.8,
        rate=None,
        workers=2,
        live=True,
    )
    out = run_load(config, seen.append)
    assert seen, "no progress reached the dashboard"
    last = seen[-1]
    assert last.requests == out.stats.requests  # the final snapshot is complete
    assert last.target_s == 0.8
    assert any(p.ttfb_p50_ms is not None and p.ttfb_p50_ms >= 5.0 for p in seen)
    assert all(p.errors == 0 for p in seen)


def test_dashboard_frames_render_on_a_terminal() -> None:
    console, _ = _console()
    dash = Dashboard(Output(console))
    dash.start()
    dash.update(Progress(1.5, 300, 299, 1, 3000, 200.0, 2000.0, 4.2, 9.9, 1000, None))
    dash.stop()
    text = format_progress(Progress(1.5, 300, 299, 1, 3000, 200.0, 2000.0, 4.2, 9.9, 1000, None))
    assert "300/1000 requests" in str(text) and "p99 9.90 ms" in str(text)
    assert "errors 1" in str(text)


def test_report_text_shows_classes_percentiles_and_client() -> None:
    from lstream_cli.measure import BodyMeter
    from lstream_cli.models import ErrorClass

    stats = RunStats()
    for i in range(50):
        m = BodyMeter(0)
        m.headers(1_000_000 + i * 10_000, 200)
        m.data(2_000_000 + i * 10_000, 100)
        stats.add(m.finish(3_000_000 + i * 10_000, True))
    stats.add(BodyMeter(0).finish(1000, False, error=ErrorClass.THROTTLED))
    stats.begin_ns, stats.end_ns = 0, 1_000_000_000
    stats.cpu_s, stats.wall_s = [0.99], [1.0]
    report = build_report(stats, "http://x/", BenchSettings(concurrency=5, rate=None, workers=1))
    report = dataclasses.replace(
        report, thresholds=(ThresholdResult(expr="ttfb_ms.p99<1", value=2.49, ok=False),)
    )
    console, buf = _console()
    print_report(Output(console), report)
    text = buf.getvalue()
    assert "requests 51  ok 50  errors 1" in text
    assert "throttled 1" in text
    assert "TTFB (ms)" in text and "p99.9" in text
    assert "TTFB distribution" in text
    assert "CPU 99% per worker" in text
    assert "warning:" in text  # 99% CPU: the client may be the bottleneck
    assert "threshold FAIL  ttfb_ms.p99<1" in text


def test_dashboard_frame_fits_an_80_column_terminal() -> None:
    """A line wider than the terminal wraps and pushes the frame around."""
    buf = io.StringIO()
    console = Console(file=buf, force_terminal=True, width=80, color_system=None)
    busy = Progress(
        12.3, 1_234_567, 1_234_000, 567, 10**10, 123_456.0, 1_234.5e6, 1234.56, 12345.67, None, 60.0
    )
    console.print(format_progress(busy))
    lines = buf.getvalue().splitlines()
    assert len(lines) == len(str(format_progress(busy)).splitlines())  # nothing wrapped
    assert all(len(line) <= 80 for line in lines)
    assert "errors 567" in buf.getvalue() and "p50 1.23 s  p99 12.35 s" in buf.getvalue()


def test_times_of_a_second_or_more_carry_one_unit() -> None:
    from lstream_cli.render.bench import format_histogram
    from lstream_cli.stats import Histogram

    frame = str(format_progress(Progress(3.0, 9, 9, 0, 9, 3.0, 9.0, 4.2, 1500.0, 9, None)))
    assert "p50 4.20 ms  p99 1.50 s (last 2 s)" in frame and "s ms" not in frame
    hist = Histogram()
    for v in (200.0, 900.0, 2500.0):
        hist.record(v)
    table = format_histogram(hist, rows=4)
    assert table is not None
    buf = io.StringIO()
    Console(file=buf, width=100, color_system=None).print(table)
    assert "2.50 s" in buf.getvalue() and "s ms" not in buf.getvalue()
