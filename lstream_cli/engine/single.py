"""One request over httpx, streamed and measured (``get`` and compare-modes).

The body is consumed incrementally: each delivery from the transport is
timed, handed to the :class:`BodyMeter` and passed to a sink (a file, stdout,
or nothing) before the next read, so memory stays flat whatever the size.

Timing starts after signing (as httpx and oha do). The transport's trace
hook (httpcore's event names, see :mod:`lstream_cli.engine.h1`) marks the
end of TCP/TLS setup and the moment the response head was parsed, so
``headers_ms`` is exact even when a server sends its headers early and its
body late; ``ttfb_ms`` is the first body byte, stamped when it arrived (with
the head when they came in one read, as the load engine stamps it).
"""

from __future__ import annotations

import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import httpx

from lstream_cli import __version__
from lstream_cli.engine.h1 import BODY_WITH_HEAD, IDLE_DEADLINE, H1Transport, StallTimeout
from lstream_cli.measure import BodyMeter, MeterOptions
from lstream_cli.models import ErrorClass, RequestRecord, ns_to_ms
from lstream_cli.request import RequestSpec
from lstream_cli.signing import Signer

__all__ = ["Interrupted", "Progress", "SentRequest", "fetch", "make_client"]

USER_AGENT = f"lstream/{__version__}"
_PROGRESS_EVERY_NS = 100_000_000


class Interrupted(KeyboardInterrupt):
    """Ctrl-C during a request; ``record`` is what was measured until then.

    A KeyboardInterrupt still (callers that only stop keep working); the
    record is incomplete, with no error class: the server did nothing wrong.
    """

    def __init__(self, record: RequestRecord) -> None:
        super().__init__("interrupted")
        self.record = record


def _interrupted(meter: BodyMeter, now: int) -> Interrupted:
    record = meter.finish(now, complete=False, detail="interrupted (Ctrl-C)")
    return Interrupted(replace(record, error=None))


@dataclass(frozen=True, slots=True)
class Progress:
    """A live view of one request in flight (for the progress line)."""

    elapsed_s: float
    bytes: int
    ttfb_ms: float | None
    status: int | None


@dataclass(frozen=True, slots=True)
class SentRequest:
    """What went on the wire, for ``-v`` (headers unredacted: redact to print)."""

    method: str
    url: str
    headers: tuple[tuple[str, str], ...]


def make_client(spec: RequestSpec, transport: httpx.BaseTransport | None = None) -> httpx.Client:
    """An httpx client for ``spec``: no implicit compression, verified TLS by default.

    The wire layer is :class:`H1Transport` (llhttp, one delivery per large read);
    proxies are not supported (``trust_env=False``). ``transport`` replaces it
    (tests pass ``httpx.MockTransport``), everything else stays as sent.
    """
    t = spec.timeout
    client = httpx.Client(
        timeout=httpx.Timeout(t, connect=t, read=t, write=t, pool=t),
        transport=transport or H1Transport(verify=not spec.insecure),
        follow_redirects=False,
        trust_env=False,
    )
    # Save the bytes the server sent, as curl does without --compressed.
    del client.headers["accept-encoding"]
    client.headers["user-agent"] = USER_AGENT
    return client


def build_headers(
    spec: RequestSpec, signer: Signer | None, url: httpx.URL
) -> list[tuple[str, str]]:
    """The request's headers: the user's, then the signature's (signed last)."""
    headers = list(spec.headers)
    if signer is not None:
        headers.extend(signer.sign(spec.method, str(url), headers, body=spec.body).items())
    return headers


def fetch(
    spec: RequestSpec,
    signer: Signer | None = None,
    sink: Callable[[bytes], object] | None = None,
    on_progress: Callable[[Progress], None] | None = None,
    on_head: Callable[[SentRequest, int, tuple[tuple[str, str], ...], str], None] | None = None,
    client: httpx.Client | None = None,
    on_request: Callable[[SentRequest], None] | None = None,
    options: MeterOptions | None = None,
) -> RequestRecord:
    """Send ``spec``, stream the body into ``sink``, return the measured record.

    ``options``: what the meter counts beyond bytes (``--events``) and the
    stall limit (``--stall-timeout``, enforced as ``ErrorClass.STALLED``).

    ``on_request`` sees the request about to be sent, before the clock
    starts (``-v`` prints it even when no response ever comes).

    Network failures become a record with an error class; exceptions that
    are not about the request (a failing sink) propagate after the bytes
    already received have been handed to the sink; Ctrl-C raises
    :class:`Interrupted` with the record measured so far.
    """
    own_client = client is None
    http = client if client is not None else make_client(spec)
    url = httpx.URL(spec.url)
    headers = build_headers(spec, signer, url)
    marks: dict[str, int] = {}

    def trace(event: str, info: dict[str, Any]) -> None:
        now = time.perf_counter_ns()
        if (event.endswith(".started") and event not in marks) or event.endswith(".complete"):
            marks[event] = now

    meters: list[BodyMeter] = []  # the meter, once the clock has started
    extensions: dict[str, Any] = {"trace": trace}
    if options is not None and options.stall_timeout_ns is not None:
        extensions[IDLE_DEADLINE] = lambda: meters[0].idle_deadline_ns() if meters else None
    request = http.build_request(
        spec.method, url, headers=headers, content=spec.body, extensions=extensions
    )
    sent = SentRequest(
        spec.method,
        str(url),
        tuple((k.decode("latin-1"), v.decode("latin-1")) for k, v in request.headers.raw),
    )
    if on_request is not None:
        on_request(sent)
    t_start = time.perf_counter_ns()
    meter = BodyMeter(t_start, options=options)
    meters.append(meter)
    try:
        return _exchange(http, request, meter, marks, sink, on_progress, on_head, sent)
    finally:
        if own_client:
            http.close()


