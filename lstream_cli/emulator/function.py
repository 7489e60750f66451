"""A function, and the invokers that run its invocations.

A function is a value, :class:`FunctionConfig`: its name, the kind of
runtime that runs it, its handler and code folder, timeout, memory size,
environment and reserved concurrency. An **invoker** runs the invocations
of one function; the front ends (function URLs, API Gateway, the Lambda
API) are each bound to one invoker, so several functions can be served by
one emulator::

    invoker = make_invoker(FunctionConfig(name="app", kind="node",
                                          handler="app.handler", code_dir="fn/"))
    await invoker.start()
    await invoker.invoke(InvokeRequest(event, request_id), sink, raw=False)
    await invoker.close()

Two kinds of invoker exist:

- :class:`InProcessInvoker` (kind ``inprocess``): a Python handler run in the
  emulator's own process on the emulator's own protocol
  (:mod:`lstream_cli.emulator.handlers`): the fast path, and not a Lambda
  runtime.
- :class:`~lstream_cli.emulator.environment.EnvironmentPool` (kinds ``node``
  and ``bootstrap``): execution environments, one process each, speaking the
  Lambda Runtime API (:mod:`lstream_cli.emulator.runtime_api`).

What an invocation produces goes to a :class:`~lstream_cli.emulator.handlers.Sink`
chosen by the front end: :meth:`Sink.open` once with the HTTP status, headers
and cookies, then :meth:`Sink.send` for the body. ``raw=False`` (function URLs)
turns the function's output into HTTP: a streaming response's metadata
prelude is parsed, a buffered response is read as the payload format 2.0
response document. ``raw=True`` (the Lambda API) passes the payload bytes as
the function produced them (``open`` is still called, with status 200).

Failures are exceptions: :class:`FunctionError` (the function failed, timed
out or its runtime exited; ``body`` is the error document the caller gets),
:class:`Throttled` (all of the reserved concurrency is busy),
:class:`LimitExceeded` (a size limit), and
:class:`~lstream_cli.emulator.http.ClientGone` (the caller left; the function
keeps running, as on AWS).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import inspect
import json
import math
import types
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, NoReturn, Protocol

from lstream_cli.emulator.handlers import (
    Context,
    Handler,
    ResponseStream,
    Sink,
    handler_returned,
    load_handler,
)
from lstream_cli.emulator.http import ClientGone
from lstream_cli.emulator.logs import FunctionLogSink, PlatformNote

__all__ = [
    "DEFAULT_TIMEOUT_S",
    "MAX_MEMORY_MB",
    "MAX_TIMEOUT_S",
    "MIN_MEMORY_MB",
    "FunctionConfig",
    "FunctionError",
    "InProcessInvoker",
    "InvokeRequest",
    "Invoker",
    "LimitExceeded",
    "RuntimeKind",
    "Throttled",
    "error_document",
    "http_response_document",
    "make_invoker",
]

RuntimeKind = Literal["inprocess", "node", "bootstrap"]

DEFAULT_TIMEOUT_S = 3.0  # Lambda's default function timeout
MAX_TIMEOUT_S = 900.0
MIN_MEMORY_MB = 128
MAX_MEMORY_MB = 10240


@dataclass(frozen=True, slots=True)
class FunctionConfig:
    """One function, as a template or ``lstream serve`` flags describe it."""

    name: str = "lstream-emulator"
    kind: RuntimeKind = "inprocess"
    # inprocess: synthetic | file:PATH | module:function | path.py:function;
    # node: "module.export" (module resolved in code_dir); bootstrap: any text (_HANDLER)
    handler: str = "synthetic"
    code_dir: str | None = None  # LAMBDA_TASK_ROOT (node, bootstrap)
    bootstrap: str | None = None  # kind bootstrap: the executable
    runtime_client: str | None = None  # kind node: aws-lambda-ric's bin/index.mjs
    node: str | None = None  # kind node: the node executable (None: found on PATH)
    timeout_s: float = DEFAULT_TIMEOUT_S
    memory_mb: int = MIN_MEMORY_MB
    environment: tuple[tuple[str, str], ...] = ()  # the function's own variables
    reserved_concurrency: int | None = (
        None  # None: 10 environments (runtimes), no limit (inprocess)
    )
    region: str = "us-east-1"
    # (access key, secret key, session token) given to the function; never printed.
    credentials: tuple[str, str, str | None] | None = field(default=None, repr=False)
    time_scale: float = 1.0  # inprocess only: its delays and timeout are emulated durations

    def __post_init__(self) -> None:
        if self.kind not in ("inprocess", "node", "bootstrap"):
            raise ValueError(f"kind must be inprocess, node or bootstrap, not {self.kind!r}")
        if not 0 < self.timeout_s <= MAX_TIMEOUT_S or not math.isfinite(self.timeout_s):
            raise ValueError(f"timeout must be more than 0 and at most {MAX_TIMEOUT_S:g} s")
        if not MIN_MEMORY_MB <= self.memory_mb <= MAX_MEMORY_MB:
            raise ValueError(f"memory must be {MIN_MEMORY_MB} to {MAX_MEMORY_MB} MB")
        if self.reserved_concurrency is not None and self.reserved_concurrency < 1:
            raise ValueError("reserved concurrency must be at least 1")
        if self.kind == "bootstrap" and not self.bootstrap:
            raise ValueError("a bootstrap function needs its executable")

    @property
    def arn(self) -> str:
        return f"arn:aws:lambda:{self.region}:123456789012:function:{self.name}"


@dataclass(frozen=True, slots=True)
class InvokeRequest:
    """One invocation as a front end asks for it."""

    event: Any  # the event (JSON-able), for in-process handlers
    request_id: str
    payload: bytes | None = None  # the raw payload for a runtime (None: JSON of event)
    client_context: str | None = None  # JSON text (Lambda-Runtime-Client-Context)
    cognito_identity: str | None = None  # JSON text (Lambda-Runtime-Cognito-Identity)

    def payload_bytes(self) -> bytes:
        if self.payload is not None:
            return self.payload
        return json.dumps(self.event, separators=(",", ":")).encode("utf-8")


class LimitExceeded(Exception):
    """The function's output went past a limit (the message names it)."""


