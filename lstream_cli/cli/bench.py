"""``lstream bench URL``: flags -> LoadConfig -> engine -> report, JSON, CSV, exit code.

Everything that can be wrong with the flags (conflicts, zero or negative
values, ``-r`` without an end, a bad ``--fail-if``, missing credentials for
``--auth iam``) is a usage error raised here, before anything is sent.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, NamedTuple

import click
from click.core import ParameterSource

from lstream_cli._exitcodes import EXIT_CODE_HELP, ExitStatus, UsageError, exit_status_for_error
from lstream_cli.cli._options import RequestFlags, event_options, json_option, request_options
from lstream_cli.units import parse_duration

if TYPE_CHECKING:
    from lstream_cli.engine.results import BenchReport
    from lstream_cli.engine.stages import Stages
    from lstream_cli.engine.thresholds import Threshold
    from lstream_cli.engine.workers import LoadConfig
    from lstream_cli.measure import MeterOptions

__all__ = ["bench_command", "exit_status"]

DEFAULT_REQUESTS = 200  # when neither -n nor -z is given (hey's and oha's default)
MIN_RATE = 0.001  # requests/s: one request every ~17 minutes; below, -r is a mistake

_EPILOG = (
    """\b
Examples:
  lstream bench URL -c 50 -z 30s
  lstream bench URL -n 1000 -c 100 --json result.json
  lstream bench URL -r 200 -z 1m -c 400 --fail-if 'ttfb_ms.p99<500'
  lstream bench URL -z 10s --warmup 2s --fail-if 'errors.rate<0.01'
  lstream bench URL --stages '30s:50,1m:200,30s:0' --json run.json
  lstream bench URL -r 0 --stages '1m:500' -c 1000 --csv-series series.csv
  lstream report run.json -o report.html
  lstream bench URL -n 100 -x http://proxy.corp:3128 --noproxy .internal.corp
  lstream bench URL/chat -c 20 -z 30s --events sse --fail-if 'ttfe_ms.p99<800'

\b
Pacing: without -r each of the -c connections sends its next request when
the last one ends (closed loop). With -r requests are due at a constant rate
and their latency counts from the due time; -c caps how many are in flight,
and requests that could not start on time are counted.

\b
Warm-up: --warmup N sends N requests first, --warmup 2s runs for 2 s first;
either way nothing from the warm-up is counted, connections are kept.

