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
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def parse_size(text: str) -> int:
    sys.path.insert(0, str(ROOT))
    from lstream_cli.units import parse_size as parse

    return parse(text)


def write_pattern(path: Path, size: int) -> None:
    """The synthetic handler's bytes (byte i = i % 256), so both send the same."""
    block = bytes(range(256)) * 4096  # 1 MiB
    with path.open("wb") as fh:
        left = size
        while left > 0:
            fh.write(block[: min(left, len(block))])
            left -= len(block)


def start_nginx(root: Path, port: int) -> subprocess.Popen[bytes]:
    conf = root / "nginx.conf"
    conf.write_text(
        f"""
worker_processes auto;
daemon off;
pid {root}/nginx.pid;
error_log {root}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 1000000;
    client_body_temp_path {root}/body;
    proxy_temp_path {root}/proxy;
    fastcgi_temp_path {root}/fcgi;
    uwsgi_temp_path {root}/uwsgi;
    scgi_temp_path {root}/scgi;
    types {{ application/octet-stream bin; }}
    server {{
        listen 127.0.0.1:{port};
        root {root}/www;
    }}
}}
"""
    )
    proc = subprocess.Popen([NGINX, "-c", str(conf), "-p", str(root)], stderr=subprocess.PIPE)
    wait_listening(port, proc)
    return proc


def wait_listening(port: int, proc: subprocess.Popen[bytes], limit: float = 20.0) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited: {proc.stderr.read() if proc.stderr else ''!r}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"nothing listening on {port}")


def start_emulator(root: Path, workers: int) -> tuple[subprocess.Popen[bytes], dict[str, str]]:
    path = root / "endpoints.json"
    args = [
        sys.executable,
        "-m",
        "lstream_cli",
        "serve",
        "--port",
        "0",
        "--json",
        str(path),
        "--no-throttle",
        "--stream-limit",
        "0",
        "--quiet",
    ]
    if workers > 1:
        args += ["--workers", str(workers)]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "AWS_EC2_METADATA_DISABLED": "true"}
    proc = subprocess.Popen(args, env=env, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 30
    while not path.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(
                f"emulator did not start: {proc.stderr.read() if proc.stderr else ''!r}"
            )
        time.sleep(0.05)
    return proc, json.loads(path.read_text())


def curl_rate(url: str, expect: int) -> float:
    out = subprocess.run(
        ["curl", "-sS", "-o", "/dev/null", "-w", "%{size_download} %{time_total}", url],
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
    )
    size, total = out.stdout.split()
    if int(float(size)) != expect:
        raise SystemExit(f"{url}: got {size} bytes, expected {expect}")
    return int(float(size)) / float(total)


def hey_rps(url: str, duration: float, connections: int) -> float:
    out = subprocess.run(
        ["hey", "-z", f"{duration}s", "-c", str(connections), url],
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


def peak_rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return -1


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--size", default="1GiB", help="stream size (default 1GiB)")
    ap.add_argument("--duration", type=float, default=5.0, help="seconds per hey run")
    ap.add_argument("-c", "--connections", type=int, default=50)
    ap.add_argument("--workers", type=int, default=1, help="emulator worker processes")
    ap.add_argument("--rounds", type=int, default=2, help="alternating rounds; best is kept")
    args = ap.parse_args()
    size = parse_size(args.size)

    with tempfile.TemporaryDirectory(prefix="lstream-bench-") as tmp:
        root = Path(tmp)
        root.chmod(0o755)  # nginx workers run as an unprivileged user
        (root / "www").mkdir(mode=0o755)
        write_pattern(root / "www" / "big.bin", size)
        write_pattern(root / "www" / "small.bin", 1024)
        nginx_port = free_port()
        nginx = start_nginx(root, nginx_port)
        emu, endpoints = start_emulator(root, args.workers)
        try:
            base = f"http://127.0.0.1:{nginx_port}"
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
                results["emu_stream_rps"].append(
                    hey_rps(small_stream, args.duration, args.connections)
                )
                results["emu_buffered_rps"].append(
                    hey_rps(small_buffered, args.duration, args.connections)
                )
            rss = peak_rss_kib(emu.pid)
        finally:
            emu.terminate()
            nginx.terminate()
            emu.wait(10)
            nginx.wait(10)

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
