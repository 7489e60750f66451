"""Small stand-ins for the paths compare-modes measures, on 127.0.0.1.

Each path reads the size from its query string, the way a function behind
a function URL does, and answers as that path does at its limit:

- ``/stream``: chunked, 256 KiB writes, any size.
- ``/buffered``: the body with a Content-Length; over 6,291,556 B a 502.
- ``/apigw``: the body; over 10 MiB a 502 ``{"message": "Internal server error"}``.
- ``/forbidden``: 403 ``{"Message": "Forbidden"}`` (a function URL without auth).
- ``/hang-above?limit=N``: sizes up to N answer at once, larger ones never do
  (for Ctrl-C tests).

Every request's query is recorded so tests can check what was asked.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs, urlsplit

from tests.scripted_server import QuietHTTPServer

__all__ = ["FakePaths", "fake_paths"]

_BLOCK = bytes(range(256)) * 1024  # 256 KiB


@dataclass
class FakePaths:
    base: str
    seen: list[str] = field(default_factory=list)  # request targets, in order
    authorization: list[str] = field(default_factory=list)  # Authorization headers, in order


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    state: FakePaths

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        self.state.seen.append(self.path)
        self.state.authorization.append(self.headers.get("authorization", ""))
        parts = urlsplit(self.path)
        q = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        size = int(q.get("size", "1000"))
        path = parts.path
        if path == "/stream":
            self._chunked(size)
        elif path == "/buffered":
            if size > 6_291_556:
                self._small(502, b'{"Message": null}')
            else:
                self._sized(size)
        elif path == "/apigw":
            if size > 10 * 1024 * 1024:
                self._small(502, b'{"message": "Internal server error"}')
            else:
                self._sized(size)
        elif path == "/forbidden":
            self._small(403, b'{"Message": "Forbidden"}')
        elif path == "/hang-above":
            if size > int(q.get("limit", "0")):
                time.sleep(30)
            self._sized(size)
        else:
            self._small(404, b"no such path")

    def _small(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _sized(self, size: int) -> None:
        self.send_response(200)
        self.send_header("content-length", str(size))
        self.end_headers()
        self._body(size, chunked=False)

    def _chunked(self, size: int) -> None:
        self.send_response(200)
        self.send_header("transfer-encoding", "chunked")
        self.end_headers()
        self._body(size, chunked=True)
        self.wfile.write(b"0\r\n\r\n")

    def _body(self, size: int, chunked: bool) -> None:
        left = size
        while left > 0:
            part = _BLOCK[: min(left, len(_BLOCK))]
            if chunked:
                self.wfile.write(b"%x\r\n" % len(part) + part + b"\r\n")
            else:
                self.wfile.write(part)
            left -= len(part)


@contextmanager
def fake_paths() -> Iterator[FakePaths]:
    state = FakePaths(base="")
    handler = type("Handler", (_Handler,), {"state": state})
    server = QuietHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
