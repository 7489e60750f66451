"""The emulator under hostile input and misbehaving handlers."""

from __future__ import annotations

import json
import os
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from conftest import ACCESS_KEY, SECRET_KEY, SESSION_TOKEN, lookup

from lstream_cli.cli import run
from lstream_cli.emulator import EmulatorConfig, RequestLog, running_emulator

HANDLERS = Path(__file__).with_name("emu_test_handlers.py")
LSTREAM = [sys.executable, "-m", "lstream_cli"]


def _connect(base: str) -> socket.socket:
    parts = urlsplit(base)
    assert parts.hostname is not None and parts.port is not None
    return socket.create_connection((parts.hostname, parts.port), timeout=10)


def _read_all(sock: socket.socket) -> bytes:
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


def test_a_body_that_stops_before_its_end_gets_408(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("lstream_cli.emulator.http.BODY_IDLE_TIMEOUT_S", 0.3)
    with running_emulator(EmulatorConfig(throttle=False)) as emu:
        for base in (emu.stream, emu.apigw, emu.lambda_api):
            with _connect(base) as sock:
                sock.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n0123456789")
                answer = _read_all(sock)  # the server closes after its 408
            assert answer.startswith(b"HTTP/1.1 408 "), (base, answer[:80])
        # A body that keeps coming, slowly, is not idle: it is served.
        with _connect(emu.buffered) as sock:
            sock.sendall(b"POST /?size=3 HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\n")
            for byte in b"abcd":
                time.sleep(0.1)
                sock.sendall(bytes([byte]))
            assert sock.recv(65536).startswith(b"HTTP/1.1 200 ")


def test_writes_after_the_handler_returned_never_reach_the_next_response() -> None:
    import emu_test_handlers

    config = EmulatorConfig(handler="emu_test_handlers:leaky", throttle=False)
    with running_emulator(config) as emu, _connect(emu.stream) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        first = sock.recv(65536)
        time.sleep(0.3)  # the handler's own task tries its late write now
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        second = _read_all(sock)
    assert first.endswith(b"2\r\nok\r\n0\r\n\r\n")
    assert second.startswith(b"HTTP/1.1 200 ") and b"LEAK" not in first + second
    assert second.endswith(b"2\r\nok\r\n0\r\n\r\n")
    assert any("ended" in text for text in emu_test_handlers.LEAKED)


def test_a_handler_raising_cancelled_error_gets_an_answer() -> None:
    config = EmulatorConfig(handler=f"{HANDLERS}:cancelled", throttle=False)
    with running_emulator(config) as emu:
        assert httpx.get(emu.stream + "/", timeout=10).status_code == 502
        assert httpx.get(emu.buffered + "/", timeout=10).status_code == 502
        r = httpx.post(emu.lambda_api + "/2015-03-31/functions/f/invocations", content=b"{}")
        assert r.headers["x-amz-function-error"] == "Unhandled"
        assert r.json()["errorType"] == "CancelledError"
        # and the server carries on
        assert httpx.get(emu.stream + "/", timeout=10).status_code == 502


def test_a_blocking_def_handler_holds_only_its_own_invocation() -> None:
    config = EmulatorConfig(handler=f"{HANDLERS}:blocking", throttle=False)
    done: list[str] = []
    with running_emulator(config) as emu:

        def slow() -> None:
            r = httpx.get(emu.stream + "/?sleep=1.5", timeout=30)
            done.append(r.text)

        thread = threading.Thread(target=slow)
        thread.start()
        time.sleep(0.3)  # the slow one is sleeping in its thread by now
        quick = httpx.get(emu.buffered + "/", timeout=30)
        done.append(quick.text)
        thread.join()
    assert done == ["slept 0.0", "slept 1.5"]


def test_api_gateway_stops_fetching_when_its_client_left() -> None:
    import emu_test_handlers

    logs: list[RequestLog] = []
    config = EmulatorConfig(
        handler="emu_test_handlers:slow_writer", throttle=False, log=logs.append
    )
    with running_emulator(config) as emu:
        sock = _connect(emu.apigw)
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        deadline = time.monotonic() + 10
        while not emu_test_handlers.SLOW_PROGRESS and time.monotonic() < deadline:
            time.sleep(0.01)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()  # a reset, while the integration is still being fetched
        deadline = time.monotonic() + 10
        while not any(log.endpoint == "stream" for log in logs) and time.monotonic() < deadline:
            time.sleep(0.01)
        progress = len(emu_test_handlers.SLOW_PROGRESS)
    upstream = [log for log in logs if log.endpoint == "stream"]
    assert upstream and "client closed the connection" in upstream[0].note
    assert 0 < progress < 500  # the function behind it stopped long before its end


def test_no_traceback_at_shutdown_after_api_gateway_clients_reset(tmp_path: Path) -> None:
    path = tmp_path / "ep.json"
    proc = subprocess.Popen(
        [*LSTREAM, "serve", "--port", "0", "--json", str(path), "--quiet"],
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONASYNCIODEBUG": "0"},
    )
    try:
        deadline = time.monotonic() + 30
        while not (path.exists() and path.read_text()) and time.monotonic() < deadline:
            time.sleep(0.05)
        ep = json.loads(path.read_text())
        for name in ("apigw_stream", "apigw") * 2:
            for target in (b"/?size=50MB&gap_ms=1", b"/?delay_ms=3000"):
                sock = _connect(ep[name])
                sock.sendall(b"GET " + target + b" HTTP/1.1\r\nHost: x\r\n\r\n")
                time.sleep(0.1)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                sock.close()
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    text = err.decode()
    assert proc.returncode == 0
    for bad in ("Traceback", "never retrieved", "Event loop is closed", "was destroyed"):
        assert bad not in text


def test_a_utf8_header_value_is_verified_as_the_bytes_sent() -> None:
    config = EmulatorConfig(auth="iam", credentials=lookup, throttle=False)
    with running_emulator(config) as emu:
        url = emu.buffered + "/?size=3"
        host = urlsplit(url).netloc
        request = AWSRequest("GET", url, headers={"host": host, "x-note": "café ☕"})
        SigV4Auth(
            Credentials(ACCESS_KEY, SECRET_KEY, SESSION_TOKEN), "lambda", "us-east-1"
        ).add_auth(request)
        head = ["GET /?size=3 HTTP/1.1", "Connection: close"]
        head += [f"{k}: {v}" for k, v in request.headers.items()]
        with _connect(emu.buffered) as sock:
            sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode("utf-8"))
            answer = _read_all(sock)
    assert answer.startswith(b"HTTP/1.1 200 "), answer[:200]


