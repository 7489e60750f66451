"""examples/node/sse.mjs run by the real aws-lambda-ric, its stream measured by lstream's meter.

The test serves the few Lambda Runtime API routes the runtime client calls
(``next``, the streamed ``response``, the error routes) on loopback, hands the
handler one function URL event, stamps each chunk of the streamed response as
it arrives and feeds the body to a :class:`BodyMeter` counting SSE events.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import socketserver
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lstream_cli.events import SseCollector
from lstream_cli.measure import BodyMeter, MeterOptions

NODE_DIR = Path(__file__).resolve().parent.parent / "examples" / "node"
RIC = NODE_DIR / "node_modules" / "aws-lambda-ric" / "bin" / "index.mjs"
PRELUDE_END = b"\0" * 8  # the metadata prelude of a streamed HTTP response ends here


class _RuntimeApi:
    def __init__(self, event: dict[str, Any]) -> None:
        self.event = event
        self.served = False
        self.chunks: list[tuple[int, bytes]] = []  # (perf_counter_ns, bytes) of the response
        self.posted_at: int | None = None  # the response request's head arrived
        self.done = threading.Event()
        self.errors: list[bytes] = []


def _read_head(f: Any) -> tuple[str, str, dict[str, str]] | None:
    line = f.readline()
    if not line:
        return None
    method, target, _ = line.decode("latin-1").split(" ", 2)
    headers: dict[str, str] = {}
    while (h := f.readline()) not in (b"\r\n", b"\n", b""):
        name, _, value = h.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    return method, target, headers


def _reply(
    sock: socket.socket, status: int, body: bytes, extra: dict[str, str] | None = None
) -> None:
    head = [
        f"HTTP/1.1 {status} X",
        f"Content-Length: {len(body)}",
        "Content-Type: application/json",
    ]
    head += [f"{k}: {v}" for k, v in (extra or {}).items()]
    sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body)


@pytest.fixture
def runtime_api() -> Iterator[tuple[str, _RuntimeApi]]:
    state = _RuntimeApi(
        {
            "version": "2.0",
            "rawPath": "/",
            "rawQueryString": "tokens=12&rate=40&first_ms=300",
            "queryStringParameters": {"tokens": "12", "rate": "40", "first_ms": "300"},
            "headers": {},
            "requestContext": {"http": {"method": "GET", "path": "/"}},
            "isBase64Encoded": False,
        }
    )

    class Handler(socketserver.StreamRequestHandler):
        def handle(self) -> None:
            sock: socket.socket = self.request
            while (head := _read_head(self.rfile)) is not None:
                _method, target, headers = head
                if target.endswith("/invocation/next"):
                    if state.served:
                        state.done.wait(30)  # one invocation only
                        return
                    state.served = True
                    _reply(
                        sock,
                        200,
                        json.dumps(state.event).encode(),
                        {
                            "Lambda-Runtime-Aws-Request-Id": "req-1",
                            "Lambda-Runtime-Deadline-Ms": str(int(time.time() * 1000) + 60_000),
                            "Lambda-Runtime-Invoked-Function-Arn": "arn:aws:lambda:us-east-1:123456789012:function:sse",
                            "Lambda-Runtime-Trace-Id": "Root=1-00000000-000000000000000000000000",
                        },
                    )
                elif target.endswith("/response") and "chunked" in headers.get(
                    "transfer-encoding", ""
                ):
                    state.posted_at = time.perf_counter_ns()
                    while True:
                        size = int(self.rfile.readline().split(b";")[0], 16)
                        if size == 0:
                            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                                pass  # trailers
                            break
                        data = self.rfile.read(size)
                        self.rfile.readline()
                        state.chunks.append((time.perf_counter_ns(), data))
                    _reply(sock, 202, b"{}")
                    state.done.set()
                else:  # an error route, or a response that did not stream
                    length = int(headers.get("content-length", "0"))
                    state.errors.append(target.encode() + b" " + self.rfile.read(length))
                    _reply(sock, 202, b"{}")
                    state.done.set()

    class Server(socketserver.ThreadingTCPServer):
        daemon_threads = True
        allow_reuse_address = True

    server = Server(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}", state
    finally:
        state.done.set()
        server.shutdown()
        server.server_close()


def test_llm_like_sse_answer_through_aws_lambda_ric(runtime_api: tuple[str, _RuntimeApi]) -> None:
    address, state = runtime_api
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": os.environ.get("HOME", "/tmp"),
        "AWS_LAMBDA_RUNTIME_API": address,
        "LAMBDA_TASK_ROOT": str(NODE_DIR),
        "_HANDLER": "sse.handler",
        "AWS_LAMBDA_FUNCTION_NAME": "sse",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
    }
    node = shutil.which("node")
    assert node is not None and RIC.exists(), (
        "Node.js and aws-lambda-ric are needed (.ci/run installs both)"
    )
    proc = subprocess.Popen(
        [node, str(RIC), "sse.handler"],
        cwd=NODE_DIR,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        assert state.done.wait(30), "the runtime client never answered"
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=10)
    assert not state.errors, (state.errors, out.decode(errors="replace"))
    assert state.posted_at is not None
    body = b"".join(data for _, data in state.chunks)
    prelude, sep, _ = body.partition(PRELUDE_END)
    assert sep, "no metadata prelude"
    meta = json.loads(prelude)
    assert meta["statusCode"] == 200
    assert meta["headers"]["content-type"] == "text/event-stream"

    # The body as a client would read it, chunk by chunk, through the meter.
    meter = BodyMeter(state.posted_at, options=MeterOptions(events="auto"))
    meter.headers(state.posted_at, 200, (("content-type", meta["headers"]["content-type"]),))
    collector = SseCollector()
    skip = len(prelude) + len(PRELUDE_END)
    for at, data in state.chunks:
        part = data[skip:] if skip else data
        skip = max(0, skip - len(data))
        if part:
            meter.data(at, len(part), part)
            collector.feed(part)
    record = meter.finish(state.chunks[-1][0], complete=True)
    assert record.events == 13  # 12 tokens and [DONE]
    tokens = [json.loads(e.data) for e in collector.events[:-1]]
    assert [t["index"] for t in tokens] == list(range(12))
    assert collector.events[-1].data == "[DONE]"
    # the `: thinking` comment is the first byte; the first token came after it
    assert record.first_byte_ns is not None and record.first_event_ns is not None
    assert record.first_event_ns > record.first_byte_ns
    # 40 tokens/s: eleven intervals of 25 ms between the first and the last token
    assert record.event_gaps is not None and record.event_gaps.count == 12
