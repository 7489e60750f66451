"""``lstream report``: bench and compare-modes results as one self-contained HTML page.

:func:`load_result` reads a result file (``bench --json`` or
``compare-modes --json``) and tells which it is; :func:`build_html` lays one
or more of them out: tables written here, charts described here (every x
value, series, colour and limit line) and drawn in the page by uPlot. The
page needs no network: uPlot (MIT licence, its notice kept in the page),
the page's script and its styles are inlined from ``render/assets/``.

A bench result gives the series over time (req/s, in flight, errors/s,
TTFB and total p50/p90/p99, bytes/s; the stages' target beside them), the
TTFB histogram (re-read from the result's HDR histogram), the percentile
table, errors by class and the run's settings. Several runs are overlaid,
one colour each, named by ``--label`` or their file. A compare-modes result
gives TTFB and total time against size, one line per mode, with the
buffered (6,291,556 B) and API Gateway (10 MiB) limits marked.
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from lstream_cli import __version__
from lstream_cli._exitcodes import UsageError
from lstream_cli.limits import APIGW_BUFFERED_LIMIT, BUFFERED_RESPONSE_LIMIT
from lstream_cli.modes import MODE_NAMES, MODES
from lstream_cli.render.jsonout import SCHEMA_VERSION
from lstream_cli.stats import Histogram
from lstream_cli.units import format_bytes, format_rate, format_size

__all__ = ["UPLOT_VERSION", "ResultFile", "build_html", "chart_count", "load_result", "page_size"]

UPLOT_VERSION = "1.6.32"
_PALETTE = (
    "#0969da",
    "#cf222e",
    "#1a7f37",
    "#8250df",
    "#bc4c00",
    "#1b7c83",
    "#bf3989",
    "#6e7781",
)
_DASHES: dict[str, list[int]] = {"p50": [], "p90": [6, 4], "p99": [2, 3]}
_HIST_BUCKETS = 40
_METRICS = (
    ("headers_ms", "headers (ms)", 1.0),
    ("ttfb_ms", "TTFB (ms)", 1.0),
    ("ttfb_new_conn_ms", "TTFB, new connection (ms)", 1.0),  # absent from older results
    ("ttfb_reused_conn_ms", "TTFB, reused connection (ms)", 1.0),
    ("total_ms", "total (ms)", 1.0),
    ("gap_max_ms", "largest gap (ms)", 1.0),
    ("stream_bytes_per_s", "per-stream rate (MB/s)", 1e-6),
)
_STATS = ("count", "min", "p50", "p90", "p99", "p999", "max", "mean")
_CHART_HEIGHT_PX = 300  # a chart and its legend, for the screenshot's size
# Tick steps of a time axis: whole seconds, then minutes.
_SECOND_STEPS = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200)


@dataclass(frozen=True, slots=True)
class ResultFile:
    """One result file as the report reads it."""

    path: str
    label: str
    kind: str  # "bench" or "compare"
    doc: Mapping[str, Any]


def _kind(doc: Any) -> str | None:
    if not isinstance(doc, dict):
        return None
    rows = doc.get("rows")
    if isinstance(rows, list) and all(
        isinstance(r, dict) and "mode" in r and "size" in r for r in rows
    ):
        return "compare"
    if (
        isinstance(doc.get("url"), str)
        and isinstance(doc.get("requests"), int)
        and isinstance(doc.get("ttfb_ms"), dict)
        and isinstance(doc.get("histograms"), dict)
    ):
        return "bench"
    return None


def load_result(path: str, label: str | None = None) -> ResultFile:
    """Read ``path``; :class:`UsageError` (one line) when it is not a result lstream reads."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UsageError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise UsageError(f"{path}: is a directory") from None
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise UsageError(f"{path}: cannot read it: {reason or exc}") from None
    try:
        doc = json.loads(text)
    except ValueError as exc:
        where = f" (line {exc.lineno})" if isinstance(exc, json.JSONDecodeError) else ""
        raise UsageError(f"{path}: not a bench or compare-modes result: not JSON{where}") from None
    kind = _kind(doc)
    if kind is None:
        raise UsageError(f"{path}: not a bench or compare-modes result (lstream --json)")
    version = doc.get("schema_version")
    if not isinstance(version, int) or version > SCHEMA_VERSION:
        raise UsageError(
            f"{path}: schema_version {version!r}: written by a newer lstream "
            f"(this one reads 1 to {SCHEMA_VERSION})"
        )
    return ResultFile(path=path, label=label or Path(path).stem, kind=kind, doc=doc)


