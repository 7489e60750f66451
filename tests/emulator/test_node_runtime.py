"""Node.js functions through the real aws-lambda-ric, behind every front end.

One emulator per handler module (a streaming one, a buffered one), shared
by the tests of this file, so the runtime client's processes start a few
times only. The handlers are in ``tests/emulator/node/``.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fnhelpers import NODE, RIC, Logs, lambda_client, rid

from lstream_cli.emulator import EmulatorConfig, Endpoints, running_emulator
from lstream_cli.emulator.logs import (
    FunctionLogRecord,
    FunctionOutput,
    InvocationReport,
    InvocationStart,
    PlatformNote,
)
from lstream_cli.emulator.settings import function_from_flags
from lstream_cli.render.serve import format_function_log

RATE_413 = "LAMBDA_RUNTIME Failed to post handler success response. Http response code: 413."


# Built once per session when missing (tests/emulator/conftest.py).
pytestmark = pytest.mark.usefixtures("runtime_client")


def _emulator(handler: str, logs: Logs, **flags: Any) -> Iterator[Endpoints]:
    fn = function_from_flags(handler, runtime_client=str(RIC), **flags)
    config = EmulatorConfig(function=fn, throttle=False, function_log=logs)
    with running_emulator(config) as endpoints:
        yield endpoints


@pytest.fixture(scope="module")
def slogs() -> Logs:
    return Logs()


@pytest.fixture(scope="module")
def streaming(slogs: Logs) -> Iterator[Endpoints]:
    yield from _emulator(f"{NODE / 'stream.mjs'}:handler", slogs, concurrency=3)


@pytest.fixture(scope="module")
def single(slogs: Logs) -> Iterator[Endpoints]:
    """One environment at most (--concurrency 1): which one runs is known."""
    yield from _emulator(f"{NODE / 'stream.mjs'}:handler", slogs, concurrency=1)


def settled(logs: Logs, *responses: httpx.Response) -> None:
    """Every one of these invocations reported: their environments are free again."""
    for response in responses:
        reported(logs, rid(response))


@pytest.fixture(scope="module")
def blogs() -> Logs:
    return Logs()


@pytest.fixture(scope="module")
def buffered(blogs: Logs) -> Iterator[Endpoints]:
    yield from _emulator(
        f"{NODE / 'buffered.mjs'}:handler",
        blogs,
        timeout_s=10.0,
        memory_mb=512,
        environment=[("GREETING", "hé llo")],
    )


def cut_stream(url: str) -> tuple[str, int, bytes]:
    """GET a stream that must end cut (no terminating chunk): its id, status and bytes."""
    got = b""
    with (
        pytest.raises(httpx.RemoteProtocolError),
        httpx.stream("GET", url, timeout=30) as r,
    ):
        request_id, status = rid(r), r.status_code
        for chunk in r.iter_raw():
            got += chunk
    return request_id, status, got


def reported(logs: Logs, request_id: str) -> list[FunctionLogRecord]:
    """That invocation's records, once its REPORT line is there."""
    logs.wait(lambda: any(isinstance(x, InvocationReport) for x in logs.of(request_id)))
    return logs.of(request_id)


# -- metadata, cookies, modes ---------------------------------------------------


def test_http_response_stream_from_sets_status_headers_and_cookies(streaming: Endpoints) -> None:
    r = httpx.get(streaming.stream + "/?case=meta", timeout=30)
    assert r.status_code == 201
    assert r.headers["content-type"] == "text/plain"
    assert r.headers["x-custom"] == "yes"
    assert r.headers.get_list("set-cookie") == ["a=1; Path=/", "b=2; HttpOnly"]
    assert r.headers["transfer-encoding"] == "chunked"
    assert r.content == b"hello world"


def test_a_streaming_handler_behind_the_buffered_url_is_collected(streaming: Endpoints) -> None:
    r = httpx.get(streaming.buffered + "/?case=meta", timeout=30)
    assert r.status_code == 201
    assert r.headers["content-length"] == "11"
    assert r.headers.get_list("set-cookie") == ["a=1; Path=/", "b=2; HttpOnly"]
    assert r.content == b"hello world"


def test_a_stream_without_prelude_keeps_its_content_type(streaming: Endpoints) -> None:
    r = httpx.get(streaming.stream + "/?case=plain", timeout=30)
    assert (r.status_code, r.headers["content-type"], r.content) == (200, "text/csv", b"a,b\n1,2\n")


