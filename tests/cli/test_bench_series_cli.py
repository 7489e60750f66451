"""``bench --stages`` and ``--csv-series`` end to end: usage errors, the CSV, the JSON."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import jsonschema
import pytest

from lstream_cli.cli import run
from lstream_cli.render.bench import SERIES_COLUMNS
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
    assert [p["t_s"] for p in series] == [0, 1, 2]
    assert [p["target"] for p in series] == [3.0, 6.0, 3.0]
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
    assert [float(r["target"]) for r in by_name] == [3.0, 6.0, 3.0]
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