# --- charts -------------------------------------------------------------------------


def _series_of(result: ResultFile) -> list[dict[str, Any]]:
    series = result.doc.get("series")
    return series if isinstance(series, list) else []


def _per_s(point: Mapping[str, Any], value: float) -> float:
    span = float(point.get("span_s") or 1.0)
    return value / span if span > 0 else 0.0


def _time_charts(runs: Sequence[ResultFile]) -> list[dict[str, Any]]:
    with_series = [(i, r) for i, r in enumerate(runs) if _series_of(r)]
    if not with_series:
        return []
    length = max(len(_series_of(r)) for _, r in with_series)
    x = list(range(length))

    def column(points: list[dict[str, Any]], get: Any) -> list[float | None]:
        values: list[float | None] = [None] * length
        for p in points:
            t = int(p["t_s"])
            if 0 <= t < length:
                values[t] = get(p)
        return values

    def line(
        i: int, label: str, values: list[float | None], dash: list[int] | None = None
    ) -> dict[str, Any]:
        return {
            "label": label,
            "values": values,
            "color": _PALETTE[i % len(_PALETTE)],
            "dash": dash or [],
        }

    rps, flight, errors, ttfb, total, rate, events = [], [], [], [], [], [], []
    for i, run in with_series:
        pts = _series_of(run)
        name = run.label
        rps.append(line(i, name, column(pts, lambda p: _per_s(p, p["requests"]))))
        flight.append(line(i, name, column(pts, lambda p: p["in_flight"])))
        errors.append(line(i, name, column(pts, lambda p: _per_s(p, sum(p["errors"].values())))))
        rate.append(line(i, name, column(pts, lambda p: p["bytes_per_s"])))
        if any(p.get("events_per_s") is not None for p in pts):
            events.append(line(i, name, column(pts, lambda p: p.get("events_per_s"))))
        stages = run.doc.get("stages")
        if stages:
            target = column(pts, lambda p: p.get("target"))
            into = rps if run.doc.get("mode") == "open" else flight
            into.append(line(i, f"{name} target", target, [8, 4]))
        for stat in ("p50", "p90", "p99"):
            ttfb.append(
                line(
                    i,
                    f"{name} {stat}",
                    column(pts, lambda p, s=stat: p["ttfb_ms"][s]),
                    _DASHES[stat],
                )
            )
            total.append(
                line(
                    i,
                    f"{name} {stat}",
                    column(pts, lambda p, s=stat: p["total_ms"][s]),
                    _DASHES[stat],
                )
            )

    def chart(
        cid: str, title: str, y: str, series: list[dict[str, Any]], unit: str = ""
    ) -> dict[str, Any]:
        return {
            "id": cid,
            "title": title,
            "x": x,
            "xLabel": "second",
            "xIncrs": _SECOND_STEPS,
            "yLabel": y,
            "yUnit": unit,
            "series": series,
            "kind": "line",
        }

    return [
        chart("chart-rps", "Requests finished per second", "req/s", rps),
        chart("chart-in-flight", "Requests in flight (mean over each second)", "in flight", flight),
        chart("chart-errors", "Errors per second", "errors/s", errors),
        chart("chart-ttfb", "TTFB over time: p50, p90 (dashed), p99 (dotted)", "ms", ttfb),
        chart("chart-total", "Total time over time: p50, p90 (dashed), p99 (dotted)", "ms", total),
        chart("chart-bytes", "Body bytes received per second", "bytes/s", rate, "B/s"),
    ] + (
        [chart("chart-events", "Events received per second (--events)", "events/s", events)]
        if events
        else []
    )


