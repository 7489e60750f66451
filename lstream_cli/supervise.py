"""Stop signals and worker processes: SIGTERM ends a run as Ctrl-C does.

``timeout 60 lstream bench ...``, a CI runner cancelling a job, ``kill PID``
and systemd all send SIGTERM. :func:`install` makes it take Ctrl-C's path
in every command: the run stops, the partial report is printed, ``--json``
is written whole, one line says why, and the exit status is 143 (128 +
SIGTERM) instead of 130 (128 + SIGINT). The handler records the signal and
raises SIGINT in the process itself, so every place that already stops
cleanly on Ctrl-C (a KeyboardInterrupt, an event loop's signal handler, the
load engine's parent) stops the same way on SIGTERM.

Worker processes (bench's) leave both signals to their parent, which owns
the run: they ignore them and stop when the parent tells them, or when it
is gone. While they start, both signals are blocked, so one that arrives
then waits for the parent's handler instead of killing a half-started
worker.
"""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator
from types import FrameType

from lstream_cli._exitcodes import ExitStatus

__all__ = [
    "STOP_SIGNALS",
    "ignore_stop_signals",
    "install",
    "reset",
    "stop_signals_blocked",
    "stop_status",
    "stopped_by",
    "stopped_word",
]

STOP_SIGNALS = frozenset({signal.SIGINT, signal.SIGTERM})

_stopped_by: int | None = None


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    global _stopped_by
    _stopped_by = signal.SIGTERM
    # Ctrl-C's path, whatever handles SIGINT right now (a KeyboardInterrupt
    # raised here, an event loop's handler, the load engine's parent).
    signal.raise_signal(signal.SIGINT)


def install() -> None:
    """Take SIGTERM as a stop request (see the module doc); call once at start-up."""
    signal.signal(signal.SIGTERM, _on_sigterm)


def reset() -> None:
    """Forget a SIGTERM seen before (for a second run in the same process)."""
    global _stopped_by
    _stopped_by = None


def stopped_by() -> int | None:
    """SIGTERM when a SIGTERM stopped the run, else None (Ctrl-C or nothing)."""
    return _stopped_by


def stop_status() -> ExitStatus:
    """The exit status of a stopped run: 143 after SIGTERM, 130 after Ctrl-C."""
    return ExitStatus.TERMINATED if _stopped_by == signal.SIGTERM else ExitStatus.INTERRUPTED


def stopped_word() -> str:
    """``interrupted`` (Ctrl-C) or ``terminated (SIGTERM)``, to start the one line."""
    return "terminated (SIGTERM)" if _stopped_by == signal.SIGTERM else "interrupted"


@contextlib.contextmanager
def stop_signals_blocked() -> Iterator[None]:
    """Block SIGINT and SIGTERM in this thread for the block (processes started inherit it)."""
    if not hasattr(signal, "pthread_sigmask"):  # pragma: no cover - not POSIX
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def ignore_stop_signals() -> None:
    """In a worker process: leave SIGINT and SIGTERM to the parent, then unblock them."""
    for sig in STOP_SIGNALS:
        signal.signal(sig, signal.SIG_IGN)
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
