"""What ``lstream serve`` shows: its endpoints, then one line per request.

The endpoint table goes through the rich console (colour on a terminal,
plain text otherwise). Request lines are plain text written straight to
stderr: a load test may send tens of thousands a second and rich's layout
engine would become the bottleneck. A function's log (its output, START,
END and REPORT) is written the same way, in CloudWatch's words. Nothing here ever prints a header
value: the secret header is named, its value never shown.
"""

from __future__ import annotations

import asyncio
import atexit
import sys
import threading
import time
import weakref
from collections.abc import Mapping
from typing import TextIO

from rich.table import Table

from lstream_cli.emulator.config import RequestLog
from lstream_cli.emulator.logs import (
    FunctionLogRecord,
    FunctionOutput,
    InvocationEnd,
    InvocationReport,
    InvocationStart,
    PlatformNote,
)
from lstream_cli.render.console import Output
from lstream_cli.units import format_bytes

__all__ = [
    "FunctionLogPrinter",
    "RequestLogPrinter",
    "flush_lines",
    "format_function_log",
    "format_request_line",
    "print_endpoints",
    "print_stopped",
]

_LABELS = {
    "stream": "function URL, RESPONSE_STREAM",
    "buffered": "function URL, BUFFERED",
    "apigw": "API Gateway (HTTP_PROXY, buffered)",
    "apigw_stream": "API Gateway REST, STREAM",
    "lambda_api": "Lambda API (--endpoint-url)",
}


def print_endpoints(
    output: Output,
    endpoints: Mapping[str, str],
    settings: Mapping[str, str],
    labels: Mapping[str, str] | None = None,
    outputs: Mapping[str, str] | None = None,
) -> None:
    """The endpoint table and the settings that change what callers see.

    ``labels``: what each endpoint emulates (default: the five built-in ones);
    ``outputs``: a stack's outputs, as a second table.
    """
    if output.quiet:
        return
    labels = _LABELS if labels is None else labels
    table = Table(title="lstream emulator", title_justify="left", show_edge=False, box=None)
    # The names and URLs are what a user copies: never wrapped or cut ("…"); on a
    # narrow console the description wraps, and past that the rows run long.
    table.add_column("endpoint", style="bold", no_wrap=True)
    table.add_column("URL", style="cyan", no_wrap=True)
    table.add_column("emulates")
    for name, url in endpoints.items():
        table.add_row(name, url, labels.get(name, ""))
    output.console.print(table, crop=False)
    if outputs:
        out = Table(title="outputs", title_justify="left", show_edge=False, box=None)
        out.add_column("output", style="bold", no_wrap=True)
        out.add_column("value", style="cyan", no_wrap=True)
        for name, value in outputs.items():
            out.add_row(name, value)
        output.console.print(out, crop=False)
    for key, value in settings.items():
        output.console.print(f"  {key}: {value}", highlight=False)
    output.console.print("Press Ctrl-C to stop.", highlight=False)


def print_stopped(output: Output) -> None:
    flush_lines()  # the last request lines before the last word
    output.info("lstream emulator stopped")


_clock: tuple[int, str] = (-1, "")


def _clock_stamp(now: float | None) -> str:
    """``HH:MM:SS`` in local time, formatted once per second."""
    global _clock
    second = int(time.time() if now is None else now)
    if _clock[0] != second:
        _clock = (second, time.strftime("%H:%M:%S", time.localtime(second)))
    return _clock[1]


# Byte counts as the log shows them, for the counts that come again and again
# (a load test asks for one size); bounded.
_sizes: dict[int, str] = {}


def format_request_line(log: RequestLog, now: float | None = None) -> str:
    """``12:00:01 stream GET /path 200 1.05 MB 12.3 ms  note``."""
    stamp = _clock_stamp(now)
    size = _sizes.get(log.bytes)
    if size is None:
        size = format_bytes(log.bytes)
        if len(_sizes) >= 1024:
            _sizes.clear()
        _sizes[log.bytes] = size
    line = (
        f"{stamp} {log.endpoint:<12} {log.method:<6} {log.path} {log.status} {size} {log.ms:.1f} ms"
    )
    if log.note:
        line += f"  ({log.note})"
    return line


