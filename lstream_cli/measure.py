"""Turning transport events into a :class:`RequestRecord` (README: "Measurement, in one definition").

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

from lstream_cli.events import EventCounter, format_for_content_type, new_counter
from lstream_cli.knee import detect_knee
from lstream_cli.models import ErrorClass, EventGaps, RequestRecord
from lstream_cli.stats import percentile_exact

__all__ = ["BodyMeter", "EventsMode", "MeterOptions", "classify_status"]

# The (t, bytes) curve for the knee: reads are coalesced into time slots of
# 5 ms, counted from each slot's first read; past _TIMELINE_MAX points every
# other point is dropped and the slots double, so memory stays flat for any
# stream length while the curve keeps its shape.
_TIMELINE_SLOT_NS = 5_000_000
_TIMELINE_MAX = 1024  # the knee fit itself looks at 256


EventsMode = Literal["sse", "ndjson", "lines", "auto"]
_NO_GAPS: array[int] = array("q")  # shared by meters that count no events: never written


@dataclass(frozen=True, slots=True)
class MeterOptions:
    """What a meter measures beyond bytes, chosen once per run from the flags.

    The seam between the clients and the meter: a client constructs every
    meter with the run's options, hands each body delivery to
    :meth:`BodyMeter.data` (with the bytes themselves when
    :attr:`BodyMeter.wants_bytes` is true; to :meth:`BodyMeter.headers` with
    the response headers whenever :attr:`BodyMeter.wants_headers` is true),
    and ends the request as
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
        "_auto",
        "_counter",
        "_event_gaps",
        "_event_zero_gaps",
        "_gaps",
        "_last_read",
        "_slot_ns",
        "_slot_start",
        "_stall_ns",
        "_timeline",
        "bytes",
        "connect_ns",
        "dns_ns",
        "events",
        "first_byte_ns",
        "first_event_ns",
        "gap_max_ns",
        "headers_ns",
        "keep_timeline",
        "last_event_ns",
        "reads",
        "response_headers",
        "status",
        "t_start_ns",
        "tls_ns",
        "wants_bytes",
        "wants_headers",
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
        # True when headers() needs the response headers (--events auto reads
        # the Content-Type), even from a client that otherwise leaves them out.
        self.wants_headers = False
        self.dns_ns: int | None = None  # name resolution, None when not done for this request
        self.connect_ns: int | None = None  # TCP connect duration, None when reused
        self.tls_ns: int | None = None  # TLS handshake duration, None for http or when reused
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
        # Events (docs/events.md): counted by a parser over the body bytes;
        # None when the run does not count them (the bytes are not wanted).
        self._counter: EventCounter | None = None
        self._auto = False  # --events auto: the format comes with the headers
        self.events: int | None = None  # None: events not counted for this response
        self.first_event_ns: int | None = None  # offset of the first event's last byte
        self.last_event_ns: int | None = None
        # Intervals between consecutive events: those > 0 ns in order, and a
        # count of the 0 ns ones (events completed by the same read).
        self._event_gaps = _NO_GAPS  # its own array once events are counted
        self._event_zero_gaps = 0
        self._stall_ns: int | None = None
        if options is not None:
            self._stall_ns = options.stall_timeout_ns
            mode = options.events
            if mode == "auto":
                self._auto = self.wants_bytes = self.wants_headers = True
            elif mode is not None:
                self._counter = new_counter(mode)
                self._event_gaps = array("q")
                self.events = 0
                self.wants_bytes = True

    def connected(self, t_begin_ns: int, t_end_ns: int) -> None:
        self.connect_ns = t_end_ns - t_begin_ns

    def set_up(self, dns_ns: int | None, connect_ns: int | None, tls_ns: int | None) -> None:
        """The connection's set-up, phase by phase (durations; None = not done)."""
        self.dns_ns = dns_ns
        self.connect_ns = connect_ns
        self.tls_ns = tls_ns

    def headers(self, now_ns: int, status: int, headers: tuple[tuple[str, str], ...] = ()) -> None:
        self.headers_ns = now_ns - self.t_start_ns
        self.status = status
        self.response_headers = headers
        if self._auto:
            self._auto = False
            content_type = next((v for k, v in headers if k.lower() == "content-type"), None)
            fmt = format_for_content_type(content_type)
            if fmt is None:
                self.wants_bytes = False  # not an event stream: bytes only
            else:
                self._counter = new_counter(fmt)
                self._event_gaps = array("q")
                self.events = 0

    def idle_deadline_ns(self) -> int | None:
        """The perf_counter_ns instant by which the next byte must arrive, or None.

        A client that sees nothing arrive by then ends the request with
        ``finish(now, complete=False, error=ErrorClass.STALLED)``.
        With ``--stall-timeout``, once the first byte has arrived: the last
        event (the first byte, before any event) plus the limit, or the last
        byte plus the limit when events are not counted.
        """
        stall = self._stall_ns
        if stall is None or self.first_byte_ns is None:
            return None
        if self.events is None:
            last = self._last_read
        else:
            last = self.last_event_ns if self.last_event_ns is not None else self.first_byte_ns
        return None if last is None else self.t_start_ns + last + stall

    def stall_detail(self) -> str:
        """The one-line reason for a ``STALLED`` record (what stopped, since when)."""
        stall = (self._stall_ns or 0) / 1e6
        if self.events is None:
            return f"stalled: no byte for {stall:g} ms (--stall-timeout)"
        if self.last_event_ns is None:
            return f"stalled: no event for {stall:g} ms after the first byte (--stall-timeout)"
        return (
            f"stalled: no event for {stall:g} ms after event {self.events} "
            f"at {self.last_event_ns / 1e6:.1f} ms (--stall-timeout)"
        )

    def _events_at(self, off: int, k: int) -> None:
        """``k`` events completed by the delivery at offset ``off``."""
        last = self.last_event_ns
        if last is None:
            self.first_event_ns = off
            self._event_zero_gaps += k - 1
        elif off > last:
            self._event_gaps.append(off - last)
            self._event_zero_gaps += k - 1
        else:
            self._event_zero_gaps += k
        self.last_event_ns = off
        self.events = (self.events or 0) + k

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
        counter = self._counter
        if counter is not None and chunk is not None:
            k = counter.feed(chunk)
            if k:
                self._events_at(off, k)
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
        counter = self._counter
        if counter is not None and complete:
            k = counter.end()  # a last NDJSON line without its LF
            if k and self._last_read is not None:
                self._events_at(self._last_read, k)
        first = self.first_byte_ns
        if first is None and complete and self.headers_ns is not None:
            first = self.headers_ns  # empty body: TTFB is the headers
        if error is None and not complete:
            error = ErrorClass.TRUNCATED
        status = self.status
        if error is None and status is not None and status >= 400:
            error = classify_status(status)
        gap_p99: int | None = None
        if self.reads >= 2:
            gap_p99 = percentile_exact(self._gaps, 99.0) if self._gaps else self.gap_max_ns
        knee = None
        # A cut stream's knee is the knee of what arrived (the bytes are real).
        if self.keep_timeline and len(self._timeline) >= 6:
            knee = detect_knee(self._timeline)
        # Positional, in RequestRecord's field order: a third cheaper than keywords,
        # once per request of a load run (tests check every field lands in place).
        return RequestRecord(
            self.t_start_ns,  # t_start_ns
            self.status,  # status
            self.connect_ns,  # connect_ns
            self.headers_ns,  # headers_ns
            first,  # first_byte_ns
            end,  # end_ns
            self.bytes,  # bytes
            self.reads,  # reads
            self.gap_max_ns if self.reads >= 2 else None,  # gap_max_ns
            gap_p99,  # gap_p99_ns
            knee,  # knee
            complete,  # complete
            error,  # error
            detail,  # error_detail
            self.response_headers,  # response_headers
            self.dns_ns,  # dns_ns
            self.tls_ns,  # tls_ns
            (),  # notes (the client core adds its own)
            self.events,  # events
            self.first_event_ns,  # first_event_ns
            self.last_event_ns,  # last_event_ns
            None
            if self.events is None
            else EventGaps(self._event_zero_gaps, tuple(self._event_gaps)),  # event_gaps
        )
