"""The compare-modes sweep: one response size at a time, over every path given.

A :class:`Plan` (sizes, repeat, the targets) is run by :func:`iter_cells`,
a generator that yields one :class:`Cell` per (size, mode) as soon as it is
measured, so the caller can stop at any point (Ctrl-C) and still hold every
row measured so far. Nothing here prints: progress goes to a callback.

The URL modes (``stream``, ``buffered``, ``apigw``, ``apigw_stream``) go
through :func:`lstream_cli.engine.single.fetch`, the measurement ``get``
uses; the Lambda API modes through :mod:`lstream_cli.engine.lambda_api`.

A failed cell is a finding, not an error of the tool: its row names the
limit that explains it (:func:`lstream_cli.limits.attribute_limit`) and the
error the caller saw (status and body excerpt, or Invoke's ``FunctionError``
type). The conclusion's prose is :mod:`lstream_cli.render.conclusion`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from lstream_cli.engine.excerpt import BodyHead, Measured
from lstream_cli.engine.h1 import Client
from lstream_cli.engine.lambda_api import InvokeTarget, make_lambda_client, measure_invoke
from lstream_cli.engine.single import Progress, fetch, make_client
from lstream_cli.limits import attribute_limit
from lstream_cli.measure import MeterOptions
from lstream_cli.models import RequestRecord, round_or_none
from lstream_cli.modes import MODES, URL_MODES
from lstream_cli.request import RequestSpec
from lstream_cli.signing import Signer

__all__ = [
    "DEFAULT_SIZES",
    "WARMUP_SIZE",
    "Cell",
    "CellProgress",
    "Plan",
    "iter_cells",
    "size_url",
]

# Crosses the 6 MB buffered limit and API Gateway's 10 MB; streams run past
# their 6 MB (10 MB) burst long enough for the knee to show. About 30 s on
# the emulator at real rates.
DEFAULT_SIZES: tuple[int, ...] = (1_000_000, 5_000_000, 7_000_000, 12_000_000, 20_000_000)
_PROGRESS_EVERY_S = 0.1
WARMUP_SIZE = 1000  # bytes asked of each mode once, unmeasured, before the sweep


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
    meter_options: MeterOptions | None = None  # --events, --stall-timeout

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
            "events": rec.events,  # --events: null when not counted
            "ttfe_ms": r(rec.ttfe_ms),
        }


def size_url(base: str, size_param: str, size: int) -> str:
    """``base`` with ``size_param=<bytes>`` added to (or replacing it in) its query."""
    url = httpx.URL(base)
    return str(url.copy_merge_params({size_param: str(size)}))


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
        return measure_invoke(
            lam, plan.invoke, mode, size, tick, plan.size_param, plan.meter_options
        )

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


def _measure_url(
    plan: Plan,
    mode: str,
    size: int,
    client: Client,
    tick: Callable[[int], None] | None,
) -> Measured:
    spec = plan.spec.with_url(size_url(plan.urls[mode], plan.size_param, size))
    head = BodyHead()

    def progress(p: Progress) -> None:
        if tick is not None:
            tick(p.bytes)

    record = fetch(
        spec,
        plan.signers.get(mode),
        sink=head,
        on_progress=progress,
        client=client,
        options=plan.meter_options,
    )
    if record.ok:
        return Measured(record)
    # A function URL names its own failures in x-amzn-ErrorType (the emulator's
    # Function.ResponseSizeTooLarge on a buffered answer over 6,291,556 bytes,
    # whatever size was asked for: a base64 body is 4/3 of its object).
    error_type = next(
        (v for k, v in record.response_headers if k.lower() == "x-amzn-errortype"), None
    )
    excerpt = head.text()
    if error_type and error_type not in excerpt:
        excerpt = f"{error_type}: {excerpt}" if excerpt else error_type
    return Measured(record, excerpt=excerpt)
