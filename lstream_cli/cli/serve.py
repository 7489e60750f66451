"""``lstream serve``: run the local emulator until Ctrl-C.

Flags become an :class:`EmulatorConfig`; the emulator runs on this thread's
event loop (uvloop when installed). Once every endpoint listens the table
is printed and ``--json PATH`` written, so a script can wait for the file.
SIGINT and SIGTERM stop it cleanly with exit status 0: stopping is how a
server ends, not a failure. A port in use or an unusable ``--handler`` is a
usage error (exit 2) before anything listens.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import time
from typing import Any, NoReturn

import click

from lstream_cli._exitcodes import EXIT_CODE_HELP, ExitStatus, UsageError
from lstream_cli.emulator.config import STREAM_LIMIT, EmulatorConfig, Endpoints
from lstream_cli.emulator.server import Emulator, new_event_loop, open_sockets
from lstream_cli.render.console import Output, make_output
from lstream_cli.render.jsonout import check_writable, write_json
from lstream_cli.render.serve import RequestLogPrinter, print_endpoints, print_stopped
from lstream_cli.request import parse_header
from lstream_cli.units import check_time_scale, parse_size

__all__ = ["serve_command"]

_EPILOG = (
    """\b
Examples:
  lstream serve                         # ports 9000-9004 on 127.0.0.1
  lstream serve --port 0 --json ep.json # free ports, URLs written to ep.json
  lstream serve --auth iam              # SigV4 required (your own credentials)
  lstream serve --time-scale 10         # 10x the bandwidth caps, 1/10 the delays
  lstream serve --secret-header 'X-Origin-Verify: s3cret'
  lstream serve --handler examples/handler.py:handler
  lstream serve --workers 2 --no-throttle --quiet  # for heavy load tests
  curl 'http://127.0.0.1:9000/?size=20MB&chunk=1MiB' -o /dev/null