class FunctionError(Exception):
    """The function failed: ``body`` is the error document the caller gets."""

    def __init__(self, error_type: str, body: bytes) -> None:
        super().__init__(error_type)
        self.error_type = error_type
        self.body = body


class Throttled(Exception):
    """Every environment the function may have is busy (reserved concurrency)."""


def error_document(error_type: str, message: str) -> bytes:
    return json.dumps({"errorType": error_type, "errorMessage": message}).encode("utf-8")


def http_response_document(payload: bytes) -> tuple[int, dict[str, str], list[str], bytes]:
    """A function URL's reading of a buffered response (payload format 2.0).

    A JSON object with ``statusCode`` gives the status, headers, cookies and
    body (base64-decoded when ``isBase64Encoded``); a JSON string is the
    body; anything else is a 200 ``application/json`` body as is.
    """
    try:
        doc = json.loads(payload) if payload.strip() else None
    except ValueError:
        doc = None
    if isinstance(doc, dict) and "statusCode" in doc:
        try:
            status = int(doc["statusCode"])
        except (TypeError, ValueError):
            status = 502
        raw_headers = doc.get("headers")
        headers = (
            {str(k): str(v) for k, v in raw_headers.items()}
            if isinstance(raw_headers, dict)
            else {}
        )
        raw_cookies = doc.get("cookies")
        cookies = [str(c) for c in raw_cookies] if isinstance(raw_cookies, list) else []
        body: Any = doc.get("body")
        if body is None:
            data = b""
        elif not isinstance(body, str):
            data = json.dumps(body).encode("utf-8")
        elif doc.get("isBase64Encoded"):
            try:
                data = base64.b64decode(body)
            except ValueError:
                data = body.encode("utf-8")
        else:
            data = body.encode("utf-8")
        headers.setdefault("content-type", "application/json")
        return status, headers, cookies, data
    if isinstance(doc, str):
        return 200, {"content-type": "application/json"}, [], doc.encode("utf-8")
    return 200, {"content-type": "application/json"}, [], payload


class Invoker(Protocol):
    """What front ends call; one per function."""

    function: FunctionConfig

    async def start(self) -> None:
        """Ready to invoke (raises UsageError when the function cannot run)."""

    async def invoke(
        self,
        request: InvokeRequest,
        sink: Sink,
        raw: bool,
        on_start: Callable[[], None] | None = None,
    ) -> None:
        """Run one invocation to its end; ``on_start`` once it is admitted."""

    async def close(self) -> None:
        """Stop every environment (no process survives)."""


