"""A custom runtime (``--bootstrap``): a small Python script speaking the Runtime API.

The script is written here, in the test: buffered and streaming responses
(prelude, chunks, error trailers) and the Runtime API's answers to misuse.
"""

from __future__ import annotations

import json
import os
import stat
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fnhelpers import Logs, lambda_client, rid

from lstream_cli.emulator import EmulatorConfig, Endpoints, running_emulator
from lstream_cli.emulator.logs import FunctionOutput, InvocationReport
from lstream_cli.emulator.settings import function_from_flags

BOOTSTRAP = r"""#!PYTHON
import json, os, socket, sys

API = os.environ["AWS_LAMBDA_RUNTIME_API"]
HOST, PORT = API.split(":")
PRELUDE = "application/vnd.awslambda.http-integration-response"
BASE = "/2018-06-01/runtime/invocation/"


def call(method, path, body=b"", headers=(), chunks=None, trailers=()):
    s = socket.create_connection((HOST, int(PORT)))
    head = [f"{method} {path} HTTP/1.1", f"Host: {API}"] + [f"{k}: {v}" for k, v in headers]
    if chunks is None:
        head.append(f"Content-Length: {len(body)}")
        s.sendall(("\r\n".join(head) + "\r\n\r\n").encode() + body)
    else:
        head.append("Transfer-Encoding: chunked")
        s.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
        for c in chunks:
            s.sendall(b"%x\r\n%s\r\n" % (len(c), c))
        s.sendall(b"0\r\n" + b"".join(b"%s: %s\r\n" % (k.encode(), v.encode()) for k, v in trailers) + b"\r\n")
    data = b""
    while b"\r\n\r\n" not in data:
        data += s.recv(65536)
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    status = int(lines[0].split()[1])
    fields = {l.split(":", 1)[0].lower(): l.split(":", 1)[1].strip() for l in lines[1:]}
    length = int(fields.get("content-length", "0"))
    while len(rest) < length:
        rest += s.recv(65536)
    s.close()
    return status, fields, rest[:length]


print(f"bootstrap init handler={os.environ.get('_HANDLER')}", flush=True)
while True:
    status, fields, body = call("GET", BASE + "next")
    rid = fields["lambda-runtime-aws-request-id"]
    event = json.loads(body)
    q = event.get("queryStringParameters") or event
    case = q.get("case", "echo")
    print(f"case {case}", file=sys.stderr, flush=True)
    if case == "echo":
        doc = {
            "next": {k: v for k, v in fields.items() if k.startswith("lambda-runtime-")},
            "handler": os.environ.get("_HANDLER"),
            "task_root": os.environ.get("LAMBDA_TASK_ROOT"),
            "memory": os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE"),
            "from_file": os.environ.get("FROM_FILE"),
        }
        call("POST", BASE + rid + "/response", json.dumps(doc).encode())
    elif case == "stream":
        prelude = json.dumps({"statusCode": 203, "headers": {"x-b": "1"}, "cookies": ["k=v"]})
        code, _, _ = call(
            "POST", BASE + rid + "/response",
            headers=[("Lambda-Runtime-Function-Response-Mode", "streaming"), ("Content-Type", PRELUDE)],
            chunks=[prelude.encode(), b"\0" * 4, b"\0" * 4 + b"body-", b"bytes"],
        )
        print(f"stream answered {code}", flush=True)
    elif case == "stream_length":
        # Streaming mode with a Content-Length body, and a keep-alive request after it.
        prelude = json.dumps({"statusCode": 202, "headers": {"x-c": "2"}})
        body = prelude.encode() + b"\0" * 8 + b"sized body"
        code, _, _ = call(
            "POST", BASE + rid + "/response", body,
            headers=[("Lambda-Runtime-Function-Response-Mode", "streaming"), ("Content-Type", PRELUDE)],
        )
        print(f"stream_length answered {code}", flush=True)
    elif case == "trailer":
        import base64
        err = base64.b64encode(json.dumps({"errorType": "Custom.Boom", "errorMessage": "late"}).encode()).decode()
        call(
            "POST", BASE + rid + "/response",
            headers=[("Lambda-Runtime-Function-Response-Mode", "streaming"),
                     ("Trailer", "Lambda-Runtime-Function-Error-Type, Lambda-Runtime-Function-Error-Body")],
            chunks=[b"some bytes"],
            trailers=[("Lambda-Runtime-Function-Error-Type", "Custom.Boom"),
                      ("Lambda-Runtime-Function-Error-Body", err)],
        )
    elif case == "error":
        call("POST", BASE + rid + "/error",
             json.dumps({"errorType": "Custom.Error", "errorMessage": "said so"}).encode(),
             headers=[("Lambda-Runtime-Function-Error-Type", "Custom.Error")])
    elif case == "size":
        n = int(q["n"])
        code, _, answer = call("POST", BASE + rid + "/response", b'"' + b"x" * (n - 2) + b'"')
        print(f"size {n} answered {code} {answer.decode()}", flush=True)
    elif case == "misuse":
        a = call("POST", BASE + rid + "/response", b"{}",
                 headers=[("Lambda-Runtime-Function-Response-Mode", "bogus")])
        b = call("POST", BASE + "not-an-id/response", b"{}")
        c = call("POST", BASE + rid + "/response", b"{}")
        d = call("GET", "/2018-06-01/runtime/nowhere")
        print("misuse", a[0], a[2].decode(), b[0], b[2].decode(), c[0], d[0], flush=True)
"""


