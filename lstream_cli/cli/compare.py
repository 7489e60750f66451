"""``lstream compare-modes``: the same sizes over every path, side by side.

The flags choose the targets (or none: the embedded emulator runs all six
modes); the sweep itself is :func:`lstream_cli.compare.iter_cells`, the
screen is :mod:`lstream_cli.render.compare`. Failed cells are findings, so
a sweep that ran exits 0; only a sweep where every cell could not even
connect exits 5.
"""

from __future__ import annotations

import time
from contextlib import AbstractContextManager, nullcontext
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import click

from lstream_cli._exitcodes import EXIT_CODE_HELP, ExitStatus, UsageError
from lstream_cli.cli._options import (
    RequestFlags,
    check_url,
    event_options,
    json_option,
    request_options,
)

if TYPE_CHECKING:
    from lstream_cli.measure import MeterOptions

__all__ = ["compare_command", "parse_sizes"]

_EPILOG = (
    """\b
Examples:
  lstream compare-modes                      # all six modes on the embedded emulator
  lstream compare-modes --sizes 1MB,7MB,12MB --json result.json
  lstream compare-modes --stream https://<id>.lambda-url.us-east-1.on.aws/ \\
      --buffered https://<id2>.lambda-url.us-east-1.on.aws/ --invoke my-function
  AWS_ACCESS_KEY_ID=x AWS_SECRET_ACCESS_KEY=x \\
      lstream compare-modes --invoke any-name --endpoint-url http://127.0.0.1:9004
  HTTPS_PROXY=http://proxy.corp:3128 AWS_CA_BUNDLE=corp-ca.pem \\
      lstream compare-modes --stream "$STREAM_URL" --invoke my-function
  lstream compare-modes --events sse --sizes 1000 \
      --stream 'http://127.0.0.1:9000/?format=sse&events=50&event_ms=20' \
      --buffered 'http://127.0.0.1:9001/?format=sse&events=50&event_ms=20'

\b
A failed cell is a finding, not a failure of the tool: the sweep exits 0
when it ran, whatever the cells say; 5 when no cell could even connect.

"""
    + EXIT_CODE_HELP
)


def parse_sizes(text: str) -> tuple[int, ...]:
    """``"1MB,7MB,12MiB"`` -> sorted distinct byte counts; UsageError when malformed."""
    from lstream_cli.units import parse_size

    items = [part.strip() for part in text.split(",")]
    if not text.strip() or any(not part for part in items):
        raise UsageError(f"--sizes {text!r}: expected a comma-separated list such as 1MB,7MB,12MB")
    sizes: set[int] = set()
    for part in items:
        try:
            n = parse_size(part)
        except ValueError as exc:
            raise UsageError(f"--sizes: {exc}") from None
        if n <= 0:
            raise UsageError(f"--sizes: {part!r} is not a positive size")
        sizes.add(n)
    return tuple(sorted(sizes))


def display_url(url: str) -> str:
    """``url`` for the screen and the JSON: the one redaction (:mod:`lstream_cli.redact`)."""
    from lstream_cli.redact import redact_url

    return redact_url(url)


