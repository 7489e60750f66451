"""--parameter-overrides A=1 B=2: every NAME=VALUE after the flag, up to the next flag."""

from __future__ import annotations

import pytest

from lstream_cli._exitcodes import UsageError
from lstream_cli.cli._stack import StackFlags, spread_overrides


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (
            ["--parameter-overrides", "A=1", "B=2", "--s3", "d"],
            ["--parameter-overrides", "A=1", "--parameter-overrides", "B=2", "--s3", "d"],
        ),
        (
            ["--parameter-overrides=A=1", "B=2"],
            ["--parameter-overrides=A=1", "--parameter-overrides", "B=2"],
        ),
        # A bare word without '=' ends the list (click then says what is wrong with it).
        (
            ["--parameter-overrides", "A=1", "word", "C=3"],
            ["--parameter-overrides", "A=1", "word", "C=3"],
        ),
        (["--port", "0", "X=1"], ["--port", "0", "X=1"]),
        (
            ["--parameter-overrides", "A=1", "--", "B=2"],
            ["--parameter-overrides", "A=1", "--", "B=2"],
        ),
    ],
)
def test_spread(args: list[str], expected: list[str]) -> None:
    assert spread_overrides(args) == expected


def test_quoted_lists_split_like_a_shell() -> None:
    flags = StackFlags(None, ("A=1 'B=two words'", "C=3"), None)
    assert flags.override_items() == ["A=1", "B=two words", "C=3"]
    with pytest.raises(UsageError, match="needs --template"):
        flags.check()
    with pytest.raises(UsageError, match="unbalanced quotes"):
        StackFlags(None, ("A='1",), None).override_items()
