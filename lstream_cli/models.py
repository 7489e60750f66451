"""Records the measurement produces: one frozen record per request.

A record holds instants as nanosecond offsets from ``t_start`` (the moment
the request began, or was scheduled to begin under an open-loop rate);
durations in milliseconds are derived from them, never stored twice.
"""

from __future__ import annotations

from dataclasses import MISSING, dataclass, field, fields
from enum import Enum
from typing import Any

__all__ = ["ErrorClass", "EventGaps", "Knee", "RequestRecord", "ns_to_ms", "round_or_none"]


class ErrorClass(str, Enum):
    """Why a request did not succeed; the keys of ``errors`` in reports."""

    CONNECT = "connect"  # refused, unreachable, DNS failure
    TLS = "tls"  # handshake or certificate verification failed
    TIMEOUT = "timeout"  # --timeout elapsed before the body ended
    TRUNCATED = "truncated"  # the body ended before the protocol said so
    HTTP_4XX = "http_4xx"
    HTTP_5XX = "http_5xx"
    THROTTLED = "throttled"  # 429 or TooManyRequestsException
    STALLED = "stalled"  # --stall-timeout: no event (or byte) for that long after the first byte

    def __str__(self) -> str:
        return self.value


def ns_to_ms(ns: int | None) -> float | None:
    return None if ns is None else ns / 1e6


def round_or_none(value: float | None, digits: int = 3) -> float | None:
    """``value`` rounded to ``digits`` decimals for a JSON document; None stays None."""
    return None if value is None else round(value, digits)


@dataclass(frozen=True, slots=True)
class Knee:
    """A stream that ran fast, then settled at a lower steady rate."""

    burst_bytes: int  # bytes delivered before the rate dropped
    rate_after_burst_bytes_per_s: float  # steady rate after the knee
    at_ms: float  # offset of the knee from t_start

    def to_json(self) -> dict[str, Any]:
        return {
            "burst_bytes": self.burst_bytes,
            "rate_after_burst_bytes_per_s": round(self.rate_after_burst_bytes_per_s, 1),
            "at_ms": round(self.at_ms, 3),
        }


@dataclass(frozen=True, slots=True)
class EventGaps:
    """The intervals between consecutive events of one response.

    Events completed by the same read arrived together: their intervals are
    0 and only counted (``zero``); the others are kept in order (ns).
    """

    zero: int  # intervals of 0 ns
    nonzero_ns: tuple[int, ...]  # the others, in arrival order

    @property
    def count(self) -> int:
        return self.zero + len(self.nonzero_ns)

    def percentile_ns(self, p: float) -> int | None:
        """Nearest-rank percentile of all the intervals (exact)."""
        from lstream_cli.stats import nearest_rank  # stats builds on this module

        n = self.count
        if n == 0:
            return None
        rank = nearest_rank(n, p)
        if rank <= self.zero:
            return 0
        return sorted(self.nonzero_ns)[rank - self.zero - 1]

    @property
    def max_ns(self) -> int | None:
        if self.nonzero_ns:
            return max(self.nonzero_ns)
        return 0 if self.zero else None

    def summary_ms(self) -> dict[str, float | None]:
        """``{p50, p90, p99, max}`` in milliseconds (None without two events)."""
        out: dict[str, float | None] = {}
        for label, p in (("p50", 50.0), ("p90", 90.0), ("p99", 99.0)):
            out[label] = round_or_none(ns_to_ms(self.percentile_ns(p)))
        out["max"] = round_or_none(ns_to_ms(self.max_ns))
        return out


