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
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

from lstream_cli._exitcodes import LstreamError

__all__ = ["SCHEMA_VERSION", "atomic_write", "check_writable", "dumps", "write_json"]

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


def atomic_write(path: str, write: Callable[[TextIO], object], newline: str | None = None) -> None:
    """Run ``write`` on a temporary sibling of ``path``, then rename it into place.

    Whole or nothing: on any failure (full disk, Ctrl-C) the temporary file
    is removed and ``path`` is untouched. The file gets the usual
    umask-derived mode, not mkstemp's private 0600.
    """
    special = _special_file(path)
    if special:
        # A device, FIFO or terminal (/dev/stdout, /dev/null, >(jq .)): renaming
        # over it would replace the device node itself. Write into it instead.
        try:
            with open(path, "w", encoding="utf-8", newline=newline) as fh:
                write(fh)
        except OSError as exc:
            raise LstreamError(f"cannot write {path}: {exc.strerror or exc}") from None
        return
    # A symlink to a regular file: the file it names is replaced, the link kept.
    target = Path(os.path.realpath(path))
    directory = target.parent
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=directory)
    except OSError as exc:
        raise LstreamError(f"cannot write {path}: {exc.strerror or exc}") from None
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.fchmod(fd, 0o666 & ~umask)
        with os.fdopen(fd, "w", encoding="utf-8", newline=newline) as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(exc, OSError):
            raise LstreamError(f"cannot write {path}: {exc.strerror or exc}") from None
        raise


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
    try:
        fd, probe = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=directory)
    except OSError as exc:
        raise UsageError(
            f"{flag} {path}: cannot create a file in {directory}: {exc.strerror or exc}"
        ) from None
    os.close(fd)
    with contextlib.suppress(OSError):
        os.unlink(probe)
