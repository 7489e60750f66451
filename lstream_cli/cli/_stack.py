"""The flags that run a stack from a template: ``--template``, ``--parameter-overrides``, ``--s3``.

Shared by ``serve`` and ``compare-modes``. ``--parameter-overrides`` reads
like SAM CLI's: ``--parameter-overrides A=1 B=2`` (every ``NAME=VALUE``
that follows, up to the next flag), repeated, or one quoted ``'A=1 B=2'``.
"""

from __future__ import annotations

import contextlib
import functools
import shlex
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import click

from lstream_cli._exitcodes import UsageError

__all__ = [
    "TEMPLATE_DECIDES",
    "ServeStackArgs",
    "StackCommand",
    "StackFlags",
    "refuse_template_conflicts",
    "serve_stack",
    "stack_options",
    "stack_sweep_plan",
]

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


# Flags of `serve` that a template decides instead (refused with --template).
TEMPLATE_DECIDES = {
    "auth": "--auth (each function URL's AuthType decides)",
    "handler": "--handler (the template's functions run)",
    "bootstrap": "--bootstrap (a provided.* function's CodeUri holds its bootstrap)",
    "function_timeout": "--function-timeout (each function's Timeout decides)",
    "memory": "--memory (each function's MemorySize decides)",
    "concurrency": "--concurrency (each function's ReservedConcurrentExecutions decides)",
    "secret_header": "--secret-header (the methods' RequestParameters add it)",
    "workers": "--workers",
}


def refuse_template_conflicts(ctx: click.Context, flags: dict[str, str]) -> None:
    """A flag the template decides, given on the command line, is a usage error."""
    for name, text in flags.items():
        if ctx.get_parameter_source(name) is click.core.ParameterSource.COMMANDLINE:
            raise UsageError(f"{text.split(' ')[0]} does not apply with --template: {text}")


@dataclass(frozen=True, slots=True)
class ServeStackArgs:
    """What ``serve --template`` takes from serve's other flags."""

    host: str
    port: int
    profile: str | None
    runtime_client: str | None
    environment: tuple[tuple[str, str], ...]
    function_logs: bool
    throttle: bool
    time_scale: float
    stream_limit: int
    json_path: str | None
    quiet: bool


def serve_stack(flags: StackFlags, args: ServeStackArgs) -> int:
    """Run the template's stack until SIGINT/SIGTERM (exit 0), as ``serve`` runs its own."""
    from lstream_cli._eventloop import new_event_loop
    from lstream_cli.emulator.settings import function_credentials
    from lstream_cli.render.console import make_output
    from lstream_cli.render.serve import FunctionLogPrinter, RequestLogPrinter
    from lstream_cli.stack.run import StackOptions, StackRun, local_storage
    from lstream_cli.stack.template import load_stack, parse_overrides

    assert flags.template is not None
    stack = load_stack(flags.template, parse_overrides(flags.override_items()))
    output = make_output(args.quiet)
    with local_storage(stack, flags.s3) as s3:
        options = StackOptions(
            host=args.host,
            port=args.port,
            time_scale=args.time_scale,
            throttle=args.throttle,
            stream_limit=args.stream_limit,
            profile=args.profile,
            function_credentials=None if s3 is not None else function_credentials(args.profile),
            environment=args.environment,
            runtime_client=args.runtime_client,
            log=None if args.quiet else RequestLogPrinter(),
            function_log=FunctionLogPrinter() if args.function_logs else None,
        )
        run = StackRun(stack, options, s3)  # a function that cannot run fails here
        if s3 is not None:
            credentials = "the local S3's placeholder key pair"
        elif options.function_credentials is not None:
            credentials = "yours, in the functions' environment (never shown)"
        else:
            credentials = "none"
        loop = new_event_loop()
        try:
            return loop.run_until_complete(_serve_stack(run, output, args.json_path, credentials))
        finally:
            loop.close()


async def _serve_stack(run: Any, output: Any, json_path: str | None, credentials: str) -> int:
    import asyncio

    from lstream_cli._eventloop import on_stop_signals, remove_stop_signals
    from lstream_cli._exitcodes import ExitStatus
    from lstream_cli.render.jsonout import write_json
    from lstream_cli.render.serve import print_endpoints, print_stopped
    from lstream_cli.render.stack import stack_labels, stack_settings

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    installed = on_stop_signals(loop, stop.set)
    try:
        endpoints = await run.start()
        try:
            rows = {**endpoints.urls, **endpoints.apis}
            if endpoints.lambda_api is not None:
                rows["lambda_api"] = endpoints.lambda_api
            s3_url = run.s3.url if run.s3 is not None else None
            settings = stack_settings(run.stack, s3_url, credentials)
            print_endpoints(output, rows, settings, stack_labels(run.stack), endpoints.outputs)
            if json_path is not None:
                write_json(json_path, endpoints.as_dict())
            await stop.wait()
        finally:
            await run.close()
    finally:
        remove_stop_signals(loop, installed)
    print_stopped(output)
    return int(ExitStatus.SUCCESS)


@contextlib.contextmanager
def stack_sweep_plan(flags: StackFlags, args: Any, base: Any) -> Iterator[Any]:
    """``compare-modes --template``: the running stack's sweep plan (see :mod:`.stack.sweep`)."""
    from lstream_cli.render.serve import FunctionLogPrinter
    from lstream_cli.stack.sweep import stack_plan
    from lstream_cli.stack.template import load_stack, parse_overrides

    assert flags.template is not None
    stack = load_stack(flags.template, parse_overrides(flags.override_items()))
    with contextlib.ExitStack() as files:
        log = None
        if args.function_log is not None:
            fh = files.enter_context(open(args.function_log, "w", encoding="utf-8"))
            log = FunctionLogPrinter(fh)
        with stack_plan(stack, flags.s3, args, base, log) as plan:
            yield plan
