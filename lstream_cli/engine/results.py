"""Counters and HDR histograms of a load run, their exact merge, and the report.

Each worker process keeps one :class:`RunStats`; at the end (and, for the
live dashboard, every quarter second) it ships ``to_state()`` to the parent,
which rebuilds and merges them. Merging adds counts and histogram buckets,
nothing is averaged, so percentiles of the whole run are those of one
histogram holding every value.

What goes into the latency histograms: every request whose response
completed (any status, so a fast 503 is visible); requests that failed to
connect, timed out or were cut mid-body are counted by class only.
``gap_max_ms`` needs at least two body reads and ``stream_bytes_per_s`` a
body spread over time (bytes / (total - ttfb)).

:func:`build_report` turns the merged :class:`RunStats` into a frozen
:class:`BenchReport`: typed figures (error classes, HDR histograms and their
summaries) that the renderer, the thresholds and the exit status read
directly; ``BenchReport.to_json`` is applied only when the result is written.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from lstream_cli.engine.series import SeriesPoint, SeriesRecorder
from lstream_cli.engine.stages import Stages
from lstream_cli.models import ErrorClass, RequestRecord, round_or_none
from lstream_cli.stats import Histogram, Summary

if TYPE_CHECKING:  # the threshold grammar: loaded by --fail-if only
    from lstream_cli.engine.thresholds import ThresholdResult

__all__ = [
    "CSV_COLUMNS",
    "METRICS",
    "SATURATED_CPU_PCT",
    "SATURATED_LAG_MS",
    "SATURATED_LATE_SHARE",
    "BenchReport",
    "BenchSettings",
    "ClientLoad",
    "RunStats",
    "build_report",
    "client_load",
]

# name -> (highest recordable raw value, scale raw units per display unit)
METRICS: dict[str, tuple[int, float]] = {
    "headers_ms": (3_600_000_000, 1000.0),  # microseconds, up to 1 h
    "ttfb_ms": (3_600_000_000, 1000.0),
    # TTFB apart by connection: the first request on a fresh connection (its
    # TCP connect, TLS handshake and any proxy tunnel inside the TTFB), and
    # requests on a kept-alive one; a connect storm shows in the first only.
    "ttfb_new_conn_ms": (3_600_000_000, 1000.0),
    "ttfb_reused_conn_ms": (3_600_000_000, 1000.0),
    "total_ms": (3_600_000_000, 1000.0),
    "gap_max_ms": (3_600_000_000, 1000.0),
    "stream_bytes_per_s": (1_000_000_000_000, 1.0),  # bytes/s, up to 1 TB/s
    # Set-up of the fresh connections that carried a response (kept-alive ones
    # have none): TCP connect and TLS handshake apart; DNS is once per worker.
    "connect_ms": (3_600_000_000, 1000.0),
    "tls_ms": (3_600_000_000, 1000.0),
    # --events (docs/events.md): every response whose events were counted
    "ttfe_ms": (3_600_000_000, 1000.0),  # time to first event
    "event_gap_ms": (3_600_000_000, 1000.0),  # every interval between two events
    "events_per_s": (1_000_000_000_000, 1000.0),  # per stream, in milli-events/s
}
_LAG = (60_000_000, 1000.0)  # event-loop lag, microseconds up to 60 s
CSV_COLUMNS = (
    "t_start_ms",
    "status",
    "connect_ms",
    "tls_ms",
    "headers_ms",
    "ttfb_ms",
    "total_ms",
    "bytes",
    "reads",
    "gap_max_ms",
    "error",
)
SATURATED_LAG_MS = 20.0  # event-loop lag p99 above this: the client was the bottleneck
SATURATED_CPU_PCT = 90.0  # a worker busy this share of wall time is saturated
# A CPU share says nothing about saturation over a blink: a run that ended in
# milliseconds (every connection refused) is mostly start-up, always "busy".
SATURATION_MIN_WALL_S = 0.5
# Open loop: more than this share of the requests due started late (LATE_AFTER_NS)
# or never started: the run did not keep up with -r, whatever the CPU figure.
SATURATED_LATE_SHARE = 0.05
SATURATION_MIN_DUE = 20  # fewer requests due than this: one late start says nothing
_MAX_DETAILS = 20  # distinct error messages kept (the rest are only counted)


def _hist(name: str) -> Histogram:
    highest, scale = METRICS[name]
    return Histogram(highest=highest, scale=scale)


def _ms(ns: int | None) -> float | None:
    return None if ns is None else round(ns / 1e6, 3)


class RunStats:
    """Everything one worker (or the merged run) counted. Not thread-safe."""

    def __init__(self, keep_rows: bool = False, recent: bool = False, t0_ns: int = 0) -> None:
        self.requests = 0  # requests finished (ok or not)
        self.ok = 0  # complete, status < 400
        self.errors: dict[ErrorClass, int] = {}  # error class -> count
        self.status: dict[int, int] = {}  # HTTP status -> count
        self.bytes = 0  # body bytes received, all requests
        self.knees = 0  # streams that showed a bandwidth knee
        self.details: dict[str, int] = {}  # "class: message" -> count (capped)
        self.late = 0  # open loop: started more than 10 ms after due
        self.not_started = 0  # open loop: due but never started before the end
        self.aborted = 0  # in flight when the run ended (not counted above)
        self.begin_ns: int | None = None  # measured phase began (perf_counter_ns)
        self.end_ns: int | None = None  # measured phase ended
        self.cpu_s: list[float] = []  # CPU seconds per worker process
        self.wall_s: list[float] = []  # wall seconds per worker process
        self.lag = Histogram(highest=_LAG[0], scale=_LAG[1])  # event-loop lag
        self._headers = _hist("headers_ms")
        self._ttfb = _hist("ttfb_ms")
        self._total = _hist("total_ms")
        # Hot-path batching: raw value -> count, folded into the histograms by
        # flush(). Latencies repeat at microsecond resolution, so a dict
        # increment replaces most HDR recordings (the result is identical).
        self._p_headers: dict[int, int] = {}
        self._p_ttfb: dict[int, int] = {}
        self._p_total: dict[int, int] = {}
        self._ttfb_new = _hist("ttfb_new_conn_ms")
        self._ttfb_reused = _hist("ttfb_reused_conn_ms")
        self._p_ttfb_new: dict[int, int] = {}
        self._p_ttfb_reused: dict[int, int] = {}
        self.gap_max = _hist("gap_max_ms")
        self.stream_bps = _hist("stream_bytes_per_s")
        self.connect = _hist("connect_ms")
        self.tls = _hist("tls_ms")
        self.recent_ttfb: Histogram | None = _hist("ttfb_ms") if recent else None
        self.events = 0  # events counted, all responses (--events)
        self._ttfe = _hist("ttfe_ms")
        self._event_gap = _hist("event_gap_ms")
        self.events_ps = _hist("events_per_s")
        self._p_ttfe: dict[int, int] = {}
        self._p_event_gap: dict[int, int] = {}
        self.recent_ttfe: Histogram | None = _hist("ttfe_ms") if recent else None
        self.rows: list[tuple[Any, ...]] | None = [] if keep_rows else None
        self.t0_ns = t0_ns  # origin of the CSV t_start_ms column
        # The measured phase's per-second series (shipped by the worker on its own).
        self.series: SeriesRecorder | None = None

    # -- hot path -------------------------------------------------------------
    def add(self, rec: RequestRecord) -> None:
        self.requests += 1
        self.bytes += rec.bytes
        status = rec.status
        if status is not None:
            self.status[status] = self.status.get(status, 0) + 1
        error = rec.error
        if error is None and rec.complete:
            self.ok += 1
        else:
            cls = ErrorClass.TRUNCATED if error is None else error
            self.errors[cls] = self.errors.get(cls, 0) + 1
            if rec.error_detail:
                key = f"{cls.value}: {rec.error_detail}"
                if key in self.details or len(self.details) < _MAX_DETAILS:
                    self.details[key] = self.details.get(key, 0) + 1
        if rec.complete and rec.headers_ns is not None:
            p = self._p_headers
            v = rec.headers_ns // 1000
            p[v] = p.get(v, 0) + 1
            first = rec.first_byte_ns
            if first is not None:
                v = first // 1000
                p = self._p_ttfb
                p[v] = p.get(v, 0) + 1
                # A fresh connection has a connect time; a kept-alive one has none.
                p = self._p_ttfb_reused if rec.connect_ns is None else self._p_ttfb_new
                p[v] = p.get(v, 0) + 1
                if self.recent_ttfb is not None:
                    self.recent_ttfb.record_raw(v)
            if rec.end_ns is not None:
                v = rec.end_ns // 1000
                p = self._p_total
                p[v] = p.get(v, 0) + 1
            if rec.reads >= 2:  # one read has neither a gap nor a rate (RequestRecord)
                if rec.gap_max_ns is not None:
                    self.gap_max.record_raw(rec.gap_max_ns // 1000)
                bps = rec.bytes_per_s
                if bps is not None:
                    self.stream_bps.record_raw(int(bps))
            if rec.knee is not None:
                self.knees += 1
        if status is not None:  # the connection carried a response: its set-up counts
            if rec.connect_ns is not None:
                self.connect.record_raw(rec.connect_ns // 1000)
            if rec.tls_ns is not None:
                self.tls.record_raw(rec.tls_ns // 1000)
        if rec.events is not None:
            self._add_events(rec)
        if self.rows is not None:
            self.rows.append(
                (
                    _ms(rec.t_start_ns - self.t0_ns),
                    status,
                    _ms(rec.connect_ns),
                    _ms(rec.tls_ns),
                    _ms(rec.headers_ns),
                    _ms(rec.first_byte_ns),
                    _ms(rec.end_ns) if rec.complete else None,
                    rec.bytes,
                    rec.reads,
                    _ms(rec.gap_max_ns),
                    None if rec.error is None else rec.error.value,
                )
            )
        if self.series is not None:
            self.series.add(rec)

    def _add_events(self, rec: RequestRecord) -> None:
        """Event figures of any response whose events were counted, complete or not."""
        self.events += rec.events or 0
        if rec.first_event_ns is not None:
            v = rec.first_event_ns // 1000
            p = self._p_ttfe
            p[v] = p.get(v, 0) + 1
            if self.recent_ttfe is not None:
                self.recent_ttfe.record_raw(v)
        gaps = rec.event_gaps
        if gaps is not None:
            p = self._p_event_gap
            if gaps.zero:
                p[0] = p.get(0, 0) + gaps.zero
            for gap in gaps.nonzero_ns:
                v = gap // 1000
                p[v] = p.get(v, 0) + 1
        rate = rec.events_per_s
        if rate is not None:
            self.events_ps.record_raw(round(rate * 1000))

    def take_recent_ttfe(self) -> Histogram | None:
        """The TTFE histogram since the last call (for the dashboard), reset."""
        recent = self.recent_ttfe
        if recent is not None:
            self.recent_ttfe = _hist("ttfe_ms")
        return recent

    def take_recent(self) -> Histogram | None:
        """The TTFB histogram since the last call (for the dashboard), reset."""
        recent = self.recent_ttfb
        if recent is not None:
            self.recent_ttfb = _hist("ttfb_ms")
        return recent

    # -- histograms by report name --------------------------------------------
    def flush(self) -> None:
        """Fold the batched values into the histograms."""
        for pending, hist in (
            (self._p_headers, self._headers),
            (self._p_ttfb, self._ttfb),
            (self._p_ttfb_new, self._ttfb_new),
            (self._p_ttfb_reused, self._ttfb_reused),
            (self._p_total, self._total),
            (self._p_ttfe, self._ttfe),
            (self._p_event_gap, self._event_gap),
        ):
            if pending:
                hist.record_counts(pending)
                pending.clear()

    @property
    def headers(self) -> Histogram:
        self.flush()
        return self._headers

    @property
    def ttfb(self) -> Histogram:
        self.flush()
        return self._ttfb

    @property
    def total(self) -> Histogram:
        self.flush()
        return self._total

    def histograms(self) -> dict[str, Histogram]:
        self.flush()
        return {
            "headers_ms": self.headers,
            "ttfb_ms": self.ttfb,
            "ttfb_new_conn_ms": self._ttfb_new,
            "ttfb_reused_conn_ms": self._ttfb_reused,
            "total_ms": self.total,
            "gap_max_ms": self.gap_max,
            "stream_bytes_per_s": self.stream_bps,
            "connect_ms": self.connect,
            "tls_ms": self.tls,
            "ttfe_ms": self._ttfe,
            "event_gap_ms": self._event_gap,
            "events_per_s": self.events_ps,
        }

    # -- shipping and merging -------------------------------------------------
    def to_state(self) -> dict[str, Any]:
        """A picklable, JSON-safe state from which ``from_state`` rebuilds this exactly."""
        return {
            "requests": self.requests,
            "ok": self.ok,
            "errors": {k.value: v for k, v in self.errors.items()},
            "status": {str(k): v for k, v in self.status.items()},
            "bytes": self.bytes,
            "knees": self.knees,
            "events": self.events,
            "details": dict(self.details),
            "late": self.late,
            "not_started": self.not_started,
            "aborted": self.aborted,
            "begin_ns": self.begin_ns,
            "end_ns": self.end_ns,
            "cpu_s": list(self.cpu_s),
            "wall_s": list(self.wall_s),
            "lag": self.lag.to_state(),
            "histograms": {k: h.to_state() for k, h in self.histograms().items()},
            "rows": self.rows,
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> RunStats:
        stats = cls(keep_rows=state.get("rows") is not None)
        stats.merge_state(state)
        return stats

    def merge_state(self, state: dict[str, Any]) -> None:
        other = RunStats()
        other.requests = int(state["requests"])
        other.ok = int(state["ok"])
        other.errors = {ErrorClass(k): int(v) for k, v in state["errors"].items()}
        other.status = {int(k): int(v) for k, v in state["status"].items()}
        other.bytes = int(state["bytes"])
        other.knees = int(state["knees"])
        other.events = int(state.get("events", 0))
        other.details = {str(k): int(v) for k, v in state.get("details", {}).items()}
        other.late = int(state.get("late", 0))
        other.not_started = int(state.get("not_started", 0))
        other.aborted = int(state.get("aborted", 0))
        other.begin_ns = state.get("begin_ns")
        other.end_ns = state.get("end_ns")
        other.cpu_s = [float(v) for v in state.get("cpu_s", [])]
        other.wall_s = [float(v) for v in state.get("wall_s", [])]
        other.lag = Histogram.from_state(state["lag"])
        hists = state["histograms"]
        other._headers = Histogram.from_state(hists["headers_ms"])
        other._ttfb = Histogram.from_state(hists["ttfb_ms"])
        other._total = Histogram.from_state(hists["total_ms"])
        other.gap_max = Histogram.from_state(hists["gap_max_ms"])
        other.stream_bps = Histogram.from_state(hists["stream_bytes_per_s"])
        other.connect = Histogram.from_state(hists["connect_ms"])
        other.tls = Histogram.from_state(hists["tls_ms"])
        if "ttfb_new_conn_ms" in hists:
            other._ttfb_new = Histogram.from_state(hists["ttfb_new_conn_ms"])
            other._ttfb_reused = Histogram.from_state(hists["ttfb_reused_conn_ms"])
        if "ttfe_ms" in hists:
            other._ttfe = Histogram.from_state(hists["ttfe_ms"])
            other._event_gap = Histogram.from_state(hists["event_gap_ms"])
            other.events_ps = Histogram.from_state(hists["events_per_s"])
        rows = state.get("rows")
        other.rows = None if rows is None else [tuple(r) for r in rows]
        self.merge(other)

    def merge(self, other: RunStats) -> None:
        """Add ``other`` into this one: counts add, histograms merge exactly."""
        self.requests += other.requests
        self.ok += other.ok
        for cls, v in other.errors.items():
            self.errors[cls] = self.errors.get(cls, 0) + v
        for code, v in other.status.items():
            self.status[code] = self.status.get(code, 0) + v
        self.bytes += other.bytes
        self.knees += other.knees
        self.events += other.events
        for k, v in other.details.items():
            if k in self.details or len(self.details) < _MAX_DETAILS:
                self.details[k] = self.details.get(k, 0) + v
        self.late += other.late
        self.not_started += other.not_started
        self.aborted += other.aborted
        if other.begin_ns is not None:
            self.begin_ns = (
                other.begin_ns if self.begin_ns is None else min(self.begin_ns, other.begin_ns)
            )
        if other.end_ns is not None:
            self.end_ns = other.end_ns if self.end_ns is None else max(self.end_ns, other.end_ns)
        self.cpu_s.extend(other.cpu_s)
        self.wall_s.extend(other.wall_s)
        self.lag.merge(other.lag)
        mine = self.histograms()
        for name, hist in other.histograms().items():
            mine[name].merge(hist)
        if other.rows is not None:
            if self.rows is None:
                self.rows = []
            self.rows.extend(other.rows)

    @property
    def duration_s(self) -> float:
        if self.begin_ns is None or self.end_ns is None:
            return 0.0
        return max(0.0, (self.end_ns - self.begin_ns) / 1e9)

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())


@dataclass(frozen=True, slots=True)
class BenchSettings:
    """The run as it was asked for: written into the result beside the figures."""

    mode: str = "closed"  # "closed" or "open" (-r)
    concurrency: int = 0  # -c
    rate: float | None = None  # -r, requests/s
    workers: int = 1  # processes used
    requests_target: int | None = None  # -n
    duration_target_s: float | None = None  # -z
    warmup: str | None = None  # --warmup as written
    timeout_s: float | None = None  # --timeout
    stages: Stages | None = None  # --stages: the ramp (connections, or req/s with -r)
    proxy: str | None = None  # the proxy and where it was set (no password); None: direct
    ca_bundle: str | None = None  # what verified the certificates; None: plain http
    events_format: str | None = None  # --events
    stall_timeout_s: float | None = None  # --stall-timeout

    def to_json(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "concurrency": self.concurrency,
            "rate": self.rate,
            "workers": self.workers,
            "requests_target": self.requests_target,
            "duration_target_s": self.duration_target_s,
            "warmup": self.warmup,
            "timeout_s": self.timeout_s,
            "stages": None if self.stages is None else self.stages.to_json(),
            "proxy": self.proxy,
            "ca_bundle": self.ca_bundle,
            "events_format": self.events_format,
            "stall_timeout_s": self.stall_timeout_s,
        }


@dataclass(frozen=True, slots=True)
class ClientLoad:
    """The load generator's own load: a saturated client is not blamed on the server."""

    cpu_pct: float | None  # mean CPU share per worker process
    cpu_pct_max: float | None  # the busiest worker's
    loop_lag_ms_p99: float | None  # event-loop lag p99
    warnings: tuple[str, ...] = ()  # why the client may have been the bottleneck
    # Why the run could not keep up, in short ("; " between causes); None when it did.
    reason: str | None = None

    @property
    def saturated(self) -> bool:
        return self.reason is not None

    def to_json(self) -> dict[str, Any]:
        return {
            "cpu_pct": round_or_none(self.cpu_pct, 1),
            "cpu_pct_max": round_or_none(self.cpu_pct_max, 1),
            "loop_lag_ms_p99": round_or_none(self.loop_lag_ms_p99, 3),
            "saturated": self.saturated,
            "reason": self.reason,
            "warnings": list(self.warnings),
        }


