"""get and bench through a real tinyproxy, and the CA bundle they trust.

Each run is a real ``lstream`` process; tinyproxy's own log says whether the
traffic went through it (a ``CONNECT host:port`` line for a tunnel, an
absolute-form request line for plain http) or not.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import suppress
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from tests.engine.httpserver import TestServer
from tests.net.conftest import Origin
from tests.tinyproxy import Tinyproxy, free_port

PASSWORD = "pr0xy-SECRET"
GET_SCHEMA = json.loads((Path(__file__).parents[2] / "schemas/get.schema.json").read_text())
BENCH_SCHEMA = json.loads((Path(__file__).parents[2] / "schemas/bench.schema.json").read_text())


def lstream(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full = dict(os.environ)  # the tests' isolated environment
    full.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "lstream_cli", *args],
        env=full,
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )


def one_error_line(proc: subprocess.CompletedProcess[str]) -> str:
    lines = [x for x in proc.stderr.splitlines() if x.strip()]
    errors = [x for x in lines if x.startswith("lstream: error: ")]
    assert len(errors) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    return errors[0].removeprefix("lstream: error: ")


def no_secret(proc: subprocess.CompletedProcess[str], secret: str = PASSWORD) -> None:
    assert secret not in proc.stdout and secret not in proc.stderr


# -- get ---------------------------------------------------------------------------


def test_get_https_through_the_proxy_with_cacert(
    tinyproxy: Tinyproxy, https_origin: Origin
) -> None:
    mark = tinyproxy.mark()
    url = https_origin.url("/ok?size=1000", host="localhost")
    proc = lstream(
        "get", url, "--cacert", https_origin.ca_file, "-o", "-", env={"HTTPS_PROXY": tinyproxy.url}
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "x" * 1000  # the body, byte for byte, through the tunnel
    assert tinyproxy.requests_since(mark) == [
        f"CONNECT localhost:{https_origin.server.port} HTTP/1.1"
    ]
    # The certificate was checked against the origin's name, and SNI named it: the
    # certificate holds no name of the proxy's.
    assert https_origin.sni[-1] == "localhost"


@pytest.mark.parametrize("command", ["get", "bench"])
def test_the_certificate_is_checked_against_the_origin_not_the_proxy(
    command: str, tinyproxy: Tinyproxy, localhost_origin: Origin
) -> None:
    """The certificate names localhost only; the proxy is 127.0.0.1. Through the
    proxy the check passes (it names the origin); direct to 127.0.0.1 it fails."""
    url = localhost_origin.url("/ok", host="localhost")
    env = {"HTTPS_PROXY": tinyproxy.url, "AWS_CA_BUNDLE": localhost_origin.ca_file}
    mark = tinyproxy.mark()
    if command == "get":
        proc = lstream("get", url, "-o", os.devnull, env=env)
    else:
        proc, _ = _bench(url, env=env)
    assert proc.returncode == 0, proc.stderr
    assert set(tinyproxy.requests_since(mark)) == {
        f"CONNECT localhost:{localhost_origin.server.port} HTTP/1.1"
    }
    direct = lstream(
        "get", localhost_origin.url("/ok"), env={"AWS_CA_BUNDLE": localhost_origin.ca_file}
    )
    assert direct.returncode == 5
    assert "IP address mismatch" in one_error_line(direct)


def test_get_trusts_aws_ca_bundle_through_the_proxy(
    tinyproxy: Tinyproxy, https_origin: Origin
) -> None:
    mark = tinyproxy.mark()
    env = {"https_proxy": tinyproxy.url, "AWS_CA_BUNDLE": https_origin.ca_file}
    proc = lstream("get", https_origin.url("/ok"), "-o", os.devnull, "--json", "-", env=env)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    jsonschema.validate(doc, GET_SCHEMA)
    assert doc["status"] == 200
    assert doc["proxy"] == f"http://127.0.0.1:{tinyproxy.port} (from https_proxy)"
    assert doc["ca_bundle"] == f"{https_origin.ca_file} from AWS_CA_BUNDLE"
    assert tinyproxy.requests_since(mark) == [
        f"CONNECT 127.0.0.1:{https_origin.server.port} HTTP/1.1"
    ]


def test_get_verbose_names_the_proxy_and_the_bundle_never_the_password(
    tinyproxy_auth: Tinyproxy, https_origin: Origin
) -> None:
    mark = tinyproxy_auth.mark()
    proc = lstream(
        "get", "-v", https_origin.url("/ok"), "-o", os.devnull, "--cacert", https_origin.ca_file,
        env={"HTTPS_PROXY": tinyproxy_auth.url},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    no_secret(proc)
    assert (
        f"* proxy: http://alice:<redacted>@127.0.0.1:{tinyproxy_auth.port} (from HTTPS_PROXY)"
        in proc.stderr
    )
    assert f"* CA bundle: {https_origin.ca_file} from --cacert" in proc.stderr
    assert tinyproxy_auth.requests_since(mark) == [
        f"CONNECT 127.0.0.1:{https_origin.server.port} HTTP/1.1"
    ]


@pytest.mark.parametrize(
    ("env", "flags"),
    [
        ({"NO_PROXY": "127.0.0.1"}, ()),
        ({"no_proxy": "10.0.0.0/8,127.0.0.0/8"}, ()),
        ({"NO_PROXY": "*"}, ()),
        ({"NO_PROXY": "example.com"}, ("--noproxy", "127.0.0.1")),  # --noproxy replaces it
        ({}, ("--proxy", "")),  # --proxy '' : no proxy, the environment ignored
    ],
)
def test_get_goes_direct_for_the_no_proxy_list(
    tinyproxy: Tinyproxy, https_origin: Origin, env: dict[str, str], flags: tuple[str, ...]
) -> None:
    mark = tinyproxy.mark()
    full = {"HTTPS_PROXY": tinyproxy.url, **env}
    proc = lstream(
        "get",
        https_origin.url("/ok"),
        "-o",
        os.devnull,
        "--cacert",
        https_origin.ca_file,
        *flags,
        env=full,
    )
    assert proc.returncode == 0, proc.stderr
    assert tinyproxy.requests_since(mark) == []


def test_noproxy_empty_overrides_no_proxy(tinyproxy: Tinyproxy, https_origin: Origin) -> None:
    mark = tinyproxy.mark()
    env = {"HTTPS_PROXY": tinyproxy.url, "NO_PROXY": "127.0.0.1"}
    proc = lstream(
        "get",
        https_origin.url("/ok"),
        "-o",
        os.devnull,
        "--cacert",
        https_origin.ca_file,
        "--noproxy",
        "",
        env=env,
    )
    assert proc.returncode == 0, proc.stderr
    assert len(tinyproxy.requests_since(mark)) == 1


def test_get_proxy_flag_wins_over_the_environment(
    tinyproxy: Tinyproxy, https_origin: Origin
) -> None:
    mark = tinyproxy.mark()
    closed = f"http://127.0.0.1:{free_port()}"
    proc = lstream(
        "get", https_origin.url("/ok"), "-o", os.devnull, "--cacert", https_origin.ca_file,
        "-x", tinyproxy.url, env={"HTTPS_PROXY": closed},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert len(tinyproxy.requests_since(mark)) == 1


def test_get_plain_http_goes_absolute_form(tinyproxy: Tinyproxy, http_origin: TestServer) -> None:
    mark = tinyproxy.mark()
    before = len(http_origin.heads)
    proc = lstream(
        "get", "-v", http_origin.url("/ok?size=7"), "-o", "-", env={"HTTP_PROXY": tinyproxy.url}
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "x" * 7
    assert tinyproxy.requests_since(mark) == [f"GET {http_origin.url('/ok?size=7')} HTTP/1.1"]
    assert f"> GET {http_origin.url('/ok?size=7')} HTTP/1.1" in proc.stderr
    assert len(http_origin.heads) == before + 1  # it reached the origin, through the proxy


def test_get_plain_http_sends_the_proxy_credentials(
    tinyproxy_auth: Tinyproxy, http_origin: TestServer
) -> None:
    mark = tinyproxy_auth.mark()
    proc = lstream(
        "get", "-v", http_origin.url("/ok"), "-o", os.devnull, "--json", "-",
        env={"http_proxy": tinyproxy_auth.url},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    no_secret(proc)
    doc = json.loads(proc.stdout)
    jsonschema.validate(doc, GET_SCHEMA)
    assert (
        doc["proxy"] == f"http://alice:<redacted>@127.0.0.1:{tinyproxy_auth.port} (from http_proxy)"
    )
    assert doc["ca_bundle"] is None  # plain http: nothing verified
    assert tinyproxy_auth.requests_since(mark) == [f"GET {http_origin.url('/ok')} HTTP/1.1"]
    # the origin never sees the proxy's credentials
    assert b"proxy-authorization" not in http_origin.heads[-1].lower()


def test_get_a_proxy_that_wants_credentials_is_exit_5_one_line(
    tinyproxy_auth: Tinyproxy, https_origin: Origin
) -> None:
    proc = lstream(
        "get",
        https_origin.url("/ok"),
        "--cacert",
        https_origin.ca_file,
        env={"HTTPS_PROXY": tinyproxy_auth.bare_url},
    )
    assert proc.returncode == 5
    line = one_error_line(proc)
    assert line.startswith(
        f"proxy 127.0.0.1:{tinyproxy_auth.port} (from HTTPS_PROXY) answered CONNECT "
        f"127.0.0.1:{https_origin.server.port} with HTTP 407"
    )
    assert "proxy authentication required" in line


def test_get_wrong_proxy_credentials_are_exit_5_and_never_shown(
    tinyproxy_auth: Tinyproxy, https_origin: Origin
) -> None:
    wrong = f"http://alice:wrong-{PASSWORD}@127.0.0.1:{tinyproxy_auth.port}"
    proc = lstream(
        "get", "-v", https_origin.url("/ok"), "--cacert", https_origin.ca_file, "-x", wrong
    )
    assert proc.returncode == 5
    line = one_error_line(proc)
    assert "HTTP 401" in line or "HTTP 407" in line  # tinyproxy answers wrong ones with 401
    assert "(proxy authentication required: the proxy refused the credentials of its URL)" in line
    no_secret(proc)


def test_get_a_closed_proxy_port_is_exit_5_one_line(https_origin: Origin) -> None:
    port = free_port()
    proc = lstream(
        "get",
        https_origin.url("/ok"),
        "--cacert",
        https_origin.ca_file,
        env={"HTTPS_PROXY": f"http://u:{PASSWORD}@127.0.0.1:{port}"},
    )
    assert proc.returncode == 5
    line = one_error_line(proc)
    assert line.startswith(
        f"cannot connect to proxy http://u:<redacted>@127.0.0.1:{port} (from HTTPS_PROXY): "
    )
    assert "refused" in line.lower()
    no_secret(proc)


@pytest.mark.parametrize("command", ["get", "bench"])
@pytest.mark.parametrize(
    ("proxy", "why"),
    [
        (f"socks5://u:{PASSWORD}@127.0.0.1:1080", "SOCKS proxies are not supported"),
        (f"https://u:{PASSWORD}@127.0.0.1:3129", "https:// proxies are not supported"),
        (f"http://u:{PASSWORD}@127.0.0.1:notaport", "Port could not be cast"),
    ],
)
def test_an_unusable_proxy_url_is_exit_2_one_line(
    command: str, proxy: str, why: str, https_origin: Origin
) -> None:
    proc = lstream(command, https_origin.url("/ok"), env={"HTTPS_PROXY": proxy})
    assert proc.returncode == 2, proc.stderr
    line = one_error_line(proc)
    assert line.startswith("invalid proxy ") and "(from HTTPS_PROXY)" in line and why in line
    no_secret(proc)


# -- trust ---------------------------------------------------------------------------


def test_a_verify_failure_names_the_bundle_used(tmp_path: Path, https_origin: Origin) -> None:
    import trustme

    other = tmp_path / "other-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(other))
    proc = lstream("get", https_origin.url("/ok"), env={"AWS_CA_BUNDLE": str(other)})
    assert proc.returncode == 5
    assert one_error_line(proc) == (
        "TLS handshake with 127.0.0.1 failed: certificate verify failed: unable to get local "
        f"issuer certificate (CA bundle: {other} from AWS_CA_BUNDLE)"
    )


def test_the_profile_ca_bundle_is_trusted(tmp_path: Path, https_origin: Origin) -> None:
    config = Path(os.environ["AWS_CONFIG_FILE"])
    config.write_text(f"[profile corp]\nca_bundle = {https_origin.ca_file}\n")
    proc = lstream(
        "get",
        "-v",
        https_origin.url("/ok"),
        "-o",
        os.devnull,
        "--profile",
        "corp",
        "--auth",
        "none",
    )
    assert proc.returncode == 0, proc.stderr
    assert (
        f"* CA bundle: {https_origin.ca_file} from the ca_bundle of profile 'corp'" in proc.stderr
    )


@pytest.fixture
def plain_http_port() -> Iterator[int]:
    """A port that answers anything with a plain-HTTP 400, as nginx does a ClientHello."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    listener.settimeout(30)

    def serve() -> None:
        with suppress(OSError):
            while True:
                conn, _ = listener.accept()
                with conn:
                    conn.recv(65536)
                    conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    listener.close()


