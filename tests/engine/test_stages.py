"""--stages: parsing, the ramp's arithmetic, and runs whose load follows it."""

from __future__ import annotations

import itertools
import math

import pytest

from lstream_cli.engine.ramping import RampingOpenLoop
from lstream_cli.engine.stages import Stage, Stages, parse_stages, share
from lstream_cli.engine.workers import LoadConfig, LoadOutcome, run_load
from lstream_cli.request import RequestSpec
from tests.engine.httpserver import TestServer


def test_parse_stages_reads_k6s_form() -> None:
    assert parse_stages("30s:50, 1m:200,500ms:0") == (
        Stage(30.0, 50.0),
        Stage(60.0, 200.0),
        Stage(0.5, 0.0),
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty stage"),
        ("30s:50,", "empty stage"),
        ("30s", "not DURATION:TARGET"),
        ("abc:5", "invalid duration"),
        ("10s:x", "not a number"),
        ("10s:-1", ">= 0"),
        ("10s:nan", ">= 0"),
        ("0s:10", "no time at all"),
    ],
)
def test_malformed_stages_are_named(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_stages(text)


def test_the_ramp_is_linear_from_the_start_value() -> None:
    ramp = Stages(0.0, parse_stages("10s:100,10s:100,0s:20,10s:0"))
    assert ramp.total_s == 30.0 and ramp.peak == 100.0
    assert [ramp.at(t) for t in (0, 5, 10, 15, 19.99)] == pytest.approx([0, 50, 100, 100, 100])
    assert ramp.at(20.0) == pytest.approx(20.0)  # a 0 s stage jumps
    assert ramp.at(25.0) == pytest.approx(10.0) and ramp.at(99.0) == 0.0
    # Area: a triangle of 500, a rectangle of 1000, then a triangle of 100.
    assert ramp.count(10.0) == pytest.approx(500.0)
    assert ramp.count(30.0) == pytest.approx(1600.0)
    assert ramp.mean(0.0, 10.0) == pytest.approx(50.0)
    for n in (1.0, 37.5, 500.0, 1234.0, 1599.0):
        t = ramp.time_of_count(n)
        assert t is not None and ramp.count(t) == pytest.approx(n, rel=1e-9, abs=1e-6)
    assert ramp.time_of_count(1601.0) is None


def test_shares_add_up_to_the_target() -> None:
    for total in range(0, 40):
        assert sum(share(total, 3, w) for w in range(3)) == total


def test_workers_arrivals_interleave_into_the_runs_schedule() -> None:
    ramp = Stages(0.0, parse_stages("2s:100,1s:0"))
    one = RampingOpenLoop(ramp, 0, 3_000_000_000)
    three = [RampingOpenLoop(ramp, 0, 3_000_000_000, w, 3) for w in range(3)]
    whole = [one.due(i) for i in range(150)]
    merged = sorted(p.due(i) for p in three for i in range(50))
    assert merged == whole
    assert whole == sorted(whole) and len(set(whole)) == len(whole)
    # Sparse at first, dense at the peak: the gaps shrink as the rate rises.
    gaps = [b - a for a, b in itertools.pairwise(whole)]
    assert gaps[0] > gaps[20] > gaps[90]
    assert gaps[140] > gaps[110]  # and sparse again on the way down


def _staged(server: TestServer, text: str, rate: float | None = None, **kw: object) -> LoadOutcome:
    ramp = Stages(0.0 if rate is None else rate, parse_stages(text))
    base: dict[str, object] = {
        "spec": RequestSpec(url=server.url("/delay?ms=40"), auth="none"),
        "concurrency": int(ramp.peak) if rate is None else 50,
        "requests": None,
        "duration_s": ramp.total_s,
        "rate": rate,
        "workers": 2,
        "stages": ramp,
    }
    base.update(kw)
    return run_load(LoadConfig(**base))  # type: ignore[arg-type]


def test_in_flight_follows_a_closed_loop_ramp_up_and_down(server: TestServer) -> None:
    out = _staged(server, "2s:12,1s:12,2s:0")
    # A request started just before the end may finish just after it: that drain
    # is an honest sixth, partial second, with nothing started in it (a busy
    # machine makes one likely).
    series, drain = out.series[:5], out.series[5:]
    assert [p.t_s for p in series] == [0, 1, 2, 3, 4]
    assert [p.t_s for p in drain] in ([], [5])
    assert all(p.started == 0 and p.target == pytest.approx(0.0, abs=1e-3) for p in drain)
    targets = [p.target for p in series]
    assert targets == pytest.approx([3.0, 9.0, 12.0, 9.0, 3.0], abs=1e-3)
    flight = [p.in_flight for p in series]
    # The shape of the stages: up, the plateau highest, down; never above the target's peak.
    assert flight[0] < flight[1] < flight[2]
    assert flight[2] > flight[3] > flight[4]
    # Never more in flight than the target allows (the pacing's invariant, not a
    # timing); the time-weighted means carry float rounding at second boundaries.
    assert max(flight) <= 12.0 + 1e-3


def test_an_open_loop_ramp_sends_the_area_under_the_rate(server: TestServer) -> None:
    out = _staged(server, "1s:100,1s:100,1s:0", rate=0.0)
    stats, series, drain = out.stats, out.series[:3], out.series[3:]
    assert [p.t_s for p in drain] in ([], [3])  # the shutdown's tail (see above)
    assert all(p.started == 0 for p in drain)
    ramp = Stages(0.0, parse_stages("1s:100,1s:100,1s:0"))
    due = sum(1 for j in range(1, 400) if (t := ramp.time_of_count(j)) is not None and t < 3.0)
    assert due in (199, 200)
    assert stats.requests + stats.aborted + stats.not_started == due
    started = [p.started for p in series]
    assert sum(started) == stats.requests + stats.aborted
    assert started[0] < started[1] and started[1] > started[2]
    assert [p.target for p in series] == pytest.approx([50.0, 100.0, 50.0])
    assert math.isclose(sum(p.target or 0 for p in series), 200.0)
