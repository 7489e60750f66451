"""The synthetic handler's event streams: ``format=sse`` or ``format=ndjson``.

Parameters (query string or Lambda API payload; docs/serve.md):
``events`` (count, default 10), ``event_ms`` (mean interval, default 100),
``jitter_ms`` (each interval drawn uniformly within +-jitter, seeded by
``seed``, default 0, so every run sends the same schedule), ``first_ms``
(wait before the first event), ``early_headers=1`` (the status and headers
go out before that wait; a streaming function's headers leave with its
first write, so that write is a byte that is no event: an SSE comment
``: open`` and a blank line, or one blank NDJSON line), ``event_bytes``
(length of each event's payload, default 32).

Content is deterministic so a client can check it: event ``i`` carries
:func:`event_payload` ``(i, event_bytes)``; in SSE it is sent as
``id: i``, ``event: token``, ``data: <payload>`` and a blank line, in NDJSON
as ``{"i": i, "data": "<payload>"}`` and LF. Events are due at fixed
instants from the first one (the schedule does not drift with the time
each write takes), and every event is one write.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lstream_cli.emulator.handlers import Context, ResponseStream

__all__ = ["EVENT_FORMATS", "encode_event", "event_payload", "event_schedule_ms", "send_events"]

EVENT_FORMATS = ("sse", "ndjson")
MAX_EVENTS = 10_000_000
MAX_EVENT_BYTES = 1024 * 1024
_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"
_CONTENT_TYPES = {"sse": "text/event-stream", "ndjson": "application/x-ndjson"}
_OPENING = {"sse": b": open\n\n", "ndjson": b"\n"}  # early_headers=1: bytes, no event


def event_payload(i: int, size: int) -> str:
    """The payload of event ``i``: ``size`` ASCII characters, starting with ``i``."""
    head = f"{i}:"
    if size <= len(head):
        return head[:size]
    body = _ALPHABET[i % len(_ALPHABET) :] + _ALPHABET
    reps = (size - len(head)) // len(_ALPHABET) + 2
    return (head + body * reps)[:size]


def encode_event(fmt: str, i: int, size: int) -> bytes:
    """Event ``i`` on the wire, in ``fmt``."""
    payload = event_payload(i, size)
    if fmt == "sse":
        return f"id: {i}\nevent: token\ndata: {payload}\n\n".encode("ascii")
    return (json.dumps({"i": i, "data": payload}, separators=(",", ":")) + "\n").encode("ascii")


def event_schedule_ms(n: int, event_ms: float, jitter_ms: float, seed: int = 0) -> list[float]:
    """When each event is due, in ms after the first (the first at 0)."""
    rng = random.Random(seed)
    due, at = [], 0.0
    for i in range(n):
        if i:
            at += max(0.0, event_ms + (rng.uniform(-jitter_ms, jitter_ms) if jitter_ms else 0.0))
        due.append(at)
    return due


def _count(params: Mapping[str, Any], name: str, default: int, top: int) -> int:
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(str(raw))
    except ValueError:
        raise ValueError(f"invalid {name} {raw!r}: expected a whole number") from None
    if not 0 <= value <= top:
        raise ValueError(f"invalid {name} {raw!r}: expected 0..{top}")
    return value


def parse_event_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """The event parameters, checked; ValueError with a message for a 400."""
    from lstream_cli.emulator.handlers import _number

    fmt = str(params.get("format"))
    if fmt not in EVENT_FORMATS:
        raise ValueError(f"invalid format {fmt!r}: expected sse or ndjson")
    return {
        "format": fmt,
        "events": _count(params, "events", 10, MAX_EVENTS),
        "event_ms": _number(params, "event_ms", 100.0),
        "jitter_ms": _number(params, "jitter_ms", 0.0),
        "first_ms": _number(params, "first_ms", 0.0),
        "event_bytes": _count(params, "event_bytes", 32, MAX_EVENT_BYTES),
        "seed": _count(params, "seed", 0, 2**31),
        "early_headers": str(params.get("early_headers", "0")).lower() in ("1", "true"),
    }


async def send_events(params: Mapping[str, Any], stream: ResponseStream, context: Context) -> None:
    """Write the event stream ``params`` describe (see the module docstring)."""
    try:
        p = parse_event_params(params)
    except ValueError as exc:
        stream.set_status(400)
        stream.set_headers({"content-type": "application/json"})
        await stream.write(json.dumps({"message": str(exc)}))
        return
    fmt, scale = p["format"], context.time_scale
    stream.set_headers({"content-type": _CONTENT_TYPES[fmt], "cache-control": "no-cache"})
    if p["early_headers"]:
        await stream.write(_OPENING[fmt])  # the head and a first byte that is no event
    if p["first_ms"]:
        await asyncio.sleep(p["first_ms"] / 1000.0 / scale)
    schedule = event_schedule_ms(p["events"], p["event_ms"], p["jitter_ms"], p["seed"])
    start = time.monotonic()
    for i, due_ms in enumerate(schedule):
        wait = start + due_ms / 1000.0 / scale - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        await stream.write(encode_event(fmt, i, p["event_bytes"]))
    await stream.open()  # no event at all: the headers still go out
