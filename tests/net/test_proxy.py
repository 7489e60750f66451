"""Proxy selection and the no-proxy list, table-tested (curl's rules)."""

from __future__ import annotations

import base64

import pytest

from lstream_cli._exitcodes import ExitStatus, UsageError
from lstream_cli.net.proxy import (
    Proxy,
    ProxySettings,
    no_proxy_matches,
    parse_proxy_url,
)


@pytest.mark.parametrize(
    ("host", "patterns", "expected"),
    [
        ("example.com", "example.com", True),
        ("api.example.com", "example.com", True),
        ("api.example.com", ".example.com", True),
        ("example.com", ".example.com", True),  # the leading dot is ignored, as curl
        ("notexample.com", "example.com", False),
        ("notexample.com", ".example.com", False),
        ("example.com.", "example.com", True),  # trailing dots do not matter
        ("example.com", "example.com.", True),
        ("EXAMPLE.com", "example.COM", True),
        ("example.org", "example.com", False),
        ("a.b.example.com", "b.example.com", True),
        ("b.example.com", "a.b.example.com", False),
        ("host", "other, host ,third", True),  # blanks and commas both separate
        ("host", "other host", True),
        ("host", ",,host,,", True),
        ("anything.at.all", "*", True),
        ("10.1.2.3", "*", True),
        ("host", "a,*", False),  # '*' means everything only on its own (curl)
        ("127.0.0.1", "127.0.0.1", True),
        ("127.0.0.2", "127.0.0.1", False),
        ("10.1.2.3", "10.0.0.0/8", True),
        ("11.1.2.3", "10.0.0.0/8", False),
        ("192.168.1.77", "192.168.1.0/24", True),
        ("::1", "::1", True),
        ("::1", "[::1]", True),
        ("fd00::5", "fd00::/8", True),
        ("fe80::5", "fd00::/8", False),
        ("::1", "127.0.0.1", False),  # families never mix
        ("127.0.0.1", "::1", False),
        ("127.0.0.1", "localhost", False),  # names never match addresses: nothing resolved
        ("localhost", "127.0.0.1", False),
        ("example.com", "example.com:443", False),  # ports: not supported (curl neither)
        ("example.com", "", False),
        ("example.com", " , ", False),
    ],
)
def test_no_proxy_list(host: str, patterns: str, expected: bool) -> None:
    assert no_proxy_matches(host, patterns) is expected


def _settings(
    env: dict[str, str], proxy: str | None = None, noproxy: str | None = None
) -> ProxySettings:
    return ProxySettings.from_environ(proxy, noproxy, env)


@pytest.mark.parametrize(
    ("scheme", "env", "flags", "expected"),
    [
        # scheme variables: lower case first, then upper case
        ("https", {"HTTPS_PROXY": "http://up:1"}, {}, ("up", 1, "HTTPS_PROXY")),
        ("https", {"https_proxy": "http://low:1"}, {}, ("low", 1, "https_proxy")),
        (
            "https",
            {"https_proxy": "http://low:1", "HTTPS_PROXY": "http://up:1"},
            {},
            ("low", 1, "https_proxy"),
        ),
        ("http", {"http_proxy": "http://low:2"}, {}, ("low", 2, "http_proxy")),
        ("http", {"HTTP_PROXY": "http://up:2"}, {}, ("up", 2, "HTTP_PROXY")),
        # a CGI program: HTTP_PROXY may be a request's Proxy: header; http_proxy still counts
        ("http", {"HTTP_PROXY": "http://up:2", "REQUEST_METHOD": "GET"}, {}, None),
        (
            "http",
            {"http_proxy": "http://low:2", "REQUEST_METHOD": "GET"},
            {},
            ("low", 2, "http_proxy"),
        ),
        (
            "https",
            {"HTTPS_PROXY": "http://up:1", "REQUEST_METHOD": "GET"},
            {},
            ("up", 1, "HTTPS_PROXY"),
        ),
        # each scheme reads its own variable only
        ("https", {"http_proxy": "http://low:2"}, {}, None),
        ("http", {"https_proxy": "http://low:1"}, {}, None),
        # ALL_PROXY when the scheme has none
        ("https", {"ALL_PROXY": "http://all:3"}, {}, ("all", 3, "ALL_PROXY")),
        (
            "http",
            {"all_proxy": "http://all:3", "ALL_PROXY": "http://ALL:4"},
            {},
            ("all", 3, "all_proxy"),
        ),
        (
            "https",
            {"ALL_PROXY": "http://all:3", "HTTPS_PROXY": "http://s:1"},
            {},
            ("s", 1, "HTTPS_PROXY"),
        ),
        # set but empty: no proxy, and ALL_PROXY is not consulted (curl)
        ("https", {"https_proxy": "", "ALL_PROXY": "http://all:3"}, {}, None),
        # --proxy wins over the environment; --proxy '' turns proxies off
        (
            "https",
            {"HTTPS_PROXY": "http://env:1"},
            {"proxy": "http://flag:9"},
            ("flag", 9, "--proxy"),
        ),
        ("https", {"HTTPS_PROXY": "http://env:1"}, {"proxy": ""}, None),
        # the no-proxy list applies to --proxy too (curl)
        ("https", {"NO_PROXY": "target"}, {"proxy": "http://flag:9"}, None),
        ("https", {"HTTPS_PROXY": "http://env:1", "NO_PROXY": "target"}, {}, None),
        (
            "https",
            {"HTTPS_PROXY": "http://env:1", "no_proxy": "target", "NO_PROXY": "other"},
            {},
            None,
        ),
        (
            "https",
            {"HTTPS_PROXY": "http://env:1", "no_proxy": "other", "NO_PROXY": "target"},
            {},
            ("env", 1, "HTTPS_PROXY"),
        ),
        # --noproxy replaces NO_PROXY (either way)
        (
            "https",
            {"HTTPS_PROXY": "http://env:1", "NO_PROXY": "target"},
            {"noproxy": ""},
            ("env", 1, "HTTPS_PROXY"),
        ),
        (
            "https",
            {"HTTPS_PROXY": "http://env:1", "NO_PROXY": "other"},
            {"noproxy": "target"},
            None,
        ),
        ("https", {"HTTPS_PROXY": "http://env:1"}, {"noproxy": "*"}, None),
        # nothing set
        ("https", {}, {}, None),
    ],
)
def test_selection(
    scheme: str, env: dict[str, str], flags: dict[str, str], expected: tuple[str, int, str] | None
) -> None:
    chosen = _settings(env, **flags).select(scheme, "target")
    if expected is None:
        assert chosen is None
    else:
        assert chosen is not None
        assert (chosen.host, chosen.port, chosen.source) == expected


