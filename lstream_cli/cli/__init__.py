"""The command line: a thin click layer over the engine, emulator and renderers.

Commands are imported lazily so that ``lstream --help`` stays instant and
``lstream serve`` does not load the load engine. :func:`main` owns the
mapping of every failure to one line on stderr and an exit code from
:mod:`lstream_cli._exitcodes`: no traceback reaches the user.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import os
import signal
import sys
from typing import Any

import click

from lstream_cli import __version__
from lstream_cli._exitcodes import EXIT_CODE_HELP, ExitStatus, LstreamError, OutputClosed

__all__ = ["cli", "main"]

# command name -> "module:attribute", loaded on first use.
_COMMANDS: dict[str, str] = {
    "get": "lstream_cli.cli.get:get_command",
    "bench": "lstream_cli.cli.bench:bench_command",
    "compare-modes": "lstream_cli.cli.compare:compare_command",
    "serve": "lstream_cli.cli.serve:serve_command",
    "report": "lstream_cli.cli.report:report_command",
}
_SHORT_HELP = {
    "get": "One request, streamed and measured (TTFB, throughput, gaps, knee).",
    "bench": "Load-test a URL: many streams at once, percentiles you can trust.",
    "compare-modes": "Streaming vs buffered vs Invoke vs API Gateway, size by size.",
    "serve": "Run the local emulator of function URLs, API Gateway and the Lambda API.",
    "report": "Draw bench and compare-modes results in one self-contained HTML page.",
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return [name for name in _COMMANDS if self._available(name)]

    def _available(self, name: str) -> bool:
        module = _COMMANDS[name].split(":")[0]
        return importlib.util.find_spec(module) is not None

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = _COMMANDS.get(cmd_name)
        if target is None or not self._available(cmd_name):
            return None
        module_name, attr = target.split(":")
        command = getattr(importlib.import_module(module_name), attr)
        assert isinstance(command, click.Command)
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, _SHORT_HELP[name]) for name in self.list_commands(ctx)]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


@click.group(
    cls=LazyGroup,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
    epilog=EXIT_CODE_HELP,
)
@click.version_option(__version__, "-V", "--version", prog_name="lstream")
def cli() -> None:
    """Measure, load-test and emulate AWS Lambda function URLs that stream.

    \b
    Quickstart (no AWS account needed; runs the embedded emulator):
      lstream compare-modes
    \b
    Against a real function URL (SigV4-signed when credentials are found):
      lstream get https://<id>.lambda-url.us-east-1.on.aws/ -o out.bin
      lstream bench https://<id>.lambda-url.us-east-1.on.aws/ -c 50 -z 30s
    """


def _fail(message: str, status: ExitStatus) -> int:
    try:
        sys.stderr.write(f"lstream: error: {message}\n")
        sys.stderr.flush()
    except (BrokenPipeError, OSError, ValueError):
        pass  # nobody reads stderr any more; the exit status still tells
    return int(status)


def _interrupted() -> int:
    """Ctrl-C or SIGTERM before a command could say more: the same line as every command's."""
    from lstream_cli import supervise

    with contextlib.suppress(OSError, ValueError):
        sys.stderr.write("\n")  # end the line the terminal echoed ^C on
    return _fail(supervise.stopped_word(), supervise.stop_status())


def run(args: list[str] | None = None) -> int:
    """Run the CLI and return its exit status (never raises for user errors)."""
    try:
        result: Any = cli.main(args=args, prog_name="lstream", standalone_mode=False)
    except click.exceptions.Exit as exc:
        return int(exc.exit_code)
    except click.Abort:
        return _interrupted()
    except click.UsageError as exc:
        if type(exc).__name__ == "NoArgsIsHelpError" and exc.ctx is not None:
            # Bare ``lstream``: the help is the answer, not an error.
            click.echo(exc.ctx.get_help())
            return int(ExitStatus.SUCCESS)
        hint = ""
        if exc.ctx is not None:
            hint = f" (see '{exc.ctx.command_path} --help')"
        return _fail(f"{exc.format_message()}{hint}", ExitStatus.USAGE)
    except click.ClickException as exc:
        return _fail(exc.format_message(), ExitStatus.USAGE)
    except OutputClosed:
        _silence_stdout()
        return int(ExitStatus.SUCCESS)
    except LstreamError as exc:
        return _fail(str(exc), exc.exit_status)
    except KeyboardInterrupt:
        return _interrupted()
    except BrokenPipeError:
        _silence_stdout()
        return int(ExitStatus.SUCCESS)
    if isinstance(result, int):
        return result
    return int(ExitStatus.SUCCESS)


def _silence_stdout() -> None:
    """After EPIPE (``| head``), point stdout at /dev/null so exit is quiet."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except OSError:
        pass


def _restore_standard_streams_and_ctrl_c() -> None:
    """Undo what a parent shell may have done before ``lstream`` started.

    A non-interactive shell starts background jobs (``lstream get URL &``)
    with SIGINT ignored, and Python keeps an inherited SIG_IGN: ``kill -INT``
    would then do nothing and a long stream could not be stopped. lstream
    documents Ctrl-C = 130, so it always takes SIGINT back (as Go's
    ``signal.Notify`` does). A closed stderr (``2>&-``) becomes /dev/null so
    that messages cannot turn into a crash.
    """
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    if sys.stderr is None:
        fd = os.open(os.devnull, os.O_WRONLY)
        if fd != 2:  # keep a closed stdout (fd 1) closed: only fd 2 is filled
            os.dup2(fd, 2)
            os.close(fd)
        sys.stderr = os.fdopen(2, "w")


def main() -> None:
    from lstream_cli import supervise

    _restore_standard_streams_and_ctrl_c()
    supervise.install()  # SIGTERM stops a run as Ctrl-C does (exit 143)
    # ``import httpx`` also imports its own command-line client (httpx._main),
    # which loads rich, pygments and click's prompts: a third of ``get``'s
    # start-up, for a client lstream never runs. None in sys.modules makes
    # that one import fail, which httpx catches (it then defines a stub).
    sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]
    code = run()
    try:
        if sys.stdout is not None:
            sys.stdout.flush()
    except (BrokenPipeError, ValueError, OSError):
        _silence_stdout()
    sys.exit(code)
