"""Emulator fixtures: a shared running emulator, and the modules it imports lazily."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator

import pytest
from emu_standins import eventstream_module, sigv4_module

from lstream_cli.emulator import EmulatorConfig, Endpoints, running_emulator

for _name, _factory in (("eventstream", eventstream_module), ("sigv4", sigv4_module)):
    try:
        importlib.import_module(f"lstream_cli.emulator.{_name}")
    except ImportError:
        sys.modules[f"lstream_cli.emulator.{_name}"] = _factory()

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
