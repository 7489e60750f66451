"""Bandwidth caps: a burst that goes out uncapped, then a steady rate.

Lambda streams the first 6 MB of a response uncapped and the rest at 2 MBps;
API Gateway's STREAM mode does the same after 10 MB. :class:`BurstThenRate`
is a token bucket of that shape: :meth:`delay` says how long to wait before
bytes past the burst may go, from the byte count and the clock alone (a pure
function, so tests need no sleeping). ``time_scale`` multiplies the rate.
"""

from __future__ import annotations

import asyncio
import time

__all__ = ["BurstThenRate"]


class BurstThenRate:
    """The first ``burst`` bytes are free; after that ``rate`` bytes per second."""

    __slots__ = ("_t_capped", "burst", "rate", "sent")

    def __init__(self, burst: int, rate: float) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.burst = burst  # bytes sent uncapped
        self.rate = rate  # bytes per second after the burst
        self.sent = 0  # bytes accounted so far
        self._t_capped: float | None = None  # when the burst ran out

    def delay(self, n: int, now: float) -> float:
        """Account ``n`` more bytes at time ``now``; seconds to wait before sending them."""
        self.sent += n
        excess = self.sent - self.burst
        if excess <= 0:
            return 0.0
        if self._t_capped is None:
            # The burst ran out with this write: the capped part starts now.
            self._t_capped = now
        due = self._t_capped + excess / self.rate
        return max(0.0, due - now)

    async def wait(self, n: int) -> None:
        """Sleep as long as the cap says before ``n`` more bytes go out."""
        pause = self.delay(n, time.monotonic())
        if pause > 0:
            await asyncio.sleep(pause)
