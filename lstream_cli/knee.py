"""Finding the bandwidth knee of one stream.

A Lambda response stream runs uncapped for its first 6 MB and then at
2 MBps; API Gateway's STREAM mode does the same after 10 MB. On a plot of
bytes received against time that is two straight lines: steep, then
shallow. We fit the cumulative curve with two segments joined at a
breakpoint (least squares over the breakpoints) and report a knee only when
the fit is good and the rate really drops and then holds.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

from lstream_cli.models import Knee

__all__ = ["MIN_AFTER_NS", "detect_knee", "downsample"]

MIN_AFTER_NS = 300_000_000  # the capped part must last at least 0.3 s to count
_MIN_DROP = 2.0  # rate before the knee must be at least 2x the rate after
_MAX_POINTS = 256  # breakpoint search is O(n^2): keep n small
_MIN_BURST_FRACTION = 0.02  # the burst must carry a visible share of the bytes


def downsample(
    points: Sequence[tuple[int, int]], limit: int = _MAX_POINTS
) -> list[tuple[int, int]]:
    """Keep at most ``limit`` points of (t_ns, cumulative bytes), evenly in time."""
    if len(points) <= limit:
        return list(points)
    t0 = points[0][0]
    span = points[-1][0] - t0
    out: list[tuple[int, int]] = []
    next_t: float = t0
    step = span / (limit - 1)
    for p in points:
        if p[0] >= next_t:
            out.append(p)
            next_t = p[0] + step
    if out[-1] != points[-1]:
        out.append(points[-1])
    return out


def detect_knee(points: Sequence[tuple[int, int]]) -> Knee | None:
    """``points``: (t_ns offset from t_start, cumulative bytes) after each read.

    The first point is the first body byte. Returns None when the stream
    kept one rate (or was too short to tell).
    """
    pts = downsample(points)
    if len(pts) < 6:
        return None
    t0, b0 = pts[0]
    tn, bn = pts[-1]
    if tn - t0 < MIN_AFTER_NS or bn - b0 <= 0:
        return None

    best: tuple[float, int] | None = None
    for k in range(1, len(pts) - 2):
        tk, bk = pts[k]
        if tn - tk < MIN_AFTER_NS or tk <= t0:
            continue
        s1 = (bk - b0) / (tk - t0)
        s2 = (bn - bk) / (tn - tk)
        err = 0.0
        for t, b in pts:
            pred = b0 + s1 * (t - t0) if t <= tk else bk + s2 * (t - tk)
            d = b - pred
            err += d * d
        if best is None or err < best[0]:
            best = (err, k)
    if best is None:
        return None

    tk, bk = pts[best[1]]
    rate_before = (bk - b0) * 1e9 / max(1, tk - t0)
    rate_after = (bn - bk) * 1e9 / (tn - tk)
    if rate_after <= 0 or rate_before < _MIN_DROP * rate_after:
        return None
    if bk - b0 < _MIN_BURST_FRACTION * (bn - b0):
        return None
    if not _steady(pts[best[1] :], rate_after):
        return None
    return Knee(burst_bytes=bk, rate_after_burst_bytes_per_s=rate_after, at_ms=tk / 1e6)


def _steady(tail: Sequence[tuple[int, int]], rate: float) -> bool:
    """The rate after the knee holds: each third of it is within 2x of ``rate``."""
    t_a, _ = tail[0]
    t_b, _ = tail[-1]
    span = t_b - t_a
    if span <= 0:
        return False
    bounds = [t_a + span * i // 3 for i in range(4)]
    for lo, hi in itertools.pairwise(bounds):
        seg = [p for p in tail if lo <= p[0] <= hi]
        if len(seg) < 2:
            continue
        dt = seg[-1][0] - seg[0][0]
        if dt <= 0:
            continue
        r = (seg[-1][1] - seg[0][1]) * 1e9 / dt
        if r > 2 * rate or r < rate / 2:
            return False
    return True
