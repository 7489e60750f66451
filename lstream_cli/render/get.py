"""Rendering for ``get``: the live progress line, ``-v`` exchanges, the summary.

``format_*`` functions return rich renderables or strings; ``print_*`` and
:class:`ProgressLine` own the console. Nothing here measures. rich is
imported where it is used, so ``get -s --json`` never loads it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from lstream_cli.engine.single import Progress
from lstream_cli.models import RequestRecord
from lstream_cli.redact import redact_headers, redact_url
from lstream_cli.units import format_bytes, format_rate
from lstream_cli.verdict import Verdict

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

__all__ = [
    "ProgressLine",
    "format_head",
    "format_summary",
    "get_json",
    "headers_json",
    "print_head",
    "print_info",
]


def _ms(v: float | None) -> str:
    if v is None:
        return "-"
    if v >= 10_000:
        return f"{v / 1000:.2f} s"
    return f"{v:.1f} ms"


class ProgressLine:
    """A transient one-line progress display on the stderr console.

    It starts with the request (``start``) and refreshes itself a few times
    a second, so the elapsed time keeps moving while nothing arrives: a
    cold start, or a function that holds its first byte back.
    """

    def __init__(self, console: Console, clock: Callable[[], float] = time.monotonic) -> None:
        from rich.live import Live

        self._clock = clock
        self._t0 = clock()
        self._last: Progress | None = None
        self._last_at = self._t0  # clock() when _last arrived
        self._live = Live(
            self, console=console, transient=True, auto_refresh=True, refresh_per_second=4
        )
        self._started = False

    def start(self) -> None:
        if not self._started:
            self._live.start()
            self._started = True

    def update(self, p: Progress) -> None:
        self._last, self._last_at = p, self._clock()
        self.start()
        self._live.refresh()

    def render(self) -> Text:
        """The line as it reads now (the live display calls this)."""
        from rich.text import Text

        p, now = self._last, self._clock()
        if p is None:
            return Text(f"waiting for the response  {now - self._t0:6.1f} s")
        elapsed = p.elapsed_s + max(0.0, now - self._last_at)
        rate = p.bytes / p.elapsed_s if p.elapsed_s > 0 else 0.0
        line = (
            f"{format_bytes(p.bytes):>10}  {format_rate(rate):>12}  "
            f"{elapsed:6.1f} s  TTFB {_ms(p.ttfb_ms)}"
        )
        if p.status is not None:
            line = f"HTTP {p.status}  " + line
        return Text(line)

    def __rich__(self) -> Text:
        return self.render()

    def stop(self) -> None:
        if self._started:
            self._live.stop()
            self._started = False


def format_head(prefix: str, first_line: str, headers: Sequence[tuple[str, str]]) -> str:
    """curl -v style: ``> GET / HTTP/1.1`` then ``> name: value`` lines."""
    lines = [f"{prefix} {first_line}"]
    lines.extend(f"{prefix} {k}: {v}" for k, v in headers)
    return "\n".join(lines)


def print_head(console: Console, block: str, marker: str) -> None:
    """One curl -v style block and its closing marker line (``>`` or ``<``).

    soft_wrap keeps each header on one line however long (for grep).
    """
    from rich.text import Text

    for text in (block, marker):
        console.print(Text(text), highlight=False, soft_wrap=True)


def print_info(console: Console, line: str) -> None:
    """A ``-v`` line about what lstream did (auth, redirects), curl's ``*`` style."""
    from rich.text import Text

    console.print(Text(f"* {line}"), highlight=False, soft_wrap=True)


