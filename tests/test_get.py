"""``lstream get`` end to end against a scripted local server."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest

from lstream_cli._exitcodes import ExitStatus
from lstream_cli.cli import run
from tests.scripted_server import QuietHTTPServer, RawRequest, ScriptedServer, scripted_server


@pytest.fixture(scope="module")
def server() -> Iterator[ScriptedServer]:
    with scripted_server() as s:
        yield s


def get(args: list[str]) -> int:
    return run(["get", *args])


def load(path: Path) -> dict:  # type: ignore[type-arg]
    return json.loads(path.read_text())


def test_chunked_stream_measured(server: ScriptedServer, tmp_path: Path) -> None:
    out, res = tmp_path / "body", tmp_path / "r.json"
    # 100 ms apart: one read per chunk, even when a busy machine is slow to
    # schedule the reader (chunks that arrived together are one read).
    url = f"{server.base}/chunked?n=5&size=1000&gap_ms=100"
    assert get([url, "--auth", "none", "-o", str(out), "--json", str(res)]) == 0
    body = out.read_bytes()
    assert body == b"".join(bytes([97 + i]) * 1000 for i in range(5))
    doc = load(res)
    assert doc["status"] == 200 and doc["complete"] is True and doc["error"] is None
    assert doc["bytes"] == 5000
    assert doc["reads"] == 5
    # Four gaps of ~100 ms: the largest is at least the scripted gap.
    assert doc["gap_max_ms"] >= 95
    assert doc["headers_ms"] <= doc["ttfb_ms"] <= doc["total_ms"]
    assert doc["total_ms"] >= 4 * 95
    assert doc["verdict"] == "streamed"
    assert doc["connect_ms"] is not None


def test_early_headers_do_not_fool_ttfb(server: ScriptedServer, tmp_path: Path) -> None:
    res = tmp_path / "r.json"
    url = f"{server.base}/early-headers?wait_ms=300"
    assert get([url, "--auth", "none", "-o", "/dev/null", "--json", str(res)]) == 0
    doc = load(res)
    assert doc["ttfb_ms"] >= 300  # the server slept 300 ms between head and body
    assert doc["headers_ms"] < doc["ttfb_ms"]


def test_body_in_the_heads_own_read_arrived_with_the_head(server: ScriptedServer) -> None:
    """Head and body in one write: the first byte is stamped at that read.

    The body is handed over after the response object is built; stamping it
    then would put TTFB a fraction of a millisecond after its arrival (and
    after what ``bench`` reports for the same server).
    """
    from lstream_cli.engine.single import fetch
    from lstream_cli.request import RequestSpec

    record = fetch(RequestSpec(server.base + "/status?code=200&body=hello", auth="none"))
    assert record.ok and record.bytes == 5 and record.reads == 1
    assert record.first_byte_ns is not None
    assert record.first_byte_ns == record.headers_ns


def test_early_headers_measured_against_the_servers_own_clock(server: ScriptedServer) -> None:
    """headers_ms falls before the body left the server, ttfb_ms after it.

    The server thread records when it sent the head and the body with the
    same perf_counter the record uses: no bound on how fast anything runs.
    """
    from lstream_cli.engine.single import fetch
    from lstream_cli.request import RequestSpec
    from tests.scripted_server import SENT_AT

    target = "/early-headers?wait_ms=300&id=clock"
    record = fetch(RequestSpec(server.base + target, auth="none"))
    assert record.ok and record.headers_ns is not None and record.first_byte_ns is not None
    sent = SENT_AT[target]
    headers_at = record.t_start_ns + record.headers_ns
    body_at = record.t_start_ns + record.first_byte_ns
    assert sent["head"] < sent["body"]
    assert headers_at < sent["body"] <= body_at


@pytest.mark.parametrize("path", ["/short-length", "/chunk-cut", "/reset"])
def test_truncated_stream_is_a_failure_and_keeps_bytes(
    server: ScriptedServer, tmp_path: Path, path: str, capfd: pytest.CaptureFixture[str]
) -> None:
    out, res = tmp_path / "body", tmp_path / "r.json"
    code = get([server.base + path, "--auth", "none", "-o", str(out), "--json", str(res)])
    assert code == ExitStatus.TRUNCATED
    doc = load(res)
    assert doc["complete"] is False
    assert doc["error"] == "truncated"
    assert doc["total_ms"] is not None
    assert out.stat().st_size == doc["bytes"] > 0
    err = capfd.readouterr().err
    assert "truncated" in err
    assert "Traceback" not in err


def test_knee_detected_on_burst_then_capped_stream(server: ScriptedServer, tmp_path: Path) -> None:
    res = tmp_path / "r.json"
    url = f"{server.base}/knee?burst=2000000&rate=500000&seconds=1.2"
    assert get([url, "--auth", "none", "-o", "/dev/null", "--json", str(res)]) == 0
    knee = load(res)["knee"]
    assert knee is not None
    assert 1_500_000 <= knee["burst_bytes"] <= 2_300_000
    # 500 kB/s scripted; a shared machine's sleep jitter stays well within 2x.
    assert 250_000 <= knee["rate_after_burst_bytes_per_s"] <= 1_000_000


def test_steady_stream_has_no_knee(server: ScriptedServer, tmp_path: Path) -> None:
    res = tmp_path / "r.json"
    url = f"{server.base}/chunked?n=40&size=2000&gap_ms=15"
    assert get([url, "--auth", "none", "-o", "/dev/null", "--json", str(res)]) == 0
    assert load(res)["knee"] is None


@pytest.mark.parametrize(
    ("code", "error", "exit_status"),
    [
        (403, "http_4xx", ExitStatus.HTTP_ERROR),
        (500, "http_5xx", ExitStatus.HTTP_ERROR),
        (429, "throttled", ExitStatus.HTTP_ERROR),
        (502, "http_5xx", ExitStatus.HTTP_ERROR),
    ],
)
def test_http_errors_exit_non_zero_and_keep_body(
    server: ScriptedServer,
    tmp_path: Path,
    code: int,
    error: str,
    exit_status: int,
    capfd: pytest.CaptureFixture[str],
) -> None:
    out, res = tmp_path / "body", tmp_path / "r.json"
    url = f"{server.base}/status?code={code}"
    assert get([url, "--auth", "none", "-o", str(out), "--json", str(res)]) == exit_status
    doc = load(res)
    assert doc["status"] == code and doc["error"] == error
    assert doc["complete"] is True
    assert out.read_bytes() == (b'{"Message":"Forbidden"}' if code == 403 else b"boom")
    assert f"HTTP {code}" in capfd.readouterr().err


def test_a_final_1xx_is_not_2xx_and_exits_3(
    server: ScriptedServer, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    # A 101 the request never asked for ends the exchange: the answer is not 2xx.
    res = tmp_path / "r.json"
    url = f"{server.base}/status?code=101"
    assert get([url, "--auth", "none", "-o", "/dev/null", "--json", str(res)]) == 3
    doc = load(res)
    assert doc["status"] == 101 and doc["error"] is None and doc["bytes"] == 0
    assert capfd.readouterr().err.strip().splitlines()[-1] == (
        "lstream: error: the server answered HTTP 101"
    )


_MISMATCH = quote(
    '{"message":"The request signature we calculated does not match the signature you '
    'provided. Check your AWS Secret Access Key and signing method."}'
)
_EXPIRED = quote('{"message":"The security token included in the request is expired"}')


def test_403_access_denied_gets_the_iam_hint_only(
    server: ScriptedServer, aws_creds: dict[str, str], capfd: pytest.CaptureFixture[str]
) -> None:
    # A function URL's IAM denial: {"Message":"Forbidden"} (the route's default 403 body).
    url = f"{server.base}/status?code=403&date=Mon,%2001%20Jan%202001%2000:00:00%20GMT"
    assert get([url, "--auth", "iam", "-o", "/dev/null"]) == ExitStatus.HTTP_ERROR
    err = capfd.readouterr().err
    assert "lambda:InvokeFunctionUrl" in err and "lambda:InvokeFunction" in err
    assert "clock" not in err and "expired" not in err


def test_403_expired_token_says_refresh_and_nothing_else(
    server: ScriptedServer, aws_creds: dict[str, str], capfd: pytest.CaptureFixture[str]
) -> None:
    url = f"{server.base}/status?code=403&body={_EXPIRED}"
    assert get([url, "--auth", "iam", "-o", "/dev/null"]) == ExitStatus.HTTP_ERROR
    err = " ".join(capfd.readouterr().err.split())
    assert "credentials expired" in err and "refresh them" in err
    assert "InvokeFunctionUrl" not in err and "clock" not in err


def test_403_without_a_known_reason_gets_no_hint(
    server: ScriptedServer, aws_creds: dict[str, str], capfd: pytest.CaptureFixture[str]
) -> None:
    url = f"{server.base}/status?code=403&body=nope"
    assert get([url, "--auth", "iam", "-o", "/dev/null"]) == ExitStatus.HTTP_ERROR
    assert "hint" not in capfd.readouterr().err


@pytest.mark.parametrize(
    ("date", "expected"),
    [
        (None, "no usable Date header"),
        ("not a date", "no usable Date header"),
        ("now", "clock skew ruled out"),
        ("Mon, 01 Jan 2001 00:00:00 GMT", "fix the clock"),
    ],
)
def test_403_signature_mismatch_addresses_clock_skew(
    server: ScriptedServer,
    aws_creds: dict[str, str],
    capfd: pytest.CaptureFixture[str],
    date: str | None,
    expected: str,
) -> None:
    import email.utils

    url = f"{server.base}/status?code=403&body={_MISMATCH}"
    if date is not None:
        value = email.utils.formatdate(usegmt=True) if date == "now" else date
        url += "&date=" + quote(value)
    assert get([url, "--auth", "iam", "-o", "/dev/null"]) == ExitStatus.HTTP_ERROR
    err = " ".join(capfd.readouterr().err.split())
    assert "signature mismatch" in err and "--service" in err
    assert expected in err
    assert "InvokeFunctionUrl" not in err
    if expected != "fix the clock":
        assert "fix the clock" not in err


_SKEWED = quote(
    '{"message":"Signature expired: 20010101T000000Z is now earlier than '
    '20261201T000000Z (20261201T000500Z - 5 min.)"}'
)


def test_403_signature_expired_gets_the_clock_hint_only(
    server: ScriptedServer, aws_creds: dict[str, str], capfd: pytest.CaptureFixture[str]
) -> None:
    # The signature matched but is outside its window: the clock, not what was signed.
    url = (
        f"{server.base}/status?code=403&body={_SKEWED}&date=Mon,%2001%20Jan%202001%2000:00:00%20GMT"
    )
    assert get([url, "--auth", "iam", "-o", "/dev/null"]) == ExitStatus.HTTP_ERROR
    err = " ".join(capfd.readouterr().err.split())
    assert "fix the clock" in err
    assert "signature mismatch" not in err and "--service" not in err
    assert "InvokeFunctionUrl" not in err and "refresh them" not in err


def test_signature_window_is_told_apart_from_a_mismatch_whatever_the_error_type() -> None:
    from lstream_cli.hints import Refusal, classify_refusal

    header = [("x-amzn-ErrorType", "InvalidSignatureException")]
    expired = b'{"message":"Signature expired: 20010101T000000Z is now earlier than ..."}'
    future = b'{"message":"Signature not yet current: 20990101T000000Z is still later ..."}'
    mismatch = b'{"message":"The request signature we calculated does not match ..."}'
    assert classify_refusal(header, expired) is Refusal.SIGNATURE_TIME
    assert classify_refusal(header, future) is Refusal.SIGNATURE_TIME
    assert classify_refusal(header, mismatch) is Refusal.SIGNATURE
    assert classify_refusal(header, b"{}") is Refusal.SIGNATURE


def test_403_unsigned_hint(server: ScriptedServer, capfd: pytest.CaptureFixture[str]) -> None:
    assert get([f"{server.base}/status?code=403", "-o", "/dev/null"]) == ExitStatus.HTTP_ERROR
    assert "AWS_IAM needs SigV4" in capfd.readouterr().err


def test_connection_refused(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    res = tmp_path / "r.json"
    code = get([f"http://127.0.0.1:{port}/", "--auth", "none", "--json", str(res)])
    assert code == ExitStatus.NETWORK
    assert load(res)["error"] == "connect"
    err = capfd.readouterr().err
    assert "cannot connect" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1  # no empty summary table, one line


def test_dns_failure(unresolvable_host: str, capfd: pytest.CaptureFixture[str]) -> None:
    code = get([f"http://{unresolvable_host}/", "--auth", "none", "--timeout", "5"])
    assert code == ExitStatus.NETWORK
    err = capfd.readouterr().err
    assert "cannot resolve host" in err and "Traceback" not in err


def test_timeout(server: ScriptedServer, tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    res = tmp_path / "r.json"
    code = get(
        [f"{server.base}/hang?seconds=3", "--auth", "none", "--timeout", "0.5", "--json", str(res)]
    )
    assert code == ExitStatus.NETWORK
    assert load(res)["error"] == "timeout"
    assert "timed out" in capfd.readouterr().err


@pytest.fixture(scope="module")
def tls_server() -> Iterator[tuple[str, Path]]:
    """An HTTPS server with a certificate from a test CA the client does not trust."""
    import http.server
    import ssl
    import tempfile
    import threading

    import trustme

    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    cert.configure_cert(ctx)

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = b"secure hello"
            self.send_response(200)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    httpd = QuietHTTPServer(("127.0.0.1", 0), Handler)
    httpd.socket = ctx.wrap_socket(httpd.socket, server_side=True)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        with tempfile.TemporaryDirectory() as d:
            ca_path = Path(d) / "ca.pem"
            ca.cert_pem.write_to_path(str(ca_path))
            yield f"https://127.0.0.1:{httpd.server_address[1]}", ca_path
    finally:
        httpd.shutdown()
        httpd.server_close()  # the listening socket too, not only the loop


def test_tls_verification_failure(
    tls_server: tuple[str, Path], capfd: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    res = tmp_path / "r.json"
    code = get([tls_server[0] + "/", "--auth", "none", "--timeout", "5", "--json", str(res)])
    assert code == ExitStatus.NETWORK
    assert load(res)["error"] == "tls"
    err = capfd.readouterr().err
    assert "TLS" in err and "certificate" in err.lower() and "Traceback" not in err


def test_ca_from_ssl_cert_file_is_trusted(
    tls_server: tuple[str, Path], monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    """A private CA given the OpenSSL way (as curl and bench accept it) verifies."""
    monkeypatch.setenv("SSL_CERT_FILE", str(tls_server[1]))
    assert get([tls_server[0] + "/", "--auth", "none", "-s"]) == 0
    assert capfd.readouterr().out == "secure hello"


def test_insecure_skips_verification(
    tls_server: tuple[str, Path], capfd: pytest.CaptureFixture[str]
) -> None:
    assert get([tls_server[0] + "/", "--auth", "none", "-k", "-s"]) == 0
    assert capfd.readouterr().out == "secure hello"


def test_body_to_stdout_and_include_headers(
    server: ScriptedServer, capfd: pytest.CaptureFixture[str]
) -> None:
    assert get([f"{server.base}/chunked?n=2&size=3", "--auth", "none", "-i", "-s"]) == 0
    out = capfd.readouterr().out
    assert out.startswith("HTTP/1.1 200 X\r\n")  # the server's reason phrase, as curl -i
    assert out.endswith("aaabbb")
    assert "transfer-encoding: chunked" in out


def test_verbose_shows_the_status_line_with_its_reason(
    server: ScriptedServer, capfd: pytest.CaptureFixture[str]
) -> None:
    assert get([f"{server.base}/status?code=500", "--auth", "none", "-v", "-o", "/dev/null"]) == 3
    assert "< HTTP/1.1 500 X\n" in capfd.readouterr().err


def test_post_body_from_file_and_stdin(
    server: ScriptedServer,
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    payload = tmp_path / "p.json"
    payload.write_text('{"a": 1}')
    assert get([f"{server.base}/echo", "--auth", "none", "-d", f"@{payload}", "-s"]) == 0
    assert capfd.readouterr().out == 'POST /echo\n{"a": 1}'
    import io

    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"from stdin")))
    assert get([f"{server.base}/echo", "--auth", "none", "-X", "PUT", "-d", "@-", "-s"]) == 0
    assert capfd.readouterr().out == "PUT /echo\nfrom stdin"
    req = server.requests[-1]
    assert ("content-length", "10") in [(k.lower(), v) for k, v in req.headers]


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["-H", "no-colon-here"], "invalid header"),
        (["-d", "@/nonexistent/file.json"], "cannot read -d"),
        (["-o", "/nonexistent-dir/out.bin"], "cannot open -o"),
        (["--json", "/nonexistent-dir/r.json"], "--json"),
        (["--timeout", "-1"], "--timeout"),
        (["--timeout", "nan"], "--timeout"),
        (["--timeout", "inf"], "--timeout"),
        (["-H", "X-Name: caf\u00e9"], "must be ASCII"),
        (["-H", "X-\u65e5: v"], "must be ASCII"),
        (["-X", "BAD METHOD"], "invalid method"),
        (["-X", "\u00c9T"], "invalid method"),
        (["--auth", "sometimes"], "--auth"),
        (["--bogus-flag"], "No such option"),
    ],
)
def test_usage_errors(
    server: ScriptedServer, args: list[str], needle: str, capfd: pytest.CaptureFixture[str]
) -> None:
    before = len(server.requests)
    assert get([f"{server.base}/echo", "--auth", "none", *args]) == ExitStatus.USAGE
    err = capfd.readouterr().err
    assert needle in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    assert len(server.requests) == before  # nothing was sent


@pytest.mark.parametrize(
    "url",
    [
        "not a url",
        "ftp://example.com/x",
        "http://",
        "://nohost",
        "http://127.0.0.1:99999/",
        "http://127.0.0.1:0/",
    ],
)
def test_bad_urls(url: str, capfd: pytest.CaptureFixture[str]) -> None:
    assert get([url]) == ExitStatus.USAGE
    err = capfd.readouterr().err
    assert "invalid URL" in err and "Traceback" not in err


def test_iam_without_credentials_names_where_it_looked(capfd: pytest.CaptureFixture[str]) -> None:
    import os

    assert get(["https://abc.lambda-url.us-east-1.on.aws/", "--auth", "iam"]) == ExitStatus.USAGE
    err = capfd.readouterr().err
    assert "no AWS credentials" in err and "AWS_ACCESS_KEY_ID" in err
    # The files it really read (set by the test environment), not the defaults.
    assert os.environ["AWS_SHARED_CREDENTIALS_FILE"] in err
    assert os.environ["AWS_CONFIG_FILE"] in err


def test_iam_without_credentials_names_the_profile(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "config"
    config.write_text("[profile empty-one]\nregion = eu-west-1\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    args = ["https://abc.lambda-url.us-east-1.on.aws/", "--auth", "iam", "--profile", "empty-one"]
    assert get(args) == ExitStatus.USAGE
    err = capfd.readouterr().err
    assert "'empty-one'" in err and str(config) in err and "Traceback" not in err


def test_signed_request_without_region_is_a_usage_error(
    aws_creds: dict[str, str], monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    assert get(["http://127.0.0.1:9/", "--auth", "iam"]) == ExitStatus.USAGE
    assert "--region" in capfd.readouterr().err


def test_auto_signing_without_region_points_at_auth_none(
    aws_creds: dict[str, str], monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    """Credentials found, no region, a non-AWS URL: the way out names --auth none too."""
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    assert get(["http://127.0.0.1:9/"]) == ExitStatus.USAGE
    err = capfd.readouterr().err
    assert "--region" in err and "--auth none" in err


def test_unknown_profile_is_a_usage_error(capfd: pytest.CaptureFixture[str]) -> None:
    assert get(["http://127.0.0.1:9/", "--profile", "nope-profile"]) == ExitStatus.USAGE
    assert "nope-profile" in capfd.readouterr().err


def test_verbose_redacts_secrets(
    server: ScriptedServer,
    aws_creds: dict[str, str],
    capfd: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    res = tmp_path / "r.json"
    assert (
        get([f"{server.base}/echo", "--auth", "iam", "-v", "-o", "/dev/null", "--json", str(res)])
        == 0
    )
    captured = capfd.readouterr()
    err = captured.err
    assert "> GET /echo HTTP/1.1" in err
    assert "Authorization: AWS4-HMAC-SHA256" in err
    assert "Signature=<redacted>" in err
    sent = dict((k.lower(), v) for k, v in server.requests[-1].headers)
    signature = sent["authorization"].split("Signature=")[1]
    everything = err + captured.out + res.read_text()
    for secret in (aws_creds["AWS_SECRET_ACCESS_KEY"], aws_creds["AWS_SESSION_TOKEN"], signature):
        assert secret not in everything
    assert sent["x-amz-security-token"] == aws_creds["AWS_SESSION_TOKEN"]


def test_binary_refused_on_terminal_but_written_to_pipe(
    server: ScriptedServer, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    import lstream_cli.bodyout

    monkeypatch.setattr(lstream_cli.bodyout, "stdout_is_terminal", lambda fd: True)
    assert get([f"{server.base}/binary", "--auth", "none"]) == ExitStatus.USAGE
    err = capfd.readouterr().err
    assert "binary" in err and "-o FILE" in err
    # -i puts a text head first: the body after it is still checked.
    assert get([f"{server.base}/binary", "--auth", "none", "-i"]) == ExitStatus.USAGE
    captured = capfd.readouterr()
    assert "binary" in captured.err and "\x00" not in captured.out
    # Text is still printed to a terminal.
    assert get([f"{server.base}/chunked?n=1&size=5", "--auth", "none", "-s"]) == 0
    assert capfd.readouterr().out == "aaaaa\n"  # the line is ended on a terminal
    monkeypatch.undo()
    assert get([f"{server.base}/binary", "--auth", "none", "-s"]) == 0
    assert len(capfd.readouterr().out.encode("latin-1", "replace")) > 0


def test_disk_full_is_reported(server: ScriptedServer, capfd: pytest.CaptureFixture[str]) -> None:
    if not Path("/dev/full").exists():
        pytest.fail("/dev/full is needed to simulate a full disk")
    code = get([f"{server.base}/big?size=200000", "--auth", "none", "-o", "/dev/full"])
    assert code == ExitStatus.ERROR
    err = capfd.readouterr().err
    assert "No space left on device" in err and "Traceback" not in err


def test_json_to_stdout(server: ScriptedServer, capfd: pytest.CaptureFixture[str]) -> None:
    assert (
        get([f"{server.base}/big?size=1234", "--auth", "none", "-o", "/dev/null", "--json", "-"])
        == 0
    )
    doc = json.loads(capfd.readouterr().out)
    assert doc["bytes"] == 1234 and doc["schema_version"] == 2


@pytest.mark.parametrize(
    "path",
    [
        "/chunked?n=3&size=10&gap_ms=5",
        "/short-length",
        "/status?code=500",
        "/knee?burst=1000000&rate=500000&seconds=0.6",
    ],
)
def test_json_matches_schema(server: ScriptedServer, tmp_path: Path, path: str) -> None:
    import jsonschema

    schema = json.loads((Path(__file__).parent.parent / "schemas/get.schema.json").read_text())
    res = tmp_path / "r.json"
    get([server.base + path, "--auth", "none", "-o", "/dev/null", "--json", str(res)])
    jsonschema.validate(load(res), schema)


def _assert_signature_verifies(req: RawRequest, aws_creds: dict[str, str]) -> None:
    """The raw request verifies under the emulator's own SigV4 implementation."""
    import hashlib

    from lstream_cli.emulator.sigv4 import verify_request

    creds = (aws_creds["AWS_SECRET_ACCESS_KEY"], aws_creds["AWS_SESSION_TOKEN"])
    result = verify_request(
        req.method,
        req.target,
        req.headers,
        hashlib.sha256(req.body).hexdigest(),
        lambda key: creds if key == aws_creds["AWS_ACCESS_KEY_ID"] else None,
    )
    assert result.ok, result.reason