def test_the_no_proxy_list_spares_a_bad_proxy_url() -> None:
    # The host goes direct: the proxy URL is never looked at (curl neither).
    assert (
        _settings({"HTTPS_PROXY": "socks5://x:1", "NO_PROXY": "target"}).select("https", "target")
        is None
    )


@pytest.mark.parametrize(
    ("text", "host", "port", "user", "password"),
    [
        ("http://proxy.corp:3128", "proxy.corp", 3128, None, None),
        ("proxy.corp:3128", "proxy.corp", 3128, None, None),  # scheme-less: http
        ("http://proxy.corp", "proxy.corp", 1080, None, None),  # curl's default port
        ("HTTP://Proxy.Corp:8080/", "proxy.corp", 8080, None, None),
        ("http://[::1]:3128", "::1", 3128, None, None),
        ("http://alice:s3cret@proxy:3128", "proxy", 3128, "alice", "s3cret"),
        ("http://alice@proxy:3128", "proxy", 3128, "alice", None),
        ("http://a%40corp:p%3Aw%2Fd@proxy:1", "proxy", 1, "a@corp", "p:w/d"),
        ("alice:pw@proxy:1", "proxy", 1, "alice", "pw"),
    ],
)
def test_proxy_urls(
    text: str, host: str, port: int, user: str | None, password: str | None
) -> None:
    proxy = parse_proxy_url(text, "--proxy")
    assert (proxy.host, proxy.port, proxy.username, proxy.password) == (host, port, user, password)


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("socks5://u:hunter2@proxy:1080", "SOCKS proxies are not supported"),
        ("socks5h://proxy:1080", "SOCKS proxies are not supported"),
        ("socks4://proxy:1080", "SOCKS proxies are not supported"),
        ("https://u:hunter2@proxy:443", "https:// proxies are not supported"),
        ("ftp://proxy:21", "the scheme 'ftp' is not supported"),
        ("http://u:hunter2@proxy:99999", "out of range"),
        ("http://u:hunter2@proxy:port", "Port could not be cast"),
        ("http://u:hunter2@[::1:3128", "Invalid IPv6 URL"),
        ("http://u:hunter2@:3128", "no host"),
        ("http://proxy:0", "the port must be 1 to 65535"),
    ],
)
def test_unusable_proxy_urls_are_usage_errors_without_the_password(text: str, why: str) -> None:
    with pytest.raises(UsageError) as info:
        parse_proxy_url(text, "HTTPS_PROXY")
    message = str(info.value)
    assert info.value.exit_status == ExitStatus.USAGE
    assert why in message
    assert "(from HTTPS_PROXY)" in message
    assert "hunter2" not in message
    assert "\n" not in message


def test_credentials_become_basic_proxy_authorization_and_are_never_displayed() -> None:
    proxy = parse_proxy_url("http://a%40corp:p%3Aw@proxy:3128", "HTTPS_PROXY")
    auth = proxy.authorization()
    assert auth is not None and auth.startswith("Basic ")
    assert base64.b64decode(auth[6:]) == b"a@corp:p:w"
    assert proxy.display() == "http://a%40corp:<redacted>@proxy:3128"
    assert "p:w" not in proxy.describe() and "(from HTTPS_PROXY)" in proxy.describe()
    assert Proxy("proxy", 1, "x").authorization() is None
    assert Proxy("::1", 8, "x").netloc == "[::1]:8"


def test_settings_are_a_snapshot_of_the_proxy_variables_only() -> None:
    env = {"HTTPS_PROXY": "http://p:1", "AWS_SECRET_ACCESS_KEY": "nope", "PATH": "/bin"}
    settings = ProxySettings.from_environ(None, None, env)
    assert settings.environ == (("HTTPS_PROXY", "http://p:1"),)
    import pickle

    assert pickle.loads(pickle.dumps(settings)) == settings


def test_no_password_in_any_repr() -> None:
    from lstream_cli.net.options import resolve_network
    from lstream_cli.request import RequestSpec

    env = {"HTTPS_PROXY": "http://u:hunter2@p:1", "NO_PROXY": "x"}
    network = resolve_network("http://h/", proxy="http://v:hunter3@q:2", environ=env)
    shown = repr(RequestSpec("http://h/", network=network)) + repr(network.route("https://h/"))
    assert "hunter2" not in shown and "hunter3" not in shown
