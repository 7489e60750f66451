#!/usr/bin/env python3
"""The emulator beside nginx, same bytes, same run, loopback only.

Figures, each as a ratio to nginx measured in the same run:
- single-stream throughput: one 1 GiB body (emulator: ``--no-throttle``,
  synthetic handler, 1 MiB writes; nginx: a file of the same size), read by
  curl into /dev/null; the emulator's peak RSS is printed too (memory stays
  flat: the body is never held);
- requests per second for 1 KiB responses: hey, 50 connections, keep-alive,
  against nginx's 1 KiB file and the emulator's stream (chunked) and
  buffered (Content-Length) function URLs, and the stream URL again with
  the request log on (one line per request, to a file).

Beside each rate, the server's own CPU time per request in that run (its
process tree's user + system time, from /proc): unlike the rates, it
hardly moves with the load other processes put on the machine.

Each round runs every figure once, alternating; the medians over the rounds
are printed with their range. ``--baseline REV`` also runs the emulator of
another commit (``git archive REV``) in the same rounds: a before/after on
the same machine load.

nginx runs as many worker processes as the emulator has (``--workers``,
default 1; ``--nginx-workers`` sets another count): the same number of
server processes on each side, printed with the figures.

Targets: throughput >= 0.5x nginx, 1 KiB requests per second >= 0.6x nginx.
The machine is shared: the script prints the load average before and after.

    python benchmarks/bench_emulator.py [--size 1GiB] [--duration 5] [--rounds 3]
        [--workers N] [--nginx-workers N] [--baseline REV]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import re
import statistics
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Iterator
from pathlib import Path

from _peers import ROOT, curl_rate, emulator, need, nginx, peak_rss_kib, tree_cpu_seconds

from lstream_cli.units import parse_size


def write_pattern(path: Path, size: int) -> None:
    """The synthetic handler's bytes (byte i = i % 256), so both send the same."""
    block = bytes(range(256)) * 4096  # 1 MiB
    with path.open("wb") as fh:
        left = size
        while left > 0:
            fh.write(block[: min(left, len(block))])
            left -= len(block)


def hey_rps(url: str, duration: float, connections: int, server_pid: int) -> tuple[float, float]:
    """hey's requests per second, and the server's CPU microseconds per request meanwhile."""
    cpu = tree_cpu_seconds(server_pid)
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
    cpu = tree_cpu_seconds(server_pid) - cpu
    answered = sum(int(n) for _, n in codes)
    return float(m.group(1)), cpu / max(answered, 1) * 1e6


@contextlib.contextmanager
def checkout(rev: str) -> Iterator[Path]:
    """``lstream_cli`` as it is at commit ``rev``, in a temporary folder."""
    with tempfile.TemporaryDirectory(prefix="lstream-baseline-") as tmp:
        archive = subprocess.run(
            ["git", "-C", str(ROOT), "archive", "--format=tar", rev, "lstream_cli"],
            capture_output=True,
            check=True,
        ).stdout
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(tmp, filter="data")
        yield Path(tmp)


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"


