"""``get -L``: redirects followed as curl does, credentials kept to their origin.

The user's view is the process: most tests run ``python -m lstream_cli get``
against two scripted servers on loopback (two ports: two origins).
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest

from lstream_cli._exitcodes import ExitStatus
from lstream_cli.redirects import next_request, origin, redirect_target, signer_for
from lstream_cli.request import RequestSpec
from lstream_cli.signing import Signer
from tests.scripted_server import RawRequest, ScriptedServer, scripted_server

LSTREAM = [sys.executable, "-m", "lstream_cli"]


@pytest.fixture(scope="module")
def server() -> Iterator[ScriptedServer]:
    with scripted_server() as s:
        yield s


@pytest.fixture(scope="module")
def other() -> Iterator[ScriptedServer]:
    """A second origin (another port on 127.0.0.1)."""
    with scripted_server() as s:
        yield s


def lstream(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    import os

    return subprocess.run(
        [*LSTREAM, *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
    )


def headers_of(req: RawRequest) -> dict[str, str]:
    return {k.lower(): v for k, v in req.headers}


def test_without_location_a_redirect_exits_3_and_names_its_target(
    server: ScriptedServer, tmp_path: Path
) -> None:
    out = tmp_path / "body"
    proc = lstream("get", f"{server.base}/redirect?to=/echo", "--auth", "none", "-o", str(out))
    assert proc.returncode == ExitStatus.HTTP_ERROR == 3
    assert "lstream: error: the server answered HTTP 302: redirect to " in proc.stderr
    assert f"{server.base}/echo; use -L to follow" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert out.read_bytes() == b"moved"  # the answer asked for is the 302's body


def test_location_follows_to_the_final_answer(server: ScriptedServer, tmp_path: Path) -> None:
    out, res = tmp_path / "body", tmp_path / "r.json"
    url = f"{server.base}/redirect?n=3&to=/echo"
    proc = lstream("get", url, "-L", "--auth", "none", "-o", str(out), "--json", str(res))
    assert proc.returncode == 0, proc.stderr
    assert out.read_bytes() == b"GET /echo\n"  # only the final body, not the three "moved"
    doc = json.loads(res.read_text())
    assert doc["status"] == 200 and doc["redirects"] == 3
    assert doc["effective_url"] == f"{server.base}/echo"
    assert doc["url"] == url
    assert doc["redirect_ms"] is not None and doc["redirect_ms"] > 0
    assert doc["bytes"] == len(b"GET /echo\n")  # the figures are the final request's
    assert "redirects  3 followed" in proc.stderr


def test_max_redirs_stops_with_exit_3(server: ScriptedServer) -> None:
    before = len(server.requests)
    url = f"{server.base}/redirect?n=5&to=/echo"
    proc = lstream("get", url, "-L", "--max-redirs", "2", "--auth", "none", "-o", "/dev/null")
    assert proc.returncode == ExitStatus.HTTP_ERROR
    assert "stopped after 2 redirects (--max-redirs 2): HTTP 302 to" in proc.stderr
    assert len(server.requests) - before == 3  # the first request and two redirects


@pytest.mark.parametrize(
    ("code", "method", "sent_method", "body_kept"),
    [
        (303, "POST", "GET", False),
        (302, "POST", "GET", False),
        (301, "POST", "GET", False),
        (307, "POST", "POST", True),
        (308, "PUT", "PUT", True),
        (302, "PUT", "PUT", True),  # curl changes only a POST on 301/302
    ],
)
def test_method_and_body_after_a_redirect_as_curl(
    server: ScriptedServer,
    tmp_path: Path,
    code: int,
    method: str,
    sent_method: str,
    body_kept: bool,
) -> None:
    out = tmp_path / "body"
    url = f"{server.base}/redirect?code={code}&to=/echo"
    args = ["get", url, "-L", "-X", method, "-d", "payload", "--auth", "none", "-o", str(out)]
    proc = lstream(*args)
    assert proc.returncode == 0, proc.stderr
    expected = f"{sent_method} /echo\n".encode() + (b"payload" if body_kept else b"")
    assert out.read_bytes() == expected
    final = server.requests[-1]
    assert final.method == sent_method and final.target == "/echo"
    assert ("content-length" in headers_of(final)) == body_kept


def test_secrets_never_go_to_another_origin(
    server: ScriptedServer, other: ScriptedServer, tmp_path: Path
) -> None:
    to_other = quote(f"{other.base}/echo", safe="")
    # Same origin first (the secrets stay), then to the other one (they go).
    url = f"{server.base.replace('://', '://me:hunter2pw@')}/redirect?n=2&to={to_other}"
    before_here, before_there = len(server.requests), len(other.requests)
    proc = lstream(
        "get", url, "-L", "-v", "--auth", "none", "-o", "/dev/null",
        "-H", "x-api-key: KEY-SECRET-1", "-H", "x-origin-secret: ORIGIN-SECRET-2",
        "-H", "Cookie: session=COOKIE-3", "-H", "x-trace: visible",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    here = server.requests[before_here:]
    there = other.requests[before_there:]
    assert len(here) == 2 and len(there) == 1
    basic = "Basic " + base64.b64encode(b"me:hunter2pw").decode()
    for req in here:  # the origin the user named gets what the user gave
        h = headers_of(req)
        assert h["authorization"] == basic and h["x-api-key"] == "KEY-SECRET-1"
        assert h["x-origin-secret"] == "ORIGIN-SECRET-2" and h["cookie"] == "session=COOKIE-3"
    h = headers_of(there[0])
    for name in ("authorization", "x-api-key", "x-origin-secret", "cookie"):
        assert name not in h
    assert h["x-trace"] == "visible"  # an ordinary header still goes, as curl sends it
    # -v says what was held back, and shows no secret.
    assert "not forwarded: x-api-key, x-origin-secret, Cookie, Authorization" in proc.stderr
    for secret in ("hunter2pw", "KEY-SECRET-1", "ORIGIN-SECRET-2", "COOKIE-3"):
        assert secret not in proc.stderr
    assert "> Authorization: Basic <redacted>" in proc.stderr


def test_signed_request_is_resigned_on_its_origin_and_not_sent_elsewhere(
    server: ScriptedServer, other: ScriptedServer, aws_creds: dict[str, str]
) -> None:
    to_other = quote(f"{other.base}/echo", safe="")
    url = f"{server.base}/redirect?n=2&to={to_other}"
    before_here, before_there = len(server.requests), len(other.requests)
    proc = lstream("get", url, "-L", "--auth", "iam", "--region", "us-east-1", "-o", "/dev/null")
    assert proc.returncode == 0, proc.stderr
    first, second = server.requests[before_here:]
    a, b = headers_of(first)["authorization"], headers_of(second)["authorization"]
    assert a.startswith("AWS4-HMAC-SHA256") and b.startswith("AWS4-HMAC-SHA256")
    assert a != b  # signed again, for the new path
    h = headers_of(other.requests[before_there])
    assert not any(k == "authorization" or k.startswith("x-amz-") for k in h)


def test_redirect_target_is_redacted_in_the_message(server: ScriptedServer) -> None:
    to = quote("/echo?X-Amz-Signature=feedfacecafe&X-Amz-Security-Token=TOKENSECRET", safe="")
    proc = lstream("get", f"{server.base}/redirect?to={to}", "--auth", "none", "-o", "/dev/null")
    assert proc.returncode == ExitStatus.HTTP_ERROR
    assert "X-Amz-Signature=<redacted>" in proc.stderr
    assert "feedfacecafe" not in proc.stderr and "TOKENSECRET" not in proc.stderr


def test_redirect_rules_unit() -> None:
    assert redirect_target("http://h/a/b", 302, (("Location", "c"),)) == "http://h/a/c"
    assert redirect_target("http://h/a", 301, (("location", "//o:81/x#frag"),)) == "http://o:81/x"
    assert redirect_target("http://h/a", 200, (("location", "/x"),)) is None
    assert redirect_target("http://h/a", 302, ()) is None
    assert origin("https://H:443/x") == origin("https://h/y")
    assert origin("http://h/") != origin("https://h/")
    spec = RequestSpec("http://h/", method="POST", body=b"x", headers=(("Content-Length", "1"),))
    nxt, dropped = next_request(spec, 303, "http://h/next")
    assert (nxt.method, nxt.body, nxt.headers, dropped) == ("GET", None, (), ())
    head = RequestSpec("http://h/", method="HEAD")
    assert next_request(head, 303, "http://h/n")[0].method == "HEAD"


def test_signer_for_keeps_credentials_to_aws_hosts() -> None:
    from botocore.credentials import Credentials

    first = Signer(Credentials("AKID", "secret"), "us-east-1", "lambda", source="test")
    url = "https://abc.lambda-url.us-east-1.on.aws/x"
    assert signer_for(first, url, "https://abc.lambda-url.us-east-1.on.aws/y") is first
    moved = signer_for(first, url, "https://def.lambda-url.eu-west-1.on.aws/")
    assert moved is not None and moved.region == "eu-west-1"
    assert signer_for(first, url, "https://example.com/") is None
    assert signer_for(first, url, "http://abc.lambda-url.us-east-1.on.aws/x") is None
    assert signer_for(None, url, url) is None


def test_a_403_after_leaving_the_signature_behind_says_so(
    server: ScriptedServer, other: ScriptedServer, aws_creds: dict[str, str]
) -> None:
    to_other = quote(f"{other.base}/status?code=403", safe="")
    url = f"{server.base}/redirect?to={to_other}"
    proc = lstream("get", url, "-L", "--auth", "iam", "-o", "/dev/null")
    assert proc.returncode == ExitStatus.HTTP_ERROR
    text = " ".join(proc.stderr.split())
    assert "403 without a signature" in text
    assert "-L followed a redirect to another host, which gets no signature" in text
