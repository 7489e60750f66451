"""A real tinyproxy on a free loopback port, for the proxy tests.

:class:`Tinyproxy` writes a config (its own log file, ``Listen 127.0.0.1``,
every CONNECT port allowed, optionally Basic credentials), starts
``tinyproxy -d`` in the foreground, waits until it accepts connections and
stops it at the end. Its log names every request it handled: ``Request (file
descriptor N): CONNECT host:port HTTP/1.1`` for a tunnel, ``... GET
http://host:port/path HTTP/1.1`` for an absolute-form request. :meth:`mark`
and :meth:`log_since` give the lines one test produced.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from contextlib import suppress
from pathlib import Path

__all__ = ["Tinyproxy", "free_port"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class Tinyproxy:
    __test__ = False

    def __init__(self, workdir: Path, credentials: tuple[str, str] | None = None) -> None:
        self.workdir = workdir
        self.credentials = credentials
        self.port = 0
        self.log = workdir / "tinyproxy.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The proxy URL, credentials included when it wants some."""
        if self.credentials is None:
            return f"http://127.0.0.1:{self.port}"
        user, password = self.credentials
        return f"http://{user}:{password}@127.0.0.1:{self.port}"

    @property
    def bare_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Tinyproxy:
        binary = shutil.which("tinyproxy") or shutil.which(
            "tinyproxy", path="/usr/bin:/usr/sbin:/usr/local/bin:/usr/local/sbin"
        )
        if binary is None:
            raise RuntimeError(
                "tinyproxy is not installed (.ci/run installs it: apt-get install tinyproxy)"
            )
        for _attempt in range(5):  # the free port may be taken in between: try another
            self.port = free_port()
            lines = [
                f"Port {self.port}",
                "Listen 127.0.0.1",
                "Timeout 30",
                f'LogFile "{self.log}"',
                "LogLevel Info",
                "MaxClients 100",
                "Allow 127.0.0.1",
                "DisableViaHeader Yes",
            ]
            if self.credentials is not None:
                lines.append(f"BasicAuth {self.credentials[0]} {self.credentials[1]}")
            config = self.workdir / "tinyproxy.conf"
            config.write_text("\n".join(lines) + "\n")
            self.proc = subprocess.Popen(
                [binary, "-d", "-c", str(config)],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            if self._wait_ready():
                return self
            self.stop()
        raise RuntimeError(f"tinyproxy did not start; its log:\n{self._read()}")

    def _wait_ready(self) -> bool:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                return False
            with suppress(OSError), socket.create_connection(("127.0.0.1", self.port), 0.5):
                return True
            time.sleep(0.02)
        return False

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None

    def _read(self) -> str:
        try:
            return self.log.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def mark(self) -> int:
        """Where the log ends now (pass it to :meth:`log_since`)."""
        try:
            return self.log.stat().st_size
        except FileNotFoundError:
            return 0

    def log_since(self, mark: int) -> str:
        """The log written since ``mark``.

        tinyproxy logs a request line when it has read the request, before it
        forwards anything: once the client has its answer, the line is there.
        """
        with self.log.open("rb") as f:
            f.seek(mark)
            return f.read().decode(errors="replace")

    def requests_since(self, mark: int) -> list[str]:
        """The request lines tinyproxy logged since ``mark`` (``CONNECT h:p HTTP/1.1``...)."""
        found = []
        for line in self.log_since(mark).splitlines():
            _, sep, request = line.partition("): ")
            if sep and "Request (file descriptor" in line:
                found.append(request.strip())
        return found
