"""The Runtime API's own reading of a streamed response: chunked decoding, buffers, pauses."""

from __future__ import annotations

import asyncio
import itertools
import random
import socket
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager

import pytest

from lstream_cli import chunked as chunked_coding
from lstream_cli.emulator import runtime_api
from lstream_cli.emulator.runtime_api import ChunkedDecoder, Invocation, RuntimeApiServer


def chunked(pieces: list[bytes], trailers: Sequence[tuple[str, str]] = ()) -> bytes:
    out = [b"%X;ext=%d\r\n%b\r\n" % (len(p), i, p) for i, p in enumerate(pieces)]
    out.append(b"0\r\n")
    out.extend(f"{k}: {v}\r\n".encode("latin-1") for k, v in trailers)
    out.append(b"\r\n")
    return b"".join(out)


def decode(wire: bytes, cuts: list[int]) -> tuple[bytes, ChunkedDecoder, int]:
    """Feed ``wire`` in pieces cut at ``cuts``; the data, the decoder, where it ended."""
    decoder = ChunkedDecoder()
    data: list[bytes] = []
    ended = -1
    bounds = [0, *sorted(cuts), len(wire)]
    for a, b in itertools.pairwise(bounds):
        buf = bytearray(b"#" * 5) + wire[a:b]  # the bytes sit at an offset in a buffer
        views = decoder.feed(buf, 5, 5 + b - a)
        for view in views:
            assert view.obj is buf  # a view of the buffer, not a copy
        data.extend(bytes(v) for v in views)
        if decoder.done and ended < 0:
            ended = a + decoder.rest - 5
            break
    return b"".join(data), decoder, ended


def test_every_cut_of_a_chunked_body_decodes_the_same() -> None:
    pieces = [b"a", b"\r\n0\r\n", bytes(range(256)) * 3, b"z" * 17]
    trailers = [("Lambda-Runtime-Function-Error-Type", "Err"), ("X-Empty", "")]
    wire = chunked(pieces, trailers) + b"GET /next"
    for cut in range(1, len(wire)):
        data, decoder, ended = decode(wire, [cut])
        assert data == b"".join(pieces), cut
        assert decoder.error is None
        assert decoder.trailers == {"lambda-runtime-function-error-type": "Err", "x-empty": ""}
        assert wire[ended:] == b"GET /next", cut


def test_random_cuts_and_sizes_decode_exactly() -> None:
    rng = random.Random(7)
    for _ in range(200):
        pieces = [rng.randbytes(rng.choice([1, 2, 9, 100, 4096, 70000])) for _ in range(5)]
        wire = chunked(pieces)
        cuts = rng.sample(range(1, len(wire)), min(len(wire) - 1, rng.randint(1, 12)))
        data, decoder, ended = decode(wire, cuts)
        assert data == b"".join(pieces)
        assert decoder.done and ended == len(wire) and decoder.trailers == {}


@pytest.mark.parametrize(
    "wire",
    [
        b"zz\r\nab\r\n0\r\n\r\n",  # not hex
        b"1_0\r\n",  # int() would take it
        b"0x10\r\n",
        b"+5\r\n",
        b"\r\n",  # no size at all
        b"3\r\nabcd\r\n0\r\n\r\n",  # data longer than its size
        b"0\r\nno-colon\r\n\r\n",  # a trailer without a value separator
        b"0\r\n : x\r\n\r\n",  # a trailer without a name
    ],
)
def test_malformed_framing_is_refused(wire: bytes) -> None:
    decoder = ChunkedDecoder()
    decoder.feed(wire, 0, len(wire))
    assert decoder.error is not None and not decoder.done


def test_a_framing_line_without_end_is_refused_past_its_limit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(chunked_coding, "_LINE_LIMIT", 64)
    decoder = ChunkedDecoder()
    decoder.feed(b"0" * 40, 0, 40)  # under the limit: waits for the rest
    assert decoder.error is None
    decoder.feed(b"0" * 40, 0, 40)
    assert decoder.error == "chunked framing line too long"
    # A chunk extension is passed over, not kept: however long, it is no error.
    decoder = ChunkedDecoder()
    for _ in range(10):
        decoder.feed(b"1;" + b"e" * 40, 0, 42)
    assert decoder.error is None
    assert [bytes(v) for v in decoder.feed(b"\r\nx\r\n0\r\n\r\n", 0, 11)] == [b"x"]
    assert decoder.done


def test_the_trailers_are_kept_under_a_bound() -> None:
    decoder = ChunkedDecoder(trailer_limit=64)
    wire = b"0\r\nLambda-Runtime-Function-Error-Type: E\r\n\r\n"
    decoder.feed(wire, 0, len(wire))
    assert decoder.done and decoder.trailers == {"lambda-runtime-function-error-type": "E"}
    decoder = ChunkedDecoder(trailer_limit=64)
    decoder.feed(b"0\r\n", 0, 3)
    decoder.feed(b"X-Long: " + b"v" * 40, 0, 48)  # no line end yet: under the bound
    assert decoder.error is None
    decoder.feed(b"v" * 40, 0, 40)
    assert decoder.error == "chunked trailer section longer than 64 bytes"


