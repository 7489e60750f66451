"""The proxy choice as the client core's routes, and the request bytes it gives."""

from __future__ import annotations

import base64

import pytest

from lstream_cli.engine.core import Origin, RequestTemplate, SetupError
from lstream_cli.engine.routes import ConnectStep, route_picker, trust_for
from lstream_cli.models import ErrorClass
from lstream_cli.net.options import resolve_network
from lstream_cli.net.proxy import Proxy
from lstream_cli.request import RequestSpec

ENV = {"HTTPS_PROXY": "http://alice:s3cret@proxy.corp:3128", "HTTP_PROXY": "http://plain:8080"}


def test_https_goes_through_a_connect_step_per_connection() -> None:
    pick = route_picker(resolve_network("http://x/", environ=ENV))
    route = pick(Origin("https", "api.example.com", 443))
    assert (route.host, route.port, route.absolute_form, route.headers) == (
        "proxy.corp",
        3128,
        False,
        (),
    )
    assert route.label == "http://alice:<redacted>@proxy.corp:3128 (from HTTPS_PROXY)"
    assert route.tunnel is not None
    first, second = route.tunnel(), route.tunnel()
    assert first is not second  # each connection reads its own answer
    request = first.request()
    assert request.startswith(
        b"CONNECT api.example.com:443 HTTP/1.1\r\nHost: api.example.com:443\r\n"
    )
    assert b"Proxy-Authorization: Basic " + base64.b64encode(b"alice:s3cret") in request
    assert first.feed(b"HTTP/1.1 200 Connection established\r\n") is False
    assert second.feed(b"HTTP/1.1 200 OK\r\n\r\n") is True  # not mixed up with the first
    assert first.feed(b"\r\n") is True


def test_plain_http_goes_absolute_form_with_the_credentials() -> None:
    env = {"HTTP_PROXY": "http://bob:pw@plain:8080"}
    spec = RequestSpec(
        "http://origin.test:9000/a/b?c=d",
        auth="none",
        network=resolve_network("http://origin.test:9000/", environ=env),
    )
    template = RequestTemplate(spec, None, route_for=route_picker(spec.network))  # type: ignore[arg-type]
    head = template.bytes().decode()
    assert head.startswith(
        "GET http://origin.test:9000/a/b?c=d HTTP/1.1\r\nHost: origin.test:9000\r\n"
    )
    assert f"Proxy-Authorization: Basic {base64.b64encode(b'bob:pw').decode()}\r\n" in head
    assert (template.route.host, template.route.port) == ("plain", 8080)


def test_no_proxy_is_a_direct_route() -> None:
    network = resolve_network("http://x/", environ={**ENV, "NO_PROXY": ".example.com"})
    route = route_picker(network)(Origin("https", "api.example.com", 443))
    assert (route.host, route.port, route.tunnel, route.label) == (
        "api.example.com",
        443,
        None,
        None,
    )


def test_an_ipv6_origin_is_bracketed_for_the_choice_and_the_connect() -> None:
    network = resolve_network("http://x/", environ={"HTTPS_PROXY": "http://[::1]:3128"})
    route = route_picker(network)(Origin("https", "::1", 8443))
    assert (route.host, route.port) == ("::1", 3128)
    assert route.tunnel is not None
    assert route.tunnel().request().startswith(b"CONNECT [::1]:8443 HTTP/1.1\r\n")


def test_a_refusal_is_a_connect_setup_error_with_the_status() -> None:
    step = ConnectStep(Proxy("127.0.0.1", 3128, "HTTPS_PROXY"), "h", 443)
    with pytest.raises(SetupError) as info:
        step.feed(b"HTTP/1.1 407 Proxy Authentication Required\r\n\r\n")
    assert info.value.error is ErrorClass.CONNECT
    assert "answered CONNECT h:443 with HTTP 407" in str(info.value)


def test_trust_is_resolved_for_https_and_not_for_plain_http(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    http = resolve_network("http://x/")
    assert http.trust is None and trust_for(http, "http://x/", insecure=False) is None
    https = resolve_network("https://x/")
    trust = trust_for(https, "https://x/", insecure=False)
    assert trust is https.trust is not None
    # a plain-http run that is sent to https later (a redirect) still gets the trust
    assert trust_for(http, "https://x/", insecure=False) == trust
