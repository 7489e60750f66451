"""The chunked decoder the client core and the Runtime API share: every cut, every input type."""

from __future__ import annotations

import itertools
import random
from typing import Any

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


def decode(
    wire: bytes, cuts: list[int], kind: str, **options: Any
) -> tuple[bytes, ChunkedDecoder, int]:
    """Feed ``wire`` cut at ``cuts``, each read at an offset in a larger buffer."""
    decoder = ChunkedDecoder(**options)
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


TRAILERS = b"2\r\nok\r\n0\r\nX-Type: Err\r\nX-Body:  e30= \r\n\r\n"


@pytest.mark.parametrize("kind", ["bytes", "memoryview"])
def test_trailers_are_kept_only_when_asked_for_at_every_cut(kind: str) -> None:
    for cut in range(1, len(TRAILERS)):
        data, decoder, ended = decode(TRAILERS, [cut], kind)
        assert (data, decoder.done, ended) == (b"ok", True, len(TRAILERS)), cut
        assert decoder.trailers == {"x-type": "Err", "x-body": "e30="}, cut
        data, decoder, ended = decode(TRAILERS, [cut], kind, keep_trailers=False)
        assert (data, decoder.done, ended, decoder.trailers) == (b"ok", True, len(TRAILERS), {})


@pytest.mark.parametrize("kind", ["bytes", "memoryview"])
def test_a_trailer_section_over_its_limit_is_an_error_at_every_cut(kind: str) -> None:
    fits = b"2\r\nok\r\n0\r\nX-A: " + b"v" * 20 + b"\r\n\r\n"  # a 27-byte trailer section
    over = b"2\r\nok\r\n0\r\nX-A: " + b"v" * 20 + b"\r\nX-B: " + b"w" * 20 + b"\r\n\r\n"
    for cut in range(1, len(over)):
        data, decoder, _ = decode(fits, [min(cut, len(fits) - 1)], kind, trailer_limit=30)
        assert (data, decoder.done, decoder.error) == (b"ok", True, None), cut
        data, decoder, _ = decode(over, [cut], kind, trailer_limit=30)
        assert data == b"ok" and not decoder.done, cut
        assert decoder.error == "chunked trailer section longer than 30 bytes", cut


def test_a_trailer_section_that_never_ends_is_refused_as_it_grows() -> None:
    decoder = ChunkedDecoder(keep_trailers=False)
    decoder.feed(b"2\r\nok\r\n0\r\n", 0, 10)
    line = b"X-T: " + b"v" * (900 << 10) + b"\r\n"
    fed = 0
    while decoder.error is None and fed < 150:
        for at in range(0, len(line), 1 << 16):  # 64 KiB reads, a line over several
            decoder.feed(line, at, min(at + (1 << 16), len(line)))
            if decoder.error is not None:
                break
        fed += 1
    assert fed == 2 and decoder.error is not None and "trailer section" in decoder.error


def _long_extension(n: int) -> bytes:
    return (
        b"5;"
        + b"a" * n
        + b"\r\nhello\r\n3;x="
        + b"q" * n
        + b"\r\nabc\r\n0;"
        + b"z" * n
        + b"\r\n\r\n"
    )


@pytest.mark.parametrize("kind", ["bytes", "bytearray", "memoryview"])
def test_chunk_extensions_are_skipped_at_every_cut(kind: str) -> None:
    wire = _long_extension(300)
    for cut in range(1, len(wire)):
        data, decoder, ended = decode(wire, [cut], kind)
        assert (data, decoder.error, decoder.done, ended) == (b"helloabc", None, True, len(wire))


@pytest.mark.parametrize("kind", ["bytes", "memoryview"])
def test_a_chunk_extension_longer_than_the_line_limit_is_skipped(kind: str) -> None:
    wire = _long_extension(2 << 20)  # 2 MiB each
    for step in (1 << 20, 1 << 16, 1 << 21, len(wire)):
        cuts = [*range(step, len(wire), step), 2, 3, (2 << 20) + 3, (2 << 20) + 4]
        data, decoder, ended = decode(wire, cuts, kind)
        assert (data, decoder.error, decoder.done, ended) == (b"helloabc", None, True, len(wire))


@pytest.mark.parametrize(
    "wire",
    [
        b"2\r\nok\r\n" + b"1" * (2 << 20) + b"\r\n",  # an absurd hex size
        b"2\r\nok\r\n" + b"0" * (2 << 20) + b";x\r\n",  # the same before an extension
        b"2\r\nok\r\n" + b"0" * (2 << 20),  # still no line end
    ],
)
@pytest.mark.parametrize("kind", ["bytes", "memoryview"])
def test_an_absurd_hex_size_is_an_error_even_before_an_extension(wire: bytes, kind: str) -> None:
    for cuts in ([], [len(wire) // 2], list(range(1 << 16, len(wire), 1 << 16))):
        data, decoder, _ = decode(wire, cuts, kind)
        assert data == b"ok" and not decoder.done
        assert decoder.error == "chunked framing line too long"