def test_a_handler_module_calling_sys_exit_at_import_is_a_usage_error(
    capfd: pytest.CaptureFixture[str],
) -> None:
    module = Path(__file__).with_name("exits_at_import.py")
    assert run(["serve", "--port", "0", "--handler", f"{module}:handler"]) == 2
    err = capfd.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "called sys.exit(4) while importing" in err[0]


def _free_ports(n: int) -> int:
    """A first port P with P..P+n-1 free now (best effort)."""
    for _ in range(50):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            first = int(s.getsockname()[1])
        if first + n > 65535:
            continue
        try:
            held = []
            for port in range(first, first + n):
                sock = socket.socket()
                held.append(sock)
                sock.bind(("127.0.0.1", port))
        except OSError:
            continue
        finally:
            for sock in held:
                sock.close()
        return first
    raise AssertionError("no free port range")


@pytest.mark.parametrize("read_it", [True, False])
def test_json_to_a_fifo_nobody_reads_does_not_block_serving(tmp_path: Path, read_it: bool) -> None:
    fifo = tmp_path / "endpoints"
    os.mkfifo(fifo)
    port = _free_ports(5)
    proc = subprocess.Popen(
        [*LSTREAM, "serve", "--port", str(port), "--json", str(fifo), "--quiet"],
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                r = httpx.get(f"http://127.0.0.1:{port}/?size=5", timeout=5)
                break
            except httpx.ConnectError:
                assert time.monotonic() < deadline and proc.poll() is None
                time.sleep(0.05)
        assert r.status_code == 200 and len(r.content) == 5  # served, nobody reading the FIFO
        if read_it:
            with open(fifo, encoding="utf-8") as fh:
                assert json.load(fh)["stream"] == f"http://127.0.0.1:{port}"
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err


@pytest.mark.parametrize(
    ("handler", "status", "expected"),
    [("cookies", 200, ["a=1; Path=/", "b=2; Secure"]), ("returned_cookies", 201, ["x=1", "y=2"])],
)
def test_in_process_handlers_send_several_cookies(
    handler: str, status: int, expected: list[str]
) -> None:
    config = EmulatorConfig(handler=f"{HANDLERS}:{handler}", throttle=False)
    with running_emulator(config) as emu:
        for base in (emu.stream, emu.buffered, emu.apigw, emu.apigw_stream):
            r = httpx.get(base + "/", timeout=10)
            assert r.status_code == status, base
            assert r.headers.get_list("set-cookie") == expected, base


def test_the_function_timeout_applies_in_process() -> None:
    from lstream_cli.emulator import FunctionConfig
    from lstream_cli.emulator.logs import FunctionLogRecord, PlatformNote

    records: list[FunctionLogRecord] = []
    fn = FunctionConfig(handler=f"{HANDLERS}:sleeps", timeout_s=0.5)
    config = EmulatorConfig(function=fn, throttle=False, function_log=records.append)
    with running_emulator(config) as emu:
        r = httpx.post(emu.lambda_api + "/2015-03-31/functions/f/invocations", content=b"{}")
        assert r.headers["x-amz-function-error"] == "Unhandled"
        assert r.json()["errorType"] == "Sandbox.Timedout"
        assert r.json()["errorMessage"].endswith("Task timed out after 0.50 seconds")
        with pytest.raises(httpx.RemoteProtocolError):  # started, then cut
            httpx.get(emu.stream + "/", timeout=10)
        own = httpx.post(
            emu.lambda_api + "/2015-03-31/functions/f/invocations", content=b'{"raise": 1}'
        )
        assert own.json()["errorType"] == "TimeoutError"
    notes = [r.text for r in records if isinstance(r, PlatformNote)]
    assert notes.count("Task timed out after 0.50 seconds") == 2
