"""One measured run with what the caller saw of a failure, and the body excerpt it keeps.

compare-modes reports a failed cell with the error the caller saw: the
status and the first bytes of the body, or the Lambda API's error type.
:class:`BodyHead` is the sink that keeps those first bytes; both the URL
modes and the Lambda API driver (:mod:`lstream_cli.engine.lambda_api`)
return a :class:`Measured`.
"""

from __future__ import annotations

from dataclasses import dataclass

from lstream_cli.models import RequestRecord

__all__ = ["EXCERPT_BYTES", "BodyHead", "Measured", "one_line"]

EXCERPT_BYTES = 300


@dataclass(frozen=True, slots=True)
class Measured:
    """One run of one cell: the record plus what the caller saw of a failure."""

    record: RequestRecord
    excerpt: str = ""  # the first bytes of the body, one line, for failed runs
    error_code: str | None = None  # Lambda API error type (FunctionError, ClientError code)


def one_line(text: str) -> str:
    """``text`` fit for a row: whitespace runs made one space, at most 200 characters."""
    return " ".join(text.split())[:200]


class BodyHead:
    """A sink that keeps only the first bytes of a body (for error excerpts)."""

    __slots__ = ("buf", "keep")

    def __init__(self, keep: int = EXCERPT_BYTES) -> None:
        self.keep = keep
        self.buf = bytearray()

    def __call__(self, chunk: bytes) -> None:
        room = self.keep - len(self.buf)
        if room > 0:
            self.buf += chunk[:room]

    def text(self) -> str:
        raw = bytes(self.buf).decode("utf-8", "replace")
        if any(c < " " and c not in "\t\r\n" for c in raw):
            return f"({len(self.buf)}+ bytes of binary body)"
        return one_line(raw)
