"""engine.single at the httpx level, with respx: classification and what is sent."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
import respx
from botocore.credentials import Credentials

from lstream_cli.engine.single import fetch
from lstream_cli.models import ErrorClass
from lstream_cli.request import RequestSpec
from lstream_cli.signing import Signer

URL = "https://abc.lambda-url.us-east-1.on.aws/export?size=3"


class CutStream(httpx.SyncByteStream):
    """Yields some chunks, then fails the way a reset connection does."""

    def __iter__(self) -> Iterator[bytes]:
        yield b"a" * 100
        yield b"b" * 100
        raise httpx.RemoteProtocolError("peer closed connection without sending complete message")


class Chunks(httpx.SyncByteStream):
    def __init__(self, parts: list[bytes]) -> None:
        self.parts = parts

    def __iter__(self) -> Iterator[bytes]:
        yield from self.parts


@respx.mock
def test_success_records_bytes_reads_and_headers() -> None:
    respx.get(URL).mock(
        return_value=httpx.Response(
            200, headers={"content-type": "application/json"}, stream=Chunks([b"{", b"}", b"\n"])
        )
    )
    got: list[bytes] = []
    record = fetch(RequestSpec(URL, auth="none"), sink=got.append)
    assert record.ok and record.status == 200
    assert (record.bytes, record.reads) == (3, 3)
    assert b"".join(got) == b"{}\n"
    assert ("content-type", "application/json") in record.response_headers
    assert record.headers_ns is not None and record.first_byte_ns is not None
    assert record.headers_ns <= record.first_byte_ns <= (record.end_ns or 0)


@respx.mock
def test_mid_body_failure_is_truncated() -> None:
    respx.get(URL).mock(return_value=httpx.Response(200, stream=CutStream()))
    got: list[bytes] = []
    record = fetch(RequestSpec(URL, auth="none"), sink=got.append)
    assert record.error is ErrorClass.TRUNCATED and not record.complete
    assert record.bytes == 200 and len(b"".join(got)) == 200


@pytest.mark.parametrize(
    ("exc", "error"),
    [
        (httpx.ConnectError("[Errno 111] Connection refused"), ErrorClass.CONNECT),
        (httpx.ConnectTimeout("timed out"), ErrorClass.TIMEOUT),
        (httpx.ReadTimeout("timed out"), ErrorClass.TIMEOUT),
        (
            httpx.ConnectError("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed"),
            ErrorClass.TLS,
        ),
        (
            httpx.RemoteProtocolError("Server disconnected without sending a response."),
            ErrorClass.CONNECT,
        ),
    ],
)
@respx.mock
def test_transport_failures_before_headers(exc: Exception, error: ErrorClass) -> None:
    respx.get(URL).mock(side_effect=exc)
    record = fetch(RequestSpec(URL, auth="none"))
    assert record.error is error
    assert record.status is None and record.bytes == 0 and not record.complete
    assert record.error_detail


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (200, None),
        (403, ErrorClass.HTTP_4XX),
        (429, ErrorClass.THROTTLED),
        (502, ErrorClass.HTTP_5XX),
        (504, ErrorClass.HTTP_5XX),
    ],
)
@respx.mock
def test_status_classes(status: int, error: ErrorClass | None) -> None:
    respx.get(URL).mock(return_value=httpx.Response(status, content=b"x"))
    assert fetch(RequestSpec(URL, auth="none")).error is error


@respx.mock
def test_signed_request_carries_signature_and_no_accept_encoding() -> None:
    route = respx.post(URL).mock(return_value=httpx.Response(200))
    signer = Signer(Credentials("AKIDEXAMPLE", "secret", "tok"), "us-east-1")
    spec = RequestSpec(URL, method="POST", body=b"{}", headers=(("x-trace", "1"),))
    fetch(spec, signer)
    sent = route.calls.last.request
    assert sent.headers["authorization"].startswith("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/")
    assert "x-trace" in sent.headers["authorization"]
    assert sent.headers["x-amz-security-token"] == "tok"
    assert len(sent.headers["x-amz-content-sha256"]) == 64
    assert "accept-encoding" not in sent.headers
    assert sent.headers["user-agent"].startswith("lstream/")
    assert sent.content == b"{}"
