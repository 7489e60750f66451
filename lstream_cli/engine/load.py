"""The worker loop: one event loop, ``concurrency`` slots, one pacing strategy.

Each worker (a forked process, or the calling process when the run has one
worker) runs :func:`run_worker`. Its slots share the worker's pacing (closed or open
loop, :mod:`lstream_cli.engine.pacing`); each slot owns one keep-alive
connection and loops: ask the pacing for a start time, send, feed the
finished :class:`RequestRecord` to the worker's :class:`RunStats`.

A housekeeping task ticks every 10 ms: it measures event-loop lag (how late
the tick fires), expires requests that received no byte for ``--timeout``,
polls the stop signal, hands each closed second of the per-second series
(:mod:`lstream_cli.engine.series`) to the control and, when a dashboard is
shown, a snapshot. The worker never prints.

Phases: an optional warm-up (counted nowhere, connections kept), then the
measured phase. With ``-z`` the measured phase ends at its deadline and the
requests still in flight are aborted and reported as ``aborted_in_flight``,
not as errors (oha's default).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from lstream_cli._eventloop import new_event_loop
from lstream_cli.engine.core import Resolver
from lstream_cli.engine.pacing import ClosedLoop, OpenLoop, Pacing
from lstream_cli.engine.protocol import (
    RETRY,
    ConnectError,
    Connection,
    Connector,
    RequestTemplate,
)
from lstream_cli.engine.ramping import RampingClosedLoop, RampingOpenLoop
from lstream_cli.engine.results import RunStats
from lstream_cli.engine.routes import route_picker, trust_for
from lstream_cli.engine.series import SeriesRecorder
from lstream_cli.engine.stages import Stages
from lstream_cli.measure import BodyMeter, MeterOptions
from lstream_cli.models import ErrorClass, RequestRecord
from lstream_cli.net.options import network_of
from lstream_cli.request import RequestSpec, prepare_auth

__all__ = ["Control", "WorkerPlan", "new_event_loop", "run_worker", "run_worker_sync"]

_TICK_S = 0.01  # housekeeping period: loop-lag resolution
_SWEEP_EVERY = 5  # ticks between timeout sweeps and stop polls (50 ms)
_ROWS_EVERY = 20  # ticks between batches of --csv rows handed over (200 ms)
_SPARE_FDS = 256  # descriptors beyond one per connection (interpreter, pipes, files)
# During a run the cyclic garbage collector starts a young-generation pass
# after this many net allocations instead of Python's 700: with 1,000
# connections in flight, each pass walked their live objects (exchanges,
# meters, futures) ~70 times a second, 5-9% of a worker's CPU.
GC_YOUNG_THRESHOLD = 20_000


@dataclass(frozen=True, slots=True)
class WorkerPlan:
    """What one worker does; built by the parent, pickled to the process."""

    index: int  # worker number, 0-based
    spec: RequestSpec  # auth already resolved: "none" when the parent found no signer
    concurrency: int  # slots (connections) in this worker
    requests: int | None  # this worker's share of -n; None with -z
    duration_s: float | None  # -z; None with -n
    rate: float | None  # this worker's share of -r (requests/s); None = closed loop
    rate_offset_s: float = 0.0  # phase of this worker's arrivals within the run's
    warmup_requests: int | None = None  # this worker's share of --warmup N
    warmup_s: float | None = None  # --warmup DURATION
    keep_rows: bool = False  # --csv: keep one row per request
    stream_rows: bool = False  # hand the rows to the control as they come, keep none
    live: bool = False  # send dashboard snapshots
    snapshot_s: float = 0.25  # between snapshots
    stages: Stages | None = None  # --stages: the ramp (concurrency, or rate with -r)
    workers: int = 1  # workers in the run: this one's share of the stages' target
    meter_options: MeterOptions | None = None  # --events, --stall-timeout
    resolver: Resolver | None = None  # replaces socket.getaddrinfo (tests, embedding)


class Control(Protocol):
    """How a worker hears "stop" and hands out snapshots."""

    def should_stop(self) -> bool: ...

    def snapshot(self, index: int, snap: dict[str, Any]) -> None: ...

    def series(self, index: int, seconds: list[dict[str, Any]]) -> None: ...

    def rows(self, index: int, rows: list[tuple[Any, ...]]) -> None: ...


class _Worker:
    def __init__(self, plan: WorkerPlan, control: Control) -> None:
        self.plan = plan
        self.control = control
        self.loop = asyncio.get_running_loop()
        spec = plan.spec
        signer = prepare_auth(spec) if spec.auth != "none" else None
        # Proxy and CA bundle as resolved in the parent (net.options), carried by the spec.
        network = network_of(spec)
        self.template = RequestTemplate(spec, signer, route_for=route_picker(network))
        self.connector = Connector(
            self.loop,
            self.template.origin,
            self.template.route,
            spec.insecure,
            spec.timeout,
            resolver=plan.resolver,
            trust=trust_for(network, spec.url, spec.insecure),
        )
        self.timeout_ns = None if spec.timeout is None else int(spec.timeout * 1e9)
        self.meter_options = plan.meter_options
        self.stall = (
            plan.meter_options is not None and plan.meter_options.stall_timeout_ns is not None
        )
        self.conns: list[Connection | None] = [None] * plan.concurrency
        self.pacing: Pacing = ClosedLoop(0, None)
        self.stats = RunStats()
        self.inflight = 0  # requests started and not finished
        self.cut_bytes = 0  # body bytes of requests aborted at the end of the phase
        self.cut_events = 0  # --events: their events
        self.stop_event = asyncio.Event()
        self.stopping = False

    # -- the slot loop ------------------------------------------------------
    async def _slot(self, i: int) -> None:
        pacing = self.pacing
        stats = self.stats
        add = stats.add
        series = stats.series
        template = self.template
        conns = self.conns
        method = template.method
        timeout_ns = self.timeout_ns
        options = self.meter_options
        # The plain closed loop hands out "now" without a coroutine per request.
        now = pacing.start_now if isinstance(pacing, ClosedLoop) else None
        while True:
            # As the README's measurement definition says, building and signing come
            # before t_start. Closed loop: the start is "now", so sign first; open
            # loop: the start is the due time (maybe far ahead), so sign when it comes.
            if now is not None:
                request = template.bytes()
                t_start = now()
            elif pacing.starts_now:
                request = template.bytes()
                t_start = await pacing.next_start()
            else:
                t_start = await pacing.next_start()
                request = template.bytes()
            if t_start is None:
                return
            self.inflight += 1
            if series is not None:
                series.start()
            meter = BodyMeter(t_start, keep_timeline=False, options=options)
            conn = conns[i]
            # A kept-alive connection (no set-up: the meter starts with none) is
            # awaited here, with no coroutine of its own: the common case.
            if conn is not None and conn.alive:
                result = await conn.request(request, meter, method, timeout_ns)
                if result is RETRY:  # the server had closed it: once more, on a new one
                    conns[i] = None
                    result = await self._on_new_connection(i, meter, request)
            else:
                result = await self._on_new_connection(i, meter, request)
            assert isinstance(result, RequestRecord)
            self.inflight -= 1
            add(result)

    async def _on_new_connection(self, i: int, meter: BodyMeter, request: bytes) -> RequestRecord:
        """Connect slot ``i`` (set-up times in ``meter``) and send ``request`` on it."""
        try:
            conn = await self.connector.connect(meter)
        except ConnectError as exc:
            self.conns[i] = None
            return meter.finish(time.perf_counter_ns(), False, error=exc.error, detail=str(exc))
        self.conns[i] = conn
        result = await conn.request(request, meter, self.template.method, self.timeout_ns)
        if isinstance(result, RequestRecord):
            return result
        self.conns[i] = None  # RETRY: only a reused connection is retried, so never here
        return meter.finish(
            time.perf_counter_ns(),
            False,
            error=ErrorClass.CONNECT,
            detail="connection closed before any response",
        )

    # -- phases -------------------------------------------------------------
    async def phase(self, pacing: Pacing, stats: RunStats, deadline_ns: int | None) -> None:
        """Run all slots under ``pacing`` until it is exhausted, the deadline or stop."""
        self.pacing = pacing
        self.stats = stats
        self.inflight = 0
        self.cut_bytes = 0
        self.cut_events = 0
        tasks = [self.loop.create_task(self._slot(i)) for i in range(self.plan.concurrency)]
        all_done = self.loop.create_task(asyncio.wait(tasks))
        stop_wait = self.loop.create_task(self.stop_event.wait())
        timeout = None
        if deadline_ns is not None:
            timeout = max(0.0, (deadline_ns - time.perf_counter_ns()) / 1e9)
        await asyncio.wait({all_done, stop_wait}, timeout=timeout, return_when="FIRST_COMPLETED")
        pacing.stop()
        stop_wait.cancel()
        pending = [t for t in tasks if not t.done()]
        stats.aborted += self.inflight
        for t in pending:
            t.cancel()
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)
        with contextlib.suppress(asyncio.CancelledError):
            await all_done
        for i, conn in enumerate(self.conns):
            if conn is not None and conn.meter is not None:
                self.cut_bytes += conn.meter.bytes  # received: the series keeps them
                self.cut_events += conn.meter.events or 0
                conn.abort()
                self.conns[i] = None
        for t in tasks:
            if not t.cancelled() and t.exception() is not None:
                raise t.exception()  # type: ignore[misc]

    async def idle_until(self, deadline_ns: int) -> None:
        """Wait for ``deadline_ns`` (perf_counter_ns) unless told to stop first."""
        # A loop: uvloop's timers run on a millisecond clock and may fire early.
        while not self.stopping:
            remaining = (deadline_ns - time.perf_counter_ns()) / 1e9
            if remaining <= 0:
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stop_event.wait(), remaining + 0.001)

    def request_stop(self) -> None:
        if not self.stopping:
            self.stopping = True
            self.pacing.stop()
            self.stop_event.set()

    # -- housekeeping -------------------------------------------------------
    async def housekeeping(self) -> None:
        # perf_counter, not loop.time(): uvloop's clock has millisecond steps.
        clock = time.perf_counter
        expected = clock() + _TICK_S
        tick = 0
        next_snap = clock() + self.plan.snapshot_s
        while True:
            await asyncio.sleep(_TICK_S)
            now = clock()
            lag = now - expected
            self.stats.lag.record_raw(int(lag * 1e6))
            expected = now + _TICK_S
            tick += 1
            if self.stall and tick % _SWEEP_EVERY:
                self._sweep()  # every tick: a stall ends within 10 ms of its deadline
            if tick % _SWEEP_EVERY == 0:
                self._sweep()
                if tick % 100 == 0:
                    self.stats.flush()  # keeps the batching dicts small
                if self.control.should_stop():
                    self.request_stop()
            self._ship_series(time.perf_counter_ns())
            if tick % _ROWS_EVERY == 0:
                self._ship_rows()
            if self.plan.live and now >= next_snap:
                next_snap = now + self.plan.snapshot_s
                self.control.snapshot(self.plan.index, self.snapshot())

    def _sweep(self) -> None:
        """End the requests whose deadline (--timeout, --stall-timeout) has passed."""
        now = time.perf_counter_ns()
        if not self.stall:
            # --timeout alone: a request is due to end once its last byte (or its
            # start) is that old; one comparison per connection (1,000 at -c 1000).
            limit = self.timeout_ns
            if limit is None:
                return
            oldest = now - limit
            for conn in self.conns:
                ex = None if conn is None else conn.exchange
                if ex is not None and ex.last_rx_ns <= oldest:
                    assert conn is not None
                    conn.expire(now)
            return
        for conn in self.conns:
            ex = None if conn is None else conn.exchange
            if ex is not None:
                deadline = ex.deadline_ns()
                if deadline is not None and now >= deadline:
                    assert conn is not None
                    conn.expire(now)

    def bytes_received(self) -> int:
        """Body bytes of the phase so far: finished requests' and in-flight ones'."""
        inflight = sum(c.meter.bytes for c in self.conns if c is not None and c.meter is not None)
        return self.stats.bytes + inflight + self.cut_bytes

    def events_received(self) -> int | None:
        """--events: events of the phase so far, in-flight responses' included; else None."""
        options = self.meter_options
        if options is None or options.events is None:
            return None
        meters = [c.meter for c in self.conns if c is not None and c.meter is not None]
        inflight = sum(m.events or 0 for m in meters)
        return self.stats.events + inflight + self.cut_events

    def _ship_rows(self) -> None:
        stats = self.stats
        if self.plan.stream_rows and stats.rows:
            rows, stats.rows = stats.rows, []
            self.control.rows(self.plan.index, rows)

    def _ship_series(self, now_ns: int, end: bool = False) -> None:
        series = self.stats.series
        # A second is closed by the first request after its end, or here by the clock.
        if series is None or (not end and now_ns < series.boundary_ns and not series.closed):
            return
        seconds = series.finish(now_ns) if end else series.tick(now_ns)
        if seconds:
            self.control.series(self.plan.index, seconds)

    def snapshot(self) -> dict[str, Any]:
        stats = self.stats
        recent = stats.take_recent()
        ttfe = stats.take_recent_ttfe() if self.meter_options is not None else None
        return {
            "t_ns": time.perf_counter_ns(),
            "requests": stats.requests,
            "ok": stats.ok,
            "errors": stats.error_count,
            "bytes": stats.bytes,
            "recent_ttfb": None if recent is None else recent.to_state(),
            "events": stats.events,
            "recent_ttfe": None if ttfe is None else ttfe.to_state(),
        }

    def close(self) -> None:
        for conn in self.conns:
            if conn is not None:
                conn.close()


