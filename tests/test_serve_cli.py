"""``lstream serve`` as a real process: endpoints file, request log, signals, errors."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from lstream_cli.cli import run
from lstream_cli.emulator.config import ENDPOINT_NAMES
from tests.conftest import Spawn

LSTREAM = [sys.executable, "-m", "lstream_cli"]
SECRET = "very-secret-origin-value"


def wait_for(path: Path, proc: subprocess.Popen[bytes], limit_s: float = 30.0) -> dict[str, str]:
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        if path.exists():
            doc: dict[str, str] = json.loads(path.read_text())
            return doc
        if proc.poll() is not None:
            raise AssertionError(f"serve exited early: {proc.communicate()}")
        time.sleep(0.05)
    raise AssertionError("serve did not write its endpoints file")


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], dict[str, str]]]:
    path = tmp_path / "endpoints.json"
    proc = subprocess.Popen(
        [
            *LSTREAM,
            "serve",
            "--port",
            "0",
            "--json",
            str(path),
            "--no-throttle",
            "--secret-header",
            f"X-Origin-Verify: {SECRET}",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        yield proc, wait_for(path, proc)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def test_serve_writes_endpoints_logs_requests_and_stops_on_ctrl_c(
    served: tuple[subprocess.Popen[bytes], dict[str, str]],
) -> None:
    proc, endpoints = served
    assert sorted(endpoints) == sorted(ENDPOINT_NAMES)
    for url in endpoints.values():
        assert url.startswith("http://127.0.0.1:")
        assert not url.endswith("/")
    r = httpx.get(endpoints["apigw_stream"] + "/logged/path?size=2000&token=hidden")
    assert r.status_code == 200
    assert len(r.content) == 2000
    assert httpx.get(endpoints["stream"] + "/direct").status_code == 403  # no secret header
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0
    text = err.decode()
    assert "apigw_stream" in text and endpoints["lambda_api"] in text
    assert "/logged/path" in text
    assert "token=hidden" not in text  # query strings are not logged
    assert "X-Origin-Verify" in text
    assert SECRET not in text  # the secret header's value is never shown
    assert "stopped" in text
    assert "Traceback" not in text
    assert out == b""


def test_serve_stops_on_sigterm(served: tuple[subprocess.Popen[bytes], dict[str, str]]) -> None:
    proc, _ = served
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=30)
    assert proc.returncode == 0


def test_port_in_use_is_one_line_and_exit_2() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        proc = subprocess.run(
            [*LSTREAM, "serve", "--port", str(port), "--quiet"],
            capture_output=True,
            timeout=30,
        )
    assert proc.returncode == 2
    lines = proc.stderr.decode().strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("lstream: error: cannot listen on 127.0.0.1:")
    assert "in use" in lines[0]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--handler", "no_such_module_xyz:handler"], "cannot import"),
        (["--handler", "file:/no/such/file"], "no such file"),
        (["--auth", "iam"], "--auth iam"),
        (["--time-scale", "0"], "--time-scale"),
        (["--time-scale", "nan"], "--time-scale"),
        (["--time-scale", "inf"], "--time-scale"),
        (["--time-scale", "1e-300"], "--time-scale"),
        (["--port", "70000"], "--port"),
        (["--secret-header", "no colon"], "invalid header"),
        (["--auth", "sometimes"], "--auth"),
        (["--json", "/no/such/dir/endpoints.json"], "no such directory"),
    ],
)
def test_usage_errors(args: list[str], message: str, capfd: pytest.CaptureFixture[str]) -> None:
    assert run(["serve", "--port", "0", *args]) == 2
    err = capfd.readouterr().err
    assert message in err
    assert len(err.strip().splitlines()) == 1
    assert "Traceback" not in err


def test_help_lists_examples_and_exit_codes(capfd: pytest.CaptureFixture[str]) -> None:
    assert run(["serve", "--help"]) == 0
    out = capfd.readouterr().out
    assert "--time-scale" in out and "Examples:" in out and "Exit codes:" in out


def test_serve_auth_iam_accepts_what_lstream_get_signs_with(
    aws_creds: dict[str, str], tmp_path: Path, spawn: Spawn
) -> None:
    """Both processes resolve the same credential chain: no set-up needed."""
    path = tmp_path / "endpoints.json"
    proc = spawn(
        [*LSTREAM, "serve", "--port", "0", "--json", str(path), "--auth", "iam"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        endpoints = wait_for(path, proc)
        out = tmp_path / "body.bin"
        url = endpoints["stream"] + "/signed?size=300000"
        got = subprocess.run(
            [*LSTREAM, "get", url, "-o", str(out)], capture_output=True, timeout=60
        )
        assert got.returncode == 0, got.stderr
        assert out.stat().st_size == 300000
        unsigned = subprocess.run(
            [*LSTREAM, "get", url, "--auth", "none", "-o", str(out)],
            capture_output=True,
            timeout=60,
        )
        assert unsigned.returncode == 3
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0
    text = err.decode()
    assert "/signed 200" in text and "/signed 403" in text
    for secret in (aws_creds["AWS_SECRET_ACCESS_KEY"], aws_creds["AWS_SESSION_TOKEN"]):
        assert secret not in text
        assert secret not in got.stderr.decode()


def test_ctrl_c_of_serve_with_workers_keeps_every_request_line(
    tmp_path: Path, spawn: Spawn
) -> None:
    """Ctrl-C reaches the workers too (the terminal signals the whole group) at
    once after the last answer: the lines still waiting in a worker's batch are
    written before it exits. And no two workers hand out the same request id."""
    path = tmp_path / "endpoints.json"
    proc = spawn(
        [*LSTREAM, "serve", "--port", "0", "--json", str(path), "--workers", "2", "--no-throttle"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        endpoints = wait_for(path, proc)
        ids = []
        for i in range(30):  # a new connection each: both workers answer some
            with httpx.Client() as client:
                r = client.get(endpoints["stream"] + f"/line{i}?size=10")
                assert r.status_code == 200 and len(r.content) == 10
                ids.append(r.headers["x-amzn-requestid"])
        assert len(set(ids)) == 30  # each worker draws its own ids: none repeats
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0
    text = err.decode()
    assert [i for i in range(30) if f"/line{i} 200" not in text] == []


def test_serve_with_workers_shares_the_sockets_and_stops_them_all(
    tmp_path: Path, spawn: Spawn
) -> None:
    path = tmp_path / "endpoints.json"
    proc = spawn(
        [*LSTREAM, "serve", "--port", "0", "--json", str(path), "--workers", "2", "--no-throttle"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        endpoints = wait_for(path, proc)
        for _ in range(20):  # new connections each time: the kernel spreads them
            with httpx.Client() as client:
                r = client.get(endpoints["stream"] + "/w?size=1000")
                assert r.status_code == 200 and len(r.content) == 1000
                assert client.get(endpoints["apigw"] + "/w?size=10").status_code == 200
        children = subprocess.run(
            ["pgrep", "-P", str(proc.pid)], capture_output=True, text=True, check=False
        ).stdout.split()
        assert len(children) == 1
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0
    # 20 direct, 20 through apigw, and the 20 function URL calls apigw made.
    assert err.decode().count("/w 200") == 60
    for pid in children:
        assert (
            not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text()
        )
