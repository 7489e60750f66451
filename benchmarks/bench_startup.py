"""Start-up of lstream's short commands vs ``python -c pass``, curl and hey, same run.

One 1 KiB file served by nginx; ROUNDS rounds, each running every command
once in turn (so a burst of load from elsewhere hits them all alike); wall
time and CPU time (user + system, from ``wait4``) of each process, medians,
and each median wall time as a ratio to ``python -c pass`` and to
``get -s --auth none``. ``lstream`` is the console script installed beside
this Python (what a user runs; ``python -m lstream_cli`` when there is none),
and this checkout's bytecode is compiled first, as ``pip install`` leaves it:

- ``python -c pass`` (the interpreter's own start-up, the floor),
  ``python -c 'import click'`` (the floor of a click CLI), the libraries
  ``get -s`` cannot do without (click, llhttp's httptools, socket, json,
  urllib.parse: the floor under it before any lstream code), those of a
  ``bench`` run (click, asyncio, uvloop, rich's console and table, hdrh)
  and curl;
- ``lstream get -s --auth none``, ``get --auth none`` (the summary printed),
  ``get`` (``--auth auto`` with no credential source anywhere) and
  ``get --auth iam`` with credentials in the environment (signs);
- ``lstream bench -n 2 -c 2 --auth none`` and ``hey -n 2 -c 2``.

Every lstream run must exit 0 and deliver the 1,024 bytes (``--json -``).
Then the top of ``python -X importtime`` for ``get -s --auth none`` and for
``bench -n 2 -c 2``, the modules that cost most (cumulative, so a package's
children are inside it), and the self time of all imports summed by owner.

    python benchmarks/bench_startup.py              # 7 rounds
    python benchmarks/bench_startup.py --rounds 11 --importtime 25
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
import time
from pathlib import Path

from _peers import ENV, ROOT, need, nginx

SIZE = 1024
_GET_LIBRARIES = "import click, httptools, socket, json, urllib.parse"
_BENCH_LIBRARIES = "import click, asyncio, uvloop, rich.console, rich.table, hdrh.histogram"
_IMPORT_LINE = re.compile(r"^import time:\s+(\d+) \|\s+(\d+) \| ( *)(\S+)$")


def _env(home: str, **extra: str) -> dict[str, str]:
    """No credential source at all (no AWS_* keys, empty HOME): what --auth auto meets."""
    env = {k: v for k, v in ENV.items() if not k.startswith("AWS_")}
    env.update(HOME=home, AWS_EC2_METADATA_DISABLED="true", **extra)
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
        env.pop(name, None)
    return env


def _lstream() -> list[str]:
    script = Path(sys.executable).with_name("lstream")
    return [str(script)] if script.exists() else [sys.executable, "-m", "lstream_cli"]


def _commands(url: str, curl: str, hey: str | None) -> dict[str, list[str]]:
    lstream = _lstream()
    json_out = ["-o", "/dev/null", "--json", "-"]
    commands = {
        "python -c pass": [sys.executable, "-c", "pass"],
        # The floor under any click CLI: the interpreter and click's own imports.
        "python -c 'import click'": [sys.executable, "-c", "import click"],
        # What get -s and bench must load before any lstream code: their floors.
        "libraries of get -s": [sys.executable, "-c", _GET_LIBRARIES],
        "libraries of bench": [sys.executable, "-c", _BENCH_LIBRARIES],
        "curl": [curl, "-s", "-o", "/dev/null", url],
        "get -s --auth none": [*lstream, "get", url, "-s", "--auth", "none", *json_out],
        "get --auth none": [*lstream, "get", url, "--auth", "none", *json_out],
        "get (auto, no creds)": [*lstream, "get", url, *json_out],
        "get --auth iam (env)": [*lstream, "get", url, "--auth", "iam", *json_out],
        "bench -n 2 -c 2": [*lstream, "bench", url, "-n", "2", "-c", "2", "--auth", "none"],
    }
    if hey is not None:
        commands["hey -n 2 -c 2"] = [hey, "-n", "2", "-c", "2", url]
    return commands


def _run(name: str, argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one run; a get must deliver the SIZE bytes."""
    with tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=err, env=env)
        out = proc.stdout.read() if proc.stdout is not None else b""
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - t0
        proc.returncode = code = os.waitstatus_to_exitcode(status)
        if proc.stdout is not None:
            proc.stdout.close()
        if code != 0:
            err.seek(0)
            raise SystemExit(f"{name} exited {code}: {err.read().decode()[-500:]}")
    if name.startswith("get"):
        got = json.loads(out)["bytes"]
        if got != SIZE:
            raise SystemExit(f"{name} received {got} bytes, expected {SIZE}")
    return seconds, usage.ru_utime + usage.ru_stime


