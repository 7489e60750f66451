"""API Gateway in front of the streaming function URL: limits and passthrough."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from lstream_cli.emulator import EmulatorConfig, Endpoints, running_emulator
from lstream_cli.emulator.config import APIGW_BUFFERED_LIMIT
from lstream_cli.emulator.handlers import expected_body


@pytest.fixture(scope="module")
def fast() -> Iterator[Endpoints]:
    """Emulated durations divided by 1000: 29 s -> 29 ms, 15 min -> 0.9 s."""
    with running_emulator(EmulatorConfig(throttle=False, time_scale=1000.0)) as endpoints:
        yield endpoints


def test_apigw_buffered_passes_status_headers_and_body(emu: Endpoints) -> None:
    r = httpx.get(emu.apigw + "/p?size=70000&status=206")
    assert r.status_code == 206
    assert r.headers["content-length"] == "70000"
    assert r.headers["content-type"] == "application/octet-stream"
    assert r.content == expected_body(70000)


def test_apigw_buffered_over_10_mb_is_502(emu: Endpoints) -> None:
    ok = httpx.get(emu.apigw + f"/?size={APIGW_BUFFERED_LIMIT}&chunk=1MiB")
    assert ok.status_code == 200
    assert len(ok.content) == APIGW_BUFFERED_LIMIT
    r = httpx.get(emu.apigw + f"/?size={APIGW_BUFFERED_LIMIT + 1}&chunk=1MiB")
    assert r.status_code == 502
    assert r.json() == {"message": "Internal server error"}


def test_apigw_buffered_integration_timeout_is_504() -> None:
    # Time scale 50: the 29 s timeout is 0.58 s; 60 emulated seconds before the
    # first byte are 1.2 s: past the timeout however slow the machine is.
    with running_emulator(EmulatorConfig(throttle=False, time_scale=50.0)) as emu:
        r = httpx.get(emu.apigw + "/?size=10&delay_ms=60000")
        assert r.status_code == 504
        assert r.json() == {"message": "Endpoint request timed out"}
    # Well inside the timeout: served. Time scale 10 (a 2.9 s timeout, a 0.1 s
    # delay): a busy machine's slowness is no reason for a 504 here.
    with running_emulator(EmulatorConfig(throttle=False, time_scale=10.0)) as emu:
        assert httpx.get(emu.apigw + "/?size=10&delay_ms=1000").status_code == 200


def test_apigw_buffered_upstream_cut_is_502(emu: Endpoints) -> None:
    r = httpx.get(emu.apigw + "/?size=100000&chunk=1000&fail_at=5000")
    assert r.status_code == 502
    assert r.json() == {"message": "Internal server error"}


def test_apigw_stream_passes_large_bodies_through(emu: Endpoints) -> None:
    size = APIGW_BUFFERED_LIMIT + 5_000_000
    with httpx.stream("GET", emu.apigw_stream + f"/?size={size}&chunk=1MiB") as r:
        assert r.status_code == 200
        assert r.headers["transfer-encoding"] == "chunked"
        body = r.read()
    assert len(body) == size
    assert body[-1000:] == expected_body(size)[-1000:]


def test_apigw_stream_cuts_when_the_function_fails(emu: Endpoints) -> None:
    received = 0
    with (
        pytest.raises(httpx.RemoteProtocolError),
        httpx.stream("GET", emu.apigw_stream + "/?size=100000&chunk=1000&fail_at=5000") as r,
    ):
        for chunk in r.iter_raw():
            received += len(chunk)
    assert received == 5000


def test_apigw_stream_is_cut_at_15_minutes(fast: Endpoints) -> None:
    # 4 writes 600 emulated seconds apart: 30 minutes > 15, so the stream is cut.
    with (
        pytest.raises(httpx.RemoteProtocolError),
        httpx.stream("GET", fast.apigw_stream + "/?size=4000&chunk=1000&gap_ms=600000") as r,
    ):
        assert r.status_code == 200
        r.read()


def test_apigw_forwards_method_body_and_query(emu: Endpoints) -> None:
    r = httpx.post(emu.apigw + "/?size=5&status=201", content=b"ignored")
    assert (r.status_code, r.content) == (201, expected_body(5))


def test_apigw_request_over_10_mb_is_413(emu: Endpoints) -> None:
    r = httpx.post(emu.apigw + "/", content=b"x" * (10 * 1024 * 1024 + 1))
    assert r.status_code == 413
