#!/usr/bin/env python
"""lstream bench side by side with hey, on loopback, in the same run.

Starts its own nginx (temporary prefix, ``daemon off``, ``worker_processes
auto``, ``access_log off``) serving a 1 KiB and an 8 MiB file, and a small
asyncio server that waits exactly 100 ms before its first byte. Then:

1. 1 KiB at 50 connections for 5 s: requests/s, lstream / hey.
2. 200 streams of 8 MiB (-n 200 -c 200): aggregate bytes/s, lstream / hey.
3. 100 ms first byte at 200 connections for 5 s: lstream's TTFB p50 (goal
   100-110 ms), hey's for reference.

Usage: ``python benchmarks/bench_load.py [--duration 5] [--rounds 1]``.
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--delay-server", type=int, default=None, help=argparse.SUPPRESS)
    opts = parser.parse_args()
    if opts.delay_server is not None:
        asyncio.run(_delay_server(opts.delay_server, 0.100))
        return
    z = f"{opts.duration:g}s"
    with (
        tempfile.TemporaryDirectory(prefix="lstream-bench-") as tmp,
        nginx({"1k": 1024, "8m": 8 * 1024 * 1024}, fill=random_bytes) as base,
    ):
        root = Path(tmp)
        dport = free_port()
        delay = start_delay_server(dport)
        try:
            print(f"cpus {os.cpu_count()}, {load()} before the run")
            ratios: dict[str, list[float]] = {"rps": [], "bytes": [], "p50": []}
            for rnd in range(1, opts.rounds + 1):
                # Alternate who goes first: a shared machine drifts during a run.
                lstream_first = rnd % 2 == 0
                print(f"-- round {rnd} ({'lstream' if lstream_first else 'hey'} first)")
                h, ls = _pair(
                    lstream_first,
                    ["-c", "50", "-z", z, f"{base}/1k"],
                    [f"{base}/1k", "-c", "50", "-z", z],
                    root,
                )
                ratios["rps"].append(ls["rps"] / h["rps"])
                print(
                    f"1 KiB, -c 50 -z {z}: hey {h['rps']:,.0f} req/s, lstream "
                    f"{ls['rps']:,.0f} req/s (ok {ls['ok']}/{ls['requests']}, {ls['workers']} "
                    f"workers, lag p99 {ls['client']['loop_lag_ms_p99']} ms) -> ratio "
                    f"{ratios['rps'][-1]:.2f}x  [{load()}]"
                )
                h, ls = _pair(
                    lstream_first,
                    ["-n", "200", "-c", "200", f"{base}/8m"],
                    [f"{base}/8m", "-c", "200", "-n", "200"],
                    root,
                )
                ratios["bytes"].append(ls["bytes_per_s"] / h["bytes_per_s"])
                print(
                    f"8 MiB x 200 streams, -c 200: hey {h['bytes_per_s'] / 1e9:.2f} GB/s, "
                    f"lstream {ls['bytes_per_s'] / 1e9:.2f} GB/s (ok {ls['ok']}) -> ratio "
                    f"{ratios['bytes'][-1]:.2f}x  [{load()}]"
                )
                url = f"http://127.0.0.1:{dport}/"
                h, ls = _pair(
                    lstream_first, ["-c", "200", "-z", z, url], [url, "-c", "200", "-z", z], root
                )
                ratios["p50"].append(ls["ttfb_ms"]["p50"])
                print(
                    f"100 ms first byte, -c 200 -z {z}: lstream TTFB p50 "
                    f"{ls['ttfb_ms']['p50']:.2f} ms (p99 {ls['ttfb_ms']['p99']:.2f}, "
                    f"{ls['rps']:,.0f} req/s); hey p50 {h['p50_ms']:.2f} ms "
                    f"({h['rps']:,.0f} req/s)  [{load()}]"
                )
            print(
                f"-- median over {opts.rounds} round(s): 1 KiB req/s ratio "
                f"{statistics.median(ratios['rps']):.2f}x, 8 MiB bytes/s ratio "
                f"{statistics.median(ratios['bytes']):.2f}x, 100 ms TTFB p50 "
                f"{statistics.median(ratios['p50']):.2f} ms"
            )
        finally:
            delay.terminate()
            try:
                delay.wait(timeout=10)
            except subprocess.TimeoutExpired:
                delay.kill()


if __name__ == "__main__":
    main()
