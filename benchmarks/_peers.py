"""Helpers the benchmark scripts share: the peers they start and how they measure.

- :func:`need` finds a tool (curl, hey, nginx), installing its system
  package when it is missing;
- :func:`nginx` serves files from its own prefix under a temporary folder
  (``daemon off``, never touching /etc/nginx) on a free port;
- :func:`emulator` runs ``lstream serve`` on free ports with no bandwidth
  caps and no stream limit;
- :func:`run_measured` (a finished child) and :func:`peak_rss_kib` (a live
  one) give peak RSS.

Importing this module puts the repository first on ``sys.path`` so that
the scripts measure this checkout's ``lstream_cli``, in their own process
and in the children they start (:data:`ENV`).
"""

from __future__ import annotations

import compileall
import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "ENV",
    "ROOT",
    "Emulator",
    "Run",
    "Served",
    "curl_rate",
    "emulator",
    "free_port",
    "need",
    "nginx",
    "peak_rss_kib",
    "random_bytes",
    "run_measured",
    "tree_cpu_seconds",
    "wait_port",
    "zeros",
]

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
# Children run this checkout too, and never wait on an instance-metadata lookup.
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "AWS_EC2_METADATA_DISABLED": "true"}
# An installed package has its bytecode; a checkout run with
# PYTHONDONTWRITEBYTECODE set would compile every module at every start and
# charge that to lstream's start-up. Compile once, as an install does.
compileall.compile_dir(str(ROOT / "lstream_cli"), quiet=1)


