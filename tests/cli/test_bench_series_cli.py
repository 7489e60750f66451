"""``bench --stages`` and ``--csv-series`` end to end: usage errors, the CSV, the JSON."""

from __future__ import annotations

import contextlib
import csv
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import jsonschema
import pytest

from lstream_cli.cli import run
from lstream_cli.render.bench import SERIES_COLUMNS
from tests.conftest import Spawn
from tests.engine.httpserver import TestServer

SCHEMA = json.loads(
    (Path(__file__).resolve().parents[2] / "schemas" / "bench.schema.json").read_text()
)


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--stages", "30s"], "--stages: stage '30s' is not DURATION:TARGET"),
        (["--stages", "1s:5,,1s:0"], "--stages: empty stage"),
        (["--stages", "1x:5"], "--stages: stage '1x:5': invalid duration unit"),
        (["--stages", "1s:-5"], "the target must be a number >= 0"),
        (["--stages", "0s:5"], "last no time at all"),
        (["--stages", "1s:0,1s:0"], "every target is 0"),
        (["--stages", "1s:2.5"], "a closed-loop target is a number of connections"),
        (["--stages", "1s:5", "-n", "10"], "--stages and -n/--requests exclude each other"),
        (["--stages", "1s:5", "-z", "10s"], "--stages and -z/--duration exclude each other"),
        (["--stages", "1s:5", "--warmup", "2s"], "--stages and --warmup exclude each other"),
        (["--stages", "1s:0", "-r", "0"], "never add up to one request"),
        (["--stages", "1s:5", "-r", "-1"], "-r/--rate must be a number"),
        (["-r", "0", "-z", "1s"], "-r/--rate must be a positive"),  # 0 only with --stages
        (["--json", "-", "--csv-series", "-"], "--json - and --csv-series - cannot both"),
        (["--csv", "a.csv", "--csv-series", "./a.csv"], "--csv and --csv-series both name"),
        (["--csv-series", "/nonexistent-dir/s.csv"], "--csv-series /nonexistent-dir/s.csv"),
    ],
)
def test_bad_stage_flags_are_usage_errors_before_sending(
    server: TestServer, capfd: pytest.CaptureFixture[str], flags: list[str], message: str
) -> None:
    code = run(["bench", server.url("/ok"), "--workers", "1", *flags])
    err = capfd.readouterr().err
    assert code == 2
    assert message in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert server.requests == 0


