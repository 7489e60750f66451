"""The Python example handler (examples/handler.py) served by the emulator."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from lstream_cli.emulator import EmulatorConfig, Endpoints, running_emulator

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "handler.py"
SECRET = ("X-Origin-Verify", "example-secret-value")


@pytest.fixture
def served(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Endpoints, bytes]]:
    data = bytes(range(256)) * 1000 + b"tail"
    path = tmp_path / "object.bin"
    path.write_bytes(data)
    monkeypatch.setenv("LSTREAM_EXAMPLE_FILE", str(path))
    monkeypatch.setenv("ORIGIN_SECRET_HEADER", SECRET[0])
    monkeypatch.setenv("ORIGIN_SECRET_VALUE", SECRET[1])
    config = EmulatorConfig(handler=f"{EXAMPLE}:handler", secret_header=SECRET, throttle=False)
    with running_emulator(config) as endpoints:
        yield endpoints, data


def test_example_streams_the_file_through_api_gateway(served: tuple[Endpoints, bytes]) -> None:
    emu, data = served
    with httpx.stream("GET", emu.apigw_stream + "/") as r:
        assert r.status_code == 200
        assert r.headers["transfer-encoding"] == "chunked"
        assert r.headers["content-type"] == "application/octet-stream"
        assert r.read() == data
    assert httpx.get(emu.apigw + "/").content == data


def test_example_direct_call_without_the_secret_is_refused(
    served: tuple[Endpoints, bytes],
) -> None:
    emu, data = served
    assert httpx.get(emu.stream + "/").status_code == 403
    r = httpx.get(emu.stream + "/", headers={SECRET[0]: SECRET[1]})
    assert (r.status_code, r.content) == (200, data)


def test_example_missing_file_is_a_status_before_the_first_byte(
    served: tuple[Endpoints, bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    emu, _ = served
    monkeypatch.setenv("LSTREAM_EXAMPLE_FILE", "/no/such/object.bin")
    r = httpx.get(emu.buffered + "/", headers={SECRET[0]: SECRET[1]})
    assert r.status_code == 404
    assert r.json() == {"message": "Not Found"}
