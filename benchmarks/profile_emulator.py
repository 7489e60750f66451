#!/usr/bin/env python3
"""Where a small request's time goes inside the emulator, without sockets.

One connection of the function URL server is fed the request hey sends
(``GET /?size=1024``) again and again on a uvloop loop; its transport only
collects what would be written. No system call is made, so what is left is
the emulator's own Python: CPU microseconds per request (the best of five
batches), writes and bytes per response, and with ``--profile`` the
functions cProfile finds the time in (``--sort``, ``--top``).

    python benchmarks/profile_emulator.py [--mode stream|buffered] [-n 20000]
        [--log FILE] [--profile [--sort tottime] [--top 25]]

``--log FILE``: with the request log on, written to FILE. The figures of a
run are in benchmarks/RESULTS-emu.md; `bench_emulator.py` measures the
same path through real sockets beside nginx.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import sys
import time
from typing import Any

import _peers  # noqa: F401  (this checkout's lstream_cli first on sys.path)

from lstream_cli._eventloop import new_event_loop
from lstream_cli.emulator.config import REQUEST_LIMIT, EmulatorConfig
from lstream_cli.emulator.functionurl import FunctionUrlApp
from lstream_cli.emulator.http import HttpServer, _Connection
from lstream_cli.emulator.runtime import Runtime

REQUEST = (
    b"GET /?size=1024 HTTP/1.1\r\nHost: 127.0.0.1:9000\r\nUser-Agent: hey/0.0.1\r\n"
    b"Content-Type: text/html\r\nAccept-Encoding: gzip\r\n\r\n"
)


class Collecting:
    """A transport that keeps what is written and wakes the waiting client."""

    def __init__(self) -> None:
        self.writes = 0
        self.size = 0
        self.answered: asyncio.Future[None] | None = None

    def set_write_buffer_limits(self, high: int, low: int) -> None:
        return None

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return ("127.0.0.1", 40000) if name == "peername" else default

    def write(self, data: bytes) -> None:
        self.writes += 1
        self.size += len(data)
        if self.answered is not None and not self.answered.done():
            self.answered.set_result(None)

    def writelines(self, parts: list[bytes]) -> None:
        for part in parts:
            self.write(part)

    def close(self) -> None:
        return None


async def run(args: argparse.Namespace) -> None:
    loop = asyncio.get_running_loop()
    log = None
    if args.log:
        from lstream_cli.render.serve import RequestLogPrinter

        log = RequestLogPrinter(open(args.log, "w"))  # noqa: SIM115 (open for the whole run)
    runtime = Runtime(EmulatorConfig(throttle=False, stream_limit=0, log=log))
    conn = _Connection(HttpServer(FunctionUrlApp(runtime, args.mode), REQUEST_LIMIT))
    transport = Collecting()
    conn.connection_made(transport)  # type: ignore[arg-type]

    async def one() -> None:
        transport.answered = loop.create_future()
        conn.data_received(REQUEST)
        await transport.answered
        await asyncio.sleep(0)  # the response's last step

    for _ in range(2000):  # warm up
        await one()
    transport.writes = transport.size = 0
    profile = cProfile.Profile() if args.profile else None
    if profile is not None:
        profile.enable()
    batches = []
    for _ in range(5):
        t0 = time.process_time()
        for _ in range(args.n // 5):
            await one()
        batches.append(time.process_time() - t0)
    if profile is not None:
        profile.disable()
        pstats.Stats(profile).sort_stats(args.sort).print_stats(args.top)
    conn.connection_lost(None)  # its task ends with it
    await asyncio.sleep(0)
    per = min(batches) / (args.n // 5) * 1e6
    n = args.n // 5 * 5
    print(
        f"{args.mode}: {per:.1f} us CPU per request (best of 5 batches"
        f"{', under cProfile' if profile else ''}), {transport.writes / n:.2f} writes and "
        f"{transport.size / n:.0f} bytes per response"
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--mode", choices=["stream", "buffered"], default="stream")
    ap.add_argument("-n", type=int, default=20000, help="requests measured")
    ap.add_argument("--log", metavar="FILE", help="request log on, written to FILE")
    ap.add_argument("--profile", action="store_true", help="run under cProfile, print its top")
    ap.add_argument("--sort", default="tottime", help="cProfile sort key (default tottime)")
    ap.add_argument("--top", type=int, default=25, help="cProfile lines printed")
    args = ap.parse_args()
    loop = new_event_loop()
    try:
        loop.run_until_complete(run(args))
    finally:
        loop.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
