"""Function URLs in both InvokeModes: RESPONSE_STREAM and BUFFERED.

Each request becomes the function URL event (payload format 2.0) and runs
the handler. Streaming: the status line and headers go out with the first
write (as Lambda sends them), the body is chunked and, past the first 6 MB,
capped at 2 MBps; past 200 MB the stream is cut. Buffered: the output is
collected and sent with a Content-Length; over 6,291,556 bytes it becomes a
502. Requests over 6,291,456 bytes get 413 before the handler runs; with
``--auth iam`` a missing or bad SigV4 signature gets 403 ``{"Message":
"Forbidden"}``; with ``--secret-header`` a missing or wrong header gets the
same 403 from an in-process function (a real function checks for itself).
Beyond the function's reserved concurrency: 429 ``{"Message":"Rate
Exceeded."}``.
"""

from __future__ import annotations

import base64
import time
from typing import Any, Literal
from urllib.parse import parse_qsl

from lstream_cli.emulator.config import (
    BUFFERED_RESPONSE_LIMIT,
    REQUEST_LIMIT,
    STREAM_BURST,
    STREAM_RATE,
)
from lstream_cli.emulator.function import (
    FunctionError,
    Invoker,
    InvokeRequest,
    LimitExceeded,
    Throttled,
)
from lstream_cli.emulator.http import ClientGone, HttpRequest, HttpResponse, render_fields
from lstream_cli.emulator.runtime import INTERNAL_HEADER, Runtime, new_request_id, reply
from lstream_cli.emulator.throttle import BurstThenRate

__all__ = [
    "BufferSink",
    "ChunkedSink",
    "FunctionUrlApp",
    "LimitExceeded",
    "function_url_event",
    "response_fields",
    "response_headers",
]

FORBIDDEN = b'{"Message":"Forbidden"}'
BAD_GATEWAY = b"Internal Server Error"
THROTTLED = b'{"Message":"Rate Exceeded."}'
TOO_LARGE = (
    b'{"Message":"Request must be smaller than %d bytes for the InvokeFunction operation"}'
    % REQUEST_LIMIT
)
_TEXT_TYPES = ("text/", "json", "xml", "javascript", "x-www-form-urlencoded", "yaml", "csv")
_DROP_HEADERS = frozenset({"content-length", "transfer-encoding", "connection"})
_NOT_HEADERS = frozenset({"cookie", INTERNAL_HEADER})  # not in the event's headers


def _text_body(content_type: str | None) -> bool:
    if not content_type:
        return False
    ct = content_type.lower()
    return any(t in ct for t in _TEXT_TYPES)


def _utf8(wire: str) -> str:
    """A header value as text: the server decodes the wire as latin-1, senders use UTF-8."""
    if wire.isascii():
        return wire
    try:
        return wire.encode("latin-1").decode("utf-8")
    except UnicodeError:
        return wire  # not UTF-8: each byte as its latin-1 character


def _query_pairs(raw_query: str) -> list[tuple[str, str]]:
    """The query's (name, value) pairs, blank values kept, as ``parse_qsl`` reads them."""
    if not raw_query:
        return []
    if "%" in raw_query or "+" in raw_query:
        return parse_qsl(raw_query, keep_blank_values=True)
    # Nothing to unquote: parse_qsl's split, without its per-pair decoding.
    return [
        (name, value)
        for name, _, value in (pair.partition("=") for pair in raw_query.split("&") if pair)
    ]


# Header names lower-cased, by the name as received (the same few each time).
_LOWER: dict[str, str] = {}


def _lower(name: str) -> str:
    lname = name.lower()
    if len(_LOWER) < 512 and len(name) <= 64:  # bounded: a client chooses the names
        _LOWER[name] = lname
    return lname


_clock_cache: tuple[int, str] = (0, "")


def _request_time(now: float) -> str:
    """``12/Mar/2020:19:03:58 +0000``, formatted once per second."""
    global _clock_cache
    second = int(now)
    if _clock_cache[0] != second:
        stamp = time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(second))
        _clock_cache = (second, stamp)
    return _clock_cache[1]


