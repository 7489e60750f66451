"""What a function's execution environments report, as CloudWatch would log it.

The emulator never prints: each environment hands typed records to a
:data:`FunctionLogSink` (``EmulatorConfig.function_log``), and
:mod:`lstream_cli.render.serve` writes them as Lambda's log lines:

- :class:`FunctionOutput`: one line the function printed (stdout or stderr),
  with the request id in flight (Node.js's own lines already carry it);
- :class:`InvocationStart` / :class:`InvocationEnd`: ``START RequestId: ...
  Version: $LATEST`` and ``END RequestId: ...``;
- :class:`InvocationReport`: ``REPORT RequestId: ... Duration ... Billed
  Duration ... Memory Size ... Max Memory Used ... Init Duration`` (the
  memory from the process's peak resident set size);
- :class:`PlatformNote`: what the platform itself says (``Task timed out
  after 3.00 seconds``, a runtime exit, an init error, a caller that left).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

__all__ = [
    "FunctionLogRecord",
    "FunctionLogSink",
    "FunctionOutput",
    "InvocationEnd",
    "InvocationReport",
    "InvocationStart",
    "PlatformNote",
]


@dataclass(frozen=True, slots=True)
class FunctionOutput:
    function: str
    request_id: str | None  # None between invocations (init)
    stream: str  # "stdout" | "stderr"
    text: str  # one line, without its newline


@dataclass(frozen=True, slots=True)
class InvocationStart:
    function: str
    request_id: str
    version: str = "$LATEST"


@dataclass(frozen=True, slots=True)
class InvocationEnd:
    function: str
    request_id: str


@dataclass(frozen=True, slots=True)
class InvocationReport:
    function: str
    request_id: str
    duration_ms: float
    billed_ms: int
    memory_mb: int
    max_memory_mb: int | None  # None: not measurable (the process is gone)
    init_ms: float | None  # the cold start's init, on its first invocation only
    status: str | None = None  # "timeout", "error", ... (None: success)


@dataclass(frozen=True, slots=True)
class PlatformNote:
    function: str
    request_id: str | None
    text: str


FunctionLogRecord = (
    FunctionOutput | InvocationStart | InvocationEnd | InvocationReport | PlatformNote
)
FunctionLogSink = Callable[[FunctionLogRecord], None]
