"""Connecting over every resolved address (happy eyeballs), in get and the load engine.

The resolver is injected (a name that resolves to ``::1`` first and
``127.0.0.1`` second, as many hosts' ``localhost`` does); the sockets, the
servers and both clients are real.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import pytest

from lstream_cli.engine.core import order_addresses
from lstream_cli.engine.h1 import Client
from lstream_cli.engine.single import fetch
from lstream_cli.engine.workers import LoadConfig, run_load
from lstream_cli.request import RequestSpec
from tests.scripted_server import ScriptedServer, scripted_server

V4, V6 = socket.AF_INET, socket.AF_INET6


def _info(family: int, addr: tuple[Any, ...]) -> tuple[Any, ...]:
    return (family, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", addr)


class DualStack:
    """A resolver: ``dual.test`` is ``::1`` (nothing listens there) then 127.0.0.1.

    Module level and picklable, so worker processes could use it too; counts
    its calls.
    """

    def __init__(self, v4_port: int, v6_port: int) -> None:
        self.v4_port = v4_port
        self.v6_port = v6_port
        self.calls = 0

    def __call__(self, host: str, port: int, *args: Any) -> list[tuple[Any, ...]]:
        assert host == "dual.test"
        self.calls += 1
        return [
            _info(V6, ("::1", self.v6_port, 0, 0)),
            _info(V4, ("127.0.0.1", self.v4_port)),
        ]


@pytest.fixture(scope="module")
def v4_only() -> Iterator[ScriptedServer]:
    with scripted_server() as s:  # listens on 127.0.0.1 only
        yield s


def _port(server: ScriptedServer) -> int:
    return int(server.base.rsplit(":", 1)[1])


def _closed_v6_port() -> int:
    with socket.socket(V6) as s:
        s.bind(("::1", 0))
        return int(s.getsockname()[1])


def test_order_is_ipv6_first_then_alternating_without_repeats() -> None:
    a4, b4, c4 = ("10.0.0.1", 80), ("10.0.0.2", 80), ("10.0.0.3", 80)
    a6, b6 = ("fd00::1", 80, 0, 0), ("fd00::2", 80, 0, 0)
    infos = [_info(V4, a4), _info(V4, b4), _info(V6, a6), _info(V4, a4), _info(V6, b6)]
    infos.append(_info(V4, c4))
    assert order_addresses(infos) == [(V6, a6), (V4, a4), (V6, b6), (V4, b4), (V4, c4)]
    assert order_addresses([_info(V4, a4)]) == [(V4, a4)]


def test_get_connects_over_ipv4_when_ipv6_is_refused(v4_only: ScriptedServer) -> None:
    resolver = DualStack(_port(v4_only), _closed_v6_port())
    url = f"http://dual.test:{_port(v4_only)}/binary"
    with Client(timeout_s=10, resolver=resolver) as http:
        record = fetch(RequestSpec(url, auth="none"), client=http)
    assert record.ok and record.status == 200 and record.bytes == 1024
    assert resolver.calls == 1
    assert record.dns_ns is not None and record.connect_ns is not None
    assert v4_only.requests[-1].headers[0] == ("Host", f"dual.test:{_port(v4_only)}")


def test_bench_connects_over_ipv4_and_resolves_once_per_worker(v4_only: ScriptedServer) -> None:
    resolver = DualStack(_port(v4_only), _closed_v6_port())
    url = f"http://dual.test:{_port(v4_only)}/binary"
    spec = RequestSpec(url, auth="none", timeout=10)
    config = LoadConfig(spec, 3, 12, None, None, workers=1, resolver=resolver)
    stats = run_load(config).stats
    assert (stats.requests, stats.ok, stats.errors) == (12, 12, {})
    assert stats.bytes == 12 * 1024
    assert resolver.calls == 1  # once for the worker, not per request or connection


def test_an_address_that_never_answers_does_not_hold_the_connection(
    v4_only: ScriptedServer,
) -> None:
    """First address: a listener whose backlog is full (SYNs go unanswered).
    The next address is tried while it still hangs, and wins (get and bench)."""
    hole = socket.socket(V6)
    hole.bind(("::1", 0))
    hole.listen(0)
    fillers = []
    for _ in range(4):  # fill the backlog: further connects hang
        f = socket.socket(V6)
        f.setblocking(False)
        f.connect_ex(hole.getsockname()[:2])
        fillers.append(f)
    try:
        resolver = DualStack(_port(v4_only), hole.getsockname()[1])
        url = f"http://dual.test:{_port(v4_only)}/binary"
        with Client(timeout_s=20, resolver=resolver) as http:
            record = fetch(RequestSpec(url, auth="none", timeout=20), client=http)
        assert record.ok and record.bytes == 1024, record.error_detail
        spec = RequestSpec(url, auth="none", timeout=20)
        stats = run_load(LoadConfig(spec, 2, 2, None, None, workers=1, resolver=resolver)).stats
        assert (stats.requests, stats.ok) == (2, 2), stats.errors
    finally:
        for f in fillers:
            f.close()
        hole.close()


def test_bench_times_out_connecting_to_a_full_accept_queue(unanswered_port: int) -> None:
    """--timeout bounds the TCP connect of a load run: each request a TIMEOUT, said once."""
    from lstream_cli.models import ErrorClass

    spec = RequestSpec(f"http://127.0.0.1:{unanswered_port}/", auth="none", timeout=0.4)
    stats = run_load(LoadConfig(spec, 2, 2, None, None, workers=1)).stats
    assert (stats.requests, stats.ok, stats.errors) == (2, 0, {ErrorClass.TIMEOUT: 2})
    detail = f"timeout: timed out connecting to 127.0.0.1:{unanswered_port} after 0.4s"
    assert stats.details == {detail: 2}