def function_url_event(
    request: HttpRequest,
    url_id: str,
    region: str,
    access_key: str | None = None,
    request_id: str | None = None,
) -> dict[str, Any]:
    """The event Lambda hands a function behind a function URL (payload format 2.0)."""
    cookies: list[str] = []
    lower = _LOWER.get
    headers = {lower(name) or _lower(name): value for name, value in request.headers}
    if (
        len(headers) != len(request.headers)
        or not _NOT_HEADERS.isdisjoint(headers)
        or not all(map(str.isascii, headers.values()))
    ):
        # A name twice, a cookie, the front ends' token or a value beyond ASCII:
        # header by header. (Otherwise the names, lower-cased, are all it takes.)
        headers = {}
        for name, raw_value in request.headers:
            lname = name.lower()
            value = raw_value if raw_value.isascii() else _utf8(raw_value)
            if lname in _NOT_HEADERS:
                if lname == "cookie":
                    cookies.extend(c.strip() for c in value.split(";") if c.strip())
                continue  # cookies apart; the API Gateway front ends' token never shown
            if lname in headers:
                value = f"{headers[lname]},{value}"
            headers[lname] = value
    raw_path, _, raw_query = request.target.partition("?")
    if not raw_query:
        query = {}
    elif "&" not in raw_query and "%" not in raw_query and "+" not in raw_query:
        # One pair, nothing to unquote (``?size=1024``): what parse_qsl makes of it.
        name, _, value = raw_query.partition("=")
        query = {name: value}
    else:
        pairs = _query_pairs(raw_query)
        query = dict(pairs)
        if len(query) != len(pairs):  # a name given twice: its values joined with a comma
            query = {}
            for key, value in pairs:
                query[key] = f"{query[key]},{value}" if key in query else value
    now = time.time()
    request_id = request_id or new_request_id()
    domain = f"{url_id}.lambda-url.{region}.on.aws"
    context: dict[str, Any] = {
        "accountId": "123456789012" if access_key else "anonymous",
        "apiId": url_id,
        "domainName": domain,
        "domainPrefix": url_id,
        "http": {
            "method": request.method,
            "path": raw_path,
            "protocol": "HTTP/1.1",
            "sourceIp": request.client,
            "userAgent": headers.get("user-agent", ""),
        },
        "requestId": request_id,
        "routeKey": "$default",
        "stage": "$default",
        "time": _request_time(now),
        "timeEpoch": int(now * 1000),
    }
    if access_key:
        context["authorizer"] = {
            "iam": {
                "accessKey": access_key,
                "accountId": "123456789012",
                "callerId": access_key,
                "cognitoIdentity": None,
                "principalOrgId": None,
                "userArn": "arn:aws:iam::123456789012:user/local",
                "userId": access_key,
            }
        }
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": raw_path,
        "rawQueryString": raw_query,
        "headers": headers,
        "requestContext": context,
        "isBase64Encoded": False,
    }
    if cookies:
        event["cookies"] = cookies
    if query:
        event["queryStringParameters"] = query
    if request.body:
        body = request.body
        if _text_body(headers.get("content-type")):
            try:
                event["body"] = body.decode("utf-8")
            except UnicodeDecodeError:
                event["body"] = base64.b64encode(body).decode("ascii")
                event["isBase64Encoded"] = True
        else:
            event["body"] = base64.b64encode(body).decode("ascii")
            event["isBase64Encoded"] = True
    return event


def response_headers(
    headers: dict[str, str], request_id: str, default_type: str, cookies: list[str] | None = None
) -> list[tuple[str, str]]:
    """The handler's headers as sent: framing headers are ours, a content type is set.

    Each cookie is its own ``Set-Cookie`` header, as Lambda sends ``cookies``.
    """
    out: list[tuple[str, str]] = []
    typed = False
    for name, value in headers.items():
        lname = name.lower()
        if lname in _DROP_HEADERS:
            continue
        typed = typed or lname == "content-type"
        out.append((name, value))
    if not typed:
        out.append(("content-type", default_type))
    if cookies:
        out.extend([("set-cookie", cookie) for cookie in cookies])
    out.append(("x-amzn-requestid", request_id))
    return out