def _exchange(
    http: httpx.Client,
    request: httpx.Request,
    meter: BodyMeter,
    marks: dict[str, int],
    sink: Callable[[bytes], object] | None,
    on_progress: Callable[[Progress], None] | None,
    on_head: Callable[[SentRequest, int, tuple[tuple[str, str], ...], str], None] | None,
    sent: SentRequest,
) -> RequestRecord:
    t_start = meter.t_start_ns
    try:
        response = http.send(request, stream=True)
    except KeyboardInterrupt:
        _note_connect(meter, marks)
        raise _interrupted(meter, time.perf_counter_ns()) from None
    except httpx.HTTPError as exc:
        _note_connect(meter, marks)
        error, detail = classify_exception(exc, before_headers=True)
        return meter.finish(time.perf_counter_ns(), complete=False, error=error, detail=detail)
    try:
        _note_connect(meter, marks)
        head_at = marks.get("http11.receive_response_headers.complete", time.perf_counter_ns())
        resp_headers = tuple(
            (k.decode("latin-1"), v.decode("latin-1")) for k, v in response.headers.raw
        )
        meter.headers(head_at, response.status_code, resp_headers)
        if on_head is not None:
            status_line = f"{response.http_version} {response.status_code} {response.reason_phrase}"
            on_head(sent, response.status_code, resp_headers, status_line.rstrip())
        next_progress = t_start + _PROGRESS_EVERY_NS
        perf = time.perf_counter_ns
        # Body bytes that came in the head's own read arrived with the head.
        early = head_at if BODY_WITH_HEAD in marks else None
        try:
            for chunk in response.iter_raw():
                now = perf()
                if early is not None:
                    now, early = early, None
                meter.data(now, len(chunk), chunk if meter.wants_bytes else None)
                if sink is not None:
                    sink(chunk)
                if on_progress is not None and now >= next_progress:
                    next_progress = now + _PROGRESS_EVERY_NS
                    on_progress(_progress(meter, now))
        except StallTimeout:
            return meter.finish(
                perf(), complete=False, error=ErrorClass.STALLED, detail=meter.stall_detail()
            )
        except httpx.HTTPError as exc:
            error, detail = classify_exception(exc, before_headers=False)
            return meter.finish(perf(), complete=False, error=error, detail=detail)
        except KeyboardInterrupt:
            raise _interrupted(meter, perf()) from None
        end = perf()
        if on_progress is not None:
            on_progress(_progress(meter, end))
        return meter.finish(end, complete=True)
    finally:
        response.close()


def _progress(meter: BodyMeter, now: int) -> Progress:
    return Progress(
        elapsed_s=(now - meter.t_start_ns) / 1e9,
        bytes=meter.bytes,
        ttfb_ms=ns_to_ms(meter.first_byte_ns),
        status=meter.status,
    )


def _note_connect(meter: BodyMeter, marks: dict[str, int]) -> None:
    begin = marks.get("connection.connect_tcp.started")
    end = marks.get("connection.start_tls.complete") or marks.get("connection.connect_tcp.complete")
    if begin is not None and end is not None and meter.connect_ns is None:
        meter.connected(begin, end)


def classify_exception(exc: BaseException, before_headers: bool) -> tuple[ErrorClass, str]:
    """Map an httpx failure to an error class and a one-line reason."""
    text = str(exc) or exc.__class__.__name__
    if isinstance(exc, httpx.TimeoutException):
        what = {
            httpx.ConnectTimeout: "connecting",
            httpx.ReadTimeout: "waiting for data",
            httpx.WriteTimeout: "sending the request",
            httpx.PoolTimeout: "waiting for a connection",
        }.get(type(exc), "waiting")
        return ErrorClass.TIMEOUT, f"timed out {what}"
    cause = _root_cause(exc)
    if isinstance(cause, ssl.SSLError) or "SSL" in text or "CERTIFICATE" in text.upper():
        return ErrorClass.TLS, f"TLS failure: {_short(cause) or text}"
    if isinstance(exc, httpx.ConnectError):
        if (
            "Name or service not known" in text
            or "nodename nor servname" in text
            or "getaddrinfo" in text
            or "Temporary failure in name resolution" in text
        ):
            return ErrorClass.CONNECT, f"cannot resolve host: {text}"
        return ErrorClass.CONNECT, f"cannot connect: {text}"
    if before_headers:
        return ErrorClass.CONNECT, f"connection failed before a response: {text}"
    return ErrorClass.TRUNCATED, f"stream cut before its end: {text}"


def _root_cause(exc: BaseException) -> BaseException:
    seen = exc
    while seen.__cause__ is not None or seen.__context__ is not None:
        nxt = seen.__cause__ or seen.__context__
        assert nxt is not None
        seen = nxt
    return seen


def _short(exc: BaseException) -> str:
    reason = getattr(exc, "reason", None)
    verify = getattr(exc, "verify_message", None)
    if verify:
        return f"{reason or ''} ({verify})".strip()
    return str(reason or exc)
