"""TLS trust resolution: the order the AWS tools use, and its messages."""

from __future__ import annotations

import socket
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme

from lstream_cli._exitcodes import ExitStatus, UsageError
from lstream_cli.net.trust import SYSTEM, Trust, resolve_trust, tls_failure_reason


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def bundles(tmp_path: Path, ca: trustme.CA) -> dict[str, str]:
    names = {}
    for name in ("flag", "aws", "profile", "sslfile"):
        path = tmp_path / f"{name}.pem"
        ca.cert_pem.write_to_path(str(path))
        names[name] = str(path)
    certdir = tmp_path / "certdir"
    certdir.mkdir()
    names["ssldir"] = str(certdir)
    return names


def _profile(tmp_path: Path, body: str) -> None:
    (tmp_path / "_aws" / "config").write_text(body)


ORDER = [
    # (flag, env, profile config, expected source, expected file key)
    (
        "flag",
        {"AWS_CA_BUNDLE": "aws", "SSL_CERT_FILE": "sslfile"},
        "[default]\nca_bundle = {profile}\n",
        "--cacert",
        "flag",
    ),
    (
        None,
        {"AWS_CA_BUNDLE": "aws", "SSL_CERT_FILE": "sslfile"},
        "[default]\nca_bundle = {profile}\n",
        "AWS_CA_BUNDLE",
        "aws",
    ),
    (
        None,
        {"SSL_CERT_FILE": "sslfile"},
        "[default]\nca_bundle = {profile}\n",
        "the ca_bundle of profile 'default'",
        "profile",
    ),
    (
        None,
        {"SSL_CERT_FILE": "sslfile"},
        "[default]\nregion = us-east-1\n",
        "SSL_CERT_FILE",
        "sslfile",
    ),
    (None, {"SSL_CERT_DIR": "ssldir"}, "", "SSL_CERT_DIR", "ssldir"),
    (None, {"AWS_CA_BUNDLE": ""}, "", SYSTEM, None),  # set but empty: not set
    (None, {}, "", SYSTEM, None),
]


@pytest.mark.parametrize(("flag", "env", "config", "source", "key"), ORDER)
def test_the_order_of_the_aws_tools(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    bundles: dict[str, str],
    flag: str | None,
    env: dict[str, str],
    config: str,
    source: str,
    key: str | None,
) -> None:
    _profile(tmp_path, config.format(**bundles))
    for name, value in env.items():
        monkeypatch.setenv(name, bundles.get(value, value))
    trust = resolve_trust(bundles[flag] if flag else None, insecure=False)
    assert trust.source == source
    assert (trust.cafile or trust.capath) == (bundles[key] if key else None)
    assert trust.verify
    if key is not None:
        assert trust.describe() == f"{bundles[key]} from {source}"
        assert trust.botocore_verify() == bundles[key]
    else:
        assert trust.describe().startswith(SYSTEM)
        assert trust.botocore_verify() is None  # botocore's own default


def test_the_named_profile_is_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, bundles: dict[str, str]
) -> None:
    _profile(
        tmp_path,
        f"[default]\nca_bundle = {bundles['aws']}\n[profile work]\nca_bundle = {bundles['profile']}\n",
    )
    assert resolve_trust(None, False, profile="work").cafile == bundles["profile"]
    monkeypatch.setenv("AWS_PROFILE", "work")
    trust = resolve_trust(None, False)
    assert (trust.cafile, trust.source) == (bundles["profile"], "the ca_bundle of profile 'work'")
    with pytest.raises(UsageError, match="could not be found"):
        resolve_trust(None, False, profile="nope")


def test_insecure_reads_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_CA_BUNDLE", "/does/not/exist.pem")
    trust = resolve_trust("/neither.pem", insecure=True)
    assert not trust.verify and trust.botocore_verify() is False
    assert trust.context().verify_mode == ssl.CERT_NONE
    assert "not verified" in trust.describe()


