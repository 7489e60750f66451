"""Session fixtures for the proxy and trust tests: tinyproxy twice, an HTTPS origin."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import trustme

from tests.engine.httpserver import TestServer
from tests.tinyproxy import Tinyproxy


@pytest.fixture(scope="session")
def tinyproxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tinyproxy]:
    """An open tinyproxy (no credentials)."""
    proxy = Tinyproxy(tmp_path_factory.mktemp("tinyproxy")).start()
    yield proxy
    proxy.stop()


@pytest.fixture(scope="session")
def tinyproxy_auth(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tinyproxy]:
    """A tinyproxy that wants Basic credentials (alice / the password below)."""
    proxy = Tinyproxy(tmp_path_factory.mktemp("tinyproxy-auth"), ("alice", "pr0xy-SECRET")).start()
    yield proxy
    proxy.stop()


@dataclass(frozen=True)
class Origin:
    """An HTTPS server whose certificate (for localhost and 127.0.0.1) no default trusts."""

    server: TestServer
    ca_file: str  # the CA that signed it, as a PEM bundle
    sni: list[str | None]  # the server name each handshake asked for

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"https://{host}:{self.server.port}{path}"


@pytest.fixture(scope="session")
def https_origin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Origin]:
    ca = trustme.CA()
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert("localhost", "127.0.0.1").configure_cert(ctx)
    sni: list[str | None] = []

    def remember(sock: object, name: str | None, _ctx: object) -> None:
        sni.append(name)

    ctx.sni_callback = remember  # type: ignore[assignment]
    path = Path(tmp_path_factory.mktemp("ca")) / "origin-ca.pem"
    ca.cert_pem.write_to_path(str(path))
    server = TestServer(ctx).start()
    yield Origin(server, str(path), sni)
    server.stop()


@pytest.fixture(scope="session")
def localhost_origin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Origin]:
    """An HTTPS server whose certificate names ``localhost`` only (not 127.0.0.1)."""
    ca = trustme.CA()
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert("localhost").configure_cert(ctx)
    path = Path(tmp_path_factory.mktemp("ca-localhost")) / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    server = TestServer(ctx).start()
    yield Origin(server, str(path), [])
    server.stop()


@pytest.fixture(scope="session")
def http_origin() -> Iterator[TestServer]:
    server = TestServer().start()
    yield server
    server.stop()