def test_streaming_past_6_mb_and_the_buffered_url_cap(streaming: Endpoints) -> None:
    r = httpx.get(streaming.stream + "/?case=big&mb=7", timeout=60)
    assert r.status_code == 200 and r.content == b"x" * (7 * 1024 * 1024)
    r = httpx.get(streaming.buffered + "/?case=big&mb=7", timeout=60)
    assert r.status_code == 502
    assert r.headers["x-amzn-errortype"] == "Function.ResponseSizeTooLarge"


def test_invoke_with_response_stream_carries_the_raw_payload(streaming: Endpoints) -> None:
    client = lambda_client(streaming.lambda_api)
    out = client.invoke_with_response_stream(FunctionName="fn", Payload=b'{"case": "meta"}')
    chunks = b""
    complete = None
    for event in out["EventStream"]:
        if "PayloadChunk" in event:
            chunks += event["PayloadChunk"]["Payload"]
        if "InvokeComplete" in event:
            complete = event["InvokeComplete"]
    prelude = {
        "statusCode": 201,
        "headers": {"content-type": "text/plain", "x-custom": "yes"},
        "cookies": ["a=1; Path=/", "b=2; HttpOnly"],
    }
    assert (
        chunks == json.dumps(prelude, separators=(",", ":")).encode() + b"\0" * 8 + b"hello world"
    )
    assert complete is not None and "ErrorCode" not in complete


# -- failures -------------------------------------------------------------------------


def test_an_error_before_the_first_write_is_a_502(streaming: Endpoints) -> None:
    r = httpx.get(streaming.stream + "/?case=throw", timeout=30)
    assert r.status_code == 502
    assert r.headers["x-amzn-errortype"] == "Function.Unhandled"
    client = lambda_client(streaming.lambda_api)
    out = client.invoke(FunctionName="fn", Payload=b'{"case": "throw"}')
    assert out["FunctionError"] == "Unhandled"
    doc = json.loads(out["Payload"].read())
    assert doc["errorType"] == "TypeError" and doc["errorMessage"] == "before the first write"


def test_an_error_mid_stream_cuts_the_stream(streaming: Endpoints) -> None:
    _, status, got = cut_stream(streaming.stream + "/?case=midway")
    assert (status, got) == (200, b"x" * 1000)
    client = lambda_client(streaming.lambda_api)
    out = client.invoke_with_response_stream(FunctionName="fn", Payload=b'{"case": "midway"}')
    events = list(out["EventStream"])
    body = b"".join(e["PayloadChunk"]["Payload"] for e in events if "PayloadChunk" in e)
    complete = [e["InvokeComplete"] for e in events if "InvokeComplete" in e]
    assert body == b"x" * 1000
    assert complete[0]["ErrorCode"] == "Unhandled"
    assert json.loads(complete[0]["ErrorDetails"])["errorType"] == "RangeError"


def test_an_unhandled_rejection_fails_the_invocation_and_replaces_the_environment(
    single: Endpoints, slogs: Logs
) -> None:
    r = httpx.get(single.stream + "/?case=reject", timeout=30)
    assert r.status_code == 502
    # The environment exited (the runtime client's own policy): a new one takes the next.
    nxt = httpx.get(single.stream + "/?case=meta", timeout=30)
    assert nxt.status_code == 201
    settled(slogs, r, nxt)
    report = next(x for x in reported(slogs, rid(nxt)) if isinstance(x, InvocationReport))
    assert report.init_ms is not None  # a cold start: the one environment was replaced


def test_process_exit_in_the_handler(single: Endpoints, slogs: Logs) -> None:
    request_id, _, got = cut_stream(single.stream + "/?case=exit")
    assert got == b"partial"
    text = [format_function_log(x) for x in reported(slogs, request_id)]
    assert f"RequestId: {request_id} Error: Runtime exited with error: exit status 3" in text
    assert "Runtime.ExitError" in text
    nxt = httpx.get(single.stream + "/?case=meta", timeout=30)
    assert nxt.status_code == 201  # a fresh environment: a cold start again
    report = next(x for x in reported(slogs, rid(nxt)) if isinstance(x, InvocationReport))
    assert report.init_ms is not None


def test_a_stream_that_never_ends_times_out(streaming: Endpoints, slogs: Logs) -> None:
    request_id, _, got = cut_stream(streaming.stream + "/?case=endless")
    assert got == b"tick"
    records = reported(slogs, request_id)
    notes = [x.text for x in records if isinstance(x, PlatformNote)]
    assert "Task timed out after 3.00 seconds" in notes
    report = next(x for x in records if isinstance(x, InvocationReport))
    assert report.status == "timeout"
    assert report.billed_ms >= 3000


