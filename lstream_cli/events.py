"""Counting events in a response body as it arrives: SSE, NDJSON, lines.

A transport read is not an event: one read can hold ten events or half of
one. The parsers here take the body's raw bytes read by read and say how
many events each read completed, so the meter can stamp every event with
the instant its last byte arrived (see docs/events.md).

Formats:

``sse``
    Server-Sent Events exactly as the WHATWG HTML "event stream"
    interpretation rules define them: lines end with CRLF, LF or CR (a CR
    that ends one read and an LF that begins the next are one line end); a
    leading UTF-8 BOM is dropped; a line starting with ``:`` is a comment; a
    blank line dispatches the event being built, and an event whose data
    buffer is empty (no ``data`` field since the last dispatch) is not
    dispatched; ``event:``, ``id:`` and ``retry:`` lines set fields but make
    no event by themselves. An event still open when the body ends is not
    dispatched.
``ndjson``
    One event per non-blank line; lines end with LF (CRLF included). A blank
    line (empty, or a lone CR of a CRLF) is not an event. At the end of a
    complete body a last line without its LF is an event (JSON Lines allows
    the final line end to be missing).
``lines``
    One event per line, blank ones included; lines end with LF. A last line
    without its LF counts at the end of a complete body if it is not empty.

Speed: the load engine feeds every read of every stream through these
counters. :func:`new_counter` hands out the compiled ones of
``lstream_cli._eventscan`` (a small C extension built at install time when
a C compiler is there: one pass over each read, 16 bytes at a time, a few
nanoseconds per line) and otherwise the pure-Python classes below, which
count exactly the same read by read with a handful of C-level scans per
read (``bytes.find``/``count``/``replace``), never a Python loop over
bytes. :data:`SCANNER` says which is in use; ``LSTREAM_NO_EXTENSION=1`` in
the environment makes it the pure-Python ones (docs/events.md, "Speed").

What is kept: counts only (the metrics need counts and instants, not the
payload). :class:`SseCollector` decodes events fully (type, data, id,
retry) for a client that wants to check the content; it is slower and
the meter does not use it.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, Protocol

__all__ = [
    "FORMATS",
    "SCANNER",
    "EventCounter",
    "EventFormat",
    "LinesCounter",
    "NdjsonCounter",
    "SseCollector",
    "SseCounter",
    "SseEvent",
    "format_for_content_type",
    "new_counter",
]

EventFormat = Literal["sse", "ndjson", "lines"]
FORMATS: tuple[EventFormat, ...] = ("sse", "ndjson", "lines")

_BOM = b"\xef\xbb\xbf"

# Content types (lower case, parameters dropped) and the format each implies.
_CONTENT_TYPES: dict[str, EventFormat] = {
    "text/event-stream": "sse",
    "application/x-ndjson": "ndjson",
    "application/ndjson": "ndjson",
    "application/jsonl": "ndjson",
    "application/x-jsonlines": "ndjson",
    "application/jsonlines": "ndjson",
}


def format_for_content_type(value: str | None) -> EventFormat | None:
    """The event format a Content-Type names (``--events auto``), or None."""
    if not value:
        return None
    media = value.split(";", 1)[0].strip().lower()
    return _CONTENT_TYPES.get(media)


class EventCounter(Protocol):
    """Counts the events each read completes."""

    def feed(self, chunk: bytes | memoryview, /) -> int:
        """Take the next bytes of the body; return how many events they completed."""
        ...

    def end(self) -> int:
        """The body ended completely: events that its end completes (0 for SSE)."""
        ...


def new_counter(fmt: EventFormat) -> EventCounter:
    """A fresh counter for one body in format ``fmt`` (compiled when :data:`SCANNER` is "c")."""
    return _COUNTERS[fmt]()


def _has_data(buf: bytes, start: int, end: int) -> bool:
    """Whether lines in ``buf[start:end]`` include a ``data`` field.

    ``buf[start - 1]`` and ``buf[end]`` are line ends: every line of the
    range is preceded by LF, so a data line is ``\\ndata:`` or ``\\ndata\\n``.
    """
    return (
        buf.find(b"\ndata:", start - 1, end) >= 0 or buf.find(b"\ndata\n", start - 1, end + 1) >= 0
    )


class _Sse:
    """Line-end normalisation and the BOM, shared by the SSE counter and collector."""

    __slots__ = ("_cr", "_head", "_started")

    def __init__(self) -> None:
        self._cr = False  # the previous read ended with CR: an LF now is part of it
        self._started = False  # past the BOM check at the start of the stream
        self._head = b""  # the first bytes, until the BOM is decided

    def _start(self, data: bytes) -> bytes | None:
        """The stream's first bytes without a BOM; None while one may still be arriving."""
        head = self._head + data
        if len(head) < 3 and _BOM.startswith(head):
            self._head = head
            return None
        self._started = True
        self._head = b""
        return head[3:] if head.startswith(_BOM) else head

    def _normalize(self, chunk: bytes) -> bytes:
        """``chunk`` with every line end as LF (a CR-LF split over two reads included)."""
        if self._cr and chunk:
            self._cr = False
            if chunk[:1] == b"\n":
                chunk = chunk[1:]
        if b"\r" in chunk:
            self._cr = chunk[-1:] == b"\r"
            chunk = chunk.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        return chunk