class _Side:
    """The environment's side of one Runtime API server: one invocation in flight."""

    def __init__(self, inv: Invocation) -> None:
        self.inv = inv

    def invocation(self, request_id: str) -> Invocation | None:
        return self.inv if request_id == self.inv.request_id else None

    def next_requested(self, conn: object) -> None:
        raise AssertionError("no /next in these tests")

    def init_error(self, error_type: str, body: bytes) -> None:
        raise AssertionError("no init error in these tests")


async def _until(predicate: Callable[[], bool], what: str) -> None:
    for _ in range(1000):
        if predicate():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"not reached: {what}")


STREAM_HEAD = (
    b"POST /2018-06-01/runtime/invocation/rid-1/response HTTP/1.1\r\n"
    b"Host: x\r\nLambda-Runtime-Function-Response-Mode: streaming\r\n"
    b"Transfer-Encoding: chunked\r\n\r\n"
)


@asynccontextmanager
async def _runtime_api() -> AsyncIterator[
    tuple[Invocation, RuntimeApiServer, asyncio.StreamReader, asyncio.StreamWriter]
]:
    """A Runtime API server with invocation ``rid-1`` in flight, and a connection to it."""
    inv = Invocation("rid-1", b"{}", [])
    inv.state = "sent"
    server = RuntimeApiServer(_Side(inv))
    port = await server.listen()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        yield inv, server, reader, writer
    finally:
        writer.close()
        await server.close()


async def _stream_ends_while_reading_is_held() -> tuple[bytes, bytes, bytes]:
    async with _runtime_api() as (inv, _, reader, writer):
        first = bytes(range(256)) * ((runtime_api._HIGH_WATER - 1024) // 256)
        writer.write(STREAM_HEAD + b"%x\r\n%b\r\n" % (len(first), first))
        await _until(lambda: inv.queued == len(first), "the first chunk queued")
        # The last chunk and the end of the body in one read, which passes the
        # high-water mark: reading stops with the response complete.
        last = b"L" * 4096
        writer.write(b"%x\r\n%b\r\n0\r\n\r\n" % (len(last), last))
        await _until(lambda: inv.finished, "the end of the response")
        accepted = await asyncio.wait_for(reader.readuntil(b'{"status":"OK"}'), 10)
        body = b"".join(bytes(inv.pop()) for _ in range(len(inv.chunks)))
        # The runtime's next request on the same connection must be read and answered.
        writer.write(
            b"POST /2018-06-01/runtime/invocation/other/response HTTP/1.1\r\n"
            b"Host: x\r\nContent-Length: 2\r\n\r\n{}"
        )
        refused = await asyncio.wait_for(reader.readuntil(b'InvalidRequestID"}'), 10)
        assert body == first + last
        return accepted, refused, body


def test_a_stream_ending_as_reading_stops_leaves_the_connection_read() -> None:
    accepted, refused, _ = asyncio.run(_stream_ends_while_reading_is_held())
    assert accepted.startswith(b"HTTP/1.1 202 Accepted\r\n")
    assert refused.startswith(b"HTTP/1.1 400 Bad Request\r\n")


def test_a_buffer_with_a_live_view_is_not_written_again() -> None:
    inv = Invocation("rid-1", b"{}", [])
    conn = runtime_api._RuntimeConnection(_Side(inv))
    size = 4096
    conn._buf = conn._take_buffer(size)
    first = id(conn._buf)
    view = memoryview(conn._buf)[10:20]  # data still on its way to the caller
    conn._buf = conn._take_buffer(size)  # the first buffer is full: retired
    second = id(conn._buf)
    assert second != first  # not the one a view still reads
    assert [id(b) for b in conn._spares] == [first]
    assert not runtime_api._unshared(conn._spares, 0)
    del view  # delivered
    assert runtime_api._unshared(conn._spares, 0)
    conn._buf = conn._take_buffer(size)
    assert id(conn._buf) == second  # the most recent free one, written again
    assert [id(b) for b in conn._spares] == [first]


async def _receive_buffer_of_a_runtime_connection() -> int:
    async with _runtime_api() as (_, server, _, _):
        await _until(lambda: bool(server._connections), "the connection accepted")
        conn = next(iter(server._connections))
        assert conn.transport is not None
        sock = conn.transport.get_extra_info("socket")
        return int(sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF))


def test_the_runtimes_connections_have_a_fixed_receive_buffer() -> None:
    # Set, not autotuned (which grows to tcp_rmem's maximum, tens of MiB): Linux
    # reports twice the size asked for, its bookkeeping included.
    size = asyncio.run(_receive_buffer_of_a_runtime_connection())
    assert runtime_api._RECEIVE_BUFFER <= size <= 2 * runtime_api._RECEIVE_BUFFER


async def _a_malformed_stream() -> tuple[bytes, Invocation]:
    async with _runtime_api() as (inv, _, reader, writer):
        writer.write(STREAM_HEAD + b"5\r\nhello\r\nzz\r\n")
        answer = await asyncio.wait_for(reader.read(), 10)  # to the close
        await _until(lambda: inv.finished, "the invocation ended")
        return answer, inv


def test_a_malformed_chunked_stream_is_refused_and_cut() -> None:
    answer, inv = asyncio.run(_a_malformed_stream())
    assert answer.startswith(b"HTTP/1.1 400 Bad Request\r\n")
    assert inv.cut  # what came before stays delivered; the response never ended
    assert b"".join(bytes(c) for c in inv.chunks) == b"hello"