def test_a_client_that_leaves_does_not_stop_the_function(streaming: Endpoints, slogs: Logs) -> None:
    with httpx.stream("GET", streaming.stream + "/?case=slow", timeout=30) as r:
        request_id = rid(r)
        next(r.iter_raw())  # the first chunk, then leave
    slogs.wait(
        lambda: any(
            isinstance(x, FunctionOutput) and f"slow finished {request_id}" in x.text
            for x in slogs.of(request_id)
        )
    )
    notes = [x.text for x in reported(slogs, request_id) if isinstance(x, PlatformNote)]
    assert any("keeps running" in n for n in notes)


def test_reserved_concurrency_answers_429(single: Endpoints, slogs: Logs, tmp_path: Path) -> None:
    release = tmp_path / "go"
    with (
        httpx.Client(timeout=30) as client,
        client.stream("GET", single.stream + f"/?case=hold&file={release}") as held,
    ):
        assert held.status_code == 200  # --concurrency 1: its one environment is busy
        try:
            r = httpx.get(single.stream + "/?case=meta", timeout=30)
            assert r.status_code == 429
            assert r.headers["x-amzn-errortype"] == "TooManyRequestsException"
            api = httpx.post(
                single.lambda_api + "/2015-03-31/functions/fn/invocations",
                content=b'{"case": "meta"}',
                timeout=30,
            )
            assert api.status_code == 429
            assert api.headers["x-amzn-errortype"] == "TooManyRequestsException"
            assert api.json() == {
                "Reason": "ReservedFunctionConcurrentInvocationLimitExceeded",
                "Type": "User",
                "message": "Rate Exceeded.",
            }
        finally:
            release.write_text("go")
        assert held.read() == b"held released"
    settled(slogs, held)
    assert httpx.get(single.stream + "/?case=meta", timeout=30).status_code == 201


def test_the_log_has_start_end_report_and_the_request_id(streaming: Endpoints, slogs: Logs) -> None:
    r = httpx.get(streaming.stream + "/?case=meta", timeout=30)
    request_id = rid(r)
    slogs.wait(lambda: any(isinstance(x, InvocationReport) for x in slogs.of(request_id)))
    lines = [format_function_log(x) for x in slogs.of(request_id)]
    assert lines[0] == f"START RequestId: {request_id} Version: $LATEST"
    assert any(f"\t{request_id}\tINFO\tcase meta" in line for line in lines)
    assert f"END RequestId: {request_id}" in lines
    report = lines[-1]
    assert report.startswith(f"REPORT RequestId: {request_id}\tDuration: ")
    for part in ("Billed Duration: ", "Memory Size: 128 MB", "Max Memory Used: "):
        assert part in report
    assert isinstance(slogs.of(request_id)[0], InvocationStart)


# -- buffered handlers ---------------------------------------------------------------------


def test_a_buffered_handler_behind_the_streaming_url(buffered: Endpoints) -> None:
    for base in (buffered.stream, buffered.buffered, buffered.apigw, buffered.apigw_stream):
        r = httpx.get(base + "/?case=doc", timeout=30)
        assert r.status_code == 202, base
        assert r.headers["x-from"] == "buffered"
        assert r.headers.get_list("set-cookie") == ["c=3", "d=4"]
        assert r.content == b"returned body"


def test_a_buffered_7_mb_answer_is_a_502_and_the_runtime_logs_its_413(
    buffered: Endpoints, blogs: Logs
) -> None:
    r = httpx.get(buffered.stream + "/?case=big", timeout=60)
    assert r.status_code == 502
    assert r.headers["x-amzn-errortype"] == "Function.ResponseSizeTooLarge"
    request_id = rid(r)
    blogs.wait(lambda: any(isinstance(x, InvocationReport) for x in blogs.of(request_id)))
    lines = [x.text for x in blogs.of(request_id) if isinstance(x, FunctionOutput)]
    assert any(line.endswith(RATE_413) for line in lines), lines
    client = lambda_client(buffered.lambda_api)
    out = client.invoke(FunctionName="fn", Payload=b'{"case": "big"}')
    assert out["FunctionError"] == "Unhandled"
    assert json.loads(out["Payload"].read())["errorType"] == "Function.ResponseSizeTooLarge"


