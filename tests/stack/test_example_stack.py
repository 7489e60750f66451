"""The example stack itself, run locally: examples/template.yaml and examples/node/index.mjs.

Real components only: the official SAM translator, the Node.js handler in
execution environments through aws-lambda-ric, moto's S3 server. Signed
requests are made by ``lstream get --auth iam`` (and curl --aws-sigv4) with
a key the stack accepts for the test.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import suppress
from pathlib import Path

import httpx
import pytest

from lstream_cli.cli import run as cli_run
from lstream_cli.emulator.logs import FunctionLogRecord, FunctionOutput, InvocationEnd
from lstream_cli.stack.model import Stack
from lstream_cli.stack.run import StackOptions, StackRun, local_storage, running_stack
from lstream_cli.stack.template import load_stack

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
SECRET = "local-origin-secret-0123456789"
BUCKET = "lstream-example"
KEY_ID = "AKIDLSTREAMSTACK0001"
KEY_SECRET = "lstreamStackTestSecret/0123456789abcdef"
BIG = 7_000_000  # over the buffered 6 MB limit
HUGE = 12_000_000  # over API Gateway's buffered 10 MB limit
SMALL = 300_000
# What aws-lambda-ric itself prints when the Runtime API refuses a buffered response as too large.
RIC_413 = "LAMBDA_RUNTIME Failed to post handler success response. Http response code: 413."


def _accept(key: str) -> tuple[str, str | None] | None:
    return (KEY_SECRET, None) if key == KEY_ID else None


def _object(size: int) -> bytes:
    return hashlib.sha256(str(size).encode()).digest() * (size // 32) + b"x" * (size % 32)


@pytest.fixture(scope="module")
def s3_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("s3")
    (root / BUCKET / "nested").mkdir(parents=True)
    for size in (SMALL, BIG, HUGE):
        (root / BUCKET / str(size)).write_bytes(_object(size))
    (root / BUCKET / "nested" / "obj.bin").write_bytes(b"nested object")
    return root


def _stack() -> Stack:
    return load_stack(
        EXAMPLES / "template.yaml", {"BucketName": BUCKET, "OriginSecretValue": SECRET}
    )


@pytest.fixture(scope="module")
def function_log() -> list[FunctionLogRecord]:
    """Every record the example stack's functions log (START/END/REPORT, their output)."""
    return []


@pytest.fixture(scope="module")
def example(
    s3_dir: Path, runtime_client: Path, function_log: list[FunctionLogRecord]
) -> Iterator[StackRun]:
    stack = _stack()
    options = StackOptions(credentials=_accept, function_log=function_log.append)
    with local_storage(stack, s3_dir) as s3, running_stack(stack, options, s3) as run:
        yield run


def _lines(records: list[FunctionLogRecord], since: int, logical_id: str) -> list[str]:
    """What ``logical_id`` printed in the invocations logged from ``records[since]`` on.

    Waits for the END of such an invocation first: the runtime's own lines may
    come after the caller has its answer.
    """
    name = _stack().function(logical_id).name
    deadline = time.monotonic() + 60
    while not any(isinstance(r, InvocationEnd) and r.function == name for r in records[since:]):
        assert time.monotonic() < deadline, f"no END logged for {logical_id}"
        time.sleep(0.05)
    return [r.text for r in records[since:] if isinstance(r, FunctionOutput) and r.function == name]


@pytest.fixture
def signed_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", KEY_ID)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", KEY_SECRET)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")


def _out(example: StackRun, name: str) -> str:
    assert example.endpoints is not None
    return example.endpoints.outputs[name]