@pytest.mark.parametrize("command", ["get", "bench"])
def test_https_to_a_plain_http_port_hints_http(command: str, plain_http_port: int) -> None:
    url = f"https://127.0.0.1:{plain_http_port}/ok"
    if command == "bench":
        proc, report = _bench(url, env={})
        assert proc.returncode == 5, proc.stderr
        assert list(report["error_details"]) == [
            "tls: TLS handshake with 127.0.0.1 failed: wrong version number: the server did "
            "not answer in TLS (a plain-HTTP port? use http://)"
        ]
        return
    proc = lstream(command, url, "--timeout", "10")
    assert proc.returncode == 5
    line = one_error_line(proc)
    assert line == (
        "TLS handshake with 127.0.0.1 failed: wrong version number: the server did not "
        "answer in TLS (a plain-HTTP port? use http://)"
    )


@pytest.mark.parametrize("command", ["get", "bench"])
def test_a_missing_bundle_is_exit_2(command: str, tmp_path: Path, https_origin: Origin) -> None:
    proc = lstream(
        command, https_origin.url("/ok"), env={"AWS_CA_BUNDLE": str(tmp_path / "none.pem")}
    )
    assert proc.returncode == 2
    assert one_error_line(proc) == (
        f"cannot use the CA bundle {tmp_path / 'none.pem'} from AWS_CA_BUNDLE: No such file or directory"
    )


