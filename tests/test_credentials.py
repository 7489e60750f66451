"""Credentials: no metadata probing for non-AWS hosts, broken ones as one line (exit 2).

A local metadata server (IMDSv2's token, role and credentials paths, and an
ECS-style container credentials path) stands in for the real endpoints,
which botocore is pointed at with its own settings.
"""

from __future__ import annotations

import hashlib
import http.server
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from lstream_cli._exitcodes import ExitStatus
from lstream_cli.credentials import (
    CredentialsError,
    is_aws_host,
    load_session,
    resolve_credentials,
)
from lstream_cli.signing import Signer
from tests.scripted_server import ScriptedServer, scripted_server

LSTREAM = [sys.executable, "-m", "lstream_cli"]
CONTAINER_KEY = "ASIACONTAINERKEYWXYZ"
IMDS_KEY = "ASIAINSTANCEROLE9876"
SECRET = "metadataSecretKey/SHOULD-NEVER-PRINT"


@dataclass
class Metadata:
    base: str
    paths: list[str] = field(default_factory=list)


def _creds(key: str) -> bytes:
    return json.dumps(
        {
            "Code": "Success",
            "AccessKeyId": key,
            "SecretAccessKey": SECRET,
            "Token": "metadata-session-token-SECRET",
            "Expiration": "2999-01-01T00:00:00Z",
        }
    ).encode()


@pytest.fixture
def metadata() -> Iterator[Metadata]:
    state = Metadata(base="")

    class Handler(http.server.BaseHTTPRequestHandler):
        def _reply(self, body: bytes) -> None:
            self.send_response(200)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_PUT(self) -> None:
            state.paths.append(f"PUT {self.path}")
            self._reply(b"imds-token")

        def do_GET(self) -> None:
            state.paths.append(f"GET {self.path}")
            if self.path == "/creds":
                self._reply(_creds(CONTAINER_KEY))
            elif self.path.endswith("/security-credentials/"):
                self._reply(b"lstream-role")
            elif self.path.endswith("/security-credentials/lstream-role"):
                self._reply(_creds(IMDS_KEY))
            else:
                self._reply(b"")

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def target() -> Iterator[ScriptedServer]:
    with scripted_server() as s:
        yield s


def metadata_env(md: Metadata, container: bool = True) -> dict[str, str]:
    env = {
        "AWS_EC2_METADATA_DISABLED": "false",
        "AWS_EC2_METADATA_SERVICE_ENDPOINT": md.base + "/",
        "AWS_METADATA_SERVICE_NUM_ATTEMPTS": "1",
    }
    if container:
        env["AWS_CONTAINER_CREDENTIALS_FULL_URI"] = md.base + "/creds"
    return env


def lstream(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*LSTREAM, *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
    )


def test_auto_never_asks_metadata_for_a_loopback_host(
    metadata: Metadata, target: ScriptedServer
) -> None:
    before = len(target.requests)
    proc = lstream("get", f"{target.base}/echo", "-v", "-o", os.devnull, env=metadata_env(metadata))
    assert proc.returncode == 0, proc.stderr
    assert metadata.paths == []  # neither IMDS nor the container endpoint was asked
    sent = dict((k.lower(), v) for k, v in target.requests[before].headers)
    assert "authorization" not in sent
    assert "* auth: not signed: no AWS credentials found" in proc.stderr


