"""The Lambda API's two invoke operations, for SDK clients given ``endpoint_url``.

- Invoke (``POST /2015-03-31/functions/{name}/invocations``): the JSON payload
  is the event; the output is collected as Lambda does and, over 6,291,556
  bytes, replaced by a 200 with ``X-Amz-Function-Error`` and the
  ``Function.ResponseSizeTooLarge`` error document. A handler error is a 200
  with ``X-Amz-Function-Error: Unhandled`` and ``{"errorType", "errorMessage"}``.
- InvokeWithResponseStream (``POST /2021-11-15/functions/{name}/
  response-streaming-invocations``): ``application/vnd.amazon.eventstream``
  frames, one PayloadChunk per write, then InvokeComplete (with ErrorCode and
  ErrorDetails on failure); the same 6 MB burst, 2 MBps and 200 MB cap as a
  streaming function URL.

Any function name is accepted. Unknown paths get AWS-style JSON errors.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import re
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote

from lstream_cli.emulator.config import (
    BUFFERED_RESPONSE_LIMIT,
    REQUEST_LIMIT,
    STREAM_BURST,
    STREAM_LIMIT,
    STREAM_RATE,
)
from lstream_cli.emulator.eventstream import invoke_complete, payload_chunk
from lstream_cli.emulator.function import FunctionError, Invoker, InvokeRequest, Throttled
from lstream_cli.emulator.functionurl import BufferSink, LimitExceeded
from lstream_cli.emulator.http import ClientGone, HttpRequest, HttpResponse
from lstream_cli.emulator.runtime import Runtime, new_request_id
from lstream_cli.emulator.throttle import BurstThenRate

__all__ = ["EventStreamSink", "LambdaApiApp"]

_INVOKE = re.compile(r"^/2015-03-31/functions/([^/]+)/invocations/?$")
_STREAM = re.compile(r"^/2021-11-15/functions/([^/]+)/response-streaming-invocations/?$")
_FRAME = 1024 * 1024  # largest PayloadChunk payload (event-stream messages stay < 16 MB)
TOO_LARGE_ERROR = {
    "errorType": "Function.ResponseSizeTooLarge",
    "errorMessage": (
        "Response payload size exceeded maximum allowed payload size "
        f"({BUFFERED_RESPONSE_LIMIT} bytes)."
    ),
}


def _json(doc: Any) -> bytes:
    return json.dumps(doc, separators=(",", ":")).encode("utf-8")


class EventStreamSink:
    """Writes each piece of output as PayloadChunk event-stream messages."""

    __slots__ = ("_response", "_throttle", "limit", "sent")

    def __init__(
        self, response: HttpResponse, throttle: BurstThenRate | None, limit: int = STREAM_LIMIT
    ) -> None:
        self._response = response
        self.limit = limit
        self._throttle = throttle
        self.sent = 0

    async def open(self, status: int, headers: dict[str, str], cookies: list[str]) -> None:
        return None  # the HTTP response started before the handler ran

    async def send(self, data: bytes | memoryview) -> None:
        n = len(data)
        if self.sent + n > self.limit:
            raise LimitExceeded(f"stream limit of {self.limit} bytes exceeded")
        if self._throttle is not None:
            await self._throttle.wait(n)
        self.sent += n
        for at in range(0, n, _FRAME):
            await self._response.write(payload_chunk(bytes(data[at : at + _FRAME])))


THROTTLED = {
    "Reason": "ReservedFunctionConcurrentInvocationLimitExceeded",
    "Type": "User",
    "message": "Rate Exceeded.",
}


class LambdaApiApp:
    """The ``lambda_api`` endpoint.

    ``functions`` maps a function name to its invoker (None: an unknown
    function, 404 ``ResourceNotFoundException``); without it every name
    runs the run's one function.
    """

    def __init__(
        self, runtime: Runtime, functions: Callable[[str], Invoker | None] | None = None
    ) -> None:
        self.runtime = runtime
        self.functions = functions or (lambda _name: runtime.invoker)
        self._background: set[asyncio.Task[None]] = set()

    @staticmethod
    def _error(
        response: HttpResponse, status: int, error_type: str, message: str, request_id: str
    ) -> None:
        response.send(
            status,
            _json({"Type": "User", "message": message}),
            [
                ("content-type", "application/json"),
                ("x-amzn-errortype", error_type),
                ("x-amzn-requestid", request_id),
            ],
        )

    @staticmethod
    def _throttled(response: HttpResponse, request_id: str) -> str:
        response.send(
            429,
            _json(THROTTLED),
            [
                ("content-type", "application/json"),
                ("x-amzn-errortype", "TooManyRequestsException"),
                ("x-amzn-requestid", request_id),
            ],
        )
        return "throttled: reserved concurrency"

    async def __call__(self, request: HttpRequest, response: HttpResponse) -> None:
        t0 = time.perf_counter()
        request_id = new_request_id()
        note = ""
        try:
            note = await self._route(request, response, request_id)
        finally:
            self.runtime.log("lambda_api", request, response.status, response.bytes_sent, t0, note)

    async def _route(self, request: HttpRequest, response: HttpResponse, request_id: str) -> str:
        path = request.path
        invoke = _INVOKE.match(path)
        stream = None if invoke else _STREAM.match(path)
        if (invoke is None and stream is None) or request.method != "POST":
            self._error(
                response,
                404,
                "UnknownOperationException",
                f"Unknown operation {request.method} {path}",
                request_id,
            )
            return "unknown operation"
        if request.too_large:
            self._error(
                response,
                413,
                "RequestEntityTooLargeException",
                f"Request must be smaller than {REQUEST_LIMIT} bytes for the InvokeFunction "
                "operation",
                request_id,
            )
            return "request too large"
        rt = self.runtime
        if rt.lookup is not None:
            verdict = rt.check_iam(request)
            if not verdict.ok:
                self._error(
                    response,
                    403,
                    "InvalidSignatureException",
                    "The request signature we calculated does not match the signature you "
                    "provided.",
                    request_id,
                )
                return f"auth: {verdict.reason}"
        try:
            event: Any = json.loads(request.body) if request.body.strip() else {}
        except ValueError as exc:
            self._error(
                response,
                400,
                "InvalidRequestContentException",
                f"Could not parse request body into json: {exc}",
                request_id,
            )
            return "payload is not JSON"
        match = invoke or stream
        assert match is not None
        name = unquote(match.group(1)).rsplit(":function:", 1)[-1].split(":")[0]
        invoker = self.functions(name)
        if invoker is None:
            self._error(
                response,
                404,
                "ResourceNotFoundException",
                f"Function not found: arn:aws:lambda:{rt.config.region}:123456789012:"
                f"function:{name}",
                request_id,
            )
            return "function not found"
        invocation = InvokeRequest(
            event,
            request_id,
            payload=request.body if request.body.strip() else b"{}",
            client_context=_client_context(request.header("x-amz-client-context")),
        )
        if invoke is not None:
            return await self._invoke(request, response, invoker, invocation)
        return await self._invoke_stream(response, invoker, invocation)

    async def _invoke(
        self,
        request: HttpRequest,
        response: HttpResponse,
        invoker: Invoker,
        invocation: InvokeRequest,
    ) -> str:
        request_id = invocation.request_id
        kind = request.header("x-amz-invocation-type") or "RequestResponse"
        headers = [("x-amzn-requestid", request_id), ("x-amz-executed-version", "$LATEST")]
        if kind == "DryRun":
            response.send(204, b"", headers)
            return "dry run"
        sink = BufferSink(BUFFERED_RESPONSE_LIMIT)
        if kind == "Event":
            task = asyncio.get_running_loop().create_task(
                self._quietly(invoker.invoke(invocation, sink, raw=True))
            )
            self._background.add(task)
            task.add_done_callback(self._background.discard)
            response.send(202, b"", headers)
            return "async invoke"
        headers.append(("content-type", "application/json"))
        try:
            await invoker.invoke(invocation, sink, raw=True)
        except Throttled:
            return self._throttled(response, request_id)
        except LimitExceeded:
            response.send(
                200, _json(TOO_LARGE_ERROR), [*headers, ("x-amz-function-error", "Unhandled")]
            )
            return f"response over {BUFFERED_RESPONSE_LIMIT} bytes"
        except FunctionError as exc:
            response.send(200, exc.body, [*headers, ("x-amz-function-error", "Unhandled")])
            return f"function error: {exc.error_type}"
        response.send(200, sink.body(), headers)
        return ""

    @staticmethod
    async def _quietly(coro: Any) -> None:
        with contextlib.suppress(Exception):
            await coro

    async def _invoke_stream(
        self, response: HttpResponse, invoker: Invoker, invocation: InvokeRequest
    ) -> str:
        rt = self.runtime
        request_id = invocation.request_id

        def start() -> None:
            response.start(
                200,
                [
                    ("content-type", "application/vnd.amazon.eventstream"),
                    ("x-amzn-requestid", request_id),
                    ("x-amz-executed-version", "$LATEST"),
                ],
                now=True,  # the API answers as the invocation starts; events follow
            )

        sink = EventStreamSink(response, rt.throttle(STREAM_BURST, STREAM_RATE), rt.stream_limit)
        note = ""
        try:
            await invoker.invoke(invocation, sink, raw=True, on_start=start)
            complete = invoke_complete()
        except ClientGone:
            raise
        except Throttled:
            if not response.started:
                return self._throttled(response, request_id)
            raise
        except LimitExceeded as exc:
            note = "200 MB stream limit"
            complete = invoke_complete(
                error_code="Function.ResponseSizeTooLarge", error_details=str(exc)
            )
        except FunctionError as exc:
            note = f"function error: {exc.error_type}"
            complete = invoke_complete(
                error_code="Unhandled", error_details=exc.body.decode("utf-8", "replace")
            )
        if not response.started:
            start()
        await response.write(complete)
        response.end()
        return note


def _client_context(header: str | None) -> str | None:
    """X-Amz-Client-Context is base64 JSON; the runtime gets the JSON text."""
    if not header:
        return None
    try:
        return base64.b64decode(header, validate=True).decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        return None
