"""``lstream get``'s start-up: what one request imports, and what it must not.

Start-up is a large share of a short ``get`` (BENCHMARKS.md): rich,
pygments, botocore, the emulator and the load engine have no business on
the path of one unsigned request. The modules are read from
``python -X importtime``, which lists every module a process imports.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator

import pytest

from tests.scripted_server import ScriptedServer, scripted_server

_IMPORT_LINE = re.compile(r"^import time:\s+\d+ \|\s+\d+ \| +(\S+)$", re.MULTILINE)

# Never needed by ``get --auth none`` over plain HTTP, whatever the output.
_NEVER = (
    "botocore",
    # httpx's own CLI (httpx._main) would bring these; lstream never runs it.
    "pygments",
    "rich.progress",
    "rich.syntax",
    "rich.live",  # the progress line: a terminal only
    "lstream_cli.emulator",
    "lstream_cli.engine.load",
    "lstream_cli.engine.workers",
    "lstream_cli.compare",
    "lstream_cli.engine.lambda_api",
    "uvloop",
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
    )
    return proc, set(_IMPORT_LINE.findall(proc.stderr))


def _loaded(modules: set[str], package: str) -> list[str]:
    return sorted(m for m in modules if m == package or m.startswith(package + "."))


def test_silent_get_imports_no_rich(server: ScriptedServer) -> None:
    url = f"{server.base}/big?size=100000"
    proc, modules = _imported(url, "--auth", "none", "-o", "/dev/null", "-s", "--json", "-")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads(proc.stdout)["bytes"] == 100000
    assert "lstream_cli.engine.single" in modules  # the listing is real
    assert "httpx" in modules
    # -s prints nothing when all goes well: no console, so no rich at all.
    for package in ("rich", *_NEVER):
        assert _loaded(modules, package) == [], package


def test_get_with_summary_imports_only_what_it_prints(server: ScriptedServer) -> None:
    url = f"{server.base}/big?size=100000"
    proc, modules = _imported(url, "--auth", "none", "-o", "/dev/null")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "throughput" in proc.stderr  # the summary was printed, through rich
    assert "rich.table" in modules
    for package in _NEVER:
        assert _loaded(modules, package) == [], package
