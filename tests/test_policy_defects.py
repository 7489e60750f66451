"""The smaller defects, each through the command a user runs.

URLs that do not parse, ``-o``/``--json`` on one file, control characters
in ``-H``, ``-d`` from an endless file under a memory limit, the knee of a
cut stream, ``--time-scale`` out of range, and compare-modes' region.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from lstream_cli._exitcodes import ExitStatus
from lstream_cli.cli import run
from lstream_cli.measure import BodyMeter
from lstream_cli.redact import redact_url, scrub
from lstream_cli.region import resolve_region
from tests.scripted_server import ScriptedServer, scripted_server

LSTREAM = [sys.executable, "-m", "lstream_cli"]


@pytest.fixture(scope="module")
def server() -> Iterator[ScriptedServer]:
    with scripted_server() as s:
        yield s


def lstream(*args: str, shell_prefix: str = "") -> subprocess.CompletedProcess[str]:
    if shell_prefix:
        import shlex

        line = shell_prefix + " " + " ".join(shlex.quote(a) for a in [*LSTREAM, *args])
        return subprocess.run(
            line, shell=True, capture_output=True, text=True, timeout=60, executable="/bin/bash"
        )
    return subprocess.run([*LSTREAM, *args], capture_output=True, text=True, timeout=60)


# --- one URL redaction, even for a URL that does not parse ---

_BROKEN = "http://u:hunter2pw@[::1/?X-Amz-Signature=sig0123secret&X-Amz-Security-Token=TOKEN99"


@pytest.mark.parametrize(
    "args",
    [
        ["get", _BROKEN],
        ["bench", _BROKEN, "-n", "1"],
        ["compare-modes", "--stream", _BROKEN],
        ["get", "http://u:pw@[::1/?X-Amz-Signature=s"],  # short secrets too
    ],
)
def test_a_url_that_does_not_parse_is_echoed_redacted(args: list[str]) -> None:
    proc = lstream(*args)
    assert proc.returncode == ExitStatus.USAGE
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("lstream: error: invalid URL ")
    for secret in ("hunter2pw", "sig0123secret", "TOKEN99", "u:pw@", "Signature=s'"):
        assert secret not in proc.stderr
    assert "<redacted>" in proc.stderr


def test_redaction_is_one_function_everywhere() -> None:
    from lstream_cli.cli.compare import display_url
    from lstream_cli.signing import redact_url as signing_redact

    url = "https://me:pw1234@h/x?size=1&X-Amz-Credential=AKID%2F2024&x-api-key=k&token=t"
    assert display_url(url) == signing_redact(url) == redact_url(url)
    assert redact_url(url) == (
        "https://me:<redacted>@h/x?size=1&X-Amz-Credential=<redacted>"
        "&x-api-key=<redacted>&token=<redacted>"
    )
    # A library's message quoting part of the URL loses the secrets too.
    assert scrub("bad port in 'me:pw1234@h'", [url]) == "bad port in 'me:<redacted>@h'"


# --- -o and --json on the same file ---


@pytest.mark.parametrize("how", ["same", "symlink", "hardlink"])
def test_body_and_json_on_one_file_are_refused(
    server: ScriptedServer, tmp_path: Path, how: str
) -> None:
    body = tmp_path / "out.json"
    body.write_text("keep me")
    other = body
    if how == "symlink":
        other = tmp_path / "link.json"
        other.symlink_to(body)
    elif how == "hardlink":
        other = tmp_path / "hard.json"
        os.link(body, other)
    before = len(server.requests)
    proc = lstream("get", f"{server.base}/echo", "-o", str(body), "--json", str(other))
    assert proc.returncode == ExitStatus.USAGE
    assert "one would replace the other" in proc.stderr
    assert body.read_text() == "keep me" and len(server.requests) == before


def test_body_on_stdout_and_json_on_dev_null_are_fine(server: ScriptedServer) -> None:
    # /dev/null (a character device) may be shared: nothing is replaced there.
    proc = lstream("get", f"{server.base}/echo", "--auth", "none", "-o", "/dev/null",
                   "--json", "/dev/null")  # fmt: skip
    assert proc.returncode == 0, proc.stderr


# --- control characters in -H ---


@pytest.mark.parametrize(
    ("header", "what"),
    [
        ("x-api-key: abc\rX-Injected: 1", "a line break (CR)"),
        ("x-api-key: abc\nX-Injected: 1", "a line break (LF)"),
        ("x-api-key: abc\x01def", "a control character (0x01)"),
        ("x-api-key: abc\x1b[31m", "a control character (0x1B)"),
        ("x-api-key: abc\x7f", "a control character (DEL)"),
    ],
)
def test_control_characters_in_header_values_are_refused(
    server: ScriptedServer, header: str, what: str
) -> None:
    before = len(server.requests)
    proc = lstream("get", f"{server.base}/echo", "--auth", "none", "-H", header)
    assert proc.returncode == ExitStatus.USAGE
    assert f"invalid header 'x-api-key': the value holds {what}" in proc.stderr
    assert "abc" not in proc.stderr  # the value may be a secret: never echoed
    assert len(server.requests) == before


def test_nul_and_control_characters_in_names_are_refused(
    capfd: pytest.CaptureFixture[str],
) -> None:
    # A NUL cannot travel in argv: this one goes through the same parser in-process.
    code = run(["get", "http://127.0.0.1:9/", "-H", "x-api-key: abc\x00def"])
    assert code == ExitStatus.USAGE
    assert "the value holds a control character (NUL)" in capfd.readouterr().err
    code = run(["get", "http://127.0.0.1:9/", "-H", "x\x01y: v"])
    assert code == ExitStatus.USAGE
    assert "the name holds a control character (0x01)" in capfd.readouterr().err
    assert run(["get", "http://127.0.0.1:9/", "-H", "x-tab: a\tb", "--timeout", "1"]) != 2


# --- -d with bounded memory ---


def test_data_from_an_endless_file_under_a_memory_limit(server: ScriptedServer) -> None:
    before = len(server.requests)
    # 600 MB of address space: room for Python and its imports, not for /dev/zero.
    proc = lstream(
        "get", f"{server.base}/echo", "--auth", "none", "-d", "@/dev/zero",
        shell_prefix="ulimit -v 600000;",
    )  # fmt: skip
    assert proc.returncode == ExitStatus.USAGE, proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and "-d @/dev/zero: the body goes on, past the 64 MiB" in lines[0]
    assert "MemoryError" not in proc.stderr and "Traceback" not in proc.stderr
    assert len(server.requests) == before


def test_data_from_a_file_too_large_is_refused_before_reading(
    server: ScriptedServer, tmp_path: Path
) -> None:
    big = tmp_path / "big.bin"
    with big.open("wb") as fh:
        fh.truncate(100 * 2**20)  # sparse: 100 MiB that take no disk
    proc = lstream("get", f"{server.base}/echo", "--auth", "none", "-d", f"@{big}",
                   shell_prefix="ulimit -v 600000;")  # fmt: skip
    assert proc.returncode == ExitStatus.USAGE
    assert f"the body is {100 * 2**20:,} bytes, past the 64 MiB" in proc.stderr


def test_data_from_stdin_is_bounded_too(server: ScriptedServer) -> None:
    proc = lstream("get", f"{server.base}/echo", "--auth", "none", "-d", "@-",
                   shell_prefix="ulimit -v 600000; cat /dev/zero |")  # fmt: skip
    assert proc.returncode == ExitStatus.USAGE
    assert "-d @-: the body goes on" in proc.stderr


def test_data_within_the_limit_is_sent_whole(server: ScriptedServer, tmp_path: Path) -> None:
    payload = tmp_path / "p.bin"
    payload.write_bytes(bytes(range(256)) * 4096)  # 1 MiB
    out = tmp_path / "echo"
    proc = lstream("get", f"{server.base}/echo", "--auth", "none", "-d", f"@{payload}",
                   "-o", str(out))  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert out.read_bytes() == b"POST /echo\n" + payload.read_bytes()


# --- the knee of a cut stream ---


def test_cut_stream_reports_the_knee_of_what_arrived(
    server: ScriptedServer, tmp_path: Path
) -> None:
    res = tmp_path / "r.json"
    url = f"{server.base}/knee?burst=2000000&rate=200000&seconds=1.0&cut=1"
    proc = lstream("get", url, "--auth", "none", "-o", os.devnull, "--json", str(res))
    assert proc.returncode == ExitStatus.TRUNCATED, proc.stderr
    doc = json.loads(res.read_text())
    assert doc["complete"] is False
    assert doc["knee"] is not None and doc["knee"]["burst_bytes"] >= 1_500_000
    assert "that arrived (stream cut)" in proc.stderr
    assert "none (one steady rate)" not in proc.stderr


def test_meter_runs_the_knee_on_a_cut_stream() -> None:
    meter = BodyMeter(0)
    t = 1_000_000
    meter.headers(t, 200)
    for i in range(20):  # a burst: 2 MB in 100 ms
        meter.data(t + i * 5_000_000, 100_000)
    t += 100_000_000
    for i in range(1, 101):  # then 20 kB every 10 ms for 1 s, and the stream is cut
        meter.data(t + i * 10_000_000, 20_000)
    cut = meter.finish(t + 1_010_000_000, complete=False)
    assert cut.knee is not None and 1_800_000 <= cut.knee.burst_bytes <= 2_200_000
    short = BodyMeter(0)
    short.data(1, 10)
    assert short.finish(2, complete=False).knee is None  # nothing to fit


# --- --time-scale: one range for serve and compare-modes ---


@pytest.mark.parametrize("value", ["inf", "1e-300", "nan", "0", "-1", "20000"])
def test_time_scale_range_is_serves(value: str, capfd: pytest.CaptureFixture[str]) -> None:
    assert run(["compare-modes", "--time-scale", value]) == ExitStatus.USAGE
    compare_err = capfd.readouterr().err
    assert run(["serve", "--time-scale", value]) == ExitStatus.USAGE
    serve_err = capfd.readouterr().err
    assert compare_err == serve_err
    assert "--time-scale must be a positive number from 0.001 to 10000" in compare_err


# --- one region resolver ---


def test_region_order(monkeypatch: pytest.MonkeyPatch) -> None:
    lam = "https://abc.lambda-url.eu-west-1.on.aws/"
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-west-2")
    from lstream_cli.credentials import load_session

    session = load_session(None)
    assert resolve_region("http://127.0.0.1/", None, session) == "us-west-2"
    monkeypatch.setenv("AWS_REGION", "ap-south-1")
    assert resolve_region("http://127.0.0.1/", None, session) == "ap-south-1"
    assert resolve_region(lam, None, session) == "eu-west-1"  # the endpoint's own region
    assert resolve_region(lam, "sa-east-1", session) == "sa-east-1"  # --region wins


def test_compare_modes_invoke_honours_aws_region(
    server: ScriptedServer,
    aws_creds: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("AWS_REGION", "eu-west-2")  # over AWS_DEFAULT_REGION=us-east-1
    before = len(server.requests)
    run(["compare-modes", "--invoke", "fn", "--endpoint-url", server.base, "--sizes", "1B",
         "--no-warmup", "-s", "--timeout", "5"])  # fmt: skip
    capfd.readouterr()
    sent = [dict((k.lower(), v) for k, v in r.headers) for r in server.requests[before:]]
    assert sent, "the Lambda API was never called"
    assert all("/eu-west-2/lambda/aws4_request" in h["authorization"] for h in sent)


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("http://u:p/w@host/x", "http://u:<redacted>@host/x"),
        ("http://u:p?w@host/x", "http://u:<redacted>@host/x"),
        ("http://u:p#w@host/", "http://u:<redacted>@host/"),
        ("http://user@h/", "http://user@h/"),
        ("http://h/?e=a@b.com", "http://h/?e=a@b.com"),
        ("http://h:8080/x?e=a@b&Signature=cf", "http://h:8080/x?e=a@b&Signature=<redacted>"),
        ("/path?q=X-Amz-Signature", "/path?q=X-Amz-Signature"),
        ("u:pw@host", "u:<redacted>@host"),
    ],
)
def test_redact_url_cases(url: str, shown: str) -> None:
    assert redact_url(url) == shown
