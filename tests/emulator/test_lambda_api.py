"""The Lambda API through botocore's own client, pointed at the emulator."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import botocore.session
import httpx
import pytest
from botocore.config import Config

from lstream_cli.emulator import EmulatorConfig, Endpoints, running_emulator
from lstream_cli.emulator.handlers import expected_body


def lambda_client(endpoint: str, key: str = "AKIDANYTHING", secret: str = "anything") -> Any:
    session = botocore.session.get_session()
    return session.create_client(
        "lambda",
        region_name="us-east-1",
        endpoint_url=endpoint,
        aws_access_key_id=key,
        aws_secret_access_key=secret,
        config=Config(retries={"max_attempts": 1}, read_timeout=30),
    )


@pytest.fixture(scope="module")
def client(emu: Endpoints) -> Iterator[Any]:
    c = lambda_client(emu.lambda_api)
    yield c
    c.close()


def test_invoke_returns_the_payload(client: Any) -> None:
    out = client.invoke(FunctionName="any-name", Payload=json.dumps({"size": "3KB"}))
    assert out["StatusCode"] == 200
    assert "FunctionError" not in out
    assert out["ExecutedVersion"] == "$LATEST"
    assert out["Payload"].read() == expected_body(3000)


def test_invoke_over_the_limit_is_a_function_error(client: Any) -> None:
    out = client.invoke(FunctionName="f", Payload=json.dumps({"size": "7MB", "chunk": "1MiB"}))
    assert out["StatusCode"] == 200
    assert out["FunctionError"] == "Unhandled"
    assert json.loads(out["Payload"].read()) == {
        "errorType": "Function.ResponseSizeTooLarge",
        "errorMessage": "Response payload size exceeded maximum allowed payload size "
        "(6291556 bytes).",
    }


def test_invoke_handler_error(client: Any) -> None:
    out = client.invoke(FunctionName="f", Payload=json.dumps({"fail_at": 0}))
    assert out["FunctionError"] == "Unhandled"
    assert json.loads(out["Payload"].read())["errorType"] == "RuntimeError"


def test_invoke_with_a_negative_chunk_is_refused(client: Any) -> None:
    """A JSON ``chunk`` of -1 once made an endless stream of wrong bytes."""
    out = client.invoke(FunctionName="f", Payload=json.dumps({"size": 10, "chunk": -1}))
    assert "FunctionError" not in out
    assert json.loads(out["Payload"].read()) == {
        "message": "invalid chunk -1: expected a whole number of bytes >= 0"
    }


def test_invoke_event_and_dry_run(client: Any) -> None:
    assert client.invoke(FunctionName="f", InvocationType="Event")["StatusCode"] == 202
    assert client.invoke(FunctionName="f", InvocationType="DryRun")["StatusCode"] == 204


def test_invoke_accepts_an_arn(client: Any) -> None:
    arn = "arn:aws:lambda:us-east-1:123456789012:function:my-fn"
    out = client.invoke(FunctionName=arn, Payload=b'{"size": 4}')
    assert out["Payload"].read() == expected_body(4)


def collect(events: Any) -> tuple[bytes, dict[str, Any]]:
    body = b""
    complete: dict[str, Any] = {}
    for event in events:
        if "PayloadChunk" in event:
            body += event["PayloadChunk"]["Payload"]
        if "InvokeComplete" in event:
            complete = event["InvokeComplete"]
    return body, complete


def test_invoke_with_response_stream(client: Any) -> None:
    out = client.invoke_with_response_stream(
        FunctionName="f", Payload=json.dumps({"size": "3MB", "chunk": "256KiB"})
    )
    assert out["StatusCode"] == 200
    assert out["ResponseStreamContentType"] == "application/vnd.amazon.eventstream"
    body, complete = collect(out["EventStream"])
    assert body == expected_body(3_000_000)
    assert "ErrorCode" not in complete


def test_invoke_with_response_stream_goes_past_6_mb(client: Any) -> None:
    out = client.invoke_with_response_stream(
        FunctionName="f", Payload=json.dumps({"size": "8MB", "chunk": "1MiB"})
    )
    body, complete = collect(out["EventStream"])
    assert len(body) == 8_000_000
    assert "ErrorCode" not in complete


def test_invoke_with_response_stream_error_after_some_bytes(client: Any) -> None:
    out = client.invoke_with_response_stream(
        FunctionName="f", Payload=json.dumps({"size": 10000, "chunk": 1000, "fail_at": 3000})
    )
    body, complete = collect(out["EventStream"])
    assert len(body) == 3000
    assert complete["ErrorCode"] == "Unhandled"
    assert "RuntimeError" in complete["ErrorDetails"]


def test_unknown_paths_and_bad_payloads(emu: Endpoints) -> None:
    r = httpx.get(emu.lambda_api + "/2015-03-31/functions")
    assert r.status_code == 404
    assert r.headers["x-amzn-errortype"] == "UnknownOperationException"
    assert "message" in r.json()
    r = httpx.post(emu.lambda_api + "/2015-03-31/functions/f/invocations", content=b"{not json")
    assert r.status_code == 400
    assert r.headers["x-amzn-errortype"] == "InvalidRequestContentException"
    # Still serving.
    r = httpx.post(emu.lambda_api + "/2015-03-31/functions/f/invocations", content=b'{"size":1}')
    assert r.content == b"\x00"


def test_bad_payload_surfaces_in_botocore_as_client_error(client: Any) -> None:
    with pytest.raises(client.exceptions.InvalidRequestContentException):
        client.invoke(FunctionName="f", Payload=b"{not json")


def test_lambda_api_stream_with_throttle_on_delivers_everything() -> None:
    # Past the 6 MiB burst the bucket (tested in test_throttle) paces the frames.
    with running_emulator(EmulatorConfig(time_scale=1000.0)) as emu:
        c = lambda_client(emu.lambda_api)
        out = c.invoke_with_response_stream(FunctionName="f", Payload=b'{"size": "7MiB"}')
        body, _ = collect(out["EventStream"])
        assert len(body) == 7 * 1024 * 1024
        c.close()
