"""The compare-modes conclusion: one paragraph in plain words.

:func:`conclude` reads the cells of a sweep (which path carried which size,
which failed and on which limit, the first byte's time) and says what to
use. The text is plain, so it also goes into the JSON result;
:mod:`lstream_cli.render.compare` lays it out on the screen.
"""

from __future__ import annotations

from collections.abc import Sequence

from lstream_cli.compare import Cell
from lstream_cli.limits import SIZE_LIMITS
from lstream_cli.modes import MODE_NAMES, MODES, STREAMING_MODES
from lstream_cli.units import format_bytes, format_rate, format_size

__all__ = ["conclude"]


def _names(modes: Sequence[str], conjunction: str = "and") -> str:
    names = [MODE_NAMES[m] for m in modes]
    if len(names) <= 1:
        return "".join(names)
    return ", ".join(names[:-1]) + f" {conjunction} " + names[-1]


def _why(cell: Cell) -> str:
    if cell.limit:
        return cell.limit
    if cell.record.error is not None:
        return cell.record.error.value + (f": {cell.error_text}" if cell.error_text else "")
    return "failed"


def conclude(cells: Sequence[Cell]) -> str:
    """One paragraph in plain words: which path carries which size, and what to use."""
    if not cells:
        return "Nothing was measured."
    by = {(c.mode, c.size): c for c in cells}
    modes = [m for m in MODES if any(c.mode == m for c in cells)]
    sizes = sorted({c.size for c in cells})
    # A path that failed at every size is a broken target (refused, 403, ...)
    # unless a size limit explains a failure: then the sizes were too large for it.
    dead = [
        m
        for m in modes
        if all(not c.ok and c.limit not in SIZE_LIMITS for c in cells if c.mode == m)
    ]
    live = [m for m in modes if m not in dead]
    parts: list[str] = []

    def ok(mode: str, size: int) -> bool:
        cell = by.get((mode, size))
        return cell is not None and cell.ok

    upto: int | None = None
    for s in sizes:
        if not all(ok(m, s) for m in live):
            break
        upto = s
    short = [c for c in cells if c.short]
    if short:
        first_short = short[0]
        more = f" ({len(short)} cells in all)" if len(short) > 1 else ""
        parts.append(
            f"Careful: {MODE_NAMES[first_short.mode]} sent "
            f"{format_bytes(first_short.record.bytes)} when {format_size(first_short.size)} "
            f"was asked{more}: the function may not read the size from the query parameter "
            "(--size-param), or the response was compressed; the sizes here are those asked, "
            "not those carried."
        )
    if live and upto is not None:
        if len(modes) == 1:
            every = MODE_NAMES[modes[0]]
        else:
            every = "every path" if not dead else "every path that answered"
        if upto == sizes[-1]:
            parts.append(
                f"{every[0].upper()}{every[1:]} carried every size up to {format_size(upto)}."
            )
        else:
            parts.append(f"Up to {format_size(upto)} {every} works.")

    groups: dict[tuple[int, str], list[str]] = {}
    for m in live:
        first = next((s for s in sizes if (m, s) in by and not by[(m, s)].ok), None)
        if first is not None:
            groups.setdefault((first, _why(by[(m, first)])), []).append(m)
    # By size, then in row order (the order groups were met).
    for (s, why), ms in sorted(groups.items(), key=lambda g: g[0][0]):
        verb = "fails" if len(ms) == 1 else "fail"
        parts.append(f"At {format_size(s)} {_names(ms)} {verb} ({why}).")

    largest = sizes[-1]
    carriers = [m for m in live if ok(m, largest)]
    # An interrupted sweep may not have reached every path at the largest size:
    # "only" is said when every path that answered was measured there.
    all_measured = all((m, largest) in by for m in live)
    knees = [by[(m, largest)].record.knee for m in carriers if by[(m, largest)].record.knee]
    if carriers and len(carriers) < len(live):
        names = _names(carriers)
        text = f"Only {names}" if all_measured else names[0].upper() + names[1:]
        text += f" {'carries' if len(carriers) == 1 else 'carry'} {format_size(largest)}"
        if knees and knees[0] is not None:
            k = knees[0]
            text += (
                f", at about {format_rate(k.rate_after_burst_bytes_per_s)} after the first "
                f"{format_bytes(k.burst_bytes)} at full speed"
            )
        if not all_measured:
            text += " (the sweep stopped before the other paths were measured at that size)"
        parts.append(text + ".")
    elif carriers and knees and knees[0] is not None:
        k = knees[0]
        their, streams = ("their", "the streams") if len(carriers) > 1 else ("its", "the stream")
        parts.append(
            f"Past {their} first {format_bytes(k.burst_bytes)} {streams} slowed to about "
            f"{format_rate(k.rate_after_burst_bytes_per_s)}."
        )

    buffered = [m for m in live if m not in STREAMING_MODES]
    streaming = [m for m in live if m in STREAMING_MODES]
    compared = _ttfb_comparison(by, sizes)
    if compared:
        parts.append(compared)
    if streaming and buffered:
        cap: int | None = None
        for s in sizes:
            if not all(ok(m, s) for m in buffered):
                break
            cap = s
        sooner = _stream_first_sooner(by, sizes)
        # Recommend only the streaming paths that carried a size the buffered ones did not.
        past = [m for m in streaming if any(ok(m, s) for s in sizes if cap is None or s > cap)]
        if cap is not None and cap != sizes[-1]:
            text = (
                f"Use a buffered path only for responses that stay well under its limit "
                f"(here up to {format_size(cap)})"
            )
            if past:
                text += (
                    "; for larger responses"
                    + (", or to get the first byte sooner," if sooner else "")
                    + f" use {_names(past, 'or')}."
                )
            else:
                text += "; no path carried the larger sizes here."
            parts.append(text)
        elif cap is None and past:
            if any(ok(m, s) for m in buffered for s in sizes):
                parts.append(
                    f"Already at {format_size(sizes[0])} a buffered path fails: for responses "
                    f"this large use {_names(past, 'or')}."
                )
            else:
                parts.append(f"No buffered path carried any size here: use {_names(past, 'or')}.")
        elif cap is not None and sooner:
            parts.append(f"For the first byte sooner, use {_names(streaming, 'or')}.")
    if live and not any(c.ok for c in cells):
        parts.append("No path carried any size here.")
    for m in dead:
        first_cell = by.get((m, sizes[0]))
        why = _why(first_cell) if first_cell is not None else "failed"
        name = MODE_NAMES[m]
        parts.append(
            f"{name[0].upper()}{name[1:]} failed at every size ({why}): check that target."
        )
    return " ".join(parts)