class SseCounter(_Sse):
    """Counts dispatched Server-Sent Events, read by read (see the module docstring)."""

    __slots__ = ("_buf", "_data")

    def __init__(self) -> None:
        super().__init__()
        # Always starts with LF (the end of the line before it): the
        # unfinished line is _buf[1:]. Searches then see every line start.
        self._buf = b"\n"
        self._data = False  # the event being built has a data field

    def feed(self, chunk: bytes | memoryview) -> int:
        data = chunk if type(chunk) is bytes else bytes(chunk)
        if not self._started:
            started = self._start(data)
            if started is None:
                return 0
            data = started
        if self._cr or b"\r" in data:
            data = self._normalize(data)
        buf = self._buf + data
        last = buf.rfind(b"\n")  # end of the last complete line (0: none in this read)
        if last == len(buf) - 1:
            self._buf = b"\n"  # the read ended a line: nothing unfinished
        else:
            # Only a line's start matters (data:, data alone): a long unfinished
            # line is kept as its first bytes, never copied again and again.
            tail = buf[last:]
            self._buf = tail if len(tail) <= 64 else tail[:8]
            if last == 0:
                return 0
        first = buf.find(b"\n\n", 0, last + 1)
        if first < 0:  # no blank line: only more fields for the open event
            if not self._data:
                self._data = _has_data(buf, 1, last)
            return 0
        if first == last - 1:  # one blank line, at the end: one event at most
            # (_has_data inlined: this is the path of one event per read)
            n = (
                1
                if self._data
                or buf.find(b"\ndata:", 0, first) >= 0
                or buf.find(b"\ndata\n", 0, first + 1) >= 0
                else 0
            )
            self._data = False
            return n
        n = 1 if self._data or _has_data(buf, 1, first) else 0
        # The common shape, one data line and a blank line per event, proved
        # by two counts. From the first blank line on there are K complete
        # lines; each "\n\ndata:" is a (blank, data) pair of them, pairs never
        # overlap. K = 2 x pairs: the lines are exactly blank, data, blank,
        # data...; K = 2 x pairs + 1 with a blank last line: the same and
        # that blank line. Every blank line but the first ends an event.
        lines = buf.count(b"\n", first + 1, last + 1)  # K
        pairs = buf.count(b"\n\ndata:", first, last + 1)
        if lines == 2 * pairs:
            self._data = True  # the open event has its data line
            return n + pairs - 1
        if lines == 2 * pairs + 1 and buf[last - 1] == 10:
            self._data = False  # the read ended on a blank line: nothing open
            return n + pairs
        # Any other shape: event by event, still with scans.
        start = first + 2
        while True:
            sep = buf.find(b"\n\n", start, last + 1)
            if sep < 0:
                break
            if _has_data(buf, start, sep):
                n += 1
            start = sep + 2
        self._data = start <= last and _has_data(buf, start, last)
        return n

    def end(self) -> int:
        return 0  # an event without its blank line is never dispatched


