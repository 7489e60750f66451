"""A small HTTP/1.1 test server with the faults the load engine must classify.

Runs its own asyncio loop in a thread on 127.0.0.1 and a free port. The
path picks the behaviour; the query tunes it:

- ``/ok?size=N`` (and ``/ok/...``) Content-Length body of N bytes (default 5)
- ``/chunked?size=N&chunk=K&gap_ms=G`` chunked body in K-byte chunks
- ``/delay?ms=D&size=N`` waits D ms before the status line
- ``/status?code=C`` answers C with a short body (``&hint=...`` in the body,
  ``&type=...`` in an ``x-amzn-ErrorType`` header)
- ``/cut?size=N&send=M`` promises N bytes, sends M, closes
- ``/close`` answers keep-alive, then closes the connection anyway
- ``/eof?size=N`` no Content-Length, not chunked: the body ends at close
- ``/knee?burst=B&slow=K`` B bytes at once, then K x 10 kB every 25 ms
- ``/flaky?every=K`` every K-th request answers 503, the others 200
- ``/hang`` reads the request and never answers
- ``/hang-every?every=K`` every K-th request is never answered, the others 200
- ``/headers-early?ms=D`` sends headers, waits D ms, then the body (the
  ``perf_counter_ns()`` instant the body went out is kept in ``body_sent``)

Every request it parsed is counted in ``requests`` and its raw head kept in
``heads`` and its body in ``bodies`` (for checks on what the client sent).
"""

from __future__ import annotations

import asyncio
import ssl
import threading
import time
from urllib.parse import parse_qs, urlsplit

__all__ = ["TestServer"]


class TestServer:
    __test__ = False  # not a pytest class

    def __init__(self, ssl_context: ssl.SSLContext | None = None) -> None:
        self.ssl_context = ssl_context  # serve TLS with this context when given
        self.requests = 0
        self.heads: list[bytes] = []
        self.bodies: list[bytes] = []
        self.body_sent: list[int] = []  # /headers-early: when each body went out
        self.port = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._main, daemon=True)
        self._lock = threading.Lock()

    @property
    def base(self) -> str:
        scheme = "https" if self.ssl_context is not None else "http"
        return f"{scheme}://127.0.0.1:{self.port}"

    def url(self, path: str) -> str:
        return self.base + path

    def start(self) -> TestServer:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("test server did not start")
        return self

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(5)

    def _main(self) -> None:
        asyncio.run(self._serve())

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        server = await asyncio.start_server(
            self._handle, "127.0.0.1", 0, backlog=1024, ssl=self.ssl_context
        )
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        async with server:
            await self._stop.wait()
            server.close()
            # Handlers still waiting (``/hang``) hold their connections open, and
            # from Python 3.12 on the server's exit waits for every connection.
            for task in asyncio.all_tasks():
                if task is not asyncio.current_task():
                    task.cancel()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                length = 0
                for line in head.split(b"\r\n")[1:]:
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                body = await reader.readexactly(length) if length else b""
                with self._lock:
                    self.requests += 1
                    self.heads.append(head)
                    self.bodies.append(body)
                target = head.split(b" ", 2)[1].decode()
                parts = urlsplit(target)
                q = {k: v[-1] for k, v in parse_qs(parts.query).items()}
                keep = await self._respond(parts.path, q, writer)
                if not keep:
                    return
        except asyncio.CancelledError:
            return  # the server stops: end quietly (a cancelled handler is logged)
        finally:
            writer.close()

    async def _respond(self, path: str, q: dict[str, str], w: asyncio.StreamWriter) -> bool:
        size = int(q.get("size", "5"))
        if path == "/ok" or path.startswith("/ok/"):
            w.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % size + b"x" * size)
        elif path == "/chunked":
            chunk = int(q.get("chunk", "1000"))
            gap = float(q.get("gap_ms", "0")) / 1000
            w.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
            sent = 0
            while sent < size:
                n = min(chunk, size - sent)
                w.write(b"%x\r\n" % n + b"y" * n + b"\r\n")
                sent += n
                await w.drain()
                if gap:
                    await asyncio.sleep(gap)
            w.write(b"0\r\n\r\n")
        elif path == "/delay":
            await asyncio.sleep(float(q.get("ms", "100")) / 1000)
            w.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % size + b"d" * size)
        elif path == "/status":
            code = int(q.get("code", "500"))
            body = q.get("hint", "failed").encode()
            extra = b"x-amzn-ErrorType: %s\r\n" % q["type"].encode() if "type" in q else b""
            w.write(
                b"HTTP/1.1 %d X\r\n%sContent-Length: %d\r\n\r\n" % (code, extra, len(body)) + body
            )
        elif path == "/cut":
            send = int(q.get("send", str(size // 2)))
            w.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % size + b"c" * send)
            await w.drain()
            return False
        elif path == "/close":
            w.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            await w.drain()
            return False
        elif path == "/eof":
            w.write(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n" + b"e" * size)
            await w.drain()
            return False
        elif path == "/knee":
            # A burst as fast as the socket takes it, then a steady slow rate.
            burst, slow = int(q.get("burst", "1000000")), int(q.get("slow", "20"))
            w.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
            for _ in range(burst // 50_000):
                w.write(b"%x\r\n" % 50_000 + b"k" * 50_000 + b"\r\n")
                await w.drain()
            for _ in range(slow):
                await asyncio.sleep(0.025)
                w.write(b"%x\r\n" % 10_000 + b"s" * 10_000 + b"\r\n")
                await w.drain()
            w.write(b"0\r\n\r\n")
        elif path == "/flaky":
            code = 503 if self.requests % int(q.get("every", "2")) == 0 else 200
            w.write(b"HTTP/1.1 %d X\r\nContent-Length: 2\r\n\r\nok" % code)
        elif path == "/hang":
            await asyncio.sleep(3600)
        elif path == "/hang-every":
            if self.requests % int(q.get("every", "2")) == 0:
                await asyncio.sleep(3600)
            w.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        elif path == "/raw":  # these bytes as the whole answer, then close
            w.write(q.get("text", "").encode("latin-1"))
            await w.drain()
            return False
        elif path == "/headers-early":
            w.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
            await w.drain()
            await asyncio.sleep(float(q.get("ms", "100")) / 1000)
            self.body_sent.append(time.perf_counter_ns())
            w.write(b"5\r\nhello\r\n0\r\n\r\n")
        else:
            w.write(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
        await w.drain()
        return True