@pytest.mark.parametrize(
    ("where", "setup", "words"),
    [
        ("--cacert", "missing", "No such file or directory"),
        ("AWS_CA_BUNDLE", "missing", "No such file or directory"),
        ("SSL_CERT_FILE", "missing", "No such file or directory"),
        ("--cacert", "directory", "it is a directory"),
        ("--cacert", "not-pem", "no certificate found in it"),
        ("AWS_CA_BUNDLE", "not-pem", "no certificate found in it"),
    ],
)
def test_an_unusable_bundle_is_a_usage_error_naming_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str, setup: str, words: str
) -> None:
    path = tmp_path / "bundle.pem"
    if setup == "directory":
        path.mkdir()
    elif setup == "not-pem":
        path.write_text("this is not a certificate\n")
    flag = str(path) if where == "--cacert" else None
    if where != "--cacert":
        monkeypatch.setenv(where, str(path))
    with pytest.raises(UsageError) as info:
        resolve_trust(flag, insecure=False)
    message = str(info.value)
    assert info.value.exit_status == ExitStatus.USAGE
    assert message.startswith(f"cannot use the CA bundle {path} from {where}: ")
    assert words in message


def test_a_profile_bundle_that_is_missing_names_the_profile(tmp_path: Path) -> None:
    _profile(tmp_path, "[default]\nca_bundle = /nowhere/ca.pem\n")
    with pytest.raises(
        UsageError, match=r"/nowhere/ca.pem from the ca_bundle of profile 'default'"
    ):
        resolve_trust(None, False)


def test_ssl_cert_dir_must_be_a_directory(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SSL_CERT_DIR", str(tmp_path / "none"))
    with pytest.raises(UsageError, match="from SSL_CERT_DIR: not a directory"):
        resolve_trust(None, False)


def test_the_context_is_built_once_per_process(bundles: dict[str, str]) -> None:
    trust = resolve_trust(bundles["flag"], False)
    assert trust.context() is trust.context() is Trust("--cacert", bundles["flag"]).context()


# -- messages from real handshakes ------------------------------------------------


def _serve_once(handler: object) -> Iterator[int]:
    ls = socket.socket()
    ls.bind(("127.0.0.1", 0))
    ls.listen()

    def run() -> None:
        conn, _ = ls.accept()
        try:
            handler(conn)  # type: ignore[operator]
        except (OSError, ssl.SSLError):
            pass
        finally:
            conn.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    yield ls.getsockname()[1]
    thread.join(5)
    ls.close()


def _handshake(port: int, trust: Trust, name: str = "localhost") -> BaseException:
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    try:
        trust.context().wrap_socket(sock, server_hostname=name).close()
    except ssl.SSLError as exc:
        return exc
    finally:
        sock.close()
    raise AssertionError("the handshake succeeded")


def test_a_verification_failure_names_the_bundle(
    monkeypatch: pytest.MonkeyPatch, bundles: dict[str, str]
) -> None:
    other = trustme.CA()  # the server's certificate is from a CA the bundle does not hold
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    other.issue_cert("localhost").configure_cert(server_ctx)
    monkeypatch.setenv("AWS_CA_BUNDLE", bundles["aws"])
    trust = resolve_trust(None, False)
    for port in _serve_once(lambda c: server_ctx.wrap_socket(c, server_side=True)):
        exc = _handshake(port, trust)
    detail = tls_failure_reason(exc, trust)
    assert detail == (
        "certificate verify failed: unable to get local issuer certificate "
        f"(CA bundle: {bundles['aws']} from AWS_CA_BUNDLE)"
    )


def test_a_plain_http_port_gets_the_http_hint() -> None:
    def plain(conn: socket.socket) -> None:
        conn.recv(4096)
        conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")

    trust = resolve_trust(None, False)
    for port in _serve_once(plain):
        exc = _handshake(port, trust)
    detail = tls_failure_reason(exc, trust)
    assert detail.startswith("wrong version number: the server did not answer in TLS")
    assert detail.endswith("(a plain-HTTP port? use http://)")