class InProcessInvoker:
    """Python handlers in this process, on the emulator's own protocol.

    A plain ``def`` handler runs in a worker thread, so one that blocks holds
    only its own invocation. The function timeout applies (scaled by the time
    scale, as every emulated duration): past it the caller gets what Lambda
    gives for ``Task timed out`` (a thread cannot be stopped: it finishes in
    the background, its output dropped).
    """

    def __init__(self, function: FunctionConfig, log: FunctionLogSink | None = None) -> None:
        self.function = function
        handler = load_handler(function.handler)
        if not (
            inspect.iscoroutinefunction(handler)
            or inspect.iscoroutinefunction(getattr(handler, "__call__", None))  # noqa: B004
        ):
            handler = _threaded(handler)  # a plain def: in a worker thread
        self.handler: Handler = handler
        self._log = log
        self._in_flight = 0
        self._deadlines = _Deadlines(function.timeout_s)

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None

    def context(self, request_id: str) -> Context:
        fn = self.function
        ctx = Context(
            fn.name,
            region=fn.region,
            timeout_s=fn.timeout_s,
            time_scale=fn.time_scale,
            aws_request_id=request_id,
        )
        ctx.memory_limit_in_mb = fn.memory_mb
        return ctx

    async def invoke(
        self,
        request: InvokeRequest,
        sink: Sink,
        raw: bool,
        on_start: Callable[[], None] | None = None,
    ) -> None:
        limit = self.function.reserved_concurrency
        if limit is not None and self._in_flight >= limit:
            raise Throttled
        self._in_flight += 1
        stream = ResponseStream(sink)
        try:
            if on_start is not None:
                on_start()
            context = self.context(request.request_id)
            # The timeout is in real seconds: only the handler's own delays are scaled.
            slot = self._deadlines.enter()
            expired = False
            try:
                try:
                    # invoke_handler's steps, without a coroutine of its own.
                    result = self.handler(request.event, stream, context)
                    if type(result) is types.CoroutineType or inspect.isawaitable(result):
                        result = await result
                    if result is not None or not stream.started:
                        await handler_returned(result, stream)
                finally:
                    expired = self._deadlines.leave(slot)
            except asyncio.CancelledError:
                if expired:  # the function's timeout, not a cancellation from outside
                    self._timed_out(request)
                current = asyncio.current_task()
                if current is not None and current.cancelling():
                    raise  # we are being cancelled: the server is stopping
                # The handler itself raised CancelledError: a function error like any other.
                raise FunctionError(
                    "CancelledError", error_document("CancelledError", "the handler was cancelled")
                ) from None
            except TimeoutError:
                if expired:  # raised while its deadline had passed: the timeout still
                    self._timed_out(request)
                raise FunctionError(  # the handler's own TimeoutError
                    "TimeoutError", error_document("TimeoutError", "the handler timed out")
                ) from None
            except (ClientGone, LimitExceeded):
                raise
            except BaseException as exc:  # a handler's sys.exit() included
                raise FunctionError(
                    type(exc).__name__, error_document(type(exc).__name__, str(exc))
                ) from None
        finally:
            stream.ended = True
            self._in_flight -= 1

    def _timed_out(self, request: InvokeRequest) -> NoReturn:
        fn = self.function
        message = f"Task timed out after {fn.timeout_s:.2f} seconds"
        if self._log is not None:
            with contextlib.suppress(Exception):
                self._log(PlatformNote(fn.name, request.request_id, message))
        raise FunctionError(
            "Sandbox.Timedout",
            error_document("Sandbox.Timedout", f"RequestId: {request.request_id} Error: {message}"),
        ) from None


class _Slot:
    """One invocation under its function's timeout."""

    __slots__ = ("cancelling", "deadline", "expired", "task")

    def __init__(self, task: asyncio.Task[Any], deadline: float) -> None:
        self.task = task
        self.deadline = deadline
        self.cancelling = task.cancelling()  # cancellations asked before it began
        self.expired = False


class _Deadlines:
    """The function timeout of every invocation in flight, on one timer.

    Every invocation of a function has the same timeout, so the deadlines
    come in the order the invocations began: the oldest one in flight is the
    next to expire, and one timer, armed for it, serves them all. An
    invocation that passes its deadline has its task cancelled, and the
    cancellation is read as the timeout when nothing else asked for one (as
    ``asyncio.timeout`` reads it, without a timer per invocation).
    """

    __slots__ = ("_loop", "_slots", "_timer", "timeout")

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self._slots: dict[int, _Slot] = {}  # in the order they began: that of their deadlines
        self._timer: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def enter(self) -> _Slot:
        task = asyncio.current_task()
        if task is None:
            raise RuntimeError("an invocation runs inside a task")
        loop = task.get_loop()
        if loop is not self._loop:  # a new loop (a test's, a worker's): no timer of the old one
            self._loop, self._timer = loop, None
        slot = _Slot(task, loop.time() + self.timeout)
        self._slots[id(slot)] = slot
        if self._timer is None:
            self._timer = loop.call_at(slot.deadline, self._expire)
        return slot

    def leave(self, slot: _Slot) -> bool:
        """Done with ``slot``; True when its deadline passed (its cancellation is ours)."""
        self._slots.pop(id(slot), None)
        if not slot.expired:
            return False
        # Take back the cancellation the deadline asked for; it is the timeout only
        # when nobody else asked for one since the invocation began.
        return slot.task.uncancel() <= slot.cancelling

    def _expire(self) -> None:
        self._timer = None
        loop = self._loop
        if loop is None:
            return
        now = loop.time()
        slots = self._slots
        while slots:
            key = next(iter(slots))
            slot = slots[key]
            if slot.deadline > now:
                self._timer = loop.call_at(slot.deadline, self._expire)
                return
            del slots[key]
            slot.expired = True
            slot.task.cancel()


def _threaded(handler: Handler) -> Handler:
    async def run(event: Any, stream: ResponseStream, context: Context) -> Any:
        result = await asyncio.to_thread(handler, event, stream, context)
        if inspect.isawaitable(result):
            result = await result
        return result

    return run


def make_invoker(function: FunctionConfig, log: FunctionLogSink | None = None) -> Invoker:
    """The invoker for ``function`` (raises UsageError for a handler that cannot load)."""
    if function.kind == "inprocess":
        return InProcessInvoker(function, log)
    from lstream_cli.emulator.environment import EnvironmentPool

    return EnvironmentPool(function, log)