def _importtime(argv: list[str], env: dict[str, str], top: int, runs: int = 5) -> list[str]:
    """``-X importtime`` of ``argv``, ``runs`` times: each module's smallest figure.

    The minimum over runs is the cost with the least interference from the
    rest of the machine. Printed: the modules largest first (cumulative, so
    a package's children are inside it) and the self time summed by owner.
    """
    script = argv[1:] if argv[0] == sys.executable else argv
    best: dict[str, tuple[int, int, int]] = {}  # name -> (self us, cumulative us, depth)
    order: list[str] = []
    for _ in range(runs):
        proc = subprocess.run(
            [sys.executable, "-X", "importtime", *script], capture_output=True, text=True, env=env
        )
        for line in proc.stderr.splitlines():
            m = _IMPORT_LINE.match(line)
            if not m:
                continue
            own, cum, depth, name = (
                int(m.group(1)),
                int(m.group(2)),
                len(m.group(3)) // 2,
                m.group(4),
            )
            if name not in best:
                order.append(name)
                best[name] = (own, cum, depth)
            else:
                was = best[name]
                best[name] = (min(was[0], own), min(was[1], cum), was[2])
    total = sum(own for own, _, _ in best.values())
    owners: dict[str, int] = {}
    for name, (own, _, _) in best.items():
        root = name.split(".")[0]
        owner = (
            root
            if root in ("lstream_cli", "click", "rich", "botocore", "httptools", "uvloop", "hdrh")
            else "stdlib"
            if root.lstrip("_") in sys.stdlib_module_names or root in sys.builtin_module_names
            else "other"
        )
        owners[owner] = owners.get(owner, 0) + own
    out = [f"  {len(best)} modules imported, {total / 1000:.1f} ms of imports in all"]
    out.append(
        "  by owner (self time): "
        + ", ".join(
            f"{k} {v / 1000:.1f} ms" for k, v in sorted(owners.items(), key=lambda kv: -kv[1])
        )
    )
    ranked = sorted(order, key=lambda n: -best[n][1])[:top]
    for name in ranked:
        own, cum, depth = best[name]
        out.append(f"  {cum / 1000:7.1f} ms  {'  ' * depth}{name}  (self {own / 1000:.1f})")
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--importtime", type=int, default=15, metavar="N", help="rows to print")
    args = ap.parse_args()
    curl = need("curl", "curl")
    try:
        hey: str | None = need("hey", "hey")
    except (SystemExit, subprocess.CalledProcessError):
        hey = None
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    with tempfile.TemporaryDirectory(prefix="lstream-home-") as home, nginx({"1k": SIZE}) as base:
        url = f"{base}/1k"
        bare = _env(home)
        signed = _env(
            home,
            AWS_ACCESS_KEY_ID="AKIDEXAMPLE",
            AWS_SECRET_ACCESS_KEY="wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            AWS_DEFAULT_REGION="us-east-1",
        )
        commands = _commands(url, curl, hey)
        subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "lstream_cli")])
        wall: dict[str, list[float]] = {name: [] for name in commands}
        cpu: dict[str, list[float]] = {name: [] for name in commands}
        for name, argv in commands.items():  # warm the page cache once
            _run(name, argv, signed if "iam" in name else bare)
        for _ in range(args.rounds):
            for name, argv in commands.items():
                seconds, used = _run(name, argv, signed if "iam" in name else bare)
                wall[name].append(seconds)
                cpu[name].append(used)
        med = {name: statistics.median(v) for name, v in wall.items()}
        floor, get_s = med["python -c pass"], med["get -s --auth none"]
        print(f"1 KiB from nginx, {args.rounds} rounds; lstream = {' '.join(_lstream())}")
        print(
            f"  {'command':26s} {'wall median':>11s} {'(min-max)':>15s} {'CPU median':>10s}"
            f"  {'/ python':>8s}  {'/ get -s':>8s}"
        )
        for name, values in wall.items():
            lo, hi = min(values) * 1000, max(values) * 1000
            print(
                f"  {name:26s} {med[name] * 1000:8.1f} ms {lo:6.1f}-{hi:6.1f} ms"
                f" {statistics.median(cpu[name]) * 1000:7.1f} ms"
                f"  {med[name] / floor:7.2f}x  {med[name] / get_s:7.2f}x"
            )
        print("python -X importtime, get -s --auth none (min of 5 runs, largest first):")
        print("\n".join(_importtime(commands["get -s --auth none"], bare, args.importtime)))
        print("python -X importtime, get (auto, no creds) (min of 5 runs):")
        print("\n".join(_importtime(commands["get (auto, no creds)"], bare, 5)))
        print("python -X importtime, bench -n 2 -c 2 (min of 5 runs, largest first):")
        print("\n".join(_importtime(commands["bench -n 2 -c 2"], bare, args.importtime)))
    print(f"load average after:  {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