@dataclass(frozen=True, slots=True)
class SseEvent:
    """One dispatched event, decoded (:class:`SseCollector`)."""

    type: str  # "message" unless an event: field said otherwise
    data: str
    last_event_id: str
    retry_ms: int | None  # the last valid retry: value seen so far


class SseCollector(_Sse):
    """Decodes Server-Sent Events fully: each dispatched :class:`SseEvent`.

    Field by field as the specification's steps say, for a client that
    checks content; the meter counts with :class:`SseCounter` instead.
    """

    __slots__ = ("_data_lines", "_event_type", "_last_id", "_partial", "_retry", "events")

    def __init__(self) -> None:
        super().__init__()
        self.events: list[SseEvent] = []
        self._partial = b""
        self._data_lines: list[str] = []
        self._event_type = ""
        self._last_id = ""
        self._retry: int | None = None

    def feed(self, chunk: bytes | memoryview) -> int:
        data = bytes(chunk)
        if not self._started:
            started = self._start(data)
            if started is None:
                return 0
            data = started
        norm = self._normalize(data)
        lines = (self._partial + norm).split(b"\n")
        self._partial = lines.pop()
        before = len(self.events)
        for raw in lines:
            self._line(raw.decode("utf-8", "replace"))
        return len(self.events) - before

    def end(self) -> int:
        return 0

    def _line(self, line: str) -> None:
        if not line:
            if self._data_lines:
                self.events.append(
                    SseEvent(
                        self._event_type or "message",
                        "\n".join(self._data_lines),
                        self._last_id,
                        self._retry,
                    )
                )
            self._data_lines = []
            self._event_type = ""
            return
        if line[0] == ":":
            return
        name, colon, value = line.partition(":")
        if colon and value[:1] == " ":
            value = value[1:]
        if name == "data":
            self._data_lines.append(value)
        elif name == "event":
            self._event_type = value
        elif name == "id":
            if "\0" not in value:
                self._last_id = value
        elif name == "retry" and value.isascii() and value.isdigit():
            self._retry = int(value)


class NdjsonCounter:
    """One event per non-blank line (LF or CRLF line ends)."""

    __slots__ = ("_tail",)

    def __init__(self) -> None:
        self._tail = b""  # the unfinished last line

    def feed(self, chunk: bytes | memoryview) -> int:
        data = bytes(chunk)
        if b"\n" not in data:
            tail = self._tail + data
            self._tail = tail if len(tail) <= 2 else tail[:2]
            return 0
        lines = (self._tail + data).split(b"\n")
        tail = lines.pop()
        self._tail = tail if len(tail) <= 2 else tail[:2]  # only blank or not matters
        return len(lines) - lines.count(b"") - lines.count(b"\r")

    def end(self) -> int:
        return 1 if self._tail not in (b"", b"\r") else 0


class LinesCounter:
    """One event per line, blank ones included (LF line ends)."""

    __slots__ = ("_open",)

    def __init__(self) -> None:
        self._open = False  # bytes of an unfinished line have arrived

    def feed(self, chunk: bytes | memoryview) -> int:
        data = bytes(chunk) if isinstance(chunk, memoryview) else chunk
        n = data.count(b"\n")
        if n:
            self._open = not data.endswith(b"\n")
        elif data:
            self._open = True
        return n

    def end(self) -> int:
        return 1 if self._open else 0


_Factory = Callable[[], EventCounter]
_PURE: dict[EventFormat, _Factory] = {
    "sse": SseCounter,
    "ndjson": NdjsonCounter,
    "lines": LinesCounter,
}


def _compiled() -> dict[EventFormat, _Factory] | None:
    """The compiled counters, or None (not built, or ``LSTREAM_NO_EXTENSION`` set)."""
    if os.environ.get("LSTREAM_NO_EXTENSION"):
        return None
    try:
        from lstream_cli import _eventscan
    except ImportError:
        return None
    return {
        "sse": _eventscan.SseCounter,
        "ndjson": _eventscan.NdjsonCounter,
        "lines": _eventscan.LinesCounter,
    }


_COUNTERS = _compiled() or _PURE
SCANNER: Literal["c", "python"] = "python" if _COUNTERS is _PURE else "c"
"""Which counters :func:`new_counter` hands out: the compiled ones or the pure-Python ones."""
