"""Parsing of human quantities: sizes (``5MB``, ``5MiB``), durations (``10s``), time scales.

``MB`` is 10**6 bytes and ``MiB`` 2**20, as AWS's own limits are written
(6 MB buffered = 6,291,556 bytes is the exception AWS makes, not the rule).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

__all__ = [
    "MAX_TIME_SCALE",
    "MIN_TIME_SCALE",
    "check_time_scale",
    "format_bytes",
    "format_rate",
    "format_size",
    "parse_duration",
    "parse_size",
]

# The emulator's --time-scale (serve, compare-modes): infinity would turn every
# timeout into zero, 1e-300 every delay into forever.
MIN_TIME_SCALE = 0.001
MAX_TIME_SCALE = 10_000.0

_SIZE_UNITS = {
    "": 1,
    "b": 1,
    "kb": 10**3,
    "mb": 10**6,
    "gb": 10**9,
    "k": 10**3,
    "m": 10**6,
    "g": 10**9,
    "kib": 2**10,
    "mib": 2**20,
    "gib": 2**30,
}
_DURATION_UNITS = {"ms": 1e-3, "s": 1.0, "": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0}
# A number and an optional unit, the grammar of sizes and durations alike.
_QUANTITY_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$")


def _parse_quantity(
    text: str, units: Mapping[str, float], what: str, examples: str, known: str
) -> float:
    """``text`` as a number times its unit's factor (``units``, case-insensitive).

    ``what`` names the quantity in the ValueError messages, ``examples``
    shows good values and ``known`` lists the units.
    """
    m = _QUANTITY_RE.match(str(text))
    if not m:
        raise ValueError(f"invalid {what} {text!r} (examples: {examples})")
    number, unit = m.groups()
    factor = units.get(unit.lower())
    if factor is None:
        raise ValueError(f"invalid {what} unit in {text!r} (use {known})")
    return float(number) * factor


def parse_size(text: str) -> int:
    """``"7MB"`` -> 7000000, ``"1MiB"`` -> 1048576, ``"512"`` -> 512.

    Raises ValueError with a message fit for a usage error.
    """
    return round(
        _parse_quantity(
            text, _SIZE_UNITS, "size", "512, 64KiB, 5MB, 7MiB", "B, KB, MB, GB, KiB, MiB or GiB"
        )
    )


def parse_duration(text: str) -> float:
    """``"10s"`` -> 10.0, ``"2m"`` -> 120.0, ``"250ms"`` -> 0.25, ``"3"`` -> 3.0 (seconds)."""
    return _parse_quantity(text, _DURATION_UNITS, "duration", "500ms, 10s, 2m", "ms, s, m or h")


def format_bytes(n: float | None) -> str:
    """Decimal units, like AWS's limits: ``6291556`` -> ``6.29 MB``."""
    if n is None:
        return "-"
    for unit, factor in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if abs(n) >= factor:
            return f"{n / factor:.2f} {unit}"
    return f"{int(n)} B"


def format_rate(bps: float | None) -> str:
    return "-" if bps is None else f"{format_bytes(bps)}/s"


def format_size(n: int) -> str:
    """Sizes as the user wrote them: ``7 MB``, ``6 MiB``, ``6.50 MB``, ``1.5 MiB``.

    A size no short form says exactly is shown in bytes (``6,291,557 B``):
    a sweep across a limit asks for sizes one byte apart, and both must not
    read ``6.29 MB``.
    """
    if n >= 10**6 and n % 10**6 == 0:
        return f"{n // 10**6} MB"
    if n >= 2**20 and n % 2**20 == 0:
        return f"{n // 2**20} MiB"
    if n >= 10**3 and n % 10**3 == 0 and n < 10**6:
        return f"{n // 10**3} kB"
    for text in (format_bytes(n), f"{n / 2**20:g} MiB"):
        try:
            if parse_size(text) == n:
                return text
        except ValueError:
            continue
    return f"{n:,} B"


def check_time_scale(value: float) -> float:
    """``--time-scale`` as serve and compare-modes take it; UsageError out of range."""
    from lstream_cli._exitcodes import UsageError

    if not MIN_TIME_SCALE <= value <= MAX_TIME_SCALE:  # NaN fails too
        raise UsageError(
            f"--time-scale must be a positive number from {MIN_TIME_SCALE:g} to {MAX_TIME_SCALE:g}"
        )
    return value
