"""The one statistics module: HDR histograms and the summaries drawn from them.

Every percentile lstream prints comes from here. Values are recorded as
integers in a fixed unit per metric (microseconds for times, bytes/s for
rates) so that histograms from worker processes merge exactly: merging
adds bucket counts, nothing is averaged or resampled.
"""

from __future__ import annotations

import bisect
import itertools
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from lstream_cli.models import round_or_none

__all__ = [
    "PERCENTILES",
    "Histogram",
    "Summary",
    "nearest_rank",
    "percentile_exact",
    "summarize_values",
]

# (label, percentile) pairs reported everywhere, in order.
PERCENTILES: tuple[tuple[str, float], ...] = (
    ("p50", 50.0),
    ("p90", 90.0),
    ("p99", 99.0),
    ("p999", 99.9),
)

_SIGNIFICANT_DIGITS = 3


@dataclass(frozen=True, slots=True)
class Summary:
    """min, p50, p90, p99, p99.9, max and mean of one metric, in its display unit."""

    count: int
    min: float | None
    p50: float | None
    p90: float | None
    p99: float | None
    p999: float | None
    max: float | None
    mean: float | None

    def to_json(self, digits: int = 3) -> dict[str, Any]:
        r = round_or_none
        return {
            "count": self.count,
            "min": r(self.min, digits),
            "p50": r(self.p50, digits),
            "p90": r(self.p90, digits),
            "p99": r(self.p99, digits),
            "p999": r(self.p999, digits),
            "max": r(self.max, digits),
            "mean": r(self.mean, digits),
        }


