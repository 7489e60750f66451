"""``lstream get``'s start-up: what one request imports, and what it must not.

Start-up is most of a short ``get`` (BENCHMARKS.md): httpx, botocore, rich,
the email package and the rest of the standard library's HTTP client have no
business on the path of one unsigned request. The real CLI runs in a
subprocess against a loopback server, and the modules are read from
``python -X importtime``, which lists every module the process imports. The
environment is the tests' own (``conftest``): no credentials anywhere, so
the default ``--auth auto`` must decide that without loading botocore.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator

import pytest

from tests.scripted_server import ScriptedServer, scripted_server

_IMPORT_LINE = re.compile(r"^import time:\s+\d+ \|\s+\d+ \| +(\S+)$", re.MULTILINE)

# Never needed by an unsigned ``get`` over plain HTTP, whatever the output.
_NEVER = (
    "httpx",
    "httpcore",
    "botocore",
    "urllib3",
    "email",
    "http.client",
    "urllib.request",
    "importlib.metadata",
    "pygments",
    "ssl",  # plain http: no TLS context, so no OpenSSL start-up
    "hdrh",  # get keeps no histogram
    "lstream_cli.signing",  # nothing to sign
    "rich.progress",
    "rich.syntax",
    "rich.live",  # the progress line: a terminal only
    "lstream_cli.emulator",
    "lstream_cli.engine.load",
    "lstream_cli.engine.workers",
    "lstream_cli.compare",
    "lstream_cli.engine.lambda_api",
    "lstream_cli.cli.bench",
    "lstream_cli.cli.serve",
    "uvloop",
    "asyncio",
    "jsonschema",
)


@pytest.fixture(scope="module")
def server() -> Iterator[ScriptedServer]:
    with scripted_server() as s:
        yield s


def _imported(*args: str) -> tuple[subprocess.CompletedProcess[str], set[str]]:
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "lstream_cli", "get", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=dict(os.environ),  # the isolated environment conftest set up
    )
    return proc, set(_IMPORT_LINE.findall(proc.stderr))


def _loaded(modules: set[str], package: str) -> list[str]:
    return sorted(m for m in modules if m == package or m.startswith(package + "."))


def _check(
    proc: subprocess.CompletedProcess[str], modules: set[str], absent: tuple[str, ...]
) -> None:
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "lstream_cli.engine.single" in modules  # the listing is real
    assert "click" in modules
    loaded = {package: _loaded(modules, package) for package in absent}
    assert {k: v for k, v in loaded.items() if v} == {}


@pytest.mark.parametrize("auth", [["--auth", "none"], []], ids=["auth-none", "auth-auto"])
def test_silent_get_imports_none_of_the_heavy_modules(
    server: ScriptedServer, auth: list[str]
) -> None:
    url = f"{server.base}/big?size=100000"
    proc, modules = _imported(url, *auth, "-o", "/dev/null", "-s", "--json", "-")
    assert json.loads(proc.stdout)["bytes"] == 100000
    # -s prints nothing when all goes well: no console, so no rich at all.
    _check(proc, modules, ("rich", *_NEVER))


@pytest.mark.parametrize("auth", [["--auth", "none"], []], ids=["auth-none", "auth-auto"])
def test_get_with_summary_imports_only_what_it_prints(
    server: ScriptedServer, auth: list[str]
) -> None:
    url = f"{server.base}/big?size=100000"
    proc, modules = _imported(url, *auth, "-o", "/dev/null")
    assert "throughput" in proc.stderr  # the summary was printed, through rich
    assert "rich.table" in modules
    _check(proc, modules, _NEVER)


def test_auto_with_credentials_loads_botocore_and_signs(
    server: ScriptedServer, aws_creds: dict[str, str]
) -> None:
    """The control: with a credential source, auto goes through botocore's chain and signs."""
    before = len(server.requests)
    proc, modules = _imported(f"{server.base}/big?size=10", "-o", "/dev/null", "-s")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "botocore.credentials" in modules and "botocore.auth" in modules
    # Keys and region in the environment, no --profile: the signer needs no session.
    assert "botocore.session" not in modules
    assert _loaded(modules, "httpx") == [] and _loaded(modules, "rich") == []
    (request,) = server.requests[before:]
    headers = {k.lower(): v for k, v in request.headers}
    assert headers["authorization"].startswith(
        f"AWS4-HMAC-SHA256 Credential={aws_creds['AWS_ACCESS_KEY_ID']}/"
    )
    assert headers["x-amz-security-token"] == aws_creds["AWS_SESSION_TOKEN"]


def test_a_config_file_sends_auto_through_botocore(server: ScriptedServer) -> None:
    """A config file may hold a credential_process or SSO: the chain must look."""
    with open(os.environ["AWS_CONFIG_FILE"], "w") as fh:
        fh.write("[default]\nregion = eu-west-1\n")
    proc, modules = _imported(f"{server.base}/big?size=10", "-o", "/dev/null", "-s")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "botocore.session" in modules
