#!/usr/bin/env python3
"""The emulator beside nginx, same bytes, same run, loopback only.

Two figures, each as a ratio to nginx measured in the same run:
- single-stream throughput: one 1 GiB body (emulator: ``--no-throttle``,
  synthetic handler, 1 MiB writes; nginx: a file of the same size), read by
  curl into /dev/null; the emulator's peak RSS is printed too (memory stays
  flat: the body is never held);
- requests per second for 1 KiB responses: hey, 50 connections, keep-alive,
  against nginx's 1 KiB file and the emulator's stream (chunked) and
  buffered (Content-Length) function URLs.

Targets: throughput >= 0.5x nginx, requests per second >= 0.3x nginx, so the
emulator is never what limits ``lstream bench``. The machine is shared:
the script prints the load average beside the figures.

    python benchmarks/bench_emulator.py [--size 1GiB] [--duration 5] [--workers N]
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from pathlib import Path

from _peers import curl_rate, emulator, need, nginx, peak_rss_kib

from lstream_cli.units import parse_size


def write_pattern(path: Path, size: int) -> None:
    """The synthetic handler's bytes (byte i = i % 256), so both send the same."""
    block = bytes(range(256)) * 4096  # 1 MiB
    with path.open("wb") as fh:
        left = size
        while left > 0:
            fh.write(block[: min(left, len(block))])
            left -= len(block)


def hey_rps(url: str, duration: float, connections: int) -> float:
    out = subprocess.run(
        [need("hey", "hey"), "-z", f"{duration}s", "-c", str(connections), url],
        capture_output=True,
        text=True,
        check=True,
        timeout=duration + 120,
    )
    m = re.search(r"Requests/sec:\s+([\d.]+)", out.stdout)
    if not m:
        raise SystemExit(f"hey printed no rate:\n{out.stdout}")
    codes = re.findall(r"\[(\d{3})\]\s+(\d+) responses", out.stdout)
    bad = [c for c in codes if c[0] != "200"]
    if bad:
        raise SystemExit(f"{url}: non-200 responses {bad}")
    return float(m.group(1))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--size", default="1GiB", help="stream size (default 1GiB)")
    ap.add_argument("--duration", type=float, default=5.0, help="seconds per hey run")
    ap.add_argument("-c", "--connections", type=int, default=50)
    ap.add_argument("--workers", type=int, default=1, help="emulator worker processes")
    ap.add_argument("--rounds", type=int, default=2, help="alternating rounds; best is kept")
    args = ap.parse_args()
    size = parse_size(args.size)

    with (
        nginx({"big.bin": size, "small.bin": 1024}, fill=write_pattern) as base,
        emulator(args.workers) as emu,
    ):
        endpoints = emu.endpoints
        stream_url = endpoints["stream"] + f"/?size={size}&chunk=1MiB"
        small_stream = endpoints["stream"] + "/?size=1024"
        small_buffered = endpoints["buffered"] + "/?size=1024"
        results: dict[str, list[float]] = {
            k: []
            for k in ("nginx_bps", "emu_bps", "nginx_rps", "emu_stream_rps", "emu_buffered_rps")
        }
        for _ in range(args.rounds):
            results["nginx_bps"].append(curl_rate(base + "/big.bin", size))
            results["emu_bps"].append(curl_rate(stream_url, size))
            results["nginx_rps"].append(
                hey_rps(base + "/small.bin", args.duration, args.connections)
            )
            results["emu_stream_rps"].append(hey_rps(small_stream, args.duration, args.connections))
            results["emu_buffered_rps"].append(
                hey_rps(small_buffered, args.duration, args.connections)
            )
        rss = peak_rss_kib(emu.pid)

    best = {k: max(v) for k, v in results.items()}
    load = os.getloadavg()
    print(
        f"machine: {os.cpu_count()} cores, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"
    )
    print(f"stream of {size} bytes (curl -> /dev/null, best of {args.rounds}):")
    print(f"  nginx     {best['nginx_bps'] / 1e9:6.2f} GB/s")
    print(
        f"  emulator  {best['emu_bps'] / 1e9:6.2f} GB/s   ratio {best['emu_bps'] / best['nginx_bps']:.2f}x"
        f"  (target >= 0.5x)  emulator peak RSS {rss / 1024:.0f} MiB"
    )
    print(
        f"1 KiB responses (hey -c {args.connections} -z {args.duration:g}s, best of {args.rounds}):"
    )
    print(f"  nginx              {best['nginx_rps']:9.0f} req/s")
    for key, label in (
        ("emu_stream_rps", "emulator stream  "),
        ("emu_buffered_rps", "emulator buffered"),
    ):
        print(
            f"  {label}  {best[key]:9.0f} req/s   ratio {best[key] / best['nginx_rps']:.2f}x"
            "  (target >= 0.3x)"
        )
    print(f"emulator workers: {args.workers}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
