"""compare-modes --events: TTFE per cell, against the emulator and a scripted server."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from lstream_cli.cli import run
from lstream_cli.emulator import EmulatorConfig, Endpoints, running_emulator
from tests.scripted_server import ScriptedServer, scripted_server

SCHEMA = json.loads((Path(__file__).parent.parent / "schemas/compare.schema.json").read_text())
EVENTS = "format=sse&events=5&event_ms=60"


@pytest.fixture(scope="module")
def emu() -> Iterator[Endpoints]:
    with running_emulator(EmulatorConfig(throttle=False)) as endpoints:
        yield endpoints


def _compare(tmp_path: Path, *args: str) -> dict[str, Any]:
    out = tmp_path / "c.json"
    code = run(["compare-modes", "--sizes", "1000", "--no-warmup", *args, "--json", str(out)])
    assert code == 0
    doc = json.loads(out.read_text())
    jsonschema.validate(doc, SCHEMA)
    return doc


def test_streamed_and_buffered_first_events(
    emu: Endpoints, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    doc = _compare(
        tmp_path,
        "--stream", f"{emu.stream}/?{EVENTS}",
        "--buffered", f"{emu.buffered}/?{EVENTS}",
        "--events", "sse",
    )  # fmt: skip
    rows = {row["mode"]: row for row in doc["rows"]}
    assert rows["stream"]["events"] == rows["buffered"]["events"] == 5
    # buffered: the first event comes with the whole body, after the last was written
    assert rows["buffered"]["ttfe_ms"] >= 4 * 55
    assert rows["stream"]["ttfe_ms"] < rows["buffered"]["ttfe_ms"]
    assert rows["buffered"]["ttfe_ms"] >= rows["buffered"]["ttfb_ms"]
    table = capsys.readouterr().err
    assert "TTFE" in table


def test_without_events_no_ttfe_column(
    emu: Endpoints, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    doc = _compare(tmp_path, "--stream", f"{emu.stream}/?{EVENTS}")
    assert doc["rows"][0]["events"] is None and doc["rows"][0]["ttfe_ms"] is None
    assert "TTFE" not in capsys.readouterr().err


@pytest.fixture(scope="module")
def server() -> Iterator[ScriptedServer]:
    with scripted_server() as s:
        yield s


def test_scripted_server_ndjson_cell(server: ScriptedServer, tmp_path: Path) -> None:
    doc = _compare(tmp_path, "--stream", f"{server.base}/ndjson?n=4&gap_ms=30", "--events", "auto")
    (row,) = doc["rows"]
    assert row["events"] == 4
    assert row["ttfb_ms"] <= row["ttfe_ms"] <= row["total_ms"]
