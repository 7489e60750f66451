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
    from rich.console import Console, ConsoleOptions, RenderableType, RenderResult

__all__ = ["NaturalWidth", "Output", "make_output"]


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
            self._console = _stderr_console(self._width)
        return self._console

    @property
    def is_terminal(self) -> bool:
        return self.console.is_terminal

    # A message is text: a "[...]" in it (a URL's path, an IPv6 host, a header
    # value) is printed as it is, never read as rich markup.

    def info(self, message: str) -> None:
        if not self.quiet:
            self.console.print(_escape(message), highlight=False)

    def warn(self, message: str) -> None:
        # soft_wrap: one line whatever its length (scripts grep it; no hard breaks).
        self.console.print(
            f"[yellow]warning:[/] {_escape(message)}", highlight=False, soft_wrap=True
        )

    def error(self, message: str) -> None:
        self.console.print(
            f"lstream: [bold red]error:[/] {_escape(message)}", highlight=False, soft_wrap=True
        )


def _escape(message: str) -> str:
    from rich.markup import escape

    return escape(message)


class NaturalWidth:
    """Render ``inner`` no narrower than its natural width.

    A table of figures (no-wrap columns) on a console narrower than itself is
    cut by rich, each figure ending in "…". Rendered at its natural width and
    printed with ``crop=False``, its rows run long instead and the terminal
    wraps them: every figure stays whole.
    """

    def __init__(self, inner: RenderableType) -> None:
        self.inner = inner

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        from rich.measure import Measurement

        natural = Measurement.get(console, options.update_width(10_000), self.inner).maximum
        yield from console.render(self.inner, options.update_width(max(options.max_width, natural)))


def _stderr_console(width: int | None) -> Console:
    """The stderr console: NO_COLOR means no ANSI attributes at all, EPIPE is survived."""
    from rich.console import Console

    class _Console(Console):
        """A console that outlives the reader of stderr (``2>&1 | head -1``).

        rich's own answer to EPIPE is ``SystemExit(1)``: the result file would
        not be written and the exit status would lie. Here the console goes
        quiet, stderr is pointed at /dev/null, and the command carries on.
        """

        def on_broken_pipe(self) -> None:
            self.quiet = True
            try:
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, self.file.fileno())
                os.close(devnull)
            except (OSError, ValueError):
                pass

    # NO_COLOR (no-color.org): rich drops colours but keeps bold; drop every
    # style so the output carries no ANSI attributes at all.
    plain = bool(os.environ.get("NO_COLOR"))
    # emoji=False: ":name:" in a URL, header or error message is printed as
    # it is, not as an emoji (and rich's emoji table is never loaded).
    return _Console(
        stderr=True,
        width=width,
        soft_wrap=False,
        color_system=None if plain else "auto",
        emoji=False,
    )


def _width() -> int | None:
    """The console width: ``COLUMNS`` when it is a positive number, else a sane one.

    rich would take ``COLUMNS=0`` at its word and print nothing at all (not
    even the error line), and a non-number used to crash; neither may hide
    output.
    """
    raw = os.environ.get("COLUMNS", "").strip()
    valid = raw.isdigit() and int(raw) > 0
    if sys.stderr.isatty():
        if valid or not raw:
            return None  # rich reads COLUMNS or asks the terminal
        try:
            return os.get_terminal_size(sys.stderr.fileno()).columns or 80
        except OSError:
            return 80
    return int(raw) if valid else 100


def make_output(quiet: bool = False) -> Output:
    return Output(quiet=quiet, width=_width())