@pytest.mark.parametrize(
    "path",
    [
        "/echo",
        "/echo/a%20b/%C3%BC?z=1&a=2&a=1&flag&t=1:2&s=a%20b&u=%C3%BC",
        "/echo?b=&a",
    ],
)
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_signature_verifies_independently(
    server: ScriptedServer, aws_creds: dict[str, str], path: str, method: str
) -> None:
    """What `get` sends verifies under the emulator's own SigV4 implementation."""
    import hashlib

    from lstream_cli.emulator.sigv4 import verify_request

    args = [server.base + path, "--auth", "iam", "-X", method, "-o", "/dev/null", "-s"]
    if method == "POST":
        args += ["-d", '{"size": "1MB"}', "-H", "content-type: application/json"]
    assert get(args) == 0
    req = server.requests[-1]
    creds = (aws_creds["AWS_SECRET_ACCESS_KEY"], aws_creds["AWS_SESSION_TOKEN"])
    _assert_signature_verifies(req, aws_creds)
    tampered = verify_request(
        req.method,
        req.target + ("&x=1" if "?" in req.target else "?x=1"),
        req.headers,
        hashlib.sha256(req.body).hexdigest(),
        lambda key: creds if key == aws_creds["AWS_ACCESS_KEY_ID"] else None,
    )
    assert not tampered.ok


