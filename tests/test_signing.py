"""The client's SigV4 path: what is signed, with which region and credentials."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from botocore.credentials import Credentials, RefreshableCredentials

from lstream_cli._exitcodes import UsageError
from lstream_cli.request import RequestSpec, prepare_auth
from lstream_cli.signing import (
    RegionError,
    Signer,
    canonical_query_pairs,
    load_session,
    redact_headers,
    region_from_url,
    resolve_region,
    wire_url,
)

CREDS = Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "token-SECRET")


@pytest.mark.parametrize(
    ("url", "region"),
    [
        ("https://abcdef123.lambda-url.us-east-1.on.aws/", "us-east-1"),
        ("https://abcdef123.lambda-url.eu-west-2.on.aws/path?q=1", "eu-west-2"),
        ("https://ABC.LAMBDA-URL.AP-SOUTHEAST-2.ON.AWS/", "ap-southeast-2"),
        ("http://127.0.0.1:9000/", None),
        ("https://example.com/", None),
        ("https://x.execute-api.us-east-1.amazonaws.com/prod", "us-east-1"),
        ("https://lambda.eu-west-1.amazonaws.com/", "eu-west-1"),
        ("http://u:pw@[::1/?x", None),
    ],
)
def test_region_from_url(url: str, region: str | None) -> None:
    assert region_from_url(url) == region


def test_region_order_flag_then_url_then_profile(monkeypatch: pytest.MonkeyPatch) -> None:
    url = "https://abc.lambda-url.eu-west-1.on.aws/"
    monkeypatch.setenv("AWS_DEFAULT_REGION", "sa-east-1")
    session = load_session(None)
    assert resolve_region(url, "us-west-2", session) == "us-west-2"
    assert resolve_region(url, None, session) == "eu-west-1"
    assert resolve_region("http://127.0.0.1:9000/", None, session) == "sa-east-1"
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    with pytest.raises(RegionError, match="--region"):
        resolve_region("http://127.0.0.1:9000/", None, load_session(None))


def test_profile_region_from_config_file(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    cfg = os.environ["AWS_CONFIG_FILE"]
    with open(cfg, "w") as fh:
        fh.write("[profile dev]\nregion = ca-central-1\n")
    assert resolve_region("http://127.0.0.1/", None, load_session("dev")) == "ca-central-1"


@pytest.mark.parametrize(
    ("query", "pairs"),
    [
        ("", []),
        ("a=1&b=2", [("a", "1"), ("b", "2")]),
        ("b=2&a=1", [("b", "2"), ("a", "1")]),  # order kept; botocore sorts
        ("flag&x=", [("flag", ""), ("x", "")]),
        ("k=1&k=0", [("k", "1"), ("k", "0")]),
        ("t=a%20b&c=1:2", [("t", "a b"), ("c", "1:2")]),
        ("u=%C3%BC", [("u", "ü")]),
        ("p=a+b", [("p", "a+b")]),  # plus is literal
        ("a=1&&b=2", [("a", "1"), ("b", "2")]),
    ],
)
def test_canonical_query_pairs(query: str, pairs: list[tuple[str, str]]) -> None:
    assert canonical_query_pairs(query) == pairs


@pytest.mark.parametrize(
    ("url", "wire"),
    [
        ("http://h/a b", "http://h/a%20b"),
        ("http://h/ü?x=ü", "http://h/%C3%BC?x=%C3%BC"),
        ("http://h/p?x=1:2&b=c d", "http://h/p?x=1:2&b=c%20d"),
        ("http://h", "http://h"),
    ],
)
def test_wire_url_matches_httpx(url: str, wire: str) -> None:
    assert wire_url(url) == wire


def test_signed_headers_for_get_and_post() -> None:
    signer = Signer(CREDS, "us-east-1")
    get = signer.sign("GET", "https://abc.lambda-url.us-east-1.on.aws/x?b=2&a=1")
    assert get["Authorization"].startswith("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/")
    assert "/us-east-1/lambda/aws4_request" in get["Authorization"]
    assert "SignedHeaders=host;x-amz-date;x-amz-security-token" in get["Authorization"]
    assert get["X-Amz-Security-Token"] == "token-SECRET"
    assert "x-amz-content-sha256" not in get
    post = signer.sign("POST", "https://abc.lambda-url.us-east-1.on.aws/x", body=b"hello")
    import hashlib

    assert post["x-amz-content-sha256"] == hashlib.sha256(b"hello").hexdigest()
    assert "x-amz-content-sha256" in post["Authorization"].split("SignedHeaders=")[1]


def test_signature_cache_per_second(monkeypatch: pytest.MonkeyPatch) -> None:
    import lstream_cli.signing as signing

    clock = [1_700_000_000.2]
    monkeypatch.setattr(signing.time, "time", lambda: clock[0])
    calls = []
    import botocore.auth

    real = botocore.auth.SigV4Auth.add_auth

    def counting(self: Any, request: Any) -> None:
        calls.append(1)
        real(self, request)

    monkeypatch.setattr(botocore.auth.SigV4Auth, "add_auth", counting)
    signer = Signer(CREDS, "us-east-1")
    a = signer.sign("GET", "http://h/x")
    b = signer.sign("GET", "http://h/x")
    assert a == b and len(calls) == 1
    signer.sign("GET", "http://h/other")
    assert len(calls) == 2
    clock[0] += 1.0
    signer.sign("GET", "http://h/x")
    assert len(calls) == 3


def test_refreshable_credentials_are_read_at_each_signing() -> None:
    generation = [0]

    def refresh() -> dict[str, str]:
        generation[0] += 1
        expiry = dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=1)  # always stale
        return {
            "access_key": f"AKIDGEN{generation[0]}",
            "secret_key": "s",
            "token": f"tok{generation[0]}",
            "expiry_time": expiry.isoformat(),
        }

    creds = RefreshableCredentials.create_from_metadata(refresh(), refresh, "test")
    signer = Signer(creds, "us-east-1")
    first = signer.sign("GET", "http://h/x")
    second = signer.sign("GET", "http://h/x")
    assert first["X-Amz-Security-Token"] != second["X-Amz-Security-Token"]
    assert "AKIDGEN" in second["Authorization"]


def test_redaction() -> None:
    headers = [
        (
            "Authorization",
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20260101/us-east-1/lambda/"
            "aws4_request, SignedHeaders=host, Signature=abcdef0123",
        ),
        ("X-Amz-Security-Token", "token-SECRET"),
        ("x-origin-verify", "s3cr3t"),
        ("accept", "*/*"),
    ]
    out = dict(redact_headers(headers, frozenset({"x-origin-verify"})))
    text = repr(out)
    assert "abcdef0123" not in text and "token-SECRET" not in text and "s3cr3t" not in text
    assert "AKIDEXAMPLE" not in text
    assert out["accept"] == "*/*"
    assert "us-east-1/lambda/aws4_request" in out["Authorization"]


def test_prepare_auth_modes(aws_creds: dict[str, str]) -> None:
    url = "https://abc.lambda-url.us-east-1.on.aws/"
    assert prepare_auth(RequestSpec(url, auth="none")) is None
    signer = prepare_auth(RequestSpec(url, auth="auto"))
    assert signer is not None and signer.region == "us-east-1" and signer.service == "lambda"
    custom = prepare_auth(RequestSpec(url, auth="iam", service="execute-api", region="eu-west-1"))
    assert custom is not None and custom.service == "execute-api" and custom.region == "eu-west-1"


def test_prepare_auth_auto_without_credentials_is_unsigned() -> None:
    assert prepare_auth(RequestSpec("https://abc.lambda-url.us-east-1.on.aws/")) is None
    with pytest.raises(UsageError, match="no AWS credentials"):
        prepare_auth(RequestSpec("https://abc.lambda-url.us-east-1.on.aws/", auth="iam"))


def test_credentials_from_shared_file_and_profile(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    with open(os.environ["AWS_SHARED_CREDENTIALS_FILE"], "w") as fh:
        fh.write("[dev]\naws_access_key_id = AKIDFROMFILE\naws_secret_access_key = sk\n")
    signer = prepare_auth(
        RequestSpec("https://abc.lambda-url.us-east-1.on.aws/", auth="iam", profile="dev")
    )
    assert signer is not None
    assert (
        "AKIDFROMFILE"
        in signer.sign("GET", "https://abc.lambda-url.us-east-1.on.aws/")["Authorization"]
    )


def test_env_keys_sign_as_the_whole_chain_would(
    aws_creds: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Keys in the environment, no --profile: the same signer without a botocore session."""
    import os

    from lstream_cli.credentials import resolve_credentials

    spec = RequestSpec(url="http://127.0.0.1:9000/", auth="iam")
    quick = prepare_auth(spec)
    chain = resolve_credentials(load_session(None), metadata=True)
    assert quick is not None and chain is not None
    assert (quick.region, quick.source) == ("us-east-1", chain.describe())
    assert quick.credentials.get_frozen_credentials() == chain.credentials.get_frozen_credentials()
    # No region in the environment: the profile's (read through a session) is used.
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    with open(os.environ["AWS_CONFIG_FILE"], "w") as fh:
        fh.write("[default]\nregion = ca-central-1\n")
    from_profile = prepare_auth(spec)
    assert from_profile is not None and from_profile.region == "ca-central-1"
    # The URL's region wins over the environment's, as everywhere.
    monkeypatch.setenv("AWS_REGION", "eu-west-3")
    aws = prepare_auth(RequestSpec(url="https://x.lambda-url.ap-south-1.on.aws/", auth="iam"))
    assert aws is not None and aws.region == "ap-south-1"
    assert prepare_auth(spec).region == "eu-west-3"  # type: ignore[union-attr]
