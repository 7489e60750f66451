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

For each: ``bench -c 200 -z DURATION`` without ``--events``, with
``--events sse`` (the compiled counters, ``lstream_cli._eventscan``) and
with ``--events sse`` on the pure-Python counters (``LSTREAM_NO_EXTENSION=1``),
rotating which goes first, and the ratios of requests/s to the run without
events (the goal is at least 0.8x). The events counted are checked: 1,000
per response.

Then, on the nginx file, the client's CPU time per request in each arm
(``bench -n N --workers 1``, start-up subtracted): what the req/s ratio is
when the client is the bottleneck, and a figure that a loaded machine
shifts far less than req/s.

Usage: ``python benchmarks/bench_events.py [--duration 5] [--rounds 3]
[--cpu-requests 20000]``.
The machine may be shared: the load average is printed with the figures.
This is a benchmark, not a test: it asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from _peers import ENV, emulator, need, nginx

from lstream_cli import events as lstream_events

EVENTS = 1000


def sse_file(path: Path, size: int) -> None:
    del size  # the content decides the size
    path.write_bytes(b"".join(b'data: {"token": "tok%04d"}\n\n' % i for i in range(EVENTS)))


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"load {one:.2f}/{five:.2f}"


def run_lstream(
    url: str, args: list[str], workdir: Path, env: dict[str, str] | None = None
) -> dict[str, Any]:
    out = workdir / "lstream.json"
    out.unlink(missing_ok=True)
    argv = [sys.executable, "-m", "lstream_cli", "bench", url, *args, "--json", str(out)]
    subprocess.run(argv, env={**ENV, **(env or {})}, check=False, stderr=subprocess.DEVNULL)
    doc: dict[str, Any] = json.loads(out.read_text())
    return doc


def run_hey(url: str, duration: str) -> float:
    hey = need("hey", "hey")
    out = subprocess.run(
        [hey, "-c", "200", "-z", duration, url], capture_output=True, text=True, check=True
    ).stdout
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    return float(m.group(1)) if m else float("nan")


def cpu_us(doc: dict[str, Any]) -> str:
    """The client's CPU time per request (its workers' mean CPU share x workers / req/s).

    Less noisy than req/s on a shared machine: it does not depend on how
    much of the CPU the client got, only on what it spent.
    """
    pct, rps = doc["client"]["cpu_pct"], doc["rps"]
    if pct is None or not rps:
        return "? us"
    return f"{pct / 100 * doc['workers'] / rps * 1e6:,.0f} us"


# The three ways to run: (name, extra bench flags, extra environment).
ARMS: list[tuple[str, list[str], dict[str, str]]] = [
    ("plain", [], {}),
    ("compiled", ["--events", "sse"], {}),
    ("pure-python", ["--events", "sse"], {"LSTREAM_NO_EXTENSION": "1"}),
]


def compare(
    name: str, url: str, duration: str, rounds: int, workdir: Path, peer: bool
) -> dict[str, float]:
    """Median ratio of each --events arm's req/s to the plain run's, over ``rounds``."""
    ratios: dict[str, list[float]] = {"compiled": [], "pure-python": []}
    base = ["-c", "200", "-z", duration, "--auth", "none", "--no-dashboard"]
    for rnd in range(1, rounds + 1):
        shift = (rnd - 1) % len(ARMS)
        order = ARMS[shift:] + ARMS[:shift]  # each arm goes first in turn
        docs: dict[str, dict[str, Any]] = {}
        for arm, flags, env in order:
            docs[arm] = run_lstream(url, base + flags, workdir, env)
        plain = docs["plain"]
        parts = [f"without --events {plain['rps']:,.0f} req/s ({cpu_us(plain)} client CPU/req)"]
        for arm in ratios:
            doc = docs[arm]
            ratio = doc["rps"] / plain["rps"] if plain["rps"] else float("nan")
            ratios[arm].append(ratio)
            per = doc["events"] / doc["ok"] if doc["ok"] else float("nan")
            parts.append(
                f"{arm} --events sse {doc['rps']:,.0f} req/s ({cpu_us(doc)} client CPU/req, "
                f"{per:,.0f} events/response, TTFE p50 {doc['ttfe_ms']['p50']} ms) "
                f"-> {ratio:.2f}x"
            )
        if peer:
            parts.append(f"hey {run_hey(url, duration):,.0f} req/s")
        print(f"{name} round {rnd}: " + "; ".join(parts) + f"  [{load()}]")
    return {arm: statistics.median(values) for arm, values in ratios.items()}


def cpu_per_request(url: str, rounds: int, workdir: Path, requests: int) -> dict[str, float]:
    """Median client CPU per request of each arm (one worker, a fixed count), in us.

    The CPU time (user + system) of a ``bench -n N --workers 1`` process,
    less that of the same with N/10 requests (start-up and exit), over the
    requests between: what the client spends per request whatever share of
    the machine it got, so the figure holds on a loaded machine too.
    """
    spent: dict[str, list[float]] = {arm: [] for arm, _, _ in ARMS}
    small = max(200, requests // 10)
    for rnd in range(rounds):
        shift = rnd % len(ARMS)
        for arm, flags, env in ARMS[shift:] + ARMS[:shift]:
            cpu = []
            for n in (requests, small):
                args = ["-c", "200", "-n", str(n), "--workers", "1", "--auth", "none"]
                before = resource.getrusage(resource.RUSAGE_CHILDREN)
                run_lstream(url, [*args, "--no-dashboard", *flags], workdir, env)
                after = resource.getrusage(resource.RUSAGE_CHILDREN)
                cpu.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
            spent[arm].append((cpu[0] - cpu[1]) / (requests - small) * 1e6)
    return {arm: statistics.median(values) for arm, values in spent.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--cpu-requests",
        type=int,
        default=20000,
        help="requests per run of the client-CPU measurement on the nginx file (0: skip it)",
    )
    opts = parser.parse_args()
    z = f"{opts.duration:g}s"
    print(
        f"cpus {os.cpu_count()}, {load()} before the run; "
        f"counters here: {lstream_events.SCANNER} (compiled when 'c')"
    )
    with tempfile.TemporaryDirectory(prefix="lstream-bench-") as tmp:
        workdir = Path(tmp)
        with nginx({"stream.sse": 0}, fill=sse_file) as base:
            static = compare(
                "nginx static .sse", f"{base}/stream.sse", z, opts.rounds, workdir, True
            )
            if opts.cpu_requests:
                cpu = cpu_per_request(f"{base}/stream.sse", opts.rounds, workdir, opts.cpu_requests)
                print(
                    f"nginx static .sse, client CPU per request (median of {opts.rounds}, "
                    f"one worker, {opts.cpu_requests:,} requests): "
                    + ", ".join(f"{arm} {us:.1f} us" for arm, us in cpu.items())
                    + f" -> plain/compiled {cpu['plain'] / cpu['compiled']:.2f}x, "
                    f"plain/pure-python {cpu['plain'] / cpu['pure-python']:.2f}x  [{load()}]"
                )
        with emulator() as emu:
            url = (
                emu.endpoints["stream"] + f"/?format=sse&events={EVENTS}&event_ms=0&event_bytes=16"
            )
            synth = compare("emulator synthetic", url, z, opts.rounds, workdir, False)
    for arm in ("compiled", "pure-python"):
        print(
            f"-- {arm} counters, median over {opts.rounds} round(s): nginx static "
            f"{static[arm]:.2f}x, emulator synthetic {synth[arm]:.2f}x (goal >= 0.80x)"
        )


if __name__ == "__main__":
    main()
