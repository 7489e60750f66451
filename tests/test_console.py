"""The stderr console: NO_COLOR and odd COLUMNS values never hide or garble output."""

from __future__ import annotations

import os
import pty
import select
import sys
import time
from collections.abc import Callable, Iterator
from typing import TextIO

import pytest

from lstream_cli.cli import run
from lstream_cli.render.console import make_output


@pytest.fixture
def on_a_pty(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[], tuple[int, TextIO]]]:
    """Puts sys.stderr on a pseudo-terminal; both of its ends are closed afterwards.

    Called from the test itself: pytest's capture resets sys.stderr between
    a fixture's set-up and the test.
    """
    opened: list[tuple[int, TextIO]] = []

    def attach() -> tuple[int, TextIO]:
        master, slave = pty.openpty()
        stream = os.fdopen(slave, "w", encoding="utf-8")
        opened.append((master, stream))
        monkeypatch.setattr(sys, "stderr", stream)
        monkeypatch.setenv("TERM", "xterm-256color")
        return master, stream

    yield attach
    monkeypatch.undo()
    for master, stream in opened:
        stream.close()
        os.close(master)


def _drain(master: int, until: bytes = b"something failed") -> bytes:
    """What the terminal shows, up to the end of the line holding ``until``.

    The pty hands written bytes to its master side asynchronously: wait for
    them rather than take what happens to be there already.
    """
    data = b""
    deadline = time.monotonic() + 10
    while not (until in data and data.endswith(b"\n")):
        ready, _, _ = select.select([master], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            break
        try:
            data += os.read(master, 65536)
        except OSError:
            break
    return data


def test_no_color_on_a_terminal_means_no_ansi_attributes(
    on_a_pty: Callable[[], tuple[int, TextIO]], monkeypatch: pytest.MonkeyPatch
) -> None:
    master, stream = on_a_pty()
    monkeypatch.setenv("NO_COLOR", "1")
    out = make_output()
    assert out.is_terminal
    out.error("something failed")
    stream.flush()
    data = _drain(master)
    assert b"something failed" in data
    assert b"\x1b[" not in data  # neither colour nor bold


def test_colour_on_a_terminal_without_no_color(
    on_a_pty: Callable[[], tuple[int, TextIO]], monkeypatch: pytest.MonkeyPatch
) -> None:
    master, stream = on_a_pty()
    monkeypatch.delenv("NO_COLOR", raising=False)
    make_output().error("something failed")
    stream.flush()
    assert b"\x1b[" in _drain(master)  # the control: styles are on by default


@pytest.mark.parametrize("columns", ["0", "-5", "abc", ""])
def test_odd_columns_never_hide_the_error_line(
    columns: str, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("COLUMNS", columns)
    assert run(["get", "http://127.0.0.1:9/", "--auth", "none", "-o", "/dev/null"]) == 5
    err = capfd.readouterr().err
    assert "error: cannot connect" in err and "Traceback" not in err


def test_emoji_codes_are_printed_as_they_are(capfd: pytest.CaptureFixture[str]) -> None:
    """A ":name:" in a message (a header value, a URL) is text, not rich's emoji."""
    out = make_output(quiet=False)
    out.error("bad header value :smile: in x-note")
    out.warn("server said :thumbs_up:")
    err = capfd.readouterr().err
    assert err.splitlines() == [
        "lstream: error: bad header value :smile: in x-note",
        "warning: server said :thumbs_up:",
    ]


def test_square_brackets_in_a_message_are_text_not_markup(
    capfd: pytest.CaptureFixture[str],
) -> None:
    """A URL path, an IPv6 host or a header value in brackets is printed whole."""
    out = make_output(quiet=False)
    out.error("cannot reach http://[::1]:8080/[abc]/x")
    out.warn("header x-tag: [bold]loud[/bold]")
    out.info("served /[red]/")
    err = capfd.readouterr().err
    assert err.splitlines() == [
        "lstream: error: cannot reach http://[::1]:8080/[abc]/x",
        "warning: header x-tag: [bold]loud[/bold]",
        "served /[red]/",
    ]
