"""The product as one tool: the same failure, the same exit code and message style.

Each command was tested alone elsewhere; these tests pin what only shows when
the commands are put side by side (get, bench, compare-modes against the same
faulty target) and what a narrow terminal or a secret header does to them.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from lstream_cli._exitcodes import ExitStatus
from lstream_cli.cli import run
from lstream_cli.signing import REDACTED, redact_headers
from tests.engine.httpserver import TestServer


@pytest.fixture
def server() -> Iterator[TestServer]:
    srv = TestServer().start()
    yield srv
    srv.stop()


def _last_error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.startswith("lstream: error:")]
    assert lines, err
    return lines[-1]


@pytest.fixture
def plain_http_port() -> Iterator[int]:
    """A server that answers any bytes with a plain HTTP 400: TLS to it fails at once."""
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            with conn:
                conn.settimeout(5)
                try:
                    conn.recv(4096)
                    conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
                except OSError:
                    pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    stop.set()
    thread.join()
    listener.close()


def test_tls_failure_is_exit_5_in_every_command(
    plain_http_port: int, capfd: pytest.CaptureFixture[str]
) -> None:
    url = f"https://127.0.0.1:{plain_http_port}/"
    assert run(["get", url, "-o", "/dev/null", "-s"]) == ExitStatus.NETWORK
    assert "TLS" in _last_error_line(capfd.readouterr().err)
    bench = ["bench", url, "-n", "2", "-c", "1", "--workers", "1", "--no-dashboard"]
    assert run(bench) == ExitStatus.NETWORK
    assert _last_error_line(capfd.readouterr().err).endswith("every request failed (tls 2)")
    # compare-modes: a TLS failure everywhere means no target was reachable, like refused.
    code = run(["compare-modes", "--stream", url, "--sizes", "1KB", "--no-warmup"])
    assert code == ExitStatus.NETWORK
    assert "no target could be reached" in _last_error_line(capfd.readouterr().err)


def test_truncated_stream_is_exit_4_in_get_and_bench(
    server: TestServer, capfd: pytest.CaptureFixture[str]
) -> None:
    url = server.url("/cut?size=100&send=10")
    assert run(["get", url, "-o", "/dev/null", "-s"]) == ExitStatus.TRUNCATED
    assert "truncated" in _last_error_line(capfd.readouterr().err)
    code = run(["bench", url, "-n", "3", "-c", "1", "--workers", "1", "--no-dashboard"])
    assert code == ExitStatus.TRUNCATED
    assert _last_error_line(capfd.readouterr().err).endswith("every request failed (truncated 3)")


def test_bench_with_every_request_refused_ends_with_one_error_line(
    capfd: pytest.CaptureFixture[str],
) -> None:
    code = run(["bench", "http://127.0.0.1:9/", "-n", "4", "--workers", "1", "--no-dashboard"])
    assert code == ExitStatus.NETWORK
    err = capfd.readouterr().err
    assert err.rstrip().splitlines()[-1] == "lstream: error: every request failed (connect 4)"


def test_bench_with_some_requests_ok_prints_no_error_line(
    server: TestServer, capfd: pytest.CaptureFixture[str]
) -> None:
    code = run(["bench", server.url("/flaky?every=2"), "-n", "6", "--workers", "1"])
    assert code == ExitStatus.SUCCESS
    assert "lstream: error:" not in capfd.readouterr().err


def test_origin_verify_header_is_redacted() -> None:
    shown = dict(redact_headers([("X-Origin-Verify", "s3cret"), ("X-Trace", "abc")]))
    assert shown == {"X-Origin-Verify": REDACTED, "X-Trace": "abc"}


def test_get_verbose_hides_the_secret_header_of_serve_help(server: TestServer) -> None:
    # ``lstream serve --help`` suggests --secret-header 'X-Origin-Verify: s3cret';
    # a user then sends it with get -H: -v and --json must not show it.
    args = ["-v", "-i", "-H", "X-Origin-Verify: s3cretXCUT", "--auth", "none"]
    args += ["-o", os.devnull, "--json", "-"]
    proc = subprocess.run(
        [sys.executable, "-m", "lstream_cli", "get", server.url("/ok?size=5"), *args],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert "X-Origin-Verify: <redacted>" in proc.stderr
    assert "s3cretXCUT" not in proc.stdout + proc.stderr


def test_compare_cli_prints_the_whole_table_when_columns_is_narrow() -> None:
    from tests.compare_fakes import fake_paths

    with fake_paths() as fake:
        args = ["--buffered", f"{fake.base}/buffered", "--sizes", "7MB", "--no-warmup"]
        proc = subprocess.run(
            [sys.executable, "-m", "lstream_cli", "compare-modes", *args],
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, "COLUMNS": "60"},
        )
    assert proc.returncode == 0, proc.stderr
    assert "limit hit / knee" in proc.stderr
    assert "6,291,556 B" in proc.stderr


def test_ctrl_c_before_the_request_is_the_same_error_line(server: TestServer) -> None:
    # get -d @- waits on stdin; Ctrl-C there ends like Ctrl-C in any command.
    proc = subprocess.Popen(
        [sys.executable, "-m", "lstream_cli", "get", server.url("/ok"), "-d", "@-"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert proc.stderr is not None
        _wait_until_reading_stdin(proc.pid)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == ExitStatus.INTERRUPTED
    assert err.decode().strip().splitlines()[-1] == "lstream: error: interrupted"


def _wait_until_reading_stdin(pid: int) -> None:
    """Block until the process sleeps in a read (its start-up is over)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            wchan = Path(f"/proc/{pid}/wchan").read_text()
            stat = Path(f"/proc/{pid}/stat").read_text().split()[2]
        except OSError:
            wchan, stat = "", ""
        if stat == "S" and "pipe" in wchan:
            return
        time.sleep(0.05)
    raise AssertionError("the process never waited on stdin")