@dataclass(frozen=True, slots=True)
class RequestRecord:
    """Everything measured about one request; offsets in ns from t_start."""

    t_start_ns: int  # perf_counter_ns() when the request began (or was scheduled)
    status: int | None  # HTTP status, None when no response arrived
    connect_ns: int | None  # TCP connect duration; None on a reused connection
    headers_ns: int | None  # offset: status line and headers received
    first_byte_ns: int | None  # offset: first body byte (= headers_ns for an empty body)
    end_ns: int | None  # offset: body ended (or the failure was noticed)
    bytes: int  # body bytes received
    reads: int  # body deliveries from the transport
    gap_max_ns: int | None  # longest silence between reads after the first byte
    gap_p99_ns: int | None  # 99th percentile of those silences
    knee: Knee | None  # burst-then-capped-rate pattern, if any
    complete: bool  # the body ended as the protocol says
    error: ErrorClass | None  # None on success
    error_detail: str | None = None  # one line for humans, never secrets
    response_headers: tuple[tuple[str, str], ...] = field(default=())
    dns_ns: int | None = None  # name resolution duration; None when not done for this request
    tls_ns: int | None = None  # TLS handshake duration; None for http or a reused connection
    notes: tuple[str, ...] = field(default=())  # what the client read leniently (TE + CL)
    # Events (--events): None when they were not counted for this response.
    events: int | None = None  # events dispatched
    first_event_ns: int | None = None  # offset: the first event's last byte arrived
    last_event_ns: int | None = None  # offset: the last event's last byte arrived
    event_gaps: EventGaps | None = None  # intervals between consecutive events

    @property
    def ok(self) -> bool:
        return self.error is None and self.complete

    @property
    def headers_ms(self) -> float | None:
        return ns_to_ms(self.headers_ns)

    @property
    def ttfb_ms(self) -> float | None:
        return ns_to_ms(self.first_byte_ns)

    @property
    def total_ms(self) -> float | None:
        return ns_to_ms(self.end_ns) if self.complete else None

    @property
    def connect_ms(self) -> float | None:
        return ns_to_ms(self.connect_ns)

    @property
    def dns_ms(self) -> float | None:
        return ns_to_ms(self.dns_ns)

    @property
    def tls_ms(self) -> float | None:
        return ns_to_ms(self.tls_ns)

    @property
    def gap_max_ms(self) -> float | None:
        return ns_to_ms(self.gap_max_ns)

    @property
    def gap_p99_ms(self) -> float | None:
        return ns_to_ms(self.gap_p99_ns)

    @property
    def bytes_per_s(self) -> float | None:
        """bytes / (total - ttfb): the body's own rate, TTFB excluded.

        None for a body that came in a single read: it has no span to divide
        by (what is left is the client's own bookkeeping time), so every
        client reports it the same way.
        """
        if self.first_byte_ns is None or self.end_ns is None or self.reads < 2:
            return None
        span = self.end_ns - self.first_byte_ns
        if span <= 0:
            return None
        return self.bytes * 1e9 / span

    @property
    def ttfe_ms(self) -> float | None:
        """Time to first event: what a user of the stream first sees."""
        return ns_to_ms(self.first_event_ns)

    @property
    def events_per_s(self) -> float | None:
        """Events after the first / (last event - first event); None below two events."""
        first, last, n = self.first_event_ns, self.last_event_ns, self.events
        if first is None or last is None or n is None or n < 2 or last <= first:
            return None
        return (n - 1) * 1e9 / (last - first)

    @property
    def looks_buffered(self) -> bool:
        """One delivery at the very end: the server held the body back."""
        return self.complete and self.reads <= 1 and self.bytes > 0

    def to_json(self, url: str) -> dict[str, Any]:
        """The ``get`` result of schemas/get.schema.json (schema_version added by render)."""
        r = round_or_none
        bps = self.bytes_per_s
        return {
            "url": url,
            "status": self.status,
            "headers_ms": r(self.headers_ms),
            "ttfb_ms": r(self.ttfb_ms),
            "total_ms": r(ns_to_ms(self.end_ns)),
            "dns_ms": r(self.dns_ms),
            "connect_ms": r(self.connect_ms),
            "tls_ms": r(self.tls_ms),
            "bytes": self.bytes,
            "reads": self.reads,
            "gap_max_ms": r(self.gap_max_ms),
            "gap_p99_ms": r(self.gap_p99_ms),
            "bytes_per_s": r(bps, 1),
            "knee": None if self.knee is None else self.knee.to_json(),
            "complete": self.complete,
            "error": None if self.error is None else self.error.value,
            "response_headers": dict(self.response_headers),
            "notes": list(self.notes),
            **self.events_json(),
        }

    def events_json(self) -> dict[str, Any]:
        """The event fields of a result (all None when events were not counted)."""
        gaps = self.event_gaps
        return {
            "events": self.events,
            "ttfe_ms": round_or_none(self.ttfe_ms),
            "event_gap_ms": None if gaps is None else gaps.summary_ms(),
            "events_per_s": round_or_none(self.events_per_s, 3),
        }


def _init_through_slots(cls: type) -> None:
    """Replace a frozen slots dataclass's ``__init__`` with one that fills each slot directly.

    The ``__init__`` dataclasses writes for a frozen class goes through
    ``object.__setattr__`` once per field; calling each slot's own descriptor
    builds the same object (same fields, defaults, equality, immutability
    afterwards) in about half the time. A load run builds one record per
    request, so this is on its hot path.
    """
    env: dict[str, Any] = {"_new": object.__new__}
    params: list[str] = []
    lines: list[str] = []
    for i, f in enumerate(fields(cls)):
        if f.default_factory is not MISSING:  # pragma: no cover - not used by records
            raise TypeError(f"{cls.__name__}.{f.name}: default_factory is not supported")
        if f.default is MISSING:
            params.append(f.name)
        else:
            env[f"_d{i}"] = f.default
            params.append(f"{f.name}=_d{i}")
        env[f"_s{i}"] = getattr(cls, f.name).__set__
        lines.append(f"    _s{i}(self, {f.name})\n")
    source = f"def __init__(self, {', '.join(params)}):\n{''.join(lines)}"
    exec(source, env)  # the source is built from the dataclass's own field names
    init = env["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    setattr(cls, "__init__", init)  # noqa: B010 - mypy forbids assigning a method


_init_through_slots(RequestRecord)
