"""Rendering for ``compare-modes``: progress, the size x mode table, the chart, JSON.

``format_*`` functions return rich renderables or plain data;
:class:`SweepProgress` owns its transient line on the console. The
conclusion paragraph is worded by :func:`lstream_cli.render.conclusion.conclude`
(plain text, also written to the JSON); this module only lays it out.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from rich import box
from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.table import Table
from rich.text import Text

from lstream_cli.compare import Cell, CellProgress
from lstream_cli.modes import MODES, STREAMING_MODES
from lstream_cli.units import format_bytes, format_rate, format_size

__all__ = [
    "SweepProgress",
    "compare_json",
    "format_chart",
    "format_errors",
    "format_report",
    "format_table",
    "format_targets",
]

_CHART_WIDTH = 40  # characters of bar at the longest time
_TTFB_CHAR = "▒"
_BODY_CHAR = "█"


def _ms(v: float | None) -> str:
    if v is None:
        return "-"
    if v >= 1000:
        return f"{v / 1000:.2f} s"
    if v >= 10:
        return f"{v:.0f} ms"
    return f"{v:.1f} ms"


class SweepProgress:
    """A transient line: which cell, how far into it, time since the sweep began."""

    def __init__(self, console: Console) -> None:
        self._live = Live(Text(""), console=console, transient=True, auto_refresh=False)
        self._started = False

    def update(self, p: CellProgress) -> None:
        if not self._started:
            self._live.start()
            self._started = True
        run = f" run {p.run}/{p.repeat}" if p.repeat > 1 else ""
        where = f"warm-up {p.mode}" if p.warmup else f"[{p.index}/{p.cells}] {p.mode}"
        line = (
            f"{where} {format_size(p.size)}{run}: "
            f"{format_bytes(p.bytes)} received  ·  {p.elapsed_s:.1f} s elapsed"
        )
        self._live.update(Text(line), refresh=True)

    def stop(self) -> None:
        if self._started:
            self._live.stop()
            self._started = False


def format_targets(targets: Mapping[str, str], emulator: bool) -> Text:
    """What is being compared, one line per mode."""
    text = Text()
    if emulator:
        text.append("Embedded emulator (lstream serve) on 127.0.0.1, stopped at the end.\n")
    for mode in MODES:
        if mode in targets:
            text.append(f"  {mode:<13} {targets[mode]}\n")
    return text


def _status(cell: Cell) -> Text:
    rec = cell.record
    code = "-" if rec.status is None else str(rec.status)
    if cell.ok:
        return Text(code, style="green")
    return Text(f"{code} ✗", style="red")


def _limit_or_knee(cell: Cell) -> Text:
    """A failed cell's limit; a streaming cell's knee (burst -> capped rate)."""
    if cell.ok:
        if cell.short:
            return Text(f"sent only {format_bytes(cell.record.bytes)}", style="yellow")
        k = cell.record.knee
        if cell.mode not in STREAMING_MODES or k is None:
            return Text("")
        rate = format_rate(k.rate_after_burst_bytes_per_s)
        return Text(f"knee {format_bytes(k.burst_bytes)} → {rate}", style="cyan")
    if cell.limit:
        return Text(cell.limit, style="bold")
    return Text(cell.record.error.value if cell.record.error else "failed")


def format_table(cells: Sequence[Cell]) -> Table:
    """Size x mode: status, TTFB, total, throughput, and the limit hit or the knee."""
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True, expand=False)
    table.add_column("size", justify="right", no_wrap=True)
    table.add_column("mode", no_wrap=True)
    table.add_column("status", no_wrap=True)
    table.add_column("TTFB", justify="right", no_wrap=True)
    events = any(c.record.events is not None for c in cells)  # --events
    if events:
        table.add_column("TTFE", justify="right", no_wrap=True)
    table.add_column("total", justify="right", no_wrap=True)
    table.add_column("throughput", justify="right", no_wrap=True)
    table.add_column("limit hit / knee", min_width=16)
    last_size: int | None = None
    for cell in sorted(cells, key=lambda c: (c.size, MODES.index(c.mode))):
        if last_size is not None and cell.size != last_size:
            table.add_section()
        size = format_size(cell.size) if cell.size != last_size else ""
        last_size = cell.size
        rec = cell.record
        table.add_row(
            size,
            cell.mode,
            _status(cell),
            _ms(rec.ttfb_ms),
            *([_ms(rec.ttfe_ms)] if events else []),
            _ms(rec.total_ms),
            format_rate(rec.bytes_per_s) if cell.ok else "-",
            _limit_or_knee(cell),
        )
    return table


def format_errors(cells: Sequence[Cell]) -> Table | None:
    """The errors the caller saw, one row per mode and distinct error; None when none."""
    seen: dict[tuple[str, str], list[Cell]] = {}
    for cell in sorted(cells, key=lambda c: (MODES.index(c.mode), c.size)):
        if not cell.ok:
            text = cell.error_text or (cell.record.error.value if cell.record.error else "failed")
            if cell.failures and cell.runs > 1:
                text += f" ({cell.failures} of {cell.runs} runs failed)"
            seen.setdefault((cell.mode, text), []).append(cell)
    if not seen:
        return None
    grid = Table.grid(padding=(0, 1))
    grid.title = "Errors seen"
    grid.title_justify = "left"
    grid.title_style = "bold"
    grid.add_column(no_wrap=True, style="bold")
    grid.add_column()
    for (mode, text), group in seen.items():
        sizes = ", ".join(format_size(c.size) for c in group)
        grid.add_row(f"  {mode} at {sizes}:", text)
    return grid


def _position(ms: float, top: float) -> int:
    """Characters for ``ms`` on a log scale from 1 ms (0) to ``top`` (full width)."""
    if ms <= 1.0 or top <= 1.0:
        return 1 if ms > 0 else 0
    return max(1, round(_CHART_WIDTH * math.log10(ms) / math.log10(top)))


def format_chart(cells: Sequence[Cell]) -> Text:
    """TTFB (▒) and total time (█) against size, per mode, on a log time scale."""
    times = [c.record.total_ms for c in cells if c.ok and c.record.total_ms]
    top = max([*times, 10.0])
    text = Text()
    text.append(
        f"Time to first byte {_TTFB_CHAR} and to the last {_BODY_CHAR}, "
        f"log scale 1 ms .. {_ms(top)}\n",
        style="bold",
    )
    modes = [m for m in MODES if any(c.mode == m for c in cells)]
    width = max([9, *(len(format_size(c.size)) for c in cells)])
    for mode in modes:
        text.append(f"{mode}\n", style="bold")
        for cell in sorted((c for c in cells if c.mode == mode), key=lambda c: c.size):
            text.append(f"  {format_size(cell.size):>{width}} │")
            rec = cell.record
            if cell.ok and rec.total_ms is not None:
                first = _position(rec.ttfb_ms or 0.0, top)
                end = max(first, _position(rec.total_ms, top))
                text.append(_TTFB_CHAR * first, style="cyan")
                text.append(_BODY_CHAR * (end - first), style="green")
                text.append(f" {_ms(rec.ttfb_ms)} / {_ms(rec.total_ms)}\n")
            else:
                why = cell.limit or (rec.error.value if rec.error else "failed")
                text.append(f"✗ {why}\n", style="red")
    return text


def format_report(cells: Sequence[Cell], conclusion: str, interrupted: bool) -> RenderableType:
    parts: list[RenderableType] = [format_table(cells)]
    errors = format_errors(cells)
    if errors is not None:
        parts.append(errors)
    if cells:
        parts.append(Text(""))
        parts.append(format_chart(cells))
    if interrupted:
        parts.append(Text("Interrupted: the rows above are the cells measured so far.", "yellow"))
    parts.append(Text(conclusion))
    return Group(*parts)


def compare_json(
    cells: Sequence[Cell],
    schema_version: int,
    *,
    targets: Mapping[str, str],
    sizes: Sequence[int],
    repeat: int,
    size_param: str,
    emulator: bool,
    conclusion: str,
    interrupted: bool,
    elapsed_s: float,
) -> dict[str, Any]:
    """The compare-modes JSON document (schemas/compare.schema.json), with additive fields for context."""
    return {
        "schema_version": schema_version,
        "rows": [c.to_json() for c in cells],
        "targets": dict(targets),
        "sizes": list(sizes),
        "repeat": repeat,
        "size_param": size_param,
        "emulator": emulator,
        "interrupted": interrupted,
        "elapsed_s": round(elapsed_s, 3),
        "conclusion": conclusion,
    }
