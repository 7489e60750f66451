#!/usr/bin/env python3
"""Functions run through the Lambda Runtime API beside the in-process path, same run.

Three figures, loopback only, with the machine's load printed beside them:

- warm TTFB: 1 KiB responses on one keep-alive connection, alternating the
  in-process synthetic handler and a Node.js function (aws-lambda-ric,
  ``benchmarks/node/stream.mjs``) request by request; p50 of each and the
  difference (goal: the Runtime API adds at most 1 ms). nginx serving a
  1 KiB file on the same client is the floor;
- throughput: one 1 GiB stream with throttling off, read by curl into
  /dev/null, from the Node.js function, from the in-process handler and
  from nginx (goal: the Node.js function at least 1 GB/s); beside them,
  Node.js alone writing the same bytes as a chunked request into a socket
  that discards them (``benchmarks/node/push.mjs``): the most a Node.js
  stream can give on this machine at that moment; and the CPU seconds the
  emulator's process and the function's process spent per GiB (a figure
  other jobs on the same cores disturb far less than a rate);
- cold start: fresh ``lstream serve`` processes, the first request's TTFB
  and the Init Duration the REPORT line gives, against a warm request.

    python benchmarks/bench_runtime.py [--requests 400] [--size 1GiB] [--cold 5]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

from _peers import ENV, ROOT, curl_rate, emulator, nginx

from lstream_cli.units import parse_size

FUNCTION = ROOT / "benchmarks" / "node" / "stream.mjs"
RIC = ROOT / "examples" / "node" / "node_modules" / "aws-lambda-ric"
NODE_ARGS = ["--handler", f"{FUNCTION}:handler", "--runtime-client", str(RIC)]
QUIET_NODE = [*NODE_ARGS, "--function-logs", "off", "--function-timeout", "900s"]  # no 3 s cut


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"load {one:.2f}/{five:.2f}"


class KeepAlive:
    """One HTTP/1.1 connection; ``ttfb`` sends a GET and times its first byte."""

    def __init__(self, base: str) -> None:
        parts = urlsplit(base)
        assert parts.hostname and parts.port
        self.sock = socket.create_connection((parts.hostname, parts.port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.host = parts.netloc

    def ttfb(self, target: str) -> float:
        request = f"GET {target} HTTP/1.1\r\nHost: {self.host}\r\n\r\n".encode()
        t0 = time.perf_counter()
        self.sock.sendall(request)
        data = self.sock.recv(65536)
        first = time.perf_counter() - t0
        while not _complete(data):
            more = self.sock.recv(65536)
            if not more:
                raise SystemExit(f"connection closed mid-response: {data[:200]!r}")
            data += more
        if not data.startswith(b"HTTP/1.1 200 "):
            raise SystemExit(f"{target}: {data[:200]!r}")
        return first

    def close(self) -> None:
        self.sock.close()


def _complete(data: bytes) -> bool:
    head, sep, body = data.partition(b"\r\n\r\n")
    if not sep:
        return False
    m = re.search(rb"(?i)\r\ncontent-length: *(\d+)", head)
    if m:
        return len(body) >= int(m.group(1))
    return body.endswith(b"0\r\n\r\n")


def warm_ttfb(requests: int) -> None:
    with emulator() as inproc, emulator(args=QUIET_NODE) as node, nginx({"1k": 1024}) as ng:
        clients = {
            "in-process": (KeepAlive(inproc.endpoints["stream"]), "/?size=1KiB"),
            "runtime (Node.js)": (KeepAlive(node.endpoints["stream"]), "/?size=1024"),
            "nginx 1 KiB file": (KeepAlive(ng), "/1k"),
        }
        samples: dict[str, list[float]] = {name: [] for name in clients}
        for client, target in clients.values():  # warm up: the environment's cold start
            for _ in range(20):
                client.ttfb(target)
        for _ in range(requests):
            for name, (client, target) in clients.items():
                samples[name].append(client.ttfb(target))
        for client, _ in clients.values():
            client.close()
    p50 = {name: statistics.median(s) * 1000 for name, s in samples.items()}
    for name, value in p50.items():
        p99 = sorted(samples[name])[int(len(samples[name]) * 0.99) - 1] * 1000
        print(f"warm TTFB {name:<18} p50 {value:7.3f} ms  p99 {p99:7.3f} ms")
    extra = p50["runtime (Node.js)"] - p50["in-process"]
    print(f"-> the Runtime API adds {extra:+.3f} ms at p50 (goal <= +1 ms)  [{load()}]")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far (``/proc/PID/stat``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children(pid: int, comm: str) -> list[int]:
    """The processes named ``comm`` whose parent is ``pid`` (the function's runtime)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            name, _, rest = stat.partition(" (")[2].rpartition(") ")
            if name == comm and int(rest.split()[1]) == pid:
                found.append(int(entry.name))
    return found


def node_alone(size: int) -> float:
    """Bytes per second Node.js writes a chunked request at into a discarding socket."""
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    result: list[float] = []

    def sink() -> None:
        conn, _ = server.accept()
        buf = bytearray(1 << 20)
        got = 0
        t0 = time.perf_counter()
        while got < size:  # the chunk framing adds a few bytes: stop at the payload's size
            n = conn.recv_into(buf)
            if not n:
                break
            got += n
        result.append(got / (time.perf_counter() - t0))
        conn.close()

    thread = threading.Thread(target=sink)
    thread.start()
    push = ROOT / "benchmarks" / "node" / "push.mjs"
    proc = subprocess.Popen(
        ["node", str(push), str(port), str(size // (1024 * 1024))], stderr=subprocess.DEVNULL
    )
    thread.join(600)
    proc.kill()
    proc.wait()
    server.close()
    return result[0]


def throughput(size: int, rounds: int) -> None:
    with (
        emulator() as inproc,
        emulator(args=QUIET_NODE) as node,
        nginx({"big": size}) as ng,
    ):
        curl_rate(node.endpoints["stream"] + "/?size=1024", 1024)  # the cold start, first
        runtimes = children(node.pid, "node")
        gib = size / 2**30
        for r in range(rounds):
            # CPU seconds per GiB: what each process spends, whatever else the cores run.
            emu0, fn0 = cpu_seconds(node.pid), sum(cpu_seconds(p) for p in runtimes)
            node_rate = curl_rate(node.endpoints["stream"] + f"/?size={size}", size)
            emu_cpu = (cpu_seconds(node.pid) - emu0) / gib
            fn_cpu = (sum(cpu_seconds(p) for p in runtimes) - fn0) / gib
            inproc_rate = curl_rate(inproc.endpoints["stream"] + f"/?size={size}&chunk=1MiB", size)
            nginx_rate = curl_rate(ng + "/big", size)
            alone = node_alone(size)
            print(
                f"round {r + 1}: {size} bytes: Node.js function {node_rate / 1e9:.2f} GB/s, "
                f"in-process {inproc_rate / 1e9:.2f} GB/s, nginx {nginx_rate / 1e9:.2f} GB/s, "
                f"Node.js alone into a discarding socket {alone / 1e9:.2f} GB/s "
                f"-> Node.js function / Node.js alone {node_rate / alone:.2f}x "
                f"(goal >= 1 GB/s); CPU per GiB: emulator {emu_cpu:.2f} s, "
                f"Node.js function {fn_cpu:.2f} s  [{load()}]"
            )


def cold_starts(count: int) -> None:
    inits: list[float] = []
    for i in range(count):
        with tempfile.TemporaryDirectory(prefix="lstream-cold-") as tmp:
            path, log = Path(tmp) / "ep.json", Path(tmp) / "stderr"
            argv = [sys.executable, "-m", "lstream_cli", "serve", "--port", "0", "--quiet"]
            argv += ["--json", str(path), "--no-throttle", *NODE_ARGS]
            with log.open("wb") as err:
                proc = subprocess.Popen(argv, env=ENV, stderr=err)
                try:
                    while not path.exists() or not path.read_text().strip().endswith("}"):
                        if proc.poll() is not None:
                            raise SystemExit(f"serve did not start: {log.read_text()}")
                        time.sleep(0.02)
                    client = KeepAlive(json.loads(path.read_text())["stream"])
                    cold = client.ttfb("/?size=1024") * 1000
                    warm = statistics.median(client.ttfb("/?size=1024") for _ in range(20)) * 1000
                    client.close()
                    time.sleep(1.2)  # the first REPORT line follows the runtime's next /next
                finally:
                    proc.terminate()
                    proc.wait(10)
            m = re.search(r"Init Duration: ([\d.]+) ms", log.read_text())
            init = float(m.group(1)) if m else float("nan")
            inits.append(init)
        print(
            f"cold start {i + 1}: first TTFB {cold:.1f} ms (Init Duration {init:.1f} ms), "
            f"warm p50 {warm:.2f} ms  [{load()}]"
        )
    print(f"-> Init Duration median {statistics.median(inits):.1f} ms over {count}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--size", default="1GiB")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--cold", type=int, default=5)
    args = parser.parse_args()
    if not (RIC / "bin" / "index.mjs").is_file():
        raise SystemExit("aws-lambda-ric is not built: run `npm ci` in examples/node")
    print(f"cpus {os.cpu_count()}, {load()} before the run")
    warm_ttfb(args.requests)
    throughput(parse_size(args.size), args.rounds)
    cold_starts(args.cold)


if __name__ == "__main__":
    main()