def need(tool: str, package: str) -> str:
    """Path of ``tool``; install ``package`` with apt-get when it is missing."""
    found = shutil.which(tool) or (shutil.which(tool, path="/usr/sbin:/sbin"))
    if found:
        return found
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(["apt-get", "update", "-qq"], check=False, env=env)
    subprocess.run(["apt-get", "install", "-y", "-qq", package], check=True, env=env)
    found = shutil.which(tool) or shutil.which(tool, path="/usr/sbin:/sbin")
    if not found:
        raise SystemExit(f"{tool} not found after installing {package}")
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(
    port: int, proc: subprocess.Popen[bytes] | None = None, timeout: float = 20.0
) -> None:
    """Return once 127.0.0.1:``port`` accepts; fail if ``proc`` exits first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
            raise SystemExit(f"server exited ({proc.returncode}) before listening: {err}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"nothing listening on {port}")


def zeros(path: Path, size: int) -> None:
    """A sparse file of ``size`` zero bytes."""
    with open(path, "wb") as fh:
        fh.truncate(size)


def random_bytes(path: Path, size: int) -> None:
    path.write_bytes(os.urandom(size))


class Served(str):
    """A server's base URL that also knows the server's process id."""

    pid: int

    def __new__(cls, url: str, pid: int) -> Served:
        served = super().__new__(cls, url)
        served.pid = pid
        return served


def tree_cpu_seconds(pid: int) -> float:
    """CPU time (user + system) of a process and all its descendants so far, in seconds."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    todo = [pid]
    while todo:
        current = todo.pop()
        try:
            stat = Path(f"/proc/{current}/stat").read_text()
            fields = stat.rpartition(")")[2].split()
            total += (int(fields[11]) + int(fields[12])) / tick  # utime, stime
            for task in Path(f"/proc/{current}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
        except (OSError, ValueError, IndexError):
            continue  # gone meanwhile
    return total


@contextlib.contextmanager
def nginx(
    files: Mapping[str, int],
    workers: str = "auto",
    fill: Callable[[Path, int], None] = zeros,
    tls: tuple[Path, Path] | None = None,
) -> Iterator[Served]:
    """Serve ``{name: size}`` files written by ``fill``; yields the base URL.

    ``tls``: (certificate chain, key) PEM files: serve HTTPS with them.
    """
    binary = need("nginx", "nginx")
    root = Path(tempfile.mkdtemp(prefix="lstream-nginx-"))
    root.chmod(0o755)  # nginx workers may run as another user
    html = root / "html"
    html.mkdir(mode=0o755)
    (root / "logs").mkdir()
    for name, size in files.items():
        fill(html / name, size)
        (html / name).chmod(0o644)
    port = free_port()
    conf = root / "nginx.conf"
    conf.write_text(
        f"""
worker_processes {workers};
daemon off;
pid {root}/nginx.pid;
error_log {root}/logs/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 1000000;
    client_body_temp_path {root}/tmp_body;
    proxy_temp_path {root}/tmp_proxy;
    fastcgi_temp_path {root}/tmp_fastcgi;
    uwsgi_temp_path {root}/tmp_uwsgi;
    scgi_temp_path {root}/tmp_scgi;
    server {{
        listen 127.0.0.1:{port}{" ssl" if tls else ""};
        {f"ssl_certificate {tls[0]}; ssl_certificate_key {tls[1]};" if tls else ""}
        root {html};
        default_type application/octet-stream;
    }}
}}
"""
    )
    proc = subprocess.Popen([binary, "-p", str(root), "-c", str(conf)], stderr=subprocess.PIPE)
    try:
        wait_port(port, proc)
        yield Served(f"{'https' if tls else 'http'}://127.0.0.1:{port}", proc.pid)
    finally:
        proc.terminate()
        proc.wait(10)
        shutil.rmtree(root, ignore_errors=True)


@dataclass(frozen=True)
class Emulator:
    endpoints: dict[str, str]  # endpoint name -> base URL (``serve --json``)
    pid: int


@contextlib.contextmanager
def emulator(
    workers: int = 1, args: Sequence[str] = (), quiet: bool = True, root: Path | None = None
) -> Iterator[Emulator]:
    """``lstream serve`` on free ports, no bandwidth caps, no stream limit (plus ``args``).

    ``quiet=False``: with its request log, written to a file (a pipe nobody
    reads would stop it); ``root``: the ``lstream_cli`` of another checkout.
    """
    with tempfile.TemporaryDirectory(prefix="lstream-bench-") as tmp:
        path = Path(tmp) / "endpoints.json"
        argv = [sys.executable, "-m", "lstream_cli", "serve", "--port", "0"]
        argv += ["--json", str(path), "--no-throttle", "--stream-limit", "0"]
        if quiet:
            argv.append("--quiet")
        if workers > 1:
            argv += ["--workers", str(workers)]
        argv += list(args)
        env = ENV if root is None else {**ENV, "PYTHONPATH": str(root)}
        log = None if quiet else (Path(tmp) / "stderr.log").open("wb")
        stderr: Any = subprocess.PIPE if log is None else log
        proc = subprocess.Popen(argv, env=env, stderr=stderr, cwd=root)
        try:
            deadline = time.monotonic() + 30
            # The file is complete once its closing brace is there.
            while not path.exists() or not path.read_text().strip().endswith("}"):
                if proc.poll() is not None or time.monotonic() > deadline:
                    err = proc.stderr.read().decode() if proc.stderr else ""
                    raise SystemExit(f"lstream serve did not start: {err}")
                time.sleep(0.05)
            yield Emulator(json.loads(path.read_text()), proc.pid)
        finally:
            proc.terminate()
            proc.wait(10)
            if log is not None:
                log.close()


def curl_rate(url: str, expect: int) -> float:
    """Bytes per second curl reads ``url`` at into /dev/null (exactly ``expect`` bytes)."""
    out = subprocess.run(
        [
            need("curl", "curl"),
            "-sS",
            "-o",
            "/dev/null",
            "-w",
            "%{size_download} %{time_total}",
            url,
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
    )
    size, total = out.stdout.split()
    if int(float(size)) != expect:
        raise SystemExit(f"{url}: got {size} bytes, expected {expect}")
    return int(float(size)) / float(total)


@dataclass(frozen=True)
class Run:
    seconds: float
    max_rss_mb: float
    returncode: int
    stdout: bytes
    cpu_s: float = 0.0  # the child's user + system CPU time (wait4)


def run_measured(argv: Sequence[str], env: dict[str, str] | None = None) -> Run:
    """Run a command; wall time and the child's own peak RSS (wait4)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(list(argv), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
    out = proc.stdout.read() if proc.stdout else b""
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    cpu = usage.ru_utime + usage.ru_stime
    return Run(seconds, usage.ru_maxrss / 1024, proc.returncode, out, cpu)


def status_kib(pid: int, field: str) -> int:
    """A running process's ``/proc/PID/status`` figure in KiB (``VmRSS``, ``VmHWM``); -1 if unreadable."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1])
    except OSError:
        pass
    return -1


def peak_rss_kib(pid: int) -> int:
    """A running process's peak RSS so far (VmHWM), in KiB; -1 if unreadable."""
    return status_kib(pid, "VmHWM")
