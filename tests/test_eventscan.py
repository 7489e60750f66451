"""The compiled event counters (_eventscan.c): the same counts as the pure-Python ones, read by read.

Also which of the two the product uses: the compiled ones wherever the
install had a C compiler, the pure-Python ones when the extension cannot be
imported or ``LSTREAM_NO_EXTENSION`` is set.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import lstream_cli
from lstream_cli import events
from tests.counter_impls import build_compiler, compiled_module, counters_of

FORMATS = ("sse", "ndjson", "lines")

SAMPLES: dict[str, list[bytes]] = {
    "sse": [
        b'\xef\xbb\xbf: open\r\nretry: 10\r\n\r\nevent: t\r\nid: 1\r\ndata: {"t": 1}\r\n\r\n'
        b"data: lo\rdata: w\r\r: ka\n\ndata:\n\ndata\n\nevent: done\ndata: [DONE]\n\ndata: open\n",
        b'data: {"token": "tok0001"}\n\n' * 5 + b"data: x\r\n\r\ndata: y\r\r\n\n",
        b"\xef\xbbdata: a\n\n\xef\xbb\xbfdata: b\n\ndatax: c\n\ndata : d\n\ndat\n\n",
        b"data: " + b"z" * 100 + b"\r\ndata: " + b"q" * 40 + b"\r\n\r\n\r\n\n\r",
    ],
    "ndjson": [
        b'{"a": 1}\n{"a": 2}\r\n\r\n\n{"b": "' + b"x" * 70 + b'"}\n\r\n\r{"c"}',
        b"\n\n\r\n\r\r\n x\n",
    ],
    "lines": [b"one\ntwo\r\n\n\nthree" + b"y" * 50 + b"\nend", b"\n\n\n"],
}


def _both(fmt: str) -> tuple[Any, Any]:
    py, c = counters_of("python"), counters_of("c")
    return getattr(py, fmt)(), getattr(c, fmt)()


def _agree(fmt: str, parts: list[bytes | bytearray | memoryview]) -> None:
    """The two counters give the same count for every read, and at the end."""
    py, c = _both(fmt)
    for i, part in enumerate(parts):
        assert c.feed(part) == py.feed(part), (fmt, i, parts)
    assert c.end() == py.end(), (fmt, parts)


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_split_of_the_sample_streams(fmt: str) -> None:
    for stream in SAMPLES[fmt]:
        _agree(fmt, [stream])
        _agree(fmt, [stream[i : i + 1] for i in range(len(stream))])
        for i in range(len(stream) + 1):
            _agree(fmt, [stream[:i], stream[i:]])
        for i in range(0, len(stream), 3):  # and in three, around every third offset
            for j in range(i, min(len(stream), i + 20)):
                _agree(fmt, [stream[:i], stream[i:j], stream[j:]])


def _random_stream(rng: random.Random) -> bytes:
    fields = [
        b"data: x",
        b"data:",
        b"data",
        b"data:" + b"d" * rng.randint(10, 3000),  # long lines cross many 16-byte blocks
        b"dat",
        b"datum",
        b"Data: x",
        b"event: e",
        b"id: 1",
        b"retry: 5",
        b": comment",
        b":",
        b"",
        b"",
        b'{"k": "v"}',
        b"\r",
        b"x" * rng.randint(60, 200),
    ]
    ends = [b"\n", b"\r\n", b"\r", b"\n\n", b"\r\r", b"\r\n\r\n"]
    head = rng.choice(
        [b"", b"", b"\xef\xbb\xbf", b"\xef\xbb", b"\xef", b"\xef\xbb\xbf\xef\xbb\xbf"]
    )
    lines = [rng.choice(fields) + rng.choice(ends) for _ in range(rng.randint(0, 40))]
    tail = rng.choice([b"", b"", b"data: open", b"\r", b"x"])
    return head + b"".join(lines) + tail


def test_randomized_streams_agree_read_by_read() -> None:
    rng = random.Random(20261201)
    for trial in range(1500):
        stream = _random_stream(rng)
        cuts = sorted(rng.sample(range(len(stream) + 1), min(len(stream) + 1, rng.randint(0, 12))))
        pieces = [stream[a:b] for a, b in zip([0, *cuts], [*cuts, len(stream)], strict=True)]
        # The engine hands over bytes or memoryviews; a bytearray works as well.
        kind = trial % 3
        parts: list[bytes | bytearray | memoryview] = [
            p if kind == 0 else memoryview(p) if kind == 1 else bytearray(p) for p in pieces
        ]
        for fmt in FORMATS:
            _agree(fmt, parts)


def test_a_cr_then_an_empty_read_then_lf_is_one_line_end() -> None:
    # The meter never hands over an empty read; if one came, it changes nothing.
    for make in (counters_of("python").sse, counters_of("c").sse):
        counter = make()
        assert [counter.feed(p) for p in (b"data: a\r", b"", b"\n", b"\n")] == [0, 0, 0, 1]


def test_the_compiled_counters_take_buffers_only() -> None:
    mod = compiled_module()
    for cls in (mod.SseCounter, mod.NdjsonCounter, mod.LinesCounter):
        with pytest.raises(TypeError):
            cls().feed("data: a\n\n")
        with pytest.raises(TypeError):
            cls(1)


def _scanner_in_child(*, code: str = "", env: dict[str, str] | None = None) -> str:
    """What a fresh interpreter of this install says SCANNER is, and whose counter it makes."""
    program = (
        code + "import lstream_cli.events as e\n"
        "print(e.SCANNER, type(e.new_counter('sse')).__module__)\n"
    )
    child_env = {k: v for k, v in os.environ.items() if k != "LSTREAM_NO_EXTENSION"}
    child_env.update(env or {})
    out = subprocess.run(
        [sys.executable, "-c", program], env=child_env, capture_output=True, text=True, check=True
    )
    return out.stdout.strip()


def test_the_compiled_scanner_is_in_use_where_the_install_had_a_compiler() -> None:
    # CI has gcc: a build hook that silently built nothing fails here.
    if build_compiler() is None:
        assert _scanner_in_child() == "python lstream_cli.events"
        return
    mod = compiled_module()
    assert _scanner_in_child() == "c lstream_cli._eventscan"
    # An editable install builds the extension beside its source: never older than it.
    source = Path(lstream_cli.__file__).parent / "_eventscan.c"
    if source.exists() and Path(mod.__file__).parent == source.parent:
        assert Path(mod.__file__).stat().st_mtime >= source.stat().st_mtime, (
            "the compiled counters are older than _eventscan.c: reinstall (pip install -e .)"
        )


BLOCK_IMPORT = """
import sys
class _NoExtension:
    def find_spec(self, name, path=None, target=None):
        if name == "lstream_cli._eventscan":
            raise ImportError("blocked for the test")
        return None
sys.meta_path.insert(0, _NoExtension())
"""


def test_the_pure_python_counters_when_the_extension_cannot_be_imported() -> None:
    assert _scanner_in_child(code=BLOCK_IMPORT) == "python lstream_cli.events"


def test_lstream_no_extension_chooses_the_pure_python_counters() -> None:
    assert _scanner_in_child(env={"LSTREAM_NO_EXTENSION": "1"}) == "python lstream_cli.events"


def test_new_counter_hands_out_the_scanner_it_names() -> None:
    for fmt in FORMATS:
        counter = events.new_counter(fmt)  # type: ignore[arg-type]
        module = "lstream_cli._eventscan" if events.SCANNER == "c" else "lstream_cli.events"
        assert type(counter).__module__ == module
