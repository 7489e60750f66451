"""``lstream get --events``: counts, TTFE, gaps, rates and stalls against a scripted server."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from lstream_cli._exitcodes import ExitStatus
from lstream_cli.cli import run
from lstream_cli.engine.single import fetch
from lstream_cli.measure import MeterOptions
from lstream_cli.models import ErrorClass
from lstream_cli.request import RequestSpec
from tests.scripted_server import SENT_AT, ScriptedServer, scripted_server

SCHEMA = json.loads((Path(__file__).parent.parent / "schemas" / "get.schema.json").read_text())


@pytest.fixture(scope="module")
def server() -> Iterator[ScriptedServer]:
    with scripted_server() as s:
        yield s


def _get(args: list[str], tmp_path: Path) -> tuple[int, dict[str, Any]]:
    res = tmp_path / "r.json"
    code = run(["get", *args, "--auth", "none", "-o", "/dev/null", "--json", str(res)])
    doc = json.loads(res.read_text())
    jsonschema.validate(doc, SCHEMA)
    return code, doc


def test_sse_events_counted_from_the_same_start(server: ScriptedServer, tmp_path: Path) -> None:
    url = f"{server.base}/sse?n=6&gap_ms=60&first_ms=150&comment=1"
    code, doc = _get([url, "--events", "sse"], tmp_path)
    assert code == 0
    assert doc["events"] == 6
    # the prelude comment is the first byte, not an event
    assert doc["ttfb_ms"] < doc["ttfe_ms"]
    assert doc["ttfe_ms"] >= 150  # the server waited 150 ms before the first event
    gaps = doc["event_gap_ms"]
    assert set(gaps) == {"p50", "p90", "p99", "max"}
    assert gaps["p50"] <= gaps["p90"] <= gaps["p99"] <= gaps["max"]
    assert gaps["max"] > 0
    assert doc["events_per_s"] > 0


def test_an_event_split_across_reads_counts_at_its_last_byte(
    server: ScriptedServer, tmp_path: Path
) -> None:
    target = "/sse?n=3&gap_ms=10&split_ms=120"
    spec = RequestSpec(url=server.base + target, auth="none", timeout=10.0)
    t0 = time.perf_counter_ns()
    record = fetch(spec, options=MeterOptions(events="sse"))
    marks = SENT_AT[target]
    assert record.events == 3
    assert record.first_event_ns is not None and record.first_byte_ns is not None
    # stamped when its last byte came (written 120 ms after its first half), not before
    assert record.t_start_ns + record.first_event_ns >= marks["event0"] >= t0
    assert record.first_event_ns >= record.first_byte_ns
    assert record.reads >= 2


def test_crlf_and_an_unterminated_last_event(server: ScriptedServer, tmp_path: Path) -> None:
    code, doc = _get(
        [f"{server.base}/sse?n=4&gap_ms=5&crlf=1&open_end=1", "--events", "sse"], tmp_path
    )
    assert code == 0
    assert doc["events"] == 3  # the fourth never got its blank line


def test_ndjson_rows_and_auto(server: ScriptedServer, tmp_path: Path) -> None:
    url = f"{server.base}/ndjson?n=5&gap_ms=30&blank=1"
    code, doc = _get([url, "--events", "ndjson"], tmp_path)
    assert (code, doc["events"]) == (0, 5)  # blank lines are not rows
    code, doc = _get(
        [f"{server.base}/ndjson?n=4&gap_ms=5&no_final_lf=1", "--events", "auto"], tmp_path
    )
    assert (code, doc["events"]) == (0, 4)  # the last row completes with the body
    # auto on a body that is neither: no event figures
    code, doc = _get([f"{server.base}/chunked?n=2", "--events", "auto"], tmp_path)
    assert code == 0
    assert doc["events"] is None and doc["ttfe_ms"] is None and doc["event_gap_ms"] is None


def test_lines_count_every_line(server: ScriptedServer, tmp_path: Path) -> None:
    code, doc = _get([f"{server.base}/ndjson?n=3&gap_ms=5&blank=1", "--events", "lines"], tmp_path)
    assert (code, doc["events"]) == (0, 6)


def test_without_events_the_fields_are_null(server: ScriptedServer, tmp_path: Path) -> None:
    code, doc = _get([f"{server.base}/sse?n=2&gap_ms=5"], tmp_path)
    assert code == 0
    assert (doc["events"], doc["ttfe_ms"], doc["event_gap_ms"], doc["events_per_s"]) == (
        None,
        None,
        None,
        None,
    )


def test_stall_timeout_ends_a_stream_that_sends_only_keep_alives(
    server: ScriptedServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # two events, then keep-alive comments for 3 s: bytes, but no event
    url = f"{server.base}/sse?n=5&gap_ms=10&stall_after=2&stall_ms=3000"
    code, doc = _get([url, "--events", "sse", "--stall-timeout", "400ms"], tmp_path)
    assert code == int(ExitStatus.NETWORK)  # a time-out, as --timeout
    assert doc["error"] == "stalled"
    assert doc["complete"] is False
    assert doc["events"] == 2
    err = capsys.readouterr().err
    assert "stalled" in err and "--stall-timeout" in err
    assert "Traceback" not in err


def test_stall_timeout_without_events_watches_bytes(server: ScriptedServer, tmp_path: Path) -> None:
    # 1.5 s without an event but a keep-alive comment every 50 ms: bytes keep
    # coming, so a 1 s limit on bytes never trips (a wide margin on a busy machine)
    url = f"{server.base}/sse?n=3&gap_ms=10&stall_after=1&stall_ms=1500"
    code, doc = _get([url, "--stall-timeout", "1s"], tmp_path)
    assert (code, doc["error"], doc["complete"]) == (0, None, True)
    # with events on, the same stream stalls
    spec = RequestSpec(
        url=server.base + "/sse?n=3&gap_ms=10&stall_after=1&stall_ms=2000",
        auth="none",
        timeout=10.0,
    )
    record = fetch(spec, options=MeterOptions(events="sse", stall_timeout_ns=400_000_000))
    assert record.error is ErrorClass.STALLED
    assert record.events == 1
    assert record.error_detail is not None and "after event 1" in record.error_detail


def test_bad_stall_timeout_is_a_usage_error(
    server: ScriptedServer, capsys: pytest.CaptureFixture[str]
) -> None:
    code = run(["get", f"{server.base}/sse", "--stall-timeout", "soon"])
    assert code == int(ExitStatus.USAGE)
    err = capsys.readouterr().err
    assert err.startswith("lstream: error: --stall-timeout") and "Traceback" not in err
    assert run(["get", f"{server.base}/sse", "--stall-timeout", "0s"]) == int(ExitStatus.USAGE)


def test_summary_shows_the_event_lines(
    server: ScriptedServer, capsys: pytest.CaptureFixture[str]
) -> None:
    code = run(
        [
            "get",
            f"{server.base}/sse?n=4&gap_ms=40",
            "--auth",
            "none",
            "-o",
            "/dev/null",
            "--events",
            "sse",
        ]
    )
    assert code == 0
    err = " ".join(capsys.readouterr().err.split())  # the table may wrap
    for label in ("events", "TTFE", "event gaps", "events/s"):
        assert label in err
    assert "largest gap between events" in err


def test_stall_timeout_on_a_content_length_body(server: ScriptedServer, tmp_path: Path) -> None:
    spec = RequestSpec(url=f"{server.base}/length-pause?pause_ms=1500", auth="none", timeout=10.0)
    record = fetch(spec, options=MeterOptions(stall_timeout_ns=300_000_000))
    assert (record.error, record.bytes, record.complete) == (ErrorClass.STALLED, 100, False)
    whole = fetch(spec, options=MeterOptions(stall_timeout_ns=3_000_000_000))
    assert (whole.error, whole.bytes, whole.complete) == (None, 200, True)


def test_a_stall_deadline_already_past_times_out_rather_than_failing_the_read() -> None:
    import socket

    from lstream_cli.engine.h1 import _arm

    a, b = socket.socketpair()
    with a, b:
        # the deadline passed before the next recv was armed: the shortest wait
        # (never 0, which would mean no limit), so a time-out, and the stall
        _arm(a, socket.SO_RCVTIMEO, 1e-6)
        with pytest.raises(BlockingIOError):
            a.recv(10)
        b.sendall(b"x")  # bytes already waiting are still taken
        _arm(a, socket.SO_RCVTIMEO, 1e-6)
        assert a.recv(10) == b"x"
