"""``lstream serve``: run the local emulator until Ctrl-C.

Flags become an :class:`EmulatorConfig`; the emulator runs on this thread's
event loop (uvloop when installed). Once every endpoint listens the table
is printed and ``--json PATH`` written, so a script can wait for the file.
SIGINT and SIGTERM stop it cleanly with exit status 0: stopping is how a
server ends, not a failure, and every execution environment's process
group is killed with it. A port in use, an unusable ``--handler`` or
``--bootstrap``, a missing aws-lambda-ric or a bad function flag is a usage
error (exit 2) before anything listens; the policy (which runtime, which
variables) lives in :mod:`lstream_cli.emulator.settings`.
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

from lstream_cli._eventloop import on_stop_signals, remove_stop_signals
from lstream_cli._exitcodes import EXIT_CODE_HELP, ExitStatus, UsageError
from lstream_cli.cli._stack import (
    TEMPLATE_DECIDES,
    ServeStackArgs,
    StackCommand,
    StackFlags,
    refuse_template_conflicts,
    serve_stack,
    stack_options,
)
from lstream_cli.emulator.config import STREAM_LIMIT, EmulatorConfig, Endpoints
from lstream_cli.emulator.environment import DEFAULT_ENVIRONMENTS
from lstream_cli.emulator.function import FunctionConfig
from lstream_cli.emulator.server import Emulator, new_event_loop, open_sockets
from lstream_cli.emulator.settings import (
    NODE_SUFFIXES,
    function_credentials,
    function_from_flags,
    parse_env,
    read_env_file,
)
from lstream_cli.render.console import Output, make_output
from lstream_cli.render.jsonout import check_writable, write_json
from lstream_cli.render.serve import (
    FunctionLogPrinter,
    RequestLogPrinter,
    flush_lines,
    print_endpoints,
    print_stopped,
)
from lstream_cli.request import parse_header
from lstream_cli.units import check_time_scale, parse_duration, parse_size

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
  lstream serve --handler examples/node/index.mjs:handler --env BUCKET_NAME=b
  lstream serve --handler fn/app.mjs:handler --function-timeout 30s --memory 512 --concurrency 2
  lstream serve --bootstrap ./bootstrap --handler my.handler   # a custom runtime
  lstream serve --workers 2 --no-throttle --quiet  # for heavy load tests
  lstream serve --template examples/template.yaml --s3 ./s3 \\
      --parameter-overrides BucketName=lstream-example OriginSecretValue=local-secret-0001
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
    cls=StackCommand,
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
    help="synthetic | file:PATH | pkg.module:function | path/to/file.py:function (in-process, "
    "the emulator's own protocol) | path/to/app.mjs:handler (.js, .cjs: Node.js through "
    "aws-lambda-ric) | with --bootstrap: its _HANDLER.",
)
@click.option(
    "--bootstrap",
    default=None,
    metavar="PATH",
    help="Run a custom runtime (provided.al2023): this executable, one process per environment.",
)
@click.option(
    "--runtime-client",
    default=None,
    metavar="PATH",
    help="aws-lambda-ric's bin/index.mjs (or its folder) for a Node.js --handler "
    "(default: node_modules of the handler's folder or any parent).",
)
@click.option(
    "--function-timeout",
    default=None,
    metavar="DURATION",
    help="The function's timeout (default 3s as Lambda's; at most 900s; the built-in "
    "synthetic and file: handlers: 900s).",
)
@click.option(
    "--memory",
    type=int,
    default=128,
    show_default=True,
    metavar="MB",
    help="Memory size, 128-10240 (AWS_LAMBDA_FUNCTION_MEMORY_SIZE; reported).",
)
@click.option(
    "--concurrency",
    type=int,
    default=None,
    metavar="N",
    help="Reserved concurrency: at most N environments at once, beyond it 429 "
    "(default: 10 for a runtime, no limit in-process).",
)
@click.option(
    "--env",
    "env_pairs",
    multiple=True,
    metavar="K=V",
    help="A variable for the function's environment (repeatable).",
)
@click.option(
    "--env-file",
    default=None,
    metavar="FILE",
    help="Variables for the function, one K=V per line (# comments).",
)
@click.option(
    "--function-logs",
    type=click.Choice(["on", "off"]),
    default="on",
    show_default=True,
    help="The function's output and its START/END/REPORT lines on stderr.",
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
    help="API Gateway adds this header; an in-process function answers 403 without it "
    "(a real function checks for itself).",
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
@stack_options
def serve_command(
    host: str,
    port: int,
    auth: str,
    profile: str | None,
    handler: str,
    bootstrap: str | None,
    runtime_client: str | None,
    function_timeout: str | None,
    memory: int,
    concurrency: int | None,
    env_pairs: tuple[str, ...],
    env_file: str | None,
    function_logs: str,
    no_throttle: bool,
    time_scale: float,
    stream_limit: str,
    secret_header: str | None,
    json_path: str | None,
    workers: int,
    quiet: bool,
    stack: StackFlags,
) -> int:
    """Run the local emulator of function URLs, API Gateway and the Lambda API.

    Five endpoints: function URLs in both InvokeModes (stream, buffered), API
    Gateway in front of the streaming one (apigw, apigw_stream) and the Lambda
    Invoke APIs (lambda_api), each with AWS's limits and the errors callers see.

    All five run one function: your Node.js handler through aws-lambda-ric, or
    your custom runtime's bootstrap, in execution environments speaking the
    Lambda Runtime API (cold and warm starts, timeout, memory, concurrency,
    CloudWatch-style log on stderr); or an in-process Python handler on the
    emulator's own protocol (the synthetic one by default). With --template
    FILE: a SAM or CloudFormation stack's own functions, function URLs and
    REST APIs instead, each on its own port (docs/template.md).
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
    stack.check()
    if stack.template is not None or stack.s3 is not None:
        return _serve_template(stack, locals())
    function = _function(
        handler,
        bootstrap,
        runtime_client,
        function_timeout,
        memory,
        concurrency,
        env_pairs,
        env_file,
        profile,
        time_scale,
    )
    if workers > 1 and function.kind != "inprocess":
        raise UsageError(
            "--workers applies to in-process handlers only "
            "(one process runs a function's environments)"
        )
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
        function=function,
        function_log=FunctionLogPrinter() if function_logs == "on" else None,
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


