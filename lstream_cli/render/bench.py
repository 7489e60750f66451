"""Rendering for ``lstream bench``: the live dashboard, the final report, the CSV.

The engine hands over :class:`~lstream_cli.engine.workers.Progress` values
while it runs and a :class:`~lstream_cli.engine.results.BenchReport` at the
end (its statistics as HDR histograms and summaries, read as they are); this
module turns both into text on stderr. ``format_*`` functions return renderables,
``print_*`` functions own the console. The dashboard is shown only when
stderr is a terminal.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, TextIO

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from lstream_cli._exitcodes import LstreamError
from lstream_cli.models import ErrorClass
from lstream_cli.render.console import NaturalWidth, Output
from lstream_cli.render.jsonout import AtomicFile, atomic_write
from lstream_cli.stats import Histogram
from lstream_cli.units import format_bytes, format_rate

if TYPE_CHECKING:  # the types only: rendering does not load the engine
    from rich.live import Live

    from lstream_cli.engine.results import BenchReport
    from lstream_cli.engine.series import SeriesPoint
    from lstream_cli.engine.workers import Progress

__all__ = [
    "CsvStream",
    "Dashboard",
    "format_histogram",
    "format_progress",
    "format_report",
    "format_sparklines",
    "print_report",
    "series_rows",
    "write_csv",
    "write_series_csv",
]

_ROWS = (
    ("headers_ms", "headers", "ms"),
    ("ttfb_ms", "TTFB", "ms"),
    ("ttfb_new_conn_ms", "TTFB, new conn", "ms"),
    ("ttfb_reused_conn_ms", "TTFB, reused conn", "ms"),
    ("total_ms", "total", "ms"),
    ("gap_max_ms", "largest gap", "ms"),
    ("stream_bytes_per_s", "per-stream rate", "rate"),
    ("connect_ms", "TCP connect", "ms"),
    ("tls_ms", "TLS handshake", "ms"),
)
_EVENT_ROWS = (  # with --events
    ("ttfe_ms", "TTFE", "ms"),
    ("event_gap_ms", "event gap", "ms"),
    ("events_per_s", "events/s per stream", "count"),
)
_STATS = (
    ("min", "min"),
    ("p50", "p50"),
    ("p90", "p90"),
    ("p99", "p99"),
    ("p999", "p99.9"),
    ("max", "max"),
    ("mean", "mean"),
)
_BAR_WIDTH = 40
_SPARK = "▁▂▃▄▅▆▇█"
_SPARK_WIDTH = 40  # seconds shown by a sparkline
_ERROR_CLASSES = tuple(cls.value for cls in ErrorClass)
SERIES_COLUMNS = (
    "t_s",
    "span_s",
    "target",
    "started",
    "requests",
    "ok",
    "errors",
    *(f"errors_{name}" for name in _ERROR_CLASSES),
    "status",
    "in_flight",
    "bytes",
    "bytes_per_s",
    "events_per_s",
    "ttfb_p50_ms",
    "ttfb_p90_ms",
    "ttfb_p99_ms",
    "total_p50_ms",
    "total_p90_ms",
    "total_p99_ms",
)


def _ms(v: float | None) -> str:
    if v is None:
        return "-"
    if v >= 1000:
        return f"{v / 1000:.2f} s"
    return f"{v:.2f}"


def _ms_unit(v: float | None) -> str:
    """A time with its unit: ``4.20 ms``, ``1.23 s`` (``_ms`` is for (ms) columns)."""
    text = _ms(v)
    return text if v is None or v >= 1000 else f"{text} ms"


def format_progress(p: Progress) -> RenderableType:
    """One dashboard frame."""
    if p.target_requests:
        where = f"{p.requests}/{p.target_requests} requests"
    elif p.target_s:
        where = f"{min(p.elapsed_s, p.target_s):.1f}/{p.target_s:g} s, {p.requests} requests"
    else:
        where = f"{p.requests} requests"
    text = Text()
    text.append("bench ", style="bold")
    text.append(f"{where}  {p.elapsed_s:.1f} s elapsed\n")
    # Three short lines: one of them wrapped at 80 columns would shift every frame.
    text.append(f"  {p.rps:,.0f} req/s   {format_rate(p.bytes_per_s)}   ")
    text.append(f"errors {p.errors}", style="red" if p.errors else "")
    text.append(f"\n  TTFB p50 {_ms_unit(p.ttfb_p50_ms)}  p99 {_ms_unit(p.ttfb_p99_ms)} (last 2 s)")
    if p.events is not None:
        text.append(
            f"\n  events {p.events:,}  TTFE p50 {_ms_unit(p.ttfe_p50_ms)}  "
            f"p99 {_ms_unit(p.ttfe_p99_ms)} (last 2 s)"
        )
    if p.series:
        text.append("\n")
        text.append(format_sparklines(p.series))
    return text


def _sparkline(values: Sequence[float | None], width: int = _SPARK_WIDTH) -> str:
    """One character per value, scaled from 0 to the largest; a gap where there is none."""
    shown = list(values)[-width:]
    peak = max((v for v in shown if v is not None), default=0.0)
    out = []
    for v in shown:
        if v is None:
            out.append(" ")
        elif peak <= 0:
            out.append(_SPARK[0])
        else:
            out.append(_SPARK[min(len(_SPARK) - 1, int(v / peak * (len(_SPARK) - 1) + 0.5))])
    return "".join(out)


def format_sparklines(series: Sequence[SeriesPoint], width: int = _SPARK_WIDTH) -> Text:
    """Two lines: req/s and TTFB p99 per second over the last ``width`` seconds."""
    shown = list(series)[-width:]
    rps = [p.rps for p in shown]
    p99 = [p.ttfb_ms.get("p99") for p in shown]
    peak_p99 = max((v for v in p99 if v is not None), default=None)
    text = Text()
    text.append(f"  req/s    {_sparkline(rps, width)}  max {max(rps, default=0.0):,.0f}\n")
    text.append(f"  TTFB p99 {_sparkline(p99, width)}  max {_ms_unit(peak_p99)}")
    return text


class Dashboard:
    """The live view on stderr (only on a terminal); a few frames per second."""

    def __init__(self, output: Output) -> None:
        self.output = output
        self._live: Live | None = None

    def start(self) -> None:
        from rich.live import Live  # a terminal only: its refresh thread and file proxy

        self._live = Live(
            Text("bench: starting workers..."),
            console=self.output.console,
            refresh_per_second=4,
            transient=True,
        )
        self._live.start()

    def update(self, progress: Progress) -> None:
        if self._live is not None:
            self._live.update(format_progress(progress))

    def stop(self) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None


def format_histogram(hist: Histogram, rows: int = 12, width: int = _BAR_WIDTH) -> Table | None:
    """Horizontal bars of a millisecond histogram (equal-width buckets)."""
    buckets = hist.buckets(rows)
    if not buckets:
        return None
    peak = max(c for _, c in buckets) or 1
    table = Table(show_header=False, box=None, padding=(0, 1))
    table.add_column(justify="right")
    table.add_column()
    table.add_column(justify="right")
    for upper, count in buckets:
        bar = "█" * (round(width * count / peak) if count else 0)
        table.add_row(f"≤ {_ms_unit(upper)}", bar, str(count))
    return table


def _stats_table(report: BenchReport) -> Table:
    table = Table(box=None, padding=(0, 1), header_style="bold")
    table.add_column("", no_wrap=True)
    for _, label in _STATS:
        table.add_column(label, justify="right", no_wrap=True)
    rows = _ROWS + (_EVENT_ROWS if report.events is not None else ())
    for key, label, kind in rows:
        summary = report.summaries[key]
        if not summary.count:
            table.add_row(label, *["-"] * len(_STATS))
            continue
        cells = []
        for stat, _ in _STATS:
            v = getattr(summary, stat)
            # Rates as bare MB/s numbers so seven columns fit in 100 characters.
            if kind == "count":
                cells.append(f"{v:,.1f}")
            else:
                cells.append(f"{v / 1e6:,.2f}" if kind == "rate" else _ms(v))
        unit = {"ms": " (ms)", "rate": " (MB/s)", "count": ""}[kind]
        table.add_row(f"{label}{unit}", *cells)
    return table


def _counts(items: Iterable[tuple[object, int]]) -> str:
    return ", ".join(f"{k} {v}" for k, v in items) or "none"


def format_report(report: BenchReport) -> list[RenderableType]:
    out: list[RenderableType] = []
    head = Text()
    head.append("bench ", style="bold")
    head.append(report.url)
    if report.interrupted:
        head.append("  (interrupted: partial results)", style="yellow")
    out.append(head)
    settings = report.settings
    stages = settings.stages
    if stages is not None:
        ramp = ", ".join(f"{s.duration_s:g}s:{s.target:g}" for s in stages.stages)
        mode = (
            f"open loop, stages {ramp} req/s from {stages.start:g} "
            f"(max {settings.concurrency} in flight)"
            if settings.mode == "open"
            else f"closed loop, stages {ramp} connections from {stages.start:g}"
        )
    elif settings.mode == "open":
        mode = f"open loop at {settings.rate:g} req/s (max {settings.concurrency} in flight)"
    else:
        mode = f"closed loop, {settings.concurrency} connections"
    out.append(Text(f"  {mode}, {settings.workers} worker process(es)"))
    if settings.proxy is not None:
        out.append(Text(f"  via proxy {settings.proxy}"))
    errors = report.error_count
    out.append(
        Text(
            f"  requests {report.requests}  ok {report.ok}  errors {errors}  "
            f"in {report.duration_s:.2f} s   {report.rps:,.1f} req/s   "
            f"{format_bytes(report.bytes)} at {format_rate(report.bytes_per_s)}"
        )
    )
    if errors:
        by_class = sorted((cls.value, n) for cls, n in report.errors.items())
        out.append(Text(f"  errors   {_counts(by_class)}", style="red"))
        for detail, n in list(report.error_details.items())[:5]:
            out.append(Text(f"           {detail} ({n})"))
    if report.status:
        out.append(Text(f"  status   {_counts(sorted(report.status.items()))}"))
    if settings.mode == "open":
        out.append(
            Text(
                f"  not started on time: {report.not_started_on_time} "
                f"({report.late_starts} late, {report.never_started} never started)"
            )
        )
    if report.aborted_in_flight:
        out.append(Text(f"  in flight at the end (not counted): {report.aborted_in_flight}"))
    out.append(Text(""))
    out.append(NaturalWidth(_stats_table(report)))
    streams = report.summaries["stream_bytes_per_s"].count
    if streams:
        out.append(Text(f"  bandwidth knee in {report.knees} of {streams} streams"))
    if report.events is not None:
        with_event = report.summaries["ttfe_ms"].count
        out.append(
            Text(
                f"  events   {report.events:,} ({report.settings.events_format}); "
                f"{with_event} of {report.requests} responses had at least one"
            )
        )
    if len(report.series) > 1:
        shown = report.series[-_SPARK_WIDTH:]
        out.append(Text(f"\n  per second, seconds {shown[0].t_s}-{shown[-1].t_s} of the run"))
        out.append(format_sparklines(report.series))
    charts = [("ttfb_ms", "TTFB")] + ([("ttfe_ms", "TTFE")] if report.events is not None else [])
    for name, label in charts:
        chart = format_histogram(report.histograms[name])
        if chart is not None:
            out.append(Text(f"\n  {label} distribution", style="bold"))
            out.append(NaturalWidth(chart))
    client = report.client
    cpu = "-" if client.cpu_pct is None else f"{client.cpu_pct:.0f}%"
    lag = "-" if client.loop_lag_ms_p99 is None else f"{client.loop_lag_ms_p99:.2f} ms"
    out.append(Text(f"\n  client   CPU {cpu} per worker, event-loop lag p99 {lag}"))
    if client.reason is not None:
        out.append(Text(f"  saturated: {client.reason}", style="bold yellow"))
    for warning in client.warnings:
        out.append(Text(f"  warning: {warning}", style="yellow"))
    for t in report.thresholds:
        mark = "pass" if t.ok else "FAIL"
        value = "no value" if t.value is None else f"{t.value:g}"
        out.append(Text(f"  threshold {mark}  {t.expr}  ({value})", style="" if t.ok else "red"))
    return out


def print_report(output: Output, report: BenchReport) -> None:
    # crop=False: the figures table runs long on a narrow console rather than being cut.
    output.console.print(Group(*format_report(report)), highlight=False, crop=False)


def write_csv(path: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    """Per-request rows, written whole or not at all."""
    import csv  # only with --csv / --csv-series

    def write(fh: TextIO) -> None:
        writer = csv.writer(fh)
        writer.writerow(columns)
        for row in rows:
            writer.writerow("" if v is None else v for v in row)

    if path == "-":
        write(sys.stdout)
        sys.stdout.flush()
        return
    atomic_write(path, write, newline="")


def series_rows(series: Iterable[SeriesPoint]) -> Iterable[list[Any]]:
    """The ``--csv-series`` rows (:data:`SERIES_COLUMNS`), figures as in the JSON."""
    for point in series:
        doc = point.to_json()
        errors = doc["errors"]
        status = " ".join(f"{code}:{n}" for code, n in doc["status"].items())
        yield [
            doc["t_s"],
            doc["span_s"],
            doc["target"],
            doc["started"],
            doc["requests"],
            doc["ok"],
            sum(errors.values()),
            *(errors.get(name, 0) for name in _ERROR_CLASSES),
            status,
            doc["in_flight"],
            doc["bytes"],
            doc["bytes_per_s"],
            doc["events_per_s"],
            *(doc["ttfb_ms"][k] for k in ("p50", "p90", "p99")),
            *(doc["total_ms"][k] for k in ("p50", "p90", "p99")),
        ]


def write_series_csv(path: str, series: Sequence[SeriesPoint]) -> None:
    """One row per second of the run, written whole or not at all."""
    write_csv(path, SERIES_COLUMNS, series_rows(series))


def _csv_row(row: Sequence[Any]) -> list[Any]:
    return ["" if v is None else v for v in row]


class CsvStream:
    """``--csv``: rows written as requests finish, so memory stays flat with duration.

    A file is written to a temporary sibling renamed into place by
    :meth:`close` (whole or not at all: :meth:`discard` removes it); ``-``
    writes to stdout and a FIFO or device is written in place, as
    :class:`~lstream_cli.render.jsonout.AtomicFile` does. A write error (a
    full disk) stops the writing and is raised by :meth:`close`; a reader
    of stdout that went away (``| head``) only stops it (``on_closed``).
    """

    def __init__(
        self,
        path: str,
        columns: Sequence[str],
        on_closed: Callable[[], None] | None = None,
    ) -> None:
        self.path = path
        self.on_closed = on_closed
        self.rows = 0
        self._file = None if path == "-" else AtomicFile(path, newline="")
        self._fh: TextIO | None = sys.stdout if self._file is None else self._file.fh
        self._error: OSError | None = None
        if self._fh is None:  # started with stdout closed (>&-)
            raise LstreamError("cannot write the CSV to stdout: it is closed")
        import csv  # only with --csv

        self._writer = csv.writer(self._fh)
        self._guard(lambda: self._writer.writerow(columns))

    def _guard(self, write: Callable[[], object]) -> None:
        if self._fh is None:
            return
        try:
            write()
        except BrokenPipeError:
            self._fh = None
            if self.on_closed is not None:
                self.on_closed()
        except OSError as exc:
            self._error = exc
            self._fh = None

    def write(self, rows: Iterable[Sequence[Any]]) -> None:
        batch = [_csv_row(r) for r in rows]
        self.rows += len(batch)
        self._guard(lambda: self._writer.writerows(batch))

    def close(self) -> None:
        """Put the file in place; LstreamError when it could not be written whole."""
        if self._error is not None:
            self.discard()
            reason = self._error.strerror or self._error
            raise LstreamError(f"cannot write {self.path}: {reason}")
        if self._file is not None:
            self._file.commit()
        elif self._fh is not None:
            self._guard(self._fh.flush)

    def discard(self) -> None:
        if self._file is not None:
            self._file.discard()
