"""engine.single at the httpx level, with respx: classification and what is sent.

The client is ``make_client``'s own (timeouts, headers) with respx's router as
its transport, so everything above the wire is what ``lstream get`` runs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import partial

import httpx
import pytest
import respx
from botocore.credentials import Credentials

from lstream_cli.engine.single import fetch, make_client
from lstream_cli.models import ErrorClass, RequestRecord
from lstream_cli.request import RequestSpec
from lstream_cli.signing import Signer

URL = "https://abc.lambda-url.us-east-1.on.aws/export?size=3"


@pytest.fixture
def router() -> Iterator[respx.MockRouter]:
    with respx.mock(assert_all_mocked=True) as mock:
        yield mock


def send(
    router: respx.MockRouter,
    spec: RequestSpec,
    signer: Signer | None = None,
    sink: Callable[[bytes], object] | None = None,
) -> RequestRecord:
    with make_client(spec, transport=httpx.MockTransport(partial(wire, router))) as client:
        return fetch(spec, signer, sink=sink, client=client)


def wire(router: respx.MockRouter, request: httpx.Request) -> httpx.Response:
    """The routed response as a transport returns it: head now, body still to stream.

    (respx pre-reads in-memory bodies, as its own httpcore mock then streams them.)
    """
    routed = router.handler(request)
    return httpx.Response(routed.status_code, headers=routed.headers.raw, stream=routed.stream)


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


def test_success_records_bytes_reads_and_headers(router: respx.MockRouter) -> None:
    router.get(URL).mock(
        return_value=httpx.Response(
            200, headers={"content-type": "application/json"}, stream=Chunks([b"{", b"}", b"\n"])
        )
    )
    got: list[bytes] = []
    record = send(router, RequestSpec(URL, auth="none"), sink=got.append)
    assert record.ok and record.status == 200
    assert (record.bytes, record.reads) == (3, 3)
    assert b"".join(got) == b"{}\n"
    assert ("content-type", "application/json") in record.response_headers
    assert record.headers_ns is not None and record.first_byte_ns is not None
    assert record.headers_ns <= record.first_byte_ns <= (record.end_ns or 0)


def test_mid_body_failure_is_truncated(router: respx.MockRouter) -> None:
    router.get(URL).mock(return_value=httpx.Response(200, stream=CutStream()))
    got: list[bytes] = []
    record = send(router, RequestSpec(URL, auth="none"), sink=got.append)
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
def test_transport_failures_before_headers(
    router: respx.MockRouter, exc: Exception, error: ErrorClass
) -> None:
    router.get(URL).mock(side_effect=exc)
    record = send(router, RequestSpec(URL, auth="none"))
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
def test_status_classes(router: respx.MockRouter, status: int, error: ErrorClass | None) -> None:
    router.get(URL).mock(return_value=httpx.Response(status, content=b"x"))
    assert send(router, RequestSpec(URL, auth="none")).error is error


def test_signed_request_carries_signature_and_no_accept_encoding(router: respx.MockRouter) -> None:
    route = router.post(URL).mock(return_value=httpx.Response(200))
    signer = Signer(Credentials("AKIDEXAMPLE", "secret", "tok"), "us-east-1")
    spec = RequestSpec(URL, method="POST", body=b"{}", headers=(("x-trace", "1"),))
    send(router, spec, signer)
    sent = route.calls.last.request
    assert sent.headers["authorization"].startswith("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/")
    assert "x-trace" in sent.headers["authorization"]
    assert sent.headers["x-amz-security-token"] == "tok"
    assert len(sent.headers["x-amz-content-sha256"]) == 64
    assert "accept-encoding" not in sent.headers
    assert sent.headers["user-agent"].startswith("lstream/")
    assert sent.content == b"{}"