def test_a_staged_run_writes_its_series_to_json_and_csv(
    server: TestServer, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    out, series_csv = tmp_path / "run.json", tmp_path / "series.csv"
    code = run(
        [
            "bench", server.url("/delay?ms=30"), "--workers", "2",
            "--stages", "1s:6,1s:6,1s:0",
            "--json", str(out), "--csv-series", str(series_csv),
        ]
    )  # fmt: skip
    assert code == 0, capfd.readouterr().err
    doc = json.loads(out.read_text())
    jsonschema.validate(doc, SCHEMA)
    assert doc["schema_version"] == 2
    assert doc["stages"] == {
        "start": 0.0,
        "stages": [
            {"duration_s": 1.0, "target": 6.0},
            {"duration_s": 1.0, "target": 6.0},
            {"duration_s": 1.0, "target": 0.0},
        ],
    }
    assert doc["mode"] == "closed" and doc["concurrency"] == 6
    assert doc["duration_target_s"] == 3.0
    series = doc["series"]
    # A request still in flight as the last stage ends completes just after
    # it: on a busy machine that makes a fourth second, past every stage.
    ts = [p["t_s"] for p in series]
    assert ts in ([0, 1, 2], [0, 1, 2, 3]), ts
    targets = [p["target"] for p in series]
    assert targets[:3] == [3.0, 6.0, 3.0]
    assert targets[3:] in ([], [0.0]), targets
    assert series[1]["in_flight"] > series[0]["in_flight"]
    assert series[1]["in_flight"] > series[2]["in_flight"]
    assert sum(p["requests"] for p in series) == doc["requests"]
    with series_csv.open(newline="") as fh:
        rows = list(csv.reader(fh))
    assert tuple(rows[0]) == SERIES_COLUMNS
    assert len(rows) == 1 + len(series)
    by_name = [dict(zip(rows[0], r, strict=True)) for r in rows[1:]]
    assert [int(r["requests"]) for r in by_name] == [p["requests"] for p in series]
    assert [float(r["in_flight"]) for r in by_name] == [p["in_flight"] for p in series]
    assert [float(r["target"]) for r in by_name] == targets
    assert by_name[1]["status"].startswith("200:")


def test_an_open_loop_stage_run_starts_from_the_given_rate(
    server: TestServer, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run.json"
    code = run(
        [
            "bench", server.url("/ok"), "--workers", "1", "-r", "20",
            "--stages", "1s:60", "--json", str(out),
        ]
    )  # fmt: skip
    assert code == 0, capfd.readouterr().err
    doc = json.loads(out.read_text())
    jsonschema.validate(doc, SCHEMA)
    assert doc["mode"] == "open" and doc["rate"] == 20.0
    assert doc["stages"]["start"] == 20.0
    # 20 -> 60 req/s over 1 s: 40 requests due (the one due at the end never starts).
    assert doc["requests"] + doc["never_started"] + doc["aborted_in_flight"] in (39, 40)
    text = capfd.readouterr().err
    assert "open loop, stages 1s:60 req/s from 20" in text


def test_csv_series_to_stdout(server: TestServer, capfd: pytest.CaptureFixture[str]) -> None:
    code = run(["bench", server.url("/ok"), "--workers", "1", "-z", "1.2s", "--csv-series", "-"])
    assert code == 0
    lines = capfd.readouterr().out.splitlines()
    assert lines[0].split(",") == list(SERIES_COLUMNS)
    assert len(lines) == 3  # seconds 0 and 1 (a partial one)


def test_csv_rows_reach_the_disk_while_the_run_goes_on(
    server: TestServer, tmp_path: Path, spawn: Spawn
) -> None:
    """--csv streams: a temporary sibling fills during the run, renamed into place at its end."""
    target, result = tmp_path / "rows.csv", tmp_path / "run.json"
    proc = spawn(
        [
            sys.executable, "-m", "lstream_cli", "bench", server.url("/delay?ms=5"),
            "-z", "5s", "-c", "2", "--workers", "2",
            "--csv", str(target), "--json", str(result),
        ],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    seen_rows = 0
    deadline = time.monotonic() + 60
    while proc.poll() is None and time.monotonic() < deadline:
        temps = list(tmp_path.glob(".rows.csv.*.tmp"))
        if temps and not target.exists():
            with contextlib.suppress(FileNotFoundError):
                seen_rows = max(seen_rows, len(temps[0].read_text().splitlines()) - 1)
        time.sleep(0.1)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err.decode()
    # Rows were on disk before the run ended (the file's 8 KiB buffer fills
    # after about 80 rows: a busy machine may show only the first flushes).
    assert seen_rows > 0
    with target.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == json.loads(result.read_text())["requests"] > seen_rows
    assert list(tmp_path.glob(".rows.csv.*")) == []  # the temporary is gone


def test_a_csv_that_cannot_be_written_is_an_error_with_nothing_left_behind(
    server: TestServer, capfd: pytest.CaptureFixture[str]
) -> None:
    code = run(["bench", server.url("/ok"), "-n", "400", "--workers", "1", "--csv", "/dev/full"])
    err = capfd.readouterr().err
    assert code == 1
    assert "lstream: error: cannot write /dev/full: No space left on device" in err
    assert "Traceback" not in err


def test_a_streamed_csv_is_whole_or_not_at_all(tmp_path: Path) -> None:
    """A failed run discards its rows; a finished one puts them in place, header first."""
    from lstream_cli.render.bench import CsvStream

    kept, dropped = tmp_path / "kept.csv", tmp_path / "dropped.csv"
    a = CsvStream(str(kept), ("a", "b"))
    b = CsvStream(str(dropped), ("a", "b"))
    for stream in (a, b):
        stream.write([(1, None), (2, 3.5)])
    assert not kept.exists() and not dropped.exists()  # nothing in place before the end
    a.close()
    b.discard()
    assert kept.read_bytes() == b"a,b\r\n1,\r\n2,3.5\r\n"
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith("_")) == ["kept.csv"]


def test_events_per_second_count_the_events_as_they_arrive(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """With --events, each second counts the events that arrived in it, long streams too."""
    from tests.scripted_server import scripted_server

    out = tmp_path / "run.json"
    with scripted_server() as sse:
        # 25 events 100 ms apart: about 2.4 s per stream.
        url = f"{sse.base}/sse?n=25&gap_ms=100"
        flags = ["-z", "3s", "-c", "2", "--workers", "1", "--events", "sse"]
        code = run(["bench", url, "--auth", "none", *flags, "--json", str(out)])
    assert code == 0, capfd.readouterr().err
    doc = json.loads(out.read_text())
    jsonschema.validate(doc, SCHEMA)
    series = doc["series"]
    # Three seconds; on a busy machine the end of -z may be noticed more than 10 ms
    # late, and that last sliver is kept as a fourth second, in which nothing started.
    assert [p["t_s"] for p in series][:3] == [0, 1, 2] and len(series) <= 4
    assert all(p["started"] == 0 for p in series[3:])
    # No stream finished in its first two seconds, yet their events arrived in them.
    assert series[0]["requests"] == series[1]["requests"] == 0
    assert all(p["events_per_s"] is not None and p["events_per_s"] > 0 for p in series[:3])
    counted = sum(round(p["events_per_s"] * p["span_s"]) for p in series)
    assert counted >= doc["events"]  # the run's events, and those of the streams cut at the end


def test_without_events_the_series_has_no_event_rate(
    server: TestServer, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run.json"
    assert (
        run(["bench", server.url("/ok"), "-z", "1.2s", "--workers", "1", "--json", str(out)]) == 0
    )
    assert {p["events_per_s"] for p in json.loads(out.read_text())["series"]} == {None}


@pytest.mark.parametrize("workers", ["1", "2"])
def test_ctrl_c_puts_the_streamed_csv_in_place_whole(
    server: TestServer, tmp_path: Path, spawn: Spawn, workers: str
) -> None:
    rows_csv, result, series_csv = tmp_path / "rows.csv", tmp_path / "r.json", tmp_path / "s.csv"
    proc = spawn(
        [
            sys.executable, "-m", "lstream_cli", "bench", server.url("/delay?ms=20"),
            "-z", "60s", "-c", "4", "--workers", workers, "--csv", str(rows_csv),
            "--json", str(result), "--csv-series", str(series_csv),
        ],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 30
    while server.requests < 60 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.requests >= 60, "the run did not start"
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    doc = json.loads(result.read_text())
    with rows_csv.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert doc["interrupted"] is True and len(rows) == doc["requests"] > 0
    with series_csv.open(newline="") as fh:
        assert len(list(csv.DictReader(fh))) == len(doc["series"]) >= 1
    assert sum(p["requests"] for p in doc["series"]) == doc["requests"]
    assert list(tmp_path.glob(".*.tmp")) == []