def test_the_function_sees_lambdas_environment(buffered: Endpoints) -> None:
    client = lambda_client(buffered.lambda_api)
    context = base64.b64encode(json.dumps({"custom": {"k": "v"}}).encode()).decode()
    out = client.invoke(FunctionName="fn", Payload=b'{"case": "env"}', ClientContext=context)
    doc = json.loads(out["Payload"].read())
    env = doc["env"]
    host, _, port = env["AWS_LAMBDA_RUNTIME_API"].partition(":")
    assert host == "127.0.0.1" and int(port) > 0
    assert env["_HANDLER"] == "buffered.handler"
    assert env["LAMBDA_TASK_ROOT"] == str(NODE.resolve())
    assert env["AWS_LAMBDA_FUNCTION_NAME"] == "lstream-emulator"
    assert env["AWS_LAMBDA_FUNCTION_VERSION"] == "$LATEST"
    assert env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "512"
    assert env["AWS_REGION"] == env["AWS_DEFAULT_REGION"] == "us-east-1"
    assert env["AWS_LAMBDA_LOG_GROUP_NAME"] == "/aws/lambda/lstream-emulator"
    assert env["AWS_LAMBDA_LOG_STREAM_NAME"].split("/")[3].startswith("[$LATEST]")
    assert env["TZ"] == ":UTC"
    assert env["GREETING"] == "hé llo"
    assert env["HOME"] is None  # nothing else of the caller's environment leaks in
    assert doc["memory"] == "512"
    assert doc["arn"] == "arn:aws:lambda:us-east-1:123456789012:function:lstream-emulator"
    assert 0 < doc["remaining"] <= 10_000
    assert doc["clientContext"]["custom"] == {"k": "v"}


# -- init errors ------------------------------------------------------------------------------


def test_a_syntax_error_is_an_init_error(tmp_path: Path) -> None:
    logs = Logs()
    for ep in _emulator(f"{NODE / 'broken.mjs'}:handler", logs):
        r = httpx.get(ep.stream + "/", timeout=30)
        assert r.status_code == 502
        client = lambda_client(ep.lambda_api)
        out = client.invoke(FunctionName="fn", Payload=b"{}")
        assert out["FunctionError"] == "Unhandled"
        doc = json.loads(out["Payload"].read())
        assert doc["errorType"] == "Runtime.UserCodeSyntaxError"
    assert any(line.startswith("INIT_REPORT Init Duration: ") for line in logs.lines())
    assert any("Error Type: Runtime.UserCodeSyntaxError" in line for line in logs.lines())


@pytest.mark.parametrize("name", ["handler", "bufferedHandler"])
def test_the_example_function_runs_unchanged(name: str) -> None:
    """examples/node/index.mjs (streaming and its buffered twin), node_modules found upwards."""
    example = Path(__file__).parents[2] / "examples/node/index.mjs"
    fn = function_from_flags(
        f"{example}:{name}",
        environment=[
            ("ORIGIN_SECRET_HEADER", "x-origin-secret"),
            ("ORIGIN_SECRET_VALUE", "s3cr3t"),
        ],
    )
    assert fn.runtime_client is not None and "examples/node/node_modules" in fn.runtime_client
    config = EmulatorConfig(
        function=fn, throttle=False, secret_header=("x-origin-secret", "s3cr3t")
    )
    with running_emulator(config) as ep:
        denied = httpx.get(ep.stream + "/", timeout=30)
        assert (denied.status_code, denied.json()) == (403, {"message": "Forbidden"})
        through = httpx.get(ep.apigw_stream + "/", timeout=30)  # the gateway adds the secret
        assert through.status_code == 400
        assert through.json() == {"message": "bucket and key are required"}


def _flood_progress(logs: Logs, request_id: str) -> int:
    wrote = [
        int(x.text.rsplit(" ", 2)[-2])
        for x in logs.of(request_id)
        if isinstance(x, FunctionOutput) and "flood wrote" in x.text
    ]
    return max(wrote, default=0)


def test_a_caller_that_does_not_read_holds_the_functions_writes_back(
    streaming: Endpoints, slogs: Logs
) -> None:
    with httpx.stream("GET", streaming.stream + "/?case=flood", timeout=60) as r:
        request_id = rid(r)
        chunks = r.iter_raw()
        got = len(next(chunks))
        time.sleep(1.5)  # not reading: every buffer on the way fills, then the function waits
        held = _flood_progress(slogs, request_id)
        for chunk in chunks:
            got += len(chunk)
    assert got == 64 * 1024 * 1024
    reported(slogs, request_id)  # its environment is free again for the next test
    # 64 MiB written by now without backpressure; with it, what the buffers hold (the
    # caller's and the runtime's sockets, the emulator's 4 MiB, Node.js's own).
    assert held < 40, held


