"""The event loop the load engine and the emulator run on."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable

__all__ = ["new_event_loop", "on_stop_signals", "remove_stop_signals"]


def new_event_loop() -> asyncio.AbstractEventLoop:
    """uvloop's loop when installed (about twice the request rate), else asyncio's."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency where it installs
        return asyncio.new_event_loop()
    loop: asyncio.AbstractEventLoop = uvloop.new_event_loop()
    return loop


def on_stop_signals(loop: asyncio.AbstractEventLoop, stop: Callable[[], None]) -> list[int]:
    """SIGINT and SIGTERM call ``stop`` on ``loop`` (where it can have signal handlers).

    Returns the signals installed, for :func:`remove_stop_signals`.
    """
    installed: list[int] = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop)
            installed.append(sig)
        except (NotImplementedError, RuntimeError, ValueError):
            pass
    return installed


def remove_stop_signals(loop: asyncio.AbstractEventLoop, installed: list[int]) -> None:
    for sig in installed:
        loop.remove_signal_handler(sig)