# The rendered header lines of the handlers' usual metadata, by (default content
# type, headers, cookies): a handler sends the same few again and again. Bounded: a
# handler whose headers change with every answer only refills it.
_FieldsKey = tuple[str, tuple[tuple[str, str], ...], tuple[str, ...]]
_FIELDS: dict[_FieldsKey, bytes] = {}
_FIELDS_MAX = 256


def response_fields(
    headers: dict[str, str], request_id: str, default_type: str, cookies: list[str] | None = None
) -> bytes:
    """:func:`response_headers` rendered as header lines (``name: value\\r\\n``)."""
    key: _FieldsKey | None = (
        default_type,
        tuple(headers.items()),
        tuple(cookies) if cookies else (),
    )
    try:
        fields = _FIELDS.get(key)  # type: ignore[arg-type]
    except TypeError:  # a value that is not text (and so cannot be a key): not kept
        key, fields = None, None
    if fields is None:
        # All but the request id (the last line), which changes with every answer.
        fields = render_fields(response_headers(headers, "", default_type, cookies)[:-1])
        if key is not None and len(fields) <= 4096:  # (large ones: rendered each time)
            if len(_FIELDS) >= _FIELDS_MAX:
                _FIELDS.clear()
            _FIELDS[key] = fields
    return fields + b"x-amzn-requestid: " + request_id.encode("latin-1", "replace") + b"\r\n"


class ChunkedSink:
    """Streams to a chunked HTTP response: the status with the first write, capped rate."""

    __slots__ = ("_request_id", "_response", "_throttle", "limit", "sent")

    def __init__(
        self,
        response: HttpResponse,
        request_id: str,
        throttle: BurstThenRate | None,
        limit: int,
    ) -> None:
        self._response = response
        self._request_id = request_id
        self._throttle = throttle
        self.limit = limit
        self.sent = 0

    async def open(self, status: int, headers: dict[str, str], cookies: list[str]) -> None:
        self._response.start(
            status,
            response_fields(headers, self._request_id, "application/octet-stream", cookies),
        )

    async def send(self, data: bytes | memoryview) -> None:
        n = len(data)
        room = self.limit - self.sent
        if n > room:
            if room > 0:
                self.sent += room
                await self._response.write(data[:room])
            raise LimitExceeded(f"stream limit of {self.limit} bytes exceeded")
        if self._throttle is not None:
            await self._throttle.wait(n)
        self.sent += n
        await self._response.write(data)


class BufferSink:
    """Collects the whole output, failing as soon as it passes ``limit``."""

    __slots__ = ("cookies", "headers", "limit", "parts", "size", "status")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.status = 200
        self.headers: dict[str, str] = {}
        self.cookies: list[str] = []
        self.parts: list[bytes | memoryview] = []
        self.size = 0

    async def open(self, status: int, headers: dict[str, str], cookies: list[str]) -> None:
        self.status = status
        self.headers = dict(headers)
        self.cookies = list(cookies)

    async def send(self, data: bytes | memoryview) -> None:
        self.size += len(data)
        if self.size > self.limit:
            self.parts = []
            raise LimitExceeded(
                f"Response payload size exceeded maximum allowed payload size ({self.limit} bytes)."
            )
        self.parts.append(data)

    def body(self) -> bytes:
        return b"".join(self.parts)


def _bad_gateway(response: HttpResponse, request_id: str, error_type: str) -> None:
    """Lambda's 502 for a function that failed or answered too much, before any byte."""
    reply(response, 502, BAD_GATEWAY, request_id, "text/plain", error_type=error_type)


