"""The root command: help, version, unknown commands."""

from __future__ import annotations

import pytest

from lstream_cli import __version__
from lstream_cli._exitcodes import ExitStatus
from lstream_cli.cli import run


def test_bare_lstream_prints_help_and_succeeds(capsys: pytest.CaptureFixture[str]) -> None:
    assert run([]) == ExitStatus.SUCCESS
    out = capsys.readouterr().out
    for command in ("get", "bench", "compare-modes", "serve"):
        assert command in out
    assert "Exit codes" in out and "130" in out


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["--version"]) == ExitStatus.SUCCESS
    assert __version__ in capsys.readouterr().out


def test_unknown_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["fetch"]) == ExitStatus.USAGE
    err = capsys.readouterr().err
    assert err.startswith("lstream: error: No such command 'fetch'")
    assert len(err.strip().splitlines()) == 1
