"""Chunked transfer coding (RFC 9112, section 7.1) decoded without copying its data.

One decoder for both sides that read a chunked body themselves: the
Runtime API's reading of a streamed function response (the emulator) and
the client core's reading of a chunked response body (``get``, ``bench``).
The chunk data is handed back as memoryviews into the caller's buffer; only
the framing (size lines, the line end after each chunk's data, trailers) is
looked at, at the chunk boundaries. Chunk extensions are skipped without
being kept (only the hex size before a ``;`` is, however long the extension);
a bare LF ends a framing line as CRLF does. The trailer section is bounded
(``trailer_limit`` bytes), and its fields are kept only when asked for.
"""

from __future__ import annotations

__all__ = ["TRAILER_LIMIT", "ChunkedDecoder"]

_LINE_LIMIT = 1024 * 1024  # a chunk size (before any extension) or trailer line longer is refused
TRAILER_LIMIT = 1024 * 1024  # the trailer section's bytes (line ends included), by default
_SCAN = 64  # bytes of a memoryview copied at a time to look for a line end


def _find_lf(buf: bytes | bytearray | memoryview, pos: int, end: int) -> int:
    """Where the next LF is in ``buf[pos:end]`` (an index into ``buf``), -1 when none."""
    if not isinstance(buf, memoryview):
        return buf.find(b"\n", pos, end)
    # A memoryview cannot be searched: copy a few bytes at a time (a framing
    # line is short), more each time a line turns out longer.
    step = _SCAN
    while pos < end:
        stop = min(end, pos + step)
        at = bytes(buf[pos:stop]).find(b"\n")
        if at >= 0:
            return pos + at
        pos = stop
        step = min(step * 4, _LINE_LIMIT)
    return -1


_HEX = b"0123456789abcdefABCDEF"


def _chunk_size(line: bytes) -> int:
    """The size a chunk-size line (its line end taken off) gives, -1 when it is not one."""
    size = line.partition(b";")[0].strip(b" \t")
    if not size or len(size) > 16 or size.translate(None, _HEX):
        return -1
    return int(size, 16)


class ChunkedDecoder:
    """A body in chunked transfer coding, decoded without copying its data.

    :meth:`feed` takes the bytes ``buf[start:end]`` (``buf``: bytes, a
    bytearray or a memoryview) as they arrive and returns
    the chunk data among them as memoryviews into ``buf`` (so ``buf`` must not
    be written over while they live); the framing (size lines, their CRLFs,
    the trailers) is parsed at the chunk boundaries only. Once the last chunk
    and the trailer section have arrived, ``done`` is set, ``trailers`` holds
    the trailer fields (lower-case names) and ``rest`` is where the bytes
    after the body begin in that ``buf``. Malformed framing sets ``error``
    (what is wrong) and stops there: the data before it is still returned.

    ``keep_trailers=False``: the trailer fields are checked but not kept
    (``trailers`` stays empty). A trailer section longer than
    ``trailer_limit`` bytes is an error, so one that never ends cannot grow.
    """

    __slots__ = (
        "_ext",
        "_keep",
        "_left",
        "_limit",
        "_line",
        "_state",
        "_trailer_bytes",
        "done",
        "error",
        "rest",
        "trailers",
    )

    _SIZE, _DATA, _DATA_END, _TRAILER = range(4)

    def __init__(self, *, keep_trailers: bool = True, trailer_limit: int = TRAILER_LIMIT) -> None:
        self._state = self._SIZE
        self._left = 0  # data bytes of the current chunk still to come
        self._line = bytearray()  # a framing line split across reads (a size line: up to ";")
        self._ext = False  # the size line being read has reached its extension (skipped)
        self._keep = keep_trailers
        self._limit = trailer_limit
        self._trailer_bytes = 0  # of the trailer section so far
        self.trailers: dict[str, str] = {}
        self.done = False
        self.error: str | None = None
        self.rest = 0

    def feed(self, buf: bytes | bytearray | memoryview, start: int, end: int) -> list[memoryview]:
        out: list[memoryview] = []
        # Cut at ``end``: a slice past it is clamped to the bytes that are there.
        view = (buf if isinstance(buf, memoryview) else memoryview(buf))[:end]
        pos = start
        while pos < end and not self.done and self.error is None:
            state = self._state
            if state == self._DATA:
                take = min(self._left, end - pos)
                out.append(view[pos : pos + take])
                pos += take
                self._left -= take
                if not self._left:
                    self._state = self._DATA_END
                continue
            if state == self._DATA_END and not self._line:
                # The usual boundary, "CRLF size CRLF" (plain hex digits), read from
                # one small copy, and the chunk's data after it taken at once.
                window = bytes(view[pos : pos + _SCAN])
                nl = window.find(b"\n", 2)
                if nl > 2 and window[:2] == b"\r\n":
                    size = window[2 : nl - 1] if window[nl - 1] == 13 else window[2:nl]
                    if size and len(size) <= 16 and not size.translate(None, _HEX):
                        n = int(size, 16)
                        if n:
                            pos += nl + 1
                            take = min(n, end - pos)
                            out.append(view[pos : pos + take])
                            pos += take
                            if take < n:
                                self._left = n - take
                                self._state = self._DATA
                            continue
            nl = _find_lf(buf, pos, end)
            if nl < 0:
                self._take(buf, pos, end)
                self.error = self._too_long(len(self._line))
                break
            if self._line or self._ext:
                self._take(buf, pos, nl)
                line = bytes(self._line)
                self._line.clear()
                self._ext = False
            else:
                line = bytes(buf[pos:nl])
                if state == self._SIZE:
                    at = line.find(b";")  # the extension after it is passed over
                    if at >= 0:
                        line = line[: at + 1]
            pos = nl + 1
            self.error = self._too_long(len(line))
            if self.error is not None:
                break
            if line.endswith(b"\r"):
                line = line[:-1]
            self.error = self._line_done(line, pos)
        return out

    def _take(self, buf: bytes | bytearray | memoryview, start: int, end: int) -> None:
        """Keep ``buf[start:end]`` of the framing line being read; of a size line, only
        up to the ``;`` that begins its extension (what follows is passed over)."""
        if self._state != self._SIZE:
            self._line += buf[start:end]
        elif not self._ext:
            part = bytes(buf[start:end])
            at = part.find(b";")
            if at >= 0:
                self._ext = True
                part = part[: at + 1]
            self._line += part

    def _too_long(self, n: int) -> str | None:
        """What is wrong when ``n`` bytes of the current framing line are kept, if anything."""
        if self._state == self._TRAILER:
            if self._trailer_bytes + n > self._limit:
                return f"chunked trailer section longer than {self._limit:,} bytes"
        elif n > _LINE_LIMIT:
            return "chunked framing line too long"
        return None

    def _line_done(self, line: bytes, pos: int) -> str | None:
        """Take one framing line; what is wrong with it, if anything."""
        state = self._state
        if state == self._DATA_END:
            if line:
                return "chunk data longer than its size"
            self._state = self._SIZE
        elif state == self._SIZE:
            n = _chunk_size(line)
            if n < 0:
                return "bad chunk size"
            if n:
                self._left = n
                self._state = self._DATA
            else:
                self._state = self._TRAILER
        elif not line:  # the empty line that ends the trailer section
            self.done = True
            self.rest = pos
        else:
            self._trailer_bytes += len(line) + 1
            name, sep, value = line.partition(b":")
            if not sep or not name or name != name.strip(b" \t"):
                return "bad trailer field"
            if self._keep:
                trailer = value.strip(b" \t").decode("latin-1")
                self.trailers[name.decode("latin-1").lower()] = trailer
        return None
