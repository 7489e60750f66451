from __future__ import annotations

import pytest

from lstream_cli.units import format_bytes, format_rate, parse_duration, parse_size


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("512", 512),
        ("0", 0),
        ("1B", 1),
        ("5MB", 5_000_000),
        ("5MiB", 5_242_880),
        ("6291556", 6_291_556),
        ("1.5MB", 1_500_000),
        ("10mb", 10_000_000),
        ("64KiB", 65_536),
        ("1GiB", 1 << 30),
        ("2GB", 2_000_000_000),
        ("3k", 3000),
        (" 7 MB ", 7_000_000),
    ],
)
def test_parse_size(text: str, expected: int) -> None:
    assert parse_size(text) == expected


@pytest.mark.parametrize("text", ["", "MB", "-1MB", "5XB", "1e6", "five"])
def test_parse_size_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="invalid size"):
        parse_size(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("10s", 10.0), ("2m", 120.0), ("250ms", 0.25), ("3", 3.0), ("1h", 3600.0), ("1.5s", 1.5)],
)
def test_parse_duration(text: str, expected: float) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "s", "-3s", "10 parsecs", "1d"])
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="invalid duration"):
        parse_duration(text)


def test_formatting() -> None:
    assert format_bytes(6_291_556) == "6.29 MB"
    assert format_bytes(999) == "999 B"
    assert format_bytes(None) == "-"
    assert format_rate(2_000_000) == "2.00 MB/s"
