"""``lstream get URL``: one request, streamed to a file or stdout, then measured."""

from __future__ import annotations

import email.utils
import time

import click
import httpx

from lstream_cli._exitcodes import EXIT_CODE_HELP, ExitStatus, exit_status_for_error
from lstream_cli.cli._options import RequestFlags, json_option, request_options

__all__ = ["get_command"]

_EPILOG = (
    """\b
Examples:
  lstream get https://<id>.lambda-url.us-east-1.on.aws/export -o export.json
  lstream get http://127.0.0.1:9000/?size=20MB -o /dev/null --json -
  lstream get "$URL" -X POST -d @payload.json -H 'content-type: application/json'
  lstream get "$URL" | head -c 100
  HTTPS_PROXY=http://proxy.corp:3128 lstream get "$URL" --cacert corp-ca.pem -v

"""
    + EXIT_CODE_HELP
)


@click.command(
    "get",
    epilog=_EPILOG,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.argument("url")
@request_options
@click.option(
    "-o",
    "--output",
    default=None,
    metavar="FILE",
    help="Write the body to FILE ('-' = stdout, even binary). Default: stdout.",
)
@click.option(
    "-i",
    "--include",
    is_flag=True,
    help="Include the response status line and headers in the output.",
)
@click.option(
    "-v",
    "--verbose",
    is_flag=True,
    help="Show the request and response headers on stderr (secrets redacted).",
)
@click.option("-s", "--silent", is_flag=True, help="No progress and no summary; errors only.")
@json_option
def get_command(
    url: str,
    request: RequestFlags,
    output: str | None,
    include: bool,
    verbose: bool,
    silent: bool,
    json_path: str | None,
) -> int:
    """Send one request, stream the body, and report how it arrived.

    The body is written as it arrives (memory stays flat whatever the size).
    The summary on stderr gives headers time, TTFB at the first body byte,
    total time, bytes, reads, the largest gap, throughput, the bandwidth knee
    and whether the response really streamed.
    """
    from lstream_cli.bodyout import open_body_writer
    from lstream_cli.engine.single import Interrupted, SentRequest, fetch
    from lstream_cli.render.console import make_output
    from lstream_cli.render.get import (
        ProgressLine,
        format_head,
        format_summary,
        get_json,
        print_head,
        print_notes,
    )
    from lstream_cli.render.jsonout import SCHEMA_VERSION, check_writable, write_json
    from lstream_cli.request import prepare_auth
    from lstream_cli.signing import redact_headers, redact_url
    from lstream_cli.verdict import judge

    spec = request.to_spec(url)
    if json_path is not None and json_path != "-":
        check_writable(json_path)
    if json_path == "-" and (output is None or output == "-"):
        raise click.UsageError("--json - and the body cannot both go to stdout: add -o FILE")
    signer = prepare_auth(spec)
    out = make_output(quiet=silent)
    writer = open_body_writer(output)
    # No progress line over a body that is itself printed on the terminal (curl neither).
    show_progress = not silent and not writer.terminal and out.is_terminal
    progress = ProgressLine(out.console) if show_progress else None

    def on_head(
        sent: SentRequest,
        status: int,
        resp_headers: tuple[tuple[str, str], ...],
        status_line: str,  # as received, e.g. "HTTP/1.1 200 OK" (as curl -i shows it)
    ) -> None:
        writer.responded()  # -o FILE is emptied only once a response arrives
        if verbose:
            if progress is not None:
                progress.stop()  # printed above the line, which comes back with the body
            resp = format_head("<", status_line, redact_headers(resp_headers))
            print_head(out.console, resp, "<")
        if include:
            lines = [status_line] + [f"{k}: {v}" for k, v in resp_headers]
            writer.head(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))

    def on_request(sent: SentRequest) -> None:
        # Before the clock starts: shown even when no response ever comes.
        path = redact_url(httpx.URL(sent.url).raw_path.decode("ascii"))
        if spec.network is not None:  # which proxy, which CA bundle
            print_notes(out.console, spec.network.describe(sent.url))
            if spec.network.route(sent.url).forward:  # absolute-form, as the proxy gets it
                path = redact_url(spec.network.route(sent.url).target(path))
        req = format_head(">", f"{sent.method} {path} HTTP/1.1", redact_headers(sent.headers))
        print_head(out.console, req, ">")
        if progress is not None:
            progress.start()  # below the request, not interleaved with it

    interrupted = False
    if progress is not None and not verbose:
        progress.start()  # elapsed time runs from the start, not from the first byte
    try:
        record = fetch(
            spec,
            signer,
            sink=writer,
            on_progress=progress.update if progress is not None else None,
            on_head=on_head,
            on_request=on_request if verbose else None,
        )
    except Interrupted as stop:
        # Ctrl-C: what was measured is still summarised and written (exit 130).
        record, interrupted = stop.record, True
    finally:
        if progress is not None:
            progress.stop()
        writer.end_line()
        writer.close()

    verdict = judge(record)
    own_auth = any(name.lower() == "authorization" for name, _ in spec.headers)
    hints = _hints(record, signer is not None, "own" if own_auth else spec.auth)
    if not silent and record.status is not None:
        # No response at all: the one error line below says everything.
        out.console.print(format_summary(record, verdict, hints))
    if json_path is not None:
        write_json(json_path, get_json(record, spec.url, verdict, SCHEMA_VERSION))
    if interrupted:
        kept = f": the {record.bytes:,} bytes received were written" if record.bytes else ""
        out.error(f"interrupted{kept}")
        return int(ExitStatus.INTERRUPTED)
    status = exit_status_for_error(None if record.error is None else record.error.value)
    if status != ExitStatus.SUCCESS:
        out.error(_failure_line(record))
    return int(status)


