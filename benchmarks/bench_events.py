#!/usr/bin/env python
"""What ``bench --events sse`` costs: the same SSE bytes with and without event parsing.

Two servers, 200 concurrent streams of 1,000 small SSE events each:

1. nginx (temporary prefix, ``daemon off``) serving a static ``.sse`` file
   of 1,000 events (``data: {"token": "tokNNNN"}`` and a blank line, 28 kB
   with a Content-Length): the server is never the bottleneck, so the
   client's own cost per event shows. hey reads the same file as the peer.
2. ``lstream serve --no-throttle``'s synthetic handler with
   ``format=sse&events=1000&event_ms=0``: every event is its own write and
   its own HTTP chunk, the shape of a real streaming function.

For each: ``bench -c 200 -z DURATION`` with and without ``--events sse``,
alternating which goes first, and the ratio of requests/s (the goal is at
least 0.8x). The events counted are checked: 1,000 per response.

Usage: ``python benchmarks/bench_events.py [--duration 5] [--rounds 2]``.
The machine may be shared: the load average is printed with the figures.
This is a benchmark, not a test: it asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from _peers import ENV, emulator, need, nginx

EVENTS = 1000


def sse_file(path: Path, size: int) -> None:
    del size  # the content decides the size
    path.write_bytes(b"".join(b'data: {"token": "tok%04d"}\n\n' % i for i in range(EVENTS)))


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"load {one:.2f}/{five:.2f}"


def run_lstream(url: str, args: list[str], workdir: Path) -> dict[str, Any]:
    out = workdir / "lstream.json"
    argv = [sys.executable, "-m", "lstream_cli", "bench", url, *args, "--json", str(out)]
    subprocess.run(argv, env=ENV, check=False, stderr=subprocess.DEVNULL)
    doc: dict[str, Any] = json.loads(out.read_text())
    return doc


def run_hey(url: str, duration: str) -> float:
    hey = need("hey", "hey")
    out = subprocess.run(
        [hey, "-c", "200", "-z", duration, url], capture_output=True, text=True, check=True
    ).stdout
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    return float(m.group(1)) if m else float("nan")


def compare(name: str, url: str, duration: str, rounds: int, workdir: Path, peer: bool) -> float:
    ratios = []
    base = ["-c", "200", "-z", duration, "--auth", "none", "--no-dashboard"]
    for rnd in range(1, rounds + 1):
        order = [False, True] if rnd % 2 else [True, False]
        docs: dict[bool, dict[str, Any]] = {}
        for with_events in order:
            args = base + (["--events", "sse"] if with_events else [])
            docs[with_events] = run_lstream(url, args, workdir)
        plain, events = docs[False], docs[True]
        ratio = events["rps"] / plain["rps"] if plain["rps"] else float("nan")
        ratios.append(ratio)
        per = events["events"] / events["ok"] if events["ok"] else float("nan")
        hey = f", hey {run_hey(url, duration):,.0f} req/s" if peer else ""
        print(
            f"{name} round {rnd}: without --events {plain['rps']:,.0f} req/s "
            f"(cpu {plain['client']['cpu_pct']}%), with --events sse {events['rps']:,.0f} req/s "
            f"(cpu {events['client']['cpu_pct']}%, {per:,.0f} events/response, "
            f"TTFE p50 {events['ttfe_ms']['p50']} ms){hey} -> ratio {ratio:.2f}x  [{load()}]"
        )
    return statistics.median(ratios)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=2)
    opts = parser.parse_args()
    z = f"{opts.duration:g}s"
    print(f"cpus {os.cpu_count()}, {load()} before the run")
    with tempfile.TemporaryDirectory(prefix="lstream-bench-") as tmp:
        workdir = Path(tmp)
        with nginx({"stream.sse": 0}, fill=sse_file) as base:
            static = compare(
                "nginx static .sse", f"{base}/stream.sse", z, opts.rounds, workdir, True
            )
        with emulator() as emu:
            url = (
                emu.endpoints["stream"] + f"/?format=sse&events={EVENTS}&event_ms=0&event_bytes=16"
            )
            synth = compare("emulator synthetic", url, z, opts.rounds, workdir, False)
    print(
        f"-- median over {opts.rounds} round(s): nginx static {static:.2f}x, "
        f"emulator synthetic {synth:.2f}x (goal >= 0.80x)"
    )


if __name__ == "__main__":
    main()
