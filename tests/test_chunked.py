"""The chunked decoder the client core and the Runtime API share: every cut, every input type."""

from __future__ import annotations

import itertools
import random

import pytest

from lstream_cli.chunked import ChunkedDecoder


def frame(pieces: list[bytes], rng: random.Random) -> bytes:
    """A chunked body with the size lines written in the ways a server may write them."""
    out = []
    for piece in pieces:
        size = rng.choice([b"%x", b"%X", b"00%x"]) % len(piece)
        ext = rng.choice([b"", b"", b";a=b", b' ; q="x y"'])
        end = rng.choice([b"\r\n", b"\r\n", b"\n"])
        out.append(size + ext + end + piece + rng.choice([b"\r\n", b"\n"]))
    out.append(b"0\r\n" + rng.choice([b"", b"X-T: 1\r\n"]) + b"\r\n")
    return b"".join(out)


def decode(wire: bytes, cuts: list[int], kind: str) -> tuple[bytes, ChunkedDecoder, int]:
    """Feed ``wire`` cut at ``cuts``, each read at an offset in a larger buffer."""
    decoder = ChunkedDecoder()
    data = bytearray()
    for a, b in itertools.pairwise([0, *sorted(set(cuts)), len(wire)]):
        buf = bytearray(b"#" * 3) + wire[a:b] + b"STALE"  # bytes past ``end`` are not ours
        src: bytes | bytearray | memoryview
        if kind == "bytes":
            src = bytes(buf)
        elif kind == "bytearray":
            src = buf
        else:
            src = memoryview(buf)
        for view in decoder.feed(src, 3, 3 + b - a):
            assert isinstance(view, memoryview)
            if kind != "bytes":
                assert view.obj is buf  # a view of the caller's buffer, not a copy
            data += view
        if decoder.done or decoder.error:
            return bytes(data), decoder, a + decoder.rest - 3
    return bytes(data), decoder, -1


@pytest.mark.parametrize("kind", ["bytes", "bytearray", "memoryview"])
def test_random_framings_and_cuts_decode_exactly(kind: str) -> None:
    rng = random.Random(12)
    for _ in range(300):
        pieces = [rng.randbytes(rng.choice([1, 2, 15, 16, 255, 4096, 65536])) for _ in range(4)]
        wire = frame(pieces, rng)
        cuts = rng.sample(range(1, len(wire)), min(len(wire) - 1, rng.randint(1, 10)))
        data, decoder, ended = decode(wire + b"NEXT", cuts, kind)
        assert decoder.error is None
        assert data == b"".join(pieces)
        assert decoder.done and ended == len(wire)


@pytest.mark.parametrize("kind", ["bytes", "memoryview"])
def test_every_single_cut_of_plain_hex_chunks(kind: str) -> None:
    """The usual framing ("CRLF size CRLF" between chunks), cut at every byte."""
    pieces = [b"a" * 17, b"b" * 256, b"c", b"d" * 10]
    wire = b"".join(b"%x\r\n" % len(p) + p + b"\r\n" for p in pieces) + b"0\r\n\r\n"
    for cut in range(1, len(wire)):
        data, decoder, ended = decode(wire, [cut], kind)
        assert (data, decoder.error, decoder.done, ended) == (
            b"".join(pieces),
            None,
            True,
            len(wire),
        ), cut


@pytest.mark.parametrize(
    "wire",
    [
        b"2\r\nok\r\n11111111111111111\r\n",  # 17 hex digits
        b"2\r\nok\r\n0x10\r\n",
        b"2\r\nok\r\n-1\r\n",
        b"2\r\nok\r\n\r\n",  # an empty size line
        b"2\r\nok\r\n\r\r\n",  # a size line of one CR
        b"2\r\nokX\r\n0\r\n\r\n",  # data longer than its size
        b"2\r\nok\rX3\r\nabc\r\n",  # a CR not followed by LF
    ],
)
@pytest.mark.parametrize("kind", ["bytes", "memoryview"])
def test_bad_framing_after_a_good_chunk_keeps_its_data(wire: bytes, kind: str) -> None:
    data, decoder, _ = decode(wire, [], kind)
    assert decoder.error is not None and not decoder.done
    assert data == b"ok"
