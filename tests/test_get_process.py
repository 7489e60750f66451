"""``lstream get`` as a real process: pipes, signals, the console script."""

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


def test_broken_pipe_ends_quietly(server: ScriptedServer) -> None:
    url = f"{server.base}/big?size=50000000"
    proc = subprocess.run(
        f"{' '.join(LSTREAM)} get '{url}' --auth none | head -c 10",
        shell=True,
        capture_output=True,
        timeout=60,
        executable="/bin/bash",
    )
    assert proc.stdout == b"0123456789"
    assert b"Traceback" not in proc.stderr
    assert b"Broken pipe" not in proc.stderr
    assert b"error" not in proc.stderr.lower()


def test_broken_pipe_exit_status(server: ScriptedServer) -> None:
    url = f"{server.base}/big?size=50000000"
    proc = subprocess.run(
        f"set -o pipefail; {' '.join(LSTREAM)} get '{url}' --auth none | head -c 10 >/dev/null",
        shell=True,
        capture_output=True,
        timeout=60,
        executable="/bin/bash",
    )
    assert proc.returncode == 0
    assert proc.stderr == b""


def _wait_for_size(path: Path, size: int, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and (not path.exists() or path.stat().st_size < size):
        time.sleep(0.05)


def test_ctrl_c_exits_130_and_keeps_bytes(
    server: ScriptedServer, tmp_path: Path, spawn: Spawn
) -> None:
    out, res = tmp_path / "partial.bin", tmp_path / "r.json"
    url = f"{server.base}/chunked?n=100&size=1000&gap_ms=100"
    proc = spawn(
        [*LSTREAM, "get", url, "--auth", "none", "-o", str(out), "--json", str(res)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    _wait_for_size(out, 3000)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=20)
    assert proc.returncode == ExitStatus.INTERRUPTED
    assert b"Traceback" not in err
    assert b"interrupted" in err
    data = out.read_bytes()
    assert len(data) >= 3000
    assert data[:3000] == b"a" * 1000 + b"b" * 1000 + b"c" * 1000
    # The partial result is still summarised and written (README: exit codes).
    assert b"INCOMPLETE (interrupted" in err
    doc = json.loads(res.read_text())
    assert doc["complete"] is False and doc["error"] is None
    assert doc["error_detail"] == "interrupted (Ctrl-C)"
    assert doc["bytes"] == len(data) and doc["status"] == 200


def test_python_m_and_help_list_exit_codes() -> None:
    proc = subprocess.run([*LSTREAM, "get", "--help"], capture_output=True, timeout=60)
    assert proc.returncode == 0
    text = proc.stdout.decode()
    assert "Examples:" in text and "130" in text and "truncated" in text


def test_missing_argument_is_usage_error() -> None:
    proc = subprocess.run([*LSTREAM, "get"], capture_output=True, timeout=60, env=dict(os.environ))
    assert proc.returncode == ExitStatus.USAGE
    assert b"Traceback" not in proc.stderr
    assert b"Missing argument" in proc.stderr


def test_ctrl_c_works_when_the_shell_started_lstream_ignoring_sigint(
    server: ScriptedServer, tmp_path: Path, spawn: Spawn
) -> None:
    """``lstream get URL &`` from a script inherits SIGINT ignored: kill -INT must still stop it."""
    out = tmp_path / "partial.bin"
    url = f"{server.base}/chunked?n=100&size=1000&gap_ms=100"
    proc = spawn(
        [*LSTREAM, "get", url, "--auth", "none", "-o", str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
    )
    _wait_for_size(out, 2000)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == ExitStatus.INTERRUPTED
    assert b"Traceback" not in err
    assert out.stat().st_size < 100 * 1000  # stopped, not run to the end


def _sh(command: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        command, shell=True, capture_output=True, timeout=60, executable="/bin/bash"
    )


def test_closed_stdout_is_an_error_not_a_traceback(server: ScriptedServer) -> None:
    url = f"{server.base}/chunked?n=2"
    proc = _sh(f"{' '.join(LSTREAM)} get '{url}' --auth none >&-")
    assert proc.returncode == ExitStatus.ERROR
    assert b"Traceback" not in proc.stderr
    assert b"stdout" in proc.stderr and b"closed" in proc.stderr
    proc = _sh(f"{' '.join(LSTREAM)} get '{url}' --auth none -o /dev/null --json - >&-")
    assert proc.returncode == ExitStatus.ERROR
    assert b"Traceback" not in proc.stderr


def test_closed_stderr_still_writes_the_body(server: ScriptedServer, tmp_path: Path) -> None:
    out = tmp_path / "body.txt"
    url = f"{server.base}/chunked?n=2&size=10"
    proc = _sh(f"{' '.join(LSTREAM)} get '{url}' --auth none -o '{out}' 2>&-")
    assert proc.returncode == ExitStatus.SUCCESS
    assert out.read_bytes() == b"a" * 10 + b"b" * 10


def test_stderr_reader_gone_keeps_the_exit_status_and_result(
    server: ScriptedServer, tmp_path: Path
) -> None:
    """``lstream get URL 2>&1 | head -1``: the summary's reader leaves; the work goes on."""
    res = tmp_path / "r.json"
    read_end, write_end = os.pipe()
    os.close(read_end)  # EPIPE on the first write to stderr
    try:
        for url, code in ((f"{server.base}/status?code=500", 3), (f"{server.base}/nope", 2)):
            args = [url, "--auth", "none", "-o", "/dev/null", "--json", str(res)]
            if code == 2:
                args.append("--bogus-flag")
            proc = subprocess.run(
                [*LSTREAM, "get", *args], stderr=write_end, stdout=subprocess.PIPE, timeout=60
            )
            assert proc.returncode == code
        assert json.loads(res.read_text())["status"] == 500
    finally:
        os.close(write_end)


def test_data_from_a_closed_stdin_is_a_usage_error(server: ScriptedServer) -> None:
    proc = _sh(f"{' '.join(LSTREAM)} get '{server.base}/echo' --auth none -d @- <&-")
    assert proc.returncode == ExitStatus.USAGE
    assert b"Traceback" not in proc.stderr
    assert b"-d @-" in proc.stderr and b"closed" in proc.stderr