def _pacing(plan: WorkerPlan, count: int | None, deadline_ns: int | None, t0: int) -> Pacing:
    if plan.stages is not None and count is None:
        if plan.rate is None:
            return RampingClosedLoop(plan.stages, t0, deadline_ns, plan.index, plan.workers)
        assert deadline_ns is not None  # the stages' total duration
        return RampingOpenLoop(plan.stages, t0, deadline_ns, plan.index, plan.workers)
    if plan.rate is None:
        return ClosedLoop(count, deadline_ns)
    return OpenLoop(plan.rate, t0, count, deadline_ns, offset_ns=int(plan.rate_offset_s * 1e9))


async def run_worker(plan: WorkerPlan, control: Control, t0_ns: int) -> dict[str, Any]:
    """Run one worker from ``t0_ns`` (perf_counter_ns); returns its RunStats state."""
    worker = _Worker(plan, control)
    keeper = worker.loop.create_task(worker.housekeeping())
    try:
        # Every address of the host, once per worker, before anything is timed.
        await worker.connector.resolve()
        delay = (t0_ns - time.perf_counter_ns()) / 1e9
        if delay > 0:
            await asyncio.sleep(delay)
        if plan.warmup_requests or plan.warmup_s:
            now = time.perf_counter_ns()
            deadline = None if plan.warmup_s is None else now + int(plan.warmup_s * 1e9)
            warm = _pacing(plan, plan.warmup_requests, deadline, now)
            await worker.phase(warm, RunStats(), deadline)
        stats = RunStats(keep_rows=plan.keep_rows, recent=plan.live, t0_ns=t0_ns)
        begin = time.perf_counter_ns()
        cpu0 = time.process_time()
        stats.begin_ns = begin
        stats.series = SeriesRecorder(begin, worker.bytes_received, worker.events_received)
        deadline = None if plan.duration_s is None else begin + int(plan.duration_s * 1e9)
        pacing = _pacing(plan, plan.requests, deadline, begin)
        if not worker.stopping:
            await worker.phase(pacing, stats, deadline)
            if plan.rate is not None and deadline is not None:
                # Open loop: the last arrival is due before -z ends; the run (and
                # the rate's denominator) still spans the whole duration asked for.
                await worker.idle_until(deadline)
        end = time.perf_counter_ns()
        stats.end_ns = end
        worker._ship_series(end, end=True)
        stats.cpu_s.append(time.process_time() - cpu0)
        stats.wall_s.append((end - begin) / 1e9)
        stats.late = pacing.late
        stats.not_started = pacing.not_started(end)
        worker._ship_rows()
        if plan.live:
            control.snapshot(plan.index, worker.snapshot())
        return stats.to_state()
    finally:
        keeper.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await keeper
        worker.close()