class FunctionUrlApp:
    """One function URL bound to one function's invoker; ``mode`` is its InvokeMode.

    ``auth`` is the URL's AuthType (``iam`` or ``none``; None: the run's
    ``--auth``); ``url_id`` the URL's id (its host's first label).
    """

    def __init__(
        self,
        runtime: Runtime,
        mode: Literal["stream", "buffered"],
        invoker: Invoker | None = None,
        auth: Literal["none", "iam"] | None = None,
        url_id: str | None = None,
        name: str | None = None,
    ) -> None:
        self.runtime = runtime
        self.mode = mode
        self.invoker: Invoker = invoker or runtime.invoker
        self.url_id = url_id or ("lstream" + ("stream" if mode == "stream" else "buffered"))
        self.name = name or mode  # the endpoint's name in the request log
        self.lookup = runtime.iam_lookup() if auth == "iam" else None
        if auth is None:
            self.lookup = runtime.lookup
        self._inprocess = self.invoker.function.kind == "inprocess"

    async def __call__(self, request: HttpRequest, response: HttpResponse) -> None:
        t0 = time.perf_counter()
        rt = self.runtime
        request_id = new_request_id()
        note = ""
        try:
            if request.too_large:
                note = "request too large"
                reply(
                    response,
                    413,
                    TOO_LARGE,
                    request_id,
                    error_type="RequestEntityTooLargeException",
                )
                return
            access_key: str | None = None
            if self.lookup is not None and not rt.from_apigw(request):
                verdict = rt.check_iam(request, self.lookup)
                if not verdict.ok:
                    note = f"auth: {verdict.reason}"
                    reply(response, 403, FORBIDDEN, request_id, error_type="AccessDeniedException")
                    return
                access_key = verdict.access_key
            if self._inprocess and rt.secret_header is not None and not rt.check_secret(request):
                # The seed's function checks the header; a real function does its own check.
                note = "secret header missing or wrong"
                reply(response, 403, FORBIDDEN, request_id)
                return
            event = function_url_event(
                request, self.url_id, self.invoker.function.region, access_key, request_id
            )
            invocation = InvokeRequest(event, request_id)
            if self.mode == "stream":
                note = await self._stream(response, invocation)
            else:
                note = await self._buffered(response, invocation)
        except ClientGone:
            note = "client closed the connection"
            if not self._inprocess:
                note += "; the function keeps running"
            raise
        finally:
            if rt.config.log is not None:
                rt.log(self.name, request, response.status, response.bytes_sent, t0, note)

    async def _stream(self, response: HttpResponse, invocation: InvokeRequest) -> str:
        rt = self.runtime
        request_id = invocation.request_id
        throttle = rt.throttle(STREAM_BURST, STREAM_RATE) if rt.config.throttle else None
        sink = ChunkedSink(response, request_id, throttle, rt.stream_limit)
        try:
            await self.invoker.invoke(invocation, sink, raw=False)
        except ClientGone:
            raise
        except Throttled:
            reply(response, 429, THROTTLED, request_id, error_type="TooManyRequestsException")
            return "throttled: reserved concurrency"
        except LimitExceeded:
            if not response.started:  # a buffered response over 6 MB, refused to the runtime
                _bad_gateway(response, request_id, "Function.ResponseSizeTooLarge")
                return f"response over {BUFFERED_RESPONSE_LIMIT} bytes"
            response.abort()
            return "cut: stream limit"
        except FunctionError as exc:
            if not response.started:
                _bad_gateway(response, request_id, "Function.Unhandled")
                return f"function error: {exc.error_type}"
            response.abort()
            return f"cut: function error: {exc.error_type}"
        response.end()
        return ""

    async def _buffered(self, response: HttpResponse, invocation: InvokeRequest) -> str:
        request_id = invocation.request_id
        sink = BufferSink(BUFFERED_RESPONSE_LIMIT)
        try:
            await self.invoker.invoke(invocation, sink, raw=False)
        except Throttled:
            reply(response, 429, THROTTLED, request_id, error_type="TooManyRequestsException")
            return "throttled: reserved concurrency"
        except LimitExceeded:
            _bad_gateway(response, request_id, "Function.ResponseSizeTooLarge")
            return f"response over {BUFFERED_RESPONSE_LIMIT} bytes"
        except FunctionError as exc:
            _bad_gateway(response, request_id, "Function.Unhandled")
            return f"function error: {exc.error_type}"
        response.send(
            sink.status,
            sink.body(),
            response_fields(sink.headers, request_id, "application/json", sink.cookies),
        )
        return ""
