"""A headless Chromium for the HTML report: a screenshot, or the DOM after the page ran.

The browser is found on ``PATH`` (``chromium``, ``chromium-browser``,
``google-chrome``, ``google-chrome-stable``) or named by ``LSTREAM_BROWSER``.
Each run gets a fresh, throw-away profile and every background service
Chromium would otherwise start (updates, sync, QUIC, network prediction) is
off: the report is a local file and must not reach the network.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from lstream_cli._exitcodes import LstreamError

__all__ = [
    "BROWSER_NAMES",
    "NoBrowser",
    "dump_dom",
    "find_browser",
    "page_height",
    "screenshot",
]

BROWSER_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
_TIMEOUT_S = 60.0
_BUDGET_MS = 5000  # virtual time the page gets to run its scripts before the capture


class NoBrowser(LstreamError):
    """No headless browser to draw the page with (exit 1: the picture was not written)."""


def find_browser() -> str:
    """The browser's path; :class:`NoBrowser` when there is none."""
    named = os.environ.get("LSTREAM_BROWSER")
    if named:
        found = shutil.which(named)
        if found is None:
            raise NoBrowser(f"LSTREAM_BROWSER={named}: no such browser")
        return found
    for name in BROWSER_NAMES:
        found = shutil.which(name)
        if found is not None:
            return found
    raise NoBrowser(
        "no headless browser found for --png (install chromium, or set LSTREAM_BROWSER)"
    )


def _run(args: list[str]) -> subprocess.CompletedProcess[str]:
    browser = find_browser()
    with tempfile.TemporaryDirectory(prefix="lstream-browser-") as profile:
        command = [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-extensions",
            "--hide-scrollbars",
            f"--user-data-dir={profile}",
            f"--virtual-time-budget={_BUDGET_MS}",
            *args,
        ]
        try:
            return subprocess.run(
                command,
                capture_output=True,
                text=True,
                timeout=_TIMEOUT_S,
                stdin=subprocess.DEVNULL,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise LstreamError(f"{browser} did not finish within {_TIMEOUT_S:.0f} s") from None
        except OSError as exc:
            raise NoBrowser(f"cannot run {browser}: {exc.strerror or exc}") from None


def screenshot(page: Path, png: Path, width: int, height: int) -> None:
    """Draw ``page`` (a local HTML file) and write a ``width`` x ``height`` PNG to ``png``.

    The picture is drawn into a temporary sibling and renamed into place:
    ``png`` is written whole or not at all.
    """
    target = Path(os.path.realpath(png))
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".png", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        tmp.unlink()  # the browser creates it; an empty file left behind would look written
        proc = _run(
            [f"--window-size={width},{height}", f"--screenshot={tmp}", page.resolve().as_uri()]
        )
        if proc.returncode != 0 or not tmp.is_file() or tmp.stat().st_size == 0:
            last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
            raise LstreamError(f"the browser could not write {png}: {last}")
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # as any file written here, not mkstemp's 0600
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def dump_dom(page: Path, width: int = 1280, height: int = 2000) -> str:
    """The page's DOM, serialised, after its scripts ran."""
    proc = _run([f"--window-size={width},{height}", "--dump-dom", page.resolve().as_uri()])
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise LstreamError(f"the browser could not load {page}: {last}")
    return proc.stdout


_HEIGHT_RE = re.compile(r'<body[^>]*\bdata-page-height="(\d+)"')


def page_height(page: Path, width: int) -> int | None:
    """The page's full height at ``width`` as its script measured it; None if it did not."""
    m = _HEIGHT_RE.search(dump_dom(page, width))
    return int(m.group(1)) if m else None
