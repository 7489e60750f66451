"""Helpers the benchmark scripts share: nginx on a free port, child RSS, ratios.

nginx comes from the system packages (``apt-get install nginx``); it runs
with its own prefix under a temporary folder and never touches /etc/nginx.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Run", "free_port", "need", "nginx", "run_measured"]


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


@contextlib.contextmanager
def nginx(files: dict[str, int], workers: str = "auto") -> Iterator[str]:
    """Serve ``{name: size}`` files of zeros from nginx; yields the base URL."""
    binary = need("nginx", "nginx")
    root = Path(tempfile.mkdtemp(prefix="lstream-nginx-"))
    root.chmod(0o755)  # nginx workers may run as another user
    (root / "html").mkdir()
    (root / "logs").mkdir()
    for name, size in files.items():
        with open(root / "html" / name, "wb") as fh:
            fh.truncate(size)
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
        listen 127.0.0.1:{port};
        root {root}/html;
        default_type application/octet-stream;
    }}
}}
"""
    )
    proc = subprocess.Popen([binary, "-p", str(root), "-c", str(conf)])
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
                break
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(10)
        shutil.rmtree(root, ignore_errors=True)


@dataclass(frozen=True)
class Run:
    seconds: float
    max_rss_mb: float
    returncode: int
    stdout: bytes


def run_measured(argv: Sequence[str], env: dict[str, str] | None = None) -> Run:
    """Run a command; wall time and the child's own peak RSS (wait4)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(list(argv), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
    out = proc.stdout.read() if proc.stdout else b""
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    return Run(seconds, usage.ru_maxrss / 1024, proc.returncode, out)
