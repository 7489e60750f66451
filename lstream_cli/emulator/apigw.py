"""API Gateway in front of the streaming function URL, as in the seed's architecture.

An HTTP_PROXY integration: the request is forwarded to the function URL with
the static secret header added (``--secret-header``), and the answer comes
back through httpx streaming, never held whole unless the mode demands it.

- ``apigw`` (BUFFERED transfer mode): the integration response is collected
  up to 10 MB (more: 502 ``{"message": "Internal server error"}``) within the
  29 s integration timeout (past it: 504 ``{"message": "Endpoint request
  timed out"}``), then sent with a Content-Length.
- ``apigw_stream`` (REST STREAM transfer mode): bytes are passed on as they
  come; the first 10 MB uncapped, then 2 MB/s; the stream is cut at 15 minutes.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import httpx

from lstream_cli.emulator.config import (
    APIGW_BUFFERED_LIMIT,
    APIGW_STREAM_BURST,
    APIGW_STREAM_MAX_S,
    APIGW_STREAM_RATE,
    APIGW_TIMEOUT_S,
)
from lstream_cli.emulator.http import ClientGone, HttpRequest, HttpResponse
from lstream_cli.emulator.runtime import INTERNAL_HEADER, Runtime, new_request_id, reply

__all__ = ["HOP_HEADERS", "ApiGatewayApp"]

_T = TypeVar("_T")

INTERNAL_ERROR = b'{"message": "Internal server error"}'
TIMED_OUT = b'{"message": "Endpoint request timed out"}'
TOO_LARGE = b'{"message": "Request Entity Too Large"}'
_HOP = frozenset(
    {
        "host",
        "connection",
        "keep-alive",
        "content-length",
        "transfer-encoding",
        "te",
        "trailer",
        "upgrade",
        "expect",
        "proxy-authorization",
        "proxy-connection",
        INTERNAL_HEADER,
    }
)


HOP_HEADERS = _HOP  # never forwarded by an HTTP_PROXY integration


class _UpstreamTooLarge(Exception):
    pass


async def _unless_gone(response: HttpResponse, work: Coroutine[Any, Any, _T]) -> _T:
    """Run ``work`` until it ends or the client leaves (then it is cancelled: ClientGone).

    Cancelled itself (the server stopping), it cancels ``work`` too and
    leaves no task behind whose failure nobody would retrieve.
    """
    task = asyncio.ensure_future(work)
    task.add_done_callback(_retrieve)
    gone = asyncio.ensure_future(response.wait_gone())
    cut = False
    try:
        await asyncio.wait({task, gone}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        gone.cancel()
        if not task.done():
            task.cancel()
            cut = True
    if cut:  # the client left first
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
        raise ClientGone("client closed the connection")
    return task.result()


def _retrieve(task: asyncio.Future[Any]) -> None:
    if not task.cancelled():
        task.exception()


class ApiGatewayApp:
    """One API Gateway stage; ``stream`` selects the REST STREAM transfer mode."""

    def __init__(self, runtime: Runtime, upstream: Callable[[], str], stream: bool) -> None:
        self.runtime = runtime
        self.upstream = upstream  # base URL of the function URL behind the gateway
        self.stream = stream
        self.name = "apigw_stream" if stream else "apigw"
        self._client: httpx.AsyncClient | None = None

    @property
    def client(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(
                timeout=httpx.Timeout(None),
                limits=httpx.Limits(max_connections=None, max_keepalive_connections=64),
                trust_env=False,  # its upstream is on this machine: never through HTTP_PROXY
            )
        return self._client

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def _upstream_headers(self, request: HttpRequest) -> list[tuple[bytes, bytes]]:
        """The client's headers, as bytes: exactly the bytes received (UTF-8 values too)."""
        rt = self.runtime
        headers = [(k, v) for k, v in request.headers if k.lower() not in _HOP]
        if rt.secret_header is not None:
            name = rt.secret_header[0]
            headers = [(k, v) for k, v in headers if k.lower() != name.lower()]
        out = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers]
        if rt.secret_header is not None:
            out.append((rt.secret_header[0].encode(), rt.secret_header[1].encode()))
        out.append((INTERNAL_HEADER.encode(), rt.internal_token.encode()))
        return out

    async def __call__(self, request: HttpRequest, response: HttpResponse) -> None:
        t0 = time.perf_counter()
        request_id = new_request_id()
        note = ""
        try:
            if request.too_large:
                note = "request too large"
                reply(response, 413, TOO_LARGE, request_id)
                return
            note = await self._serve(request, response, request_id)
        finally:
            self.runtime.log(self.name, request, response.status, response.bytes_sent, t0, note)

    async def _serve(self, request: HttpRequest, response: HttpResponse, request_id: str) -> str:
        """Answer one request that fits; return the access log's note."""
        if self.stream:
            return await self._stream(request, response, request_id)
        return await self._buffered(request, response, request_id)

    def _build(self, request: HttpRequest) -> httpx.Request:
        return self.client.build_request(
            request.method,
            self.upstream() + request.target,
            headers=self._upstream_headers(request),
            content=request.body,
        )

    @staticmethod
    def _down_headers(up: httpx.Response, request_id: str) -> list[tuple[str, str]]:
        out = [(k, v) for k, v in up.headers.multi_items() if k.lower() not in _HOP]
        out = [(k, v) for k, v in out if k.lower() != "x-amzn-requestid"]
        out.append(("x-amzn-requestid", request_id))
        return out

    async def _buffered(
        self,
        request: HttpRequest,
        response: HttpResponse,
        request_id: str,
        upstream: httpx.Request | None = None,
        timeout_s: float = APIGW_TIMEOUT_S,
    ) -> str:
        """``upstream``/``timeout_s``: a stack's method sends its own request, in its own time."""

        async def fetch() -> tuple[httpx.Response, bytes]:
            up = await self.client.send(upstream or self._build(request), stream=True)
            try:
                parts: list[bytes] = []
                size = 0
                async for chunk in up.aiter_raw():
                    size += len(chunk)
                    if size > APIGW_BUFFERED_LIMIT:
                        raise _UpstreamTooLarge
                    parts.append(chunk)
                return up, b"".join(parts)
            finally:
                await up.aclose()

        try:
            up, body = await _unless_gone(
                response, asyncio.wait_for(fetch(), self.runtime.scaled(timeout_s))
            )
        except ClientGone:
            raise  # the client left: the fetch was stopped with it
        except asyncio.TimeoutError:
            reply(response, 504, TIMED_OUT, request_id, error_type="IntegrationTimeout")
            return f"integration timeout ({timeout_s:g} s)"
        except _UpstreamTooLarge:
            reply(response, 502, INTERNAL_ERROR, request_id, error_type="IntegrationFailure")
            return "integration response over 10 MB"
        except httpx.HTTPError as exc:
            reply(response, 502, INTERNAL_ERROR, request_id, error_type="IntegrationFailure")
            return f"integration failed: {type(exc).__name__}"
        response.send(up.status_code, body, self._down_headers(up, request_id))
        return ""

    async def _stream(
        self,
        request: HttpRequest,
        response: HttpResponse,
        request_id: str,
        upstream: httpx.Request | None = None,
        max_s: float = APIGW_STREAM_MAX_S,
    ) -> str:
        throttle = self.runtime.throttle(APIGW_STREAM_BURST, APIGW_STREAM_RATE)

        async def relay() -> None:
            up = await self.client.send(upstream or self._build(request), stream=True)
            try:
                response.start(up.status_code, self._down_headers(up, request_id))
                async for chunk in up.aiter_raw():
                    if throttle is not None:
                        await throttle.wait(len(chunk))
                    await response.write(chunk)
            finally:
                await up.aclose()

        try:
            await asyncio.wait_for(relay(), self.runtime.scaled(max_s))
        except ClientGone:
            raise
        except asyncio.TimeoutError:
            if response.started:
                response.abort()
                return f"cut: {max_s:g} s stream limit"
            reply(response, 504, TIMED_OUT, request_id, error_type="IntegrationTimeout")
            return "integration timeout"
        except httpx.HTTPError as exc:
            if response.started:
                response.abort()
                return f"cut: upstream {type(exc).__name__}"
            reply(response, 502, INTERNAL_ERROR, request_id, error_type="IntegrationFailure")
            return f"integration failed: {type(exc).__name__}"
        response.end()
        return ""
