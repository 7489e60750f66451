"""The flags that run a stack from a template: ``--template``, ``--parameter-overrides``, ``--s3``.

Shared by ``serve`` and ``compare-modes``. ``--parameter-overrides`` reads
like SAM CLI's: ``--parameter-overrides A=1 B=2`` (every ``NAME=VALUE``
that follows, up to the next flag), repeated, or one quoted ``'A=1 B=2'``.
"""

from __future__ import annotations

import functools
import shlex
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import click

from lstream_cli._exitcodes import UsageError

__all__ = ["StackCommand", "StackFlags", "stack_options"]

F = TypeVar("F", bound=Callable[..., Any])
_FLAG = "--parameter-overrides"


class StackCommand(click.Command):
    """A command whose ``--parameter-overrides`` takes every ``NAME=VALUE`` that follows."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        return super().parse_args(ctx, spread_overrides(args))


def spread_overrides(args: Sequence[str]) -> list[str]:
    """``--parameter-overrides A=1 B=2`` as ``--parameter-overrides A=1 --parameter-overrides B=2``."""
    out: list[str] = []
    taking = False
    index = 0
    while index < len(args):
        arg = args[index]
        if arg == "--":
            out.extend(args[index:])
            break
        if arg == _FLAG:
            out.append(arg)
            if index + 1 < len(args):
                out.append(args[index + 1])
                index += 1
            taking = True
        elif arg.startswith(_FLAG + "="):
            out.append(arg)
            taking = True
        elif taking and not arg.startswith("-") and "=" in arg:
            out.extend((_FLAG, arg))
        else:
            taking = False
            out.append(arg)
        index += 1
    return out


@dataclass(frozen=True, slots=True)
class StackFlags:
    """``--template``, ``--parameter-overrides`` and ``--s3`` as given."""

    template: Path | None
    overrides: tuple[str, ...]
    s3: Path | None

    def override_items(self) -> list[str]:
        items: list[str] = []
        for value in self.overrides:
            try:
                items.extend(shlex.split(value))
            except ValueError:
                raise UsageError("--parameter-overrides: unbalanced quotes") from None
        return items

    def check(self) -> None:
        if self.template is None and self.overrides:
            raise UsageError("--parameter-overrides needs --template")


def stack_options(func: F) -> F:
    """Add ``--template``, ``--parameter-overrides`` and ``--s3``; pass ``stack=StackFlags``."""

    @click.option(
        "--template",
        type=click.Path(path_type=Path, dir_okay=False),
        default=None,
        metavar="FILE",
        help="Run the stack of this SAM or CloudFormation template (docs/template.md).",
    )
    @click.option(
        _FLAG,
        "overrides",
        multiple=True,
        metavar="NAME=VALUE ...",
        help="Template parameter values (as SAM CLI's: A=1 B=2, or 'A=1 B=2').",
    )
    @click.option(
        "--s3",
        "s3_dir",
        type=click.Path(path_type=Path, file_okay=False),
        default=None,
        metavar="DIR",
        help="A local S3 for the functions: one bucket per subfolder of DIR, one object per file.",
    )
    @functools.wraps(func)
    def wrapper(
        *args: Any,
        template: Path | None,
        overrides: tuple[str, ...],
        s3_dir: Path | None,
        **kwargs: Any,
    ) -> Any:
        return func(*args, stack=StackFlags(template, overrides, s3_dir), **kwargs)

    return wrapper  # type: ignore[return-value]
