"""``lstream bench URL``: flags -> LoadConfig -> engine -> report, JSON, CSV, exit code.

Everything that can be wrong with the flags (conflicts, zero or negative
values, ``-r`` without an end, a bad ``--fail-if``, missing credentials for
``--auth iam``) is a usage error raised here, before anything is sent.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING

import click

from lstream_cli._exitcodes import EXIT_CODE_HELP, ExitStatus, UsageError, exit_status_for_error
from lstream_cli.cli._options import RequestFlags, event_options, json_option, request_options
from lstream_cli.units import parse_duration

if TYPE_CHECKING:
    from lstream_cli.engine.results import BenchReport
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
--fail-if 'metric.stat OP number' states a requirement (OP: < <= > >= ==).
metrics: headers_ms, ttfb_ms, total_ms, gap_max_ms, stream_bytes_per_s with
stats min, p50, p90, p99, p999, max, mean; also errors.rate, errors.count,
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
    help="Worker processes (default: the CPU count), each with its own event loop.",
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
    from lstream_cli.engine.thresholds import parse_threshold
    from lstream_cli.engine.workers import LoadConfig, default_workers

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
    if rate is not None:
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
    from lstream_cli.render.jsonout import check_writable

    # A long run must not be measured only to be lost to a bad result path.
    if json_path is not None and json_path != "-":
        check_writable(json_path)
    if csv_path is not None and csv_path != "-":
        check_writable(csv_path, "--csv")
    if csv_path == "-" and json_path == "-":
        raise UsageError("--json - and --csv - cannot both go to stdout")
    if (
        csv_path is not None
        and json_path is not None
        and "-" not in (csv_path, json_path)
        and os.path.abspath(csv_path) == os.path.abspath(json_path)
    ):
        raise UsageError(f"--json and --csv both name {json_path}: one would overwrite the other")
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
            warmup_requests=warmup_requests,
            warmup_s=warmup_s,
            keep_rows=csv_path is not None,
            live=False,
            meter_options=meter_options,
        ),
        thresholds,
        csv_path,
        json_path,
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
    csv_path: str | None,
    json_path: str | None,
    no_dashboard: bool,
    warmup: str | None,
    silent: bool = False,
) -> int:
    """Run the load, then print, write and grade the report."""
    from lstream_cli.engine.results import CSV_COLUMNS, BenchSettings, build_report
    from lstream_cli.engine.thresholds import evaluate
    from lstream_cli.engine.workers import run_load
    from lstream_cli.render.bench import Dashboard, print_report, write_csv
    from lstream_cli.render.console import make_output
    from lstream_cli.render.jsonout import SCHEMA_VERSION, write_json

    output = make_output(quiet=silent)
    dashboard = None
    if output.is_terminal and not no_dashboard:
        config = replace(config, live=True)
        dashboard = Dashboard(output)
        dashboard.start()
    try:
        outcome = run_load(config, dashboard.update if dashboard is not None else None)
    finally:
        if dashboard is not None:
            dashboard.stop()
    stats = outcome.stats
    settings = BenchSettings(
        mode="open" if config.rate else "closed",
        concurrency=config.concurrency,
        rate=config.rate,
        workers=outcome.workers,
        requests_target=config.requests,
        duration_target_s=config.duration_s,
        warmup=warmup,
        timeout_s=config.spec.timeout,
        events_format=config.meter_options.events if config.meter_options else None,
        stall_timeout_s=_stall_s(config.meter_options),
    )
    from lstream_cli.redact import redact_url

    # Presigned query values (X-Amz-Signature, tokens) stay off the screen and files.
    report = build_report(stats, redact_url(config.spec.url), settings, outcome.interrupted)
    report = replace(report, thresholds=evaluate(thresholds, report))
    if not silent:
        print_report(output, report)
    if json_path is not None:
        doc = {"schema_version": SCHEMA_VERSION, **report.to_json()}
        _write_out(lambda: write_json(json_path, doc))
    if csv_path is not None:
        rows = sorted(stats.rows or [], key=lambda r: (r[0] is None, r[0] or 0.0))
        _write_out(lambda: write_csv(csv_path, CSV_COLUMNS, rows))
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