@dataclass(frozen=True, slots=True)
class BenchReport:
    """The result of one ``bench`` run, typed to the edge; JSON only when written.

    ``histograms`` holds one HDR histogram per metric of :data:`METRICS`
    (by its report name) and ``summaries`` their summaries; a metric added
    to :data:`METRICS` flows through both and into the JSON with no other
    change here. ``thresholds`` is filled by the caller once evaluated.
    """

    url: str  # as displayed: presigned query values redacted
    requests: int  # finished (ok or not)
    ok: int
    errors: Mapping[ErrorClass, int]  # by class
    status: Mapping[int, int]  # by HTTP status
    duration_s: float  # the measured phase
    bytes: int
    histograms: Mapping[str, Histogram]  # metric name -> histogram (METRICS)
    summaries: Mapping[str, Summary]  # metric name -> its summary
    lag: Histogram  # event-loop lag, ms
    knees: int  # streams that showed a bandwidth knee
    client: ClientLoad
    late_starts: int  # open loop: started more than 10 ms after due
    never_started: int  # open loop: due but never started
    aborted_in_flight: int  # in flight when the run ended (not counted)
    interrupted: bool  # ended by Ctrl-C
    error_details: Mapping[str, int]  # "class: message" -> count, most frequent first
    settings: BenchSettings = field(default_factory=BenchSettings)
    thresholds: tuple[ThresholdResult, ...] = ()
    series: tuple[SeriesPoint, ...] = ()  # per second of the measured phase
    events: int | None = None  # --events: counted over all responses; None without

    @property
    def rps(self) -> float:
        return self.requests / self.duration_s if self.duration_s > 0 else 0.0

    @property
    def bytes_per_s(self) -> float:
        return self.bytes / self.duration_s if self.duration_s > 0 else 0.0

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())

    @property
    def not_started_on_time(self) -> int:
        return self.late_starts + self.never_started

    def to_json(self) -> dict[str, Any]:
        """The ``bench`` result document (docs/bench.md); the caller adds schema_version."""
        doc: dict[str, Any] = {
            "url": self.url,
            "requests": self.requests,
            "ok": self.ok,
            "errors": {k.value: v for k, v in sorted(self.errors.items(), key=_by_value)},
            "status": {str(k): v for k, v in sorted(self.status.items())},
            "duration_s": round(self.duration_s, 6),
            "rps": round(self.rps, 3),
            "bytes": self.bytes,
            "bytes_per_s": round(self.bytes_per_s, 1),
        }
        for name, summary in self.summaries.items():
            doc[name] = summary.to_json(_digits(name))
        doc["knees"] = self.knees
        doc["events"] = self.events
        doc["client"] = self.client.to_json()
        doc["not_started_on_time"] = self.not_started_on_time
        doc["late_starts"] = self.late_starts
        doc["never_started"] = self.never_started
        doc["aborted_in_flight"] = self.aborted_in_flight
        doc["interrupted"] = self.interrupted
        doc["error_details"] = dict(self.error_details)
        doc.update(self.settings.to_json())
        doc["histograms"] = {k: h.to_state() for k, h in self.histograms.items()}
        doc["histograms"]["loop_lag_ms"] = self.lag.to_state()
        doc["thresholds"] = [t.to_json() for t in self.thresholds]
        doc["series"] = [p.to_json() for p in self.series]
        return doc