\b
Stages: --stages 'DURATION:TARGET,...' ramps the load linearly from stage
to stage (k6's stages) and the run lasts their total. Closed loop: TARGET is
connections in flight, starting from -c if given, else 0. With -r: TARGET
is the arrival rate (req/s), starting from -r (-r 0 starts from nothing);
-c caps the requests in flight. Excludes -n, -z and --warmup.

\b
Series: the JSON result holds one entry per second of the measured phase
(requests, errors, status, in flight, bytes/s, TTFB and total p50/p90/p99,
and the stages' target); --csv-series writes them as CSV.

\b
--fail-if 'metric.stat OP number' states a requirement (OP: < <= > >= ==).
metrics: headers_ms, ttfb_ms, ttfb_new_conn_ms, ttfb_reused_conn_ms, total_ms,
gap_max_ms, stream_bytes_per_s with stats min, p50, p90, p99, p999, max, mean; also errors.rate, errors.count,
rps, bytes_per_s; with --events also ttfe_ms, event_gap_ms, events_per_s.
Example: 'ttfb_ms.p99<500' passes when p99 < 500 ms.

\b
Exit status of a run: 0 when it completed, even with some failed requests;
when every request failed, get's code for that failure: 5 (connect, tls,
timeout, or no request finished before the run ended), 4 (truncated), 3
(HTTP errors, or mixed classes); else 6 when a --fail-if threshold was
breached; 130 on Ctrl-C, 143 on SIGTERM (after the partial report is
printed and written).

"""
    + EXIT_CODE_HELP
)


def _positive_int(value: int | None, flag: str) -> None:
    if value is not None and value <= 0:
        raise UsageError(f"{flag} must be a positive integer (got {value})")


def _parse_warmup(text: str | None) -> tuple[int | None, float | None]:
    """``--warmup 50`` -> 50 requests; ``--warmup 2s`` -> 2 seconds."""
    if text is None:
        return None, None
    raw = text.strip()
    if raw.isdigit():
        n = int(raw)
        if n <= 0:
            raise UsageError("--warmup must be a positive number of requests or a duration")
        return n, None
    try:
        seconds = parse_duration(raw)
    except ValueError as exc:
        raise UsageError(f"--warmup: {exc}") from None
    if seconds <= 0:
        raise UsageError("--warmup must be a positive number of requests or a duration")
    return None, seconds


class _Outputs(NamedTuple):
    json: str | None  # --json
    csv: str | None  # --csv
    csv_series: str | None  # --csv-series


def _check_outputs(paths: dict[str, str | None]) -> None:
    """Usage errors before the run: a bad result path, two on stdout, two on one file."""
    from lstream_cli.render.jsonout import check_writable

    given = {flag: path for flag, path in paths.items() if path is not None}
    # A long run must not be measured only to be lost to a bad result path.
    for flag, path in given.items():
        if path != "-":
            check_writable(path, flag)
    on_stdout = [flag for flag, path in given.items() if path == "-"]
    if len(on_stdout) > 1:
        both = "both" if len(on_stdout) == 2 else "all"
        raise UsageError(f"{' and '.join(f'{f} -' for f in on_stdout)} cannot {both} go to stdout")
    files: dict[str, str] = {}
    for flag, path in given.items():
        if path == "-":
            continue
        where = os.path.abspath(path)
        if where in files:
            raise UsageError(
                f"{files[where]} and {flag} both name {path}: one would overwrite the other"
            )
        files[where] = flag


def _parse_stages(
    text: str,
    requests: int | None,
    duration: str | None,
    warmup: str | None,
    rate: float | None,
    concurrency: int,
    given_c: bool,
) -> Stages:
    """``--stages`` checked against the other flags; the ramp with its start value."""
    from lstream_cli.engine.stages import Stages, parse_stages

    if requests is not None or duration is not None:
        flag = "-n/--requests" if requests is not None else "-z/--duration"
        raise UsageError(f"--stages and {flag} exclude each other: the stages set the run's end")
    if warmup is not None:
        raise UsageError(
            "--stages and --warmup exclude each other: make the first stage the warm-up"
        )
    try:
        stages = parse_stages(text)
    except ValueError as exc:
        raise UsageError(f"--stages: {exc}") from None
    if rate is None:
        fractional = [s for s in stages if s.target != int(s.target)]
        if fractional:
            raise UsageError(
                f"--stages: a closed-loop target is a number of connections "
                f"(got {fractional[0].target:g}); with -r the targets are rates"
            )
        ramp = Stages(float(concurrency) if given_c else 0.0, stages)
        if ramp.peak < 1:
            raise UsageError("--stages: every target is 0, nothing would be sent")
        return ramp
    if not rate >= 0 or rate == float("inf"):
        raise UsageError(f"-r/--rate must be a number of requests per second (got {rate:g})")
    ramp = Stages(rate, stages)
    if ramp.count(ramp.total_s) < 1:
        raise UsageError("--stages: the rates never add up to one request")
    return ramp


def exit_status(report: BenchReport, interrupted: bool) -> ExitStatus:
    """The exit-status rule documented in ``--help`` and docs/bench.md.

    When every request failed the status is the one ``get`` gives for that
    failure (4 truncated, 5 connect/tls/timeout, 3 HTTP errors), so a script
    reads the same code from ``get`` and ``bench -n 1``; mixed classes are 3.
    """
    if interrupted:
        from lstream_cli import supervise

        return supervise.stop_status()  # 130 after Ctrl-C, 143 after SIGTERM
    if report.requests == 0:
        return ExitStatus.NETWORK  # nothing answered within the run: nothing to report
    if report.ok == 0:
        statuses = {exit_status_for_error(cls) for cls, n in report.errors.items() if n}
        if len(statuses) == 1:
            return statuses.pop()
        return ExitStatus.HTTP_ERROR
    if any(not t.ok for t in report.thresholds):
        return ExitStatus.THRESHOLDS
    return ExitStatus.SUCCESS


def _failure_line(report: BenchReport) -> str:
    """One line naming why every request failed: ``connect 20``, ``http_5xx 3``."""
    errors = sorted((cls.value, n) for cls, n in report.errors.items() if n)
    counts = ", ".join(f"{name} {n}" for name, n in errors)
    return f"every request failed ({counts or 'no response'})"


@click.command(
    "bench",
    epilog=_EPILOG,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.argument("url")
@click.option(
    "-c",
    "--concurrency",
    type=int,
    default=50,
    show_default=True,
    help="Connections in flight (closed loop), or the cap on them with -r.",
)
@click.option(
    "-n",
    "--requests",
    type=int,
    default=None,
    help=f"Requests to send (default {DEFAULT_REQUESTS} unless -z).",
)
@click.option("-z", "--duration", default=None, metavar="DURATION", help="Run for 10s, 2m, ...")
@click.option(
    "-r",
    "--rate",
    type=float,
    default=None,
    metavar="PER_S",
    help="Open loop: requests per second at a constant arrival rate (needs -n or -z).",
)
@click.option(
    "--workers",
    type=int,
    default=None,
    help=(
        "Worker processes (default: the CPU count; one for a -n of at most 100), "
        "each with its own event loop."
    ),
)
@click.option(
    "--warmup",
    default=None,
    metavar="N|DURATION",
    help="Uncounted warm-up first: N requests, or a duration like 2s.",
)
@click.option(
    "--fail-if",
    "fail_if",
    multiple=True,
    metavar="EXPR",
    help="Requirement like 'ttfb_ms.p99<500'; exit 6 when breached. Repeatable.",
)
@click.option(
    "--csv",
    "csv_path",
    default=None,
    metavar="PATH",
    help="Write one row per request to PATH ('-' = stdout).",
)
@click.option(
    "--csv-series",
    "csv_series_path",
    default=None,
    metavar="PATH",
    help="Write one row per second of the run to PATH ('-' = stdout).",
)
@click.option(
    "--stages",
    default=None,
    metavar="STAGES",
    help="Ramp the load: 'DURATION:TARGET,...' e.g. '30s:50,1m:200,30s:0'.",
)
@click.option("--no-dashboard", is_flag=True, help="No live view, even on a terminal.")
@click.option(
    "-s", "--silent", is_flag=True, help="No live view and no report; errors only (as get -s)."
)
@request_options
@event_options
@json_option
def bench_command(
    url: str,
    concurrency: int,
    requests: int | None,
    duration: str | None,
    rate: float | None,
    workers: int | None,
    warmup: str | None,
    fail_if: tuple[str, ...],
    csv_path: str | None,
    csv_series_path: str | None,
    stages: str | None,
    no_dashboard: bool,
    silent: bool,
    request: RequestFlags,
    json_path: str | None,
    meter_options: MeterOptions,
) -> int:
    """Load-test URL: many streams at once, percentiles you can trust.

    Reports TTFB, headers time, total time, largest gap between reads,
    per-stream throughput, TCP connect and TLS handshake times
    (min/p50/p90/p99/p99.9/max/mean), errors by class
    (connect, tls, timeout, truncated, http_4xx, http_5xx, throttled),
    streams that showed a bandwidth knee, and the client's own CPU and
    event-loop lag so a saturated load generator is not blamed on Lambda.

    --timeout: give up on a connect, or on a response that sent no byte for
    that many seconds (0 = never); the request counts as a timeout error.

    --events sse|ndjson|lines|auto adds time to first event, every gap
    between events and per-stream events/s; --stall-timeout ends a stream
    that sent no event (no byte, without --events) for that long after its
    first byte, counted as a 'stalled' error.
    """
    from lstream_cli.engine.workers import LoadConfig, default_workers

    thresholds: list[Threshold] = []
    if fail_if:  # the threshold grammar is loaded only for --fail-if
        from lstream_cli.engine.thresholds import parse_threshold

        thresholds = [parse_threshold(expr) for expr in fail_if]
        _check_event_thresholds(thresholds, meter_options)
    _positive_int(concurrency, "-c/--concurrency")
    _positive_int(requests, "-n/--requests")
    _positive_int(workers, "--workers")
    if requests is not None and duration is not None:
        raise UsageError("-n/--requests and -z/--duration exclude each other; give one")
    duration_s: float | None = None
    if duration is not None:
        try:
            duration_s = parse_duration(duration)
        except ValueError as exc:
            raise UsageError(f"-z/--duration: {exc}") from None
        if duration_s <= 0:
            raise UsageError("-z/--duration must be positive")
    ramp = None
    if stages is not None:
        ctx = click.get_current_context()
        given_c = ctx.get_parameter_source("concurrency") is not ParameterSource.DEFAULT
        ramp = _parse_stages(stages, requests, duration, warmup, rate, concurrency, given_c)
        duration_s = ramp.total_s
        if rate is None:
            concurrency = int(ramp.peak)
    if rate is not None and not (ramp is not None and rate == 0):
        if not rate > 0 or rate == float("inf"):
            raise UsageError(
                f"-r/--rate must be a positive number of requests per second (got {rate:g})"
            )
        if rate < MIN_RATE:
            raise UsageError(
                f"-r/--rate must be at least {MIN_RATE:g} requests per second (got {rate:g})"
            )
        if requests is None and duration_s is None:
            raise UsageError("-r/--rate needs an end: give -n/--requests or -z/--duration")
    if requests is None and duration_s is None:
        requests = DEFAULT_REQUESTS
    warmup_requests, warmup_s = _parse_warmup(warmup)
    _check_outputs({"--json": json_path, "--csv": csv_path, "--csv-series": csv_series_path})
    spec = request.to_spec(url)

    if spec.method == "HEAD":
        raise UsageError("-X HEAD is not supported by bench (a HEAD answer has no body to measure)")
    from lstream_cli.request import prepare

    # Usage errors (no, expired or broken credentials, no region) before sending;
    # a URL's user:password@ becomes Authorization: Basic when not signed.
    spec, signer = prepare(spec)
    if signer is None and spec.auth != "none":
        spec = replace(spec, auth="none")
    return _run(
        LoadConfig(
            spec=spec,
            concurrency=concurrency,
            requests=requests,
            duration_s=duration_s,
            rate=rate,
            workers=workers or default_workers(),
            auto_workers=workers is None,
            warmup_requests=warmup_requests,
            warmup_s=warmup_s,
            keep_rows=csv_path is not None,
            live=False,
            stages=ramp,
            meter_options=meter_options,
        ),
        thresholds,
        _Outputs(json_path, csv_path, csv_series_path),
        no_dashboard or silent,
        warmup,
        silent,
    )


def _check_event_thresholds(thresholds: list[Threshold], options: MeterOptions) -> None:
    from lstream_cli.engine.thresholds import EVENT_METRICS

    for t in thresholds:
        if options.events is None and t.metric.split(".")[0] in EVENT_METRICS:
            raise UsageError(f"--fail-if {t.expr!r} needs --events (sse, ndjson, lines or auto)")


def _stall_s(options: MeterOptions | None) -> float | None:
    stall = None if options is None else options.stall_timeout_ns
    return None if stall is None else stall / 1e9


def _run(
    config: LoadConfig,
    thresholds: list[Threshold],
    outputs: _Outputs,
    no_dashboard: bool,
    warmup: str | None,
    silent: bool = False,
) -> int:
    """Run the load, then print, write and grade the report."""
    from lstream_cli.engine.results import CSV_COLUMNS, BenchSettings, build_report
    from lstream_cli.engine.workers import run_load
    from lstream_cli.render.bench import CsvStream, Dashboard, print_report, write_series_csv
    from lstream_cli.render.console import make_output
    from lstream_cli.render.jsonout import SCHEMA_VERSION, write_json

    output = make_output(quiet=silent)
    json_path, csv_path, csv_series_path = outputs
    # --csv rows go to the file as requests finish (a temporary sibling until the end).
    rows = None if csv_path is None else CsvStream(csv_path, CSV_COLUMNS, _stdout_gone)
    dashboard = None
    if output.is_terminal and not no_dashboard:
        config = replace(config, live=True)
        dashboard = Dashboard(output)
    try:
        # The dashboard's thread starts once the workers exist: they are forked.
        outcome = run_load(
            config,
            dashboard.update if dashboard is not None else None,
            rows.write if rows is not None else None,
            dashboard.start if dashboard is not None else None,
        )
    except BaseException:
        if rows is not None:
            rows.discard()
        raise
    finally:
        if dashboard is not None:
            dashboard.stop()
    stats = outcome.stats
    network = config.spec.network
    path = network.path_of(config.spec.url) if network is not None else (None, None)
    settings = BenchSettings(
        mode="closed" if config.rate is None else "open",
        concurrency=config.concurrency,
        rate=config.rate,
        workers=outcome.workers,
        requests_target=config.requests,
        duration_target_s=config.duration_s,
        warmup=warmup,
        timeout_s=config.spec.timeout,
        stages=config.stages,
        proxy=path[0],
        ca_bundle=path[1],
        events_format=config.meter_options.events if config.meter_options else None,
        stall_timeout_s=_stall_s(config.meter_options),
    )
    from lstream_cli.redact import redact_url

    # Presigned query values (X-Amz-Signature, tokens) stay off the screen and files.
    report = build_report(
        stats, redact_url(config.spec.url), settings, outcome.interrupted, outcome.series
    )
    if thresholds:  # none: the report's own empty tuple
        from lstream_cli.engine.thresholds import evaluate

        report = replace(report, thresholds=evaluate(thresholds, report))
    if not silent:
        print_report(output, report)
    if json_path is not None:
        doc = {"schema_version": SCHEMA_VERSION, **report.to_json()}
        _write_out(lambda: write_json(json_path, doc))
    if rows is not None:
        _write_out(rows.close)
    if csv_series_path is not None:
        _write_out(lambda: write_series_csv(csv_series_path, report.series))
    status = exit_status(report, outcome.interrupted)
    if outcome.interrupted:
        from lstream_cli import supervise

        output.error(f"{supervise.stopped_word()}: the report above is partial")
    elif report.requests == 0:
        output.error(
            "no request finished before the run ended "
            f"({report.aborted_in_flight} still in flight): raise -z or lower --timeout"
        )
    elif report.ok == 0:
        output.error(_failure_line(report))
    return int(status)


def _stdout_gone() -> None:
    """The reader of stdout went away mid-run (``--csv - | head``): stop writing to it."""
    from lstream_cli.cli import _silence_stdout

    _silence_stdout()


def _write_out(write: Callable[[], None]) -> None:
    """Run ``write``; ``--json - | head`` (the reader went away) is not an error.

    The exit status stays the run's: click would turn the EPIPE into a bare 1,
    hiding a breached threshold.
    """
    try:
        write()
    except BrokenPipeError:
        from lstream_cli.cli import _silence_stdout

        _silence_stdout()
