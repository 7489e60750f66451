"""The per-second series of a load run: recorded in each worker, merged by second.

Each worker keeps a :class:`SeriesRecorder` for its measured phase. Second
``k`` is ``[begin + k s, begin + (k + 1) s)`` from the worker's own start of
the measured phase (after its warm-up). What lands in a second:

- ``started``: requests that started in it; ``requests``, ``ok``, ``errors``,
  ``status``: requests that finished in it (as the run's totals count them);
- ``in_flight``: the time-weighted mean of requests in flight over it (exact:
  the area under the in-flight curve, not samples);
- ``bytes``: body bytes that arrived in it, in-flight requests' bytes
  included (read from their meters when the second closes), so a long
  stream's bytes spread over the seconds that carried them;
- ``events``: with ``--events``, events that arrived in it, in-flight
  responses' included (read from their meters, as bytes are); None otherwise;
- TTFB and total time of the requests that finished in it, as raw
  microsecond -> count maps (the batching :class:`~.results.RunStats` uses).

A closed second is shipped as a small picklable dict (:func:`SeriesRecorder.take`)
and forgotten by the worker. The parent's :class:`SeriesMerger` adds the
counters of every worker for the same second and records their raw values
into one HDR histogram per metric, so the percentiles of a second are those
of one histogram holding every worker's values (exact merge, nothing
averaged). When every worker has shipped a second it is summarised into a
:class:`SeriesPoint` (p50/p90/p99) and its histograms are dropped: the
parent's memory grows by one small point per second, whatever the load.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from lstream_cli.models import ErrorClass, RequestRecord, round_or_none
from lstream_cli.stats import Histogram

__all__ = [
    "INTERVAL_NS",
    "SERIES_PERCENTILES",
    "SeriesMerger",
    "SeriesPoint",
    "SeriesRecorder",
]

INTERVAL_NS = 1_000_000_000  # one second
SERIES_PERCENTILES: tuple[tuple[str, float], ...] = (("p50", 50.0), ("p90", 90.0), ("p99", 99.0))
_MIN_LAST_NS = 10_000_000
_HIGHEST_US = 3_600_000_000  # as the run's latency histograms: up to 1 h, in microseconds


def _bump(counts: dict[Any, int], key: Any, n: int = 1) -> None:
    counts[key] = counts.get(key, 0) + n


def _int_counts(counts: Mapping[Any, Any]) -> Mapping[int, int]:
    """A shipped ``{raw: count}`` map with int keys: as it came from a worker (pickled),
    or converted when it went through JSON (string keys); one map, one key type."""
    if not counts or type(next(iter(counts))) is int:
        return counts
    return {int(raw): int(n) for raw, n in counts.items()}


class _Open:
    """The second being recorded in a worker."""

    __slots__ = (
        "area",
        "errors",
        "events",
        "ok",
        "requests",
        "started",
        "status",
        "total",
        "ttfb",
    )

    def __init__(self) -> None:
        self.started = 0
        self.requests = 0
        self.ok = 0
        self.errors: dict[ErrorClass, int] = {}
        self.status: dict[int, int] = {}
        self.events: int | None = None
        self.area = 0  # in-flight requests x nanoseconds
        self.ttfb: dict[int, int] = {}  # raw microseconds -> count
        self.total: dict[int, int] = {}


class SeriesRecorder:
    """One worker's per-second counters; not thread-safe (one event loop).

    ``bytes_received`` returns the body bytes received so far in the
    measured phase, in-flight requests included, and ``events_received``
    the events likewise (None when events are not counted); both are called
    once per closed second.
    """

    def __init__(
        self,
        begin_ns: int,
        bytes_received: Callable[[], int] | None = None,
        events_received: Callable[[], int | None] | None = None,
        interval_ns: int = INTERVAL_NS,
    ) -> None:
        self.begin_ns = begin_ns
        self.interval_ns = interval_ns
        self.bytes_received = bytes_received
        self.events_received = events_received
        self.k = 0  # the open second
        self.boundary_ns = begin_ns + interval_ns  # its end
        self.in_flight = 0
        self._changed_ns = begin_ns  # last change of in_flight (or second boundary)
        self._cur = _Open()
        self._bytes_seen = 0  # cumulative bytes at the last close
        self._events_seen = 0  # cumulative events at the last close
        self._closed: list[dict[str, Any]] = []

    # -- hot path -----------------------------------------------------------
    def _advance(self, now: int) -> None:
        if now >= self.boundary_ns:
            self._roll(now)
        self._cur.area += self.in_flight * (now - self._changed_ns)
        self._changed_ns = now

    def start(self) -> None:
        """A request started now."""
        now = time.perf_counter_ns()
        if now >= self.boundary_ns:
            self._roll(now)
        cur = self._cur
        cur.area += self.in_flight * (now - self._changed_ns)  # as _advance, inlined (hot path)
        self._changed_ns = now
        cur.started += 1
        self.in_flight += 1

    def add(self, rec: RequestRecord) -> None:
        """A request finished now (counted as :meth:`RunStats.add` counts it)."""
        now = time.perf_counter_ns()
        if now >= self.boundary_ns:
            self._roll(now)
        cur = self._cur
        in_flight = self.in_flight
        cur.area += in_flight * (now - self._changed_ns)  # as _advance, inlined (hot path)
        self._changed_ns = now
        if in_flight > 0:
            self.in_flight = in_flight - 1
        cur.requests += 1
        status = rec.status
        if status is not None:
            counts = cur.status
            counts[status] = counts.get(status, 0) + 1
        error = rec.error
        complete = rec.complete
        if error is None and complete:
            cur.ok += 1
        else:
            _bump(cur.errors, ErrorClass.TRUNCATED if error is None else error)
        if complete and rec.headers_ns is not None:
            first = rec.first_byte_ns
            if first is not None:
                v = first // 1000
                counts = cur.ttfb
                counts[v] = counts.get(v, 0) + 1
            end = rec.end_ns
            if end is not None:
                v = end // 1000
                counts = cur.total
                counts[v] = counts.get(v, 0) + 1

    # -- closing seconds ----------------------------------------------------
    def _roll(self, now: int) -> None:
        """Close every second that ended before ``now``."""
        while now >= self.boundary_ns:
            self._cur.area += self.in_flight * (self.boundary_ns - self._changed_ns)
            self._changed_ns = self.boundary_ns
            self._close(self.interval_ns)
            self.k += 1
            self.boundary_ns += self.interval_ns

    def _close(self, span_ns: int) -> None:
        cur = self._cur
        cumulative = self.bytes_received() if self.bytes_received is not None else 0
        # Bytes of a request cut at the end leave the in-flight count: never negative.
        got = max(0, cumulative - self._bytes_seen)
        self._bytes_seen = max(self._bytes_seen, cumulative)
        events = self.events_received() if self.events_received is not None else None
        if events is not None:
            cur.events = max(0, events - self._events_seen)
            self._events_seen = max(self._events_seen, events)
        self._closed.append(
            {
                "k": self.k,
                "span_s": span_ns / 1e9,
                "started": cur.started,
                "requests": cur.requests,
                "ok": cur.ok,
                "errors": {cls.value: n for cls, n in cur.errors.items()},
                "status": dict(cur.status),
                "in_flight": cur.area / span_ns if span_ns > 0 else float(self.in_flight),
                "bytes": got,
                "events": cur.events,
                "ttfb": cur.ttfb,
                "total": cur.total,
            }
        )
        self._cur = _Open()

    def tick(self, now_ns: int) -> list[dict[str, Any]]:
        """Close the seconds that ended by ``now_ns``; return every closed one not yet taken."""
        self._advance(now_ns)
        return self.take()

    def finish(self, end_ns: int) -> list[dict[str, Any]]:
        """End the series at ``end_ns`` (the last, partial second included)."""
        self._advance(end_ns)
        span = end_ns - (self.begin_ns + self.k * self.interval_ns)
        cur = self._cur
        # A last second of a few milliseconds with nothing in it says nothing.
        if span >= _MIN_LAST_NS or cur.started or cur.requests:
            self._close(max(0, span))
        return self.take()

    @property
    def closed(self) -> bool:
        """Closed seconds wait to be taken."""
        return bool(self._closed)

    def take(self) -> list[dict[str, Any]]:
        out, self._closed = self._closed, []
        return out


@dataclass(frozen=True, slots=True)
class SeriesPoint:
    """One second of the merged run."""

    t_s: int  # seconds since the measured phase began
    span_s: float  # the second's length: 1, or less for the last one
    started: int
    requests: int  # finished in this second
    ok: int
    errors: Mapping[ErrorClass, int]
    status: Mapping[int, int]
    in_flight: float  # time-weighted mean, all workers
    bytes: int  # body bytes that arrived in this second
    ttfb_ms: Mapping[str, float | None]  # p50, p90, p99 of requests finished in it
    total_ms: Mapping[str, float | None]
    events: int | None = None  # events that arrived in it; None when not measured
    target: float | None = None  # --stages: the mean target over the second

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())

    @property
    def rps(self) -> float:
        return self.requests / self.span_s if self.span_s > 0 else 0.0

    @property
    def bytes_per_s(self) -> float:
        return self.bytes / self.span_s if self.span_s > 0 else 0.0

    @property
    def events_per_s(self) -> float | None:
        if self.events is None:
            return None
        return self.events / self.span_s if self.span_s > 0 else 0.0

    def to_json(self) -> dict[str, Any]:
        r = round_or_none
        return {
            "t_s": self.t_s,
            "span_s": round(self.span_s, 6),
            "target": r(self.target, 3),
            "started": self.started,
            "requests": self.requests,
            "ok": self.ok,
            "errors": {
                k.value: v for k, v in sorted(self.errors.items(), key=lambda e: e[0].value)
            },
            "status": {str(k): v for k, v in sorted(self.status.items())},
            "in_flight": round(self.in_flight, 3),
            "bytes": self.bytes,
            "bytes_per_s": round(self.bytes_per_s, 1),
            "events_per_s": r(self.events_per_s, 3),
            "ttfb_ms": {k: r(v, 3) for k, v in self.ttfb_ms.items()},
            "total_ms": {k: r(v, 3) for k, v in self.total_ms.items()},
        }


@dataclass(slots=True)
class _Pending:
    """A second some workers have shipped: counters added, values in HDR histograms."""

    span_s: float = 0.0
    started: int = 0
    requests: int = 0
    ok: int = 0
    errors: dict[ErrorClass, int] = field(default_factory=dict)
    status: dict[int, int] = field(default_factory=dict)
    in_flight: float = 0.0
    bytes: int = 0
    events: int | None = None
    ttfb: Histogram = field(default_factory=lambda: Histogram(highest=_HIGHEST_US))
    total: Histogram = field(default_factory=lambda: Histogram(highest=_HIGHEST_US))

    def add(self, state: Mapping[str, Any]) -> None:
        self.span_s = max(self.span_s, float(state["span_s"]))
        self.started += int(state["started"])
        self.requests += int(state["requests"])
        self.ok += int(state["ok"])
        for name, n in state["errors"].items():
            _bump(self.errors, ErrorClass(name), int(n))
        for code, n in state["status"].items():
            _bump(self.status, int(code), int(n))
        # Means over the same second add up: the mean of the sum of the workers.
        self.in_flight += float(state["in_flight"])
        self.bytes += int(state["bytes"])
        if state.get("events") is not None:
            self.events = (self.events or 0) + int(state["events"])
        self.ttfb.record_counts(_int_counts(state["ttfb"]))
        self.total.record_counts(_int_counts(state["total"]))

    def point(self, k: int, target: float | None) -> SeriesPoint:
        return SeriesPoint(
            t_s=k,
            span_s=self.span_s,
            started=self.started,
            requests=self.requests,
            ok=self.ok,
            errors=self.errors,
            status=self.status,
            in_flight=self.in_flight,
            bytes=self.bytes,
            ttfb_ms=_percentiles(self.ttfb),
            total_ms=_percentiles(self.total),
            events=self.events,
            target=target,
        )


def _percentiles(hist: Histogram) -> dict[str, float | None]:
    values = hist.percentiles([p for _, p in SERIES_PERCENTILES])
    return {name: values[p] for name, p in SERIES_PERCENTILES}


class SeriesMerger:
    """The parent's side: merges the workers' seconds, keeps only the summaries.

    ``target`` gives the mean target over ``[t, t + span)`` (``--stages``),
    or is None. A second is summarised once every worker has shipped it (or
    has ended); until then it stays mergeable.
    """

    def __init__(self, workers: int, target: Callable[[float, float], float] | None = None):
        self.workers = workers
        self.target = target
        self._pending: dict[int, _Pending] = {}
        self._shipped = [-1] * workers  # highest second each worker has shipped
        self._ended = [False] * workers
        self.points: list[SeriesPoint] = []

    def add(self, worker: int, states: list[dict[str, Any]]) -> None:
        for state in states:
            k = int(state["k"])
            pending = self._pending.get(k)
            if pending is None:
                pending = self._pending[k] = _Pending()
            pending.add(state)
            self._shipped[worker] = max(self._shipped[worker], k)
        self._summarise()

    def end(self, worker: int) -> None:
        """``worker`` has shipped its last second."""
        self._ended[worker] = True
        self._summarise()

    def _summarise(self) -> None:
        live = [s for s, ended in zip(self._shipped, self._ended, strict=True) if not ended]
        ready = min(live) if live else None
        for k in sorted(self._pending):
            if ready is not None and k > ready:
                break
            pending = self._pending.pop(k)
            target = None if self.target is None else self.target(k, pending.span_s)
            self.points.append(pending.point(k, target))

    def finish(self) -> tuple[SeriesPoint, ...]:
        """Every second, in order (a worker that never ended is not waited for)."""
        self._ended = [True] * self.workers
        self._summarise()
        return tuple(self.points)
