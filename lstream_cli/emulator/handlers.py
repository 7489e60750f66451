"""Function handlers and the streamifyResponse-style protocol they are written in.

A handler is ``async def handler(event, stream, context)``: ``event`` is the
function URL event (payload format 2.0) or the Lambda API's JSON payload,
``stream`` a :class:`ResponseStream` and ``context`` a :class:`Context`.
Before its first write the handler may set the status and headers (Lambda's
metadata prelude); the first write sends them and they cannot change after.
A plain ``def`` also works (it runs in a worker thread, so a blocking one
holds only its own invocation), and a returned value (bytes, str, a
``{"statusCode", "headers", "body"}`` dict, other JSON) is written as the body.

Where the bytes go is a :class:`Sink` chosen by the front end (a chunked
HTTP response, a buffer with the 6 MB limit, event-stream frames), so one
handler runs unchanged behind every endpoint. Three handlers ship:
:func:`synthetic_handler` (parameters ``size``, ``chunk``, ``delay_ms``,
``gap_ms``, ``fail_at``, ``status``), :func:`file_handler` and any Python
function loaded by :func:`load_handler`.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import importlib
import importlib.util
import inspect
import json
import math
import mimetypes
import sys
import time
import types
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Protocol

from lstream_cli._exitcodes import UsageError
from lstream_cli.units import parse_size

__all__ = [
    "Context",
    "Handler",
    "ResponseStream",
    "Sink",
    "expected_body",
    "file_handler",
    "handler_returned",
    "invoke_handler",
    "load_handler",
    "synthetic_handler",
    "synthetic_params",
]

Handler = Callable[[dict[str, Any], "ResponseStream", "Context"], Any]

DEFAULT_SIZE = 1024 * 1024
DEFAULT_CHUNK = 64 * 1024
MAX_CHUNK = 16 * 1024 * 1024
FILE_CHUNK = 256 * 1024


class Sink(Protocol):
    """Where a handler's output goes; each front end provides one."""

    async def open(self, status: int, headers: dict[str, str], cookies: list[str]) -> None:
        """The metadata, sent with the first write (or at the end if none).

        ``cookies`` become one ``Set-Cookie`` header each (Lambda's ``cookies``).
        """

    async def send(self, data: bytes | memoryview) -> None:
        """Body bytes, in order; may raise to stop the handler (a limit, a gone client)."""


_NAME_BREAKERS = frozenset(" \t\r\n:")  # no header name may hold one


class ResponseStream:
    """The response a handler writes: metadata first, then the body.

    ``set_status``/``set_headers``/``set_cookies`` (or ``set_metadata``)
    before the first :meth:`write`; after it the metadata is sent and
    immutable. Several cookies are several ``Set-Cookie`` headers, as
    Lambda's ``cookies`` list is. Once the invocation is over (``ended``,
    set by the invoker) every write or open raises: a handler's leftover
    task cannot write into the next response.
    """

    __slots__ = ("_cookies", "_headers", "_sink", "_status", "bytes_written", "ended", "started")

    def __init__(self, sink: Sink, status: int = 200, headers: Mapping[str, str] | None = None):
        self._sink = sink
        self._status = status
        self._headers: dict[str, str] = dict(headers) if headers else {}
        self._cookies: list[str] = []
        self.started = False  # the metadata has been sent
        self.ended = False  # the invocation is over: no more writes
        self.bytes_written = 0

    @property
    def status(self) -> int:
        return self._status

    @property
    def headers(self) -> dict[str, str]:
        return dict(self._headers)

    def _check_mutable(self) -> None:
        if self.started:
            raise RuntimeError("status and headers cannot change after the first write")

    def set_status(self, code: int) -> None:
        self._check_mutable()
        if not isinstance(code, int) or not 100 <= code <= 599:
            raise ValueError(f"invalid HTTP status {code!r}")
        self._status = code

    def set_headers(self, headers: Mapping[str, str]) -> None:
        """Add or replace these response headers."""
        self._check_mutable()
        for name, value in headers.items():
            text = str(value)
            if not name or not _NAME_BREAKERS.isdisjoint(name) or "\n" in text or "\r" in text:
                raise ValueError(f"invalid header {name!r}")
            self._headers[str(name)] = text

    def set_cookies(self, cookies: list[str]) -> None:
        """The cookies to set, one ``Set-Cookie`` header each."""
        self._check_mutable()
        for cookie in cookies:
            if "\n" in cookie or "\r" in cookie:
                raise ValueError("invalid cookie: line breaks")
        self._cookies = [str(c) for c in cookies]

    def set_metadata(
        self,
        status_code: int | None = None,
        headers: Mapping[str, str] | None = None,
        cookies: list[str] | None = None,
    ) -> None:
        """All at once, like ``awslambda.HttpResponseStream.from(stream, metadata)``."""
        if status_code is not None:
            self.set_status(status_code)
        if headers:
            self.set_headers(headers)
        if cookies is not None:
            self.set_cookies(cookies)

    async def open(self) -> None:
        """Send the metadata now (the first write does it implicitly)."""
        if self.ended:
            raise RuntimeError("the response has ended")
        if not self.started:
            self.started = True
            await self._sink.open(self._status, self._headers, self._cookies)

    async def write(self, data: bytes | bytearray | memoryview | str) -> None:
        if self.ended:
            raise RuntimeError("the response has ended: no write after the handler returned")
        if isinstance(data, str):
            data = data.encode("utf-8")
        if not self.started:  # what open() does, without its call
            self.started = True
            await self._sink.open(self._status, self._headers, self._cookies)
        if data:
            self.bytes_written += len(data)
            await self._sink.send(data if not isinstance(data, bytearray) else bytes(data))