def raise_open_file_limit(needed: int) -> None:
    """Raise the soft open-file limit towards ``needed`` (up to the hard limit).

    A shell's soft ``ulimit -n`` is often 1024, far below the hard limit; each
    connection is a descriptor, so a large ``-c`` would fail with "Too many open
    files" that the user never asked for (Go raises it at start-up: hey does).
    """
    try:
        import resource
    except ImportError:  # pragma: no cover - not POSIX
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft >= needed:
        return
    target = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
    if target > soft:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


def run_worker_sync(
    plan: WorkerPlan, control: Control, t0_ns: int, on_sigint: Any = None
) -> dict[str, Any]:
    """Run a worker on a fresh event loop in this thread.

    ``on_sigint``: when given (in-process run), Ctrl-C calls it instead of
    raising KeyboardInterrupt, so the partial state is still returned.
    """
    raise_open_file_limit(plan.concurrency + _SPARE_FDS)
    with fewer_collections():
        return _run_on_new_loop(plan, control, t0_ns, on_sigint)


@contextlib.contextmanager
def fewer_collections() -> Iterator[None]:
    """Collect cyclic garbage less often while a worker runs; restored after.

    What the process held before the run (modules, the plan, the parent's own
    objects when the run is in-process) is frozen: never walked by a
    collection during the run, unfrozen at its end (unless the caller had
    frozen objects itself: its freeze is then left as it was). Young-generation passes
    come after :data:`GC_YOUNG_THRESHOLD` allocations; nothing is disabled,
    so a cycle made during the run is still freed.
    """
    threshold = gc.get_threshold()
    # A caller that froze objects itself keeps its freeze exactly as it was:
    # nothing more is frozen, and nothing unfrozen, at either end.
    own_freeze = gc.get_freeze_count() == 0
    if own_freeze:
        gc.freeze()
    gc.set_threshold(max(GC_YOUNG_THRESHOLD, threshold[0]), *threshold[1:])
    try:
        yield
    finally:
        gc.set_threshold(*threshold)
        if own_freeze:
            gc.unfreeze()


def _run_on_new_loop(
    plan: WorkerPlan, control: Control, t0_ns: int, on_sigint: Any
) -> dict[str, Any]:
    loop = new_event_loop()
    try:
        asyncio.set_event_loop(loop)
        if on_sigint is not None:
            loop.add_signal_handler(signal.SIGINT, on_sigint)
        try:
            return loop.run_until_complete(run_worker(plan, control, t0_ns))
        finally:
            if on_sigint is not None:
                loop.remove_signal_handler(signal.SIGINT)
            loop.run_until_complete(loop.shutdown_asyncgens())
    finally:
        asyncio.set_event_loop(None)
        loop.close()