# --- review fixes ----------------------------------------------------------


def test_failure_message_is_one_line_however_long(
    server: ScriptedServer, capfd: pytest.CaptureFixture[str]
) -> None:
    """Scripts grep the error line: a long reason must not be broken over lines."""
    assert get([server.base + "/chunk-cut", "--auth", "none", "-o", "/dev/null", "-s"]) == (
        ExitStatus.TRUNCATED
    )
    lines = [ln for ln in capfd.readouterr().err.splitlines() if ln.strip()]
    assert len(lines) == 1, lines
    assert len(lines[0]) > 120  # longer than the console width (COLUMNS=120)
    assert lines[0].startswith("lstream: error: stream truncated after 3,000 bytes")
    assert lines[0].endswith("what arrived was written")


def test_aws_region_from_the_environment_is_used(
    server: ScriptedServer,
    aws_creds: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    """AWS_REGION (what the error message tells the user to set) is honoured."""
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    monkeypatch.setenv("AWS_REGION", "eu-west-2")
    assert get([server.base + "/echo", "--auth", "iam", "-o", "/dev/null", "-s"]) == 0
    sent = dict((k.lower(), v) for k, v in server.requests[-1].headers)
    assert "/eu-west-2/lambda/aws4_request" in sent["authorization"]
    # --region still wins over the environment.
    args = [server.base + "/echo", "--auth", "iam", "--region", "ap-south-1", "-o", "/dev/null"]
    assert get([*args, "-s"]) == 0
    sent = dict((k.lower(), v) for k, v in server.requests[-1].headers)
    assert "/ap-south-1/lambda/aws4_request" in sent["authorization"]


def test_403_hint_with_auth_none_does_not_blame_missing_credentials(
    server: ScriptedServer, aws_creds: dict[str, str], capfd: pytest.CaptureFixture[str]
) -> None:
    url = f"{server.base}/status?code=403"
    assert get([url, "--auth", "none", "-o", "/dev/null"]) == ExitStatus.HTTP_ERROR
    err = capfd.readouterr().err
    assert "--auth none" in err
    assert "no credentials were found" not in err


def test_json_keeps_repeated_headers_and_hides_cookies(
    server: ScriptedServer, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    res = tmp_path / "r.json"
    assert (
        get([server.base + "/cookies", "--auth", "none", "-o", "/dev/null", "--json", str(res)])
        == 0
    )
    headers = load(res)["response_headers"]
    assert headers["x-multi"] == "one, two"
    assert "set-cookie" in headers
    assert "SECRET" not in res.read_text()


def test_failed_connection_leaves_an_existing_output_file_alone(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    kept = tmp_path / "export.json"
    kept.write_bytes(b"yesterday's export")
    url = f"http://127.0.0.1:{port}/"
    assert get([url, "--auth", "none", "-o", str(kept), "-s"]) == ExitStatus.NETWORK
    assert kept.read_bytes() == b"yesterday's export"
    fresh = tmp_path / "new.bin"
    assert get([url, "--auth", "none", "-o", str(fresh), "-s"]) == ExitStatus.NETWORK
    assert not fresh.exists()


def test_output_file_is_replaced_once_a_response_arrives(
    server: ScriptedServer, tmp_path: Path
) -> None:
    out = tmp_path / "body"
    out.write_bytes(b"x" * 100_000)  # longer than the new body: no stale tail may remain
    assert get([f"{server.base}/status?code=500", "--auth", "none", "-o", str(out), "-s"]) == (
        ExitStatus.HTTP_ERROR
    )
    assert out.read_bytes() == b"boom"
    assert get([f"{server.base}/status?code=200&body=", "--auth", "none", "-o", str(out)]) == 0
    assert out.read_bytes() == b""


def test_no_progress_line_over_a_body_printed_on_the_terminal(
    server: ScriptedServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    """A transient progress line would erase the body's last line on a terminal."""
    import io

    from rich.console import Console

    import lstream_cli.bodyout
    import lstream_cli.render.console
    import lstream_cli.render.get
    from lstream_cli.render.console import Output

    created: list[object] = []

    class Recorder(lstream_cli.render.get.ProgressLine):
        def __init__(self, console: Console) -> None:
            created.append(self)
            super().__init__(console)

    def terminal_output(quiet: bool = False) -> Output:
        return Output(Console(file=io.StringIO(), force_terminal=True, width=100), quiet=quiet)

    monkeypatch.setattr(lstream_cli.render.get, "ProgressLine", Recorder)
    monkeypatch.setattr(lstream_cli.render.console, "make_output", terminal_output)
    monkeypatch.setattr(lstream_cli.bodyout, "stdout_is_terminal", lambda fd: True)
    url = f"{server.base}/status?code=200&body=no-newline"
    assert get([url, "--auth", "none"]) == 0
    assert created == []
    # The body's line is ended so the summary cannot land on (or erase) it.
    assert capfd.readouterr().out == "no-newline\n"
    # To a file, the progress line is shown (the stderr console is a terminal).
    assert get([url, "--auth", "none", "-o", str(tmp_path / "b")]) == 0
    assert len(created) == 1
    assert (tmp_path / "b").read_bytes() == b"no-newline"


def test_verbose_hides_secret_headers_given_with_h(
    server: ScriptedServer, capfd: pytest.CaptureFixture[str]
) -> None:
    """The origin secret that API Gateway adds, sent by hand, is not echoed by -v."""
    args = [f"{server.base}/echo", "--auth", "none", "-v", "-o", "/dev/null"]
    args += ["-H", "X-Origin-Secret: s3cr3t-origin-value", "-H", "x-api-key: key-value-123"]
    args += ["-H", "X-Trace: visible-value"]
    assert get(args) == 0
    err = capfd.readouterr().err
    assert "X-Origin-Secret: <redacted>" in err and "x-api-key: <redacted>" in err
    assert "s3cr3t-origin-value" not in err and "key-value-123" not in err
    assert "X-Trace: visible-value" in err
    sent = dict((k.lower(), v) for k, v in server.requests[-1].headers)
    assert sent["x-origin-secret"] == "s3cr3t-origin-value"  # sent as given


def test_progress_line_counts_time_while_waiting_for_the_first_byte() -> None:
    """Elapsed time runs from the request's start, also before any byte arrived."""
    import io

    from rich.console import Console

    from lstream_cli.engine.single import Progress
    from lstream_cli.render.get import ProgressLine

    now = [100.0]
    console = Console(file=io.StringIO(), force_terminal=True, width=100)
    line = ProgressLine(console, clock=lambda: now[0])
    now[0] = 103.5  # a cold start: nothing yet
    assert line.render().plain == "waiting for the response     3.5 s"
    line.update(Progress(elapsed_s=4.0, bytes=2_000_000, ttfb_ms=3900.0, status=200))
    try:
        now[0] += 2.0  # the stream pauses: the clock still moves
        text = line.render().plain
    finally:
        line.stop()
    assert text.startswith("HTTP 200") and "2.00 MB" in text
    assert "6.0 s" in text and "TTFB 3900.0 ms" in text


def test_silent_http_error_names_the_status(
    server: ScriptedServer, capfd: pytest.CaptureFixture[str]
) -> None:
    url = f"{server.base}/status?code=503"
    assert get([url, "--auth", "none", "-o", "/dev/null", "-s"]) == ExitStatus.HTTP_ERROR
    assert capfd.readouterr().err == "lstream: error: the server answered HTTP 503\n"


def test_presigned_url_secrets_stay_out_of_verbose_output_and_json(
    server: ScriptedServer, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """A query-string-signed URL carries a signature and a token: neither is echoed."""
    res = tmp_path / "r.json"
    query = (
        "size=1&X-Amz-Credential=AKIDPRESIGNED0000001%2F20260101%2Fus-east-1%2Flambda"
        "&X-Amz-Security-Token=presigned-TOKEN-value&X-Amz-Signature=abcdef0123456789"
    )
    url = f"http://user:pa55word@{server.base.removeprefix('http://')}/echo?{query}"
    assert get([url, "--auth", "none", "-v", "-o", "/dev/null", "--json", str(res)]) == 0
    shown = capfd.readouterr().err + res.read_text()
    for secret in ("AKIDPRESIGNED", "presigned-TOKEN-value", "abcdef0123456789", "pa55word"):
        assert secret not in shown
    doc = load(res)
    assert doc["url"].startswith("http://user:<redacted>@127.0.0.1:")
    assert "size=1&X-Amz-Credential=<redacted>" in doc["url"]
    assert "> GET /echo?size=1&X-Amz-Credential=<redacted>&" in shown
    # What was sent is untouched.
    assert "X-Amz-Signature=abcdef0123456789" in server.requests[-1].target


def test_redact_url_leaves_ordinary_urls_alone() -> None:
    from lstream_cli.signing import redact_url

    for url in (
        "https://abc.lambda-url.us-east-1.on.aws/a%20b?x=1&x=2&flag&s=a+b",
        "http://127.0.0.1:9000/?size=20MB",
        "/path?q=X-Amz-Signature",
    ):
        assert redact_url(url) == url


def test_result_file_has_normal_permissions_and_no_leftovers(
    server: ScriptedServer, tmp_path: Path
) -> None:
    import os

    res = tmp_path / "r.json"
    assert (
        get([f"{server.base}/big?size=10", "--auth", "none", "-o", "/dev/null", "--json", str(res)])
        == 0
    )
    umask = os.umask(0)
    os.umask(umask)
    assert res.stat().st_mode & 0o777 == 0o666 & ~umask
    ours = {"_aws", "_home"}  # the isolated environment's directories (conftest)
    assert sorted(p.name for p in tmp_path.iterdir() if p.name not in ours) == ["r.json"]


def test_json_path_that_cannot_be_created_is_refused_before_sending(
    capfd: pytest.CaptureFixture[str],
) -> None:
    """/proc takes no new files, even for root (whom os.access always says yes to)."""
    # Port 9 refuses: had the request been sent, the exit would be 5, not 2.
    args = ["http://127.0.0.1:9/", "--auth", "none", "-o", "/dev/null", "--json", "/proc/r.json"]
    assert get(args) == ExitStatus.USAGE
    err = capfd.readouterr().err
    assert "--json /proc/r.json" in err and "Traceback" not in err
    assert "refused" not in err


def test_host_given_with_h_is_the_host_signed(
    server: ScriptedServer, aws_creds: dict[str, str]
) -> None:
    """-H Host goes on the wire as given, so the signature must cover that host."""
    host = "abc123.lambda-url.us-east-1.on.aws"
    args = [f"{server.base}/echo", "--auth", "iam", "-H", f"Host: {host}", "-o", "/dev/null"]
    assert get([*args, "-s"]) == 0
    req = server.requests[-1]
    assert [v for k, v in req.headers if k.lower() == "host"] == [host]
    _assert_signature_verifies(req, aws_creds)


def test_own_authorization_header_is_not_doubled_by_auto_signing(
    server: ScriptedServer, aws_creds: dict[str, str]
) -> None:
    args = [f"{server.base}/echo", "-H", "Authorization: Bearer tok", "-o", "/dev/null", "-s"]
    assert get(args) == 0
    sent = [v for k, v in server.requests[-1].headers if k.lower() == "authorization"]
    assert sent == ["Bearer tok"]


@pytest.mark.parametrize("header", ["Authorization: Bearer tok", "X-Amz-Date: 20200101T000000Z"])
def test_header_the_signature_sets_conflicts_with_signing(
    server: ScriptedServer,
    aws_creds: dict[str, str],
    header: str,
    capfd: pytest.CaptureFixture[str],
) -> None:
    before = len(server.requests)
    assert get([f"{server.base}/echo", "--auth", "iam", "-H", header]) == ExitStatus.USAGE
    assert "SigV4 signing sets this header" in capfd.readouterr().err
    assert len(server.requests) == before  # nothing sent


def test_verbose_keeps_each_header_on_one_line(
    server: ScriptedServer,
    aws_creds: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    """Like curl -v: a long header (the SigV4 Authorization) is one greppable line."""
    monkeypatch.setenv("COLUMNS", "60")
    long_value = "v" * 150
    args = [f"{server.base}/echo", "--auth", "iam", "-v", "-H", f"X-Long: {long_value}"]
    assert get([*args, "-o", "/dev/null", "-s"]) == 0
    lines = capfd.readouterr().err.splitlines()
    assert f"> X-Long: {long_value}" in lines
    auth = [line for line in lines if line.startswith("> Authorization: ")]
    assert len(auth) == 1
    assert "SignedHeaders=" in auth[0] and "Signature=<redacted>" in auth[0]


def test_binary_check_looks_past_a_small_first_chunk(tmp_path: Path) -> None:
    """The first 4 KiB of the body are checked however the server splits them."""
    import os

    from lstream_cli.bodyout import BinaryToTerminal, BodyWriter

    with (tmp_path / "tty-stand-in").open("wb") as fh:
        writer = BodyWriter(fh.fileno(), "stdout", guard_binary=True, terminal=True)
        writer(b"hello ")  # text first ...
        with pytest.raises(BinaryToTerminal):
            writer(b"\x00\x01\x02 binary")  # ... then a NUL within the window
        late = BodyWriter(fh.fileno(), "stdout", guard_binary=True, terminal=True)
        late(b"t" * 4096)
        late(b"\x00 past the window")  # like curl: only the start is judged
    assert os.path.getsize(tmp_path / "tty-stand-in") == 6 + 4096 + 17


def test_verbose_shows_the_request_even_when_no_response_comes(
    server: ScriptedServer, aws_creds: dict[str, str], capfd: pytest.CaptureFixture[str]
) -> None:
    """-v on a function that never answers still shows what was sent (redacted)."""
    args = [f"{server.base}/hang", "--auth", "iam", "-v", "--timeout", "0.5", "-o", "/dev/null"]
    assert get(args) == ExitStatus.NETWORK
    err = capfd.readouterr().err
    assert "> GET /hang HTTP/1.1" in err
    assert "Signature=<redacted>" in err
    assert aws_creds["AWS_SESSION_TOKEN"] not in err
    assert err.index("> GET /hang") < err.index("timed out")


@pytest.mark.parametrize("route", ["/te-and-length", "/bare-lf"])
def test_responses_curl_reads_are_read(
    server: ScriptedServer, route: str, capfd: pytest.CaptureFixture[str]
) -> None:
    assert get([server.base + route, "--auth", "none", "-s"]) == 0
    assert capfd.readouterr().out == "hello"


def test_include_shows_the_status_line_as_received(
    server: ScriptedServer, capfd: pytest.CaptureFixture[str]
) -> None:
    assert get([f"{server.base}/http10", "--auth", "none", "-i", "-s"]) == 0
    assert capfd.readouterr().out == (
        "HTTP/1.0 200 Fine\r\nContent-Type: text/plain\r\n\r\nold style"
    )


@pytest.mark.parametrize(
    "flags",
    [["--region", "us east"], ["--region", ""], ["--service", ""], ["--service", "La mbda"]],
)
def test_bad_signing_scope_is_a_usage_error(
    flags: list[str], aws_creds: dict[str, str], capfd: pytest.CaptureFixture[str]
) -> None:
    """A region or service no signature could be valid for is refused before sending."""
    assert get(["http://127.0.0.1:9/", *flags]) == ExitStatus.USAGE
    err = capfd.readouterr().err
    assert f"invalid {flags[0]}" in err and "Traceback" not in err


def test_403_hint_with_own_authorization_does_not_blame_missing_credentials(
    server: ScriptedServer, aws_creds: dict[str, str], capfd: pytest.CaptureFixture[str]
) -> None:
    url = f"{server.base}/status?code=403"
    assert get([url, "-H", "Authorization: Bearer t", "-o", "/dev/null"]) == 3
    err = " ".join(capfd.readouterr().err.split())
    assert "own -H Authorization" in err and "no credentials were found" not in err


def test_a_short_write_is_continued_and_counted() -> None:
    """A write the pipe takes only part of goes on from there; what went is counted."""
    import os
    import threading

    from lstream_cli._exitcodes import LstreamError
    from lstream_cli.bodyout import BodyWriter

    body = bytes(range(256)) * 4096  # 1 MiB: more than a pipe holds at once
    r, w = os.pipe()
    got = bytearray()

    def drain() -> None:
        while data := os.read(r, 65536):
            got.extend(data)

    reader = threading.Thread(target=drain)
    reader.start()
    try:
        writer = BodyWriter(w, "stdout", guard_binary=False)
        writer(memoryview(body))
        writer(b"")  # an empty delivery writes nothing
        assert writer.written == len(body)
    finally:
        os.close(w)
        reader.join()
        os.close(r)
    assert bytes(got) == body

    # A pipe nobody reads, non-blocking: the first write is partial, the next fails.
    r, w = os.pipe()
    try:
        os.set_blocking(w, False)
        writer = BodyWriter(w, "stdout", guard_binary=False)
        with pytest.raises(LstreamError) as info:
            writer(body)
        took = writer.written
        assert 0 < took < len(body)
        assert f"({took:,} bytes written)" in str(info.value)
        assert len(os.read(r, len(body))) == took
    finally:
        os.close(w)
        os.close(r)


def test_the_last_byte_kept_for_a_terminal_is_a_copy(tmp_path: Path) -> None:
    """The read buffer is overwritten by the next read: the writer keeps its own byte."""
    from lstream_cli.bodyout import BodyWriter

    buf = bytearray(b"line\n")
    with (tmp_path / "tty-stand-in").open("wb") as fh:
        writer = BodyWriter(fh.fileno(), "stdout", guard_binary=True, terminal=True)
        writer(memoryview(buf))
        buf[:] = b"XXXXX"  # the next read reuses the buffer
        writer.end_line()  # the body ended with a newline: none added
    assert (tmp_path / "tty-stand-in").read_bytes() == b"line\n"
