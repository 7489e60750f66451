"""Where a response body goes: a file, stdout, or nowhere, written as it arrives.

Writes go straight to the file descriptor (no Python buffering), so what
was received is on disk even if the stream is cut or the user presses
Ctrl-C. Binary bodies are not dumped to a terminal (like curl).

An ``-o FILE`` is opened up front (an unwritable path is a usage error
before anything is sent) but only emptied when the response arrives: a
refused connection or a DNS failure leaves an existing file as it was, and
creates no new one, like curl.
"""

from __future__ import annotations

import contextlib
import os
import stat
import sys

from lstream_cli._exitcodes import LstreamError, OutputClosed, UsageError

__all__ = ["BinaryToTerminal", "BodyWriter", "check_apart", "open_body_writer"]


_BINARY_WINDOW = 4096  # how much of the body is looked at for binary


class BinaryToTerminal(UsageError):
    """The body is binary and stdout is a terminal."""


class BodyWriter:
    """Writes chunks to ``fd``; ``name`` is for messages.

    ``owned``: the writer opened ``fd`` on the file ``name`` (and closes it);
    ``created``: that file did not exist before. Until :meth:`responded` or
    the first write, an owned file is left untouched.
    """

    def __init__(
        self,
        fd: int,
        name: str,
        guard_binary: bool,
        owned: bool = False,
        created: bool = False,
        terminal: bool = False,
    ) -> None:
        self.fd = fd
        self.name = name
        self.guard_binary = guard_binary  # refuse binary on a terminal
        self.terminal = terminal  # the body goes to a terminal (no progress line over it)
        self.last_byte = b""  # the last byte written (to end a terminal line after it)
        self._owned = owned
        self._created = created
        self._emptied = not owned  # stdout is never truncated
        # Body bytes still to look at for a NUL (the first 4 KiB, however
        # they are split into chunks; curl looks at its first 2,000).
        self._check_left = _BINARY_WINDOW if guard_binary else 0
        self.written = 0

    def responded(self) -> None:
        """A response arrived: the file now holds its body (empty until it comes)."""
        if not self._emptied:
            self._emptied = True
            try:
                if stat.S_ISREG(os.fstat(self.fd).st_mode):
                    os.ftruncate(self.fd, 0)
            except OSError as exc:
                raise LstreamError(f"cannot write to {self.name}: {exc.strerror or exc}") from None

    def head(self, text: bytes) -> None:
        """The response head for ``-i``: written, but not what the binary check looks at."""
        left, self._check_left = self._check_left, 0
        try:
            self(text)
        finally:
            self._check_left = left

    def __call__(self, chunk: bytes) -> None:
        if self._check_left > 0 or not self._emptied:
            self._first(chunk)
        if not chunk:
            return
        if self.terminal:
            self.last_byte = bytes(chunk[-1:])
        try:
            n = os.write(self.fd, chunk)  # nearly always the whole chunk at once
            self.written += n
            if n < len(chunk):
                view = memoryview(chunk)[n:]
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

    def _first(self, chunk: bytes) -> None:
        """The body's first bytes: the binary check on a terminal, the file emptied."""
        if self._check_left > 0:
            window = chunk[: self._check_left]
            self._check_left -= len(window)
            if b"\x00" in bytes(window):
                raise BinaryToTerminal(
                    "the response body is binary and stdout is a terminal: "
                    "use -o FILE, pipe it, or '-o -' to print it anyway"
                )
        if not self._emptied:
            self.responded()

    def end_line(self) -> None:
        """On a terminal, end the body's last line so what follows starts on its own."""
        if self.terminal and self.written and self.last_byte != b"\n":
            with contextlib.suppress(OSError):
                os.write(self.fd, b"\n")

    def close(self) -> None:
        """Close an owned file; one created for a response that never came is removed."""
        if not self._owned:
            return
        self._owned = False
        try:
            os.close(self.fd)
        except OSError as exc:
            raise LstreamError(f"cannot write to {self.name}: {exc.strerror or exc}") from None
        if self._created and not self._emptied:
            with contextlib.suppress(OSError):
                os.unlink(self.name)


def stdout_is_terminal(fd: int) -> bool:
    return os.isatty(fd)


def open_body_writer(output: str | None) -> BodyWriter:
    """``None`` = stdout (binary guarded on a terminal), ``-`` = stdout forced, else a file."""
    if output is None or output == "-":
        if sys.stdout is None:  # started with stdout closed (>&-)
            raise LstreamError("cannot write the body to stdout: it is closed (use -o FILE)")
        sys.stdout.flush()
        fd = sys.stdout.fileno()
        terminal = stdout_is_terminal(fd)
        return BodyWriter(fd, "stdout", guard_binary=output is None and terminal, terminal=terminal)
    existed = os.path.lexists(output)
    try:
        # No O_TRUNC: the file is emptied when the response arrives (responded()).
        fd = os.open(output, os.O_WRONLY | os.O_CREAT | getattr(os, "O_BINARY", 0), 0o666)
    except OSError as exc:
        raise UsageError(f"cannot open -o {output}: {exc.strerror or exc}") from None
    return BodyWriter(fd, output, guard_binary=False, owned=True, created=not existed)


def _identity(path: str | None) -> tuple[int, int, int] | None:
    """(device, inode, mode) of where ``path`` writes (None/``-`` = stdout), or None."""
    try:
        if path is None or path == "-":
            if sys.stdout is None:
                return None
            st = os.fstat(sys.stdout.fileno())
        else:
            st = os.stat(path)
    except (OSError, ValueError):
        return None
    return st.st_dev, st.st_ino, st.st_mode


def check_apart(output: str | None, json_path: str | None) -> None:
    """Refuse a body and a result file that would land in the same file.

    ``-o out.json --json out.json`` (or a symlink, a hard link, or
    ``--json /dev/stdout`` with the body on stdout) would let one replace or
    interleave the other. Character devices (``/dev/null``, a terminal) are
    fine to share: nothing is replaced there.
    """
    if json_path is None:
        return
    body_name = "stdout" if output is None or output == "-" else output
    if json_path == "-":
        return  # with the body on stdout, refused by the command; else apart
    a, b = _identity(output), _identity(json_path)
    if (a is not None and stat.S_ISCHR(a[2])) or (b is not None and stat.S_ISCHR(b[2])):
        return
    both_files = output is not None and output != "-"
    if both_files and os.path.realpath(json_path) == os.path.realpath(str(output)):
        raise UsageError(f"-o and --json both name {json_path}: one would replace the other")
    if a is not None and b is not None and a[:2] == b[:2]:
        raise UsageError(
            f"--json {json_path} is the same file as the body's ({body_name}): "
            "one would replace the other"
        )