@functools.lru_cache(maxsize=64)
def _function_names(function_name: str, region: str) -> tuple[str, str]:
    """A function's ARN and log group (made once per function, not per invocation)."""
    return (
        f"arn:aws:lambda:{region}:123456789012:function:{function_name}",
        f"/aws/lambda/{function_name}",
    )


class Context:
    """The Lambda context object, as far as a local run can fill it."""

    __slots__ = (
        "_deadline",
        "aws_request_id",
        "function_name",
        "function_version",
        "invoked_function_arn",
        "log_group_name",
        "log_stream_name",
        "memory_limit_in_mb",
        "time_scale",
    )

    def __init__(
        self,
        function_name: str,
        region: str = "us-east-1",
        timeout_s: float = 900.0,
        time_scale: float = 1.0,
        aws_request_id: str | None = None,
    ) -> None:
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.aws_request_id = aws_request_id or str(uuid.uuid4())
        self.invoked_function_arn, self.log_group_name = _function_names(function_name, region)
        self.memory_limit_in_mb = 128
        self.log_stream_name = "local"
        self.time_scale = time_scale  # the emulator's --time-scale (extension)
        self._deadline = time.monotonic() + timeout_s / time_scale

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


async def invoke_handler(
    handler: Handler, event: dict[str, Any], stream: ResponseStream, context: Context
) -> None:
    """Run ``handler`` to the end; a returned value becomes (the rest of) the body."""
    result = handler(event, stream, context)
    if type(result) is types.CoroutineType or inspect.isawaitable(result):
        result = await result
    if result is not None or not stream.started:
        await handler_returned(result, stream)


async def handler_returned(result: Any, stream: ResponseStream) -> None:
    """What :func:`invoke_handler` does with the handler's return value (None: nothing to add).

    Called when the handler returned something or never wrote: a handler
    that wrote and returned None needs nothing more.
    """
    if result is None:
        if not stream.started:  # (open() would do nothing: no coroutine for that)
            await stream.open()
        return
    if isinstance(result, dict) and "statusCode" in result and not stream.started:
        stream.set_status(int(result["statusCode"]))
        stream.set_headers({str(k): str(v) for k, v in (result.get("headers") or {}).items()})
        if isinstance(result.get("cookies"), list):
            stream.set_cookies([str(c) for c in result["cookies"]])
        body: Any = result.get("body") or ""
        if result.get("isBase64Encoded"):
            body = base64.b64decode(body)
        await stream.write(body if isinstance(body, bytes | str) else json.dumps(body))
    elif isinstance(result, bytes | bytearray | str):
        await stream.write(result)
    else:
        await stream.write(json.dumps(result))
    await stream.open()


# -- the synthetic handler ---------------------------------------------------

