"""``lstream get URL``: one request, streamed to a file or stdout, then measured."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from lstream_cli._exitcodes import EXIT_CODE_HELP
from lstream_cli.cli._options import RequestFlags, event_options, json_option, request_options
from lstream_cli.redirects import DEFAULT_MAX_REDIRS

if TYPE_CHECKING:
    from lstream_cli.measure import MeterOptions

__all__ = ["get_command"]

_EPILOG = (
    """\b
Examples:
  lstream get https://<id>.lambda-url.us-east-1.on.aws/export -o export.json
  lstream get http://127.0.0.1:9000/?size=20MB -o /dev/null --json -
  lstream get "$URL" -X POST -d @payload.json -H 'content-type: application/json'
  lstream get "$URL" | head -c 100
  HTTPS_PROXY=http://proxy.corp:3128 lstream get "$URL" --cacert corp-ca.pem -v
  lstream get "$URL/chat" --events sse --stall-timeout 5s -o /dev/null
  lstream get -L https://example.com/moved -o out.bin   # follow redirects, as curl -L

\b
Redirects: without -L a 3xx is the answer (exit 3, its Location named). With
-L, 303 (and 301/302 after a POST) become a GET without a body, 307/308 keep
the method and body; Authorization, cookies and secret headers never go to
another host; a signed request is re-signed for each AWS host. The figures
are the final request's; redirects and redirect_ms in --json count the rest.

\b
Credentials: --auth auto does not ask instance or container metadata for a
host that is not an AWS endpoint (--auth iam does); expired or broken ones
are one line naming their source (exit 2); -v names the source and the
access key id's last four characters. A URL's user:password@ is refused on a
signed request and sent as Basic auth on an unsigned one.

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
@click.option(
    "-L",
    "--location",
    is_flag=True,
    help="Follow redirects (301, 302, 303, 307, 308) as curl -L does; credentials "
    "and secret headers are not forwarded to another host.",
)
@click.option(
    "--max-redirs",
    type=click.IntRange(0, 1000),
    default=DEFAULT_MAX_REDIRS,
    show_default=True,
    metavar="N",
    help="With -L, follow at most N redirects (then exit 3).",
)
@event_options
@json_option
def get_command(
    url: str,
    request: RequestFlags,
    output: str | None,
    include: bool,
    verbose: bool,
    silent: bool,
    location: bool,
    max_redirs: int,
    json_path: str | None,
    meter_options: MeterOptions,
) -> int:
    """Send one request, stream the body, and report how it arrived.

    The body is written as it arrives (memory stays flat whatever the size).
    The summary on stderr gives the connection set-up phase by phase (DNS,
    TCP connect, TLS handshake: only the network is timed), headers time,
    TTFB at the first body byte, total time, bytes, reads, the largest gap,
    throughput, the bandwidth knee and whether the response really streamed.
    With --events, also the events counted, time to first event, gaps
    between events and events/s.

    With -L the figures are the final request's; the redirects before it are
    counted apart (redirects, redirect_ms). Without -L a 3xx exits 3 and
    names its Location.
    """
    from lstream_cli import supervise
    from lstream_cli.bodyout import check_apart, open_body_writer
    from lstream_cli.engine.single import Interrupted, SentRequest
    from lstream_cli.hints import BodyPeek, hints_for
    from lstream_cli.outcome import get_outcome
    from lstream_cli.redact import redact_headers, redact_url
    from lstream_cli.redirects import Followed, Hop, fetch_following, signer_for
    from lstream_cli.render.console import make_output
    from lstream_cli.render.get import (
        ProgressLine,
        format_head,
        format_summary,
        get_json,
        print_head,
        print_info,
    )
    from lstream_cli.render.jsonout import SCHEMA_VERSION, check_writable, write_json
    from lstream_cli.request import auth_summary, prepare
    from lstream_cli.url import parse_url
    from lstream_cli.verdict import judge

    given = request.to_spec(url)
    if json_path is not None and json_path != "-":
        check_writable(json_path)
    if json_path == "-" and (output is None or output == "-"):
        raise click.UsageError("--json - and the body cannot both go to stdout: add -o FILE")
    check_apart(output, json_path)
    spec, signer = prepare(given)
    out = make_output(quiet=silent)
    writer = open_body_writer(output)
    peek = BodyPeek(writer)  # the start of an error body, for the 403 hints
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
        path = redact_url(parse_url(sent.url).raw_path)
        if spec.network is not None:  # which proxy, which CA bundle
            for line in spec.network.describe(sent.url):
                print_info(out.console, line)
            if spec.network.route(sent.url).forward:  # absolute-form, as the proxy gets it
                path = redact_url(spec.network.route(sent.url).target(path))
        req = format_head(">", f"{sent.method} {path} HTTP/1.1", redact_headers(sent.headers))
        print_head(out.console, req, ">")
        if progress is not None:
            progress.start()  # below the request, not interleaved with it

    def on_hop(hop: Hop) -> None:
        dropped = f"; not forwarded: {', '.join(hop.dropped)}" if hop.dropped else ""
        print_info(out.console, f"redirect: {hop.status} to {redact_url(hop.location)}{dropped}")

    if verbose:
        print_info(out.console, "auth: " + auth_summary(given, spec, signer))
    interrupted = False
    if progress is not None and not verbose:
        progress.start()  # elapsed time runs from the start, not from the first byte
    try:
        followed = fetch_following(
            spec,
            signer,
            follow=location,
            max_redirs=max_redirs,
            sink=peek,
            on_progress=progress.update if progress is not None else None,
            on_head=on_head,
            on_request=on_request if verbose else None,
            on_hop=on_hop if verbose else None,
            options=meter_options,
        )
    except Interrupted as stop:
        # Ctrl-C or SIGTERM: what was measured is still summarised and written.
        followed = Followed(stop.record, spec.url, (), None, False)
        interrupted = True
    finally:
        if progress is not None:
            progress.stop()
        writer.end_line()
        writer.close()

    record = followed.record
    verdict = judge(record)
    own_auth = any(name.lower() == "authorization" for name, _ in given.headers)
    final_signed = signer_for(signer, spec.url, followed.url) is not None
    why = "own" if own_auth else ("redirected" if signer is not None else spec.auth)
    hints = hints_for(record, bytes(peek.head), final_signed, why)
    if not silent and record.status is not None:
        # No response at all: the one error line below says everything.
        out.console.print(format_summary(record, verdict, hints, redirects=followed.hops))
    if json_path is not None:
        path = spec.network.path_of(followed.url) if spec.network is not None else (None, None)
        doc = get_json(
            record, given.url, verdict, SCHEMA_VERSION, followed.url, followed.hops, path
        )
        write_json(json_path, doc)
    if interrupted:
        kept = f": the {record.bytes:,} bytes received were written" if record.bytes else ""
        out.error(f"{supervise.stopped_word()}{kept}")
        return int(supervise.stop_status())
    status, line = get_outcome(followed, max_redirs)
    if line:
        out.error(line)
    return int(status)
