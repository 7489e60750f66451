"""Test isolation: no real AWS config, no colour, a fixed width, no IMDS, no stray processes."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import suppress
from pathlib import Path
from typing import Any

import pytest

_PROXY_VARS = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY")
# Read by the TLS trust resolution (lstream_cli/net/trust.py) and the proxy choice.
_TRUST_VARS = ("SSL_CERT_FILE", "SSL_CERT_DIR", "REQUEST_METHOD")


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    # Every AWS_* setting of the user's shell (credentials, profile, region,
    # AWS_ENDPOINT_URL*, AWS_CA_BUNDLE, retry modes ...), any proxy and the
    # OpenSSL bundle variables: the tests talk to 127.0.0.1 directly, and
    # choose the trust, as they set it up.
    for name in list(os.environ):
        upper = name.upper()
        if upper.startswith("AWS_") or upper in _PROXY_VARS or name in _TRUST_VARS:
            monkeypatch.delenv(name)
    # rich's overrides would make captured output a colour terminal's; curl
    # reads a .curlrc where these point.
    for name in (
        "FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE", "LINES", "CURL_HOME", "XDG_CONFIG_HOME"
    ):  # fmt: skip
        monkeypatch.delenv(name, raising=False)
    home = tmp_path / "_home"  # nothing may read the real ~/.aws, ~/.boto or ~/.curlrc
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    aws = tmp_path / "_aws"
    aws.mkdir()
    monkeypatch.setenv("AWS_CONFIG_FILE", str(aws / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(aws / "credentials"))
    # botocore also reads boto2's files (/etc/boto.cfg, ~/.boto) unless BOTO_CONFIG names one.
    monkeypatch.setenv("BOTO_CONFIG", str(aws / "boto.cfg"))
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


@pytest.fixture
def unresolvable_host(monkeypatch: pytest.MonkeyPatch) -> str:
    """A host name whose lookup fails at once, as the resolver fails it.

    No DNS query leaves the machine: the configured resolver may be remote
    or absent (loopback only), so the lookup of this one name is answered here.
    """
    import socket

    host = "lstream-test.invalid"
    real = socket.getaddrinfo

    def getaddrinfo(name: object, *args: object, **kw: object) -> object:
        if name in (host, host.encode()):
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return real(name, *args, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return host


Spawn = Callable[..., "subprocess.Popen[Any]"]


@pytest.fixture
def spawn() -> Iterator[Spawn]:
    """``subprocess.Popen``, with every process it started ended at teardown.

    A test that fails half-way (the run did not start, a signal was not
    obeyed) must not leave a ``bench -z 60s`` loading the next tests' servers:
    what is still running is killed, and the whole process group of one
    started in a session of its own (its workers too, should they outlive it).
    """
    started: list[tuple[subprocess.Popen[Any], bool]] = []

    def start(*args: Any, **kw: Any) -> subprocess.Popen[Any]:
        proc: subprocess.Popen[Any] = subprocess.Popen(*args, **kw)
        started.append((proc, bool(kw.get("start_new_session"))))
        return proc

    yield start
    for proc, own_group in started:
        if own_group:  # the group keeps the leader's id while any member lives
            with suppress(OSError):
                os.killpg(proc.pid, signal.SIGKILL)
        if proc.poll() is None:
            proc.kill()
        with suppress(subprocess.TimeoutExpired):
            proc.communicate(timeout=10)  # reaps it and closes its pipes


EXAMPLE_NODE = Path(__file__).parents[1] / "examples" / "node"
RIC = EXAMPLE_NODE / "node_modules" / "aws-lambda-ric" / "bin" / "index.mjs"


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


@pytest.fixture
def unanswered_port() -> Iterator[int]:
    """A listener whose accept queue is full: new connections time out connecting."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    for _ in range(3):
        filler = socket.socket()
        filler.setblocking(False)
        with suppress(BlockingIOError):
            filler.connect(("127.0.0.1", port))
        fillers.append(filler)
    time.sleep(0.2)
    yield port
    for filler in fillers:
        filler.close()
    listener.close()