def test_json_to_a_fifo_writes_into_it_and_keeps_it_a_fifo(
    server: TestServer, tmp_path: Path
) -> None:
    # --json /dev/stdout, /dev/null or >(jq .): the rename of an atomic write
    # replaced the device node itself (as root: /dev/null became a file).
    fifo = tmp_path / "results"
    os.mkfifo(fifo)
    received: list[str] = []

    def read() -> None:
        with open(fifo, encoding="utf-8") as fh:
            received.append(fh.read())

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    code = run(["get", server.url("/ok?size=5"), "-o", os.devnull, "-s", "--json", str(fifo)])
    # Unblock the reader if the product never opened the FIFO. Non-blocking:
    # when the reader has already finished and closed its end, a plain open
    # for writing would wait for a reader forever (ENXIO instead).
    with contextlib.suppress(OSError):
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
    reader.join(timeout=10)
    assert code == ExitStatus.SUCCESS
    assert stat.S_ISFIFO(fifo.stat().st_mode)
    assert json.loads(received[0])["bytes"] == 5


def test_json_through_a_symlink_replaces_the_file_and_keeps_the_link(
    server: TestServer, tmp_path: Path
) -> None:
    real = tmp_path / "real.json"
    real.write_text("old")
    link = tmp_path / "link.json"
    link.symlink_to(real)
    code = run(["get", server.url("/ok?size=7"), "-o", os.devnull, "-s", "--json", str(link)])
    assert code == ExitStatus.SUCCESS
    assert link.is_symlink()
    assert json.loads(real.read_text())["bytes"] == 7


