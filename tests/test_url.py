"""The wire form of a URL (``lstream_cli.url``), checked against httpx's on the same text.

The signature covers the URL as it goes on the wire, so the form must be
exactly the one an httpx-based client (and lstream before this parser) would
send: every URL below, and a few thousand generated ones, give the same
parts, the same text and the same refusals in both.
"""

from __future__ import annotations

import hashlib
import random
from pathlib import Path

import httpx
import pytest

from lstream_cli.credentials import may_have_credentials
from lstream_cli.signing import EMPTY_SHA256, wire_url
from lstream_cli.url import InvalidURL, parse_url

URLS = [
    "http://h/a b",
    "http://h/ü?x=ü",
    "http://h/p?x=1:2&b=c d",
    "http://h",
    "HTTP://H.EXample.COM:80/",
    "http://H.example.com:80/",
    "https://h:443/x",
    "https://h:8443/x?",
    "http://h/p?",
    "http://h/p#frag ment",
    "http://u:p w@h/",
    "http://u%3A:p@h/",
    "http://[::1]:9000/x",
    "http://[::1/",
    "http://[zz]/",
    "http://1.2.3.999/",
    "http://01.2.3.4/",
    "http://h:abc/",
    "http://h:/",
    "http://h:99999/",
    "http://h:0/",
    "http://中国.icom.museum/",
    "http://xn--fiqs8s.icom.museum/",
    "http://straße.de/",
    "http://h/a/./b/../c",
    "http://h/%zz%20%41",
    "http://h/{}`?{}`",
    'http://h/?q="<>',
    "http://h/a\tb",
    "http://h/\x7f",
    "http://h/\r\nX: y",
    "ftp://h:21/",
    "h/x",
    "//h/x",
    ":x",
    "",
    "http://h/" + "a" * 70000,
    "http://a@b@h/",
    "http://h a/",
    "http://h%41/",
    "http:h",
    "http:/h/x",
    "http:///x",
    "http://h/~!$&'()*+,;=:@",
    "http://h?x",
    "http://h#f",
    "http://h_h.example/",
    "http://h/😀",
    "http://user@h:8080",
    "https://ABC.LAMBDA-URL.US-EAST-1.ON.AWS/x?b=2&a=1",
    "http://h/%",
    "http://h/a%2",
    "http://é.example/",
    "http://[::ffff:1.2.3.4]/",
    "http://[v1.x]/",
    "http://h:8080:90/",
    "http://h/p?a=%7E&b=~",
    "http://h/\\x",
    "http://h/|^",
    "http://[::1]x/",
    "http://h.:80/",
    "https://ex.com/../../a",
    "http://h/..",
    "http://h/.",
    "http://h/a/%2e%2e/b",
]


def _httpx(url: str) -> tuple[object, ...]:
    try:
        u = httpx.URL(url)
        return (str(u), u.scheme, u.host, u.port, u.netloc.decode(), u.raw_path.decode())
    except (httpx.InvalidURL, ValueError) as exc:  # IDNAError is a ValueError
        return ("refused", str(exc))


def _ours(url: str) -> tuple[object, ...]:
    try:
        u = parse_url(url)
        return (str(u), u.scheme, u.host_text, u.port, u.netloc, u.raw_path)
    except InvalidURL as exc:
        return ("refused", str(exc))


@pytest.mark.parametrize("url", URLS, ids=[repr(u[:40]) for u in URLS])
def test_same_form_as_httpx(url: str) -> None:
    assert _ours(url) == _httpx(url)


def test_generated_urls_same_form_as_httpx() -> None:
    """Random URLs over the characters that matter (delimiters, escapes, non-ASCII)."""
    rng = random.Random(12)
    alphabet = [*"aZ09-._~!$&'()*+,;=:@/?#[]%% \"<>`{}|\\^", "%41", "%zz", "ü", "😀", ".."]
    hosts = [
        "h",
        "H.Ex",
        "127.0.0.1",
        "[::1]",
        "xn--fiqs8s",
        "bücher.de",
        "h:8080",
        "u:p@h",
        "h:80",
    ]
    for _ in range(3000):
        scheme = rng.choice(["http", "https", "HTTPS", "ftp"])
        path = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 12)))
        url = f"{scheme}://{rng.choice(hosts)}/{path}"
        assert _ours(url) == _httpx(url), url