def test_outputs_are_the_local_urls(example: StackRun) -> None:
    ep = example.endpoints
    assert ep is not None
    assert ep.outputs["StreamingUrl"] == ep.urls["StreamingFunctionUrl"]
    assert ep.outputs["BufferedUrl"] == ep.urls["BufferedFunctionUrl"]
    assert ep.outputs["EdgeUrl"] == ep.urls["EdgeFunctionUrl"]
    assert ep.outputs["ApiUrl"] == ep.apis["Api"]
    assert ep.outputs["BufferedApiUrl"] == ep.apis["BufferedApi"]
    assert set(ep.apis) == {"Api", "BufferedApi"} and ep.apis["Api"] != ep.apis["BufferedApi"]
    assert all(url.endswith("/prod/") for url in ep.apis.values()) and ep.s3 is not None


@pytest.mark.parametrize(
    "headers",
    [{}, {"x-origin-secret": "wrong-value-of-some-length"}, {"x-origin-secret": ""}],
)
def test_edge_url_without_the_right_secret_is_the_functions_403(
    example: StackRun, headers: dict[str, str]
) -> None:
    r = httpx.get(_out(example, "EdgeUrl") + f"?key={SMALL}", headers=headers, timeout=60)
    assert r.status_code == 403
    # The handler's own body (lowercase "message"), not the URL's AWS_IAM refusal.
    assert r.json() == {"message": "Forbidden"}
    assert SECRET not in r.text


def test_edge_url_with_the_secret_and_the_api_that_adds_it_serve_the_object(
    example: StackRun,
) -> None:
    direct = httpx.get(
        _out(example, "EdgeUrl") + f"?key={SMALL}",
        headers={"x-origin-secret": SECRET},
        timeout=60,
    )
    assert direct.status_code == 200 and direct.content == _object(SMALL)
    # The API adds the header: its single quotes are the template's syntax, not the value.
    api = httpx.get(_out(example, "ApiUrl") + f"?key={SMALL}", timeout=60)
    assert api.status_code == 200 and api.content == _object(SMALL)
    # A caller's own x-origin-secret is replaced by the static one, never passed on.
    forged = httpx.get(
        _out(example, "ApiUrl") + f"?key={SMALL}",
        headers={"x-origin-secret": "forged-by-the-caller-0000"},
        timeout=60,
    )
    assert forged.status_code == 200
    # {proxy+}: the path goes on to the function URL; the key from the query.
    proxied = httpx.get(_out(example, "ApiUrl") + "any/path?key=nested/obj.bin", timeout=60)
    assert proxied.status_code == 200 and proxied.content == b"nested object"
    unknown_stage = httpx.get(_out(example, "ApiUrl").replace("/prod/", "/dev/"), timeout=60)
    assert unknown_stage.status_code == 403
    assert unknown_stage.json() == {"message": "Missing Authentication Token"}


def test_the_buffered_api_adds_the_secret_header_up_to_its_10_mb_limit(
    example: StackRun,
) -> None:
    """BufferedApi: the same HTTP_PROXY in BUFFERED mode; over 10 MB the caller gets a 502."""
    buffered = _out(example, "BufferedApiUrl")
    # The function checks the header (403 without it, above): 200 means the API added it.
    small = httpx.get(buffered + f"?key={SMALL}", timeout=60)
    assert small.status_code == 200 and small.content == _object(SMALL)
    forged = httpx.get(
        buffered + f"?key={SMALL}", headers={"x-origin-secret": "forged-by-the-caller-0000"}
    )
    assert forged.status_code == 200 and forged.content == _object(SMALL)
    proxied = httpx.get(buffered + "any/path?key=nested/obj.bin", timeout=60)
    assert proxied.status_code == 200 and proxied.content == b"nested object"
    # Under 10 MB (past the function URL's 6 MB burst) it still carries the whole body.
    big = httpx.get(buffered + f"?key={BIG}", timeout=120)
    assert big.status_code == 200 and big.content == _object(BIG)
    over = httpx.get(buffered + f"?key={HUGE}", timeout=120)
    assert over.status_code == 502
    assert over.json() == {"message": "Internal server error"}
    assert over.headers["x-amzn-errortype"] == "IntegrationFailure"
    assert SECRET not in over.text
    # The STREAM API in front of the same function URL carries it whole.
    streamed = httpx.get(_out(example, "ApiUrl") + f"?key={HUGE}", timeout=120)
    assert streamed.status_code == 200 and streamed.content == _object(HUGE)