# -- bench -------------------------------------------------------------------------------


def _bench(
    url: str, *args: str, env: dict[str, str]
) -> tuple[subprocess.CompletedProcess[str], Any]:
    proc = lstream(
        "bench", url, "-n", "6", "-c", "2", "--workers", "1", "--json", "-", "-s", *args, env=env
    )
    report = json.loads(proc.stdout) if proc.stdout.strip() else None
    return proc, report


@pytest.mark.parametrize("trust", ["--cacert", "AWS_CA_BUNDLE"])
def test_bench_https_through_the_proxy(
    trust: str, tinyproxy: Tinyproxy, https_origin: Origin
) -> None:
    mark = tinyproxy.mark()
    env = {"HTTPS_PROXY": tinyproxy.url}
    args: tuple[str, ...] = ()
    if trust == "--cacert":
        args = ("--cacert", https_origin.ca_file)
    else:
        env["AWS_CA_BUNDLE"] = https_origin.ca_file
    proc, report = _bench(https_origin.url("/ok?size=100", host="localhost"), *args, env=env)
    assert proc.returncode == 0, proc.stderr
    jsonschema.validate(report, BENCH_SCHEMA)
    assert (report["requests"], report["ok"]) == (6, 6)
    assert report["proxy"] == f"http://127.0.0.1:{tinyproxy.port} (from HTTPS_PROXY)"
    assert report["ca_bundle"] == f"{https_origin.ca_file} from {trust}"
    lines = tinyproxy.requests_since(mark)
    # one tunnel per connection (2 slots, kept alive), each to the origin
    assert 1 <= len(lines) <= 6
    assert set(lines) == {f"CONNECT localhost:{https_origin.server.port} HTTP/1.1"}
    assert https_origin.sni[-1] == "localhost"


