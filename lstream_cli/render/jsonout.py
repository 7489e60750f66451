"""Result files, written whole or not at all.

A file is written to a temporary sibling and renamed into place, so a
crash, a full disk or Ctrl-C never leaves half a JSON document behind.
``-`` writes to stdout; a device or FIFO (``/dev/stdout``, ``/dev/null``,
``>(jq .)``) is written in place, never renamed over.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TextIO

from lstream_cli._exitcodes import LstreamError

if TYPE_CHECKING:
    from pathlib import Path

__all__ = [
    "SCHEMA_VERSION",
    "AtomicFile",
    "atomic_write",
    "check_writable",
    "dumps",
    "write_json",
]

SCHEMA_VERSION = 2


def dumps(doc: dict[str, Any]) -> str:
    return json.dumps(doc, indent=2, sort_keys=False, allow_nan=False) + "\n"


def write_json(path: str, doc: dict[str, Any]) -> None:
    """Write ``doc`` to ``path`` atomically ('-' = stdout)."""
    text = dumps(doc)
    if path == "-":
        if sys.stdout is None:  # started with stdout closed (>&-)
            raise LstreamError("cannot write the result to stdout: it is closed")
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    atomic_write(path, lambda fh: fh.write(text))


class AtomicFile:
    """A result file written in steps, still whole or not at all.

    A regular file is written to a temporary sibling (the usual umask-derived
    mode, not mkstemp's private 0600) that :meth:`commit` renames into place
    and :meth:`discard` removes; a symlink to a regular file keeps the link
    and replaces the file it names. A device, FIFO or terminal
    (``/dev/stdout``, ``/dev/null``, ``>(jq .)``) is written in place:
    renaming over it would replace the device node itself.
    """

    def __init__(self, path: str, newline: str | None = None) -> None:
        self.path = path
        self._tmp: str | None = None
        self._target: Path | None = None
        try:
            if _special_file(path):
                self.fh: TextIO = open(path, "w", encoding="utf-8", newline=newline)  # noqa: SIM115
                return
            import tempfile  # a real file only: stdout and /dev/null never load it
            from pathlib import Path

            self._target = Path(os.path.realpath(path))
            fd, self._tmp = tempfile.mkstemp(
                prefix=f".{self._target.name}.", suffix=".tmp", dir=self._target.parent
            )
        except OSError as exc:
            raise LstreamError(f"cannot write {path}: {exc.strerror or exc}") from None
        try:
            umask = os.umask(0)
            os.umask(umask)
            os.fchmod(fd, 0o666 & ~umask)
            self.fh = os.fdopen(fd, "w", encoding="utf-8", newline=newline)
        except BaseException:
            os.close(fd)
            self.discard()
            raise

    def commit(self) -> None:
        """Flush and put the file in place; LstreamError (and nothing left) when that fails."""
        try:
            self.fh.flush()
            if self._tmp is not None:
                os.fsync(self.fh.fileno())
            self.fh.close()
            if self._tmp is not None and self._target is not None:
                os.replace(self._tmp, self._target)
                self._tmp = None
        except OSError as exc:
            self.discard()
            raise LstreamError(f"cannot write {self.path}: {exc.strerror or exc}") from None

    def discard(self) -> None:
        """Give up: the temporary file is removed, ``path`` is untouched."""
        with contextlib.suppress(OSError, AttributeError):
            self.fh.close()
        if self._tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(self._tmp)
            self._tmp = None


def atomic_write(path: str, write: Callable[[TextIO], object], newline: str | None = None) -> None:
    """Run ``write`` on an :class:`AtomicFile` for ``path``, then put it in place.

    Whole or nothing: on any failure (full disk, Ctrl-C) the temporary file
    is removed and ``path`` is untouched.
    """
    out = AtomicFile(path, newline)
    try:
        write(out.fh)
    except BaseException as exc:
        out.discard()
        if isinstance(exc, OSError):
            raise LstreamError(f"cannot write {path}: {exc.strerror or exc}") from None
        raise
    out.commit()


def _special_file(path: str) -> bool:
    """``path`` exists and is not a regular file (a device, FIFO, socket or terminal)."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return False
    return not stat.S_ISREG(mode) and not stat.S_ISDIR(mode)


def check_writable(path: str, flag: str = "--json") -> None:
    """Fail early (usage error) when ``path``'s folder cannot take a result file.

    ``flag`` names the option in the message (``--json``, ``--csv``).
    """
    from pathlib import Path

    from lstream_cli._exitcodes import UsageError

    target = Path(path)
    directory = target.parent if str(target.parent) else Path(".")
    if target.is_dir():
        raise UsageError(f"{flag} {path}: is a directory")
    if _special_file(path):
        # Written in place (see atomic_write): its own permission is what counts.
        if not os.access(path, os.W_OK):
            raise UsageError(f"{flag} {path}: not writable")
        return
    target = Path(os.path.realpath(path))
    directory = target.parent
    if not directory.is_dir():
        raise UsageError(f"{flag} {path}: no such directory {directory}")
    if not os.access(directory, os.W_OK):
        raise UsageError(f"{flag} {path}: the directory is not writable")
    # os.access says yes to root everywhere and knows nothing of read-only
    # mounts or /proc and /sys: create (and remove) a real file to be sure.
    import tempfile

    try:
        fd, probe = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=directory)
    except OSError as exc:
        raise UsageError(
            f"{flag} {path}: cannot create a file in {directory}: {exc.strerror or exc}"
        ) from None
    os.close(fd)
    with contextlib.suppress(OSError):
        os.unlink(probe)