@pytest.fixture(scope="module")
def logs() -> Logs:
    return Logs()


@pytest.fixture(scope="module")
def custom(tmp_path_factory: pytest.TempPathFactory, logs: Logs) -> Iterator[Endpoints]:
    folder = tmp_path_factory.mktemp("custom")
    script = folder / "bootstrap"
    script.write_text(BOOTSTRAP.replace("PYTHON", sys.executable))
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    fn = function_from_flags(
        "my.handler",
        bootstrap=str(script),
        memory_mb=256,
        environment=[("FROM_FILE", "yes")],
    )
    with running_emulator(EmulatorConfig(function=fn, throttle=False, function_log=logs)) as ep:
        yield ep


def test_a_buffered_response_and_the_next_headers(custom: Endpoints) -> None:
    client = lambda_client(custom.lambda_api)
    out = client.invoke(FunctionName="fn", Payload=b'{"case": "echo"}')
    doc = json.loads(out["Payload"].read())
    assert doc["handler"] == "my.handler"
    assert doc["memory"] == "256" and doc["from_file"] == "yes"
    nxt = doc["next"]
    assert nxt["lambda-runtime-aws-request-id"] == out["ResponseMetadata"]["RequestId"]
    assert nxt["lambda-runtime-invoked-function-arn"].endswith(":function:lstream-emulator")
    assert int(nxt["lambda-runtime-deadline-ms"]) > 0
    assert nxt["lambda-runtime-trace-id"].startswith("Root=1-")


def test_a_streamed_response_with_a_split_delimiter(custom: Endpoints, logs: Logs) -> None:
    r = httpx.get(custom.stream + "/?case=stream", timeout=30)
    assert r.status_code == 203
    assert r.headers["x-b"] == "1" and r.headers.get_list("set-cookie") == ["k=v"]
    assert r.content == b"body-bytes"
    logs.wait(lambda: any(isinstance(x, InvocationReport) for x in logs.of(rid(r))))
    outputs = [x.text for x in logs.of(rid(r)) if isinstance(x, FunctionOutput)]
    assert "stream answered 202" in outputs


def test_a_streamed_response_with_a_content_length(custom: Endpoints, logs: Logs) -> None:
    r = httpx.get(custom.stream + "/?case=stream_length", timeout=30)
    assert (r.status_code, r.headers["x-c"], r.content) == (202, "2", b"sized body")
    logs.wait(lambda: any(isinstance(x, InvocationReport) for x in logs.of(rid(r))))
    outputs = [x.text for x in logs.of(rid(r)) if isinstance(x, FunctionOutput)]
    assert "stream_length answered 202" in outputs


def test_error_trailers_cut_the_stream(custom: Endpoints) -> None:
    got = b""
    with (
        pytest.raises(httpx.RemoteProtocolError),
        httpx.stream("GET", custom.stream + "/?case=trailer", timeout=30) as r,
    ):
        for chunk in r.iter_raw():
            got += chunk
    assert got == b"some bytes"
    client = lambda_client(custom.lambda_api)
    out = client.invoke(FunctionName="fn", Payload=b'{"case": "trailer"}')
    assert out["FunctionError"] == "Unhandled"
    assert json.loads(out["Payload"].read()) == {"errorType": "Custom.Boom", "errorMessage": "late"}


