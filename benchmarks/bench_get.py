"""``lstream get`` vs curl: one large stream over loopback, same run.

Starts nginx (system package) serving a file of SIZE bytes, downloads it
with curl and with ``lstream get`` to /dev/null, each ROUNDS times
(alternating), and prints throughput, the ratio to curl and peak RSS.

    python benchmarks/bench_get.py            # 1 GiB, 3 rounds
    python benchmarks/bench_get.py --size 256MiB --rounds 5
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _peers import need, nginx, run_measured

from lstream_cli.units import parse_size


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", default="1GiB")
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    size = parse_size(args.size)
    curl = need("curl", "curl")
    with nginx({"big.bin": size}) as base:
        url = f"{base}/big.bin"
        results: dict[str, list[tuple[float, float]]] = {"curl": [], "lstream": []}
        commands = {
            "curl": [curl, "-s", "-o", "/dev/null", url],
            "lstream": [
                sys.executable,
                "-m",
                "lstream_cli",
                "get",
                url,
                "--auth",
                "none",
                "-o",
                "/dev/null",
            ],
        }
        for _ in range(args.rounds):
            for name, argv in commands.items():
                run = run_measured(argv)
                if run.returncode != 0:
                    print(f"{name} failed with exit {run.returncode}", file=sys.stderr)
                    return 1
                results[name].append((size / run.seconds, run.max_rss_mb))
    print(
        f"one stream of {size:,} bytes from nginx over loopback, {args.rounds} rounds "
        "(median throughput, max peak RSS)"
    )
    med = {k: statistics.median(r[0] for r in v) for k, v in results.items()}
    for name, rows in results.items():
        rss = max(r[1] for r in rows)
        print(
            f"  {name:8s} {med[name] / 1e9:6.2f} GB/s   peak RSS {rss:6.1f} MB   "
            f"ratio to curl {med[name] / med['curl']:.2f}x"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
