"""``lstream report RUN.json [RUN2.json ...] -o report.html``: results drawn in one HTML page.

The page (:mod:`lstream_cli.render.report`) is self-contained: open it
anywhere, no network. ``--open`` shows it in the browser; ``--png`` also
writes a picture of it through a headless Chromium (:mod:`lstream_cli.browser`).
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import click

from lstream_cli._exitcodes import EXIT_CODE_HELP, ExitStatus, LstreamError, UsageError

__all__ = ["report_command"]

_MAX_PNG_HEIGHT = 16_000  # pixels: Chromium's screenshots stop being reliable beyond
_EPILOG = (
    """\b
Examples:
  lstream bench URL --stages '30s:50,1m:200,30s:0' --json run.json
  lstream report run.json -o report.html --open
  lstream report before.json after.json --label before --label after -o cmp.html
  lstream compare-modes --json modes.json && lstream report modes.json -o modes.html
  lstream report run.json -o report.html --png report.png   # CI artifact

\b
A bench result gives its series over time (req/s, in flight, errors, TTFB
and total p50/p90/p99, bytes/s, the stages' target), the TTFB histogram,
the percentile table, errors by class and the run's settings; several runs
are overlaid, named by --label (in order) or by their file. A compare-modes
result gives TTFB and total time against size per mode, with the buffered
(6,291,556 B) and API Gateway (10 MiB) limits marked.

\b
--png needs a headless Chromium (chromium on PATH, or LSTREAM_BROWSER);
without one the HTML is still written and the exit status is 1.
A file that is not a bench or compare-modes result is a usage error (2).

"""
    + EXIT_CODE_HELP
)


@click.command(
    "report",
    epilog=_EPILOG,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.argument("results", nargs=-1, required=True, metavar="RUN.json [RUN2.json ...]")
@click.option(
    "-o",
    "--output",
    "output",
    required=True,
    metavar="PATH",
    help="The HTML file to write.",
)
@click.option(
    "--label",
    "labels",
    multiple=True,
    metavar="NAME",
    help="Name of the next result in the charts (repeatable; default: the file's name).",
)
@click.option("--open", "open_it", is_flag=True, help="Open the page in the web browser.")
@click.option(
    "--png",
    "png",
    default=None,
    metavar="PATH",
    help="Also write a screenshot of the page (needs a headless Chromium).",
)
def report_command(
    results: tuple[str, ...],
    output: str,
    labels: tuple[str, ...],
    open_it: bool,
    png: str | None,
) -> int:
    """Draw bench and compare-modes results in one self-contained HTML page."""
    from lstream_cli.render.jsonout import atomic_write, check_writable
    from lstream_cli.render.report import build_html, load_result, page_size

    if len(labels) > len(results):
        raise UsageError(f"{len(labels)} --label for {len(results)} result file(s)")
    if output == "-":
        raise UsageError("-o/--output names the HTML file to write ('-' is not one)")
    check_writable(output, "-o/--output")
    if png is not None:
        check_writable(png, "--png")
        if os.path.abspath(png) == os.path.abspath(output):
            raise UsageError(f"-o and --png both name {output}: one would overwrite the other")
    given = list(labels) + [None] * (len(results) - len(labels))
    loaded = [load_result(path, label) for path, label in zip(results, given, strict=True)]
    # Two files of one name (a/run.json, b/run.json) are told apart by their paths.
    stems = [r.label for r in loaded]
    loaded = [
        replace(r, label=r.path) if label is None and stems.count(r.label) > 1 else r
        for r, label in zip(loaded, given, strict=True)
    ]
    page = build_html(loaded)
    atomic_write(output, lambda fh: fh.write(page))
    if png is not None:
        from lstream_cli.browser import page_height, screenshot

        width, estimate = page_size(loaded)
        height = page_height(Path(output), width) or estimate
        screenshot(Path(output), Path(png), width, min(height + 16, _MAX_PNG_HEIGHT))
    if open_it:
        import webbrowser

        if not webbrowser.open(Path(output).resolve().as_uri()):
            raise LstreamError(f"--open: no web browser to show {output} (it is written)")
    return int(ExitStatus.SUCCESS)
