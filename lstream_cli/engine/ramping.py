"""Pacing strategies that follow ``--stages`` (:mod:`lstream_cli.engine.stages`).

- :class:`RampingClosedLoop`: a closed loop whose number of requests in
  flight follows the target. A slot that finished a request asks for its
  next start; it gets one at once while fewer slots than this worker's
  share of the target are busy, else it waits (checked every 10 ms) until
  the target rises or the run ends. Nothing in flight is cut when the
  target falls.
- :class:`RampingOpenLoop`: the open loop with a ramping arrival rate: the
  due times come from the area under the rate curve, the rest (late
  starts, latency from the due time, requests never started) is
  :class:`~lstream_cli.engine.pacing.OpenLoop`'s.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque

from lstream_cli.engine.pacing import OpenLoop, Pacing
from lstream_cli.engine.stages import Stages, share

__all__ = ["RampingClosedLoop", "RampingOpenLoop"]

_CHECK_S = 0.01  # how often waiting slots look at the target again


class RampingClosedLoop(Pacing):
    """Closed loop with ``share(target(t))`` requests in flight in this worker."""

    starts_now = True

    def __init__(
        self, stages: Stages, t0_ns: int, deadline_ns: int | None, index: int = 0, parts: int = 1
    ) -> None:
        super().__init__(None, deadline_ns)
        self.stages = stages
        self.t0_ns = t0_ns
        self.index = index
        self.parts = parts
        self._busy: set[asyncio.Task[object]] = set()  # slots holding a start
        self._waiting: deque[asyncio.Future[None]] = deque()
        self._woken = 0  # waiters released but not yet back in next_start
        self._timer: asyncio.TimerHandle | None = None

    def allowed(self, now_ns: int) -> int:
        """This worker's share of the target at ``now_ns``."""
        total = math.floor(self.stages.at((now_ns - self.t0_ns) / 1e9) + 1e-9)
        return share(total, self.parts, self.index)

    def _over(self, now: int) -> bool:
        return self.stopped or (self.deadline_ns is not None and now >= self.deadline_ns)

    def stop(self) -> None:
        super().stop()
        while self._waiting:
            fut = self._waiting.popleft()
            if not fut.done():
                fut.set_result(None)
                self._woken += 1

    def _wake(self) -> None:
        self._timer = None
        now = time.perf_counter_ns()
        free = len(self._waiting) if self._over(now) else self.allowed(now) - len(self._busy)
        free -= self._woken
        while free > 0 and self._waiting:
            fut = self._waiting.popleft()
            if not fut.done():
                fut.set_result(None)
                self._woken += 1
                free -= 1
        self._arm()

    def _arm(self) -> None:
        if self._waiting and self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(_CHECK_S, self._wake)

    async def next_start(self) -> int | None:
        task = asyncio.current_task()
        assert task is not None
        self._busy.discard(task)  # its last request, if any, has ended
        while True:
            now = time.perf_counter_ns()
            if self._over(now):
                return None
            if len(self._busy) < self.allowed(now):
                break
            fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._waiting.append(fut)
            self._arm()
            try:
                await fut
            finally:
                if fut.done() and not fut.cancelled():
                    self._woken -= 1
                elif not fut.done():
                    fut.cancel()
        if not self._take():
            return None
        self._busy.add(task)
        return now


class RampingOpenLoop(OpenLoop):
    """Open loop whose arrival rate follows the stages; worker ``index`` of ``parts``."""

    def __init__(
        self, stages: Stages, t0_ns: int, deadline_ns: int, index: int = 0, parts: int = 1
    ) -> None:
        Pacing.__init__(self, None, deadline_ns)
        self.stages = stages
        self.first_ns = t0_ns
        self.index = index
        self.parts = parts
        self.rate = stages.peak / parts
        self.interval_ns = 1e9 / self.rate if self.rate > 0 else math.inf

    def _arrival(self, i: int) -> int:
        """The run's arrival number of this worker's ``i``-th request (1-based)."""
        return i * self.parts + self.index + 1

    def due(self, index: int) -> int:
        t = self.stages.time_of_count(self._arrival(index))
        if t is None:
            return self.deadline_ns if self.deadline_ns is not None else 2**62
        return self.first_ns + round(t * 1e9)

    def not_started(self, now_ns: int) -> int:
        end = now_ns if self.deadline_ns is None else min(now_ns, self.deadline_ns)
        arrivals = math.floor(self.stages.count((end - self.first_ns) / 1e9) + 1e-9)
        mine = 0 if arrivals < self.index + 1 else (arrivals - self.index - 1) // self.parts + 1
        # Those due exactly at the end never start, as with the constant rate.
        while mine > self.started and self.due(mine - 1) >= end:
            mine -= 1
        return max(0, mine - self.started)