def test_bench_report_names_the_proxy_never_the_password(
    tinyproxy_auth: Tinyproxy, https_origin: Origin
) -> None:
    env = {"HTTPS_PROXY": tinyproxy_auth.url}
    args = ["-n", "2", "-c", "1", "--workers", "1", "--cacert", https_origin.ca_file]
    proc = lstream("bench", https_origin.url("/ok"), *args, env=env)
    assert proc.returncode == 0, proc.stderr
    no_secret(proc)
    assert (
        f"  via proxy http://alice:<redacted>@127.0.0.1:{tinyproxy_auth.port} (from HTTPS_PROXY)"
        in proc.stdout + proc.stderr
    )


def test_bench_no_proxy_goes_direct(tinyproxy: Tinyproxy, https_origin: Origin) -> None:
    mark = tinyproxy.mark()
    env = {"HTTPS_PROXY": tinyproxy.url, "NO_PROXY": ".0.0.1,127.0.0.1"}
    proc, _ = _bench(https_origin.url("/ok"), "--cacert", https_origin.ca_file, env=env)
    assert proc.returncode == 0, proc.stderr
    assert tinyproxy.requests_since(mark) == []
    proc, _ = _bench(
        https_origin.url("/ok"),
        "--cacert",
        https_origin.ca_file,
        "--noproxy",
        "127.0.0.1",
        env={"HTTPS_PROXY": tinyproxy.url},
    )
    assert proc.returncode == 0, proc.stderr
    assert tinyproxy.requests_since(mark) == []


