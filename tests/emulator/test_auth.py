"""--auth iam: SigV4 from real clients (lstream's signer, curl, botocore) and refusals."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import botocore.session
import httpx
import pytest
from botocore.config import Config
from botocore.credentials import Credentials
from conftest import ACCESS_KEY, SECRET_KEY, SESSION_TOKEN, lookup

from lstream_cli._exitcodes import UsageError
from lstream_cli.cli import run
from lstream_cli.emulator import EmulatorConfig, Endpoints, RequestLog, running_emulator
from lstream_cli.emulator.handlers import expected_body
from lstream_cli.signing import Signer

FORBIDDEN = {"Message": "Forbidden"}


@pytest.fixture(scope="module")
def iam() -> Iterator[tuple[Endpoints, list[RequestLog]]]:
    logs: list[RequestLog] = []
    config = EmulatorConfig(auth="iam", credentials=lookup, throttle=False, log=logs.append)
    with running_emulator(config) as endpoints:
        yield endpoints, logs


def signed_get(
    url: str, secret: str = SECRET_KEY, token: str | None = SESSION_TOKEN
) -> httpx.Response:
    signer = Signer(Credentials(ACCESS_KEY, secret, token), "us-east-1", "lambda")
    return httpx.get(url, headers=signer.sign("GET", url))


def test_signed_requests_pass(iam: tuple[Endpoints, list[RequestLog]]) -> None:
    emu, _ = iam
    for base in (emu.stream, emu.buffered):
        r = signed_get(base + "/some/path?size=1000&b=x%20y")
        assert r.status_code == 200
        assert r.content == expected_body(1000)


def test_signed_post_with_body_passes(iam: tuple[Endpoints, list[RequestLog]]) -> None:
    emu, _ = iam
    url = emu.buffered + "/?size=10"
    body = b'{"hello": "world"}'
    signer = Signer(Credentials(ACCESS_KEY, SECRET_KEY, SESSION_TOKEN), "us-east-1", "lambda")
    headers = signer.sign("POST", url, {"content-type": "application/json"}, body=body)
    r = httpx.post(url, content=body, headers={"content-type": "application/json", **headers})
    assert r.status_code == 200
    # The same signature over a different body is refused.
    r = httpx.post(
        url, content=b'{"hello": "there"}', headers={"content-type": "application/json", **headers}
    )
    assert r.status_code == 403


def test_unsigned_and_badly_signed_requests_get_403(
    iam: tuple[Endpoints, list[RequestLog]],
) -> None:
    emu, logs = iam
    logs.clear()
    for base in (emu.stream, emu.buffered):
        r = httpx.get(base + "/?size=10")
        assert r.status_code == 403
        assert r.json() == FORBIDDEN
        r = signed_get(base + "/?size=10", secret="not-the-secret")
        assert (r.status_code, r.json()) == (403, FORBIDDEN)
        r = signed_get(base + "/?size=10", token="wrong-token")
        assert r.status_code == 403
    text = " ".join(repr(log) for log in logs)
    assert SECRET_KEY not in text
    assert SESSION_TOKEN not in text
    assert all(log.status == 403 for log in logs)


def test_tampered_query_is_refused(iam: tuple[Endpoints, list[RequestLog]]) -> None:
    emu, _ = iam
    url = emu.stream + "/?size=10"
    signer = Signer(Credentials(ACCESS_KEY, SECRET_KEY, SESSION_TOKEN), "us-east-1", "lambda")
    headers = signer.sign("GET", url)
    assert httpx.get(emu.stream + "/?size=11", headers=headers).status_code == 403


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is installed by .ci/run")
def test_curl_aws_sigv4_passes(iam: tuple[Endpoints, list[RequestLog]]) -> None:
    emu, _ = iam
    out = subprocess.run(
        [
            "curl",
            "-sS",
            "--fail-with-body",
            "--aws-sigv4",
            "aws:amz:us-east-1:lambda",
            "--user",
            f"{ACCESS_KEY}:{SECRET_KEY}",
            "-H",
            f"x-amz-security-token: {SESSION_TOKEN}",
            emu.stream + "/curl/path?q=a&size=2000",  # curl 7.x does not sort the query
        ],
        capture_output=True,
        timeout=30,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout == expected_body(2000)


def test_botocore_lambda_client_passes_with_the_right_keys(
    iam: tuple[Endpoints, list[RequestLog]],
) -> None:
    emu, _ = iam

    def client(secret: str) -> Any:
        return botocore.session.get_session().create_client(
            "lambda",
            region_name="us-east-1",
            endpoint_url=emu.lambda_api,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=secret,
            aws_session_token=SESSION_TOKEN,
            config=Config(retries={"max_attempts": 1}),
        )

    good = client(SECRET_KEY)
    out = good.invoke(FunctionName="f", Payload=json.dumps({"size": 5}))
    assert out["Payload"].read() == expected_body(5)
    stream = good.invoke_with_response_stream(FunctionName="f", Payload=b'{"size": 7}')
    body = b"".join(
        e["PayloadChunk"]["Payload"] for e in stream["EventStream"] if "PayloadChunk" in e
    )
    assert body == expected_body(7)
    bad = client("wrong-secret")
    with pytest.raises(bad.exceptions.ClientError) as info:
        bad.invoke(FunctionName="f", Payload=b"{}")
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    good.close()
    bad.close()


def test_apigw_in_front_of_an_iam_function_url_needs_no_signature(
    iam: tuple[Endpoints, list[RequestLog]],
) -> None:
    emu, _ = iam
    assert httpx.get(emu.apigw + "/?size=10").content == expected_body(10)
    assert httpx.get(emu.apigw_stream + "/?size=10").content == expected_body(10)


def test_the_internal_header_cannot_be_forged(iam: tuple[Endpoints, list[RequestLog]]) -> None:
    emu, _ = iam
    r = httpx.get(emu.stream + "/?size=10", headers={"x-lstream-apigw": "guess"})
    assert r.status_code == 403


def test_iam_without_credentials_is_a_usage_error() -> None:
    # The autouse fixture leaves no credentials anywhere in the chain.
    with (
        pytest.raises(UsageError, match="--auth iam"),
        running_emulator(EmulatorConfig(auth="iam")),
    ):
        pass


def test_lstream_get_against_an_iam_emulator(
    aws_creds: dict[str, str], capfd: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """The emulator accepts what the caller's own credential chain resolves."""

    def lookup(key: str) -> tuple[str, str | None] | None:
        if key == aws_creds["AWS_ACCESS_KEY_ID"]:
            return aws_creds["AWS_SECRET_ACCESS_KEY"], aws_creds["AWS_SESSION_TOKEN"]
        return None

    config = EmulatorConfig(auth="iam", credentials=lookup, throttle=False)
    with running_emulator(config) as ep:
        out = tmp_path / "body.bin"
        assert run(["get", ep.stream + "/?size=100000", "-o", str(out)]) == 0
        assert out.stat().st_size == 100000
        assert run(["get", ep.stream + "/?size=10", "--auth", "none", "-o", str(out)]) == 3
    err = capfd.readouterr().err
    assert aws_creds["AWS_SECRET_ACCESS_KEY"] not in err
    assert aws_creds["AWS_SESSION_TOKEN"] not in err


def test_iam_event_names_the_caller() -> None:
    handlers = Path(__file__).with_name("emu_test_handlers.py")
    config = EmulatorConfig(auth="iam", credentials=lookup, handler=f"{handlers}:echo_event")
    with running_emulator(config) as emu:
        r = signed_get(emu.stream + "/who")
        assert r.status_code == 201
        context = r.json()["event"]["requestContext"]
    assert context["authorizer"]["iam"]["accessKey"] == ACCESS_KEY
    assert SECRET_KEY not in r.text
