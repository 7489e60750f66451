"""The synthetic handler's event streams, checked by content and measured by get and bench."""

from __future__ import annotations

import asyncio
import itertools
import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from lstream_cli.cli import run
from lstream_cli.emulator import Endpoints
from lstream_cli.emulator.handlers import Context, ResponseStream, invoke_handler, synthetic_handler
from lstream_cli.emulator.synthetic_events import encode_event, event_payload, event_schedule_ms
from lstream_cli.events import SseCollector
from tests.emulator.test_handlers import Collect


def _run(event: dict[str, Any]) -> Collect:
    sink = Collect()
    ctx = Context("fn", time_scale=1000.0)
    asyncio.run(invoke_handler(synthetic_handler, event, ResponseStream(sink), ctx))
    return sink


def test_sse_events_are_deterministic_and_one_write_each() -> None:
    sink = _run({"format": "sse", "events": "4", "event_ms": "50", "event_bytes": "40"})
    assert sink.status == 200
    assert sink.headers["content-type"] == "text/event-stream"
    assert sink.writes == [encode_event("sse", i, 40) for i in range(4)]
    collector = SseCollector()
    collector.feed(sink.body)
    assert [(e.type, e.data, e.last_event_id) for e in collector.events] == [
        ("token", event_payload(i, 40), str(i)) for i in range(4)
    ]
    assert all(len(e.data) == 40 for e in collector.events)


def test_ndjson_rows() -> None:
    sink = _run({"format": "ndjson", "events": "3", "event_ms": "0", "event_bytes": "5"})
    assert sink.headers["content-type"] == "application/x-ndjson"
    rows = [json.loads(line) for line in sink.body.splitlines()]
    assert rows == [{"i": i, "data": event_payload(i, 5)} for i in range(3)]


def test_payloads_have_the_asked_length_and_differ() -> None:
    assert [len(event_payload(i, n)) for i, n in ((0, 0), (1, 1), (12, 3), (7, 100))] == [
        0,
        1,
        3,
        100,
    ]
    assert event_payload(1, 20) != event_payload(2, 20)


def test_jittered_schedule_is_seeded() -> None:
    a = event_schedule_ms(50, 100.0, 40.0, seed=3)
    assert a == event_schedule_ms(50, 100.0, 40.0, seed=3)
    assert a != event_schedule_ms(50, 100.0, 40.0, seed=4)
    steps = [y - x for x, y in itertools.pairwise(a)]
    assert all(60.0 <= s <= 140.0 for s in steps) and len(set(steps)) > 1
    assert event_schedule_ms(3, 10.0, 0.0) == [0.0, 10.0, 20.0]


@pytest.mark.parametrize(
    "bad",
    [{"format": "xml"}, {"format": "sse", "events": "-1"}, {"format": "sse", "event_ms": "x"}],
)
def test_bad_event_parameters_are_a_400(bad: dict[str, str]) -> None:
    sink = _run(bad)
    assert sink.status == 400
    assert "invalid" in json.loads(sink.body)["message"]


def test_early_headers_go_out_before_the_first_event(emu: Endpoints) -> None:
    url = f"{emu.stream}/?format=sse&events=2&event_ms=10&first_ms=400&early_headers=1"
    with httpx.Client(timeout=10) as client, client.stream("GET", url) as resp:
        assert resp.headers["content-type"] == "text/event-stream"
        body = b"".join(resp.iter_raw())
    assert body == b": open\n\n" + encode_event("sse", 0, 32) + encode_event("sse", 1, 32)


def _get_json(args: list[str], tmp_path: Path) -> dict[str, Any]:
    out = tmp_path / "r.json"
    assert run(["get", *args, "--auth", "none", "-o", "/dev/null", "--json", str(out)]) == 0
    return json.loads(out.read_text())  # type: ignore[no-any-return]


def test_get_measures_the_emulators_events(emu: Endpoints, tmp_path: Path) -> None:
    url = f"{emu.stream}/?format=sse&events=8&event_ms=40&first_ms=300&early_headers=1"
    doc = _get_json([url, "--events", "auto"], tmp_path)
    assert doc["events"] == 8
    # the head and a comment went out 300 ms before the first event
    assert doc["headers_ms"] <= doc["ttfb_ms"] < doc["ttfe_ms"]
    assert doc["ttfe_ms"] >= 300
    assert doc["event_gap_ms"]["max"] > 0 and doc["events_per_s"] > 0


def test_bench_measures_the_emulators_events(emu: Endpoints, tmp_path: Path) -> None:
    out = tmp_path / "b.json"
    url = f"{emu.stream}/?format=ndjson&events=5&event_ms=20"
    code = run(
        [
            "bench",
            url,
            "-n",
            "4",
            "-c",
            "2",
            "--workers",
            "1",
            "--auth",
            "none",
            "--events",
            "ndjson",
            "--no-dashboard",
            "--json",
            str(out),
        ]
    )
    assert code == 0
    doc = json.loads(out.read_text())
    assert doc["events"] == 20
    assert doc["event_gap_ms"]["count"] == 16
    assert doc["ttfe_ms"]["count"] == 4


def test_lambda_api_payload_takes_json_values() -> None:
    sink = _run({"format": "sse", "events": 2, "event_ms": 0.5, "early_headers": True})
    assert sink.writes == [b": open\n\n", encode_event("sse", 0, 32), encode_event("sse", 1, 32)]
