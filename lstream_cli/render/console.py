"""The stderr console and the one-line message helpers every command uses.

Human output goes to stderr so stdout stays free for bodies and ``--json -``.
rich honours ``NO_COLOR`` and plain output when stderr is not a terminal.
The console (and rich with it) is created on first use: ``get -s`` that
succeeds never prints, so it never pays for importing rich.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console

__all__ = ["Output", "make_output"]


class Output:
    """Owns the stderr console; ``quiet`` silences everything but errors.

    ``console=None`` means the stderr console, created when first used.
    """

    def __init__(
        self, console: Console | None = None, quiet: bool = False, width: int | None = None
    ) -> None:
        self._console = console
        self._width = width
        self.quiet = quiet

    @property
    def console(self) -> Console:
        if self._console is None:
            from rich.console import Console

            self._console = Console(stderr=True, width=self._width, soft_wrap=False)
        return self._console

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
    return Output(quiet=quiet, width=width)