def test_auth_iam_walks_the_whole_chain_and_v_names_the_source(
    metadata: Metadata, target: ScriptedServer
) -> None:
    before = len(target.requests)
    proc = lstream(
        "get", f"{target.base}/echo", "--auth", "iam", "--region", "us-east-1", "-v",
        "-o", os.devnull, env=metadata_env(metadata),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "GET /creds" in metadata.paths
    sent = dict((k.lower(), v) for k, v in target.requests[before].headers)
    assert sent["authorization"].startswith(f"AWS4-HMAC-SHA256 Credential={CONTAINER_KEY}/")
    assert "credentials from container credentials (container-role)" in proc.stderr
    assert "access key id ...WXYZ" in proc.stderr
    # Never more of the key than its last four characters, never the secret or token.
    for secret in (CONTAINER_KEY, CONTAINER_KEY[:-4], SECRET, "metadata-session-token"):
        assert secret not in proc.stderr


@pytest.mark.parametrize(
    ("host", "aws"),
    [
        ("abc.lambda-url.us-east-1.on.aws", True),
        ("lambda.us-east-1.amazonaws.com", True),
        ("x.execute-api.cn-north-1.amazonaws.com.cn", True),
        ("127.0.0.1", False),
        ("::1", False),
        ("localhost", False),
        ("api.internal", False),
        ("amazonaws.com.evil.example", False),
    ],
)
def test_is_aws_host(host: str, aws: bool) -> None:
    assert is_aws_host(host) is aws


def test_an_aws_host_keeps_the_instance_metadata(
    metadata: Metadata, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in metadata_env(metadata, container=False).items():
        monkeypatch.setenv(name, value)
    session = load_session(None)
    assert resolve_credentials(session, metadata=False) is None
    assert metadata.paths == []
    found = resolve_credentials(session, metadata=True)
    assert found is not None and found.method == "iam-role"
    assert found.access_key_tail == "9876"
    assert any("security-credentials/lstream-role" in p for p in metadata.paths)


# --- broken credentials: one line, exit 2, in get, bench and compare-modes ---

_PROCESSES = {
    "expired": 'echo \'{"Version":1,"AccessKeyId":"AKIDEXPIRED00000WXYZ",'
    '"SecretAccessKey":"sekrit-PROCESS-SECRET","SessionToken":"tok-SECRET",'
    '"Expiration":"2001-01-01T00:00:00Z"}\'',
    "badjson": 'echo \'{"Version":1,"AccessKeyId":"AKIDX","SecretAccessKey":"sekrit-PROCESS-SECRET"\'',
    "refused": "echo 'access refused by policy' >&2; exit 3",
}
_EXPECTED = {
    "expired": "are expired: refresh them",
    "badjson": "are not valid JSON",
    "refused": "access refused by policy",
    "sso": "are expired: run 'aws sso login'",
}


@pytest.fixture
def broken_profiles(tmp_path: Path) -> dict[str, str]:
    """Profiles whose credentials fail each their own way; env for the processes."""
    lines = []
    for name, script in _PROCESSES.items():
        path = tmp_path / f"cred-{name}.sh"
        path.write_text(f"#!/bin/sh\n{script}\n")
        path.chmod(0o755)
        lines.append(f"[profile {name}]\ncredential_process = {path}\nregion = us-east-1\n")
    start = "https://lstream-test.awsapps.com/start"
    lines.append(
        f"[profile sso]\nsso_start_url = {start}\nsso_region = us-east-1\n"
        "sso_account_id = 123456789012\nsso_role_name = Tester\nregion = us-east-1\n"
    )
    config = Path(os.environ["AWS_CONFIG_FILE"])
    config.write_text("\n".join(lines))
    cache = Path(os.environ["HOME"]) / ".aws" / "sso" / "cache"
    cache.mkdir(parents=True)
    token = {
        "startUrl": start,
        "region": "us-east-1",
        "accessToken": "SSO-ACCESS-TOKEN-SECRET",
        "expiresAt": "2001-01-01T00:00:00Z",
    }
    (cache / (hashlib.sha1(start.encode()).hexdigest() + ".json")).write_text(json.dumps(token))
    return {}


@pytest.mark.parametrize("profile", ["expired", "badjson", "refused", "sso"])
@pytest.mark.parametrize("command", ["get", "bench", "compare-modes"])
def test_broken_credentials_are_one_line_exit_2(
    broken_profiles: dict[str, str], target: ScriptedServer, profile: str, command: str
) -> None:
    url = f"{target.base}/echo"
    args = {
        "get": ["get", url, "-o", os.devnull],
        "bench": ["bench", url, "-n", "1", "--workers", "1"],
        "compare-modes": ["compare-modes", "--stream", url, "--sizes", "1B"],
    }[command]
    before = len(target.requests)
    proc = lstream(*args, "--profile", profile)
    assert proc.returncode == ExitStatus.USAGE, proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("lstream: error: ")
    assert _EXPECTED[profile] in lines[0]
    assert f"profile {profile!r}" in lines[0]
    source = "SSO (sso)" if profile == "sso" else "credential_process (custom-process)"
    assert source in lines[0]
    for secret in ("PROCESS-SECRET", "tok-SECRET", "SSO-ACCESS-TOKEN-SECRET"):
        assert secret not in proc.stderr
    assert len(target.requests) == before  # nothing was sent


def test_a_refresh_that_fails_mid_run_is_a_credentials_error() -> None:
    from botocore.credentials import RefreshableCredentials

    def refresh() -> dict[str, str]:
        raise RuntimeError("the credential source is gone")

    creds = RefreshableCredentials.create_from_metadata(
        {"access_key": "AKID", "secret_key": "s3cr3t-VALUE", "token": "t",
         "expiry_time": "2001-01-01T00:00:00Z"},
        refresh_using=refresh,
        method="custom-process",
    )  # fmt: skip
    signer = Signer(creds, "us-east-1", source="credential_process (custom-process)")
    with pytest.raises(CredentialsError, match=r"credential_process .* could not be refreshed"):
        signer.sign("GET", "http://127.0.0.1/")


# --- a URL's user:password@ ---


@pytest.mark.parametrize(
    "command",
    [["get", "-o", os.devnull], ["bench", "-n", "1", "--workers", "1"], ["compare-modes"]],
)
def test_userinfo_with_signing_is_refused_without_echoing_the_password(
    target: ScriptedServer, aws_creds: dict[str, str], command: list[str]
) -> None:
    url = target.base.replace("://", "://me:hunter2pw@") + "/echo"
    before = len(target.requests)
    if command[0] == "compare-modes":
        proc = lstream("compare-modes", "--stream", url, "--sizes", "1B")
    else:
        proc = lstream(command[0], url, *command[1:])
    assert proc.returncode == ExitStatus.USAGE
    assert "user:password@" in proc.stderr and "--auth none" in proc.stderr
    assert "hunter2pw" not in proc.stderr and "Traceback" not in proc.stderr
    assert len(target.requests) == before


def test_userinfo_unsigned_is_sent_as_basic_and_shown_redacted(
    target: ScriptedServer, aws_creds: dict[str, str]
) -> None:
    import base64

    url = target.base.replace("://", "://me:hunter2pw@") + "/echo"
    before = len(target.requests)
    proc = lstream("get", url, "--auth", "none", "-v", "-o", os.devnull)
    assert proc.returncode == 0, proc.stderr
    sent = dict((k.lower(), v) for k, v in target.requests[before].headers)
    assert sent["authorization"] == "Basic " + base64.b64encode(b"me:hunter2pw").decode()
    assert not any(k.startswith("x-amz-") for k in sent)
    assert "> Authorization: Basic <redacted>" in proc.stderr
    assert "AWS4-HMAC-SHA256" not in proc.stderr  # no signature shown that was not sent
    assert "Basic auth from the URL's user 'me'" in proc.stderr
    assert "hunter2pw" not in proc.stderr


def test_bench_sends_the_urls_basic_auth_too(target: ScriptedServer) -> None:
    url = target.base.replace("://", "://me:hunter2pw@") + "/echo"
    before = len(target.requests)
    proc = lstream("bench", url, "-n", "1", "--workers", "1", "-s", "--auth", "none")
    assert proc.returncode == 0, proc.stderr
    sent = dict((k.lower(), v) for k, v in target.requests[before].headers)
    assert sent["authorization"].startswith("Basic ")


def test_v_names_the_environment_source_and_four_characters_of_the_key(
    target: ScriptedServer, aws_creds: dict[str, str]
) -> None:
    proc = lstream("get", f"{target.base}/echo", "-v", "-o", os.devnull)
    assert proc.returncode == 0, proc.stderr
    auth = next(line for line in proc.stderr.splitlines() if line.startswith("* auth:"))
    assert auth == (
        "* auth: SigV4 (lambda, us-east-1) with credentials from environment "
        "(AWS_ACCESS_KEY_ID) (env), access key id ...0001"
    )
    key = aws_creds["AWS_ACCESS_KEY_ID"]
    for secret in (
        key,
        key[:-4],
        aws_creds["AWS_SECRET_ACCESS_KEY"],
        aws_creds["AWS_SESSION_TOKEN"],
    ):
        assert secret not in proc.stderr
    assert "> Authorization: AWS4-HMAC-SHA256 Credential=<access-key>/" in proc.stderr