def test_the_bandwidth_cap_reaches_the_functions_writes() -> None:
    logs = Logs()
    fn = function_from_flags(f"{NODE / 'stream.mjs'}:handler", runtime_client=str(RIC))
    with running_emulator(EmulatorConfig(function=fn, function_log=logs)) as ep:
        assert httpx.get(ep.stream + "/?case=meta", timeout=30).status_code == 201  # warm
        t0 = time.monotonic()
        with httpx.stream("GET", ep.stream + "/?case=flood", timeout=60) as r:
            request_id = rid(r)
            got = 0
            for chunk in r.iter_raw():
                got += len(chunk)
                if got >= 12 * 1024 * 1024:
                    break
            elapsed = time.monotonic() - t0
            progress = _flood_progress(logs, request_id)
    # 6 MiB uncapped, then 2 MiB/s: the function cannot be further ahead than that
    # plus what the buffers between it and the cap hold.
    assert got >= 12 * 1024 * 1024
    assert progress <= 6 + 2 * elapsed + 16, (progress, elapsed)
    assert progress < 64


def pattern(total: int) -> bytes:
    """What ``?case=pattern&bytes=N`` writes (tests/emulator/node/stream.mjs)."""
    sizes = [1, 1000, 65536, 1048576, 333333, 7]
    base = bytes(range(251)) * 4200
    out, left, k = [], total, 0
    while left > 0:
        n = min(left, sizes[k % len(sizes)])
        out.append(base[k % 251 : k % 251 + n])
        left -= n
        k += 1
    return b"".join(out)


def test_a_streamed_body_arrives_byte_for_byte_past_every_buffer(
    streaming: Endpoints, slogs: Logs
) -> None:
    size = 40 * 1024 * 1024
    with httpx.stream("GET", streaming.stream + f"/?case=pattern&bytes={size}", timeout=60) as r:
        chunks = r.iter_raw()
        got = [next(chunks)]
        time.sleep(0.5)  # a slow caller: the emulator holds views of its receive buffers
        got.extend(chunks)
        request_id = rid(r)
    body = b"".join(got)
    assert len(body) == size
    assert body == pattern(size)
    reported(slogs, request_id)


def test_a_streamed_body_collected_by_the_buffered_url_is_exact(
    streaming: Endpoints, slogs: Logs
) -> None:
    size = 5 * 1024 * 1024 + 12345  # under the 6 MB cap: kept whole, in pieces, until the end
    r = httpx.get(streaming.buffered + f"/?case=pattern&bytes={size}", timeout=60)
    assert r.status_code == 200
    assert r.headers["content-length"] == str(size)
    assert r.content == pattern(size)
    reported(slogs, rid(r))


def test_a_warm_environment_is_used_again(streaming: Endpoints, slogs: Logs) -> None:
    first = httpx.get(streaming.stream + "/?case=plain", timeout=30)
    assert first.status_code == 200
    reported(slogs, rid(first))  # REPORT: its environment is idle again
    second = httpx.get(streaming.stream + "/?case=plain", timeout=30)
    report = next(x for x in reported(slogs, rid(second)) if isinstance(x, InvocationReport))
    assert report.init_ms is None  # no cold start: an environment used before


@pytest.mark.parametrize(
    ("name", "source"),
    [
        ("app.js", "exports.handler = async (event) => ({ statusCode: 200, body: 'from js' });\n"),
        (
            "app.cjs",
            "module.exports.handler = async () => ({ statusCode: 200, body: 'from cjs' });\n",
        ),
    ],
)
def test_commonjs_handlers_run_too(tmp_path: Path, name: str, source: str) -> None:
    (tmp_path / "node_modules").mkdir()
    (tmp_path / "node_modules" / "aws-lambda-ric").symlink_to(RIC.parent.parent)
    code = tmp_path / "lib" / "fn"
    code.mkdir(parents=True)
    (code / name).write_text(source)
    fn = function_from_flags(f"{code / name}:handler")  # aws-lambda-ric found two levels up
    assert fn.handler == "app.handler" and fn.code_dir == str(code)
    with running_emulator(EmulatorConfig(function=fn, throttle=False)) as ep:
        r = httpx.get(ep.stream + "/", timeout=30)
    assert (r.status_code, r.text) == (200, f"from {name.split('.')[1]}")