def _serve_template(stack: StackFlags, flags: dict[str, Any]) -> int:
    """``serve --template``: the stack's own functions, URLs and APIs (see docs/template.md)."""
    if stack.template is None:
        raise UsageError("--s3 needs --template (the functions it serves come from a template)")
    refuse_template_conflicts(click.get_current_context(), TEMPLATE_DECIDES)
    environment = read_env_file(flags["env_file"]) if flags["env_file"] is not None else []
    environment += parse_env(flags["env_pairs"])
    args = ServeStackArgs(
        host=flags["host"],
        port=flags["port"],
        profile=flags["profile"],
        runtime_client=flags["runtime_client"],
        environment=tuple(environment),
        function_logs=flags["function_logs"] == "on" and not flags["quiet"],
        throttle=not flags["no_throttle"],
        time_scale=flags["time_scale"],
        stream_limit=flags["limit"],
        json_path=flags["json_path"],
        quiet=flags["quiet"],
    )
    return serve_stack(stack, args)


def _function(
    handler: str,
    bootstrap: str | None,
    runtime_client: str | None,
    function_timeout: str | None,
    memory: int,
    concurrency: int | None,
    env_pairs: tuple[str, ...],
    env_file: str | None,
    profile: str | None,
    time_scale: float,
) -> FunctionConfig:
    timeout_s: float | None = None
    if function_timeout is not None:
        try:
            timeout_s = parse_duration(function_timeout)
        except ValueError as exc:
            raise UsageError(f"--function-timeout: {exc}") from None
    environment = read_env_file(env_file) if env_file is not None else []
    environment += parse_env(env_pairs)
    runs_process = bootstrap is not None or handler.rpartition(":")[0].endswith(NODE_SUFFIXES)
    return function_from_flags(
        handler,
        bootstrap=bootstrap,
        runtime_client=runtime_client,
        timeout_s=timeout_s,
        memory_mb=memory,
        concurrency=concurrency,
        environment=environment,
        credentials=function_credentials(profile) if runs_process else None,
        time_scale=time_scale,
    )


def _worker(emulator: Emulator, sockets: dict[str, socket.socket]) -> NoReturn:
    """A forked worker: serve the shared sockets until SIGINT/SIGTERM, then exit."""
    code = 0
    try:
        loop = new_event_loop()
        loop.run_until_complete(_serve_worker(emulator, sockets))
    except BaseException:
        code = 1
    finally:
        # os._exit skips atexit: the request lines still waiting in this
        # worker's batch are written first.
        flush_lines()
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


async def _write_endpoints(path: str, urls: dict[str, Any], stop: asyncio.Event) -> None:
    """Write the endpoints file in a thread: a FIFO nobody reads yet blocks it, not serving."""
    writer = asyncio.ensure_future(asyncio.to_thread(write_json, path, urls))
    stopping = asyncio.ensure_future(stop.wait())
    await asyncio.wait({writer, stopping}, return_when=asyncio.FIRST_COMPLETED)
    stopping.cancel()
    if writer.done():
        writer.result()  # a failed write is the run's error
        return
    # Stopped while the FIFO still waits for a reader: be that reader for a moment,
    # so the writing thread ends (the process could not exit otherwise).
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    try:
        with contextlib.suppress(Exception):
            await writer
    finally:
        os.close(fd)


def _settings(config: EmulatorConfig) -> dict[str, str]:
    throttle = "off" if not config.throttle else f"on (x{config.time_scale:g})"
    fn = config.function_config()
    settings: dict[str, str] = {"auth": config.auth}
    if fn.kind == "node":
        settings["function"] = f"Node.js {fn.handler} in {fn.code_dir} (aws-lambda-ric)"
    elif fn.kind == "bootstrap":
        settings["function"] = f"custom runtime {fn.bootstrap}" + (
            f" (_HANDLER {fn.handler})" if fn.handler else ""
        )
    else:
        settings["handler"] = f"{fn.handler} (in-process)"
    settings["timeout"] = f"{fn.timeout_s:g} s, memory {fn.memory_mb} MB"
    if fn.kind != "inprocess" or fn.reserved_concurrency is not None:
        limit = fn.reserved_concurrency or DEFAULT_ENVIRONMENTS
        settings["concurrency"] = f"at most {limit} at once"
    if fn.environment:
        settings["environment"] = ", ".join(name for name, _ in fn.environment) + " (values hidden)"
    if fn.credentials is not None:
        settings["credentials"] = "yours, in the function's environment (never shown)"
    settings["throttle"] = throttle
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
    installed = on_stop_signals(loop, stop.set)
    try:
        endpoints: Endpoints = await emulator.start(sockets)
        try:
            urls: dict[str, Any] = endpoints.as_dict()
            print_endpoints(output, urls, _settings(config))
            if json_path is not None:
                await _write_endpoints(json_path, urls, stop)
            await stop.wait()
        finally:
            await emulator.close()
    finally:
        remove_stop_signals(loop, installed)
    print_stopped(output)
    return int(ExitStatus.SUCCESS)
