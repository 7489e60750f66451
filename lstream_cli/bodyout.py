"""Where a response body goes: a file, stdout, or nowhere, written as it arrives.

Writes go straight to the file descriptor (no Python buffering), so what
was received is on disk even if the stream is cut or the user presses
Ctrl-C. Binary bodies are not dumped to a terminal (like curl).
"""

from __future__ import annotations

import os
import sys
from typing import BinaryIO

from lstream_cli._exitcodes import LstreamError, OutputClosed, UsageError

__all__ = ["BinaryToTerminal", "BodyWriter", "open_body_writer"]


class BinaryToTerminal(UsageError):
    """The body is binary and stdout is a terminal."""


class BodyWriter:
    """Writes chunks to ``fd``; ``name`` is for messages."""

    def __init__(self, fd: int, name: str, guard_binary: bool, owned: BinaryIO | None) -> None:
        self.fd = fd
        self.name = name
        self.guard_binary = guard_binary  # refuse binary on a terminal
        self._owned = owned
        self._checked = not guard_binary
        self.written = 0

    def __call__(self, chunk: bytes) -> None:
        if not self._checked:
            self._checked = True
            if b"\x00" in chunk[:4096]:
                raise BinaryToTerminal(
                    "the response body is binary and stdout is a terminal: "
                    "use -o FILE, pipe it, or '-o -' to print it anyway"
                )
        view = memoryview(chunk)
        try:
            while view:
                n = os.write(self.fd, view)
                view = view[n:]
                self.written += n
        except BrokenPipeError:
            raise OutputClosed() from None
        except OSError as exc:
            raise LstreamError(
                f"cannot write to {self.name}: {exc.strerror or exc} "
                f"({self.written:,} bytes written)"
            ) from None

    def close(self) -> None:
        if self._owned is not None:
            try:
                self._owned.close()
            except OSError as exc:
                raise LstreamError(f"cannot write to {self.name}: {exc.strerror or exc}") from None
            self._owned = None


def stdout_is_terminal(fd: int) -> bool:
    return os.isatty(fd)


def open_body_writer(output: str | None) -> BodyWriter:
    """``None`` = stdout (binary guarded on a terminal), ``-`` = stdout forced, else a file."""
    if output is None or output == "-":
        sys.stdout.flush()
        fd = sys.stdout.fileno()
        guard = output is None and stdout_is_terminal(fd)
        return BodyWriter(fd, "stdout", guard_binary=guard, owned=None)
    try:
        fh = open(output, "wb")  # noqa: SIM115 - closed by BodyWriter.close
    except OSError as exc:
        raise UsageError(f"cannot open -o {output}: {exc.strerror or exc}") from None
    return BodyWriter(fh.fileno(), output, guard_binary=False, owned=fh)