def _by_value(item: tuple[ErrorClass, int]) -> str:
    return item[0].value


def _digits(name: str) -> int:
    """Decimals a metric's figures are written with: rates in whole-ish bytes/s."""
    return 1 if name == "stream_bytes_per_s" else 3


def client_load(stats: RunStats) -> ClientLoad:
    """The client's CPU and event-loop lag, and whether (and why) the run could not keep up.

    Saturated, whatever the CPU figure, when: the event-loop lag p99 exceeds
    :data:`SATURATED_LAG_MS` (requests waited on the client); an open-loop run
    started more than :data:`SATURATED_LATE_SHARE` of its due requests late
    or never (it did not deliver the rate asked for); a worker was busy
    :data:`SATURATED_CPU_PCT` of a run of at least :data:`SATURATION_MIN_WALL_S`.
    """
    cpu_pct = [
        100.0 * c / w if w > 0 else 0.0 for c, w in zip(stats.cpu_s, stats.wall_s, strict=True)
    ]
    lag_p99 = stats.lag.percentile(99.0)
    warnings: list[str] = []
    reasons: list[str] = []
    lagging = lag_p99 is not None and lag_p99 > SATURATED_LAG_MS
    if lagging:
        assert lag_p99 is not None
        reasons.append(f"event-loop lag p99 {lag_p99:.1f} ms (over {SATURATED_LAG_MS:g} ms)")
        warnings.append(
            f"event-loop lag p99 {lag_p99:.1f} ms: the client was saturated; "
            "latencies include client queueing (add --workers or lower -c/-r)"
        )
    behind = stats.late + stats.not_started
    due = stats.requests + stats.aborted + stats.not_started
    if due >= SATURATION_MIN_DUE and behind > SATURATED_LATE_SHARE * due:
        share = behind / due
        reasons.append(
            f"open loop: {share:.0%} of {due:,} requests due started late or never "
            f"({stats.late:,} late, {stats.not_started:,} never)"
        )
        why = (
            "the client could not keep up (add --workers, or lower -r)"
            if lagging
            else "every connection was busy (raise -c, or lower -r: the server's "
            "latency times the rate needs more connections)"
        )
        warnings.append(
            f"{share:.0%} of the requests due started more than 10 ms late or never "
            f"started: the run did not deliver the rate asked for; {why}"
        )
    busy = [
        pct
        for pct, wall in zip(cpu_pct, stats.wall_s, strict=True)
        if wall >= SATURATION_MIN_WALL_S and pct >= SATURATED_CPU_PCT
    ]
    if busy:
        reasons.append(f"a worker used {max(busy):.0f}% of a CPU")
        warnings.append(
            f"a worker process used {max(busy):.0f}% of a CPU: the client may be the "
            "bottleneck, not the server"
        )
    return ClientLoad(
        cpu_pct=sum(cpu_pct) / len(cpu_pct) if cpu_pct else None,
        cpu_pct_max=max(cpu_pct) if cpu_pct else None,
        loop_lag_ms_p99=lag_p99,
        warnings=tuple(warnings),
        reason="; ".join(reasons) or None,
    )


def build_report(
    stats: RunStats,
    url: str,
    settings: BenchSettings | None = None,
    interrupted: bool = False,
    series: tuple[SeriesPoint, ...] = (),
) -> BenchReport:
    """The typed ``bench`` result of a merged run; thresholds are evaluated on it after."""
    histograms = stats.histograms()
    return BenchReport(
        url=url,
        requests=stats.requests,
        ok=stats.ok,
        errors=dict(stats.errors),
        status=dict(stats.status),
        duration_s=stats.duration_s,
        bytes=stats.bytes,
        histograms=histograms,
        summaries={name: hist.summary() for name, hist in histograms.items()},
        lag=stats.lag,
        knees=stats.knees,
        client=client_load(stats),
        late_starts=stats.late,
        never_started=stats.not_started,
        aborted_in_flight=stats.aborted,
        interrupted=interrupted,
        error_details=dict(sorted(stats.details.items(), key=lambda kv: -kv[1])),
        settings=settings or BenchSettings(),
        series=series,
        events=stats.events if settings is not None and settings.events_format else None,
    )