def spread(values: list[float]) -> tuple[float, float, float]:
    return statistics.median(values), min(values), max(values)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--size", default="1GiB", help="stream size (default 1GiB)")
    ap.add_argument("--duration", type=float, default=5.0, help="seconds per hey run")
    ap.add_argument("-c", "--connections", type=int, default=50)
    ap.add_argument("--workers", type=int, default=1, help="emulator worker processes")
    ap.add_argument(
        "--nginx-workers", type=int, help="nginx worker processes (default: as --workers)"
    )
    ap.add_argument("--rounds", type=int, default=3, help="alternating rounds; medians are kept")
    ap.add_argument("--baseline", metavar="REV", help="also run the emulator of this commit")
    args = ap.parse_args()
    size = parse_size(args.size)
    nginx_workers = args.nginx_workers or args.workers
    load_before = load()

    with contextlib.ExitStack() as stack:
        base = stack.enter_context(
            nginx(
                {"big.bin": size, "small.bin": 1024},
                workers=str(nginx_workers),
                fill=write_pattern,
            )
        )
        emu = stack.enter_context(emulator(args.workers))
        logged = stack.enter_context(emulator(args.workers, quiet=False))
        old = None
        if args.baseline:
            old = stack.enter_context(
                emulator(args.workers, root=stack.enter_context(checkout(args.baseline)))
            )
        ep = emu.endpoints
        stream_url = ep["stream"] + f"/?size={size}&chunk=1MiB"
        # (URL, the process serving it)
        small: dict[str, tuple[str, int]] = {
            "nginx_rps": (base + "/small.bin", base.pid),
            "emu_stream_rps": (ep["stream"] + "/?size=1024", emu.pid),
            "emu_buffered_rps": (ep["buffered"] + "/?size=1024", emu.pid),
            "emu_logged_rps": (logged.endpoints["stream"] + "/?size=1024", logged.pid),
        }
        if old is not None:
            small["old_stream_rps"] = (old.endpoints["stream"] + "/?size=1024", old.pid)
            small["old_buffered_rps"] = (old.endpoints["buffered"] + "/?size=1024", old.pid)
        results: dict[str, list[float]] = {k: [] for k in ("nginx_bps", "emu_bps", *small)}
        cpu_us: dict[str, list[float]] = {k: [] for k in small}
        for _ in range(args.rounds):
            results["nginx_bps"].append(curl_rate(base + "/big.bin", size))
            results["emu_bps"].append(curl_rate(stream_url, size))
            for key, (url, pid) in small.items():
                rate, cpu = hey_rps(url, args.duration, args.connections, pid)
                results[key].append(rate)
                cpu_us[key].append(cpu)
        rss = peak_rss_kib(emu.pid)

    med = {k: statistics.median(v) for k, v in results.items()}
    print(f"machine: {os.cpu_count()} cores, load average {load_before} before, {load()} after")
    print(f"stream of {size} bytes (curl -> /dev/null, median of {args.rounds}):")
    print(f"  nginx     {med['nginx_bps'] / 1e9:6.2f} GB/s")
    print(
        f"  emulator  {med['emu_bps'] / 1e9:6.2f} GB/s   ratio {med['emu_bps'] / med['nginx_bps']:.2f}x"
        f"  (target >= 0.5x)  emulator peak RSS {rss / 1024:.0f} MiB"
    )
    print(
        f"1 KiB responses (hey -c {args.connections} -z {args.duration:g}s, median of "
        f"{args.rounds}, [min-max]):"
    )
    m, lo, hi = spread(results["nginx_rps"])
    nginx_cpu = statistics.median(cpu_us["nginx_rps"])
    print(
        f"  {'nginx':<27}  {m:9.0f} req/s  [{lo:.0f}-{hi:.0f}]   "
        f"server CPU {nginx_cpu:.1f} us/request"
    )
    labels = {
        "emu_stream_rps": "emulator stream",
        "emu_buffered_rps": "emulator buffered",
        "emu_logged_rps": "emulator stream, log on",
        "old_stream_rps": f"baseline {args.baseline} stream",
        "old_buffered_rps": f"baseline {args.baseline} buffered",
    }
    for key in small:
        if key == "nginx_rps":
            continue
        m, lo, hi = spread(results[key])
        ratios = [v / n for v, n in zip(results[key], results["nginx_rps"], strict=True)]
        print(
            f"  {labels[key]:<27}  {m:9.0f} req/s  [{lo:.0f}-{hi:.0f}]   ratio "
            f"{m / med['nginx_rps']:.2f}x (per round {min(ratios):.2f}-{max(ratios):.2f})"
            + ("  (target >= 0.6x)" if key.startswith("emu_") else "")
        )
        cpu = statistics.median(cpu_us[key])
        print(f"  {'':<27}  server CPU {cpu:.1f} us/request, {cpu / nginx_cpu:.1f}x nginx's")
    print(f"server processes: emulator {args.workers}, nginx {nginx_workers} worker(s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