def test_a_missing_object_is_the_handlers_own_404(example: StackRun) -> None:
    r = httpx.get(_out(example, "ApiUrl") + "?key=no-such-object", timeout=60)
    assert r.status_code == 404
    assert r.json() == {"message": "NoSuchKey"}  # from S3's NoSuchKey, before any byte


def test_signed_streaming_and_buffered_urls(
    example: StackRun, signed_env: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    body = tmp_path / "body.bin"
    stream = _out(example, "StreamingUrl")
    assert cli_run(["get", stream + f"?key={BIG}", "--auth", "iam", "-o", str(body)]) == 0
    assert body.read_bytes() == _object(BIG)  # past 6 MB: streaming carries it
    # The AWS_IAM URLs check no secret header (only the function behind the API does).
    assert cli_run(["get", stream + f"?key={SMALL}", "--auth", "iam", "-o", str(body)]) == 0
    buffered = _out(example, "BufferedUrl")
    assert cli_run(["get", buffered + f"?key={SMALL}", "--auth", "iam", "-o", str(body)]) == 0
    assert body.read_bytes() == _object(SMALL)
    # Over 6 MB the buffered URL fails: 502, as Lambda answers.
    assert cli_run(["get", buffered + f"?key={BIG}", "--auth", "iam", "-o", str(body)]) == 3
    # Unsigned: the URL's own 403.
    assert cli_run(["get", stream, "--auth", "none", "-o", str(body)]) == 3
    capsys.readouterr()
    unsigned = httpx.get(stream, timeout=60)
    assert unsigned.status_code == 403 and unsigned.json() == {"Message": "Forbidden"}


def _signed_get(url: str, tmp_path: Path) -> tuple[int, dict[str, object], bytes]:
    body, result = tmp_path / "body.bin", tmp_path / "result.json"
    code = cli_run(["get", url, "--auth", "iam", "-o", str(body), "--json", str(result)])
    return code, json.loads(result.read_text()), body.read_bytes()


def test_the_buffered_twin_over_6_mb_is_the_runtimes_413_and_the_callers_502(
    example: StackRun,
    function_log: list[FunctionLogRecord],
    signed_env: None,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The seed's story: the buffered handler returns 7 MB whole; the runtime's post gets 413."""
    before = len(function_log)
    code, result, _ = _signed_get(_out(example, "BufferedUrl") + f"?key={BIG}", tmp_path)
    capsys.readouterr()
    assert code == 3 and result["status"] == 502
    lines = _lines(function_log, before, "BufferedFunction")
    # aws-lambda-ric's own line (after its timestamp, request id and level), once.
    assert [line for line in lines if RIC_413 in line] == [
        line for line in lines if line.endswith(f"] {RIC_413}")
    ]
    assert sum(RIC_413 in line for line in lines) == 1
    # The same object over the streaming URL: delivered whole, and no such line.
    before = len(function_log)
    code, result, body = _signed_get(_out(example, "StreamingUrl") + f"?key={BIG}", tmp_path)
    assert code == 0 and result["status"] == 200 and body == _object(BIG)
    assert not any("413" in line for line in _lines(function_log, before, "StreamingFunction"))


def test_the_buffered_twin_returns_small_objects_byte_exact(
    example: StackRun,
    function_log: list[FunctionLogRecord],
    signed_env: None,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Binary as base64, UTF-8 text as a string, text that is not UTF-8 as base64 again."""
    s3 = example.s3
    assert s3 is not None
    objects = {
        "text/utf8.txt": ("text/plain; charset=utf-8", "h\u00e9llo, \u4e16\u754c\n".encode()),
        "text/latin1.txt": ("text/plain", "caf\u00e9 \xff\n".encode("latin-1")),
        "text/data.json": ("application/json", b'{"a": [1, 2, "\\u00e9"]}'),
    }
    for key, (content_type, data) in objects.items():
        s3.client.put_object(Bucket=BUCKET, Key=key, Body=data, ContentType=content_type)
    buffered = _out(example, "BufferedUrl")
    before = len(function_log)
    code, result, body = _signed_get(buffered + f"?key={SMALL}", tmp_path)
    assert code == 0 and result["status"] == 200 and body == _object(SMALL)
    for key, (content_type, data) in objects.items():
        code, result, body = _signed_get(buffered + f"?key={key}", tmp_path)
        assert code == 0 and body == data, key
        headers = result["response_headers"]
        assert isinstance(headers, dict)
        assert {k.lower(): v for k, v in headers.items()}["content-type"] == content_type
    assert not any(RIC_413 in line for line in _lines(function_log, before, "BufferedFunction"))
    # A missing object: the twin's own 404, as the streaming handler answers it.
    code, result, body = _signed_get(buffered + "?key=no-such-object", tmp_path)
    capsys.readouterr()
    assert code == 3 and result["status"] == 404
    assert json.loads(body) == {"message": "NoSuchKey"}


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_curl_aws_sigv4_on_the_streaming_url(example: StackRun, tmp_path: Path) -> None:
    out = tmp_path / "curl.bin"
    proc = subprocess.run(
        [
            "curl",
            "-sS",
            "--aws-sigv4",
            "aws:amz:us-east-1:lambda",
            "--user",
            f"{KEY_ID}:{KEY_SECRET}",
            "-o",
            str(out),
            "-w",
            "%{http_code}",
            _out(example, "StreamingUrl") + f"?key={SMALL}",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.stdout == "200", proc.stderr
    assert out.read_bytes() == _object(SMALL)


class _CuttingRelay:
    """A TCP relay to the local S3 that closes each connection after ``limit`` bytes back."""

    def __init__(self, target: tuple[str, int], limit: int) -> None:
        self.target = target
        self.limit = limit
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.cuts = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            threading.Thread(target=self._pipe, args=(client, upstream, None), daemon=True).start()
            threading.Thread(
                target=self._pipe, args=(upstream, client, self.limit), daemon=True
            ).start()

    def _pipe(self, src: socket.socket, dst: socket.socket, limit: int | None) -> None:
        sent = 0
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                if limit is not None and sent + len(data) >= limit:
                    dst.sendall(data[: limit - sent])
                    self.cuts += 1
                    break
                dst.sendall(data)
                sent += len(data)
        except OSError:
            pass
        finally:
            for sock in (src, dst):
                with suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()

    def close(self) -> None:
        self.server.close()


def test_an_s3_failure_mid_stream_cuts_the_stream(
    example: StackRun, signed_env: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """S3 stops half-way: the function has sent its status already, so the stream is cut."""
    s3 = example.s3  # the same local S3, reached through a relay that cuts it
    assert s3 is not None
    host, port = s3.url.removeprefix("http://").split(":")
    relay = _CuttingRelay((host, int(port)), limit=2_000_000)
    options = StackOptions(
        credentials=_accept,
        environment=(("AWS_ENDPOINT_URL_S3", f"http://127.0.0.1:{relay.port}"),),
    )
    body = tmp_path / "cut.bin"
    result_path = tmp_path / "r.json"
    try:
        with running_stack(_stack(), options, s3) as run:
            assert run.endpoints is not None
            url = run.endpoints.outputs["StreamingUrl"] + f"?key={BIG}"
            args = ["get", url, "--auth", "iam", "-o", str(body), "--json", str(result_path)]
            code = cli_run(args)
    finally:
        relay.close()
    result = json.loads(result_path.read_text())
    capsys.readouterr()
    assert relay.cuts >= 1
    assert code == 4  # truncated: the status was 200, the body never ended
    assert result["status"] == 200
    assert 0 < body.stat().st_size < BIG
    assert body.read_bytes() == _object(BIG)[: body.stat().st_size]  # what came is right
