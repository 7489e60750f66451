"""The examples: the SAM template lints and says what it should, the handler works.

The template is checked offline with cfn-lint (which applies the SAM
transform); the Python handler is driven directly with a fake stream that
enforces the protocol (status and headers before the first write).
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import shutil
import subprocess
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from cfnlint.api import ManualArgs, lint, lint_file
from cfnlint.decode import decode

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
TEMPLATE = EXAMPLES / "template.yaml"
LINT_CONFIG = ManualArgs(regions=["us-east-1"])


# --- the SAM template -----------------------------------------------------


def test_template_passes_cfn_lint() -> None:
    matches = lint_file(TEMPLATE, config=LINT_CONFIG)
    assert matches == [], "\n".join(str(m) for m in matches)


def test_cfn_lint_would_catch_a_broken_template() -> None:
    # A reference to a resource that does not exist: a template error in every
    # cfn-lint release (rule-set drift between releases must not flip this test).
    broken = TEMPLATE.read_text().replace(
        "Resources:",
        "Resources:\n  Dangling:\n    Type: AWS::SNS::Topic\n"
        "    Properties:\n      TopicName: !Ref NoSuchResourceAnywhere\n",
        1,
    )
    assert broken != TEMPLATE.read_text()
    assert lint(broken, config=LINT_CONFIG)


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    decoded, matches = decode(str(TEMPLATE))
    assert not matches and decoded is not None
    return dict(decoded)


def test_template_declares_both_invoke_modes_with_iam(template: dict[str, Any]) -> None:
    assert template["Transform"] == "AWS::Serverless-2016-10-31"
    urls = {
        name: res["Properties"]["FunctionUrlConfig"]
        for name, res in template["Resources"].items()
        if res["Type"] == "AWS::Serverless::Function"
    }
    assert urls["StreamingFunction"] == {"AuthType": "AWS_IAM", "InvokeMode": "RESPONSE_STREAM"}
    assert urls["BufferedFunction"] == {"AuthType": "AWS_IAM", "InvokeMode": "BUFFERED"}
    # The buffered twin returns its body whole (no streamifyResponse), so an
    # oversized one is the runtime's 413 as on Lambda; the others stream.
    handler = template["Resources"]["BufferedFunction"]["Properties"]["Handler"]
    assert handler == "index.bufferedHandler"
    assert template["Globals"]["Function"]["Handler"] == "index.handler"
    source = (EXAMPLES / "node" / "index.mjs").read_text()
    assert "export const bufferedHandler = async (event" in source


def test_template_api_gateway_adds_the_secret_header(template: dict[str, Any]) -> None:
    resources = template["Resources"]
    apis = {n for n, r in resources.items() if r["Type"] == "AWS::ApiGateway::RestApi"}
    assert apis == {"Api", "BufferedApi"}
    methods = [r for r in resources.values() if r["Type"] == "AWS::ApiGateway::Method"]
    modes: dict[str, list[str]] = {}
    for method in methods:
        integration = method["Properties"]["Integration"]
        assert integration["Type"] == "HTTP_PROXY"
        api = method["Properties"]["RestApiId"]["Ref"]
        modes.setdefault(api, []).append(integration["ResponseTransferMode"])
        # BUFFERED integrations allow at most 29 s; STREAM ones up to 15 minutes.
        limit = 29_000 if integration["ResponseTransferMode"] == "BUFFERED" else 900_000
        assert integration["TimeoutInMillis"] <= limit
        secret = integration["RequestParameters"]["integration.request.header.x-origin-secret"]
        assert secret == {"Fn::Sub": "'${OriginSecretValue}'"}
        uri = json.dumps(integration["Uri"])
        assert "EdgeFunctionUrl" in uri
    # Each API: the root and {proxy+}, one STREAM, one BUFFERED (its 10 MB limit).
    assert modes == {"Api": ["STREAM", "STREAM"], "BufferedApi": ["BUFFERED", "BUFFERED"]}
    edge = resources["EdgeFunction"]["Properties"]
    assert edge["FunctionUrlConfig"] == {"AuthType": "NONE", "InvokeMode": "RESPONSE_STREAM"}
    assert edge["AutoPublishAlias"] == "edge"
    env = edge["Environment"]["Variables"]
    assert env["ORIGIN_SECRET_HEADER"] == "x-origin-secret"
    assert env["ORIGIN_SECRET_VALUE"] == {"Ref": "OriginSecretValue"}
    assert template["Parameters"]["OriginSecretValue"]["NoEcho"] is True
    assert {"BucketName", "ObjectKey", "OriginSecretValue"} <= set(template["Parameters"])
    assert {"StreamingUrl", "BufferedUrl", "ApiUrl", "BufferedApiUrl"} <= set(template["Outputs"])
    assert "BufferedStage" in json.dumps(template["Outputs"]["BufferedApiUrl"]["Value"])


def test_only_the_function_behind_the_api_checks_the_secret_header(
    template: dict[str, Any],
) -> None:
    # A signed call to the AWS_IAM URLs carries no x-origin-secret: those
    # functions must not check it (an alias shares its function's settings,
    # so the checking URL needs a function of its own).
    checking = {
        name
        for name, res in template["Resources"].items()
        if "ORIGIN_SECRET_VALUE"
        in res.get("Properties", {}).get("Environment", {}).get("Variables", {})
    }
    assert checking == {"EdgeFunction"}
    assert "ORIGIN_SECRET_VALUE" not in json.dumps(template.get("Globals", {}))
    iam = {
        name
        for name, res in template["Resources"].items()
        if res.get("Properties", {}).get("FunctionUrlConfig", {}).get("AuthType") == "AWS_IAM"
    }
    assert iam == {"StreamingFunction", "BufferedFunction"}


def test_node_handler_parses_and_uses_the_streaming_api() -> None:
    source = (EXAMPLES / "node" / "index.mjs").read_text()
    for needle in (
        "awslambda.streamifyResponse",
        "awslambda.HttpResponseStream.from",
        "GetObjectCommand",
        "pipeline(",
        "ORIGIN_SECRET_HEADER",
        "ORIGIN_SECRET_VALUE",
        "403",
    ):
        assert needle in source
    package = json.loads((EXAMPLES / "node" / "package.json").read_text())
    assert package["type"] == "module"
    assert "@aws-sdk/client-s3" in package["dependencies"]
    node = shutil.which("node")
    if node is not None:  # a syntax check when Node.js is around
        proc = subprocess.run(
            [node, "--check", str(EXAMPLES / "node" / "index.mjs")],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert proc.returncode == 0, proc.stderr


# --- the Python handler ---------------------------------------------------


class FakeStream:
    """Records what the handler does; refuses metadata after the first write."""

    def __init__(self) -> None:
        self.status: int | None = None
        self.headers: dict[str, str] = {}
        self.chunks: list[bytes] = []

    def set_status(self, status: int) -> None:
        assert not self.chunks, "status set after the first write"
        self.status = status

    def set_headers(self, headers: dict[str, str]) -> None:
        assert not self.chunks, "headers set after the first write"
        self.headers = dict(headers)

    async def write(self, data: bytes | str) -> None:
        assert self.status is not None, "write before the status"
        self.chunks.append(data.encode() if isinstance(data, str) else bytes(data))

    @property
    def body(self) -> bytes:
        return b"".join(self.chunks)


@pytest.fixture
def example() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "lstream_example_handler", EXAMPLES / "handler.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(autouse=True)
def _no_example_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "LSTREAM_EXAMPLE_FILE",
        "LSTREAM_EXAMPLE_DIR",
        "ORIGIN_SECRET_HEADER",
        "ORIGIN_SECRET_VALUE",
    ):
        monkeypatch.delenv(name, raising=False)


def event(
    headers: dict[str, str] | None = None, query: dict[str, str] | None = None
) -> dict[str, Any]:
    raw_query = "&".join(f"{k}={v}" for k, v in (query or {}).items())
    return {
        "version": "2.0",
        "rawPath": "/",
        "rawQueryString": raw_query,
        "headers": {"host": "127.0.0.1", **(headers or {})},
        "queryStringParameters": query,
        "requestContext": {"http": {"method": "GET", "path": "/"}},
        "body": None,
        "isBase64Encoded": False,
    }


def run(example: ModuleType, ev: dict[str, Any]) -> FakeStream:
    stream = FakeStream()
    asyncio.run(example.handler(ev, stream, None))
    return stream


@pytest.fixture
def data_file(tmp_path: Path) -> tuple[Path, bytes]:
    # Not a multiple of the chunk size, so the last chunk is a short one.
    data = bytes(range(256)) * 1000 + b"tail"
    path = tmp_path / "object.bin"
    path.write_bytes(data)
    return path, data


def test_streams_the_file_byte_exact_in_64k_chunks(
    example: ModuleType, data_file: tuple[Path, bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    path, data = data_file
    monkeypatch.setenv("LSTREAM_EXAMPLE_FILE", str(path))
    stream = run(example, event())
    assert stream.status == 200
    assert stream.headers == {"content-type": "application/octet-stream"}
    assert stream.body == data
    assert all(len(c) == 64 * 1024 for c in stream.chunks[:-1])
    assert len(stream.chunks) == -(-len(data) // (64 * 1024))


def test_file_from_key_in_the_folder(
    example: ModuleType, data_file: tuple[Path, bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    path, data = data_file
    monkeypatch.setenv("LSTREAM_EXAMPLE_DIR", str(path.parent))
    stream = run(example, event(query={"key": path.name}))
    assert stream.status == 200 and stream.body == data


@pytest.mark.parametrize("key", ["../secret.txt", "/etc/hostname", "sub/../../secret.txt", "."])
def test_key_never_leaves_the_folder(
    example: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, key: str
) -> None:
    (tmp_path / "secret.txt").write_text("do not serve")
    inside = tmp_path / "bucket"
    (inside / "sub").mkdir(parents=True)
    monkeypatch.setenv("LSTREAM_EXAMPLE_DIR", str(inside))
    stream = run(example, event(query={"key": key}))
    assert stream.status == 404
    assert b"do not serve" not in stream.body


def test_missing_file_is_404_json(
    example: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LSTREAM_EXAMPLE_DIR", str(tmp_path))
    stream = run(example, event(query={"key": "nope.bin"}))
    assert stream.status == 404
    assert stream.headers["content-type"] == "application/json"
    assert json.loads(stream.body) == {"message": "Not Found"}


def test_no_file_configured_is_400(example: ModuleType) -> None:
    stream = run(example, event())
    assert stream.status == 400
    assert "LSTREAM_EXAMPLE_FILE" in json.loads(stream.body)["message"]


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({}, 403),
        ({"x-origin-secret": "wrong-value-0000000"}, 403),
        ({"x-origin-secret": ""}, 403),
        ({"x-origin-secret": "correct-horse-battery"}, 200),
        ({"X-Origin-Secret": "correct-horse-battery"}, 200),
    ],
)
def test_secret_header_check(
    example: ModuleType,
    data_file: tuple[Path, bytes],
    monkeypatch: pytest.MonkeyPatch,
    headers: dict[str, str],
    expected: int,
) -> None:
    path, data = data_file
    monkeypatch.setenv("LSTREAM_EXAMPLE_FILE", str(path))
    monkeypatch.setenv("ORIGIN_SECRET_HEADER", "X-Origin-Secret")
    monkeypatch.setenv("ORIGIN_SECRET_VALUE", "correct-horse-battery")
    stream = run(example, event(headers=headers))
    assert stream.status == expected
    if expected == 403:
        assert json.loads(stream.body) == {"message": "Forbidden"}
        assert b"correct-horse-battery" not in stream.body
    else:
        assert stream.body == data


def test_no_secret_check_when_unset(
    example: ModuleType, data_file: tuple[Path, bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    path, data = data_file
    monkeypatch.setenv("LSTREAM_EXAMPLE_DIR", str(path.parent))
    stream = run(example, event(query={"key": path.name}))
    assert stream.status == 200 and stream.body == data


def test_compare_modes_picks_objects_named_by_size_in_bytes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """README's recipe: one object per size, named by its size in bytes, --size-param key."""
    from lstream_cli.cli import run as cli_run
    from lstream_cli.emulator import EmulatorConfig, running_emulator

    bucket = tmp_path / "bucket"
    bucket.mkdir()
    for n in (1000, 2000):  # the warm-up asks for 1000 bytes too
        (bucket / str(n)).write_bytes(b"x" * n)
    (bucket / "2kB").write_bytes(b"wrong name")  # a name compare-modes never asks for
    monkeypatch.setenv("LSTREAM_EXAMPLE_DIR", str(bucket))
    result = tmp_path / "r.json"
    config = EmulatorConfig(port=0, handler=f"{EXAMPLES / 'handler.py'}:handler")
    with running_emulator(config) as ep:
        args = ["compare-modes", "--stream", ep.stream + "/", "--sizes", "1kB,2kB"]
        code = cli_run([*args, "--size-param", "key", "--json", str(result)])
    capsys.readouterr()
    assert code == 0
    rows = json.loads(result.read_text())["rows"]
    assert [(r["size"], r["ok"], r["bytes"]) for r in rows] == [
        (1000, True, 1000),
        (2000, True, 2000),
    ]
