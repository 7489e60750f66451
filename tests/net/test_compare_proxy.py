"""compare-modes through a real tinyproxy: its URL modes and its botocore Lambda client."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lstream_cli.emulator import EmulatorConfig, running_emulator
from lstream_cli.engine.lambda_api import InvokeTarget, make_lambda_client
from lstream_cli.net.options import resolve_network
from tests.net.conftest import Origin
from tests.net.test_through_proxy import PASSWORD, lstream, no_secret, one_error_line
from tests.tinyproxy import Tinyproxy


@pytest.mark.parametrize("trust", ["--cacert", "AWS_CA_BUNDLE"])
def test_url_modes_tunnel_through_the_proxy(
    trust: str, tinyproxy: Tinyproxy, https_origin: Origin, tmp_path: Path
) -> None:
    mark = tinyproxy.mark()
    url = https_origin.url("/ok", host="localhost")
    out = tmp_path / "c.json"
    env = {"HTTPS_PROXY": tinyproxy.url}
    args = ["--cacert", https_origin.ca_file]
    if trust == "AWS_CA_BUNDLE":
        env["AWS_CA_BUNDLE"], args = https_origin.ca_file, []
    proc = lstream(
        "compare-modes", "--stream", url, "--buffered", url, "--sizes", "1kB,2kB", "--no-warmup",
        *args, "--auth", "none", "-s", "--json", str(out), env=env,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(out.read_text())["rows"]
    assert [(r["mode"], r["status"]) for r in rows] == [
        ("stream", 200), ("buffered", 200), ("stream", 200), ("buffered", 200)
    ]  # fmt: skip
    lines = tinyproxy.requests_since(mark)
    assert 1 <= len(lines) <= 4
    assert set(lines) == {f"CONNECT localhost:{https_origin.server.port} HTTP/1.1"}


def test_the_lambda_api_goes_through_the_proxy_too(
    tinyproxy_auth: Tinyproxy, tmp_path: Path, aws_creds: dict[str, str]
) -> None:
    out = tmp_path / "e.json"
    with running_emulator(EmulatorConfig(throttle=False)) as ep:
        mark = tinyproxy_auth.mark()
        proc = lstream(
            "compare-modes", "--stream", ep.stream + "/", "--invoke", "lstream-emulator",
            "--endpoint-url", ep.lambda_api, "--sizes", "1kB", "--no-warmup", "-s",
            "--json", str(out), env={"HTTP_PROXY": tinyproxy_auth.url},
        )  # fmt: skip
        lines = tinyproxy_auth.requests_since(mark)
    assert proc.returncode == 0, proc.stderr
    no_secret(proc)
    no_secret(proc, aws_creds["AWS_SECRET_ACCESS_KEY"])
    assert PASSWORD not in out.read_text()
    assert [r["mode"] for r in json.loads(out.read_text())["rows"]] == [
        "stream",
        "invoke",
        "invoke_stream",
    ]
    # botocore's Invoke and InvokeWithResponseStream went through the proxy lstream
    # chose (absolute-form, with the proxy's credentials), as did the URL mode.
    api = ep.lambda_api.rstrip("/")
    assert f"POST {api}/2015-03-31/functions/lstream-emulator/invocations HTTP/1.1" in lines
    assert (
        f"POST {api}/2021-11-15/functions/lstream-emulator/response-streaming-invocations HTTP/1.1"
        in lines
    )
    assert f"GET {ep.stream}/?size=1000 HTTP/1.1" in lines
    assert len(lines) == 3


@pytest.mark.parametrize(
    ("env", "flags"),
    [({"NO_PROXY": "localhost"}, ()), ({"NO_PROXY": "other"}, ("--noproxy", ".localhost"))],
)
def test_url_modes_honour_no_proxy(
    env: dict[str, str], flags: tuple[str, ...], tinyproxy: Tinyproxy, https_origin: Origin
) -> None:
    mark = tinyproxy.mark()
    url = https_origin.url("/ok", host="localhost")
    proc = lstream(
        "compare-modes", "--stream", url, "--sizes", "1kB", "--no-warmup", "-s", "--auth", "none",
        "--cacert", https_origin.ca_file, *flags, env={"HTTPS_PROXY": tinyproxy.url, **env},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert tinyproxy.requests_since(mark) == []


def test_the_lambda_api_honours_no_proxy(
    tinyproxy: Tinyproxy, tmp_path: Path, aws_creds: dict[str, str]
) -> None:
    with running_emulator(EmulatorConfig(throttle=False)) as ep:
        mark = tinyproxy.mark()
        proc = lstream(
            "compare-modes", "--invoke", "lstream-emulator", "--endpoint-url", ep.lambda_api,
            "--sizes", "1kB", "--no-warmup", "-s",
            env={"HTTP_PROXY": tinyproxy.url, "NO_PROXY": "localhost,127.0.0.1"},
        )  # fmt: skip
        assert tinyproxy.requests_since(mark) == []
    assert proc.returncode == 0, proc.stderr


def test_the_embedded_emulator_is_never_proxied(tinyproxy: Tinyproxy, tmp_path: Path) -> None:
    """lstream's own loopback server: no proxy could reach it, none is used."""
    mark = tinyproxy.mark()
    proc = lstream(
        "compare-modes", "--sizes", "1kB", "--no-warmup", "--time-scale", "100", "-s",
        "--json", str(tmp_path / "e.json"),
        env={"HTTP_PROXY": tinyproxy.url, "HTTPS_PROXY": tinyproxy.url},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    lines = tinyproxy.requests_since(mark)
    assert lines == []  # the emulator's API Gateway front included


def test_an_unusable_proxy_is_exit_2(https_origin: Origin) -> None:
    proc = lstream(
        "compare-modes", "--stream", https_origin.url("/ok"), "--sizes", "1kB",
        env={"HTTPS_PROXY": f"socks5://u:{PASSWORD}@127.0.0.1:1080"},
    )  # fmt: skip
    assert proc.returncode == 2
    assert "SOCKS proxies are not supported" in one_error_line(proc)
    no_secret(proc)


@pytest.mark.parametrize("trusted", [True, False])
def test_the_botocore_client_gets_the_bundle_and_the_proxy(
    trusted: bool,
    tinyproxy: Tinyproxy,
    https_origin: Origin,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    """botocore's client verifies with the bundle lstream chose, through the proxy
    lstream chose: the origin is no Lambda API, so a verified call gets an
    HTTP error back, an unverified one an SSL error."""
    import trustme
    from botocore.exceptions import ClientError, SSLError

    bundle = https_origin.ca_file
    if not trusted:
        bundle = str(tmp_path / "other.pem")
        trustme.CA().cert_pem.write_to_path(bundle)
    monkeypatch.setenv("AWS_CA_BUNDLE", bundle)
    monkeypatch.setenv("HTTPS_PROXY", tinyproxy.url)
    endpoint = https_origin.url("/", host="localhost")
    network = resolve_network(endpoint)
    verify, proxies = network.for_botocore(endpoint)
    assert verify == bundle
    assert proxies == (("https", tinyproxy.url),)
    target = InvokeTarget(
        function="f", region="us-east-1", endpoint_url=endpoint,
        static_credentials=("AKIDEXAMPLE", "secret"), verify=verify, proxies=proxies,
    )  # fmt: skip
    monkeypatch.delenv("HTTPS_PROXY")  # what botocore gets is the Config, not the environment
    client = make_lambda_client(target)
    mark = tinyproxy.mark()
    with pytest.raises(ClientError if trusted else SSLError):
        client.invoke(FunctionName="f", Payload=b"{}")
    client.close()
    # urllib3 (under botocore) says HTTP/1.0 in its CONNECT
    assert f"CONNECT localhost:{https_origin.server.port} HTTP/1.0" in tinyproxy.requests_since(
        mark
    )


def test_botocore_goes_direct_when_no_proxy_matches(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.corp:3128")
    monkeypatch.setenv("NO_PROXY", ".amazonaws.com")
    network = resolve_network("https://lambda.us-east-1.amazonaws.com/")
    verify, proxies = network.for_botocore("https://lambda.us-east-1.amazonaws.com/")
    assert verify is None  # nothing configured: botocore's own default bundle
    assert proxies == ()  # direct: botocore must not look the environment up again
    assert resolve_network("https://x/", insecure=True).for_botocore("https://x/")[0] is False


def test_only_the_proxies_that_apply_are_checked(
    tinyproxy: Tinyproxy, https_origin: Origin, tmp_path: Path
) -> None:
    """HTTP_PROXY set for other tools (a SOCKS one) does not stop an https-only sweep,
    nor the embedded emulator, which is never proxied."""
    url = https_origin.url("/ok")
    env = {"HTTP_PROXY": "socks5://other-tool:1080", "HTTPS_PROXY": tinyproxy.url}
    proc = lstream(
        "compare-modes", "--stream", url, "--sizes", "1kB", "--no-warmup", "-s",
        "--cacert", https_origin.ca_file, "--auth", "none", env=env,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    proc = lstream(
        "compare-modes", "--sizes", "1kB", "--no-warmup", "--time-scale", "100", "-s",
        env={"HTTPS_PROXY": "socks5://other-tool:1080", "HTTP_PROXY": "socks5://x:1"},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
