"""The stderr console and the one-line message helpers every command uses.

Human output goes to stderr so stdout stays free for bodies and ``--json -``.
rich honours ``NO_COLOR`` and plain output when stderr is not a terminal.
"""

from __future__ import annotations

import os
import sys

from rich.console import Console

__all__ = ["Output", "make_output"]


class Output:
    """Owns the stderr console; ``quiet`` silences everything but errors."""

    def __init__(self, console: Console, quiet: bool = False) -> None:
        self.console = console
        self.quiet = quiet

    @property
    def is_terminal(self) -> bool:
        return self.console.is_terminal

    def info(self, message: str) -> None:
        if not self.quiet:
            self.console.print(message, highlight=False)

    def warn(self, message: str) -> None:
        # soft_wrap: one line whatever its length (scripts grep it; no hard breaks).
        self.console.print(f"[yellow]warning:[/] {message}", highlight=False, soft_wrap=True)

    def error(self, message: str) -> None:
        self.console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)


def make_output(quiet: bool = False) -> Output:
    width = None if sys.stderr.isatty() else int(os.environ.get("COLUMNS", "100") or 100)
    console = Console(stderr=True, width=width, soft_wrap=False)
    return Output(console, quiet=quiet)
