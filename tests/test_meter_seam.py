"""The client side of the measurement seam, in both clients (get's and the load engine's).

A meter that asks for the bytes (``wants_bytes``) gets every body byte, in
order, with each delivery; a meter with an idle deadline
(``idle_deadline_ns``) ends a request that receives nothing by then as
``stalled``. The meter here is a :class:`BodyMeter` that does both, put where
each client builds its meters; servers and sockets are real.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from lstream_cli.engine.single import fetch
from lstream_cli.engine.workers import LoadConfig, run_load
from lstream_cli.measure import BodyMeter, MeterOptions
from lstream_cli.models import ErrorClass
from lstream_cli.request import RequestSpec
from tests.scripted_server import ScriptedServer, scripted_server

STALL_NS = 300_000_000
SEEN: list[bytes] = []  # every chunk a meter was handed, in order
OPTIONS: list[MeterOptions | None] = []  # the options each meter was built with


class ByteMeter(BodyMeter):
    """Wants the bytes; its idle deadline is STALL_NS after the last byte."""

    __slots__ = ()

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.wants_bytes = True
        OPTIONS.append(kw.get("options"))

    def idle_deadline_ns(self) -> int | None:
        if self.first_byte_ns is None or self._last_read is None:
            return None  # only once the stream has begun
        return self.t_start_ns + self._last_read + STALL_NS

    def data(self, now_ns: int, n: int, chunk: bytes | memoryview | None = None) -> None:
        assert chunk is not None and len(chunk) == n
        SEEN.append(bytes(chunk))
        super().data(now_ns, n, chunk)


@pytest.fixture
def meters(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr("lstream_cli.engine.single.BodyMeter", ByteMeter)
    monkeypatch.setattr("lstream_cli.engine.load.BodyMeter", ByteMeter)
    SEEN.clear()
    OPTIONS.clear()
    yield
    SEEN.clear()


@pytest.fixture(scope="module")
def server() -> Iterator[ScriptedServer]:
    with scripted_server() as s:
        yield s


OPTS = MeterOptions(events="lines", stall_timeout_ns=STALL_NS)


def _bench(url: str) -> Any:
    spec = RequestSpec(url, auth="none", timeout=10)
    return run_load(LoadConfig(spec, 1, 1, None, None, workers=1, meter_options=OPTS)).stats


@pytest.mark.parametrize("path", ["/chunked?n=5&size=3000&gap_ms=2", "/big?size=400000"])
def test_both_clients_hand_the_meter_every_byte(
    server: ScriptedServer, meters: None, path: str
) -> None:
    body = bytearray()
    record = fetch(RequestSpec(server.base + path, auth="none"), sink=body.extend, options=OPTS)
    assert record.ok and b"".join(SEEN) == bytes(body) and len(body) == record.bytes
    assert OPTIONS == [OPTS]
    SEEN.clear()
    stats = _bench(server.base + path)
    assert stats.ok == 1 and b"".join(SEEN) == bytes(body)
    assert OPTIONS[-1] == OPTS


def test_both_clients_end_a_stalled_stream_as_stalled(server: ScriptedServer, meters: None) -> None:
    # A first chunk at once, the next 3 s later: the stall deadline (0.3 s
    # after the last byte) comes long before --timeout (10 s).
    url = server.base + "/chunked?n=2&size=100&gap_ms=3000"
    spec = RequestSpec(url, auth="none", timeout=10)
    record = fetch(spec, options=OPTS)
    assert record.error is ErrorClass.STALLED and not record.complete
    assert record.status == 200 and record.bytes == 100
    assert "stall" in (record.error_detail or "")
    stats = _bench(url)
    assert stats.errors == {ErrorClass.STALLED: 1}