class Histogram:
    """An HDR histogram of one metric.

    ``scale`` converts a display value to the recorded integer unit: a
    histogram of milliseconds recorded in microseconds has ``scale=1000``.
    Values above the trackable range are clamped to it and counted in
    ``clamped`` rather than dropped, so a count is never lost.
    """

    __slots__ = ("_h", "_max", "_min", "_sum", "clamped", "highest", "scale")

    def __init__(self, highest: int = 3_600_000_000, scale: float = 1000.0) -> None:
        self.highest = highest  # largest recordable integer (recorded unit)
        self.scale = scale  # recorded unit per display unit
        self.clamped = 0  # values clamped to ``highest``
        # Imported here: a run that makes no histogram (``get``) never loads hdrh.
        from hdrh.histogram import HdrHistogram

        self._h = HdrHistogram(1, highest, _SIGNIFICANT_DIGITS)
        # Exact extremes and sum: HDR buckets are within 0.1%, these are exact.
        self._min: int | None = None
        self._max: int | None = None
        self._sum = 0

    # -- recording ----------------------------------------------------------
    def record(self, value: float) -> None:
        """Record one value in display units (e.g. milliseconds)."""
        self.record_raw(round(value * self.scale))

    def record_raw(self, raw: int, count: int = 1) -> None:
        """Record a value already in the recorded integer unit, ``count`` times."""
        if count <= 0:
            return
        if raw < 0:
            raw = 0
        if raw > self.highest:
            raw = self.highest
            self.clamped += count
        self._h.record_value(raw, count)
        self._sum += raw * count
        if self._min is None or raw < self._min:
            self._min = raw
        if self._max is None or raw > self._max:
            self._max = raw

    def record_counts(self, counts: Mapping[int, int]) -> None:
        """Record many raw values at once, ``{raw value: count}``: the batched hot path.

        The same histogram as :meth:`record_raw` per item (tests compare the
        encodings), in one pass: the HDR bucket index is computed here (as
        HdrHistogram computes it) and the extremes and sum are updated once.
        """
        h = self._h
        highest = self.highest
        mask = h.sub_bucket_mask
        unit = h.unit_magnitude
        half_magnitude = h.sub_bucket_half_count_magnitude
        half = h.sub_bucket_half_count
        slots = h.counts
        total = 0
        added = 0
        lo: int | None = None
        hi: int | None = None
        for raw, n in counts.items():
            if n <= 0:
                continue
            if raw < 0:
                raw = 0
            elif raw > highest:
                raw = highest
                self.clamped += n
            # 64 - clz(v) of HdrHistogram is v.bit_length() for v > 0.
            bucket = (raw | mask).bit_length() - unit - (half_magnitude + 1)
            slots[((bucket + 1) << half_magnitude) + (raw >> (bucket + unit)) - half] += n
            total += n
            added += raw * n
            if lo is None or raw < lo:
                lo = raw
            if hi is None or raw > hi:
                hi = raw
        if lo is None or hi is None:
            return
        h.total_count += total
        h.min_value = min(h.min_value, lo)
        h.max_value = max(h.max_value, hi)
        self._sum += added
        if self._min is None or lo < self._min:
            self._min = lo
        if self._max is None or hi > self._max:
            self._max = hi

    def merge(self, other: Histogram) -> None:
        """Add ``other``'s counts into this histogram (exact)."""
        if other.count == 0:
            return
        self._h.add(other._h)
        self.clamped += other.clamped
        self._sum += other._sum
        if other._min is not None and (self._min is None or other._min < self._min):
            self._min = other._min
        if other._max is not None and (self._max is None or other._max > self._max):
            self._max = other._max

    # -- reading ------------------------------------------------------------
    @property
    def count(self) -> int:
        return int(self._h.get_total_count())

    def percentile(self, p: float) -> float | None:
        if self.count == 0:
            return None
        v = float(self._values_at()(p))
        if self._max is not None:
            v = min(v, float(self._max))
        return v / self.scale

    def percentiles(self, ps: Sequence[float]) -> dict[float, float | None]:
        """Several percentiles in one walk of the buckets; each as :meth:`percentile` gives it."""
        if self.count == 0:
            return {p: None for p in ps}
        value_at = self._values_at()
        cap = float(self._max) if self._max is not None else math.inf
        return {p: min(float(value_at(p)), cap) / self.scale for p in ps}

    def summary(self) -> Summary:
        n = self.count
        if n == 0:
            return Summary(0, None, None, None, None, None, None, None)
        h = self._h
        s = self.scale
        lo = float(self._min if self._min is not None else h.get_min_value())
        hi = float(self._max if self._max is not None else h.get_max_value())
        value_at = self._values_at()

        def pct(p: float) -> float:
            # HDR answers with its bucket's upper edge; never beyond the true range.
            return min(max(float(value_at(p)), lo), hi) / s

        return Summary(
            count=n,
            min=lo / s,
            p50=pct(50.0),
            p90=pct(90.0),
            p99=pct(99.0),
            p999=pct(99.9),
            max=hi / s,
            mean=self._sum / n / s,
        )

    def buckets(
        self, n: int = 20, lo: float | None = None, hi: float | None = None
    ) -> list[tuple[float, int]]:
        """``n`` equal-width buckets from min to max: (upper bound, count).

        ``lo`` and ``hi`` (display units) set a common range instead, so
        histograms of several runs can be drawn on one axis; values outside
        it fall in the first or last bucket.
        """
        if self.count == 0:
            return []
        lo_raw = self._h.get_min_value() if lo is None else round(lo * self.scale)
        hi_raw = self._h.get_max_value() if hi is None else round(hi * self.scale)
        width = max(1, (hi_raw - lo_raw) // n + 1)
        counts = [0] * n
        for value, count in self._recorded():
            idx = min(n - 1, max(0, (value - lo_raw) // width))
            counts[idx] += count
        return [((lo_raw + width * (i + 1)) / self.scale, c) for i, c in enumerate(counts)]

    def _values_at(self) -> Callable[[float], int]:
        """hdrh's ``get_value_at_percentile``, its walk done once at C speed.

        hdrh walks the counts array in Python for every percentile asked;
        here the running totals are made once (``itertools.accumulate``) and
        each percentile is the first index whose total reaches its target
        count (``bisect``): the same index, so the same value.
        """
        h = self._h
        # A decoded histogram's counts array may be shorter than counts_len.
        size = min(h.counts_len, h.encoder.payload.counts_len)
        totals = list(itertools.accumulate(h.counts[:size]))

        def value_at(p: float) -> int:
            i = bisect.bisect_left(totals, h.get_target_count_at_percentile(p))
            if i >= size:
                return 0
            v = h.get_value_from_index(i)
            return int(h.get_highest_equivalent_value(v) if p else h.get_lowest_equivalent_value(v))

        return value_at

    def _recorded(self) -> Iterable[tuple[int, int]]:
        """(value, count) of every non-empty HDR bucket, lowest first.

        The values and counts of hdrh's recorded iterator, found without its
        Python step per bucket of the whole counts array (about 21,000 for a
        run of two requests): the non-empty indexes are picked at C speed.
        """
        h = self._h
        # A decoded histogram's counts array may be shorter than counts_len.
        size = min(h.counts_len, h.encoder.payload.counts_len)
        counts = h.counts[:size]
        for i in itertools.compress(range(size), counts):
            yield h.get_highest_equivalent_value(h.get_value_from_index(i)), counts[i]

    # -- serialization ------------------------------------------------------
    def encode(self) -> str:
        """HdrHistogram's compressed base64 form (readable by other HDR tools)."""
        raw = self._h.encode()
        return raw.decode("ascii") if isinstance(raw, bytes) else str(raw)

    def to_state(self) -> dict[str, Any]:
        """Everything needed to rebuild this histogram exactly (JSON-safe)."""
        return {
            "hdr": self.encode(),
            "scale": self.scale,
            "highest": self.highest,
            "min": self._min,
            "max": self._max,
            "sum": self._sum,
            "clamped": self.clamped,
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Histogram:
        from hdrh.histogram import HdrHistogram

        hist = cls(highest=int(state["highest"]), scale=float(state["scale"]))
        decoded = HdrHistogram.decode(str(state["hdr"]).encode("ascii"))
        if decoded.get_total_count():
            hist._h.add(decoded)
        hist._min = state.get("min")
        hist._max = state.get("max")
        hist._sum = int(state.get("sum") or 0)
        hist.clamped = int(state.get("clamped") or 0)
        return hist


def percentile_exact(values: Sequence[int], p: float) -> int | None:
    """Nearest-rank percentile of an in-memory list, exact and O(n log n).

    For one stream's few thousand gaps this is far cheaper than filling an
    HDR histogram whose percentile walk is pure Python.
    """
    n = len(values)
    if n == 0:
        return None
    return int(sorted(values)[nearest_rank(n, p) - 1])


def nearest_rank(n: int, p: float) -> int:
    """The 1-based rank of the ``p`` percentile among ``n`` sorted values (n >= 1)."""
    return min(n, max(1, math.ceil(p * n / 100.0 - 1e-9)))  # float noise: 99.9% of 1000


def summarize_values(values: Iterable[float], scale: float = 1000.0) -> Summary:
    """Summary of an in-memory list (e.g. the gaps of one stream)."""
    hist = Histogram(scale=scale)
    for v in values:
        hist.record(v)
    return hist.summary()
