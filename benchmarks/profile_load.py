#!/usr/bin/env python
"""Where one load-engine request spends its CPU: a profile, and the per-request Python cost.

Three measurements, for before/after comparisons of the engine (run it on two
checkouts with ``PYTHONPATH`` pointing at each, alternating):

- ``--profile``: one worker in this process (``run_load``, ``--workers 1``)
  against its own nginx serving 1 KiB, ``-c 50`` for ``--duration``
  seconds under cProfile; prints the functions by own time;
- ``--sockets``: CPU per request (user and system, from the process's own
  times) of one worker in this process against its own nginx serving 1 KiB,
  ``-c 50`` for ``--duration`` seconds, and of ``wrk -t1`` (one thread, the
  same connections and duration, its rusage) right after, ``--rounds``
  times: the client cost side by side, in the same run;
- default: the per-request work with no socket at all: a ``BodyMeter``, an
  ``Exchange`` fed one canned nginx answer (head and 1 KiB body in one
  read), ``RunStats.add`` and the per-second series, repeated; prints
  microseconds of CPU per request (min and median of 5 passes).

This is a benchmark, not a test: it asserts nothing but that the requests
counted are the requests made. The machine is shared: the load is printed.
"""

from __future__ import annotations

import argparse
import cProfile
import dataclasses
import os
import pstats
import re
import statistics
import subprocess
import time

from _peers import need, nginx, random_bytes

from lstream_cli.engine.core import Exchange
from lstream_cli.engine.protocol import TIMELINE_FROM_BYTES
from lstream_cli.engine.results import RunStats
from lstream_cli.engine.series import SeriesRecorder
from lstream_cli.engine.workers import LoadConfig, run_load
from lstream_cli.measure import BodyMeter
from lstream_cli.request import RequestSpec

_ANSWER = (
    b"HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Tue, 01 Dec 2026 11:00:00 GMT\r\n"
    b"Content-Type: application/octet-stream\r\nContent-Length: 1024\r\n"
    b"Last-Modified: Tue, 01 Dec 2026 10:00:00 GMT\r\nConnection: keep-alive\r\n"
    b'ETag: "abc-400"\r\nAccept-Ranges: bytes\r\n\r\n' + b"x" * 1024
)


def without_sockets(n: int) -> RunStats:
    """``n`` requests' worth of the engine's per-request work, no I/O."""
    stats = RunStats()
    perf = time.perf_counter_ns
    series = stats.series = SeriesRecorder(perf(), lambda: 0, None)
    data = memoryview(bytearray(_ANSWER))
    add = stats.add
    for _ in range(n):
        series.start()
        meter = BodyMeter(perf(), keep_timeline=False)
        meter.set_up(None, None, None)  # a kept-alive connection
        ex = Exchange(
            meter, reused=True, timeout_ns=30_000_000_000, keep_headers=False,
            timeline_from=TIMELINE_FROM_BYTES,
        )  # fmt: skip
        ex.feed(data, perf())
        assert ex.record is not None
        add(ex.record)
    stats.flush()
    return stats


def wrk_cpu(url: str, connections: int, duration: float) -> tuple[float, float, float]:
    """``wrk -t1``: (requests/s, user us, system us per request) from its own rusage."""
    proc = subprocess.Popen(
        [need("wrk", "wrk"), "-t1", f"-c{connections}", f"-d{duration:g}s", url],
        stdout=subprocess.PIPE,
        text=True,
    )
    out = proc.stdout.read() if proc.stdout is not None else ""
    _, _, usage = os.wait4(proc.pid, 0)
    proc.returncode = 0
    m = re.search(r"(\d+) requests in", out)
    n = int(m.group(1)) if m else 0
    if not n:
        raise SystemExit(f"wrk made no request:\n{out}")
    return n / duration, usage.ru_utime / n * 1e6, usage.ru_stime / n * 1e6


def with_sockets(url: str, connections: int, duration: float) -> tuple[float, float, float]:
    """One worker in this process: (requests/s, user us, system us per request)."""
    spec = RequestSpec(url=url, auth="none")
    config = LoadConfig(spec, connections, None, duration, None, workers=1)
    before = os.times()
    out = run_load(config)
    after = os.times()
    n = out.stats.requests
    assert n == out.stats.ok, "every request must succeed"
    user, system = after.user - before.user, after.system - before.system
    return n / out.stats.duration_s, user / n * 1e6, system / n * 1e6


def side_by_side(opts: argparse.Namespace) -> None:
    with nginx({"1k": 1024}, fill=random_bytes) as base:
        url = f"{base}/1k"
        c = opts.connections
        run_load(
            LoadConfig(RequestSpec(url=url, auth="none"), c, None, 0.5, None, workers=1)
        )  # caches, first connections
        ratios: list[float] = []
        for rnd in range(1, opts.rounds + 1):
            ls = with_sockets(url, c, opts.duration)
            wrk = wrk_cpu(url, c, opts.duration)
            ratio = (wrk[1] + wrk[2]) / (ls[1] + ls[2])
            ratios.append(ratio)
            print(
                f"round {rnd}, -c {c}: lstream (1 worker) {ls[0]:,.0f} req/s, "
                f"{ls[1]:.1f} us user + {ls[2]:.1f} us sys per request; wrk -t1 "
                f"{wrk[0]:,.0f} req/s, {wrk[1]:.1f} us user + {wrk[2]:.1f} us sys -> lstream "
                f"needs {1 / ratio:.2f}x wrk's CPU per request  [load {os.getloadavg()[0]:.2f}]"
            )
        print(f"median: lstream needs {1 / statistics.median(ratios):.2f}x wrk's CPU per request")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--duration", type=float, default=3.0)
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--lines", type=int, default=30)
    parser.add_argument("--sockets", action="store_true")
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=3)
    opts = parser.parse_args()
    if opts.sockets:
        side_by_side(opts)
        return
    if not opts.profile:
        passes = []
        for _ in range(5):
            began = time.process_time()
            stats = without_sockets(opts.requests)
            passes.append((time.process_time() - began) / opts.requests * 1e6)
            assert stats.ok == stats.requests == opts.requests
        passes.sort()
        print(
            f"{passes[0]:.2f} us per request (min of 5), median {passes[2]:.2f}  "
            f"[load {os.getloadavg()[0]:.2f}]"
        )
        return
    with nginx({"1k": 1024}, workers="1", fill=random_bytes) as base:
        spec = RequestSpec(url=f"{base}/1k", auth="none")
        config = LoadConfig(spec, 50, None, opts.duration, None, workers=1)
        run_load(dataclasses.replace(config, duration_s=0.5))  # connections, caches
        profile = cProfile.Profile()
        cpu = time.process_time()
        profile.enable()
        out = run_load(config)
        profile.disable()
        cpu = time.process_time() - cpu
        st = out.stats
        print(
            f"requests {st.requests:,} ok {st.ok:,}, {st.requests / st.duration_s:,.0f} req/s, "
            f"{cpu / st.requests * 1e6:.1f} us CPU per request under the profiler  "
            f"[load {os.getloadavg()[0]:.2f}]"
        )
        pstats.Stats(profile).sort_stats("tottime").print_stats(opts.lines)


if __name__ == "__main__":
    main()