def format_summary(
    record: RequestRecord,
    verdict: Verdict,
    hints: Sequence[str] = (),
    redirects: Sequence[Any] = (),
) -> Table:
    """The summary table; ``redirects``: the hops followed before this request (``Hop``)."""
    from rich.table import Table

    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold", justify="right")
    table.add_column()
    status = "-" if record.status is None else str(record.status)
    outcome = "complete" if record.complete else "INCOMPLETE"
    if record.error is not None:
        outcome += f" ({record.error.value}"
        outcome += f": {record.error_detail})" if record.error_detail else ")"
    elif not record.complete and record.error_detail:
        outcome += f" ({record.error_detail})"  # e.g. interrupted (Ctrl-C)
    table.add_row("status", f"{status}  {outcome}")
    if redirects:
        spent = sum(h.total_ns for h in redirects) / 1e6
        table.add_row(
            "redirects",
            f"{len(redirects)} followed in {_ms(spent)} (not in the figures below: "
            "they are the final request's)",
        )
    # Durations of the set-up phases, as curl's time_namelookup / time_connect /
    # time_appconnect are offsets of their ends; "-" when not done (kept-alive, http).
    table.add_row("DNS", _ms(record.dns_ms))
    table.add_row("connect", _ms(record.connect_ms) + (" (TCP)" if record.connect_ns else ""))
    if record.tls_ns is not None:
        table.add_row("TLS", _ms(record.tls_ms))
    table.add_row("headers", _ms(record.headers_ms))
    table.add_row("TTFB", _ms(record.ttfb_ms))
    end_ms = None if record.end_ns is None else record.end_ns / 1e6
    table.add_row("total", _ms(end_ms) + ("" if record.complete else " (cut)"))
    table.add_row(
        "bytes", f"{record.bytes:,} ({format_bytes(record.bytes)}) in {record.reads:,} reads"
    )
    table.add_row("throughput", format_rate(record.bytes_per_s) + "  (bytes / (total - TTFB))")
    gaps = "-"
    if record.gap_max_ns is not None:
        gaps = f"max {_ms(record.gap_max_ms)}, p99 {_ms(record.gap_p99_ms)}"
    table.add_row("gaps", gaps)
    if record.knee is not None:
        k = record.knee
        knee = (
            f"{format_bytes(k.burst_bytes)} at full speed, then "
            f"{format_rate(k.rate_after_burst_bytes_per_s)} (from {_ms(k.at_ms)})"
        )
        if not record.complete:
            knee += f", in the {format_bytes(record.bytes)} that arrived (stream cut)"
    elif not record.complete:
        knee = f"none in the {format_bytes(record.bytes)} that arrived (stream cut)"
    else:
        knee = "none (one steady rate)"
    table.add_row("knee", knee)
    if record.events is not None:
        for name, value in event_rows(record):
            table.add_row(name, value)
    label = {
        "streamed": "[green]streamed[/]",
        "looks_buffered": "[yellow]looks buffered[/]",
        "inconclusive": "inconclusive",
        "no_body": "no body",
    }[verdict.kind]
    table.add_row("verdict", f"{label}: {verdict.reason}")
    for note in record.notes:
        table.add_row("note", note)
    for hint in hints:
        table.add_row("hint", hint)
    return table


def event_rows(record: RequestRecord) -> list[tuple[str, str]]:
    """The summary's event lines (``--events``): count, TTFE, gaps, rate."""
    gaps = record.event_gaps
    rows = [("events", f"{record.events or 0:,}"), ("TTFE", _ms(record.ttfe_ms))]
    if gaps is not None and gaps.count:
        s = gaps.summary_ms()
        rows.append(
            (
                "event gaps",
                f"p50 {_ms(s['p50'])}, p90 {_ms(s['p90'])}, p99 {_ms(s['p99'])}, max {_ms(s['max'])}",
            )
        )
    rate = record.events_per_s
    rows.append(("events/s", "-" if rate is None else f"{rate:,.1f}  ((events - 1) / span)"))
    return rows


def headers_json(headers: Sequence[tuple[str, str]]) -> dict[str, str]:
    """Response headers for a result file: repeats joined with ", ", secrets hidden.

    A plain ``dict()`` would keep only the last of repeated headers; and a
    result file is shared more readily than a terminal, so cookies and
    credentials are redacted as ``-v`` does.
    """
    out: dict[str, str] = {}
    for name, value in redact_headers(headers):
        out[name] = f"{out[name]}, {value}" if name in out else value
    return out


def get_json(
    record: RequestRecord,
    url: str,
    verdict: Verdict,
    schema_version: int,
    effective_url: str | None = None,
    redirects: Sequence[Any] = (),
    network: Sequence[str | None] = (None, None),
) -> dict[str, Any]:
    """get's result document; ``redirects``: the hops followed (``Hop``), before ``record``.

    ``network``: the proxy and the CA bundle of the final request, described
    (no password), or None for direct / plain http.
    """
    doc: dict[str, Any] = {"schema_version": schema_version}
    doc.update(record.to_json(redact_url(url)))
    doc["response_headers"] = headers_json(record.response_headers)
    doc["error_detail"] = record.error_detail
    doc["verdict"] = verdict.kind
    doc["effective_url"] = redact_url(effective_url or url)
    doc["redirects"] = len(redirects)
    spent = sum(h.total_ns for h in redirects)
    doc["redirect_ms"] = round(spent / 1e6, 3) if redirects else None
    doc["proxy"], doc["ca_bundle"] = network
    return doc
