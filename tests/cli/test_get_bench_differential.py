"""The differential test: ``get`` and ``bench -n 1`` read every odd response alike.

Both commands run for real (the CLI in this process, the load engine with one
worker) against the scripted server's odd shapes, over HTTP and HTTPS. Each
shape states what curl makes of it (status, body bytes, complete or not, the
error class), and both commands must report exactly that: equal status,
bytes, completeness, error class and exit code. They share one client core
(``engine.core``), so a difference here is a bug in one of the two shells.
"""

from __future__ import annotations

import csv
import json
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from lstream_cli.cli import run
from tests.scripted_server import ScriptedServer, scripted_server


@dataclass(frozen=True)
class Shape:
    path: str
    status: int | None
    body: bytes | None  # the body get writes (None: only its length is known)
    size: int
    complete: bool
    error: str | None
    code: int  # exit code of both commands


RAW_CHUNKED = b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
CORPUS = [
    Shape("/bare-lf", 200, b"hello", 5, True, None, 0),
    Shape("/te-and-length", 200, b"hello", 5, True, None, 0),
    Shape("/short-length", 200, b"y" * 500, 500, False, "truncated", 4),
    Shape("/long-length", 200, b"hello", 5, True, None, 0),
    Shape("/close-delimited", 200, b"a" * 1000 + b"b" * 1000 + b"c" * 1000, 3000, True, None, 0),
    Shape("/http10", 200, b"old style", 9, True, None, 0),
    Shape("/interim", 200, b"ok", 2, True, None, 0),
    Shape("/no-content-body", 204, b"", 0, True, None, 0),
    Shape("/chunk-extensions", 200, b"a" * 10 + b"b" * 300 + b"c" * 4097, 4407, True, None, 0),
    Shape("/trailers", 200, b"t" * 2000 + b"u" * 20, 2020, True, None, 0),
    Shape("/reset-mid-chunk", 200, b"a" * 1000 + b"b" * 100, 1100, False, "truncated", 4),
    Shape("/chunk-cut", 200, b"z" * 3000, 3000, False, "truncated", 4),
    Shape("/status?code=503", 503, b"boom", 4, True, "http_5xx", 3),
    Shape("/status?code=429", 429, b"boom", 4, True, "throttled", 3),
    Shape("/malformed-head", None, b"", 0, False, "connect", 5),
    # chunked not the final coding: close-delimited, the raw bytes (RFC 9112 section 6.3)
    Shape("/te-not-final?te=chunked,%20gzip", 200, RAW_CHUNKED, 26, True, None, 0),
    Shape("/te-not-final?te=xchunkedx", 200, RAW_CHUNKED, 26, True, None, 0),
    Shape("/te-not-final?te=chunked,%20gzip&length=5", 200, RAW_CHUNKED, 26, True, None, 0),
    Shape("/te-not-final?te=gzip,%20CHUNKED", 200, b"hello world", 11, True, None, 0),
    Shape("/long-extension", 200, b"hello", 5, True, None, 0),
    Shape("/endless-trailers", 200, b"hello", 5, False, "truncated", 4),
]
# Over TLS too (the same core behind the ssl module and asyncio's TLS).
TLS_CORPUS = [
    s
    for s in CORPUS
    if s.path
    in (
        "/bare-lf",
        "/te-and-length",
        "/short-length",
        "/close-delimited",
        "/interim",
        "/chunk-extensions",
        "/reset-mid-chunk",
        "/status?code=503",
        "/te-not-final?te=chunked,%20gzip",
        "/long-extension",
    )
]


@pytest.fixture(scope="module")
def plain() -> Iterator[ScriptedServer]:
    with scripted_server() as s:
        yield s


@pytest.fixture(scope="module")
def tls() -> Iterator[ScriptedServer]:
    import trustme

    ca = trustme.CA()
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert("127.0.0.1").configure_cert(ctx)
    with scripted_server(tls=ctx) as s:
        yield s


def _both(
    url: str, tmp_path: Path, *extra: str
) -> tuple[int, dict[str, object], int, dict[str, object], dict[str, str], bytes]:
    body, g_json = tmp_path / "body", tmp_path / "g.json"
    b_json, rows = tmp_path / "b.json", tmp_path / "b.csv"
    common = ["--auth", "none", *extra]
    g_code = run(["get", url, *common, "-o", str(body), "-s", "--json", str(g_json)])
    b_code = run(
        [
            "bench",
            url,
            *common,
            "-n",
            "1",
            "--workers",
            "1",
            "--json",
            str(b_json),
            "--csv",
            str(rows),
        ]
    )
    with rows.open() as fh:
        [row] = list(csv.DictReader(fh))
    got = body.read_bytes() if body.exists() else b""
    return g_code, json.loads(g_json.read_text()), b_code, json.loads(b_json.read_text()), row, got


def _check(
    shape: Shape, url: str, tmp_path: Path, *extra: str
) -> tuple[dict[str, object], dict[str, str]]:
    g_code, g, b_code, b, row, written = _both(url, tmp_path, *extra)
    # get: what curl makes of the shape
    assert (g["status"], g["bytes"], g["complete"], g["error"]) == (
        shape.status,
        shape.size,
        shape.complete,
        shape.error,
    ), g.get("error_detail")
    if shape.body is not None:
        assert written == shape.body
    # bench -n 1: the same
    row_status = int(row["status"]) if row["status"] else None
    assert (row_status, int(row["bytes"]), row["error"] or None) == (
        shape.status,
        shape.size,
        shape.error,
    ), b.get("error_details")
    assert b["requests"] == 1 and b["bytes"] == shape.size
    assert b["ok"] == (1 if shape.complete and shape.error is None else 0)
    completed = row["total_ms"] != ""  # bench leaves total empty for an incomplete body
    assert completed == shape.complete
    assert g_code == b_code == shape.code
    return g, row


@pytest.mark.parametrize("shape", CORPUS, ids=[s.path for s in CORPUS])
def test_get_and_bench_agree_over_http(shape: Shape, plain: ScriptedServer, tmp_path: Path) -> None:
    g, row = _check(shape, plain.base + shape.path, tmp_path)
    assert g["tls_ms"] is None and row["tls_ms"] == ""
    if shape.path == "/te-and-length":
        assert g["notes"] and "Transfer-Encoding wins" in str(g["notes"])
    else:
        assert g["notes"] == []


@pytest.mark.parametrize("shape", TLS_CORPUS, ids=[s.path for s in TLS_CORPUS])
def test_get_and_bench_agree_over_https(shape: Shape, tls: ScriptedServer, tmp_path: Path) -> None:
    g, row = _check(shape, tls.base + shape.path, tmp_path, "--insecure")
    # The handshake ran and was timed apart, in both.
    assert isinstance(g["tls_ms"], float) and float(row["tls_ms"]) >= 0
