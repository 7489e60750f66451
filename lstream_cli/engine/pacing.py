"""Pacing strategies: when the next request of a worker may start.

There is one worker loop (:mod:`lstream_cli.engine.load`); each of its
slots asks the pacing for a start time and sends when it gets one. The
strategy is the only thing that differs between the two modes:

- :class:`ClosedLoop` (``-c`` alone): a slot sends its next request as soon
  as its last one ended; the start time is "now".
- :class:`OpenLoop` (``-r``): requests are due at a constant arrival rate,
  ``t0 + i / rate``. A slot sleeps until the next due time (and never wakes
  before it: ``perf_counter_ns() >= due`` when it sends); when every slot
  was busy the request starts late, but its latency still counts from the
  due time, so a stalled server cannot hide the queueing (the coordinated
  omission of closed-loop tools). Starts later than :data:`LATE_AFTER_NS`
  are counted, as are due requests that never started before the end.

Both stop at a request count (``-n``), a deadline (``-z``) or on ``stop()``.
"""

from __future__ import annotations

import asyncio
import time

__all__ = ["LATE_AFTER_NS", "ClosedLoop", "OpenLoop", "Pacing"]

LATE_AFTER_NS = 10_000_000  # an open-loop start more than 10 ms after its due time is late


class Pacing:
    """Base strategy: hands out start times until the count or deadline is reached."""

    starts_now = False  # next_start() returns at once with "now" (closed loop)

    def __init__(self, count: int | None, deadline_ns: int | None) -> None:
        self.remaining = count  # requests still to start; None = until the deadline
        self.deadline_ns = deadline_ns  # perf_counter_ns after which nothing starts
        self.started = 0  # requests handed out
        self.late = 0  # open loop: started more than LATE_AFTER_NS after due
        self.stopped = False

    def stop(self) -> None:
        self.stopped = True

    def _take(self) -> bool:
        if self.stopped:
            return False
        if self.remaining is not None:
            if self.remaining <= 0:
                return False
            self.remaining -= 1
        self.started += 1
        return True

    def _untake(self) -> None:
        """Give back a start handed out but never used (stopped or cancelled)."""
        self.started -= 1
        if self.remaining is not None:
            self.remaining += 1

    async def next_start(self) -> int | None:  # pragma: no cover - interface
        raise NotImplementedError

    def not_started(self, now_ns: int) -> int:
        """Requests that were due but never started (open loop only)."""
        return 0


class ClosedLoop(Pacing):
    """Each slot starts its next request when the previous one ends."""

    starts_now = True

    def start_now(self) -> int | None:
        """The start time (now), or None when the run is over: no coroutine per request."""
        now = time.perf_counter_ns()
        if self.deadline_ns is not None and now >= self.deadline_ns:
            return None
        return now if self._take() else None

    async def next_start(self) -> int | None:
        return self.start_now()


class OpenLoop(Pacing):
    """Requests due at ``t0 + offset + i / rate``; latency counts from the due time."""

    def __init__(
        self,
        rate: float,
        t0_ns: int,
        count: int | None,
        deadline_ns: int | None,
        offset_ns: int = 0,
    ) -> None:
        super().__init__(count, deadline_ns)
        self.rate = rate  # requests per second for this worker
        self.interval_ns = 1e9 / rate
        self.first_ns = t0_ns + offset_ns  # due time of request 0

    def due(self, index: int) -> int:
        return self.first_ns + round(index * self.interval_ns)

    async def next_start(self) -> int | None:
        due = self.due(self.started)
        if self.deadline_ns is not None and due >= self.deadline_ns:
            return None
        if not self._take():
            return None
        now = time.perf_counter_ns()
        if due > now:
            try:
                # Never early: a loop's timer may fire before the instant asked for
                # (uvloop's clock has millisecond steps), so sleep until it has passed.
                while now < due:
                    await asyncio.sleep((due - now) / 1e9)
                    if self.stopped:
                        break
                    now = time.perf_counter_ns()
            except asyncio.CancelledError:
                self._untake()  # Ctrl-C or the deadline cancelled this slot
                raise
            if self.stopped:
                self._untake()
                return None
        elif now - due > LATE_AFTER_NS:
            self.late += 1
        return due

    def not_started(self, now_ns: int) -> int:
        end = now_ns if self.deadline_ns is None else min(now_ns, self.deadline_ns)
        if end <= self.first_ns:
            return 0
        # Requests due strictly before ``end`` (one due at the deadline never starts).
        due = int((end - self.first_ns) // self.interval_ns) + 1
        while due > 0 and self.due(due - 1) >= end:
            due -= 1
        while self.due(due) < end:
            due += 1
        if self.remaining is not None:
            due = min(due, self.started + self.remaining)
        return max(0, due - self.started)