def _ttfb_histogram(runs: Sequence[ResultFile]) -> dict[str, Any] | None:
    hists: list[tuple[int, ResultFile, Histogram]] = []
    for i, run in enumerate(runs):
        state = run.doc["histograms"].get("ttfb_ms")
        if isinstance(state, dict):
            hist = Histogram.from_state(state)
            if hist.count:
                hists.append((i, run, hist))
    if not hists:
        return None
    lo = min(h.summary().min or 0.0 for _, _, h in hists)
    hi = max(h.summary().max or 0.0 for _, _, h in hists)
    x: list[float] = []
    series = []
    for i, run, hist in hists:
        buckets = hist.buckets(_HIST_BUCKETS, lo, hi)
        x = [upper for upper, _ in buckets]
        series.append(
            {
                "label": run.label,
                "values": [count for _, count in buckets],
                "color": _PALETTE[i % len(_PALETTE)],
                "dash": [],
            }
        )
    return {
        "id": "chart-ttfb-histogram",
        "title": f"TTFB distribution (requests per bucket, {_HIST_BUCKETS} buckets)",
        "x": x,
        "xLabel": "TTFB ms (bucket upper bound)",
        "yLabel": "requests",
        "series": series,
        "kind": "step",
    }


def _compare_charts(runs: Sequence[ResultFile]) -> list[dict[str, Any]]:
    sizes = sorted({int(r["size"]) for run in runs for r in run.doc["rows"]})
    if not sizes:
        return []
    modes = [m for m in MODES if any(r["mode"] == m for run in runs for r in run.doc["rows"])]
    several = len(runs) > 1
    marks = [
        {"x": BUFFERED_RESPONSE_LIMIT, "label": f"buffered limit {BUFFERED_RESPONSE_LIMIT:,} B"},
        {"x": APIGW_BUFFERED_LIMIT, "label": f"API Gateway {format_size(APIGW_BUFFERED_LIMIT)}"},
    ]
    out = []
    for cid, key, title in (
        ("chart-compare-ttfb", "ttfb_ms", "TTFB against response size (successful cells)"),
        ("chart-compare-total", "total_ms", "Total time against response size (successful cells)"),
    ):
        series = []
        for ri, run in enumerate(runs):
            for mi, mode in enumerate(modes):
                rows = {int(r["size"]): r for r in run.doc["rows"] if r["mode"] == mode}
                if not rows:
                    continue
                values = [rows[s][key] if s in rows and rows[s].get("ok") else None for s in sizes]
                series.append(
                    {
                        "label": f"{run.label} {mode}" if several else mode,
                        "values": values,
                        "color": _PALETTE[mi % len(_PALETTE)],
                        "dash": [] if ri == 0 else [6, 3 * ri],
                    }
                )
        out.append(
            {
                "id": cid,
                "title": title,
                "x": sizes,
                "xLabel": "response size",
                "xFormat": "bytes",
                "xLog": len(sizes) > 1,
                "yLabel": "ms",
                "series": series,
                "kind": "line",
                "points": True,
                "marks": marks,
            }
        )
    return out


# --- tables -------------------------------------------------------------------------


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _num(v: Any, digits: int = 2) -> str:
    if v is None:
        return "-"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, float):
        if math.isnan(v) or math.isinf(v):
            return "-"
        return f"{v:,.{digits}f}"
    return _e(v)


def _swatch(i: int) -> str:
    return f'<span class="swatch" style="background:{_PALETTE[i % len(_PALETTE)]}"></span>'


def _stages_text(doc: Mapping[str, Any]) -> str:
    stages = doc.get("stages")
    if not stages:
        return "-"
    ramp = ", ".join(f"{s['duration_s']:g}s:{s['target']:g}" for s in stages["stages"])
    unit = "req/s" if doc.get("mode") == "open" else "in flight"
    return f"{ramp} ({unit}, from {stages['start']:g})"