def _clearly_less(a: float, b: float) -> bool:
    """``a`` is less than ``b`` by more than noise: at most half, and 1 ms or more apart."""
    return a <= 0.5 * b and b - a >= 1.0


def _stream_first_sooner(by: dict[tuple[str, int], Cell], sizes: Sequence[int]) -> bool:
    found = _ttfb_pair(by, sizes)
    return found is not None and _clearly_less(found[1], found[2])


def _ttfb_comparison(by: dict[tuple[str, int], Cell], sizes: Sequence[int]) -> str | None:
    """The streaming URL's first byte against the buffered URL's (or Invoke's)."""
    found = _ttfb_pair(by, sizes)
    if found is None:
        return None
    other, a, b, s = found
    if _clearly_less(a, b):
        word = "sooner"
    elif _clearly_less(b, a):
        word = "later"
    else:
        word = "about as soon"
    than = "as" if word == "about as soon" else "than"
    return (
        f"At {format_size(s)} the first byte came {word} over the streaming URL "
        f"({_ms_text(a)}) {than} over {MODE_NAMES[other]} ({_ms_text(b)})."
    )


def _ms_text(ms: float) -> str:
    return f"{ms:.1f} ms" if ms < 10 else f"{ms:.0f} ms"


def _ttfb_pair(
    by: dict[tuple[str, int], Cell], sizes: Sequence[int]
) -> tuple[str, float, float, int] | None:
    """(other mode, stream TTFB, other TTFB, size) at the largest size both carried."""
    for other in ("buffered", "invoke"):
        both = [
            s
            for s in sizes
            if by.get(("stream", s)) is not None
            and by[("stream", s)].ok
            and by.get((other, s)) is not None
            and by[(other, s)].ok
        ]
        if not both:
            continue
        s = both[-1]
        a, b = by[("stream", s)].record.ttfb_ms, by[(other, s)].record.ttfb_ms
        if a is None or b is None:
            continue
        return other, a, b, s
    return None
