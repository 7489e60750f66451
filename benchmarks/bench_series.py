#!/usr/bin/env python
"""The per-second series against the emulator: in flight follows the stages; memory stays flat.

Starts ``lstream serve`` (its synthetic handler, no bandwidth caps) and runs:

1. ``bench --stages 15s:40,15s:40,15s:80,15s:0`` (60 s, closed loop) on the
   streaming function URL, each request waiting ``delay_ms=50`` before its
   64 KiB body: prints each second's target beside the achieved mean in
   flight, and the report's own figures. The shape must follow the stages:
   up to 40, a plateau, up to 80, down to 0.
2. A flat-memory run: ``bench -r 300 -z 5m -c 100 --csv FILE`` (open loop,
   1 KiB bodies, about 90,000 requests), sampling the bench process tree's
   RSS (the parent and its workers, ``/proc``) every 10 s: a series of 300
   seconds and a CSV of every request must not grow the memory with the
   duration.

Usage: ``python benchmarks/bench_series.py [--stage-only | --memory-only]
[--memory-duration 5m] [--out DIR]`` (``--out`` keeps the results and the
staged run's HTML report there). The machine is shared: the load average is printed
with the figures. A benchmark, not a test: it asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _peers import ENV, emulator, status_kib

STAGES = "15s:40,15s:40,15s:80,15s:0"


def _load() -> str:
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


def _tree(pid: int) -> list[int]:
    """``pid`` and its descendants (the bench parent and its worker processes)."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            kids = Path(f"/proc/{p}/task/{p}/children").read_text().split()
        except OSError:
            continue
        todo.extend(int(k) for k in kids)
    return out


def _rss_kib(pid: int) -> int:
    return max(0, status_kib(pid, "VmRSS"))


def staged(url: str, tmp: Path) -> None:
    result = tmp / "staged.json"
    argv = [
        sys.executable, "-m", "lstream_cli", "bench", f"{url}/?size=64KiB&delay_ms=50",
        "--auth", "none", "--stages", STAGES, "--json", str(result), "-s",
    ]  # fmt: skip
    print(f"1. lstream bench --stages '{STAGES}' (closed loop, 50 ms + 64 KiB per request)")
    print(f"   load before: {_load()}")
    t0 = time.monotonic()
    proc = subprocess.run(argv, env=ENV, check=False)
    elapsed = time.monotonic() - t0
    doc = json.loads(result.read_text())
    print(f"   exit {proc.returncode}, {elapsed:.1f} s wall, {doc['requests']} requests, ")
    print(
        f"   {doc['rps']:.0f} req/s, TTFB p50 {doc['ttfb_ms']['p50']} ms, p99 {doc['ttfb_ms']['p99']} ms"
    )
    print("   t_s  target  in_flight  req/s  ttfb_p99_ms  bar (in flight)")
    for p in doc["series"]:
        rps = p["requests"] / p["span_s"] if p["span_s"] else 0.0
        bar = "#" * round(p["in_flight"] / 2)
        print(
            f"   {p['t_s']:>3}  {p['target']:>6.1f}  {p['in_flight']:>9.2f}  {rps:>5.0f}"
            f"  {p['ttfb_ms']['p99'] or 0:>11.1f}  {bar}"
        )
    gaps = [abs(p["in_flight"] - p["target"]) for p in doc["series"] if p["span_s"] == 1.0]
    print(f"   |in_flight - target|: mean {sum(gaps) / len(gaps):.2f}, max {max(gaps):.2f}")
    print(f"   load after: {_load()}")
    html = tmp / "staged.html"
    subprocess.run(
        [sys.executable, "-m", "lstream_cli", "report", str(result), "-o", str(html)],
        env=ENV,
        check=False,
    )
    print(f"   report: {html}")


def memory(url: str, tmp: Path, duration: str, every_s: float) -> None:
    rows = tmp / "rows.csv"
    result = tmp / "memory.json"
    argv = [
        sys.executable, "-m", "lstream_cli", "bench", f"{url}/?size=1KiB", "--auth", "none",
        "-r", "300", "-z", duration, "-c", "100", "--workers", "2",
        "--csv", str(rows), "--json", str(result), "-s",
    ]  # fmt: skip
    print(f"\n2. lstream bench -r 300 -z {duration} -c 100 --workers 2 --csv FILE --json FILE")
    print(f"   load before: {_load()}")
    proc = subprocess.Popen(argv, env=ENV)
    t0 = time.monotonic()
    samples: list[tuple[float, int, int]] = []
    next_at = 0.0
    while proc.poll() is None:
        now = time.monotonic() - t0
        if now >= next_at:
            pids = _tree(proc.pid)
            total = sum(_rss_kib(p) for p in pids)
            samples.append((now, total, len(pids)))
            print(f"   t={now:6.1f} s  RSS {total / 1024:7.1f} MiB over {len(pids)} processes")
            next_at += every_s
        time.sleep(0.2)
    doc = json.loads(result.read_text())
    lines = sum(1 for _ in rows.open()) - 1
    print(f"   exit {proc.returncode}: {doc['requests']} requests, {len(doc['series'])} seconds")
    print(f"   in the series, {lines} CSV rows ({rows.stat().st_size / 1e6:.1f} MB on disk)")
    steady = [s for s in samples if s[0] >= 20.0 and s[2] >= 3]
    if len(steady) >= 2:
        first, last = steady[0], steady[-1]
        growth = (last[1] - first[1]) / 1024
        print(
            f"   RSS from t={first[0]:.0f} s to t={last[0]:.0f} s: "
            f"{first[1] / 1024:.1f} -> {last[1] / 1024:.1f} MiB ({growth:+.1f} MiB)"
        )
    print(f"   load after: {_load()}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stage-only", action="store_true")
    parser.add_argument("--memory-only", action="store_true")
    parser.add_argument("--memory-duration", default="5m")
    parser.add_argument("--every", type=float, default=10.0, help="seconds between RSS samples")
    parser.add_argument("--out", type=Path, default=None, help="keep the results here")
    args = parser.parse_args()
    print(f"machine: {os.cpu_count()} CPUs, shared with other jobs; load {_load()}")
    with emulator() as emu, tempfile.TemporaryDirectory(prefix="lstream-series-") as tmp:
        where = args.out or Path(tmp)
        where.mkdir(parents=True, exist_ok=True)
        url = emu.endpoints["stream"]
        if not args.memory_only:
            staged(url, where)
        if not args.stage_only:
            memory(url, where, args.memory_duration, args.every)


if __name__ == "__main__":
    main()
