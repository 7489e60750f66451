"""The compare-modes sweep: one response size at a time, over every path given.

A :class:`Plan` (sizes, repeat, the targets) is run by :func:`iter_cells`,
a generator that yields one :class:`Cell` per (size, mode) as soon as it is
measured, so the caller can stop at any point (Ctrl-C) and still hold every
row measured so far. Nothing here prints: progress goes to a callback.

The URL modes (``stream``, ``buffered``, ``apigw``, ``apigw_stream``) go
through :func:`lstream_cli.engine.single.fetch`, the measurement ``get``
uses. The Lambda API modes go through botocore's Lambda client and feed the
same :class:`~lstream_cli.measure.BodyMeter`:

- ``invoke_stream`` (InvokeWithResponseStream): headers when the call
  returns, each ``PayloadChunk`` one body delivery, ``InvokeComplete`` the
  end (with an ``ErrorCode``: a failed row).
- ``invoke`` (Invoke): headers when the call returns; the payload is then
  read in chunks, so TTFB is the first payload bytes. Lambda buffers the
  whole response before it answers, so TTFB here is close to total time:
  that is the point of the comparison.

A failed cell is a finding, not an error of the tool: its row names the
limit that explains it (:func:`attribute_limit`) and the error the caller
saw (status and body excerpt, or Invoke's ``FunctionError`` type).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from lstream_cli._exitcodes import UsageError
from lstream_cli.engine.h1 import Client
from lstream_cli.engine.single import Progress, fetch, make_client
from lstream_cli.limits import (
    APIGW_BUFFERED_LIMIT,
    BUFFERED_RESPONSE_LIMIT,
    LABEL_APIGW_SIZE,
    LABEL_APIGW_STREAM_TIME,
    LABEL_APIGW_TIMEOUT,
    LABEL_BUFFERED,
    LABEL_REQUEST,
    LABEL_STREAM,
    STREAM_LIMIT,
)
from lstream_cli.measure import BodyMeter, classify_status
from lstream_cli.models import ErrorClass, RequestRecord, round_or_none
from lstream_cli.request import RequestSpec
from lstream_cli.signing import Signer
from lstream_cli.units import format_bytes, format_rate

__all__ = [
    "DEFAULT_SIZES",
    "MODES",
    "MODE_NAMES",
    "STREAMING_MODES",
    "URL_MODES",
    "WARMUP_SIZE",
    "Cell",
    "CellProgress",
    "InvokeTarget",
    "Plan",
    "attribute_limit",
    "conclude",
    "format_size",
    "iter_cells",
    "size_url",
]

# Row order everywhere: the function URL pair, the Lambda API pair, API Gateway's pair.
MODES: tuple[str, ...] = ("stream", "buffered", "invoke", "invoke_stream", "apigw", "apigw_stream")
URL_MODES: tuple[str, ...] = ("stream", "buffered", "apigw", "apigw_stream")
STREAMING_MODES: frozenset[str] = frozenset({"stream", "invoke_stream", "apigw_stream"})
MODE_NAMES: dict[str, str] = {
    "stream": "the streaming function URL",
    "buffered": "the buffered function URL",
    "invoke": "Invoke",
    "invoke_stream": "InvokeWithResponseStream",
    "apigw": "API Gateway (buffered)",
    "apigw_stream": "API Gateway STREAM",
}
# Crosses the 6 MB buffered limit and API Gateway's 10 MB; streams run past
# their 6 MB (10 MB) burst long enough for the knee to show. About 30 s on
# the emulator at real rates.
DEFAULT_SIZES: tuple[int, ...] = (1_000_000, 5_000_000, 7_000_000, 12_000_000, 20_000_000)
_EXCERPT_BYTES = 300
_READ_CHUNK = 1 << 20
_PROGRESS_EVERY_S = 0.1
WARMUP_SIZE = 1000  # bytes asked of each mode once, unmeasured, before the sweep


@dataclass(frozen=True, slots=True)
class InvokeTarget:
    """A function reached through the Lambda API (Invoke and InvokeWithResponseStream)."""

    function: str  # name or ARN
    region: str
    endpoint_url: str | None = None  # a non-AWS endpoint (the emulator)
    profile: str | None = None
    static_credentials: tuple[str, str] | None = None  # (key, secret): the emulator's dummies
    timeout: float | None = None  # read timeout, seconds; None = 15 minutes
    verify: bool = True  # TLS certificate verification (-k/--insecure turns it off)


@dataclass(frozen=True, slots=True)
class Plan:
    """What to sweep: sizes x the given modes, ``repeat`` runs per cell."""

    sizes: tuple[int, ...]  # bytes, in sweep order
    spec: RequestSpec  # request options shared by the URL modes (its url is replaced)
    urls: dict[str, str] = field(default_factory=dict)  # URL mode -> base URL
    signers: dict[str, Signer | None] = field(default_factory=dict)  # URL mode -> signer
    invoke: InvokeTarget | None = None
    repeat: int = 1
    size_param: str = "size"
    warmup: bool = True  # one unmeasured small request per mode before the sweep

    @property
    def modes(self) -> tuple[str, ...]:
        given = set(self.urls)
        if self.invoke is not None:
            given |= {"invoke", "invoke_stream"}
        return tuple(m for m in MODES if m in given)

    @property
    def cells(self) -> int:
        return len(self.sizes) * len(self.modes)


@dataclass(frozen=True, slots=True)
class CellProgress:
    """Where the sweep is: for the progress line."""

    index: int  # 1-based cell number
    cells: int  # cells in the sweep
    mode: str
    size: int
    run: int  # 1-based run within the cell
    repeat: int
    bytes: int  # body bytes of the current run so far
    elapsed_s: float  # since the sweep began
    warmup: bool = False  # the unmeasured warm-up request of ``mode``


@dataclass(frozen=True, slots=True)
class Measured:
    """One run of one cell: the record plus what the caller saw of a failure."""

    record: RequestRecord
    excerpt: str = ""  # the first bytes of the body, one line, for failed runs
    error_code: str | None = None  # Lambda API error type (FunctionError, ClientError code)


@dataclass(frozen=True, slots=True)
class Cell:
    """One (size, mode) result: the median run by total time, or the first failure."""

    mode: str
    size: int  # bytes asked for
    record: RequestRecord  # the run reported
    runs: int  # runs made
    failures: int  # runs that failed
    limit: str | None  # the limit that explains a failure, when one does
    error_text: str | None  # what the caller saw: status and body excerpt, or the API error

    @property
    def ok(self) -> bool:
        return self.failures == 0 and self.record.ok

    @property
    def short(self) -> bool:
        """A success whose body is smaller than the size asked (the size was not honoured)."""
        return self.ok and self.record.bytes < self.size

    def to_json(self) -> dict[str, Any]:
        rec = self.record
        r = round_or_none
        return {
            "mode": self.mode,
            "size": self.size,
            "status": rec.status,
            "ok": self.ok,
            "ttfb_ms": r(rec.ttfb_ms),
            "total_ms": r(rec.total_ms),
            "bytes": rec.bytes,
            "bytes_per_s": r(rec.bytes_per_s, 1),
            "limit": self.limit,
            "error": None if rec.error is None else rec.error.value,
            "error_detail": self.error_text,
            "knee": None if rec.knee is None else rec.knee.to_json(),
            "reads": rec.reads,
            "runs": self.runs,
            "failures": self.failures,
        }


def size_url(base: str, size_param: str, size: int) -> str:
    """``base`` with ``size_param=<bytes>`` added to (or replacing it in) its query."""
    url = httpx.URL(base)
    return str(url.copy_merge_params({size_param: str(size)}))


def attribute_limit(
    mode: str,
    size: int,
    record: RequestRecord,
    error_code: str | None = None,
    excerpt: str = "",
) -> str | None:
    """The limit that explains a failed run, or None (success, or nothing fits).

    The rule looks at what the caller can see, as a user reading the
    response would: the status, the Lambda API's error type, the body, and
    the size that was asked for (a 502 from a buffered URL at 3 MB is not
    the 6 MB limit).
    """
    if record.ok:
        return None
    status = record.status
    err = record.error
    code = error_code or ""
    if status in (401, 403) or code in ("AccessDeniedException", "UnrecognizedClientException"):
        return f"auth {status or 403}"
    if err is ErrorClass.THROTTLED:
        return f"throttling {status or 429}"
    if status == 413 or code == "RequestEntityTooLargeException":
        return LABEL_REQUEST
    if "ResponseSizeTooLarge" in code or "ResponseSizeTooLarge" in excerpt:
        # Invoke's 6 MB, or InvokeWithResponseStream's 200 MB cap past it (below
        # it, a function that does not stream answers in one 6 MB payload).
        streamed_past = mode in STREAMING_MODES and size > STREAM_LIMIT
        return LABEL_STREAM if streamed_past else LABEL_BUFFERED
    if mode == "buffered" and status == 502 and size > BUFFERED_RESPONSE_LIMIT:
        return LABEL_BUFFERED
    if mode == "apigw":
        if status == 504:
            return LABEL_APIGW_TIMEOUT
        if status == 502 and size > APIGW_BUFFERED_LIMIT:
            return LABEL_APIGW_SIZE
    if (
        mode in STREAMING_MODES
        and size > STREAM_LIMIT
        and (err is ErrorClass.TRUNCATED or (status is not None and status >= 400))
    ):
        return LABEL_STREAM
    if mode == "apigw_stream" and status == 504:
        return LABEL_APIGW_STREAM_TIME
    if err is ErrorClass.TIMEOUT:
        return "client --timeout"
    return None


def iter_cells(
    plan: Plan,
    on_progress: Callable[[CellProgress], None] | None = None,
    invoke_client: Any = None,
) -> Iterator[Cell]:
    """Measure every (size, mode) of ``plan`` in order, yielding each cell.

    ``invoke_client`` is a botocore Lambda client to use instead of making
    one (tests). Clients are closed when the generator ends or is closed.
    """
    modes = plan.modes
    t0 = time.perf_counter()
    http: dict[str, Client] = {}
    lam = invoke_client
    if lam is None and plan.invoke is not None:
        lam = make_lambda_client(plan.invoke)

    def measure(mode: str, size: int, here: CellProgress) -> Measured:
        tick = _ticker(on_progress, here, t0)
        if tick is not None:
            tick(0)
        if mode in URL_MODES:
            if mode not in http:
                http[mode] = make_client(plan.spec)
            return _measure_url(plan, mode, size, http[mode], tick)
        assert plan.invoke is not None
        return _measure_invoke(lam, plan.invoke, mode, size, tick, plan.size_param)

    try:
        if plan.warmup:
            # A cold start or a connection setup must not land in the first cell.
            for mode in modes:
                elapsed = time.perf_counter() - t0
                here = CellProgress(0, plan.cells, mode, WARMUP_SIZE, 1, 1, 0, elapsed, True)
                measure(mode, WARMUP_SIZE, here)
        index = 0
        for size in plan.sizes:
            for mode in modes:
                index += 1
                runs: list[Measured] = []
                for run in range(1, plan.repeat + 1):
                    elapsed = time.perf_counter() - t0
                    here = CellProgress(index, plan.cells, mode, size, run, plan.repeat, 0, elapsed)
                    runs.append(measure(mode, size, here))
                yield _cell(mode, size, runs)
    finally:
        for client in http.values():
            client.close()
        if lam is not None and invoke_client is None:
            lam.close()


def _ticker(
    on_progress: Callable[[CellProgress], None] | None, here: CellProgress, t0: float
) -> Callable[[int], None] | None:
    if on_progress is None:
        return None

    last = [0.0]

    def tick(n: int) -> None:
        now = time.perf_counter()
        if n and now - last[0] < _PROGRESS_EVERY_S:
            return
        last[0] = now
        on_progress(
            CellProgress(
                here.index,
                here.cells,
                here.mode,
                here.size,
                here.run,
                here.repeat,
                n,
                now - t0,
                here.warmup,
            )
        )

    return tick


def _cell(mode: str, size: int, runs: Sequence[Measured]) -> Cell:
    failed = [m for m in runs if not m.record.ok]
    if failed:
        chosen = failed[0]
    else:
        ordered = sorted(runs, key=lambda m: m.record.end_ns or 0)
        chosen = ordered[(len(ordered) - 1) // 2]
    rec = chosen.record
    limit = attribute_limit(mode, size, rec, chosen.error_code, chosen.excerpt)
    return Cell(
        mode=mode,
        size=size,
        record=rec,
        runs=len(runs),
        failures=len(failed),
        limit=limit,
        error_text=_error_text(chosen) if not rec.ok else None,
    )


def _error_text(m: Measured) -> str:
    rec = m.record
    if m.error_code:
        text = m.error_code
        if rec.error_detail and rec.error_detail != m.error_code:
            text = rec.error_detail
        if rec.status is not None and rec.status >= 400:
            text = f"HTTP {rec.status} {text}"
        return text
    if rec.status is not None and rec.status >= 400:
        return f"HTTP {rec.status}" + (f" {m.excerpt}" if m.excerpt else "")
    return rec.error_detail or (rec.error.value if rec.error else "failed")


def _one_line(text: str) -> str:
    """``text`` fit for a row: whitespace runs made one space, at most 200 characters."""
    return " ".join(text.split())[:200]


class _Head:
    """A sink that keeps only the first bytes of a body (for error excerpts)."""

    __slots__ = ("buf", "keep")

    def __init__(self, keep: int = _EXCERPT_BYTES) -> None:
        self.keep = keep
        self.buf = bytearray()

    def __call__(self, chunk: bytes) -> None:
        room = self.keep - len(self.buf)
        if room > 0:
            self.buf += chunk[:room]

    def text(self) -> str:
        raw = bytes(self.buf).decode("utf-8", "replace")
        if any(c < " " and c not in "\t\r\n" for c in raw):
            return f"({len(self.buf)}+ bytes of binary body)"
        return _one_line(raw)


def _measure_url(
    plan: Plan,
    mode: str,
    size: int,
    client: Client,
    tick: Callable[[int], None] | None,
) -> Measured:
    spec = plan.spec.with_url(size_url(plan.urls[mode], plan.size_param, size))
    head = _Head()

    def progress(p: Progress) -> None:
        if tick is not None:
            tick(p.bytes)

    record = fetch(spec, plan.signers.get(mode), sink=head, on_progress=progress, client=client)
    failed = not record.ok
    return Measured(record, excerpt=head.text() if failed else "")


# --- the Lambda API -------------------------------------------------------------


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
    )
    if not target.verify:
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


def _measure_invoke(
    client: Any,
    target: InvokeTarget,
    mode: str,
    size: int,
    tick: Callable[[int], None] | None,
    size_param: str = "size",
) -> Measured:
    # The size under --size-param, at the top (the emulator, a plain Invoke
    # handler) and where a function written for its function URL looks.
    value = str(size)
    payload = json.dumps({size_param: value, "queryStringParameters": {size_param: value}}).encode()
    meter = BodyMeter(time.perf_counter_ns())
    head = _Head()
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
    meter: BodyMeter, resp: dict[str, Any], head: _Head, tick: Callable[[int], None] | None
) -> Measured:
    body = resp["Payload"]
    try:
        for chunk in body.iter_chunks(_READ_CHUNK):
            meter.data(time.perf_counter_ns(), len(chunk))
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
        message = _one_line(str(doc.get("errorMessage") or ""))
        if message:
            detail += f" ({message})"
        rec = meter.finish(
            time.perf_counter_ns(), complete=True, error=ErrorClass.HTTP_5XX, detail=detail
        )
        return Measured(rec, excerpt=head.text(), error_code=error_type)
    return Measured(meter.finish(time.perf_counter_ns(), complete=True))


def _read_invoke_stream(
    meter: BodyMeter, resp: dict[str, Any], head: _Head, tick: Callable[[int], None] | None
) -> Measured:
    stream = resp["EventStream"]
    complete: dict[str, Any] | None = None
    try:
        for event in stream:
            if "PayloadChunk" in event:
                data = event["PayloadChunk"].get("Payload", b"")
                meter.data(time.perf_counter_ns(), len(data))
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
        details = _one_line(str(complete.get("ErrorDetails") or ""))
        detail = f"InvokeComplete ErrorCode {code}" + (f": {details}" if details else "")
        rec = meter.finish(now, complete=True, error=ErrorClass.HTTP_5XX, detail=detail)
        return Measured(rec, excerpt=details, error_code=str(code))
    return Measured(meter.finish(now, complete=True))


def _error_doc(head: _Head) -> dict[str, Any]:
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
        message = _one_line(str(err.get("Message") or ""))
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0) or None
        if status is not None and meter.status is None:
            meter.headers(now, status)
        cls = classify_status(status, code) if status else None
        detail = code + (f": {message}" if message else "")
        rec = meter.finish(now, complete=False, error=cls or ErrorClass.HTTP_5XX, detail=detail)
        return Measured(rec, excerpt=message, error_code=code)
    text = _one_line(str(exc)) or type(exc).__name__
    if isinstance(exc, (ConnectTimeoutError, ReadTimeoutError)):
        cls, detail = ErrorClass.TIMEOUT, f"timed out: {text}"
    elif during_body:
        cls, detail = ErrorClass.TRUNCATED, f"stream cut before its end: {text}"
    elif isinstance(exc, (EndpointConnectionError, ConnectionClosedError)):
        cls, detail = ErrorClass.CONNECT, f"cannot connect: {text}"
    else:
        cls, detail = ErrorClass.CONNECT, f"{type(exc).__name__}: {text}"
    return Measured(meter.finish(now, complete=False, error=cls, detail=detail))


# --- the conclusion ---------------------------------------------------------------


def format_size(n: int) -> str:
    """Sizes as the user wrote them: ``7 MB``, ``6 MiB``, ``6.50 MB``, ``1.5 MiB``.

    A size no short form says exactly is shown in bytes (``6,291,557 B``):
    a sweep across a limit asks for sizes one byte apart, and both must not
    read ``6.29 MB``.
    """
    from lstream_cli.units import parse_size

    if n >= 10**6 and n % 10**6 == 0:
        return f"{n // 10**6} MB"
    if n >= 2**20 and n % 2**20 == 0:
        return f"{n // 2**20} MiB"
    if n >= 10**3 and n % 10**3 == 0 and n < 10**6:
        return f"{n // 10**3} kB"
    for text in (format_bytes(n), f"{n / 2**20:g} MiB"):
        try:
            if parse_size(text) == n:
                return text
        except ValueError:
            continue
    return f"{n:,} B"


# Limits a path hits because of the size asked (or the time a large body takes):
# a path failing only on these works, the sizes were too large for it.
_SIZE_LIMITS: frozenset[str | None] = frozenset(
    {LABEL_BUFFERED, LABEL_APIGW_SIZE, LABEL_STREAM, LABEL_APIGW_TIMEOUT, LABEL_APIGW_STREAM_TIME}
)


def _names(modes: Sequence[str], conjunction: str = "and") -> str:
    names = [MODE_NAMES[m] for m in modes]
    if len(names) <= 1:
        return "".join(names)
    return ", ".join(names[:-1]) + f" {conjunction} " + names[-1]


def _why(cell: Cell) -> str:
    if cell.limit:
        return cell.limit
    if cell.record.error is not None:
        return cell.record.error.value + (f": {cell.error_text}" if cell.error_text else "")
    return "failed"


def conclude(cells: Sequence[Cell]) -> str:
    """One paragraph in plain words: which path carries which size, and what to use."""
    if not cells:
        return "Nothing was measured."
    by = {(c.mode, c.size): c for c in cells}
    modes = [m for m in MODES if any(c.mode == m for c in cells)]
    sizes = sorted({c.size for c in cells})
    # A path that failed at every size is a broken target (refused, 403, ...)
    # unless a size limit explains a failure: then the sizes were too large for it.
    dead = [
        m
        for m in modes
        if all(not c.ok and c.limit not in _SIZE_LIMITS for c in cells if c.mode == m)
    ]
    live = [m for m in modes if m not in dead]
    parts: list[str] = []

    def ok(mode: str, size: int) -> bool:
        cell = by.get((mode, size))
        return cell is not None and cell.ok

    upto: int | None = None
    for s in sizes:
        if not all(ok(m, s) for m in live):
            break
        upto = s
    short = [c for c in cells if c.short]
    if short:
        first_short = short[0]
        more = f" ({len(short)} cells in all)" if len(short) > 1 else ""
        parts.append(
            f"Careful: {MODE_NAMES[first_short.mode]} sent "
            f"{format_bytes(first_short.record.bytes)} when {format_size(first_short.size)} "
            f"was asked{more}: the function may not read the size from the query parameter "
            "(--size-param), or the response was compressed; the sizes here are those asked, "
            "not those carried."
        )
    if live and upto is not None:
        if len(modes) == 1:
            every = MODE_NAMES[modes[0]]
        else:
            every = "every path" if not dead else "every path that answered"
        if upto == sizes[-1]:
            parts.append(
                f"{every[0].upper()}{every[1:]} carried every size up to {format_size(upto)}."
            )
        else:
            parts.append(f"Up to {format_size(upto)} {every} works.")

    groups: dict[tuple[int, str], list[str]] = {}
    for m in live:
        first = next((s for s in sizes if (m, s) in by and not by[(m, s)].ok), None)
        if first is not None:
            groups.setdefault((first, _why(by[(m, first)])), []).append(m)
    # By size, then in row order (the order groups were met).
    for (s, why), ms in sorted(groups.items(), key=lambda g: g[0][0]):
        verb = "fails" if len(ms) == 1 else "fail"
        parts.append(f"At {format_size(s)} {_names(ms)} {verb} ({why}).")

    largest = sizes[-1]
    carriers = [m for m in live if ok(m, largest)]
    # An interrupted sweep may not have reached every path at the largest size:
    # "only" is said when every path that answered was measured there.
    all_measured = all((m, largest) in by for m in live)
    knees = [by[(m, largest)].record.knee for m in carriers if by[(m, largest)].record.knee]
    if carriers and len(carriers) < len(live):
        names = _names(carriers)
        text = f"Only {names}" if all_measured else names[0].upper() + names[1:]
        text += f" {'carries' if len(carriers) == 1 else 'carry'} {format_size(largest)}"
        if knees and knees[0] is not None:
            k = knees[0]
            text += (
                f", at about {format_rate(k.rate_after_burst_bytes_per_s)} after the first "
                f"{format_bytes(k.burst_bytes)} at full speed"
            )
        if not all_measured:
            text += " (the sweep stopped before the other paths were measured at that size)"
        parts.append(text + ".")
    elif carriers and knees and knees[0] is not None:
        k = knees[0]
        their, streams = ("their", "the streams") if len(carriers) > 1 else ("its", "the stream")
        parts.append(
            f"Past {their} first {format_bytes(k.burst_bytes)} {streams} slowed to about "
            f"{format_rate(k.rate_after_burst_bytes_per_s)}."
        )

    buffered = [m for m in live if m not in STREAMING_MODES]
    streaming = [m for m in live if m in STREAMING_MODES]
    compared = _ttfb_comparison(by, sizes)
    if compared:
        parts.append(compared)
    if streaming and buffered:
        cap: int | None = None
        for s in sizes:
            if not all(ok(m, s) for m in buffered):
                break
            cap = s
        sooner = _stream_first_sooner(by, sizes)
        # Recommend only the streaming paths that carried a size the buffered ones did not.
        past = [m for m in streaming if any(ok(m, s) for s in sizes if cap is None or s > cap)]
        if cap is not None and cap != sizes[-1]:
            text = (
                f"Use a buffered path only for responses that stay well under its limit "
                f"(here up to {format_size(cap)})"
            )
            if past:
                text += (
                    "; for larger responses"
                    + (", or to get the first byte sooner," if sooner else "")
                    + f" use {_names(past, 'or')}."
                )
            else:
                text += "; no path carried the larger sizes here."
            parts.append(text)
        elif cap is None and past:
            if any(ok(m, s) for m in buffered for s in sizes):
                parts.append(
                    f"Already at {format_size(sizes[0])} a buffered path fails: for responses "
                    f"this large use {_names(past, 'or')}."
                )
            else:
                parts.append(f"No buffered path carried any size here: use {_names(past, 'or')}.")
        elif cap is not None and sooner:
            parts.append(f"For the first byte sooner, use {_names(streaming, 'or')}.")
    if live and not any(c.ok for c in cells):
        parts.append("No path carried any size here.")
    for m in dead:
        first_cell = by.get((m, sizes[0]))
        why = _why(first_cell) if first_cell is not None else "failed"
        name = MODE_NAMES[m]
        parts.append(
            f"{name[0].upper()}{name[1:]} failed at every size ({why}): check that target."
        )
    return " ".join(parts)


def _clearly_less(a: float, b: float) -> bool:
    """``a`` is less than ``b`` by more than noise: at most half, and 1 ms or more apart."""
    return a <= 0.5 * b and b - a >= 1.0


def _stream_first_sooner(by: dict[tuple[str, int], Cell], sizes: Sequence[int]) -> bool:
    found = _ttfb_pair(by, sizes)
    return found is not None and _clearly_less(found[1], found[2])


def _ttfb_comparison(by: dict[tuple[str, int], Cell], sizes: Sequence[int]) -> str | None:
    """The streaming URL's first byte against the buffered URL's (or Invoke's)."""
    found = _ttfb_pair(by, sizes)
    if found is None:
        return None
    other, a, b, s = found
    if _clearly_less(a, b):
        word = "sooner"
    elif _clearly_less(b, a):
        word = "later"
    else:
        word = "about as soon"
    than = "as" if word == "about as soon" else "than"
    return (
        f"At {format_size(s)} the first byte came {word} over the streaming URL "
        f"({_ms_text(a)}) {than} over {MODE_NAMES[other]} ({_ms_text(b)})."
    )


def _ms_text(ms: float) -> str:
    return f"{ms:.1f} ms" if ms < 10 else f"{ms:.0f} ms"


def _ttfb_pair(
    by: dict[tuple[str, int], Cell], sizes: Sequence[int]
) -> tuple[str, float, float, int] | None:
    """(other mode, stream TTFB, other TTFB, size) at the largest size both carried."""
    for other in ("buffered", "invoke"):
        both = [
            s
            for s in sizes
            if by.get(("stream", s)) is not None
            and by[("stream", s)].ok
            and by.get((other, s)) is not None
            and by[(other, s)].ok
        ]
        if not both:
            continue
        s = both[-1]
        a, b = by[("stream", s)].record.ttfb_ms, by[(other, s)].record.ttfb_ms
        if a is None or b is None:
            continue
        return other, a, b, s
    return None
