"""What ``lstream serve`` shows: its endpoints, then one line per request.

The endpoint table goes through the rich console (colour on a terminal,
plain text otherwise). Request lines are plain text written straight to
stderr: a load test may send tens of thousands a second and rich's layout
engine would become the bottleneck. Nothing here ever prints a header
value: the secret header is named, its value never shown.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Mapping
from typing import TextIO

from rich.table import Table

from lstream_cli.emulator.config import RequestLog
from lstream_cli.render.console import Output
from lstream_cli.units import format_bytes

__all__ = ["RequestLogPrinter", "format_request_line", "print_endpoints", "print_stopped"]

_LABELS = {
    "stream": "function URL, RESPONSE_STREAM",
    "buffered": "function URL, BUFFERED",
    "apigw": "API Gateway (HTTP_PROXY, buffered)",
    "apigw_stream": "API Gateway REST, STREAM",
    "lambda_api": "Lambda API (--endpoint-url)",
}


def print_endpoints(
    output: Output, endpoints: Mapping[str, str], settings: Mapping[str, str]
) -> None:
    """The endpoint table and the settings that change what callers see."""
    if output.quiet:
        return
    table = Table(title="lstream emulator", title_justify="left", show_edge=False, box=None)
    # The names and URLs are what a user copies: never wrapped or cut ("…"); on a
    # narrow console the description wraps, and past that the rows run long.
    table.add_column("endpoint", style="bold", no_wrap=True)
    table.add_column("URL", style="cyan", no_wrap=True)
    table.add_column("emulates")
    for name, url in endpoints.items():
        table.add_row(name, url, _LABELS.get(name, ""))
    output.console.print(table, crop=False)
    for key, value in settings.items():
        output.console.print(f"  {key}: {value}", highlight=False)
    output.console.print("Press Ctrl-C to stop.", highlight=False)


def print_stopped(output: Output) -> None:
    output.info("lstream emulator stopped")


def format_request_line(log: RequestLog, now: float | None = None) -> str:
    """``12:00:01 stream GET /path 200 1.05 MB 12.3 ms  note``."""
    stamp = time.strftime("%H:%M:%S", time.localtime(now))
    line = (
        f"{stamp} {log.endpoint:<12} {log.method:<6} {log.path} {log.status} "
        f"{format_bytes(log.bytes)} {log.ms:.1f} ms"
    )
    if log.note:
        line += f"  ({log.note})"
    return line


class RequestLogPrinter:
    """A request-log sink (``EmulatorConfig.log``) writing one line per request."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream or sys.stderr
        self._lock = threading.Lock()

    def __call__(self, log: RequestLog) -> None:
        line = format_request_line(log) + "\n"
        with self._lock:
            try:
                self._stream.write(line)
                self._stream.flush()
            except (OSError, ValueError):
                pass
