"""``lstream get`` vs curl: one large stream over loopback, same run.

Two servers, one body of SIZE bytes each, read to /dev/null by curl and by
``lstream get`` ROUNDS times (alternating), with wall time and peak RSS of
each client process:

- nginx (system package) serving a file: a Content-Length body;
- ``lstream serve --no-throttle --stream-limit 0``, the synthetic handler
  writing CHUNK-sized pieces: a chunked body, as real streaming Lambda
  function URLs send.

Each client's byte count is checked (curl's ``size_download``, lstream's
``--json`` record), and the load average is printed beside the figures:
the machine is shared. CPU time per GiB (user + system, from ``wait4``) is
printed too: on a server-bound run it tells the client's own cost apart
from what the server and the rest of the machine allow; and the rate of the
transfer alone, first body byte to last on each client's own clock (the
process rate less its start-up).

    python benchmarks/bench_get.py            # 1 GiB, 3 rounds
    python benchmarks/bench_get.py --size 256MiB --rounds 5 --chunk 64KiB
    python benchmarks/bench_get.py --baseline /path/to/other/checkout   # A/B

``--baseline DIR`` runs DIR's ``lstream_cli`` too, as a third client in
the same rounds (``PYTHONPATH=DIR``): a change and the code before it, side
by side under the same load.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys

from _peers import ENV, emulator, need, nginx, run_measured

from lstream_cli.units import parse_size


def measure(
    name: str, argv: list[str], size: int, env: dict[str, str] | None = None
) -> tuple[float, float, float, float]:
    """One run: (bytes/s of the process, peak RSS MB, CPU s per GiB, bytes/s of the transfer).

    The transfer rate is the client's own clock from the first body byte to
    the last (curl's ``time_starttransfer`` to ``time_total``, lstream's
    ``ttfb_ms`` to ``total_ms``): the process rate without its start-up.
    The byte count must be ``size``.
    """
    run = run_measured(argv, env=env or ENV)
    if run.returncode != 0:
        raise SystemExit(f"{name} failed with exit {run.returncode}")
    text = run.stdout.decode()
    if name.startswith("lstream"):
        doc = json.loads(text)
        got, transfer_s = int(doc["bytes"]), (doc["total_ms"] - doc["ttfb_ms"]) / 1000
    else:
        fields = text.split()
        got, transfer_s = int(fields[0]), float(fields[2]) - float(fields[1])
    if got != size:
        raise SystemExit(f"{name} received {got:,} bytes, expected {size:,}")
    transfer = size / transfer_s if transfer_s > 0 else float("inf")
    return size / run.seconds, run.max_rss_mb, run.cpu_s * 2**30 / size, transfer


def compare(
    label: str, url: str, size: int, rounds: int, curl: str, baseline: str | None = None
) -> None:
    curl_w = "%{size_download} %{time_starttransfer} %{time_total}"
    get = [
        *(sys.executable, "-m", "lstream_cli", "get", url, "--auth", "none"),
        *("-o", "/dev/null", "-s", "--json", "-"),
    ]
    commands = {"curl": [curl, "-s", "-o", "/dev/null", "-w", curl_w, url], "lstream": get}
    envs = {"curl": ENV, "lstream": ENV}
    if baseline is not None:
        commands["lstream-baseline"] = get
        envs["lstream-baseline"] = {**ENV, "PYTHONPATH": baseline}
    results: dict[str, list[tuple[float, float, float, float]]] = {name: [] for name in commands}
    for _ in range(rounds):
        for name, argv in commands.items():
            results[name].append(measure(name, argv, size, envs[name]))
    med = {k: statistics.median(r[0] for r in v) for k, v in results.items()}
    xfer = {k: statistics.median(r[3] for r in v) for k, v in results.items()}
    print(f"{label}: {size:,} bytes, {rounds} rounds (medians; max peak RSS)")
    for name, rows in results.items():
        rss = max(r[1] for r in rows)
        cpu = statistics.median(r[2] for r in rows)
        print(
            f"  {name:16s} {med[name] / 1e9:6.2f} GB/s   peak RSS {rss:6.1f} MB   "
            f"CPU {cpu:5.2f} s/GiB   ratio to curl {med[name] / med['curl']:.2f}x   "
            f"(transfer alone {xfer[name] / 1e9:5.2f} GB/s, {xfer[name] / xfer['curl']:.2f}x)"
        )


def main() -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--size", default="1GiB")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--chunk", default="1MiB", help="the emulator handler's write size")
    ap.add_argument("--baseline", help="another checkout whose lstream_cli runs beside this one")
    args = ap.parse_args()
    size = parse_size(args.size)
    curl = need("curl", "curl")
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    with nginx({"big.bin": size}) as base:
        compare("nginx, Content-Length", f"{base}/big.bin", size, args.rounds, curl, args.baseline)
    with emulator() as emu:
        url = f"{emu.endpoints['stream']}/?size={size}&chunk={parse_size(args.chunk)}"
        label = f"lstream serve, chunked ({args.chunk} writes)"
        compare(label, url, size, args.rounds, curl, args.baseline)
    print(f"load average after:  {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
