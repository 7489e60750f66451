"""Emulator fixtures: a shared running emulator and test credentials."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from lstream_cli.emulator import EmulatorConfig, Endpoints, running_emulator

# Test credentials accepted by --auth iam emulators (never real ones).
ACCESS_KEY = "AKIDLSTREAMTEST00001"
SECRET_KEY = "lstreamTestSecretKey/abcdefghijklmnop0123"
SESSION_TOKEN = "lstream-test-session-token-SECRET"


def lookup(access_key: str) -> tuple[str, str | None] | None:
    return (SECRET_KEY, SESSION_TOKEN) if access_key == ACCESS_KEY else None


@pytest.fixture(scope="module")
def emu() -> Iterator[Endpoints]:
    """An emulator with the synthetic handler and no bandwidth caps."""
    with running_emulator(EmulatorConfig(throttle=False)) as endpoints:
        yield endpoints


# runtime_client (the real aws-lambda-ric, built once when missing) is in tests/conftest.py:
# the stack tests run it too.
