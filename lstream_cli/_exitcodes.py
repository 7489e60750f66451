"""The one exit-code table shared by every command.

Documented in ``lstream --help`` and the README; scripts rely on it, so a
value never changes meaning.
"""

from __future__ import annotations

from enum import IntEnum

__all__ = [
    "EXIT_CODE_HELP",
    "ExitStatus",
    "LstreamError",
    "OutputClosed",
    "UsageError",
    "exit_status_for_error",
]


class ExitStatus(IntEnum):
    SUCCESS = 0
    ERROR = 1  # anything else: a failed write to the output, an internal error
    USAGE = 2  # bad flag, bad URL, missing file, no credentials for --auth iam
    HTTP_ERROR = 3  # a non-2xx final status, 3xx included (bench: errors)
    TRUNCATED = 4  # the body ended before the protocol said it would
    NETWORK = 5  # connection refused, DNS, TLS failure or timeout
    THRESHOLDS = 6  # bench: a --fail-if threshold was breached
    INTERRUPTED = 130  # Ctrl-C (128 + SIGINT)
    TERMINATED = 143  # SIGTERM (128 + SIGTERM), handled as Ctrl-C is


EXIT_CODE_HELP = """\b
Exit codes:
  0    success
  1    other error (output could not be written, internal error)
  2    usage error (bad flag, URL, file, missing, expired or broken credentials, no region)
  3    HTTP error: final status not 2xx (3xx too: no -L, or past --max-redirs); bench: every request failed (HTTP errors, or mixed)
  4    stream truncated (body cut before its end); bench: every request truncated
  5    connection failure or timeout (refused, DNS, TLS, --timeout, --stall-timeout); bench: no request got through
  6    a --fail-if threshold was breached (bench)
  130  interrupted (Ctrl-C); partial results are still printed and written
  143  terminated (SIGTERM), handled as Ctrl-C: partial results are still printed and written"""


class LstreamError(Exception):
    """An error the user can act on: printed as one line, mapped to an exit code."""

    exit_status: ExitStatus = ExitStatus.ERROR

    def __init__(self, message: str, exit_status: ExitStatus | None = None) -> None:
        super().__init__(message)
        if exit_status is not None:
            self.exit_status = exit_status


class UsageError(LstreamError):
    exit_status = ExitStatus.USAGE


def exit_status_for_error(error: str | None) -> ExitStatus:
    """The exit status of a request that ended with error class ``error``."""
    if error is None:
        return ExitStatus.SUCCESS
    if error == "truncated":
        return ExitStatus.TRUNCATED
    if error in ("connect", "tls", "timeout", "stalled"):
        return ExitStatus.NETWORK
    return ExitStatus.HTTP_ERROR


class OutputClosed(LstreamError):
    """The reader of stdout went away (``| head``): stop quietly, exit 0."""

    exit_status = ExitStatus.SUCCESS

    def __init__(self) -> None:
        super().__init__("output closed")