@click.command(
    "compare-modes",
    epilog=_EPILOG,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.option(
    "--stream", "stream_url", metavar="URL", help="Function URL, InvokeMode RESPONSE_STREAM."
)
@click.option(
    "--buffered", "buffered_url", metavar="URL", help="Function URL, InvokeMode BUFFERED."
)
@click.option(
    "--invoke",
    "function",
    metavar="FUNCTION",
    help="Function name or ARN for the Lambda API: rows 'invoke' and 'invoke_stream'.",
)
@click.option(
    "--endpoint-url",
    metavar="URL",
    help="Lambda API endpoint for --invoke (e.g. the emulator's lambda_api URL).",
)
@click.option(
    "--apigw", "apigw_url", metavar="URL", help="API Gateway in front of the function (buffered)."
)
@click.option(
    "--apigw-stream",
    "apigw_stream_url",
    metavar="URL",
    help="API Gateway REST, STREAM transfer mode.",
)
@click.option(
    "--sizes",
    default=None,
    metavar="LIST",
    help="Response sizes, comma-separated (MB = 10^6 B, MiB = 2^20 B). "
    "Default: 1MB,5MB,7MB,12MB,20MB.",
)
@click.option(
    "--size-param",
    default="size",
    show_default=True,
    metavar="NAME",
    help="Query parameter that tells the function the size (bytes).",
)
@click.option(
    "--repeat",
    type=int,
    default=1,
    show_default=True,
    metavar="N",
    help="Runs per cell (median reported).",
)
@click.option(
    "--no-warmup",
    is_flag=True,
    help="Skip the unmeasured warm-up request per mode: the first cell then pays "
    "connection setup (and a cold start).",
)
@click.option(
    "--time-scale",
    type=float,
    default=None,
    metavar="F",
    help="Embedded emulator only: rates x F, emulated durations / F (default 1: AWS's).",
)
@click.option(
    "-s", "--silent", is_flag=True, help="No progress and no table; errors only (as get -s)."
)
@request_options
@event_options
@json_option
def compare_command(
    stream_url: str | None,
    buffered_url: str | None,
    function: str | None,
    endpoint_url: str | None,
    apigw_url: str | None,
    apigw_stream_url: str | None,
    sizes: str | None,
    size_param: str,
    repeat: int,
    no_warmup: bool,
    time_scale: float | None,
    silent: bool,
    request: RequestFlags,
    json_path: str | None,
    meter_options: MeterOptions,
) -> int:
    """Sweep response sizes over the streaming function URL, the buffered one,
    Invoke / InvokeWithResponseStream and API Gateway, and show where each breaks.

    With no target it starts the embedded emulator and compares all six
    modes (about 35 s). Each cell is measured as 'lstream get' measures
    (TTFB at the first body byte, total, throughput, knee); a failed cell
    names the AWS limit that explains it and the error the caller saw.
    With --events, each cell also shows its time to first event (TTFE):
    a buffered mode's first event comes with its whole body.
    """
    from lstream_cli.compare import DEFAULT_SIZES
    from lstream_cli.render.jsonout import check_writable

    size_list = parse_sizes(sizes) if sizes is not None else DEFAULT_SIZES
    if repeat < 1:
        raise UsageError("--repeat must be 1 or more")
    if not size_param or any(c in size_param for c in "&=?# "):
        raise UsageError(f"--size-param {size_param!r}: not a query parameter name")
    if endpoint_url is not None and function is None:
        raise UsageError("--endpoint-url needs --invoke FUNCTION")
    if endpoint_url is not None:
        check_url(endpoint_url)
    urls = {
        mode: url
        for mode, url in (
            ("stream", stream_url),
            ("buffered", buffered_url),
            ("apigw", apigw_url),
            ("apigw_stream", apigw_stream_url),
        )
        if url is not None
    }
    use_emulator = not urls and function is None
    if time_scale is not None and not use_emulator:
        raise UsageError("--time-scale applies to the embedded emulator only (no target given)")
    if time_scale is not None:
        from lstream_cli.units import check_time_scale

        check_time_scale(time_scale)  # the range and message of serve's
    if json_path is not None and json_path != "-":
        check_writable(json_path)
    base = request.to_spec(
        "http://127.0.0.1/", auth="none" if use_emulator else None, network_for_url=False
    )
    for url in urls.values():
        check_url(url)

    emulator: AbstractContextManager[Any]
    if use_emulator:
        from lstream_cli.emulator import EmulatorConfig, running_emulator

        emulator = running_emulator(EmulatorConfig(time_scale=time_scale or 1.0))
    else:
        emulator = nullcontext(None)
    with emulator as endpoints:
        plan = _plan(urls, function, endpoint_url, endpoints, base, size_list, repeat, size_param)
        plan = replace(plan, meter_options=meter_options)
        if no_warmup:
            plan = replace(plan, warmup=False)
        return _sweep(plan, use_emulator, json_path, silent)


def _plan(
    urls: dict[str, str],
    function: str | None,
    endpoint_url: str | None,
    endpoints: Any,
    base: Any,
    sizes: tuple[int, ...],
    repeat: int,
    size_param: str,
) -> Any:
    from lstream_cli.compare import Plan
    from lstream_cli.engine.lambda_api import InvokeTarget
    from lstream_cli.request import prepare_auth

    invoke: InvokeTarget | None = None
    if endpoints is not None:
        urls = {
            "stream": endpoints.stream + "/",
            "buffered": endpoints.buffered + "/",
            "apigw": endpoints.apigw + "/",
            "apigw_stream": endpoints.apigw_stream + "/",
        }
        invoke = InvokeTarget(
            function="lstream-emulator",
            region="us-east-1",
            endpoint_url=endpoints.lambda_api,
            static_credentials=("LSTREAMEMULATOR", "lstream-emulator-dummy"),
            timeout=base.timeout,
        )
    elif function is not None:
        invoke = _invoke_target(function, endpoint_url, base)
    base, invoke = _with_network(base, urls, invoke, direct=endpoints is not None)
    signers = {mode: prepare_auth(base.with_url(url)) for mode, url in urls.items()}
    return Plan(
        sizes=sizes,
        spec=base,
        urls=urls,
        signers=signers,
        invoke=invoke,
        repeat=repeat,
        size_param=size_param,
    )


def _with_network(base: Any, urls: dict[str, str], invoke: Any, direct: bool) -> tuple[Any, Any]:
    """Proxy and trust chosen now for every URL and the Lambda API (not when timed).

    ``direct``: the embedded emulator, on this machine's loopback, which no
    proxy could reach; it is never proxied.
    """
    from dataclasses import replace

    from lstream_cli.net.options import network_of
    from lstream_cli.net.proxy import ProxySettings

    endpoint = None
    if invoke is not None:
        endpoint = invoke.endpoint_url or f"https://lambda.{invoke.region}.amazonaws.com/"
    targets = [*urls.values(), *([endpoint] if endpoint else [])]
    network = network_of(base).ready_for(targets)
    if direct:
        network = replace(network, proxies=ProxySettings(proxy=""))
    for url in targets:
        network.route(url)  # a proxy that cannot be used is a usage error now
    if invoke is not None and endpoint is not None:
        verify, proxies = network.for_botocore(endpoint)
        invoke = replace(invoke, verify=verify, proxies=proxies)
    return replace(base, network=network), invoke


def _invoke_target(function: str, endpoint_url: str | None, base: Any) -> Any:
    """Resolve --invoke's region and check for credentials before anything is sent."""
    from lstream_cli.engine.lambda_api import InvokeTarget
    from lstream_cli.request import prepare_invoke

    return InvokeTarget(
        function=function,
        region=prepare_invoke(base, endpoint_url),
        endpoint_url=endpoint_url,
        profile=base.profile,
        timeout=base.timeout,
        verify=not base.insecure,
    )


def _never_connected(record: Any) -> bool:
    """The request never had a connection: refused, DNS, TLS, or a connect timeout.

    As ``get`` (exit 5) sees it; a timeout waiting for an answer on an open
    connection is a finding about the path instead.
    """
    from lstream_cli.models import ErrorClass

    if record.error in (ErrorClass.CONNECT, ErrorClass.TLS):
        return True
    detail = record.error_detail or ""
    return record.error is ErrorClass.TIMEOUT and detail.startswith("timed out connecting")


def _sweep(plan: Any, use_emulator: bool, json_path: str | None, silent: bool = False) -> int:
    from lstream_cli.compare import Cell, iter_cells
    from lstream_cli.engine.lambda_api import make_lambda_client
    from lstream_cli.render.compare import (
        SweepProgress,
        compare_json,
        format_report,
        format_targets,
    )
    from lstream_cli.render.conclusion import conclude
    from lstream_cli.render.console import make_output
    from lstream_cli.render.jsonout import SCHEMA_VERSION, write_json

    # Made before anything is printed: a bad region or profile is a one-line usage error.
    lambda_client = make_lambda_client(plan.invoke) if plan.invoke is not None else None
    out = make_output(quiet=silent)
    targets = {mode: display_url(url) for mode, url in plan.urls.items()}
    if plan.invoke is not None:
        where = f" at {plan.invoke.endpoint_url}" if plan.invoke.endpoint_url else ""
        targets["invoke"] = f"Invoke {plan.invoke.function}{where}"
        targets["invoke_stream"] = f"InvokeWithResponseStream {plan.invoke.function}{where}"
    progress: SweepProgress | None = None
    cells: list[Cell] = []
    interrupted = False
    t0 = time.perf_counter()
    # From the first line printed on, a Ctrl-C ends with the report and the
    # --json file of what was measured, even if that is nothing yet.
    try:
        if not silent:
            out.console.print(format_targets(targets, use_emulator), highlight=False, end="")
        if out.is_terminal and not silent:
            progress = SweepProgress(out.console)
        for cell in iter_cells(
            plan, on_progress=progress.update if progress else None, invoke_client=lambda_client
        ):
            cells.append(cell)
    except KeyboardInterrupt:
        interrupted = True
    finally:
        if progress is not None:
            progress.stop()
        if lambda_client is not None:
            lambda_client.close()
    elapsed = time.perf_counter() - t0
    conclusion = conclude(cells)
    # crop=False: on a console narrower than the table (COLUMNS=60) its rows run
    # long and the terminal wraps them; cropped, the limit column was cut off.
    if not silent:
        report = format_report(cells, conclusion, interrupted)
        out.console.print(report, highlight=False, crop=False)
    out.info(f"{len(cells)} cells in {elapsed:.1f} s")
    if json_path is not None:
        doc = compare_json(
            cells,
            SCHEMA_VERSION,
            targets=targets,
            sizes=plan.sizes,
            repeat=plan.repeat,
            size_param=plan.size_param,
            emulator=use_emulator,
            conclusion=conclusion,
            interrupted=interrupted,
            elapsed_s=elapsed,
        )
        write_json(json_path, doc)
    if interrupted:
        from lstream_cli import supervise

        out.error(f"{supervise.stopped_word()}: the rows above are the cells measured so far")
        return int(supervise.stop_status())
    if cells and all(_never_connected(c.record) for c in cells):
        out.error("no target could be reached: every cell failed to connect")
        return int(ExitStatus.NETWORK)
    return int(ExitStatus.SUCCESS)
