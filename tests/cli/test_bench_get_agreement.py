"""``get`` and ``bench -n 1`` measure the same response the same way."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from lstream_cli.cli import run
from tests.engine.httpserver import TestServer


@pytest.mark.parametrize(
    "path",
    [
        "/ok?size=5000",
        "/chunked?size=300000&chunk=30000&gap_ms=2",
        "/status?code=503",
        "/delay?ms=150&size=5000",
        "/headers-early?ms=150",
    ],
)
def test_get_and_bench_n1_agree(server: TestServer, tmp_path: Path, path: str) -> None:
    url = server.url(path)
    get_json, bench_json, rows = tmp_path / "g.json", tmp_path / "b.json", tmp_path / "b.csv"
    run(["get", url, "-o", str(tmp_path / "body"), "-s", "--json", str(get_json)])
    code = run(
        ["bench", url, "-n", "1", "--workers", "1", "--json", str(bench_json), "--csv", str(rows)]
    )
    g = json.loads(get_json.read_text())
    b = json.loads(bench_json.read_text())
    with rows.open() as fh:
        [row] = list(csv.DictReader(fh))
    assert b["requests"] == 1
    assert int(row["status"]) == g["status"]
    assert int(row["bytes"]) == g["bytes"] == b["bytes"]
    assert int(row["reads"]) > 0 and g["reads"] > 0
    assert (row["error"] or None) == g["error"]
    assert (b["ok"] == 1) == (g["error"] is None and g["complete"])
    assert float(row["headers_ms"]) <= float(row["ttfb_ms"]) <= float(row["total_ms"])
    assert g["headers_ms"] <= g["ttfb_ms"] <= g["total_ms"]
    assert b["ttfb_ms"]["count"] == 1
    assert code == (0 if g["error"] is None else 3)
    if "ms=150" in path:
        # The first body byte left the server 150 ms after the request: neither
        # command may report it sooner (early headers must not fool either).
        assert g["ttfb_ms"] >= 150 and float(row["ttfb_ms"]) >= 150
        assert b["ttfb_ms"]["min"] >= 150
