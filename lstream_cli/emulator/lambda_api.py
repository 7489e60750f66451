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
import contextlib
import json
import re
import time
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
from lstream_cli.emulator.functionurl import BufferSink, LimitExceeded
from lstream_cli.emulator.handlers import ResponseStream, invoke_handler
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

    async def open(self, status: int, headers: dict[str, str]) -> None:
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


class LambdaApiApp:
    """The ``lambda_api`` endpoint."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
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
        if invoke is not None:
            return await self._invoke(request, response, event, name, request_id)
        return await self._invoke_stream(response, event, name, request_id)

    def _context(self, name: str, request_id: str | None = None) -> Any:
        ctx = self.runtime.context(request_id=request_id)
        ctx.function_name = name
        return ctx

    async def _invoke(
        self,
        request: HttpRequest,
        response: HttpResponse,
        event: Any,
        name: str,
        request_id: str,
    ) -> str:
        rt = self.runtime
        kind = request.header("x-amz-invocation-type") or "RequestResponse"
        headers = [("x-amzn-requestid", request_id), ("x-amz-executed-version", "$LATEST")]
        if kind == "DryRun":
            response.send(204, b"", headers)
            return "dry run"
        sink = BufferSink(BUFFERED_RESPONSE_LIMIT)
        stream = ResponseStream(sink)
        if kind == "Event":
            task = asyncio.get_running_loop().create_task(
                self._quietly(invoke_handler(rt.handler, event, stream, self._context(name)))
            )
            self._background.add(task)
            task.add_done_callback(self._background.discard)
            response.send(202, b"", headers)
            return "async invoke"
        headers.append(("content-type", "application/json"))
        try:
            await invoke_handler(rt.handler, event, stream, self._context(name, request_id))
        except LimitExceeded:
            response.send(
                200, _json(TOO_LARGE_ERROR), [*headers, ("x-amz-function-error", "Unhandled")]
            )
            return f"response over {BUFFERED_RESPONSE_LIMIT} bytes"
        except asyncio.CancelledError:
            raise
        except BaseException as exc:  # a handler's sys.exit() included
            response.send(
                200,
                _json({"errorType": type(exc).__name__, "errorMessage": str(exc)}),
                [*headers, ("x-amz-function-error", "Unhandled")],
            )
            return f"handler error: {type(exc).__name__}"
        response.send(200, sink.body(), headers)
        return ""

    @staticmethod
    async def _quietly(coro: Any) -> None:
        with contextlib.suppress(Exception, SystemExit):
            await coro

    async def _invoke_stream(
        self, response: HttpResponse, event: Any, name: str, request_id: str
    ) -> str:
        rt = self.runtime
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
        stream = ResponseStream(sink)
        note = ""
        try:
            await invoke_handler(rt.handler, event, stream, self._context(name))
            complete = invoke_complete()
        except ClientGone:
            raise
        except LimitExceeded as exc:
            note = "200 MB stream limit"
            complete = invoke_complete(
                error_code="Function.ResponseSizeTooLarge", error_details=str(exc)
            )
        except asyncio.CancelledError:
            raise
        except BaseException as exc:  # a handler's sys.exit() included
            note = f"handler error: {type(exc).__name__}"
            complete = invoke_complete(
                error_code="Unhandled",
                error_details=json.dumps(
                    {"errorType": type(exc).__name__, "errorMessage": str(exc)}
                ),
            )
        await response.write(complete)
        response.end()
        return note
