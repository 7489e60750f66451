"""Turning transport events into a :class:`RequestRecord` (DESIGN §2).

Every client (``get`` over httpx, the load engine over httptools, the
compare sweep) feeds the same :class:`BodyMeter`, so that one definition of
TTFB, gaps, throughput and knee holds everywhere: ``get`` and
``bench -n 1`` agree by construction.

Instants are ``time.perf_counter_ns()`` values; the meter stores offsets
from ``t_start``.
"""

from __future__ import annotations

from array import array
from dataclasses import dataclass
from typing import Literal

from lstream_cli.knee import detect_knee
from lstream_cli.models import ErrorClass, RequestRecord
from lstream_cli.stats import percentile_exact

__all__ = ["BodyMeter", "EventsMode", "MeterOptions", "classify_status"]

# The (t, bytes) curve for the knee: reads are coalesced into time slots of
# 5 ms, counted from each slot's first read; past _TIMELINE_MAX points every
# other point is dropped and the slots double, so memory stays flat for any
# stream length while the curve keeps its shape.
_TIMELINE_SLOT_NS = 5_000_000
_TIMELINE_MAX = 1024  # the knee fit itself looks at 256


EventsMode = Literal["sse", "ndjson", "lines", "auto"]


@dataclass(frozen=True, slots=True)
class MeterOptions:
    """What a meter measures beyond bytes, chosen once per run from the flags.

    The seam between the clients and the meter: a client constructs every
    meter with the run's options, hands each body delivery to
    :meth:`BodyMeter.data` (with the bytes themselves when
    :attr:`BodyMeter.wants_bytes` is true), and ends the request as
    ``ErrorClass.STALLED`` when nothing arrives by
    :meth:`BodyMeter.idle_deadline_ns`.
    """

    events: EventsMode | None = None  # --events: how the body splits into events
    stall_timeout_ns: int | None = None  # --stall-timeout, None = no limit


def classify_status(status: int, body_hint: bytes | str = b"") -> ErrorClass | None:
    """Map an HTTP status to an error class; None for success (1xx-3xx)."""
    if status == 429:
        return ErrorClass.THROTTLED
    if 400 <= status < 500:
        hint = body_hint if isinstance(body_hint, str) else body_hint[:512].decode("latin-1")
        if "TooManyRequests" in hint:
            return ErrorClass.THROTTLED
        return ErrorClass.HTTP_4XX
    if status >= 500:
        return ErrorClass.HTTP_5XX
    return None


class BodyMeter:
    """Accumulates one request's events; ``finish`` yields the record.

    ``keep_timeline`` (default on) keeps a coarse (t, bytes) curve for knee
    detection and per-read gaps for ``gap_p99``; the load engine turns it
    off for short bodies where neither means anything.
    """

    __slots__ = (
        "_gaps",
        "_last_read",
        "_slot_ns",
        "_slot_start",
        "_timeline",
        "bytes",
        "connect_ns",
        "first_byte_ns",
        "gap_max_ns",
        "headers_ns",
        "keep_timeline",
        "reads",
        "response_headers",
        "status",
        "t_start_ns",
        "wants_bytes",
    )

    def __init__(
        self,
        t_start_ns: int,
        keep_timeline: bool = True,
        options: MeterOptions | None = None,
    ) -> None:
        self.t_start_ns = t_start_ns  # perf_counter_ns at (scheduled) start
        self.keep_timeline = keep_timeline
        # True when data() needs the body bytes themselves (event parsing),
        # not only their count; clients check it once per delivery.
        self.wants_bytes = False
        self.connect_ns: int | None = None  # connect duration, None when reused
        self.headers_ns: int | None = None
        self.first_byte_ns: int | None = None
        self.status: int | None = None
        self.response_headers: tuple[tuple[str, str], ...] = ()
        self.bytes = 0
        self.reads = 0
        self.gap_max_ns = 0
        self._last_read: int | None = None
        self._gaps = array("q")
        self._timeline: list[tuple[int, int]] = []
        self._slot_start = 0  # offset of the current slot's first read
        self._slot_ns = _TIMELINE_SLOT_NS

    def connected(self, t_begin_ns: int, t_end_ns: int) -> None:
        self.connect_ns = t_end_ns - t_begin_ns

    def headers(self, now_ns: int, status: int, headers: tuple[tuple[str, str], ...] = ()) -> None:
        self.headers_ns = now_ns - self.t_start_ns
        self.status = status
        self.response_headers = headers

    def idle_deadline_ns(self) -> int | None:
        """The perf_counter_ns instant by which the next byte must arrive, or None.

        A client that sees nothing arrive by then ends the request with
        ``finish(now, complete=False, error=ErrorClass.STALLED)``.
        """
        return None

    def data(self, now_ns: int, n: int, chunk: bytes | memoryview | None = None) -> None:
        """One body delivery of ``n`` bytes at ``now_ns`` (``chunk``: the bytes, if wanted)."""
        if n <= 0:
            return
        off = now_ns - self.t_start_ns
        if self.first_byte_ns is None:
            self.first_byte_ns = off
        elif self._last_read is not None:
            gap = off - self._last_read
            if gap > self.gap_max_ns:
                self.gap_max_ns = gap
            if self.keep_timeline:
                self._gaps.append(gap)
        self._last_read = off
        self.bytes += n
        self.reads += 1
        if self.keep_timeline:
            tl = self._timeline
            if len(tl) > 1 and off - self._slot_start < self._slot_ns:
                # Coalesce into the current slot: move its end forward (the
                # slot itself stays where it began, so a steady stream of
                # close reads still yields one point per slot).
                tl[-1] = (off, self.bytes)
            else:
                tl.append((off, self.bytes))
                self._slot_start = off
                if len(tl) > _TIMELINE_MAX:
                    del tl[1:-1:2]  # keep the first byte and the latest point
                    self._slot_ns *= 2

    def finish(
        self,
        now_ns: int,
        complete: bool,
        error: ErrorClass | None = None,
        detail: str | None = None,
    ) -> RequestRecord:
        """Close the record. A status >= 400 sets its class unless one is given."""
        end = now_ns - self.t_start_ns
        first = self.first_byte_ns
        if first is None and complete and self.headers_ns is not None:
            first = self.headers_ns  # empty body: TTFB is the headers
        if error is None and not complete:
            error = ErrorClass.TRUNCATED
        if error is None and self.status is not None:
            error = classify_status(self.status)
        gap_p99: int | None = None
        if self.reads >= 2:
            gap_p99 = percentile_exact(self._gaps, 99.0) if self._gaps else self.gap_max_ns
        knee = None
        # A cut stream's knee is the knee of what arrived (the bytes are real).
        if self.keep_timeline and len(self._timeline) >= 6:
            knee = detect_knee(self._timeline)
        return RequestRecord(
            t_start_ns=self.t_start_ns,
            status=self.status,
            connect_ns=self.connect_ns,
            headers_ns=self.headers_ns,
            first_byte_ns=first,
            end_ns=end,
            bytes=self.bytes,
            reads=self.reads,
            gap_max_ns=self.gap_max_ns if self.reads >= 2 else None,
            gap_p99_ns=gap_p99,
            knee=knee,
            complete=complete,
            error=error,
            error_detail=detail,
            response_headers=self.response_headers,
        )
