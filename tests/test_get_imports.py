"""Start-up of ``get`` and ``bench``: what a short run imports, and what it must not.

Start-up is most of a short ``get`` (BENCHMARKS.md): httpx, botocore, rich,
the email package and the rest of the standard library's HTTP client have no
business on the path of one unsigned request. The real CLI runs in a
subprocess against a loopback server, and the modules are read from
``python -X importtime``, which lists every module the process imports. The
environment is the tests' own (``conftest``): no credentials anywhere, so
the default ``--auth auto`` must decide that without loading botocore.

Each module loaded only where it is used has its two sides here: absent from
the path that does not use it, present (and working) on the path that does.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

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
    "lstream_cli.events",  # the event parsers: --events only
    "lstream_cli.net.tunnel",  # CONNECT: a proxy's tunnel only
    "pathlib",  # result files: a real --json FILE only (here: none, or stdout)
    "multiprocessing",
    "csv",
    "rich._emoji_codes",  # the console prints ":name:" as it is
)

# A short bench (one worker, in this process, no terminal) needs the load
# engine, the event loop and the report's tables, and nothing of these.
_BENCH_NEVER = (
    "multiprocessing",  # one worker runs in this process: nothing to start
    "rich.live",  # the dashboard: a terminal only
    "csv",  # --csv / --csv-series only
    "rich._emoji_codes",
    "lstream_cli.engine.thresholds",  # the --fail-if grammar
    "lstream_cli.net.tunnel",
    "pathlib",
    "httpx",
    "botocore",
    "lstream_cli.signing",
    "lstream_cli.emulator",
    "lstream_cli.compare",
)


@pytest.fixture(scope="module")
def server() -> Iterator[ScriptedServer]:
    with scripted_server() as s:
        yield s


def _imported(
    *args: str, command: str = "get"
) -> tuple[subprocess.CompletedProcess[str], set[str]]:
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "lstream_cli", command, *args],
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


def test_get_help_does_not_load_the_engine() -> None:
    """``get --help`` (and a usage error) is click and the option table only."""
    proc, modules = _imported("--help")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "--max-redirs" in proc.stdout and "lstream_cli.cli._options" in modules
    engine = ("lstream_cli.engine", "lstream_cli.measure", "lstream_cli.models", "httptools")
    assert {p: _loaded(modules, p) for p in engine if _loaded(modules, p)} == {}
    proc, modules = _imported("http://127.0.0.1:9/", "--timeout", "soon")
    errors = [line for line in proc.stderr.splitlines() if not line.startswith("import time:")]
    assert proc.returncode == 2
    assert errors == [
        "lstream: error: Invalid value for '--timeout': 'soon' is not a valid float. "
        "(see 'lstream get --help')"
    ]
    assert _loaded(modules, "lstream_cli.engine") == []


def test_events_and_a_result_file_load_what_they_use(
    server: ScriptedServer, tmp_path: Path
) -> None:
    """The other side of ``_NEVER``: --events loads the parsers, --json FILE pathlib."""
    out = f"{tmp_path}/get.json"
    proc, modules = _imported(
        f"{server.base}/sse?n=3&gap_ms=0", "--auth", "none", "-s", "--events", "sse",
        "-o", "/dev/null", "--json", out,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "lstream_cli.events" in modules and "pathlib" in modules
    with open(out) as fh:
        assert json.load(fh)["events"] == 3


def test_short_bench_imports_only_what_it_runs(server: ScriptedServer) -> None:
    before = len(server.requests)
    proc, modules = _imported(
        f"{server.base}/big?size=1000", "-n", "2", "-c", "2", "--auth", "none", command="bench"
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert len(server.requests) - before == 2
    assert "requests 2  ok 2" in proc.stderr  # the report, drawn with rich's tables
    assert {"lstream_cli.engine.workers", "asyncio", "rich.table", "hdrh.histogram"} <= modules
    # Loaded by the parent, so that no worker process imports the event parsers again.
    assert "lstream_cli.events" in modules
    loaded = {package: _loaded(modules, package) for package in _BENCH_NEVER}
    assert {k: v for k, v in loaded.items() if v} == {}


def test_bench_with_workers_csv_and_thresholds_loads_them(
    server: ScriptedServer, tmp_path: Path
) -> None:
    """Two worker processes need multiprocessing, --csv the csv module, --fail-if its grammar."""
    csv_path = f"{tmp_path}/rows.csv"
    proc, modules = _imported(
        f"{server.base}/big?size=1000", "-n", "4", "-c", "2", "--workers", "2",
        "--auth", "none", "--csv", csv_path, "--fail-if", "errors.count<1", command="bench",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert {"multiprocessing", "csv", "lstream_cli.engine.thresholds"} <= modules
    assert "2 worker process(es)" in proc.stderr
    assert "threshold pass  errors.count<1  (0)" in proc.stderr
    with open(csv_path) as fh:
        assert len(fh.read().splitlines()) == 5  # the header and one row per request
