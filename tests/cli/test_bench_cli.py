"""``lstream bench`` end to end: flags, exit codes, JSON schema, CSV, secrets, Ctrl-C."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from lstream_cli.cli import run
from tests.conftest import Spawn
from tests.engine.httpserver import TestServer

SCHEMA = json.loads(
    (Path(__file__).resolve().parents[2] / "schemas" / "bench.schema.json").read_text()
)


def _bench(*args: str) -> int:
    return run(["bench", *args])


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["-n", "10", "-z", "1s"], "exclude each other"),
        (["-c", "0"], "-c/--concurrency must be a positive"),
        (["-n", "-3"], "-n/--requests must be a positive"),
        (["-z", "0s"], "-z/--duration must be positive"),
        (["-z", "soon"], "invalid duration"),
        (["-r", "0", "-n", "5"], "-r/--rate must be a positive"),
        (["-r", "-2", "-z", "1s"], "-r/--rate must be a positive"),
        (["-r", "10"], "-r/--rate needs an end"),
        (["--workers", "0"], "--workers must be a positive"),
        (["--warmup", "0"], "--warmup must be a positive"),
        (["--fail-if", "ttfb_ms.p99"], "invalid --fail-if"),
        (["--fail-if", "latency.p99<5"], "unknown metric"),
        (["--timeout", "-1"], "--timeout"),
        (["--auth", "iam"], "no AWS credentials"),
        (["-X", "HEAD"], "HEAD is not supported"),
        (["--json", "same.out", "--csv", "./same.out"], "--json and --csv both name"),
    ],
)
def test_bad_flags_are_usage_errors_before_sending(
    server: TestServer, capfd: pytest.CaptureFixture[str], flags: list[str], message: str
) -> None:
    code = _bench(server.url("/ok"), "--workers", "1", *flags)
    err = capfd.readouterr().err
    assert code == 2
    assert message in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert server.requests == 0


def test_bad_url_is_a_usage_error(capfd: pytest.CaptureFixture[str]) -> None:
    assert _bench("ftp://example/x") == 2
    assert "scheme must be http or https" in capfd.readouterr().err


def test_json_result_validates_against_the_schema(
    server: TestServer, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "r.json"
    code = _bench(
        server.url("/chunked?size=20000&chunk=5000"),
        "-n", "30", "-c", "3", "--workers", "1", "--json", str(out),
        "--fail-if", "ttfb_ms.p99<60000",
    )  # fmt: skip
    assert code == 0
    doc = json.loads(out.read_text())
    jsonschema.validate(doc, SCHEMA)
    assert doc["requests"] == doc["ok"] == 30
    assert doc["status"] == {"200": 30}
    assert doc["bytes"] == 600_000
    assert doc["thresholds"] == [
        {"expr": "ttfb_ms.p99<60000", "value": doc["ttfb_ms"]["p99"], "ok": True}
    ]
    assert doc["ttfb_ms"]["count"] == 30
    assert doc["mode"] == "closed" and doc["workers"] == 1
    # The serialized histograms rebuild the summaries exactly (runs can be merged later).
    from lstream_cli.stats import Histogram

    for name in ("headers_ms", "ttfb_ms", "total_ms", "gap_max_ms"):
        assert Histogram.from_state(doc["histograms"][name]).summary().to_json(3) == doc[name]
    twice = Histogram.from_state(doc["histograms"]["ttfb_ms"])
    twice.merge(Histogram.from_state(doc["histograms"]["ttfb_ms"]))
    assert twice.count == 60
    err = capfd.readouterr().err
    assert "TTFB" in err and "requests 30" in err and "threshold pass" in err


def test_json_to_stdout(server: TestServer, capfd: pytest.CaptureFixture[str]) -> None:
    assert _bench(server.url("/ok"), "-n", "5", "--workers", "1", "--json", "-") == 0
    doc = json.loads(capfd.readouterr().out)
    jsonschema.validate(doc, SCHEMA)
    assert doc["requests"] == 5


def test_breached_threshold_exits_6(server: TestServer, capfd: pytest.CaptureFixture[str]) -> None:
    code = _bench(
        server.url("/status?code=503"), "-n", "4", "--workers", "1",
        "--fail-if", "errors.rate<0.01",
    )  # fmt: skip
    # Every request failed with an HTTP error: that rule comes first (exit 3).
    assert code == 3
    code = _bench(server.url("/ok"), "-n", "4", "--workers", "1", "--fail-if", "ttfb_ms.p50<0.0001")
    assert code == 6
    assert "threshold FAIL" in capfd.readouterr().err


def test_some_errors_still_exit_0(server: TestServer, tmp_path: Path) -> None:
    out = tmp_path / "r.json"
    code = _bench(server.url("/flaky?every=2"), "-n", "10", "--workers", "1", "--json", str(out))
    assert code == 0  # the run completed: failed requests are in the report, not the status
    doc = json.loads(out.read_text())
    assert doc["ok"] == 5 and doc["errors"] == {"http_5xx": 5}
    assert doc["status"] == {"200": 5, "503": 5}


def test_unreachable_target_exits_5(capfd: pytest.CaptureFixture[str]) -> None:
    assert _bench("http://127.0.0.1:9/", "-n", "20", "--workers", "1") == 5
    assert "connect 20" in capfd.readouterr().err


def test_all_truncated_exits_4(server: TestServer) -> None:
    assert _bench(server.url("/cut?size=100&send=10"), "-n", "3", "--workers", "1") == 4


def test_csv_has_one_row_per_request(server: TestServer, tmp_path: Path) -> None:
    path = tmp_path / "rows.csv"
    code = _bench(
        server.url("/ok?size=10"), "-n", "25", "-c", "4", "--workers", "2", "--csv", str(path)
    )
    assert code == 0
    with path.open() as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 25
    assert list(rows[0]) == [
        "t_start_ms", "status", "connect_ms", "tls_ms", "headers_ms", "ttfb_ms",
        "total_ms", "bytes", "reads", "gap_max_ms", "error",
    ]  # fmt: skip
    assert {r["status"] for r in rows} == {"200"}
    assert all(r["bytes"] == "10" and r["error"] == "" for r in rows)
    # Written as requests finish: the offsets of 25 distinct starts, none before the run.
    starts = [float(r["t_start_ms"]) for r in rows]
    assert len(set(starts)) == 25 and min(starts) >= 0


def test_signed_requests_leak_no_secrets(
    server: TestServer,
    aws_creds: dict[str, str],
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
) -> None:
    j, c = tmp_path / "r.json", tmp_path / "r.csv"
    code = _bench(
        server.url("/ok"), "-n", "6", "--workers", "1", "--auth", "iam",
        "--json", str(j), "--csv", str(c),
    )  # fmt: skip
    assert code == 0
    head = server.heads[0].decode()
    assert "Authorization: AWS4-HMAC-SHA256 Credential=AKIDLSTREAMTEST00001/" in head
    assert "/us-east-1/lambda/aws4_request" in head
    assert f"X-Amz-Security-Token: {aws_creds['AWS_SESSION_TOKEN']}" in head
    signature = head.split("Signature=")[1].split("\r\n")[0]
    captured = capfd.readouterr()
    for text in (j.read_text(), c.read_text(), captured.err, captured.out):
        assert aws_creds["AWS_SECRET_ACCESS_KEY"] not in text
        assert aws_creds["AWS_SESSION_TOKEN"] not in text
        assert signature not in text
        assert "Authorization" not in text


def test_help_documents_exit_rule_and_grammar() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "lstream_cli", "bench", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0
    assert "--fail-if" in proc.stdout and "ttfb_ms.p99<500" in proc.stdout
    assert "every request failed" in proc.stdout


@pytest.mark.parametrize("workers", ["1", "2"])
def test_ctrl_c_prints_and_writes_the_partial_report(
    server: TestServer, tmp_path: Path, workers: str, spawn: Spawn
) -> None:
    out = tmp_path / "partial.json"
    env = dict(os.environ)
    proc = spawn(
        [
            sys.executable,
            "-m",
            "lstream_cli",
            "bench",
            server.url("/delay?ms=20"),
            "-z",
            "60s",
            "-c",
            "4",
            "--workers",
            workers,
            "--json",
            str(out),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    deadline = time.monotonic() + 30
    while server.requests < 20 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.requests >= 20, "the run did not start"
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130
    assert "interrupted" in err and "Traceback" not in err
    doc = json.loads(out.read_text())
    jsonschema.validate(doc, SCHEMA)
    assert doc["interrupted"] is True
    assert doc["requests"] > 0 and doc["workers"] == int(workers)
    assert doc["requests"] <= server.requests


def test_warmup_duration_is_sent_but_not_counted(server: TestServer, tmp_path: Path) -> None:
    out = tmp_path / "w.json"
    code = _bench(
        server.url("/delay?ms=5"), "-n", "10", "-c", "2", "--workers", "1",
        "--warmup", "300ms", "--json", str(out),
    )  # fmt: skip
    assert code == 0
    doc = json.loads(out.read_text())
    assert doc["requests"] == 10 and doc["warmup"] == "300ms"
    assert server.requests > 10 + 20  # ~2 x 300 ms / 5 ms warm-up requests, at the least


@pytest.mark.parametrize("workers", ["1", "2"])
def test_every_signed_request_verifies_independently(
    server: TestServer, aws_creds: dict[str, str], workers: str
) -> None:
    """What bench sends verifies under the emulator's own SigV4 implementation."""
    import hashlib

    from lstream_cli.emulator.sigv4 import verify_request

    path = "/ok/a%20b/%C3%BC?z=1&a=2&a=1&flag&s=a%20b"
    code = _bench(
        server.url(path), "-n", "6", "-c", "2", "--workers", workers, "--auth", "iam",
        "-X", "POST", "-d", '{"size": "1MB"}', "-H", "content-type: application/json",
    )  # fmt: skip
    assert code == 0
    assert server.requests == 6
    creds = (aws_creds["AWS_SECRET_ACCESS_KEY"], aws_creds["AWS_SESSION_TOKEN"])
    for head, body in zip(server.heads, server.bodies, strict=True):
        lines = head.decode().split("\r\n")
        method, target, _ = lines[0].split(" ")
        headers = [tuple(x.strip() for x in line.split(":", 1)) for line in lines[1:] if line]
        assert method == "POST" and target == path and body == b'{"size": "1MB"}'
        result = verify_request(
            method,
            target,
            headers,  # type: ignore[arg-type]
            hashlib.sha256(body).hexdigest(),
            lambda key: creds if key == aws_creds["AWS_ACCESS_KEY_ID"] else None,
        )
        assert result.ok, result.reason


