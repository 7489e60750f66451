"""compare-modes against the real embedded emulator: the quickstart, end to end.

The emulator runs with ``--time-scale`` so that its 2 MBps caps and their
knees show up in a second instead of several; the limits themselves are
sizes, which the time scale does not touch.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from lstream_cli._exitcodes import ExitStatus
from lstream_cli.cli import run
from lstream_cli.compare import DEFAULT_SIZES
from lstream_cli.emulator import EmulatorConfig, running_emulator
from lstream_cli.limits import LABEL_APIGW_SIZE, LABEL_BUFFERED, STREAM_BURST
from lstream_cli.modes import MODES
from tests.conftest import Spawn

SCHEMA = json.loads((Path(__file__).parent.parent / "schemas/compare.schema.json").read_text())


def test_no_target_compares_all_six_modes_on_the_emulator(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import jsonschema

    res = tmp_path / "r.json"
    code = run(
        ["compare-modes", "--sizes", "1MB,7MB,12MB", "--time-scale", "3", "--json", str(res)]
    )
    err = capsys.readouterr().err
    assert code == ExitStatus.SUCCESS, err
    doc = json.loads(res.read_text())
    jsonschema.validate(doc, SCHEMA)
    assert doc["emulator"] is True and doc["interrupted"] is False
    r = {(row["mode"], row["size"]): row for row in doc["rows"]}
    assert len(r) == 18
    ok = {key for key, row in r.items() if row["ok"]}
    failed = set(r) - ok
    assert failed == {
        ("buffered", 7_000_000),
        ("buffered", 12_000_000),
        ("invoke", 7_000_000),
        ("invoke", 12_000_000),
        ("apigw", 12_000_000),
    }
    for key in ok:
        assert r[key]["bytes"] == key[1], key
    for s in (7_000_000, 12_000_000):
        assert r[("buffered", s)]["status"] == 502
        assert r[("buffered", s)]["limit"] == LABEL_BUFFERED
        inv = r[("invoke", s)]
        assert (inv["status"], inv["limit"]) == (200, LABEL_BUFFERED)
        assert "Function.ResponseSizeTooLarge" in inv["error_detail"]
    apigw = r[("apigw", 12_000_000)]
    assert (apigw["status"], apigw["limit"]) == (502, LABEL_APIGW_SIZE)
    assert "Internal server error" in apigw["error_detail"]
    # The stream ran at full speed for its first 6 MiB, then at the capped rate.
    knee = r[("stream", 12_000_000)]["knee"]
    assert knee is not None
    assert 0.7 * STREAM_BURST <= knee["burst_bytes"] <= 1.3 * STREAM_BURST
    assert (
        "Only the streaming function URL, InvokeWithResponseStream and API Gateway STREAM"
        in (doc["conclusion"])
    )
    assert doc["conclusion"] in " ".join(err.split())


def test_quickstart_default_sweep_as_a_process() -> None:
    """``lstream compare-modes`` with its default sizes (time-scaled), JSON on stdout."""
    import jsonschema

    proc = subprocess.run(
        [sys.executable, "-m", "lstream_cli", "compare-modes", "--time-scale", "10", "--json", "-"],
        capture_output=True,
        timeout=120,
    )
    err = proc.stderr.decode()
    assert proc.returncode == ExitStatus.SUCCESS, err
    doc = json.loads(proc.stdout)
    jsonschema.validate(doc, SCHEMA)
    assert doc["sizes"] == list(DEFAULT_SIZES)
    assert len(doc["rows"]) == 6 * len(DEFAULT_SIZES)
    assert "Traceback" not in err
    assert "Up to 5 MB every path works." in " ".join(err.split())


def test_explicit_targets_on_a_running_emulator(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], aws_creds: dict[str, str]
) -> None:
    res = tmp_path / "r.json"
    with running_emulator(EmulatorConfig(throttle=False)) as ep:
        args = ["compare-modes", "--stream", ep.stream + "/", "--invoke", "lstream-emulator"]
        args += ["--endpoint-url", ep.lambda_api, "--sizes", "100kB,7MB", "--json", str(res)]
        code = run(args)
    err = capsys.readouterr().err
    assert code == ExitStatus.SUCCESS, err
    doc = json.loads(res.read_text())
    modes = [row["mode"] for row in doc["rows"]]
    assert modes == ["stream", "invoke", "invoke_stream"] * 2
    r = {(row["mode"], row["size"]): row for row in doc["rows"]}
    assert r[("invoke", 100_000)]["ok"] and r[("invoke", 100_000)]["bytes"] == 100_000
    assert r[("invoke_stream", 7_000_000)]["ok"]
    assert r[("invoke", 7_000_000)]["limit"] == LABEL_BUFFERED
    assert aws_creds["AWS_SECRET_ACCESS_KEY"] not in err + res.read_text()


def test_ctrl_c_on_the_emulator_path_stops_cleanly(tmp_path: Path, spawn: Spawn) -> None:
    """SIGINT mid-sweep: exit 130, the rows so far written whole, the emulator stopped."""
    import re
    import signal
    import time

    res = tmp_path / "r.json"
    cmd = [sys.executable, "-m", "lstream_cli", "compare-modes", "--sizes", "1MB,60MB"]
    proc = spawn([*cmd, "--json", str(res)], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stderr is not None
    # The endpoints are listed once the emulator runs; the first connection to
    # the stream endpoint shows the sweep itself has begun. 60 MB at 2 MBps past
    # the burst takes about 26 s per streaming row: the sweep is surely still
    # running when the signal comes.
    head = b""
    while b"apigw_stream " not in head:
        line = proc.stderr.readline()
        assert line, f"compare-modes ended before its sweep began: {head!r}"
        head += line
    port = int(re.search(rb"  stream +http://127\.0\.0\.1:(\d+)/", head).group(1))  # type: ignore[union-attr]
    deadline = time.monotonic() + 60
    while not _tcp_connections_on(port) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert _tcp_connections_on(port), "the sweep sent no request"
    proc.send_signal(signal.SIGINT)
    _, err_bytes = proc.communicate(timeout=60)
    err = (head + err_bytes).decode()
    assert proc.returncode == ExitStatus.INTERRUPTED, err
    assert "Traceback" not in err
    assert res.exists(), err
    doc = json.loads(res.read_text())
    assert doc["interrupted"] is True and doc["emulator"] is True
    order = [(r["size"], r["mode"]) for r in doc["rows"]]
    expected = [(s, m) for s in (1_000_000, 60_000_000) for m in MODES]
    assert order == expected[: len(order)]
    assert len(order) < len(expected)


def _tcp_connections_on(port: int) -> bool:
    """Whether any TCP connection (open, or closed and in TIME_WAIT) used ``port``."""
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError), open(table) as fh:
            for line in fh.readlines()[1:]:
                local, remote, state = line.split()[1:4]
                ports = {int(local.rsplit(":", 1)[1], 16), int(remote.rsplit(":", 1)[1], 16)}
                if port in ports and state != "0A":  # 0A: the listening socket itself
                    return True
    return False
