"""Emulator fixtures: a shared running emulator and test credentials."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from fnhelpers import RIC

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


EXAMPLE_NODE = Path(__file__).parents[2] / "examples" / "node"


@pytest.fixture(scope="session")
def runtime_client() -> Path:
    """The real aws-lambda-ric (examples/node's dev dependency), built once if missing.

    CI (``.ci/run``) builds it with ``npm ci``; on a machine where it is not
    built yet, this does the same, once per session (a few minutes: its
    native part needs autoconf, automake and libtool).
    """
    if not RIC.is_file():
        npm = shutil.which("npm")
        if npm is None:
            pytest.fail("the Node.js tests need node and npm (Node.js 20) to build aws-lambda-ric")
        done = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=EXAMPLE_NODE,
            capture_output=True,
            text=True,
            timeout=1200,
        )
        if done.returncode != 0 or not RIC.is_file():
            pytest.fail(
                "could not build aws-lambda-ric (`npm ci` in examples/node); it needs "
                "`apt-get install autoconf automake libtool`: " + done.stderr[-500:]
            )
    return RIC