def test_silent_is_the_same_flag_in_get_bench_and_compare(
    server: TestServer, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    ok = server.url("/ok?size=5")
    runs = {
        "get": ["get", ok, "-o", os.devnull],
        "bench": ["bench", ok, "-n", "3", "--workers", "1"],
        "compare": ["compare-modes", "--stream", ok, "--sizes", "5B", "--no-warmup"],
    }
    for name, args in runs.items():
        out = tmp_path / f"{name}.json"
        assert run([*args, "-s", "--json", str(out)]) == ExitStatus.SUCCESS, name
        assert capfd.readouterr().err == "", name  # nothing but errors
        assert json.loads(out.read_text())["schema_version"] == 2, name
    # Errors still get their one line.
    refused = "http://127.0.0.1:9/"
    assert run(["bench", refused, "-n", "2", "--workers", "1", "-s"]) == ExitStatus.NETWORK
    assert capfd.readouterr().err == "lstream: error: every request failed (connect 2)\n"
    assert run(["compare-modes", "--stream", refused, "--sizes", "1KB", "-s"]) == 5
    err = capfd.readouterr().err
    assert err == "lstream: error: no target could be reached: every cell failed to connect\n"


def test_no_credentials_message_names_the_files_read_in_get_and_serve(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "creds-here"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config-here"))
    assert run(["get", "http://127.0.0.1:9/", "--auth", "iam"]) == ExitStatus.USAGE
    get_line = _last_error_line(capfd.readouterr().err)
    assert run(["serve", "--port", "0", "--auth", "iam"]) == ExitStatus.USAGE
    serve_line = _last_error_line(capfd.readouterr().err)
    for line in (get_line, serve_line):
        assert str(tmp_path / "creds-here") in line and str(tmp_path / "config-here") in line


@pytest.mark.parametrize("command", [["get"], ["bench"], ["compare-modes", "--stream"]])
def test_invalid_url_message_hides_password_and_signature(
    command: list[str], capfd: pytest.CaptureFixture[str]
) -> None:
    url = "ftp://user:SECRETPW@host/?X-Amz-Signature=SIGVALUE&a=1"
    assert run([*command, url]) == ExitStatus.USAGE
    line = _last_error_line(capfd.readouterr().err)
    assert "SECRETPW" not in line and "SIGVALUE" not in line
    assert "ftp://user:<redacted>@host/?X-Amz-Signature=<redacted>&a=1" in line


_NO_TARGET = "http://127.0.0.1:9/"
_HEADER_FLAGS = [
    (["get", _NO_TARGET], "-H"),
    (["bench", _NO_TARGET], "-H"),
    (["compare-modes", "--stream", _NO_TARGET], "-H"),
    (["serve"], "--secret-header"),
]


@pytest.mark.parametrize(("command", "flag"), _HEADER_FLAGS)
@pytest.mark.parametrize("header", ["x-api-key=SECRETVAL", "Authorization SECRETVAL"])
def test_malformed_header_message_does_not_echo_its_value(
    command: list[str], flag: str, header: str, capfd: pytest.CaptureFixture[str]
) -> None:
    assert run([*command, flag, header]) == ExitStatus.USAGE
    line = _last_error_line(capfd.readouterr().err)
    assert "invalid header" in line and "SECRETVAL" not in line
    assert header.split("=")[0].split(" ")[0] in line  # the name still shows which one


def test_serve_endpoint_urls_are_whole_on_a_narrow_console() -> None:
    import io

    from rich.console import Console

    from lstream_cli.render.console import Output
    from lstream_cli.render.serve import print_endpoints

    names = ("stream", "buffered", "apigw", "apigw_stream", "lambda_api")
    endpoints = {name: f"http://127.0.0.1:{40001 + i}" for i, name in enumerate(names)}
    buf = io.StringIO()
    print_endpoints(Output(Console(file=buf, width=60, color_system=None)), endpoints, {})
    text = buf.getvalue()
    for url in endpoints.values():
        assert url in text  # was cut to 'http://127.0.0.1:400…'


def test_bench_figures_are_whole_on_a_narrow_console(
    server: TestServer, capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "50")
    code = run(["bench", server.url("/ok?size=5"), "-n", "4", "--workers", "1", "--json", "-"])
    assert code == ExitStatus.SUCCESS
    captured = capfd.readouterr()
    report = json.loads(captured.out)
    assert "…" not in captured.err  # rich's mark of a cut cell
    p50 = report["ttfb_ms"]["p50"]
    assert f"{p50:.2f}" in captured.err or f"{p50:.1f}" in captured.err


def test_serve_takes_silent_like_the_other_commands(tmp_path: Path) -> None:
    endpoints = tmp_path / "ep.json"
    args = ["serve", "--port", "0", "-s", "--json", str(endpoints)]
    proc = subprocess.Popen(
        [sys.executable, "-m", "lstream_cli", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 30
        while not endpoints.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert endpoints.exists()
        url = json.loads(endpoints.read_text())["stream"]
        assert run(["get", url + "/?size=5", "-o", os.devnull, "-s"]) == ExitStatus.SUCCESS
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == 0
    assert err == b""  # no table, no request log


def test_connect_timeout_everywhere_is_exit_5_in_get_and_compare(
    unanswered_port: int, capfd: pytest.CaptureFixture[str]
) -> None:
    url = f"http://127.0.0.1:{unanswered_port}/"
    assert run(["get", url, "--timeout", "0.5", "-s"]) == ExitStatus.NETWORK
    assert "timed out connecting" in _last_error_line(capfd.readouterr().err)
    args = ["compare-modes", "--stream", url, "--sizes", "1KB", "--no-warmup", "-s"]
    assert run([*args, "--timeout", "0.5"]) == ExitStatus.NETWORK
    assert "no target could be reached" in _last_error_line(capfd.readouterr().err)


def test_compare_timeout_on_an_open_connection_is_a_finding(
    server: TestServer, capfd: pytest.CaptureFixture[str]
) -> None:
    # /hang reads the request and never answers: reached, but too slow -> exit 0.
    args = ["compare-modes", "--stream", server.url("/hang"), "--sizes", "1KB", "--no-warmup"]
    assert run([*args, "-s", "--timeout", "0.5"]) == ExitStatus.SUCCESS
