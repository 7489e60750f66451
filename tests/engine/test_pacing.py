"""Pacing strategies: exact counts, due times, requests that could not start."""

from __future__ import annotations

import asyncio
import contextlib
import time

from lstream_cli.engine.pacing import LATE_AFTER_NS, ClosedLoop, OpenLoop


def _drain(pacing: ClosedLoop | OpenLoop) -> list[int]:
    async def main() -> list[int]:
        out = []
        while (t := await pacing.next_start()) is not None:
            out.append(t)
        return out

    return asyncio.run(main())


def test_closed_loop_hands_out_exactly_count() -> None:
    assert len(_drain(ClosedLoop(17, None))) == 17


def test_closed_loop_stops_at_deadline() -> None:
    assert _drain(ClosedLoop(None, time.perf_counter_ns() - 1)) == []


def test_open_loop_due_times_are_evenly_spaced_from_t0() -> None:
    t0 = time.perf_counter_ns()
    starts = _drain(OpenLoop(1000.0, t0, 20, None, offset_ns=500_000))
    assert starts == [t0 + 500_000 + i * 1_000_000 for i in range(20)]


def test_open_loop_counts_late_starts_and_never_started() -> None:
    # t0 one second in the past: every request is already overdue.
    t0 = time.perf_counter_ns() - 1_000_000_000
    pacing = OpenLoop(100.0, t0, None, t0 + 2_000_000_000)
    for _ in range(10):
        asyncio.run(pacing.next_start())
    assert pacing.late == 10  # all far beyond LATE_AFTER_NS
    assert LATE_AFTER_NS < 1_000_000_000
    # One second after t0, 100 were due (0 .. 990 ms); 10 started.
    assert pacing.not_started(t0 + 1_000_000_000) == 90
    # And by the deadline (2 s after t0), 200.
    assert pacing.not_started(t0 + 2_000_000_000) == 190


def test_stop_ends_both_strategies() -> None:
    closed = ClosedLoop(None, None)
    closed.stop()
    assert _drain(closed) == []
    opened = OpenLoop(10.0, time.perf_counter_ns(), None, None)
    opened.stop()
    assert _drain(opened) == []


def test_never_started_counts_only_requests_due_before_the_deadline() -> None:
    # 100/s for exactly one second: requests 0..99 are due (request 100 would
    # be due at the deadline itself, and next_start never hands it out).
    t0 = time.perf_counter_ns() - 5_000_000_000
    pacing = OpenLoop(100.0, t0, None, t0 + 1_000_000_000)
    assert pacing.not_started(time.perf_counter_ns()) == 100
    # Worker 1 of 2 at 200/s overall: offset 5 ms, interval 10 ms -> 100 due.
    shifted = OpenLoop(100.0, t0, None, t0 + 1_000_000_000, offset_ns=5_000_000)
    assert shifted.not_started(time.perf_counter_ns()) == 100
    assert len(_drain(OpenLoop(100.0, t0, None, t0 + 1_000_000_000))) == 100


def test_a_slot_cancelled_while_waiting_for_its_due_time_did_not_start() -> None:
    """Ctrl-C or the end of -z cancels slots asleep until their due time."""
    t0 = time.perf_counter_ns()
    pacing = OpenLoop(0.01, t0, 5, None)  # request 1 is due 100 s after request 0

    async def main() -> None:
        assert await pacing.next_start() == t0
        waiting = asyncio.ensure_future(pacing.next_start())
        await asyncio.sleep(0.05)
        assert not waiting.done()
        pacing.stop()
        waiting.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await waiting

    asyncio.run(main())
    assert pacing.started == 1
    assert pacing.remaining == 4
    # Later, 4 more were due but never started (the count caps it at -n).
    assert pacing.not_started(t0 + 1_000_000_000_000) == 4


def test_open_loop_never_hands_out_a_start_before_its_due_time() -> None:
    """The event loop's timers may fire early (uvloop's clock has millisecond
    steps): a start is handed out only once its due time has passed."""
    from lstream_cli._eventloop import new_event_loop

    t0 = time.perf_counter_ns()
    pacing = OpenLoop(700.0, t0, 150, None)  # due every ~1.43 ms: off the millisecond grid
    woke: list[tuple[int, int]] = []

    async def main() -> None:
        while (due := await pacing.next_start()) is not None:
            woke.append((due, time.perf_counter_ns()))

    loop = new_event_loop()
    try:
        loop.run_until_complete(main())
    finally:
        loop.close()
    assert len(woke) == 150
    assert all(now >= due for due, now in woke)
