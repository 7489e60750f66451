"""``--fail-if`` thresholds: parsed before anything is sent, checked on the report.

Grammar: ``metric.stat OP number`` with OP one of ``< <= > >= ==``. The
expression states the requirement, as k6 does: ``ttfb_ms.p99<500`` passes
when the p99 TTFB is below 500 ms and is breached otherwise. A metric with
no value (no request completed) cannot meet a requirement: breached.

Thresholds are checked on the typed :class:`~lstream_cli.engine.results.BenchReport`
(the figures as measured, not as rounded for the JSON file) and give one
:class:`ThresholdResult` each.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from lstream_cli._exitcodes import UsageError
from lstream_cli.models import round_or_none

if TYPE_CHECKING:
    from lstream_cli.engine.results import BenchReport

__all__ = ["STATS", "STAT_METRICS", "Threshold", "ThresholdResult", "evaluate", "parse_threshold"]

STAT_METRICS = (
    "headers_ms",
    "ttfb_ms",
    "ttfb_new_conn_ms",
    "ttfb_reused_conn_ms",
    "total_ms",
    "gap_max_ms",
    "stream_bytes_per_s",
    "ttfe_ms",
    "event_gap_ms",
    "events_per_s",
)
EVENT_METRICS = ("ttfe_ms", "event_gap_ms", "events_per_s")  # need --events
STATS = ("min", "p50", "p90", "p99", "p999", "max", "mean")
_SCALARS = ("errors.rate", "errors.count", "rps", "bytes_per_s")
_OPS: dict[str, Callable[[float, float], bool]] = {
    "<=": operator.le,
    ">=": operator.ge,
    "==": operator.eq,
    "<": operator.lt,
    ">": operator.gt,
}
_RE = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)?)\s*(<=|>=|==|<|>)\s*(\S+)\s*$")


@dataclass(frozen=True, slots=True)
class ThresholdResult:
    """One ``--fail-if`` checked on a report: the value found and whether it passed."""

    expr: str  # as the user wrote it
    value: float | None  # the metric's value; None when it has none
    ok: bool

    def to_json(self) -> dict[str, Any]:
        return {"expr": self.expr, "value": round_or_none(self.value, 6), "ok": self.ok}


@dataclass(frozen=True, slots=True)
class Threshold:
    """One parsed ``--fail-if`` requirement."""

    expr: str  # as the user wrote it
    metric: str  # e.g. "ttfb_ms.p99", "errors.rate", "rps"
    op: str
    limit: float

    def value(self, report: BenchReport) -> float | None:
        """This threshold's metric in a bench report (None when there is none)."""
        if self.metric == "errors.count":
            return float(report.error_count)
        if self.metric == "errors.rate":
            n = report.requests
            return report.error_count / n if n else None
        if self.metric == "rps":
            return report.rps
        if self.metric == "bytes_per_s":
            return report.bytes_per_s
        name, stat = self.metric.split(".")
        v: float | None = getattr(report.summaries[name], stat)
        return v

    def check(self, report: BenchReport) -> ThresholdResult:
        v = self.value(report)
        ok = v is not None and _OPS[self.op](v, self.limit)
        return ThresholdResult(expr=self.expr, value=v, ok=ok)


def parse_threshold(expr: str) -> Threshold:
    """Parse one ``--fail-if`` expression; raises UsageError when it is not valid."""
    m = _RE.match(expr)
    if not m:
        raise UsageError(
            f"invalid --fail-if {expr!r}: expected 'metric.stat OP number', e.g. 'ttfb_ms.p99<500'"
        )
    metric, op, number = m.groups()
    if metric not in _SCALARS:
        name, _, stat = metric.partition(".")
        if name not in STAT_METRICS or stat not in STATS:
            known = ", ".join(f"{n}.<stat>" for n in STAT_METRICS) + ", " + ", ".join(_SCALARS)
            raise UsageError(
                f"invalid --fail-if {expr!r}: unknown metric {metric!r} "
                f"(known: {known}; stats: {', '.join(STATS)})"
            )
    try:
        limit = float(number)
    except ValueError:
        raise UsageError(f"invalid --fail-if {expr!r}: {number!r} is not a number") from None
    if limit != limit or limit in (float("inf"), float("-inf")):
        raise UsageError(f"invalid --fail-if {expr!r}: the limit must be a finite number")
    return Threshold(expr=expr.strip(), metric=metric, op=op, limit=limit)


def evaluate(thresholds: list[Threshold], report: BenchReport) -> tuple[ThresholdResult, ...]:
    return tuple(t.check(report) for t in thresholds)
