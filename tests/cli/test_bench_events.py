"""``lstream bench --events``: TTFE, every event gap, per-stream rates, stalls, thresholds."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from lstream_cli.cli import run
from lstream_cli.stats import Histogram
from tests.scripted_server import ScriptedServer, scripted_server

SCHEMA = json.loads(
    (Path(__file__).resolve().parents[2] / "schemas" / "bench.schema.json").read_text()
)


@pytest.fixture(scope="module")
def sse_server() -> Iterator[ScriptedServer]:
    with scripted_server() as s:
        yield s


def _bench(tmp_path: Path, *args: str) -> tuple[int, dict[str, Any]]:
    out = tmp_path / "bench.json"
    code = run(["bench", *args, "--auth", "none", "--no-dashboard", "--json", str(out)])
    doc = json.loads(out.read_text())
    jsonschema.validate(doc, SCHEMA)
    return code, doc


@pytest.mark.parametrize("workers", ["1", "2"])
def test_every_gap_of_every_stream_is_recorded_and_merged(
    sse_server: ScriptedServer, tmp_path: Path, workers: str
) -> None:
    url = f"{sse_server.base}/sse?n=5&gap_ms=20&comment=1"
    code, doc = _bench(tmp_path, url, "-n", "6", "-c", "3", "--workers", workers, "--events", "sse")
    assert code == 0
    assert doc["ok"] == 6
    assert doc["events"] == 30
    assert doc["events_format"] == "sse"
    assert doc["ttfe_ms"]["count"] == 6
    assert doc["event_gap_ms"]["count"] == 6 * 4  # every interval, not one per stream
    assert doc["events_per_s"]["count"] == 6
    # the comment came first: TTFE after TTFB, on every percentile
    assert doc["ttfe_ms"]["min"] >= doc["ttfb_ms"]["min"]
    assert doc["event_gap_ms"]["max"] > 0
    hist = Histogram.from_state(doc["histograms"]["event_gap_ms"])
    assert hist.count == 24
    assert doc["histograms"]["ttfe_ms"]


def test_without_events_the_figures_are_empty(sse_server: ScriptedServer, tmp_path: Path) -> None:
    code, doc = _bench(tmp_path, f"{sse_server.base}/sse?n=3&gap_ms=1", "-n", "2", "--workers", "1")
    assert code == 0
    assert doc["events"] is None and doc["events_format"] is None
    assert doc["ttfe_ms"]["count"] == 0 and doc["event_gap_ms"]["count"] == 0


def test_stalled_streams_are_errors(sse_server: ScriptedServer, tmp_path: Path) -> None:
    url = f"{sse_server.base}/sse?n=5&gap_ms=5&stall_after=1&stall_ms=3000"
    flags = ["-n", "2", "-c", "2", "--workers", "1", "--events", "sse", "--stall-timeout", "300ms"]
    code, doc = _bench(tmp_path, url, *flags)
    assert doc["errors"] == {"stalled": 2}
    assert code == 5  # every request failed the same way: get's code for it
    assert doc["events"] == 2  # the event each sent before stalling still counts
    assert doc["stall_timeout_s"] == 0.3
    assert any("after event 1" in k for k in doc["error_details"])


def test_event_thresholds(sse_server: ScriptedServer, tmp_path: Path) -> None:
    url = f"{sse_server.base}/sse?n=3&gap_ms=10"
    flags = ["-n", "2", "--workers", "1", "--events", "auto"]
    limits = ["--fail-if", "ttfe_ms.p99<100000", "--fail-if", "event_gap_ms.p99<0.001"]
    code, doc = _bench(tmp_path, url, *flags, *limits)
    assert code == 6
    assert [t["ok"] for t in doc["thresholds"]] == [True, False]
    assert doc["thresholds"][1]["value"] > 0.001


def test_event_threshold_without_events_is_a_usage_error(
    sse_server: ScriptedServer, capfd: pytest.CaptureFixture[str]
) -> None:
    before = len(sse_server.requests)
    code = run(["bench", f"{sse_server.base}/sse", "--fail-if", "ttfe_ms.p99<800"])
    err = capfd.readouterr().err
    assert code == 2
    assert "needs --events" in err and "Traceback" not in err
    assert len(sse_server.requests) == before


def test_report_shows_event_rows(
    sse_server: ScriptedServer, capfd: pytest.CaptureFixture[str]
) -> None:
    url = f"{sse_server.base}/ndjson?n=4&gap_ms=5"
    code = run(["bench", url, "-n", "2", "--workers", "1", "--auth", "none", "--events", "ndjson"])
    assert code == 0
    err = capfd.readouterr().err
    assert "TTFE (ms)" in err and "event gap (ms)" in err and "events/s per stream" in err
    assert "events   8 (ndjson); 2 of 2 responses had at least one" in " ".join(err.split("\n"))


def test_stall_without_events_watches_bytes(sse_server: ScriptedServer, tmp_path: Path) -> None:
    # three chunks 700 ms apart: silences of 700 ms after the first byte
    url = f"{sse_server.base}/chunked?n=3&size=10&gap_ms=700"
    flags = ["-n", "1", "--workers", "1", "--stall-timeout", "250ms"]
    code, doc = _bench(tmp_path, url, *flags)
    assert doc["errors"] == {"stalled": 1}
    assert any("no byte for 250 ms" in k for k in doc["error_details"])
    # keep-alive comments every 50 ms for 1.5 s: bytes keep coming, a 1 s limit never trips
    url = f"{sse_server.base}/sse?n=2&gap_ms=5&stall_after=1&stall_ms=1500"
    flags = ["-n", "1", "--workers", "1", "--stall-timeout", "1s"]
    code, doc = _bench(tmp_path, url, *flags)
    assert (code, doc["errors"], doc["ok"]) == (0, {}, 1)


def test_the_dashboard_counts_events_and_ttfe(sse_server: ScriptedServer) -> None:
    from lstream_cli.engine.workers import LoadConfig, Progress, run_load
    from lstream_cli.measure import MeterOptions
    from lstream_cli.render.bench import format_progress
    from lstream_cli.request import RequestSpec

    seen: list[Progress] = []
    spec = RequestSpec(url=f"{sse_server.base}/sse?n=5&gap_ms=10", auth="none", timeout=10.0)
    config = LoadConfig(
        spec=spec,
        concurrency=2,
        requests=4,
        duration_s=None,
        rate=None,
        workers=1,
        live=True,
        meter_options=MeterOptions(events="sse"),
    )
    outcome = run_load(config, seen.append)
    assert outcome.stats.events == 20
    last = seen[-1]
    assert last.events == 20
    assert last.ttfe_p50_ms is not None and last.ttfe_p99_ms is not None
    assert last.ttfe_p50_ms <= last.ttfe_p99_ms
    assert "events 20" in str(format_progress(last))


@pytest.mark.parametrize("n", ["50", "5000"])  # 1.2 kB through llhttp; 140 kB counted raw
def test_content_length_bodies_small_and_counted_raw(
    sse_server: ScriptedServer, tmp_path: Path, n: str
) -> None:
    url = f"{sse_server.base}/sse-length?n={n}"
    code, doc = _bench(tmp_path, url, "-n", "4", "-c", "2", "--workers", "1", "--events", "auto")
    assert code == 0
    assert doc["events"] == 4 * int(n)
    assert doc["ttfe_ms"]["count"] == 4
