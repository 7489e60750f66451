"""get's set-up phases on a local HTTPS server: present, apart, and in order.

As curl's ``time_namelookup <= time_connect <= time_appconnect <=
time_starttransfer <= time_total``: the phase durations added up are offsets
from the start, and they come before the head, the first body byte and the
end. Orders only, never a speed (the machine is shared).
"""

from __future__ import annotations

import json
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest

from lstream_cli.cli import run
from tests.scripted_server import ScriptedServer, scripted_server


@pytest.fixture(scope="module")
def https(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ScriptedServer, Path]]:
    import trustme

    ca = trustme.CA()
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert("127.0.0.1").configure_cert(ctx)
    bundle = tmp_path_factory.mktemp("ca") / "ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    with scripted_server(tls=ctx) as server:
        yield server, bundle


def _get(url: str, tmp_path: Path, *extra: str) -> dict[str, object]:
    out = tmp_path / "get.json"
    code = run(
        ["get", url, "--auth", "none", "-o", str(tmp_path / "b"), "-s", "--json", str(out), *extra]
    )
    doc: dict[str, object] = json.loads(out.read_text())
    assert code == 0, doc.get("error_detail")
    return doc


@pytest.mark.parametrize("path", ["/early-headers?wait_ms=50", "/chunked?n=5&size=2000&gap_ms=5"])
def test_https_phases_are_present_and_ordered(
    https: tuple[ScriptedServer, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    path: str,
) -> None:
    server, bundle = https
    monkeypatch.setenv("SSL_CERT_FILE", str(bundle))  # verified: the real handshake
    doc = _get(server.base + path, tmp_path)
    dns, tcp, tls = doc["dns_ms"], doc["connect_ms"], doc["tls_ms"]
    assert isinstance(dns, float) and isinstance(tcp, float) and isinstance(tls, float)
    headers, ttfb, total = doc["headers_ms"], doc["ttfb_ms"], doc["total_ms"]
    assert isinstance(headers, float) and isinstance(ttfb, float) and isinstance(total, float)
    # Durations as offsets, each phase ending after the one before. The JSON
    # rounds to microseconds: allow the rounding of the three sums.
    eps = 0.002
    assert 0 <= dns <= dns + tcp <= dns + tcp + tls <= headers + eps
    assert headers <= ttfb <= total
    if path.startswith("/early-headers"):
        assert headers < ttfb  # the body came in a later read than the head


def test_http_has_no_tls_phase(tmp_path: Path) -> None:
    with scripted_server() as server:
        doc = _get(server.base + "/binary", tmp_path)
    assert doc["tls_ms"] is None
    assert isinstance(doc["dns_ms"], float) and isinstance(doc["connect_ms"], float)
    assert doc["dns_ms"] + doc["connect_ms"] <= doc["headers_ms"] + 0.002  # type: ignore[operator]


def test_https_bench_n1_reports_tcp_and_tls(
    https: tuple[ScriptedServer, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server, bundle = https
    monkeypatch.setenv("SSL_CERT_FILE", str(bundle))
    out = tmp_path / "bench.json"
    args = ["--auth", "none", "-n", "1", "--workers", "1", "--json", str(out)]
    code = run(["bench", server.base + "/binary", *args])
    doc = json.loads(out.read_text())
    assert code == 0 and doc["ok"] == 1
    for name in ("connect_ms", "tls_ms"):
        assert doc[name]["count"] == 1, name
        assert 0 <= doc[name]["min"] <= doc["headers_ms"]["min"]