\b
Synthetic handler parameters (query string, or the Lambda API's JSON payload):
  size, chunk, delay_ms, gap_ms, fail_at, status   (sizes: 5MB = 5,000,000; 5MiB = 5,242,880)
  events instead: format=sse|ndjson, events, event_ms, jitter_ms, seed, first_ms,
  early_headers=1, event_bytes   (e.g. ?format=sse&events=50&event_ms=40)

"""
    + EXIT_CODE_HELP
)


@click.command(
    "serve",
    epilog=_EPILOG,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option(
    "--port",
    type=int,
    default=9000,
    show_default=True,
    help="First port: stream N, buffered N+1, apigw N+2, apigw_stream N+3, lambda_api N+4 "
    "(0 = free ports).",
)
@click.option(
    "--auth",
    type=click.Choice(["none", "iam"]),
    default="none",
    show_default=True,
    help="iam: function URLs and the Lambda API require SigV4 from the credentials "
    "your own AWS credential chain resolves.",
)
@click.option("--profile", default=None, help="AWS profile whose credentials --auth iam accepts.")
@click.option(
    "--handler",
    default="synthetic",
    show_default=True,
    metavar="SPEC",
    help="synthetic | file:PATH | pkg.module:function | path/to/file.py:function",
)
@click.option("--no-throttle", is_flag=True, help="No bandwidth caps (6 MB burst, 2 MBps) at all.")
@click.option(
    "--time-scale",
    type=float,
    default=1.0,
    show_default=True,
    metavar="F",
    help="Multiply the bandwidth caps by F and divide emulated durations (delays, 29 s, "
    "15 min) by F.",
)
@click.option(
    "--stream-limit",
    default="200MiB",
    show_default=True,
    metavar="SIZE",
    help="Cut a stream past this many bytes, as Lambda does at 200 MB (0 = never).",
)
@click.option(
    "--secret-header",
    default=None,
    metavar="'NAME: VALUE'",
    help="API Gateway adds this header; the functions answer 403 without it.",
)
@click.option(
    "--json",
    "json_path",
    default=None,
    metavar="PATH",
    help="Once listening, write the endpoint URLs to PATH ('-' = stdout).",
)
@click.option(
    "--workers",
    type=int,
    default=1,
    show_default=True,
    metavar="N",
    help="Processes sharing the listening sockets (for heavy load tests).",
)
@click.option(
    "-q",
    "--quiet",
    "-s",
    "--silent",
    "quiet",
    is_flag=True,
    help="No endpoint table, no request log; errors only (-s as in the other commands).",
)
def serve_command(
    host: str,
    port: int,
    auth: str,
    profile: str | None,
    handler: str,
    no_throttle: bool,
    time_scale: float,
    stream_limit: str,
    secret_header: str | None,
    json_path: str | None,
    workers: int,
    quiet: bool,
) -> int:
    """Run the local emulator of function URLs, API Gateway and the Lambda API.

    Five endpoints: function URLs in both InvokeModes (stream, buffered), API
    Gateway in front of the streaming one (apigw, apigw_stream) and the Lambda
    Invoke APIs (lambda_api), each with AWS's limits and the errors callers see.
    """
    check_time_scale(time_scale)
    if not 1 <= workers <= 64:
        raise UsageError("--workers must be between 1 and 64")
    if port != 0 and not 1 <= port <= 65531:
        raise UsageError("--port must be 0 (free ports) or 1..65531")
    try:
        limit = parse_size(stream_limit)
    except ValueError as exc:
        raise UsageError(f"--stream-limit: {exc}") from None
    secret = parse_header(secret_header) if secret_header is not None else None
    if json_path is not None and json_path != "-":
        check_writable(json_path)  # before anything listens, not after
    output = make_output(quiet)
    config = EmulatorConfig(
        host=host,
        port=port,
        auth="iam" if auth == "iam" else "none",
        handler=handler,
        time_scale=time_scale,
        throttle=not no_throttle,
        secret_header=secret,
        stream_limit=limit,
        profile=profile,
        log=None if quiet else RequestLogPrinter(),
    )
    emulator = Emulator(config)  # a bad handler or missing credentials fail here
    sockets = open_sockets(config) if workers > 1 else None
    children: list[int] = []
    try:
        if sockets is not None:
            for _ in range(workers - 1):
                pid = os.fork()
                if pid == 0:
                    _worker(emulator, sockets)
                children.append(pid)
        loop = new_event_loop()
        try:
            return loop.run_until_complete(_serve(emulator, output, json_path, config, sockets))
        finally:
            loop.close()
    finally:
        _stop_workers(children)
        for sock in (sockets or {}).values():
            sock.close()


def _worker(emulator: Emulator, sockets: dict[str, socket.socket]) -> NoReturn:
    """A forked worker: serve the shared sockets until SIGINT/SIGTERM, then exit."""
    code = 0
    try:
        loop = new_event_loop()
        loop.run_until_complete(_serve_worker(emulator, sockets))
    except BaseException:
        code = 1
    finally:
        os._exit(code)


async def _serve_worker(emulator: Emulator, sockets: dict[str, socket.socket]) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await emulator.start(sockets)
    try:
        await stop.wait()
    finally:
        await emulator.close()


def _stop_workers(children: list[int]) -> None:
    for pid in children:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 10.0
    for pid in children:
        while True:
            try:
                done, _ = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                break
            if done:
                break
            if time.monotonic() > deadline:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.02)


def _settings(config: EmulatorConfig) -> dict[str, str]:
    throttle = "off" if not config.throttle else f"on (x{config.time_scale:g})"
    settings = {
        "auth": config.auth,
        "handler": config.handler,
        "throttle": throttle,
    }
    if config.time_scale != 1.0:
        settings["time scale"] = (
            f"{config.time_scale:g} (delays and timeouts / {config.time_scale:g})"
        )
    if config.stream_limit != STREAM_LIMIT:
        settings["stream limit"] = f"{config.stream_limit} bytes" if config.stream_limit else "none"
    if config.secret_header is not None:
        settings["secret header"] = f"{config.secret_header[0]} (value hidden)"
    return settings


async def _serve(
    emulator: Emulator,
    output: Output,
    json_path: str | None,
    config: EmulatorConfig,
    sockets: dict[str, socket.socket] | None,
) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    installed: list[signal.Signals] = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
            installed.append(sig)
        except (NotImplementedError, RuntimeError, ValueError):
            pass
    try:
        endpoints: Endpoints = await emulator.start(sockets)
        try:
            urls: dict[str, Any] = endpoints.as_dict()
            print_endpoints(output, urls, _settings(config))
            if json_path is not None:
                write_json(json_path, urls)
            await stop.wait()
        finally:
            await emulator.close()
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)
    print_stopped(output)
    return int(ExitStatus.SUCCESS)
