"""The Lambda API as a compare-modes path: Invoke and InvokeWithResponseStream.

The calls go through botocore's Lambda client (no retries, so a limit is
not hidden by one) and feed the same :class:`~lstream_cli.measure.BodyMeter`
the URL modes use:

- ``invoke_stream`` (InvokeWithResponseStream): headers when the call
  returns, each ``PayloadChunk`` one body delivery, ``InvokeComplete`` the
  end (with an ``ErrorCode``: a failed row).
- ``invoke`` (Invoke): headers when the call returns; the payload is then
  read in chunks, so TTFB is the first payload bytes. Lambda buffers the
  whole response before it answers, so TTFB here is close to total time:
  that is the point of the comparison.

botocore's failures become failed runs (:class:`~lstream_cli.engine.excerpt.Measured`)
with a status when the API answered and an error class always, never a crash.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from lstream_cli._exitcodes import UsageError
from lstream_cli.engine.excerpt import BodyHead, Measured, one_line
from lstream_cli.measure import BodyMeter, MeterOptions, classify_status
from lstream_cli.models import ErrorClass

__all__ = ["InvokeTarget", "make_lambda_client", "measure_invoke"]

_READ_CHUNK = 1 << 20


@dataclass(frozen=True, slots=True)
class InvokeTarget:
    """A function reached through the Lambda API (Invoke and InvokeWithResponseStream)."""

    function: str  # name or ARN
    region: str
    endpoint_url: str | None = None  # a non-AWS endpoint (the emulator)
    profile: str | None = None
    static_credentials: tuple[str, str] | None = None  # (key, secret): the emulator's dummies
    timeout: float | None = None  # read timeout, seconds; None = 15 minutes
    # TLS verification as botocore takes it: False (-k), a CA bundle path, or
    # True/None for botocore's own default; and the proxy for the endpoint
    # ((scheme, proxy URL) pairs; () = direct; None = botocore's environment lookup).
    verify: bool | str | None = True
    proxies: tuple[tuple[str, str], ...] | None = None


def make_lambda_client(target: InvokeTarget) -> Any:
    """A botocore Lambda client with no retries, so a limit is not hidden by one."""
    import botocore.session
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError

    session = botocore.session.Session(profile=target.profile)
    read_timeout = target.timeout if target.timeout else 900.0
    config = Config(
        retries={"total_max_attempts": 1},
        read_timeout=read_timeout,
        connect_timeout=min(read_timeout, 60.0),
        user_agent_extra="lstream-compare",
        proxies=None if target.proxies is None else dict(target.proxies),
    )
    if target.verify is False:
        # -k was asked for: urllib3's per-request warning would only repeat it.
        import warnings

        from urllib3.exceptions import InsecureRequestWarning

        warnings.filterwarnings("ignore", category=InsecureRequestWarning)
    kwargs: dict[str, Any] = {}
    if target.static_credentials is not None:
        kwargs["aws_access_key_id"], kwargs["aws_secret_access_key"] = target.static_credentials
    try:
        return session.create_client(
            "lambda",
            region_name=target.region,
            endpoint_url=target.endpoint_url,
            config=config,
            verify=target.verify,
            **kwargs,
        )
    except (BotoCoreError, ValueError) as exc:
        raise UsageError(f"--invoke: cannot set up the Lambda client: {exc}") from None


def measure_invoke(
    client: Any,
    target: InvokeTarget,
    mode: str,
    size: int,
    tick: Callable[[int], None] | None,
    size_param: str = "size",
    options: MeterOptions | None = None,
) -> Measured:
    # The size under --size-param, at the top (the emulator, a plain Invoke
    # handler) and where a function written for its function URL looks.
    value = str(size)
    payload = json.dumps({size_param: value, "queryStringParameters": {size_param: value}}).encode()
    meter = BodyMeter(time.perf_counter_ns(), options=options)
    head = BodyHead()
    try:
        if mode == "invoke":
            resp = client.invoke(FunctionName=target.function, Payload=payload)
        else:
            resp = client.invoke_with_response_stream(FunctionName=target.function, Payload=payload)
    except Exception as exc:  # botocore's failures become rows, never a crash
        return _api_failure(meter, exc)
    meta = resp.get("ResponseMetadata", {})
    headers = tuple((str(k), str(v)) for k, v in meta.get("HTTPHeaders", {}).items())
    meter.headers(time.perf_counter_ns(), int(resp.get("StatusCode", 200)), headers)
    if mode == "invoke":
        return _read_invoke(meter, resp, head, tick)
    return _read_invoke_stream(meter, resp, head, tick)


def _read_invoke(
    meter: BodyMeter, resp: dict[str, Any], head: BodyHead, tick: Callable[[int], None] | None
) -> Measured:
    body = resp["Payload"]
    try:
        for chunk in body.iter_chunks(_READ_CHUNK):
            meter.data(time.perf_counter_ns(), len(chunk), chunk if meter.wants_bytes else None)
            head(chunk)
            if tick is not None:
                tick(meter.bytes)
    except Exception as exc:
        return _api_failure(meter, exc, during_body=True)
    finally:
        body.close()
    function_error = resp.get("FunctionError")
    if function_error:
        doc = _error_doc(head)
        error_type = str(doc["errorType"]) if doc.get("errorType") else function_error
        detail = f"FunctionError {function_error}: {error_type}"
        message = one_line(str(doc.get("errorMessage") or ""))
        if message:
            detail += f" ({message})"
        rec = meter.finish(
            time.perf_counter_ns(), complete=True, error=ErrorClass.HTTP_5XX, detail=detail
        )
        return Measured(rec, excerpt=head.text(), error_code=error_type)
    return Measured(meter.finish(time.perf_counter_ns(), complete=True))


def _read_invoke_stream(
    meter: BodyMeter, resp: dict[str, Any], head: BodyHead, tick: Callable[[int], None] | None
) -> Measured:
    stream = resp["EventStream"]
    complete: dict[str, Any] | None = None
    try:
        for event in stream:
            if "PayloadChunk" in event:
                data = event["PayloadChunk"].get("Payload", b"")
                meter.data(time.perf_counter_ns(), len(data), data if meter.wants_bytes else None)
                head(data)
                if tick is not None:
                    tick(meter.bytes)
            elif "InvokeComplete" in event:
                complete = event["InvokeComplete"]
    except Exception as exc:
        return _api_failure(meter, exc, during_body=True)
    finally:
        close = getattr(stream, "close", None)
        if close is not None:
            close()
    now = time.perf_counter_ns()
    if complete is None:
        rec = meter.finish(
            now, complete=False, detail="the event stream ended without InvokeComplete"
        )
        return Measured(rec, excerpt=head.text())
    code = complete.get("ErrorCode")
    if code:
        details = one_line(str(complete.get("ErrorDetails") or ""))
        detail = f"InvokeComplete ErrorCode {code}" + (f": {details}" if details else "")
        rec = meter.finish(now, complete=True, error=ErrorClass.HTTP_5XX, detail=detail)
        return Measured(rec, excerpt=details, error_code=str(code))
    return Measured(meter.finish(now, complete=True))


def _error_doc(head: BodyHead) -> dict[str, Any]:
    """The function's error document (``errorType``, ``errorMessage``) in ``head``, or {}."""
    try:
        doc = json.loads(bytes(head.buf).decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        return {}
    return doc if isinstance(doc, dict) else {}


def _api_failure(meter: BodyMeter, exc: BaseException, during_body: bool = False) -> Measured:
    """A botocore exception as a failed run: status when the API answered, a class always."""
    from botocore.exceptions import (
        ClientError,
        ConnectionClosedError,
        ConnectTimeoutError,
        EndpointConnectionError,
        ReadTimeoutError,
    )

    now = time.perf_counter_ns()
    if isinstance(exc, ClientError):
        err = exc.response.get("Error", {})
        code = str(err.get("Code") or "ClientError")
        message = one_line(str(err.get("Message") or ""))
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0) or None
        if status is not None and meter.status is None:
            meter.headers(now, status)
        cls = classify_status(status, code) if status else None
        detail = code + (f": {message}" if message else "")
        rec = meter.finish(now, complete=False, error=cls or ErrorClass.HTTP_5XX, detail=detail)
        return Measured(rec, excerpt=message, error_code=code)
    text = one_line(str(exc)) or type(exc).__name__
    if isinstance(exc, (ConnectTimeoutError, ReadTimeoutError)):
        cls, detail = ErrorClass.TIMEOUT, f"timed out: {text}"
    elif during_body:
        cls, detail = ErrorClass.TRUNCATED, f"stream cut before its end: {text}"
    elif isinstance(exc, (EndpointConnectionError, ConnectionClosedError)):
        cls, detail = ErrorClass.CONNECT, f"cannot connect: {text}"
    else:
        cls, detail = ErrorClass.CONNECT, f"{type(exc).__name__}: {text}"
    return Measured(meter.finish(now, complete=False, error=cls, detail=detail))
