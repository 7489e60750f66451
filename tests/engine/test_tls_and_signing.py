"""TLS (verification, SNI, -k), EOF-framed bodies, and re-signing as time goes."""

from __future__ import annotations

import datetime
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lstream_cli.engine.protocol import RequestTemplate
from lstream_cli.engine.workers import LoadConfig, run_load
from lstream_cli.request import RequestSpec
from lstream_cli.signing import Signer
from tests.engine.httpserver import TestServer


def _self_signed(tmp: Path) -> ssl.SSLContext:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "lstream-test")])
    now = datetime.datetime.now(datetime.timezone.utc)
    import ipaddress

    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp / "cert.pem", tmp / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert_file, key_file)
    return ctx


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[TestServer]:
    srv = TestServer(_self_signed(tmp_path)).start()
    yield srv
    srv.stop()


def _run(url: str, insecure: bool = False, **kw: Any) -> Any:
    base: dict[str, Any] = {
        "spec": RequestSpec(url=url, auth="none", insecure=insecure, timeout=10.0),
        "concurrency": 2,
        "requests": 6,
        "duration_s": None,
        "rate": None,
        "workers": 1,
    }
    base.update(kw)
    return run_load(LoadConfig(**base)).stats


def test_unverifiable_certificate_is_a_tls_error(tls_server: TestServer) -> None:
    s = _run(tls_server.url("/ok"))
    assert s.requests == 6 and s.errors == {"tls": 6}
    assert any("certificate verify failed" in d for d in s.details)


def test_insecure_skips_verification(tls_server: TestServer) -> None:
    s = _run(tls_server.url("/ok?size=100000"), insecure=True)
    assert (s.requests, s.ok, s.bytes) == (6, 6, 600_000)


def test_body_framed_by_connection_close_is_complete(server: TestServer) -> None:
    s = _run(server.url("/eof?size=1234"))
    assert (s.requests, s.ok, s.errors, s.bytes) == (6, 6, {}, 6 * 1234)


class _Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


def test_requests_are_resigned_each_second_with_refreshed_credentials(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from botocore.credentials import RefreshableCredentials

    clock = _Clock()
    monkeypatch.setattr("lstream_cli.engine.core.time.time", clock)
    keys = iter(f"AKIDREFRESH{i:09d}" for i in range(100))

    def refresh() -> dict[str, str]:
        # Inside botocore's 15-minute advisory window: it refreshes at every read.
        expiry = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(minutes=12)
        return {
            "access_key": next(keys),
            "secret_key": "refreshed-secret",
            "token": "refreshed-token",
            "expiry_time": expiry.strftime("%Y-%m-%dT%H:%M:%SZ"),
        }

    creds = RefreshableCredentials.create_from_metadata(refresh(), refresh, "test")
    template = RequestTemplate(
        RequestSpec(url="https://abc.lambda-url.us-east-1.on.aws/x?y=1"),
        Signer(creds, "us-east-1"),
    )
    first = template.bytes()
    assert template.bytes() is first  # same second: no new signature
    clock.now += 1.0
    second = template.bytes()
    assert second != first

    def credential(raw: bytes) -> str:
        return raw.split(b"Credential=")[1].split(b"/")[0].decode()

    assert credential(first) != credential(second)
    assert credential(second).startswith("AKIDREFRESH")
    assert b"X-Amz-Security-Token: refreshed-token\r\n" in second
    assert second.startswith(b"GET /x?y=1 HTTP/1.1\r\nHost: abc.lambda-url.us-east-1.on.aws\r\n")


def test_system_trust_store_and_ssl_cert_file_are_honoured(
    tls_server: TestServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "cert.pem"))  # the server's own
    s = _run(tls_server.url("/ok"))
    assert (s.requests, s.ok, s.errors) == (6, 6, {})


def test_certifi_bundle_is_trusted_as_get_trusts_it(
    tls_server: TestServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With no bundle configured (no --cacert, AWS_CA_BUNDLE, profile ca_bundle
    or SSL_CERT_*), `get` and `bench` both trust certifi's bundle beside the
    system store (a slim container has none), so they verify the same servers."""
    import certifi

    monkeypatch.setattr(certifi, "where", lambda: str(tmp_path / "cert.pem"))
    s = _run(tls_server.url("/ok"))
    assert (s.requests, s.ok, s.errors) == (6, 6, {})