# Lines waiting to be written, per stream, in the order they came; every printer
# shares them, so lines of both logs keep their order on a shared stderr.
_lines_lock = threading.Lock()
_lines: dict[int, tuple[TextIO, list[str]]] = {}
# Event loops with a flush of the waiting lines scheduled (weakly: a loop that
# stopped before its flush ran must not stand for a new one).
_armed: weakref.WeakSet[asyncio.AbstractEventLoop] = weakref.WeakSet()
# The loop armed last, while its flush is pending: the common case, checked
# without the weak set's own work per line.
_armed_last: asyncio.AbstractEventLoop | None = None
_MAX_WAITING = 512  # lines: past this they are written at once
BATCH_S = 0.01  # a batched line waits at most this long (and its loop's turn) to be written


def flush_lines() -> None:
    """Write every line still waiting (the request log's, batched per loop iteration)."""
    with _lines_lock:
        _write_waiting()


def _write_waiting() -> None:
    batches = list(_lines.values())
    _lines.clear()
    for stream, lines in batches:
        try:
            stream.write("".join(lines))
            stream.flush()
        except (OSError, ValueError):
            pass  # a closed stream is ignored


def _flush_for(loop: asyncio.AbstractEventLoop) -> None:
    global _armed_last
    with _lines_lock:
        _armed.discard(loop)
        if _armed_last is loop:
            _armed_last = None
        _write_waiting()


atexit.register(flush_lines)


class _LinePrinter:
    """Whole lines to a stream (stderr), one writer at a time; a closed stream is ignored.

    ``batched`` lines written from a running event loop wait up to
    ``BATCH_S`` (10 ms) and leave together, in one write: at tens of
    thousands of requests a second, a write and flush per line (or per loop
    iteration, a few requests each) would cost more than serving the
    request. Any other line is written at once, after the lines waiting
    before it; so are the waiting ones past ``_MAX_WAITING`` lines, and
    :func:`flush_lines` writes them all (at exit, when the server stops).
    """

    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream or sys.stderr

    def _write(self, line: str, batched: bool = False) -> None:
        global _armed_last
        stream = self._stream
        with _lines_lock:
            waiting = _lines.get(id(stream))
            if waiting is None:
                waiting = _lines[id(stream)] = (stream, [])
            waiting[1].append(line + "\n")
            if batched and len(waiting[1]) < _MAX_WAITING:
                try:
                    loop = asyncio.get_running_loop()
                except RuntimeError:
                    pass  # no loop on this thread: written now
                else:
                    if loop is not _armed_last and loop not in _armed:
                        _armed.add(loop)
                        loop.call_later(BATCH_S, _flush_for, loop)
                    _armed_last = loop
                    return
            _write_waiting()


class RequestLogPrinter(_LinePrinter):
    """A request-log sink (``EmulatorConfig.log``) writing one line per request.

    The lines of one loop iteration leave in one write (see ``_LinePrinter``).
    """

    def __call__(self, log: RequestLog) -> None:
        self._write(format_request_line(log), batched=True)


def _stamp(now: float | None = None) -> str:
    t = time.time() if now is None else now
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t * 1000) % 1000:03d}Z"


def format_function_log(record: FunctionLogRecord, now: float | None = None) -> str:
    """One record as CloudWatch shows it (``START RequestId: ...``, ``REPORT ...``)."""
    if isinstance(record, FunctionOutput):
        rid = record.request_id
        if rid is None or rid in record.text:
            return record.text  # Node.js's lines carry their own time and request id
        return f"{_stamp(now)}\t{rid}\t{record.text}"
    if isinstance(record, InvocationStart):
        return f"START RequestId: {record.request_id} Version: {record.version}"
    if isinstance(record, InvocationEnd):
        return f"END RequestId: {record.request_id}"
    if isinstance(record, InvocationReport):
        parts = [
            f"REPORT RequestId: {record.request_id}",
            f"Duration: {record.duration_ms:.2f} ms",
            f"Billed Duration: {record.billed_ms} ms",
            f"Memory Size: {record.memory_mb} MB",
            "Max Memory Used: "
            + (f"{record.max_memory_mb} MB" if record.max_memory_mb is not None else "-"),
        ]
        if record.init_ms is not None:
            parts.append(f"Init Duration: {record.init_ms:.2f} ms")
        if record.status is not None:
            parts.append(f"Status: {record.status}")
        return "\t".join(parts)
    assert isinstance(record, PlatformNote)
    if record.request_id is not None and not record.text.startswith(("RequestId:", "Runtime.")):
        return f"{_stamp(now)} {record.request_id} {record.text}"
    return record.text


class FunctionLogPrinter(_LinePrinter):
    """A function-log sink (``EmulatorConfig.function_log``): one line per record, on stderr."""

    def __call__(self, record: FunctionLogRecord) -> None:
        self._write(format_function_log(record))
