#!/usr/bin/env python
"""lstream bench side by side with wrk and hey, on loopback, in the same run.

Starts its own nginx (temporary prefix, ``daemon off``, ``worker_processes
auto``, ``access_log off``) serving a 1 KiB and an 8 MiB file, and a small
asyncio server that waits exactly 100 ms before its first byte. Then, each
round alternating who goes first:

0. ``start``: ``bench -n 2 -c 2`` wall time (the whole command, start-up
   included), against ``hey -n 2 -c 2``.
1. ``c50``: 1 KiB at 50 connections: requests/s, lstream / wrk (``-t2``)
   and lstream / hey, same duration.
2. ``c1000``: 1 KiB at 1,000 connections: requests/s, lstream / wrk, and
   lstream's TTFB p99 for first requests on new connections and for reused
   ones (the connect storm apart), wrk's latency p99.
3. ``8m``: 200 streams of 8 MiB (-n 200 -c 200): aggregate bytes/s, lstream / hey.
4. ``delay``: 100 ms first byte at 200 connections: lstream's TTFB p50 (goal
   100-110 ms), hey's for reference.

Usage: ``python benchmarks/bench_load.py [--duration 5] [--rounds 3] [--only c50,c1000]``.
The machine is shared: the 1-minute load average is printed with the figures.
This is a benchmark, not a test: it asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _peers import ENV, free_port, need, nginx, random_bytes, wait_port


async def _delay_server(port: int, delay_s: float) -> None:
    body = b"x" * 64
    reply = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body) + body

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                await reader.readuntil(b"\r\n\r\n")
                await asyncio.sleep(delay_s)
                writer.write(reply)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", port, backlog=2048)
    async with server:
        await server.serve_forever()


def start_delay_server(port: int) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen([sys.executable, __file__, "--delay-server", str(port)])
    wait_port(port, proc)
    return proc


def run_hey(args: list[str]) -> str:
    hey = need("hey", "hey")
    return subprocess.run([hey, *args], capture_output=True, text=True, check=True).stdout


def hey_figures(out: str) -> dict[str, float]:
    def num(pattern: str) -> float:
        m = re.search(pattern, out)
        return float(m.group(1)) if m else float("nan")

    total_s = num(r"Total:\s+([\d.]+) secs")
    data = num(r"Total data:\s+([\d.]+) bytes")
    return {
        "rps": num(r"Requests/sec:\s+([\d.]+)"),
        "bytes_per_s": data / total_s if total_s else float("nan"),
        "p50_ms": num(r"50%+ in ([\d.]+) secs") * 1000,
    }


def run_wrk(args: list[str]) -> dict[str, float]:
    wrk = need("wrk", "wrk")
    out = subprocess.run([wrk, "--latency", *args], capture_output=True, text=True).stdout

    def num(pattern: str) -> float:
        m = re.search(pattern, out)
        return float(m.group(1)) if m else float("nan")

    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)\b", out)
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}
    return {
        "rps": num(r"Requests/sec:\s+([\d.]+)"),
        "p99_ms": float(p99.group(1)) * scale[p99.group(2)] if p99 else float("nan"),
    }


def wall_s(argv: list[str]) -> float:
    began = time.perf_counter()
    subprocess.run(argv, env=ENV, check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - began


def run_lstream(args: list[str], workdir: Path) -> dict[str, Any]:
    out = workdir / "lstream.json"
    subprocess.run(
        [sys.executable, "-m", "lstream_cli", "bench", *args, "--json", str(out)],
        env=ENV,
        check=False,
        stderr=subprocess.DEVNULL,
    )
    doc: dict[str, Any] = json.loads(out.read_text())
    return doc


def _pair(
    lstream_first: bool, hey_args: list[str], lstream_args: list[str], workdir: Path
) -> tuple[dict[str, float], dict[str, Any]]:
    if lstream_first:
        ls = run_lstream(lstream_args, workdir)
        return hey_figures(run_hey(hey_args)), ls
    h = hey_figures(run_hey(hey_args))
    return h, run_lstream(lstream_args, workdir)


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"load {one:.2f}/{five:.2f}"


def _ordered(lstream_first: bool, *steps: Any) -> list[Any]:
    """Run the zero-argument ``steps`` (lstream's first), lstream first or last."""
    order = list(steps) if lstream_first else [*steps[1:], steps[0]]
    results = {id(step): step() for step in order}
    return [results[id(step)] for step in steps]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--only", default="start,c50,c1000,8m,delay")
    parser.add_argument("--delay-server", type=int, default=None, help=argparse.SUPPRESS)
    opts = parser.parse_args()
    if opts.delay_server is not None:
        asyncio.run(_delay_server(opts.delay_server, 0.100))
        return
    only = set(opts.only.split(","))
    z = f"{opts.duration:g}s"
    d = f"{opts.duration:g}s"
    with (
        tempfile.TemporaryDirectory(prefix="lstream-bench-") as tmp,
        nginx({"1k": 1024, "8m": 8 * 1024 * 1024}, fill=random_bytes) as base,
    ):
        root = Path(tmp)
        dport = free_port()
        delay = start_delay_server(dport)
        hey = need("hey", "hey")
        ratios: dict[str, list[float]] = {}

        def keep(name: str, value: float) -> float:
            ratios.setdefault(name, []).append(value)
            return value

        url1k = f"{base}/1k"
        argv = [sys.executable, "-m", "lstream_cli", "bench", url1k, "-n", "2", "-c", "2"]
        argv += ["--auth", "none"]
        try:
            print(f"cpus {os.cpu_count()}, {load()} before the run")
            for rnd in range(1, opts.rounds + 1):
                # Alternate who goes first: a shared machine drifts during a run.
                first = rnd % 2 == 0
                print(f"-- round {rnd} ({'lstream' if first else 'the peers'} first)")
                if "start" in only:
                    ls_s, hey_s = _ordered(
                        first,
                        lambda: wall_s(argv),
                        lambda: wall_s([hey, "-n", "2", "-c", "2", url1k]),
                    )
                    keep("start_ms", ls_s * 1000)
                    print(
                        f"bench -n 2 -c 2 wall: lstream {ls_s * 1000:.0f} ms, hey "
                        f"{hey_s * 1000:.0f} ms  [{load()}]"
                    )
                if "c50" in only:
                    ls, w, h = _ordered(
                        first,
                        lambda: run_lstream([url1k, "-c", "50", "-z", z], root),
                        lambda: run_wrk(["-t2", "-c50", f"-d{d}", url1k]),
                        lambda: hey_figures(run_hey(["-c", "50", "-z", z, url1k])),
                    )
                    print(
                        f"1 KiB -c 50 -z {z}: lstream {ls['rps']:,.0f} req/s (ok "
                        f"{ls['ok']}/{ls['requests']}, {ls['workers']} workers, lag p99 "
                        f"{ls['client']['loop_lag_ms_p99']} ms, CPU "
                        f"{ls['client']['cpu_pct']}%), wrk {w['rps']:,.0f}, hey {h['rps']:,.0f}"
                        f" -> {keep('c50_wrk', ls['rps'] / w['rps']):.2f}x wrk, "
                        f"{keep('c50_hey', ls['rps'] / h['rps']):.2f}x hey  [{load()}]"
                    )
                if "c1000" in only:
                    ls, w = _ordered(
                        first,
                        lambda: run_lstream([url1k, "-c", "1000", "-z", z], root),
                        lambda: run_wrk(["-t2", "-c1000", f"-d{d}", url1k]),
                    )
                    print(
                        f"1 KiB -c 1000 -z {z}: lstream {ls['rps']:,.0f} req/s (ok "
                        f"{ls['ok']}/{ls['requests']}, errors {ls['errors']}, TTFB p99 "
                        f"{ls['ttfb_ms']['p99']} ms: new conn {ls['ttfb_new_conn_ms']['p99']} ms "
                        f"x{ls['ttfb_new_conn_ms']['count']}, reused "
                        f"{ls['ttfb_reused_conn_ms']['p99']} ms; saturated "
                        f"{ls['client']['saturated']}), wrk {w['rps']:,.0f} req/s (p99 "
                        f"{w['p99_ms']:.2f} ms) -> {keep('c1000_wrk', ls['rps'] / w['rps']):.2f}x"
                        f" wrk  [{load()}]"
                    )
                if "8m" in only:
                    h, ls = _pair(
                        first,
                        ["-n", "200", "-c", "200", f"{base}/8m"],
                        [f"{base}/8m", "-c", "200", "-n", "200"],
                        root,
                    )
                    print(
                        f"8 MiB x 200 streams, -c 200: hey {h['bytes_per_s'] / 1e9:.2f} GB/s, "
                        f"lstream {ls['bytes_per_s'] / 1e9:.2f} GB/s (ok {ls['ok']}) -> ratio "
                        f"{keep('8m_hey', ls['bytes_per_s'] / h['bytes_per_s']):.2f}x  [{load()}]"
                    )
                if "delay" in only:
                    url = f"http://127.0.0.1:{dport}/"
                    h, ls = _pair(
                        first, ["-c", "200", "-z", z, url], [url, "-c", "200", "-z", z], root
                    )
                    print(
                        f"100 ms first byte, -c 200 -z {z}: lstream TTFB p50 "
                        f"{keep('delay_p50_ms', ls['ttfb_ms']['p50']):.2f} ms (p99 "
                        f"{ls['ttfb_ms']['p99']:.2f}, {ls['rps']:,.0f} req/s); hey p50 "
                        f"{h['p50_ms']:.2f} ms ({h['rps']:,.0f} req/s)  [{load()}]"
                    )
            medians = ", ".join(
                f"{name} {statistics.median(values):.2f}" for name, values in ratios.items()
            )
            print(f"-- median over {opts.rounds} round(s): {medians}")
        finally:
            delay.terminate()
            try:
                delay.wait(timeout=10)
            except subprocess.TimeoutExpired:
                delay.kill()


if __name__ == "__main__":
    main()
