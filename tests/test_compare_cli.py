"""``lstream compare-modes`` against given targets: rows, limits, JSON, exit codes, Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lstream_cli._exitcodes import ExitStatus
from lstream_cli.cli import run
from tests.compare_fakes import FakePaths, fake_paths
from tests.conftest import Spawn
from tests.test_compare import _closed_port

SCHEMA = json.loads((Path(__file__).parent.parent / "schemas/compare.schema.json").read_text())


@pytest.fixture(scope="module")
def fake() -> Iterator[FakePaths]:
    with fake_paths() as f:
        yield f


def compare(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = run(["compare-modes", *args])
    return code, capsys.readouterr().err


def rows(path: Path) -> dict[tuple[str, int], dict[str, Any]]:
    doc = json.loads(path.read_text())
    return {(r["mode"], r["size"]): r for r in doc["rows"]}


def test_sweep_finds_each_limit(
    fake: FakePaths, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import jsonschema

    res = tmp_path / "r.json"
    args = ["--stream", f"{fake.base}/stream", "--buffered", f"{fake.base}/buffered"]
    args += ["--apigw", f"{fake.base}/apigw", "--sizes", "1MB,7MB,12MB", "--json", str(res)]
    code, err = compare(args, capsys)
    assert code == ExitStatus.SUCCESS
    doc = json.loads(res.read_text())
    jsonschema.validate(doc, SCHEMA)
    assert doc["sizes"] == [1_000_000, 7_000_000, 12_000_000] and doc["emulator"] is False
    r = rows(res)
    assert len(r) == 9
    for s in (1_000_000, 7_000_000, 12_000_000):
        assert r[("stream", s)]["ok"] and r[("stream", s)]["bytes"] == s
    assert r[("buffered", 1_000_000)]["ok"]
    b7 = r[("buffered", 7_000_000)]
    assert (b7["ok"], b7["status"], b7["error"]) == (False, 502, "http_5xx")
    assert b7["limit"] == "buffered response limit 6,291,556 B"
    assert b7["error_detail"] == 'HTTP 502 {"Message": null}'
    assert r[("apigw", 7_000_000)]["ok"]
    a12 = r[("apigw", 12_000_000)]
    assert a12["limit"] == "API Gateway 10 MB"
    assert "Internal server error" in a12["error_detail"]
    # The human screen: table, chart, conclusion.
    assert "buffered response limit 6,291,556 B" in err
    assert "log scale" in err
    assert "Only the streaming function URL carries 12 MB" in err
    assert "Traceback" not in err
    # The size reached the function as ?size=<bytes>.
    assert "/stream?size=7000000" in fake.seen


def test_forbidden_target_gives_rows_not_a_crash(
    fake: FakePaths, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    res = tmp_path / "r.json"
    args = ["--stream", f"{fake.base}/forbidden", "--sizes", "1kB,2kB", "--json", str(res)]
    code, err = compare(args, capsys)
    assert code == ExitStatus.SUCCESS
    for row in rows(res).values():
        assert (row["status"], row["limit"], row["ok"]) == (403, "auth 403", False)
        assert "Forbidden" in row["error_detail"]
    assert "failed at every size (auth 403)" in err


def test_every_target_down_exits_network(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    res = tmp_path / "r.json"
    down = f"http://127.0.0.1:{_closed_port()}/"
    code, err = compare(
        ["--stream", down, "--buffered", down, "--sizes", "1kB", "--json", str(res)], capsys
    )
    assert code == ExitStatus.NETWORK
    assert {row["error"] for row in rows(res).values()} == {"connect"}
    assert "every cell failed to connect" in err
    assert "Traceback" not in err


def test_repeat_and_size_param(
    fake: FakePaths, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    res = tmp_path / "r.json"
    before = len(fake.seen)
    args = ["--stream", f"{fake.base}/stream?x=1", "--sizes", "5000", "--repeat", "3"]
    args += ["--size-param", "bytes", "--json", str(res)]
    code, _ = compare(args, capsys)
    assert code == ExitStatus.SUCCESS
    asked = fake.seen[before:]
    # An unmeasured warm-up with 1000 bytes, then three runs of the cell.
    assert asked == ["/stream?x=1&bytes=1000"] + ["/stream?x=1&bytes=5000"] * 3
    row = rows(res)[("stream", 5000)]
    assert row["runs"] == 3 and row["failures"] == 0
    # The fake ignores "bytes" and sends its default 1000 bytes: what arrived is reported.
    assert row["bytes"] == 1000


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--streamz", "http://127.0.0.1:1/"], "No such option"),
        (["--sizes", "1MB,lots"], "--sizes"),
        (["--sizes", ""], "--sizes"),
        (["--repeat", "0"], "--repeat"),
        (["--endpoint-url", "http://127.0.0.1:1"], "--endpoint-url needs --invoke"),
        (["--stream", "http://127.0.0.1:1/", "--time-scale", "5"], "--time-scale"),
        (["--stream", "ftp://example/"], "invalid URL"),
        (["--invoke", "fn", "--endpoint-url", "http://127.0.0.1:1"], "credentials"),
    ],
)
def test_usage_errors(args: list[str], needle: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, err = compare(args, capsys)
    assert code == ExitStatus.USAGE
    assert needle in err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_secrets_never_reach_output(
    fake: FakePaths,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    aws_creds: dict[str, str],
) -> None:
    res = tmp_path / "r.json"
    url = f"{fake.base}/forbidden?X-Amz-Security-Token={aws_creds['AWS_SESSION_TOKEN']}"
    args = ["--stream", url, "--auth", "iam", "--region", "us-east-1", "--sizes", "1kB"]
    args += ["-H", "x-api-key: hunter2-secret", "--json", str(res)]
    code, err = compare(args, capsys)
    assert code == ExitStatus.SUCCESS
    text = err + res.read_text()
    for secret in (aws_creds["AWS_SECRET_ACCESS_KEY"], aws_creds["AWS_SESSION_TOKEN"]):
        assert secret not in text
    assert "hunter2-secret" not in text
    assert "Signature=" not in text
    # The request really was signed, and the signature stayed on the wire.
    assert fake.authorization[-1].startswith("AWS4-HMAC-SHA256 Credential=AKIDLSTREAMTEST00001/")


def test_ctrl_c_prints_rows_so_far_and_writes_them(tmp_path: Path, spawn: Spawn) -> None:
    res = tmp_path / "r.json"
    with fake_paths() as f:
        cmd = [sys.executable, "-m", "lstream_cli", "compare-modes"]
        cmd += ["--stream", f"{f.base}/hang-above?limit=5000", "--sizes", "1000,2000,9000"]
        cmd += ["--json", str(res)]
        proc = spawn(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=dict(os.environ))
        deadline = time.monotonic() + 30
        while not any("size=9000" in s for s in f.seen) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert any("size=9000" in s for s in f.seen), "the sweep did not reach the third cell"
        proc.send_signal(signal.SIGINT)
        _, err_bytes = proc.communicate(timeout=30)
    err = err_bytes.decode()
    assert proc.returncode == ExitStatus.INTERRUPTED
    assert "Traceback" not in err
    assert "Interrupted: the rows above" in err
    doc = json.loads(res.read_text())
    assert doc["interrupted"] is True
    assert [(r["size"], r["ok"]) for r in doc["rows"]] == [(1000, True), (2000, True)]


def test_invoke_without_a_region_is_a_usage_error(
    capsys: pytest.CaptureFixture[str],
    aws_creds: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    code, err = compare(["--invoke", "my-function"], capsys)
    assert code == ExitStatus.USAGE
    assert "--invoke: no region" in err and "Traceback" not in err


def test_invoke_with_a_malformed_region_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], aws_creds: dict[str, str]
) -> None:
    code, err = compare(["--invoke", "fn", "--region", "not a region!"], capsys)
    assert code == ExitStatus.USAGE
    assert "invalid --region 'not a region!'" in err  # refused with the other flags
    assert len(err.strip().splitlines()) == 1


def test_no_warmup_sends_only_the_cells(
    fake: FakePaths, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = len(fake.seen)
    code, _ = compare(["--stream", f"{fake.base}/stream", "--sizes", "2kB", "--no-warmup"], capsys)
    assert code == ExitStatus.SUCCESS
    assert fake.seen[before:] == ["/stream?size=2000"]


@pytest.mark.parametrize("insecure", [False, True])
def test_insecure_reaches_the_lambda_api_client(
    tmp_path: Path, aws_creds: dict[str, str], insecure: bool
) -> None:
    """-k applies to --invoke's endpoint as to the URLs: a self-signed endpoint is reached."""
    from tests.engine.httpserver import TestServer
    from tests.engine.test_tls_and_signing import _self_signed

    server = TestServer(_self_signed(tmp_path)).start()
    try:
        out = tmp_path / "r.json"
        args = ["compare-modes", "--invoke", "fn", "--endpoint-url", server.base]
        args += ["--sizes", "1kB", "--no-warmup", "--json", str(out)]
        code = run([*args, "-k"] if insecure else args)
    finally:
        server.stop()
    assert code in (ExitStatus.SUCCESS, ExitStatus.NETWORK)
    doc = json.loads(out.read_text())
    statuses = {row["mode"]: row["status"] for row in doc["rows"]}
    if insecure:
        # The TLS handshake passed: the test server's own answer (404) is in the rows.
        assert statuses == {"invoke": 404, "invoke_stream": 404}
        assert server.requests == 2
    else:
        assert statuses == {"invoke": None, "invoke_stream": None}
        assert server.requests == 0


def test_ctrl_c_as_the_targets_are_printed_still_writes_the_report(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The first line of the sweep is inside its Ctrl-C handling: report and JSON follow."""
    import jsonschema

    import lstream_cli.render.compare as render_compare

    def interrupted(*args: Any, **kwargs: Any) -> Any:
        raise KeyboardInterrupt

    monkeypatch.setattr(render_compare, "format_targets", interrupted)
    out = tmp_path / "r.json"
    url = f"http://127.0.0.1:{_closed_port()}/"
    assert run(["compare-modes", "--stream", url, "--sizes", "1MB", "--json", str(out)]) == 130
    doc = json.loads(out.read_text())
    jsonschema.validate(doc, SCHEMA)
    assert doc["interrupted"] is True and doc["rows"] == []
    assert "interrupted" in capsys.readouterr().err
