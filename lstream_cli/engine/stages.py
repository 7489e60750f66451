"""``--stages``: a load that ramps, k6's way, and the arithmetic of its ramps.

``--stages '30s:50,1m:200,30s:0'`` is a list of ``DURATION:TARGET`` stages.
The target moves linearly from where the previous stage left it to the
stage's own target over the stage's duration (a stage of ``0s`` jumps). The
first stage starts from ``start``: ``-c`` (closed loop) or ``-r`` (open
loop) when given, else 0 (k6's ``startVUs`` / ``startRate``).

- Closed loop: the target is the number of requests in flight
  (connections busy). Requests in flight above a falling target are not
  cut: they finish, and their connection waits until the target rises.
- Open loop (``-r``): the target is the arrival rate, requests/s. Request
  ``j`` (1, 2, ...) is due when the area under the rate curve reaches ``j``,
  so the arrivals follow the ramp exactly; worker ``w`` of ``n`` takes the
  arrivals ``j = w + 1, w + 1 + n, ...``.

The run lasts the stages' total duration.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from lstream_cli.units import parse_duration

__all__ = ["Stage", "Stages", "parse_stages", "share"]


@dataclass(frozen=True, slots=True)
class Stage:
    """One stage: move to ``target`` over ``duration_s`` seconds."""

    duration_s: float
    target: float


@dataclass(frozen=True, slots=True)
class Stages:
    """The ramp: a start value and the stages after it."""

    start: float
    stages: tuple[Stage, ...]

    @property
    def total_s(self) -> float:
        return sum(s.duration_s for s in self.stages)

    @property
    def peak(self) -> float:
        return max([self.start, *(s.target for s in self.stages)])

    def _segments(self) -> list[tuple[float, float, float, float]]:
        """(t0, duration, value at t0, value at the end) for each stage."""
        out = []
        t, v = 0.0, self.start
        for s in self.stages:
            out.append((t, s.duration_s, v, s.target))
            t += s.duration_s
            v = s.target
        return out

    def at(self, t: float) -> float:
        """The target ``t`` seconds into the run (the last target after the end)."""
        value = self.start
        for t0, d, a, b in self._segments():
            if t < t0 + d:
                return a + (b - a) * (t - t0) / d if d > 0 else b
            value = b
        return value

    def count(self, t: float) -> float:
        """The area under the target from 0 to ``t`` (arrivals due by ``t`` for a rate)."""
        area = 0.0
        for t0, d, a, b in self._segments():
            if t <= t0:
                break
            x = min(t - t0, d)
            if d > 0:
                area += a * x + (b - a) * x * x / (2 * d)
        return area

    def mean(self, t: float, span: float) -> float:
        """The mean target over ``[t, t + span)``."""
        if span <= 0:
            return self.at(t)
        return (self.count(t + span) - self.count(t)) / span

    def time_of_count(self, n: float) -> float | None:
        """The first instant the area reaches ``n``; None when it never does."""
        area = 0.0
        for t0, d, a, b in self._segments():
            if d <= 0:
                continue
            seg = (a + b) / 2 * d
            if area + seg >= n:
                m = n - area  # a x + k x^2 = m within this stage
                k = (b - a) / (2 * d)
                disc = max(0.0, a * a + 4 * k * m)
                denom = a + math.sqrt(disc)
                x = 2 * m / denom if denom > 0 else 0.0  # stable for rising and falling
                return t0 + min(max(x, 0.0), d)
            area += seg
        return None

    def to_json(self) -> dict[str, Any]:
        return {
            "start": self.start,
            "stages": [{"duration_s": s.duration_s, "target": s.target} for s in self.stages],
        }


def share(total: int, parts: int, index: int) -> int:
    """Worker ``index``'s share of ``total`` split over ``parts`` (the shares add up)."""
    base, extra = divmod(total, parts)
    return base + (1 if index < extra else 0)


def parse_stages(text: str) -> tuple[Stage, ...]:
    """``"30s:50,1m:200,30s:0"`` -> stages; ValueError with a message fit for a usage error."""
    stages = []
    for part in text.split(","):
        item = part.strip()
        if not item:
            raise ValueError(f"empty stage in {text!r} (expected DURATION:TARGET,...)")
        duration, sep, target = item.partition(":")
        if not sep:
            raise ValueError(f"stage {item!r} is not DURATION:TARGET (e.g. 30s:50)")
        try:
            seconds = parse_duration(duration)
        except ValueError as exc:
            raise ValueError(f"stage {item!r}: {exc}") from None
        try:
            value = float(target)
        except ValueError:
            raise ValueError(f"stage {item!r}: the target {target!r} is not a number") from None
        if not math.isfinite(value) or value < 0:
            raise ValueError(f"stage {item!r}: the target must be a number >= 0")
        stages.append(Stage(seconds, value))
    if sum(s.duration_s for s in stages) <= 0:
        raise ValueError(f"the stages in {text!r} last no time at all")
    return tuple(stages)
