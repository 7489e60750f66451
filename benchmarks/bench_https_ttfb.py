#!/usr/bin/env python3
"""``lstream get`` TTFB on HTTPS vs curl's ``time_starttransfer`` and ``bench -n 1``.

nginx (system package) serves a 1 KiB file over TLS on 127.0.0.1 with a
certificate from a throw-away CA (trustme, a test dependency). Each client
makes ROUNDS fresh processes (alternating, one request each, a new TCP and
TLS connection every time):

- curl ``-w '%{time_starttransfer}'`` (and its ``time_connect`` /
  ``time_appconnect``), trusting the CA with ``--cacert``;
- ``lstream get -s --json -``: ``ttfb_ms`` (and ``dns_ms``, ``connect_ms``,
  ``tls_ms``), trusting the CA through ``AWS_CA_BUNDLE`` (which a shell's
  own ``AWS_CA_BUNDLE`` would otherwise take precedence over);
- ``lstream bench -n 1 --workers 1 --json -``: ``ttfb_ms.min`` (and the
  TCP / TLS percentiles).

All three count from before the connection to the first body byte. It
prints the medians and get's difference to curl and to bench (goal: get
within 5 ms of curl), and the load average: the machine is shared.

    python benchmarks/bench_https_ttfb.py             # 5 rounds
    python benchmarks/bench_https_ttfb.py --rounds 9
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from _peers import ENV, need, nginx


def _run(argv: list[str], env: dict[str, str]) -> str:
    proc = subprocess.run(argv, capture_output=True, env=env, timeout=60, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"{argv[0]} failed ({proc.returncode}): {proc.stderr.decode()[-500:]}")
    return proc.stdout.decode()


def main() -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    import trustme

    curl = need("curl", "curl")
    tmp = Path(tempfile.mkdtemp(prefix="lstream-tls-"))
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    ca_file, chain, key = tmp / "ca.pem", tmp / "chain.pem", tmp / "key.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    cert.private_key_pem.write_to_path(str(key))
    chain.write_bytes(b"".join(blob.bytes() for blob in cert.cert_chain_pems))
    for path in (ca_file, chain, key):
        path.chmod(0o644)  # nginx's workers may run as another user
    # AWS_CA_BUNDLE comes before SSL_CERT_FILE in lstream's trust order
    # (docs/network.md): the throw-away CA goes into both.
    env = {**ENV, "AWS_CA_BUNDLE": str(ca_file), "SSL_CERT_FILE": str(ca_file)}
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    rows: dict[str, list[tuple[float, ...]]] = {"curl": [], "get": [], "bench": []}
    with nginx({"small.bin": 1024}, tls=(chain, key)) as base:
        url = f"{base}/small.bin"
        lstream = [sys.executable, "-m", "lstream_cli"]
        quiet = ["-s", "--json", "-"]
        one = ["-n", "1", "--workers", "1", "--json", "-"]
        for _ in range(args.rounds):
            fmt = "%{time_namelookup} %{time_connect} %{time_appconnect} %{time_starttransfer}"
            out = _run(
                [curl, "-s", "-o", "/dev/null", "--cacert", str(ca_file), "-w", fmt, url], env
            )
            dns, connect, app, start = (float(x) * 1000 for x in out.split())
            rows["curl"].append((start, dns, connect - dns, app - connect))
            doc = json.loads(
                _run(
                    [*lstream, "get", url, "--auth", "none", "-o", "/dev/null", *quiet],
                    env,
                )
            )
            assert doc["bytes"] == 1024, doc
            rows["get"].append((doc["ttfb_ms"], doc["dns_ms"], doc["connect_ms"], doc["tls_ms"]))
            doc = json.loads(
                _run(
                    [*lstream, "bench", url, "--auth", "none", *one],
                    env,
                )
            )
            assert doc["ok"] == 1, doc
            rows["bench"].append(
                (
                    doc["ttfb_ms"]["min"],
                    float("nan"),
                    doc["connect_ms"]["min"],
                    doc["tls_ms"]["min"],
                )
            )
    med = {k: [statistics.median(col) for col in zip(*v, strict=True)] for k, v in rows.items()}
    print(f"HTTPS, 1 KiB from nginx, {args.rounds} fresh processes each (medians, ms)")
    print(f"  {'':6s} {'TTFB':>8s} {'DNS':>8s} {'TCP':>8s} {'TLS':>8s}")
    for name, (ttfb, dns, tcp, tls) in med.items():
        dns_text = "   (once)" if name == "bench" else f"{dns:8.3f}"
        print(f"  {name:6s} {ttfb:8.3f} {dns_text} {tcp:8.3f} {tls:8.3f}")
    print(f"  get - curl  TTFB {med['get'][0] - med['curl'][0]:+.3f} ms  (goal: within 5 ms)")
    print(f"  get - bench TTFB {med['get'][0] - med['bench'][0]:+.3f} ms")
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
