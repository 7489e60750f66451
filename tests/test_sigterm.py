"""SIGTERM ends get, bench and compare-modes as Ctrl-C does, with exit 143.

Real processes, real signals: the partial report and the ``--json`` file are
written, one line says why, bench leaves no worker (nor multiprocessing's
resource tracker) behind and prints no leaked-semaphore warning.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from lstream_cli._exitcodes import ExitStatus
from tests.conftest import Spawn
from tests.scripted_server import ScriptedServer, scripted_server

LSTREAM = [sys.executable, "-m", "lstream_cli"]


@pytest.fixture(scope="module")
def server() -> Iterator[ScriptedServer]:
    with scripted_server() as s:
        yield s


def _wait_for_requests(server: ScriptedServer, n: int, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and len(server.requests) < n:
        time.sleep(0.05)
    assert len(server.requests) >= n, "the run never started"


def _group_gone(pgid: int, timeout_s: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    return False


def test_get_sigterm_keeps_bytes_writes_json_exits_143(
    server: ScriptedServer, tmp_path: Path, spawn: Spawn
) -> None:
    out, res = tmp_path / "partial.bin", tmp_path / "r.json"
    url = f"{server.base}/chunked?n=100&size=1000&gap_ms=100"
    proc = spawn(
        [*LSTREAM, "get", url, "--auth", "none", "-o", str(out), "--json", str(res)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and (not out.exists() or out.stat().st_size < 3000):
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=20)
    assert proc.returncode == ExitStatus.TERMINATED == 143
    text = err.decode()
    assert "Traceback" not in text
    assert text.strip().splitlines()[-1].startswith("lstream: error: terminated (SIGTERM): the ")
    doc = json.loads(res.read_text())
    assert doc["complete"] is False and doc["bytes"] >= 3000
    assert doc["error_detail"] == "terminated (SIGTERM)"  # not Ctrl-C: says what stopped it
    assert "INCOMPLETE (terminated (SIGTERM))" in text
    assert out.stat().st_size == doc["bytes"]  # every byte received was written


@pytest.mark.parametrize("workers", [1, 2])
@pytest.mark.parametrize("to", ["process", "group"])
def test_bench_sigterm_writes_the_partial_report_and_leaves_nothing_behind(
    server: ScriptedServer, tmp_path: Path, spawn: Spawn, workers: int, to: str
) -> None:
    res = tmp_path / "r.json"
    url = f"{server.base}/chunked?n=20&size=100&gap_ms=50"
    before = len(server.requests)
    proc = spawn(
        [*LSTREAM, "bench", url, "-z", "60s", "-c", "2", "--workers", str(workers),
         "--auth", "none", "--json", str(res)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )  # fmt: skip
    _wait_for_requests(server, before + 2 * workers)
    time.sleep(1.5)  # some requests complete (each takes ~1 s)
    if to == "group":  # as systemd or `kill -TERM -- -PGID` send it: the workers get it too
        os.killpg(proc.pid, signal.SIGTERM)
    else:  # as `timeout` and `kill PID` send it
        proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    text = err.decode()
    assert proc.returncode == ExitStatus.TERMINATED, text
    assert "Traceback" not in text
    assert "leaked" not in text and "resource_tracker" not in text
    assert "lstream: error: terminated (SIGTERM): the report above is partial" in text
    doc = json.loads(res.read_text())
    assert doc["interrupted"] is True and doc["requests"] >= 1
    assert _group_gone(proc.pid), "a worker or the resource tracker outlived the run"


def test_compare_modes_sigterm_writes_what_was_measured(
    server: ScriptedServer, tmp_path: Path, spawn: Spawn
) -> None:
    res = tmp_path / "r.json"
    url = f"{server.base}/chunked?n=100&size=10&gap_ms=100"
    before = len(server.requests)
    proc = spawn(
        [*LSTREAM, "compare-modes", "--stream", url, "--sizes", "1B,2B", "--no-warmup",
         "--auth", "none", "--json", str(res)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )  # fmt: skip
    _wait_for_requests(server, before + 1)
    time.sleep(0.5)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    text = err.decode()
    assert proc.returncode == ExitStatus.TERMINATED, text
    assert "Traceback" not in text
    assert "lstream: error: terminated (SIGTERM): the rows above are the cells measured" in text
    doc = json.loads(res.read_text())
    assert doc["interrupted"] is True


def test_sigint_still_exits_130(server: ScriptedServer, tmp_path: Path, spawn: Spawn) -> None:
    url = f"{server.base}/chunked?n=100&size=1000&gap_ms=100"
    before = len(server.requests)
    proc = spawn(
        [*LSTREAM, "get", url, "--auth", "none", "-o", os.devnull],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    _wait_for_requests(server, before + 1)
    time.sleep(0.3)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=20)
    assert proc.returncode == ExitStatus.INTERRUPTED
    assert b"lstream: error: interrupted" in err