def _failure_line(record: object) -> str:
    from lstream_cli.models import RequestRecord

    assert isinstance(record, RequestRecord)
    if record.error is None:
        return ""
    if record.error.value.startswith("http_") or record.error.value == "throttled":
        return f"the server answered HTTP {record.status}"
    if record.error.value == "truncated":
        return (
            f"stream truncated after {record.bytes:,} bytes "
            f"({record.error_detail or 'the body ended early'}); what arrived was written"
        )
    return record.error_detail or record.error.value


def _hints(record: object, signed: bool, auth: str) -> list[str]:
    """Actionable hints for a 403 from a function URL (permissions, clock skew).

    ``auth``: the --auth mode, or "own" when the user's -H Authorization went.
    """
    from lstream_cli.models import RequestRecord

    assert isinstance(record, RequestRecord)
    hints: list[str] = []
    if record.status != 403:
        return hints
    if not signed:
        why = {
            "none": "--auth none sent it unsigned (use --auth auto or iam)",
            "own": "your own -H Authorization went instead (drop it to let --auth auto sign)",
        }.get(auth, "no credentials were found (set them up or use --auth iam to insist)")
        hints.append(
            f"403 without a signature: a function URL with AuthType AWS_IAM needs SigV4; {why}"
        )
        return hints
    hints.append(
        "403 on a signed request: the caller needs both lambda:InvokeFunctionUrl and "
        "lambda:InvokeFunction on the function (check the region and --service too)"
    )
    # Clock skew is always addressed: ruled in, ruled out, or left to check.
    date = dict((k.lower(), v) for k, v in record.response_headers).get("date")
    skew: float | None = None
    if date:
        try:
            skew = time.time() - email.utils.parsedate_to_datetime(date).timestamp()
        except (TypeError, ValueError):
            skew = None
    if skew is None:
        hints.append(
            "clock skew: no usable Date header to compare with; SigV4 allows 5 minutes, "
            "so check that the local clock is right"
        )
    elif abs(skew) > 240:
        hints.append(
            f"the local clock is {abs(skew):.0f} s {'ahead of' if skew > 0 else 'behind'} "
            "the server's Date header: SigV4 allows 5 minutes; fix the clock"
        )
    else:
        hints.append(
            f"clock skew ruled out: the local clock is within {abs(skew):.0f} s of the "
            "server's Date header (SigV4 allows 5 minutes)"
        )
    return hints