def test_bench_plain_http_goes_absolute_form(
    tinyproxy_auth: Tinyproxy, http_origin: TestServer
) -> None:
    mark = tinyproxy_auth.mark()
    proc, _ = _bench(http_origin.url("/ok"), env={"HTTP_PROXY": tinyproxy_auth.url})
    assert proc.returncode == 0, proc.stderr
    no_secret(proc)
    assert tinyproxy_auth.requests_since(mark) == [f"GET {http_origin.url('/ok')} HTTP/1.1"] * 6


def test_bench_a_refusing_proxy_is_exit_5_with_its_status(
    tinyproxy_auth: Tinyproxy, https_origin: Origin
) -> None:
    proc, report = _bench(
        https_origin.url("/ok"),
        "--cacert",
        https_origin.ca_file,
        env={"HTTPS_PROXY": tinyproxy_auth.bare_url},
    )
    assert proc.returncode == 5, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "HTTP 407" in json.dumps(report)


@pytest.mark.parametrize("name", ["ALL_PROXY", "all_proxy"])
def test_all_proxy_when_the_scheme_has_none(
    name: str, tinyproxy: Tinyproxy, https_origin: Origin
) -> None:
    mark = tinyproxy.mark()
    env = {name: tinyproxy.url, "http_proxy": "http://127.0.0.1:9"}  # http's: not for https
    proc = lstream(
        "get", https_origin.url("/ok"), "-o", os.devnull, "--cacert", https_origin.ca_file, env=env
    )
    assert proc.returncode == 0, proc.stderr
    assert tinyproxy.requests_since(mark) == [
        f"CONNECT 127.0.0.1:{https_origin.server.port} HTTP/1.1"
    ]


@pytest.mark.parametrize("command", ["get", "bench"])
def test_a_proxy_named_localhost_is_reached_over_whichever_family_answers(
    command: str, tinyproxy: Tinyproxy, https_origin: Origin
) -> None:
    """tinyproxy listens on 127.0.0.1 only; ``localhost`` may resolve to ::1 first."""
    mark = tinyproxy.mark()
    env = {"HTTPS_PROXY": f"http://localhost:{tinyproxy.port}"}
    if command == "get":
        proc = lstream(
            "get",
            https_origin.url("/ok"),
            "-o",
            os.devnull,
            "--cacert",
            https_origin.ca_file,
            env=env,
        )
    else:
        proc, _ = _bench(https_origin.url("/ok"), "--cacert", https_origin.ca_file, env=env)
    assert proc.returncode == 0, proc.stderr
    assert tinyproxy.requests_since(mark)


def test_ssl_cert_file_is_trusted(tinyproxy: Tinyproxy, https_origin: Origin) -> None:
    mark = tinyproxy.mark()
    env = {"SSL_CERT_FILE": https_origin.ca_file, "HTTPS_PROXY": tinyproxy.url}
    proc = lstream("get", "-v", https_origin.url("/ok"), "-o", os.devnull, env=env)
    assert proc.returncode == 0, proc.stderr
    assert f"* CA bundle: {https_origin.ca_file} from SSL_CERT_FILE" in proc.stderr
    assert len(tinyproxy.requests_since(mark)) == 1


def test_bench_a_closed_proxy_port_is_exit_5(https_origin: Origin) -> None:
    port = free_port()
    proc, report = _bench(
        https_origin.url("/ok"),
        "--cacert",
        https_origin.ca_file,
        env={"HTTPS_PROXY": f"http://u:{PASSWORD}@127.0.0.1:{port}"},
    )
    assert proc.returncode == 5, proc.stderr
    (detail,) = report["error_details"]
    prefix = f"connect: cannot connect to proxy http://u:<redacted>@127.0.0.1:{port} (from HTTPS_PROXY): "
    assert detail.startswith(prefix), detail
    no_secret(proc)


def test_an_origin_the_proxy_cannot_reach_is_exit_5_with_the_proxy_status(
    tinyproxy: Tinyproxy,
) -> None:
    port = free_port()  # nothing listens there
    proc = lstream("get", f"https://127.0.0.1:{port}/", env={"HTTPS_PROXY": tinyproxy.url})
    assert proc.returncode == 5
    line = one_error_line(proc)
    assert line.startswith(
        f"proxy 127.0.0.1:{tinyproxy.port} (from HTTPS_PROXY) answered CONNECT "
        f"127.0.0.1:{port} with HTTP 5"
    ), line
