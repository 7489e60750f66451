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
import time
from collections.abc import Callable

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

__all__ = ["ApiGatewayApp"]

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


class _UpstreamTooLarge(Exception):
    pass


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
            if self.stream:
                note = await self._stream(request, response, request_id)
            else:
                note = await self._buffered(request, response, request_id)
        finally:
            self.runtime.log(self.name, request, response.status, response.bytes_sent, t0, note)

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

    async def _buffered(self, request: HttpRequest, response: HttpResponse, request_id: str) -> str:
        async def fetch() -> tuple[httpx.Response, bytes]:
            up = await self.client.send(self._build(request), stream=True)
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
            up, body = await asyncio.wait_for(fetch(), self.runtime.scaled(APIGW_TIMEOUT_S))
        except asyncio.TimeoutError:
            reply(response, 504, TIMED_OUT, request_id, error_type="IntegrationTimeout")
            return "integration timeout (29 s)"
        except _UpstreamTooLarge:
            reply(response, 502, INTERNAL_ERROR, request_id, error_type="IntegrationFailure")
            return "integration response over 10 MB"
        except httpx.HTTPError as exc:
            reply(response, 502, INTERNAL_ERROR, request_id, error_type="IntegrationFailure")
            return f"integration failed: {type(exc).__name__}"
        response.send(up.status_code, body, self._down_headers(up, request_id))
        return ""

    async def _stream(self, request: HttpRequest, response: HttpResponse, request_id: str) -> str:
        throttle = self.runtime.throttle(APIGW_STREAM_BURST, APIGW_STREAM_RATE)

        async def relay() -> None:
            up = await self.client.send(self._build(request), stream=True)
            try:
                response.start(up.status_code, self._down_headers(up, request_id))
                async for chunk in up.aiter_raw():
                    if throttle is not None:
                        await throttle.wait(len(chunk))
                    await response.write(chunk)
            finally:
                await up.aclose()

        try:
            await asyncio.wait_for(relay(), self.runtime.scaled(APIGW_STREAM_MAX_S))
        except ClientGone:
            raise
        except asyncio.TimeoutError:
            if response.started:
                response.abort()
                return "cut: 15 minute stream limit"
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