def _settings_table(runs: Sequence[ResultFile]) -> str:
    rows: list[tuple[str, Any]] = [
        ("file", lambda d, r: _e(r.path)),
        ("URL", lambda d, r: _e(d.get("url", "-"))),
        ("mode", lambda d, r: _e(d.get("mode", "-"))),
        ("connections (-c)", lambda d, r: _num(d.get("concurrency"))),
        ("rate (-r, req/s)", lambda d, r: _num(d.get("rate"))),
        ("stages", lambda d, r: _e(_stages_text(d))),
        ("workers", lambda d, r: _num(d.get("workers"))),
        ("warm-up", lambda d, r: _e(d.get("warmup") or "-")),
        ("duration (s)", lambda d, r: _num(d.get("duration_s"))),
        ("requests", lambda d, r: _num(d.get("requests"))),
        ("ok", lambda d, r: _num(d.get("ok"))),
        ("errors", lambda d, r: _num(sum(d.get("errors", {}).values()))),
        ("req/s", lambda d, r: _num(d.get("rps"))),
        ("received", lambda d, r: _e(format_rate(d.get("bytes_per_s")))),
        ("in flight at the end", lambda d, r: _num(d.get("aborted_in_flight"))),
        ("interrupted", lambda d, r: _num(bool(d.get("interrupted")))),
        ("seconds in the series", lambda d, r: _num(len(_series_of(r)))),
    ]
    head = "".join(f'<th class="text">{_swatch(i)}{_e(r.label)}</th>' for i, r in enumerate(runs))
    body = "".join(
        f'<tr><th class="text">{_e(name)}</th>'
        + "".join(f'<td class="text">{get(r.doc, r)}</td>' for r in runs)
        + "</tr>"
        for name, get in rows
    )
    return f'<table id="settings"><tr><th class="text">run</th>{head}</tr>{body}</table>'


def _percentile_table(run: ResultFile) -> str:
    head = "".join(f"<th>{s.replace('p999', 'p99.9')}</th>" for s in _STATS)
    body = []
    for key, label, factor in _METRICS:
        summary = run.doc.get(key)
        if not isinstance(summary, dict):
            continue
        cells = []
        for stat in _STATS:
            v = summary.get(stat)
            if stat != "count" and isinstance(v, (int, float)):
                v = float(v) * factor
            cells.append(f"<td>{_num(v, 3 if factor == 1.0 else 2)}</td>")
        body.append(f'<tr><th class="text">{_e(label)}</th>{"".join(cells)}</tr>')
    return f'<table class="percentiles"><tr><th></th>{head}</tr>{"".join(body)}</table>'


def _count_table(
    css: str, key: str, unit: str, items: Sequence[tuple[Any, Any]], cell: str = ""
) -> str:
    """A two-column table: ``key`` -> how many ``unit``."""
    rows = "".join(
        f'<tr><th class="text">{_e(k)}</th><td{cell}>{_num(v)}</td></tr>' for k, v in items
    )
    head = f'<tr><th class="text">{_e(key)}</th><th>{_e(unit)}</th></tr>'
    return f'<table class="{css}">{head}{rows}</table>'


def _errors_table(run: ResultFile) -> str:
    errors = run.doc.get("errors") or {}
    status = run.doc.get("status") or {}
    details = list((run.doc.get("error_details") or {}).items())[:10]
    parts = []
    if errors:
        parts.append(
            _count_table(
                "errors", "error class", "requests", sorted(errors.items()), ' class="bad"'
            )
        )
    else:
        parts.append('<p class="note">No errors.</p>')
    if status:
        parts.append(_count_table("status", "HTTP status", "responses", sorted(status.items())))
    if details:
        parts.append(_count_table("details", "error", "requests", details))
    return "".join(parts)


def _compare_table(run: ResultFile) -> str:
    head = "".join(
        f"<th{' class=text' if h in ('mode', 'limit', 'error') else ''}>{h}</th>"
        for h in ("size", "mode", "status", "TTFB (ms)", "total (ms)", "received", "limit", "error")
    )
    body = []
    for r in run.doc["rows"]:
        bad = "" if r.get("ok") else ' class="bad"'
        error = r.get("error_detail") or r.get("error") or ""
        body.append(
            "<tr>"
            f"<td>{_e(format_size(int(r['size'])))}</td>"
            f'<td class="text">{_e(MODE_NAMES.get(r["mode"], r["mode"]))}</td>'
            f"<td{bad}>{_num(r.get('status'))}</td>"
            f"<td>{_num(r.get('ttfb_ms'), 1)}</td><td>{_num(r.get('total_ms'), 1)}</td>"
            f"<td>{_e(format_bytes(r.get('bytes')))}</td>"
            f'<td class="text">{_e(r.get("limit") or "")}</td>'
            f'<td class="text">{_e(error)}</td>'
            "</tr>"
        )
    return f'<table class="compare"><tr>{head}</tr>{"".join(body)}</table>'