@pytest.mark.parametrize("rate", ["1e-300", "0.0001"])
def test_rate_too_small_to_schedule_is_a_usage_error(
    server: TestServer, capfd: pytest.CaptureFixture[str], rate: str
) -> None:
    code = _bench(server.url("/ok"), "-r", rate, "-n", "2", "--workers", "2")
    err = capfd.readouterr().err
    assert code == 2
    assert "-r/--rate" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    assert server.requests == 0


@pytest.mark.parametrize("flag", ["--json", "--csv"])
def test_unwritable_result_path_is_a_usage_error_before_sending(
    server: TestServer, tmp_path: Path, capfd: pytest.CaptureFixture[str], flag: str
) -> None:
    target = tmp_path / "missing-dir" / "out.file"
    code = _bench(server.url("/ok"), "-n", "3", "--workers", "1", flag, str(target))
    err = capfd.readouterr().err
    assert code == 2
    assert f"{flag} {target}: no such directory" in err
    assert server.requests == 0  # nothing measured and then thrown away
    assert _bench(server.url("/ok"), "-n", "1", "--workers", "1", flag, str(tmp_path)) == 2
    assert "is a directory" in capfd.readouterr().err


def test_presigned_query_values_are_redacted_in_report_and_json(
    server: TestServer, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    secret = "0123456789abcdefsecretsignature"
    url = server.url(f"/ok?size=10&X-Amz-Signature={secret}&X-Amz-Security-Token=tok{secret}")
    url = url.replace("http://", f"http://me:pw{secret}@")
    out = tmp_path / "r.json"
    assert _bench(url, "-n", "2", "--workers", "1", "--json", str(out)) == 0
    err = capfd.readouterr().err
    assert server.requests == 2
    assert secret in server.heads[0].decode()  # the server still got the real URL
    assert secret not in err and secret not in out.read_text()
    assert "size=10" in json.loads(out.read_text())["url"]


def _bench_process(spawn: Spawn, url: str, stderr: Any, term: str) -> subprocess.Popen[bytes]:
    env = dict(os.environ, TERM=term, COLUMNS="120")
    return spawn(
        [sys.executable, "-m", "lstream_cli", "bench", url, "-z", "1.2s", "-c", "2",
         "--workers", "1"],
        stdout=subprocess.DEVNULL, stderr=stderr, env=env,
    )  # fmt: skip


def test_dashboard_is_live_on_a_terminal_and_off_otherwise(
    server: TestServer, spawn: Spawn
) -> None:
    import pty
    import threading

    url = server.url("/delay?ms=5")
    # stderr on a pseudo-terminal: dashboard frames, then the report.
    master, slave = pty.openpty()
    proc = _bench_process(spawn, url, slave, "xterm")
    os.close(slave)
    chunks: list[bytes] = []

    def drain() -> None:
        while True:
            try:
                data = os.read(master, 65536)
            except OSError:
                return
            if not data:
                return
            chunks.append(data)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    assert proc.wait(timeout=60) == 0
    reader.join(timeout=10)
    os.close(master)
    on_tty = b"".join(chunks).decode("utf-8", "replace")
    assert "(last 2 s)" in on_tty and "req/s" in on_tty
    assert "TTFB distribution" in on_tty
    # stderr to a pipe: the same report, no live frames.
    proc = _bench_process(spawn, url, subprocess.PIPE, "xterm")
    _, err = proc.communicate(timeout=60)
    text = err.decode()
    assert proc.returncode == 0
    assert "TTFB distribution" in text
    assert "(last 2 s)" not in text and "starting workers" not in text


def test_a_run_where_no_request_finished_is_not_a_success(
    server: TestServer, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """-z shorter than the server's answer: nothing measured, so not exit 0."""
    out = tmp_path / "r.json"
    code = _bench(
        server.url("/hang"), "-z", "0.5s", "-c", "2", "--workers", "1", "--timeout", "0",
        "--json", str(out),
    )  # fmt: skip
    err = capfd.readouterr().err
    assert code == 5
    assert "no request finished" in err
    doc = json.loads(out.read_text())
    assert doc["requests"] == 0 and doc["aborted_in_flight"] == 2


def test_result_files_get_the_usual_mode(server: TestServer, tmp_path: Path) -> None:
    """--json and --csv files are readable as any file the user writes (not mkstemp's 0600)."""
    rows, doc = tmp_path / "rows.csv", tmp_path / "r.json"
    code = _bench(
        server.url("/ok"), "-n", "2", "--workers", "1", "--csv", str(rows), "--json", str(doc)
    )
    assert code == 0
    umask = os.umask(0)
    os.umask(umask)
    assert rows.stat().st_mode & 0o777 == 0o666 & ~umask
    assert doc.stat().st_mode & 0o777 == 0o666 & ~umask
    assert rows.read_text().count("\n") == 3  # header + 2 rows, written whole


def test_csv_to_stdout(
    server: TestServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = _bench(
        server.url("/ok?size=10"),
        "-n",
        "7",
        "-c",
        "2",
        "--workers",
        "1",
        "--csv",
        "-",
        "--no-dashboard",
    )
    assert code == 0
    rows = list(csv.DictReader(capsys.readouterr().out.splitlines()))
    assert len(rows) == 7 and {r["status"] for r in rows} == {"200"}
    assert not (Path.cwd() / "-").exists()


def test_csv_and_json_cannot_both_take_stdout(
    server: TestServer, capsys: pytest.CaptureFixture[str]
) -> None:
    before = server.requests
    assert _bench(server.url("/ok"), "-n", "1", "--csv", "-", "--json", "-") == 2
    assert "cannot both go to stdout" in capsys.readouterr().err
    assert server.requests == before


def _worker_children(pid: int) -> list[int]:
    """Worker processes of ``pid`` (forked: not a resource tracker or a forkserver)."""
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return []
    found = []
    for child in children:
        try:
            cmdline = Path(f"/proc/{child}/cmdline").read_bytes()
        except OSError:
            continue
        if b"resource_tracker" not in cmdline and b"forkserver" not in cmdline:
            found.append(int(child))
    return found


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="needs Linux /proc")
def test_ctrl_c_while_workers_start_is_a_clean_interrupt(
    server: TestServer, tmp_path: Path, spawn: Spawn
) -> None:
    """Ctrl-C reaches the whole process group, workers still starting included."""
    out = tmp_path / "early.json"
    proc = spawn(
        [sys.executable, "-m", "lstream_cli", "bench", server.url("/ok"), "-z", "60s",
         "-c", "4", "--workers", "2", "--json", str(out)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )  # fmt: skip
    deadline = time.monotonic() + 30
    while not _worker_children(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.002)
    assert _worker_children(proc.pid), "no worker process was started"
    os.killpg(proc.pid, signal.SIGINT)  # what the terminal does on Ctrl-C
    _, err = proc.communicate(timeout=30)
    assert "Traceback" not in err and "KeyboardInterrupt" not in err
    assert proc.returncode == 130, err
    doc = json.loads(out.read_text())
    jsonschema.validate(doc, SCHEMA)
    assert doc["interrupted"] is True


@pytest.mark.parametrize("flag", ["--json", "--csv"])
def test_stdout_reader_gone_keeps_the_runs_exit_status(
    server: TestServer, tmp_path: Path, flag: str, spawn: Spawn
) -> None:
    """``--json - | true``: click would turn the EPIPE into a bare exit 1."""
    proc = spawn(
        [sys.executable, "-m", "lstream_cli", "bench", server.url("/ok"), "-n", "3000",
         "-c", "2", "--workers", "1", "--fail-if", "errors.count>5", flag, "-"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # the reader is gone before anything is written
    err = proc.stderr.read().decode()
    proc.wait(timeout=60)
    assert "Traceback" not in err
    assert "threshold FAIL  errors.count>5" in err  # the report was printed
    assert proc.returncode == 6, err


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX rlimits")
def test_open_file_limit_is_raised_for_many_connections(server: TestServer) -> None:
    """A shell's soft ``ulimit -n`` (often 1024) must not cap -c below the hard
    limit: hey and wrk raise it too; otherwise connects fail 'Too many open files'."""
    import resource

    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < 1024:
        pytest.skip("hard open-file limit too low")

    def low_soft_limit() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (200, hard))

    proc = subprocess.run(
        [sys.executable, "-m", "lstream_cli", "bench", server.url("/delay?ms=100"), "-n", "300",
         "-c", "300", "--workers", "1", "--json", "-"],
        capture_output=True, text=True, preexec_fn=low_soft_limit, timeout=120,
    )  # fmt: skip
    doc = json.loads(proc.stdout)
    assert doc["errors"] == {} and doc["ok"] == 300, doc["error_details"]
    assert proc.returncode == 0


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="needs Linux /proc")
@pytest.mark.parametrize("when", ["running", "starting"])
def test_workers_end_when_the_parent_is_killed(server: TestServer, when: str, spawn: Spawn) -> None:
    """`timeout`, a CI cancel or the OOM killer ends the parent: its workers
    must not go on loading the server for the rest of -z (or wait forever)."""
    proc = spawn(
        [sys.executable, "-m", "lstream_cli", "bench", server.url("/ok"), "-z", "120s",
         "-c", "2", "--workers", "2"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 30
    if when == "running":
        while server.requests < 20 and time.monotonic() < deadline:
            time.sleep(0.02)
    workers = _worker_children(proc.pid)
    while len(workers) < 2 and time.monotonic() < deadline:
        time.sleep(0.002)
        workers = _worker_children(proc.pid)
    assert len(workers) == 2
    proc.kill()
    proc.wait()
    deadline = time.monotonic() + 15
    alive = [pid for pid in workers if _running(pid)]
    while alive and time.monotonic() < deadline:
        time.sleep(0.05)
        alive = [pid for pid in alive if _running(pid)]
    for pid in alive:  # not to load the next tests' servers for the rest of -z
        os.kill(pid, signal.SIGKILL)
    assert not alive, "worker processes outlived their parent"


def _running(pid: int) -> bool:
    """Whether ``pid`` still runs (a zombie, not ours to reap, counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


def test_json_and_report_show_ttfb_by_connection_and_saturation(
    server: TestServer, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "r.json"
    code = _bench(
        server.url("/delay?ms=200"), "-r", "40", "-z", "1s", "-c", "2", "--workers", "2",
        "--json", str(out), "--no-dashboard",
    )  # fmt: skip
    assert code == 0
    captured = capfd.readouterr()
    text = " ".join((captured.out + captured.err).split())
    doc = json.loads(out.read_text())
    jsonschema.validate(doc, SCHEMA)
    new, reused = doc["ttfb_new_conn_ms"]["count"], doc["ttfb_reused_conn_ms"]["count"]
    assert new == 2 and new + reused == doc["ttfb_ms"]["count"] == doc["ok"]
    assert doc["client"]["saturated"] is True
    causes = doc["client"]["reason"].split("; ")  # the loop's lag may be one on a busy machine
    assert any(cause.startswith("open loop: ") for cause in causes)
    assert "TTFB, new conn" in text and "TTFB, reused conn" in text
    assert f"saturated: {doc['client']['reason']}" in text
