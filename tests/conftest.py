"""Test isolation: no real AWS config, no colour, a fixed width, no IMDS."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    for name in (
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_SECURITY_TOKEN",
        "AWS_PROFILE",
        "AWS_DEFAULT_PROFILE",
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
        "AWS_ROLE_ARN",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    ):
        monkeypatch.delenv(name, raising=False)
    aws = tmp_path / "_aws"
    aws.mkdir()
    monkeypatch.setenv("AWS_CONFIG_FILE", str(aws / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(aws / "credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("COLUMNS", "120")
    monkeypatch.setenv("TERM", "dumb")
    yield


@pytest.fixture
def aws_creds(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Static test credentials in the environment (never real ones)."""
    creds = {
        "AWS_ACCESS_KEY_ID": "AKIDLSTREAMTEST00001",
        "AWS_SECRET_ACCESS_KEY": "lstreamTestSecretKey/abcdefghijklmnop0123",
        "AWS_SESSION_TOKEN": "lstream-test-session-token-SECRET",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    for k, v in creds.items():
        monkeypatch.setenv(k, v)
    return creds