# --- the page -----------------------------------------------------------------------


def _asset(name: str) -> str:
    return (resources.files("lstream_cli.render") / "assets" / name).read_text(encoding="utf-8")


def _charts(results: Sequence[ResultFile]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    bench = [r for r in results if r.kind == "bench"]
    compare = [r for r in results if r.kind == "compare"]
    bench_charts = _time_charts(bench)
    hist = _ttfb_histogram(bench)
    if hist is not None:
        bench_charts.append(hist)
    return bench_charts, _compare_charts(compare)


def chart_count(results: Sequence[ResultFile]) -> int:
    bench, compare = _charts(results)
    return len(bench) + len(compare)


def page_size(results: Sequence[ResultFile]) -> tuple[int, int]:
    """A window (width, height) that holds the whole page, for a screenshot."""
    bench = [r for r in results if r.kind == "bench"]
    compare = [r for r in results if r.kind == "compare"]
    height = 160 + chart_count(results) * _CHART_HEIGHT_PX
    if bench:
        height += 480 + len(bench) * 420
    height += sum(120 + 26 * len(r.doc["rows"]) for r in compare)
    return 1280, min(height, 16000)


def _json_for_script(doc: Any) -> str:
    """JSON safe inside a <script> element (no ``</script>``, no HTML comment openers)."""
    text = json.dumps(doc, allow_nan=False, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def build_html(results: Sequence[ResultFile]) -> str:
    """The whole page, one string; it loads nothing from anywhere."""
    bench = [r for r in results if r.kind == "bench"]
    compare = [r for r in results if r.kind == "compare"]
    bench_charts, compare_charts = _charts(results)
    sections: list[str] = []
    if bench:
        parts = ['<section id="bench"><h2>Load test (bench)</h2>', _settings_table(bench)]
        if not any(_series_of(r) for r in bench):
            parts.append(
                '<p class="note">No per-second series in these results '
                "(written before schema_version 2): only the summaries are shown.</p>"
            )
        parts.extend(f'<div class="chart" id="{c["id"]}"></div>' for c in bench_charts)
        for i, run in enumerate(bench):
            parts.append(f"<h3>{_swatch(i)}{_e(run.label)}: percentiles</h3>")
            parts.append(_percentile_table(run))
            parts.append(f"<h3>{_swatch(i)}{_e(run.label)}: errors and status</h3>")
            parts.append(_errors_table(run))
        parts.append("</section>")
        sections.append("".join(parts))
    if compare:
        parts = ['<section id="compare"><h2>Paths compared (compare-modes)</h2>']
        parts.extend(f'<div class="chart" id="{c["id"]}"></div>' for c in compare_charts)
        for run in compare:
            parts.append(f"<h3>{_e(run.label)}</h3>")
            if run.doc.get("conclusion"):
                parts.append(f'<p class="conclusion">{_e(run.doc["conclusion"])}</p>')
            parts.append(_compare_table(run))
        parts.append("</section>")
        sections.append("".join(parts))
    files = ", ".join(_e(r.path) for r in results)
    data = {"charts": bench_charts + compare_charts}
    licence = _asset("uPlot.LICENSE").replace("--", "- -")
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">\n'
        f'<meta name="generator" content="lstream {_e(__version__)}">\n'
        "<title>lstream report</title>\n"
        f"<!-- Charts drawn by uPlot {UPLOT_VERSION} (https://github.com/leeoniya/uPlot), "
        f"inlined under its licence:\n{licence}\n-->\n"
        f"<style>\n{_asset('uPlot.min.css')}\n{_asset('report.css')}\n</style>\n"
        "</head><body>\n"
        f'<header><h1>lstream report</h1><p class="note">From {files}.</p></header>\n'
        + "\n".join(sections)
        + f'\n<script type="application/json" id="lstream-data">{_json_for_script(data)}</script>\n'
        f"<script>\n{_asset('uPlot.iife.min.js')}\n</script>\n"
        f"<script>\n{_asset('report.js')}\n</script>\n"
        "</body></html>\n"
    )
