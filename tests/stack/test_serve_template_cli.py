"""A second stack, written in the tests, under ``lstream serve --template`` as a real process.

Plain CloudFormation (an ``AWS::Lambda::Url``, a parameter override, an
output built with ``Fn::Sub``) and a different Node.js handler, driven by
``lstream get``, ``lstream bench``, ``compare-modes --template`` and curl;
then every way ``--template`` refuses, each one line and exit 2.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from lstream_cli.cli import run as cli_run
from tests.conftest import Spawn
from tests.stack.second_template import pattern, write_stack
from tests.test_serve_cli import wait_for

LSTREAM = [sys.executable, "-m", "lstream_cli"]
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
NODE_MODULES = EXAMPLES / "node" / "node_modules"
TOKEN = "not-shown-token-0001"  # the template's NoEcho parameter's default


@pytest.fixture
def demo(tmp_path: Path, runtime_client: Path) -> Path:
    root = tmp_path / "demo"
    path = write_stack(root)
    # aws-lambda-ric is found in node_modules of the code folder or a parent, as npm lays it.
    (root / "node_modules").symlink_to(NODE_MODULES)
    return path


def test_second_stack_served_and_driven_by_get_bench_curl(
    demo: Path, tmp_path: Path, spawn: Spawn
) -> None:
    ep_path = tmp_path / "ep.json"
    proc = spawn(
        [
            *LSTREAM,
            "serve",
            "--template",
            str(demo),
            "--parameter-overrides",
            "Mode=stream",
            "Greeting=hi",
            "--port",
            "0",
            "--json",
            str(ep_path),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        doc = wait_for(ep_path, proc, limit_s=60)
        outputs: dict[str, str] = doc["outputs"]  # type: ignore[assignment]
        base = outputs["PatternBase"]
        assert base.startswith("http://127.0.0.1:") and base.endswith("/")
        assert doc["urls"] == {"PatternUrl": base}  # type: ignore[comparison-overlap]
        assert doc["lambda_api"].startswith("http://127.0.0.1:")
        # The Fn::Sub output, with the local URL in it.
        assert outputs["PatternEndpoint"] == base + "?size=1000&from=demo"
        assert outputs["Mode"] == "streaming"
        assert outputs["WithToken"] == "****"  # it holds a NoEcho parameter's value

        body = tmp_path / "get.bin"
        got = subprocess.run(
            [
                *LSTREAM,
                "get",
                outputs["PatternEndpoint"],
                "-o",
                str(body),
                "--json",
                str(tmp_path / "g.json"),
            ],
            capture_output=True,
            timeout=120,
        )
        assert got.returncode == 0, got.stderr
        assert body.read_bytes() == pattern(1000)

        # 7 MB streams past the 6 MB buffered limit (RESPONSE_STREAM from the override).
        big = subprocess.run(
            [*LSTREAM, "get", base + "?size=7000000&chunk=1000000", "-o", str(body)],
            capture_output=True,
            timeout=120,
        )
        assert big.returncode == 0, big.stderr
        assert body.read_bytes() == pattern(7_000_000)

        if shutil.which("curl") is not None:
            curl = subprocess.run(
                ["curl", "-sS", "-D", "-", "-o", str(body), base + "?size=5000"],
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert curl.returncode == 0, curl.stderr
            assert curl.stdout.startswith("HTTP/1.1 200")
            assert "x-greeting: hi from demo in us-east-1" in curl.stdout.lower()
            # A variable holding the stack's own deployed URL holds the local one.
            assert f"x-self-url: {base}" in curl.stdout.lower()
            assert body.read_bytes() == pattern(5000)

        # The Lambda API, by FunctionName, as an SDK client calls it (--endpoint-url).
        import botocore.session

        lam = botocore.session.Session().create_client(
            "lambda",
            region_name="us-east-1",
            endpoint_url=doc["lambda_api"],
            aws_access_key_id="x",
            aws_secret_access_key="x",
        )
        payload = json.dumps({"queryStringParameters": {"size": "3000"}}).encode()
        streamed = lam.invoke_with_response_stream(FunctionName="demo-pattern", Payload=payload)
        chunks = b"".join(
            e["PayloadChunk"]["Payload"] for e in streamed["EventStream"] if "PayloadChunk" in e
        )
        assert chunks.endswith(pattern(3000))  # after the HTTP prelude the handler wrote
        with pytest.raises(lam.exceptions.ResourceNotFoundException):
            lam.invoke(FunctionName="no-such-function", Payload=b"{}")
        lam.close()

        bench_json = tmp_path / "bench.json"
        bench = subprocess.run(
            [
                *LSTREAM,
                "bench",
                base + "?size=100000",
                "-n",
                "12",
                "-c",
                "3",
                "--json",
                str(bench_json),
                "-s",
            ],
            capture_output=True,
            timeout=180,
        )
        assert bench.returncode == 0, bench.stderr
        report = json.loads(bench_json.read_text())
        assert (report["requests"], report["ok"], report["errors"]) == (12, 12, {})
        assert report["bytes"] == 12 * 100_000
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0
    screen = out.decode() + err.decode()
    assert "PatternUrl" in screen and "PatternEndpoint" in screen and "lambda_api" in screen
    assert "Token=****" in screen
    assert TOKEN not in screen
    assert "START RequestId:" in screen and "REPORT RequestId:" in screen  # the function's log


@pytest.mark.parametrize(
    ("mode", "ok_at_7mb"),
    [("stream", True), ("buffered", False)],
)
def test_compare_modes_on_the_second_stack(
    demo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], mode: str, ok_at_7mb: bool
) -> None:
    result = tmp_path / "cmp.json"
    code = cli_run(
        [
            "compare-modes",
            "--template",
            str(demo),
            "--parameter-overrides",
            f"Mode={mode}",
            "--sizes",
            "100kB,7MB",
            "--time-scale",
            "50",
            "--json",
            str(result),
        ]
    )
    screen = capsys.readouterr()
    assert code == 0, screen.err
    rows = json.loads(result.read_text())["rows"]
    assert [(r["mode"], r["size"]) for r in rows] == [(mode, 100_000), (mode, 7_000_000)]
    assert rows[0]["ok"] and rows[0]["bytes"] == 100_000
    assert rows[1]["ok"] is ok_at_7mb
    if ok_at_7mb:
        assert rows[1]["bytes"] == 7_000_000
    else:
        assert rows[1]["status"] == 502
        assert "6,291,556" in (rows[1].get("limit") or "")


def _error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("lstream: error: "), err
    return lines[0]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["serve", "--template", "{missing}"], "cannot read"),
        (
            ["serve", "--template", "{demo}", "--handler", "x.py:h"],
            "--handler does not apply with --template",
        ),
        (
            ["serve", "--template", "{demo}", "--secret-header", "a: b"],
            "--secret-header does not apply",
        ),
        (["serve", "--parameter-overrides", "A=1"], "--parameter-overrides needs --template"),
        (["serve", "--s3", "{tmp}"], "--s3 needs --template"),
        (
            ["serve", "--template", "{demo}", "--parameter-overrides", "Nope=1"],
            "the template has no parameter Nope",
        ),
        (
            ["serve", "--template", "{demo}", "--parameter-overrides", "Mode=sideways"],
            "parameter Mode: 'sideways' is not one of its AllowedValues",
        ),
        (["serve", "--template", "{example}"], "parameter BucketName has no default"),
        (
            [
                "serve",
                "--template",
                "{example}",
                "--parameter-overrides",
                "BucketName=b-1-2",
                "OriginSecretValue=0123456789abcdef",
            ],
            "template.yaml: StreamingFunctionUrl: AuthType AWS_IAM: "
            "no AWS credentials for the emulator to accept",
        ),
        (
            ["compare-modes", "--template", "{demo}", "--stream", "http://127.0.0.1:1/"],
            "--template finds the URLs itself",
        ),
        (["compare-modes", "--stream-output", "X"], "need --template"),
        (
            ["compare-modes", "--template", "{demo}", "--stream-output", "Nope"],
            "--stream-output Nope: the template has no such output",
        ),
        (
            ["compare-modes", "--template", "{demo}", "--stream-output", "Mode"],
            "its value is not a URL",
        ),
    ],
)
def test_template_usage_errors_are_one_line_exit_2(
    demo: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    message: str,
) -> None:
    names = {
        "missing": str(tmp_path / "missing.yaml"),
        "demo": str(demo),
        "tmp": str(tmp_path),
        "example": str(EXAMPLES / "template.yaml"),
    }
    code = cli_run([a.format(**names) for a in args])
    err = capsys.readouterr().err
    assert code == 2
    assert message in _error_line(err)
    assert TOKEN not in err


def test_an_unresolvable_value_names_resource_and_property(
    demo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = demo.read_text().replace(
        "          PARTITION: !Ref AWS::Partition\n",
        "          PARTITION: !Ref AWS::Partition\n          QUEUE: !GetAtt Queue.Arn\n"
        "  Queue:\n    Type: AWS::SQS::Queue\n",
    )
    # The queue must be a resource of its own, not a property: put it before PatternUrl.
    text = text.replace(
        "          QUEUE: !GetAtt Queue.Arn\n  Queue:\n    Type: AWS::SQS::Queue\n",
        "          QUEUE: !GetAtt Queue.Arn\n",
    ).replace("  PatternUrl:\n", "  Queue:\n    Type: AWS::SQS::Queue\n  PatternUrl:\n", 1)
    demo.write_text(text)
    assert cli_run(["serve", "--template", str(demo)]) == 2
    line = _error_line(capsys.readouterr().err)
    assert line == (
        "lstream: error: stack.yaml: PatternFunction: Environment: "
        "Fn::GetAtt Queue.Arn (AWS::SQS::Queue) is not known locally"
    )


def test_an_output_names_the_url_to_sweep(
    demo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    result = tmp_path / "cmp.json"
    args = ["compare-modes", "--template", str(demo), "--parameter-overrides", "Mode=stream"]
    code = cli_run(
        [*args, "--stream-output", "PatternEndpoint", "--sizes", "2kB", "--json", str(result)]
    )
    capsys.readouterr()
    assert code == 0
    doc = json.loads(result.read_text())
    # The output's own query stays; compare-modes sets the size in it.
    assert doc["targets"]["stream"].endswith("/?size=1000&from=demo")
    assert [(r["mode"], r["size"], r["bytes"]) for r in doc["rows"]] == [("stream", 2000, 2000)]


def test_compare_modes_invoke_rows_on_a_stack_function(
    demo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    result = tmp_path / "cmp.json"
    args = ["compare-modes", "--template", str(demo), "--invoke", "PatternFunction"]
    code = cli_run([*args, "--sizes", "2kB", "--json", str(result)])
    capsys.readouterr()
    assert code == 0
    rows = json.loads(result.read_text())["rows"]
    assert [(r["mode"], r["ok"]) for r in rows] == [
        ("buffered", True),
        ("invoke", True),
        ("invoke_stream", True),
    ]
    unknown = cli_run([*args[:3], "--invoke", "Nope", "--sizes", "2kB"])
    assert unknown == 2
    assert "--invoke Nope: no such function in the template (it has: PatternFunction)" in (
        capsys.readouterr().err
    )


def test_the_example_stack_with_s3_as_a_process(
    tmp_path: Path, spawn: Spawn, runtime_client: Path
) -> None:
    """examples/README's `serve --template ... --s3 DIR`, driven by curl and lstream get."""
    bucket = tmp_path / "s3" / "lstream-example"
    bucket.mkdir(parents=True)
    data = bytes(range(256)) * 4000
    (bucket / "1024000").write_bytes(data)
    ep_path = tmp_path / "ep.json"
    secret = "process-secret-value-0001"
    proc = spawn(
        [
            *LSTREAM,
            "serve",
            "--template",
            str(EXAMPLES / "template.yaml"),
            "--s3",
            str(tmp_path / "s3"),
            "--parameter-overrides",
            "BucketName=lstream-example",
            f"OriginSecretValue={secret}",
            "--port",
            "0",
            "--json",
            str(ep_path),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={
            **os.environ,
            "PYTHONUNBUFFERED": "1",
            "AWS_ACCESS_KEY_ID": "AKIDLSTREAMPROCESS01",
            "AWS_SECRET_ACCESS_KEY": "lstream/process/secret/key/0123456789",
        },
    )
    try:
        doc = wait_for(ep_path, proc, limit_s=60)
        outputs: dict[str, str] = doc["outputs"]  # type: ignore[assignment]
        assert doc["s3"].startswith("http://127.0.0.1:")
        body = tmp_path / "api.bin"
        got = subprocess.run(
            [*LSTREAM, "get", outputs["ApiUrl"] + "?key=1024000", "-o", str(body)],
            capture_output=True,
            timeout=120,
        )
        assert got.returncode == 0, got.stderr
        assert body.read_bytes() == data
        if shutil.which("curl") is not None:
            edge = subprocess.run(
                ["curl", "-sS", "-w", " %{http_code}", outputs["EdgeUrl"] + "?key=1024000"],
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert edge.stdout == '{"message":"Forbidden"} 403'
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0
    screen = out.decode() + err.decode()
    assert "local S3: http://127.0.0.1:" in screen
    assert "OriginSecretValue=****" in screen
    assert secret not in screen
