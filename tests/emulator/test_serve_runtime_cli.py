"""``lstream serve`` running a Node.js function as a real process: logs, flags, no orphans."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from fnhelpers import NODE, RIC

from lstream_cli.cli import run

LSTREAM = [sys.executable, "-m", "lstream_cli"]
pytestmark = pytest.mark.usefixtures("runtime_client")


def _project(tmp_path: Path) -> Path:
    """A function folder whose node_modules is found by walking up from the handler."""
    (tmp_path / "node_modules").mkdir()
    (tmp_path / "node_modules" / "aws-lambda-ric").symlink_to(RIC.parent.parent)
    code = tmp_path / "src" / "fn"
    code.mkdir(parents=True)
    (code / "stream.mjs").write_text((NODE / "stream.mjs").read_text())
    (code / "buffered.mjs").write_text((NODE / "buffered.mjs").read_text())
    return code


def _serve(args: list[str], json_path: Path, **env: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [*LSTREAM, "serve", "--port", "0", "--json", str(json_path), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1", **env},
    )


def _endpoints(path: Path, proc: subprocess.Popen[bytes]) -> dict[str, str]:
    deadline = time.monotonic() + 30
    while not path.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(f"serve did not start: {proc.communicate()}")
        time.sleep(0.05)
    doc: dict[str, str] = json.loads(path.read_text())
    return doc


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split()[2] != "Z"  # a zombie is dead, waiting for its parent
    except FileNotFoundError:
        return False


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def _wait_gone(pids: list[int]) -> list[int]:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(_alive(p) for p in pids):
        time.sleep(0.05)
    return [p for p in pids if _alive(p)]


@pytest.mark.parametrize("how", ["SIGKILL", "SIGTERM", "SIGINT"])
def test_no_runtime_process_survives_the_server(tmp_path: Path, how: str) -> None:
    code = _project(tmp_path)
    path = tmp_path / "ep.json"
    proc = _serve(["--handler", f"{code / 'stream.mjs'}:handler", "--concurrency", "2"], path)
    try:
        ep = _endpoints(path, proc)
        # Two environments at once (a held one and a second), so two node processes.
        release = tmp_path / "go"
        with (
            httpx.Client(timeout=30) as client,
            client.stream("GET", ep["stream"] + f"/?case=hold&file={release}") as held,
        ):
            assert httpx.get(ep["stream"] + "/?case=meta", timeout=30).status_code == 201
            children = [
                int(p)
                for p in Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
            ]
            runtimes = [p for p in children if b"aws-lambda-ric" in _cmdline(p)]
            assert len(runtimes) == 2  # and the watchdog: every child must be gone after
            os.kill(proc.pid, getattr(signal, how))
            proc.wait(timeout=30)
            with pytest.raises(httpx.HTTPError):
                held.read()
        assert _wait_gone(children) == []
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()


def test_serve_logs_like_cloudwatch_and_hides_what_it_must(tmp_path: Path) -> None:
    code = _project(tmp_path)
    env_file = tmp_path / "fn.env"
    env_file.write_text("# the function's settings\nexport FROM_FILE='from file'\n\nGREETING=hi\n")
    path = tmp_path / "ep.json"
    proc = _serve(
        [
            "--handler",
            f"{code / 'buffered.mjs'}:handler",
            "--memory",
            "256",
            "--function-timeout",
            "5s",
            "--env-file",
            str(env_file),
            "--env",
            "GREETING=hello",
            "--quiet",
        ],
        path,
        AWS_ACCESS_KEY_ID="AKIDFUNCTIONTEST0001",
        AWS_SECRET_ACCESS_KEY="function-secret-never-printed",
    )
    try:
        ep = _endpoints(path, proc)
        r = httpx.post(
            ep["lambda_api"] + "/2015-03-31/functions/fn/invocations",
            content=b'{"case": "env"}',
            timeout=30,
        )
        doc = r.json()
        assert doc["env"]["GREETING"] == "hello"  # --env after --env-file wins
        assert doc["env"]["FROM_FILE"] == "from file"
        assert doc["env"]["AWS_ACCESS_KEY_ID"] == "AKIDFUNCTIONTEST0001"
        assert doc["env"]["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "256"
        assert 0 < doc["remaining"] <= 5000
        request_id = r.headers["x-amzn-requestid"]
        time.sleep(1.5)  # let END and REPORT arrive
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    text = err.decode()
    assert proc.returncode == 0
    assert f"START RequestId: {request_id} Version: $LATEST" in text
    assert f"END RequestId: {request_id}" in text
    report = next(line for line in text.splitlines() if line.startswith("REPORT"))
    assert "Memory Size: 256 MB" in report and "Init Duration: " in report
    assert " stream " not in text and "lambda_api" not in text  # --quiet: no access log
    assert "function-secret-never-printed" not in text + out.decode()


def test_function_logs_off_keeps_the_access_log(tmp_path: Path) -> None:
    code = _project(tmp_path)
    path = tmp_path / "ep.json"
    proc = _serve(["--handler", f"{code / 'stream.mjs'}:handler", "--function-logs", "off"], path)
    try:
        ep = _endpoints(path, proc)
        assert httpx.get(ep["stream"] + "/?case=meta", timeout=30).status_code == 201
        time.sleep(1.5)
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    text = err.decode()
    assert "stream       GET    / 201" in text
    assert "START RequestId" not in text and "case meta" not in text


def test_a_missing_runtime_client_names_the_install_commands(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    handler = tmp_path / "app.mjs"
    handler.write_text("export const handler = async () => 'hi';\n")
    assert run(["serve", "--port", "0", "--handler", f"{handler}:handler"]) == 2
    err = capfd.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert err[0].startswith("lstream: error: the Node.js runtime interface client")
    assert "apt-get install -y autoconf automake libtool && npm install aws-lambda-ric@3" in err[0]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--memory", "64"], "--memory must be 128 to 10240"),
        (["--function-timeout", "901s"], "at most 900"),
        (["--function-timeout", "soon"], "--function-timeout"),
        (["--concurrency", "0"], "--concurrency"),
        (["--env", "NOVALUE"], "expected NAME=VALUE"),
        (["--env", "AWS_REGION=eu-west-1"], "AWS_REGION is reserved"),
        (["--env-file", "/no/such/file"], "--env-file /no/such/file"),
        (["--bootstrap", "/no/such/bootstrap"], "no such file"),
        (["--handler", "/no/such/app.mjs:handler"], "no such file"),
        (["--runtime-client", "/nowhere"], "--runtime-client applies"),
    ],
)
def test_function_flag_errors(
    args: list[str], message: str, capfd: pytest.CaptureFixture[str]
) -> None:
    assert run(["serve", "--port", "0", *args]) == 2
    err = capfd.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_help_says_how_to_run_your_own_function(capfd: pytest.CaptureFixture[str]) -> None:
    assert run(["serve", "--help"]) == 0
    out = capfd.readouterr().out
    for flag in ("--bootstrap", "--runtime-client", "--function-timeout", "--memory"):
        assert flag in out
    assert "app.mjs:handler" in out


def test_workers_apply_to_in_process_handlers_only(capfd: pytest.CaptureFixture[str]) -> None:
    args = ["--handler", f"{NODE / 'stream.mjs'}:handler", "--runtime-client", str(RIC)]
    assert run(["serve", "--port", "0", "--workers", "2", *args]) == 2
    err = capfd.readouterr().err.strip().splitlines()
    assert err == [
        "lstream: error: --workers applies to in-process handlers only "
        "(one process runs a function's environments)"
    ]


def test_a_bootstraps_own_children_die_with_a_killed_server(tmp_path: Path) -> None:
    """kill -9 of serve: the bootstrap (PR_SET_PDEATHSIG) and what it started (the watchdog)."""
    pids = tmp_path / "pids"
    bootstrap = tmp_path / "bootstrap"
    bootstrap.write_text(
        '#!/bin/sh\nsleep 300 &\necho "$$ $!" > "$PIDFILE"\nwait\n'  # never asks for /next
    )
    bootstrap.chmod(0o755)
    path = tmp_path / "ep.json"
    proc = _serve(["--bootstrap", str(bootstrap), "--env", f"PIDFILE={pids}"], path)
    try:
        ep = _endpoints(path, proc)
        with httpx.Client(timeout=30) as client:
            pending = threading.Thread(
                target=_quietly, args=(client.get, ep["stream"] + "/"), daemon=True
            )
            pending.start()  # a cold start: the bootstrap runs
            deadline = time.monotonic() + 30
            while not (pids.exists() and len(pids.read_text().split()) == 2):
                assert time.monotonic() < deadline, "the bootstrap did not start"
                time.sleep(0.05)
            shell, child = (int(p) for p in pids.read_text().split())
            assert _alive(shell) and _alive(child)
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
        assert _wait_gone([shell, child]) == []
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()


def _quietly(call: Callable[..., object], *args: object) -> None:
    with contextlib.suppress(httpx.HTTPError):
        call(*args)