def test_an_error_response(custom: Endpoints) -> None:
    assert httpx.get(custom.stream + "/?case=error", timeout=30).status_code == 502
    out = lambda_client(custom.lambda_api).invoke(FunctionName="fn", Payload=b'{"case": "error"}')
    assert out["FunctionError"] == "Unhandled"
    assert json.loads(out["Payload"].read())["errorType"] == "Custom.Error"


def test_the_runtime_api_refuses_misuse(custom: Endpoints, logs: Logs) -> None:
    r = httpx.get(custom.stream + "/?case=misuse", timeout=30)
    assert r.status_code == 502  # the invocation failed: Runtime.InvalidResponseModeHeader
    out = lambda_client(custom.lambda_api).invoke(FunctionName="fn", Payload=b'{"case": "misuse"}')
    assert json.loads(out["Payload"].read())["errorType"] == "Runtime.InvalidResponseModeHeader"
    logs.wait(lambda: any(isinstance(x, InvocationReport) for x in logs.of(rid(r))))
    outputs = [x.text for x in logs.of(rid(r)) if isinstance(x, FunctionOutput)]
    line = next(text for text in outputs if text.startswith("misuse"))
    assert line == (
        "misuse 400 "
        '{"errorMessage":"Invalid function response mode","errorType":"InvalidFunctionResponseMode"}'
        ' 400 {"errorMessage":"Invalid request ID","errorType":"InvalidRequestID"} 400 404'
    )


def test_a_bootstrap_that_is_not_executable_is_a_usage_error(tmp_path: Path) -> None:
    from lstream_cli._exitcodes import UsageError

    script = tmp_path / "bootstrap"
    script.write_text("#!/bin/sh\n")
    os.chmod(script, 0o644)
    with pytest.raises(UsageError, match="not executable"):
        function_from_flags("synthetic", bootstrap=str(script))


@pytest.mark.parametrize(
    ("script", "error_type"),
    [
        ("#!/bin/sh\necho 'cannot start' >&2\nexit 7\n", "Runtime.ExitError"),
        ("#!/no/such/interpreter\n", "Runtime.InvalidEntrypoint"),
    ],
    ids=["exits-during-init", "cannot-exec"],
)
def test_a_runtime_that_never_starts(tmp_path: Path, script: str, error_type: str) -> None:
    bootstrap = tmp_path / "bootstrap"
    bootstrap.write_text(script)
    bootstrap.chmod(0o755)
    logs = Logs()
    fn = function_from_flags("synthetic", bootstrap=str(bootstrap))
    with running_emulator(EmulatorConfig(function=fn, function_log=logs)) as ep:
        assert httpx.get(ep.stream + "/", timeout=30).status_code == 502
        out = lambda_client(ep.lambda_api).invoke(FunctionName="fn", Payload=b"{}")
        assert out["FunctionError"] == "Unhandled"
        assert json.loads(out["Payload"].read())["errorType"] == error_type
    if error_type == "Runtime.ExitError":
        assert "cannot start" in logs.lines()
        assert any("Error Type: Runtime.ExitError" in line for line in logs.lines())
    else:
        assert "INIT_REPORT Error: cannot start the runtime: No such file or directory" in (
            logs.lines()
        )


@pytest.mark.parametrize(("size", "code"), [(6_291_556, 202), (6_291_557, 413)])
def test_the_buffered_limit_is_exactly_6291556_bytes(
    custom: Endpoints, logs: Logs, size: int, code: int
) -> None:
    client = lambda_client(custom.lambda_api)
    out = client.invoke(FunctionName="fn", Payload=json.dumps({"case": "size", "n": size}))
    payload = out["Payload"].read()
    request_id = out["ResponseMetadata"]["RequestId"]
    logs.wait(lambda: any(isinstance(x, InvocationReport) for x in logs.of(request_id)))
    said = [x.text for x in logs.of(request_id) if isinstance(x, FunctionOutput)]
    line = next(text for text in said if text.startswith(f"size {size} answered"))
    if code == 202:
        assert line == f'size {size} answered 202 {{"status":"OK"}}'
        assert "FunctionError" not in out and len(payload) == size
    else:
        assert line == (
            f"size {size} answered 413 "
            '{"errorMessage":"Exceeded maximum allowed payload size (6291556 bytes).",'
            '"errorType":"RequestEntityTooLarge"}'
        )
        assert out["FunctionError"] == "Unhandled"
        assert json.loads(payload)["errorType"] == "Function.ResponseSizeTooLarge"