def test_wire_form_is_stable() -> None:
    """The wire form of the wire form is itself (the template signs that one).

    Only ``HTTP://h:80/`` changes twice (its default port is kept the first
    time, as httpx keeps it), so the template parses the wire form again.
    """
    for url in URLS:
        try:
            once = wire_url(url)
        except InvalidURL:
            continue
        twice = wire_url(once)
        assert wire_url(twice) == twice
        assert twice == once or url.startswith("HTTP://"), url


def test_refusals_are_invalid_url_value_errors() -> None:
    with pytest.raises(InvalidURL, match="Invalid port"):
        parse_url("http://h:x/")
    assert issubclass(InvalidURL, ValueError)
    with pytest.raises(TypeError):
        parse_url(b"http://h/")  # type: ignore[arg-type]


def test_empty_body_hash_constant() -> None:
    assert hashlib.sha256(b"").hexdigest() == EMPTY_SHA256


@pytest.mark.parametrize(
    "variable",
    [
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "AWS_ROLE_ARN",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "AWS_CREDENTIAL_FILE",
        "AWS_PROFILE",
        "AWS_DEFAULT_PROFILE",
    ],
)
def test_any_credential_variable_means_the_chain_looks(
    variable: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert may_have_credentials(None, metadata=False) is False  # conftest: nothing anywhere
    monkeypatch.setenv(variable, "")  # set at all, even empty: the chain decides
    assert may_have_credentials(None, metadata=False) is True


@pytest.mark.parametrize("which", ["AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE", "BOTO_CONFIG"])
def test_any_credential_file_means_the_chain_looks(which: str) -> None:
    import os

    assert may_have_credentials(None, metadata=False) is False
    with open(os.environ[which], "w") as fh:
        fh.write("[default]\n")
    assert may_have_credentials(None, metadata=False) is True


def test_default_file_locations_and_boto_files(
    monkeypatch: pytest.MonkeyPatch, tmp_path: object
) -> None:
    import os
    from pathlib import Path

    home = Path(os.environ["HOME"])
    monkeypatch.delenv("AWS_CONFIG_FILE")
    monkeypatch.delenv("AWS_SHARED_CREDENTIALS_FILE")
    assert may_have_credentials(None, metadata=False) is False
    (home / ".aws").mkdir()
    (home / ".aws" / "credentials").write_text("[default]\n")
    assert may_have_credentials(None, metadata=False) is True
    (home / ".aws" / "credentials").unlink()
    monkeypatch.delenv("BOTO_CONFIG")
    (home / ".boto").write_text("[Credentials]\n")
    assert may_have_credentials(None, metadata=False) is True


def test_profile_or_metadata_means_the_chain_looks() -> None:
    assert may_have_credentials("dev", metadata=False) is True  # an unknown profile is an error
    assert may_have_credentials(None, metadata=True) is True  # IMDS, container credentials


@pytest.mark.parametrize("which", ["AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE", "BOTO_CONFIG"])
def test_a_credential_file_path_with_a_variable_is_expanded_as_botocore_does(
    which: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / "aws-files").mkdir()
    (tmp_path / "aws-files" / "creds").write_text("[default]\n")
    monkeypatch.setenv("LSTREAM_TEST_DIR", str(tmp_path))
    monkeypatch.setenv(which, "$LSTREAM_TEST_DIR/aws-files/nothing-here")
    assert may_have_credentials(None, metadata=False) is False
    monkeypatch.setenv(which, "${LSTREAM_TEST_DIR}/aws-files/creds")
    assert may_have_credentials(None, metadata=False) is True