_pattern = bytes(range(256))


def _pattern_view(offset: int, n: int) -> memoryview:
    """``n`` bytes of the repeating 0..255 pattern, starting at body offset ``offset``."""
    global _pattern
    need = n + 256
    if len(_pattern) < need:
        _pattern = bytes(range(256)) * (need // 256 + 1)
    start = offset % 256
    return memoryview(_pattern)[start : start + n]


def expected_body(size: int, offset: int = 0) -> bytes:
    """What the synthetic handler sends for ``size`` bytes: byte i is ``i % 256``."""
    return bytes(_pattern_view(offset, size))


def synthetic_params(event: Any) -> Mapping[str, Any]:
    """Query parameters of a function URL event, or the Lambda API payload itself.

    A Lambda API payload that is not a JSON object (a list, a string) has no
    parameters: the defaults apply.
    """
    # type() first: isinstance against the Mapping ABC is the slow way to say "a dict".
    if type(event) is not dict and not isinstance(event, Mapping):
        return {}
    if "requestContext" in event or "rawPath" in event:
        params = event.get("queryStringParameters")
        return params if type(params) is dict or isinstance(params, Mapping) else {}
    return event


def _number(params: Mapping[str, Any], name: str, default: float) -> float:
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except (TypeError, ValueError):
        raise ValueError(f"invalid {name} {raw!r}: expected a number") from None
    if value < 0 or value != value or value == float("inf"):
        raise ValueError(f"invalid {name} {raw!r}: expected a number >= 0")
    return value


def _size(params: Mapping[str, Any], name: str, default: int | None) -> int | None:
    raw = params.get(name)
    if type(raw) is str and 0 < len(raw) < 16 and raw.isdigit() and raw.isascii():
        return int(raw)  # a plain byte count (a query's usual size), read first
    if raw is None or raw == "":
        return default
    if isinstance(raw, int | float) and not isinstance(raw, bool):
        # A JSON number (Lambda API payload): a whole, finite count of bytes >= 0,
        # as the query string's sizes are.
        if not math.isfinite(raw) or raw < 0 or raw != int(raw):
            raise ValueError(f"invalid {name} {raw!r}: expected a whole number of bytes >= 0")
        return int(raw)
    text = str(raw)
    if len(text) < 16 and text.isascii() and text.isdigit():
        return int(text)  # a plain byte count, as parse_size reads it (exact below 2**53)
    return parse_size(text)


_SHAPE = frozenset(("size", "chunk", "fail_at", "delay_ms", "gap_ms", "status"))
_NONE: frozenset[str] = frozenset()


async def synthetic_handler(
    event: dict[str, Any], stream: ResponseStream, context: Context
) -> None:
    """Deterministic bytes (byte i = i % 256), shaped by parameters.

    ``size`` (default 1 MiB), ``chunk`` (default 64 KiB), ``delay_ms`` before
    the first write (so the status waits too), ``gap_ms`` between writes,
    ``fail_at`` (raise after that many bytes), ``status``. Sizes take units:
    ``5MB`` = 5,000,000, ``5MiB`` = 5,242,880. Bad parameters: 400.
    ``format=sse`` or ``format=ndjson`` sends events instead
    (:mod:`lstream_cli.emulator.synthetic_events`).
    """
    params = synthetic_params(event)
    if params.get("format") is not None:  # format=sse|ndjson: an event stream
        from lstream_cli.emulator.synthetic_events import send_events

        await send_events(params, stream, context)
        return
    # Only the parameters given are parsed (a 1 KiB request names one of six).
    given = params.keys() & _SHAPE if params else _NONE
    try:
        size = (_size(params, "size", DEFAULT_SIZE) or 0) if "size" in given else DEFAULT_SIZE
        chunk = (
            (_size(params, "chunk", DEFAULT_CHUNK) or DEFAULT_CHUNK)
            if "chunk" in given
            else DEFAULT_CHUNK
        )
        fail_at = _size(params, "fail_at", None) if "fail_at" in given else None
        delay = gap = 0.0
        if "delay_ms" in given:
            delay = _number(params, "delay_ms", 0.0) / 1000.0 / context.time_scale
        if "gap_ms" in given:
            gap = _number(params, "gap_ms", 0.0) / 1000.0 / context.time_scale
        status = int(_number(params, "status", 200)) if "status" in given else 200
        if not 100 <= status <= 599:
            raise ValueError(f"invalid status {status}: expected 100..599")
        if chunk > MAX_CHUNK:
            raise ValueError(f"chunk too large (at most {MAX_CHUNK} bytes)")
    except ValueError as exc:
        stream.set_status(400)
        stream.set_headers({"content-type": "application/json"})
        await stream.write(json.dumps({"message": str(exc)}))
        return
    # What set_status and set_headers would do (the status is checked above, the
    # header is a constant), without their calls.
    stream._check_mutable()
    stream._status = status
    stream._headers["content-type"] = "application/octet-stream"
    if delay:
        await asyncio.sleep(delay)
    if fail_at == 0:
        raise RuntimeError("synthetic failure before the first byte (fail_at=0)")
    sent = 0
    limit = size if fail_at is None else min(size, fail_at)
    if limit == 0:
        await stream.open()
    while sent < limit:
        if sent and gap:
            await asyncio.sleep(gap)
        n = min(chunk, limit - sent)
        await stream.write(_pattern_view(sent, n))
        sent += n
    if fail_at is not None and fail_at < size:
        raise RuntimeError(f"synthetic failure after {fail_at} bytes (fail_at)")


# -- the file handler --------------------------------------------------------


def file_handler(path: str) -> Handler:
    """A handler that streams one file, like the seed's S3 object."""
    target = Path(path)
    if target.is_dir():
        raise UsageError(f"--handler file:{path}: a directory, not a file")
    if not target.is_file():
        raise UsageError(f"--handler file:{path}: no such file")
    content_type = mimetypes.guess_type(target.name)[0] or "application/octet-stream"

    async def handle(event: dict[str, Any], stream: ResponseStream, context: Context) -> None:
        stream.set_headers({"content-type": content_type})
        with target.open("rb") as fh:
            await stream.open()
            while block := fh.read(FILE_CHUNK):
                await stream.write(block)

    return handle


# -- loading -------------------------------------------------------------------


def load_handler(spec: str) -> Handler:
    """``synthetic``, ``file:PATH``, ``pkg.module:function`` or ``path/to/file.py:function``."""
    if spec == "synthetic":
        return synthetic_handler
    if spec.startswith("file:"):
        return file_handler(spec[5:])
    module_ref, sep, attr = spec.rpartition(":")
    if not sep or not module_ref or not attr:
        raise UsageError(
            f"--handler {spec!r}: expected synthetic, file:PATH, module:function "
            "or path/to/file.py:function"
        )
    module: Any
    try:
        if module_ref.endswith(".py"):
            path = Path(module_ref)
            if not path.is_file():
                raise UsageError(f"--handler {spec!r}: no such file {module_ref}")
            name = f"_lstream_handler_{path.stem}"
            loader_spec = importlib.util.spec_from_file_location(name, path)
            if loader_spec is None or loader_spec.loader is None:
                raise UsageError(f"--handler {spec!r}: cannot load {module_ref}")
            module = importlib.util.module_from_spec(loader_spec)
            sys.modules[name] = module
            loader_spec.loader.exec_module(module)
        else:
            module = importlib.import_module(module_ref)
    except UsageError:
        raise
    except SystemExit as exc:  # sys.exit() at import: the emulator does not exit with it
        raise UsageError(
            f"--handler {spec!r}: {module_ref} called sys.exit({exc.code!r}) while importing"
        ) from None
    except Exception as exc:
        raise UsageError(
            f"--handler {spec!r}: cannot import {module_ref}: {type(exc).__name__}: {exc}"
        ) from None
    function = getattr(module, attr, None)
    if not callable(function):
        raise UsageError(f"--handler {spec!r}: {module_ref} has no function {attr!r}")
    return _checked(function, spec)


def _checked(function: Callable[..., Any], spec: str) -> Handler:
    try:
        inspect.signature(function).bind(None, None, None)
    except TypeError:
        raise UsageError(
            f"--handler {spec!r}: the handler must take (event, stream, context)"
        ) from None
    except ValueError:
        pass  # builtins without a signature: trust them
    return function
