"""Did the response really stream? One rule, shared by get and compare-modes.

A buffered function URL holds the whole body until the handler returns and
then sends it in one go: the first byte comes late and the rest right after
it. A streaming one spreads the body over time. Bodies that arrive faster
than we can tell apart are reported as such rather than guessed.
"""

from __future__ import annotations

from dataclasses import dataclass

from lstream_cli.models import RequestRecord

__all__ = ["Verdict", "events_note", "judge"]

_MIN_TELLABLE_NS = 20_000_000  # below 20 ms total, both kinds look alike
_BURST_SHARE = 0.10  # body spread over <10% of the total time = one burst


@dataclass(frozen=True, slots=True)
class Verdict:
    """Whether a response really streamed, and why it was judged so."""

    kind: str  # "streamed" | "looks_buffered" | "inconclusive" | "no_body"
    reason: str


def judge(record: RequestRecord) -> Verdict:
    verdict = _judge_bytes(record)
    note = events_note(record)
    return verdict if note is None else Verdict(verdict.kind, f"{verdict.reason}; {note}")


def events_note(record: RequestRecord) -> str | None:
    """With events counted: when the first came and the largest gap between two."""
    n = record.events
    if n is None:
        return None
    if n == 0 or record.first_event_ns is None:
        return "no event was received"
    first = record.first_event_ns / 1e6
    gaps = record.event_gaps
    if n == 1 or gaps is None or not gaps.nonzero_ns:
        return f"{n:,} events, the first at {first:.0f} ms" + (
            "" if n == 1 else ", all in one read"
        )
    # Zero-length gaps do not move time: the end of gap i is the first
    # event plus the gaps so far.
    at, largest, end = record.first_event_ns, -1, 0
    for gap in gaps.nonzero_ns:
        at += gap
        if gap > largest:
            largest, end = gap, at
    return (
        f"{n:,} events, the first at {first:.0f} ms; largest gap between events "
        f"{largest / 1e6:.0f} ms (ending at {end / 1e6:.0f} ms)"
    )


def _judge_bytes(record: RequestRecord) -> Verdict:
    if record.bytes == 0 or record.first_byte_ns is None or record.end_ns is None:
        return Verdict("no_body", "no body was received")
    total = record.end_ns
    span = record.end_ns - record.first_byte_ns
    if total < _MIN_TELLABLE_NS:
        return Verdict(
            "inconclusive",
            f"the whole response took {total / 1e6:.1f} ms: too fast to tell streaming "
            "from buffering (try a larger or slower response)",
        )
    if record.reads <= 1:
        if span <= _BURST_SHARE * total:
            return Verdict("looks_buffered", "the whole body arrived in a single read at the end")
        # One early read, then silence until the body ended (or was cut, or
        # timed out): the body did not come "at the end", and one write
        # cannot tell a stream from a buffer.
        return Verdict(
            "inconclusive",
            f"the body came in a single read at {record.first_byte_ns / 1e6:.0f} ms, then "
            f"nothing more until {total / 1e6:.0f} ms: one read cannot tell streaming "
            "from buffering",
        )
    if span <= _BURST_SHARE * total:
        return Verdict(
            "looks_buffered",
            f"nothing for {record.first_byte_ns / 1e6:.0f} ms, then the whole body within "
            f"{span / 1e6:.0f} ms: the response was held back and sent at the end",
        )
    return Verdict(
        "streamed",
        f"first byte at {record.first_byte_ns / 1e6:.0f} ms, body spread over "
        f"{span / 1e6:.0f} ms in {record.reads} reads",
    )
