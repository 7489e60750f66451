"""Running a load: splitting it over worker processes and merging their results.

One worker per core (``--workers``, default the CPU count), each with its
own event loop, so the client does not share one interpreter lock::

    parent: plan_workers() -> spawn N processes -> "go" at a common t0
            <- ("snap", i, counters + recent TTFB histogram)  (dashboard only)
            <- ("series", i, closed seconds)  -> SeriesMerger (by second, exact)
            <- ("rows", i, --csv rows)  -> on_rows, as they come (streamed)
            <- ("final", i, RunStats state)  -> RunStats.merge (exact)
    Ctrl-C: the parent sets the stop event; workers end their phase, abort
            what is in flight and still send their final state.

``-n`` is split exactly (the shares add up to n), ``-c`` likewise, and
``-r`` evenly, each worker's arrivals shifted by ``i / r`` so the merged
arrivals stay evenly spaced. With one worker the run stays in this process
(no process to start), with the same worker loop; a short ``-n`` run with
the default ``--workers`` (at most :data:`INLINE_MAX_REQUESTS` requests) is
one worker.

Workers are forked (:func:`start_method`): the parent has imported the
engine already, a child starts with it in memory and creates its own event
loop. Forking is safe only while the parent runs no other thread and no
event loop, so the CLI starts the dashboard (a thread) after the workers
(``on_started``). A parent with threads (a program embedding the engine, a
test server) gets ``forkserver`` instead: one clean server process, with the
engine modules preloaded once, forks every worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import queue as queue_mod
import signal
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

# The event parsers are loaded lazily by the meter (get needs them only with
# --events); a forked or forkserver worker finds them loaded here instead.
import lstream_cli.events  # noqa: F401
from lstream_cli._exitcodes import ExitStatus, LstreamError
from lstream_cli.engine.core import Resolver
from lstream_cli.engine.load import WorkerPlan, run_worker_sync
from lstream_cli.engine.results import RunStats
from lstream_cli.engine.series import SeriesMerger, SeriesPoint
from lstream_cli.engine.stages import Stages
from lstream_cli.measure import MeterOptions
from lstream_cli.request import RequestSpec
from lstream_cli.stats import Histogram
from lstream_cli.supervise import ignore_stop_signals, stop_signals_blocked

__all__ = [
    "INLINE_MAX_REQUESTS",
    "LoadConfig",
    "LoadOutcome",
    "Progress",
    "default_workers",
    "plan_workers",
    "run_load",
    "split_evenly",
    "start_method",
]

_START_DELAY_NS = 20_000_000  # "go" is given this far ahead so all workers start together
_WINDOW_S = 2.0  # the dashboard's "last seconds"
_SPARK_POINTS = 60  # seconds of series the dashboard's sparklines get
RowsSink = Callable[[list[tuple[Any, ...]]], None]  # takes --csv rows as they come
_JOIN_TIMEOUT_S = 10.0
_ORPHAN_POLL_S = 0.2  # a worker waiting for "go" checks this often that its parent lives
# A -n run of at most this many requests (warm-up included) is one worker when
# --workers is not given: it is over before a second process would pay off.
INLINE_MAX_REQUESTS = 100
# What a forkserver imports once, before it forks any worker.
_FORKSERVER_PRELOAD = ["lstream_cli.engine.workers"]


def default_workers() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


@dataclass(frozen=True, slots=True)
class LoadConfig:
    """The whole run as the user asked for it (validated by the CLI)."""

    spec: RequestSpec  # auth resolved: "none" when no signer was found
    concurrency: int  # -c: connections in flight, all workers together
    requests: int | None  # -n; None with -z
    duration_s: float | None  # -z; None with -n
    rate: float | None  # -r requests/s, all workers together; None = closed loop
    workers: int  # --workers (upper bound; never more than -c or -n)
    auto_workers: bool = False  # --workers not given: a short -n run stays in one process
    warmup_requests: int | None = None
    warmup_s: float | None = None
    keep_rows: bool = False  # --csv
    live: bool = False  # dashboard snapshots
    stages: Stages | None = None  # --stages (duration_s is their total)
    meter_options: MeterOptions | None = None  # --events, --stall-timeout: every meter's
    resolver: Resolver | None = None  # replaces socket.getaddrinfo (tests, embedding)


@dataclass(frozen=True, slots=True)
class Progress:
    """What the dashboard shows, computed from worker snapshots."""

    elapsed_s: float  # since the start
    requests: int  # finished so far
    ok: int
    errors: int
    bytes: int
    rps: float  # over the last seconds
    bytes_per_s: float  # over the last seconds
    ttfb_p50_ms: float | None  # over the last seconds
    ttfb_p99_ms: float | None
    target_requests: int | None  # -n, for a progress fraction
    target_s: float | None  # -z
    series: tuple[SeriesPoint, ...] = ()  # the last seconds, for the sparklines
    events: int | None = None  # --events: counted so far
    ttfe_p50_ms: float | None = None  # over the last seconds
    ttfe_p99_ms: float | None = None


@dataclass(frozen=True, slots=True)
class LoadOutcome:
    """What a run brings back: the merged statistics and how it ended."""

    stats: RunStats  # merged over the workers
    interrupted: bool  # ended by Ctrl-C
    workers: int  # processes actually used
    series: tuple[SeriesPoint, ...] = ()  # per second of the measured phase
    start_method: str | None = None  # how worker processes started; None: in this process


def split_evenly(total: int, parts: int) -> list[int]:
    """``total`` into ``parts`` integers that differ by at most one and sum to it."""
    base, extra = divmod(total, parts)
    return [base + (1 if i < extra else 0) for i in range(parts)]


def plan_workers(config: LoadConfig) -> list[WorkerPlan]:
    n = max(1, config.workers)
    n = min(n, config.concurrency)
    if config.requests is not None:
        n = min(n, config.requests)
        if config.auto_workers and config.requests + (config.warmup_requests or 0) <= (
            INLINE_MAX_REQUESTS
        ):
            n = 1
    concurrency = split_evenly(config.concurrency, n)
    requests = split_evenly(config.requests, n) if config.requests is not None else [None] * n
    warm = (
        split_evenly(config.warmup_requests, n)
        if config.warmup_requests is not None
        else [None] * n
    )
    plans = []
    for i in range(n):
        rate = None if config.rate is None else config.rate / n
        # With --stages the arrivals are interleaved by number, not by a phase shift.
        offset = 0.0 if not config.rate or config.stages is not None else i / config.rate
        plans.append(
            WorkerPlan(
                index=i,
                spec=config.spec,
                concurrency=concurrency[i],
                requests=requests[i],
                duration_s=config.duration_s,
                rate=rate,
                rate_offset_s=offset,
                warmup_requests=warm[i] or None,
                warmup_s=config.warmup_s,
                keep_rows=config.keep_rows,
                live=config.live,
                stages=config.stages,
                workers=n,
                meter_options=config.meter_options,
                resolver=config.resolver,
            )
        )
    return plans


class _LiveView:
    """Folds worker snapshots into :class:`Progress` for the dashboard."""

    def __init__(
        self,
        config: LoadConfig,
        on_progress: Callable[[Progress], None],
        series: SeriesMerger | None = None,
    ) -> None:
        self.config = config
        self.on_progress = on_progress
        self.series = series
        self.t0_ns = time.perf_counter_ns()
        self.latest: dict[int, dict[str, Any]] = {}
        self.totals: deque[tuple[float, int, int]] = deque()  # (t, requests, bytes)
        self.recent: deque[tuple[float, Histogram]] = deque()
        self.recent_ttfe: deque[tuple[float, Histogram]] = deque()

    def start(self, t0_ns: int) -> None:
        self.t0_ns = t0_ns

    def add(self, index: int, snap: dict[str, Any]) -> None:
        self.latest[index] = snap
        now = (snap["t_ns"] - self.t0_ns) / 1e9
        if snap.get("recent_ttfb") is not None:
            self.recent.append((now, Histogram.from_state(snap["recent_ttfb"])))
        while self.recent and self.recent[0][0] < now - _WINDOW_S:
            self.recent.popleft()
        if snap.get("recent_ttfe") is not None:
            self.recent_ttfe.append((now, Histogram.from_state(snap["recent_ttfe"])))
        while self.recent_ttfe and self.recent_ttfe[0][0] < now - _WINDOW_S:
            self.recent_ttfe.popleft()
        requests = sum(s["requests"] for s in self.latest.values())
        nbytes = sum(s["bytes"] for s in self.latest.values())
        self.totals.append((now, requests, nbytes))
        while len(self.totals) > 2 and self.totals[1][0] <= now - _WINDOW_S:
            self.totals.popleft()
        t_old, r_old, b_old = self.totals[0]
        span = now - t_old
        if span < 0.5:  # too short a window (the first snapshots): average since the start
            t_old, r_old, b_old = 0.0, 0, 0
            span = now
        merged = Histogram(scale=1000.0)
        for _, h in self.recent:
            merged.merge(h)
        self.on_progress(
            Progress(
                elapsed_s=max(0.0, now),
                requests=requests,
                ok=sum(s["ok"] for s in self.latest.values()),
                errors=sum(s["errors"] for s in self.latest.values()),
                bytes=nbytes,
                rps=(requests - r_old) / span if span > 0 else 0.0,
                bytes_per_s=(nbytes - b_old) / span if span > 0 else 0.0,
                ttfb_p50_ms=merged.percentile(50.0),
                ttfb_p99_ms=merged.percentile(99.0),
                target_requests=self.config.requests,
                target_s=self.config.duration_s,
                series=tuple(self.series.points[-_SPARK_POINTS:]) if self.series else (),
                **self._events(),
            )
        )

    def _events(self) -> dict[str, Any]:
        options = self.config.meter_options
        if options is None or options.events is None:
            return {}
        ttfe = Histogram(scale=1000.0)
        for _, h in self.recent_ttfe:
            ttfe.merge(h)
        return {
            "events": sum(s.get("events", 0) for s in self.latest.values()),
            "ttfe_p50_ms": ttfe.percentile(50.0),
            "ttfe_p99_ms": ttfe.percentile(99.0),
        }


class _LocalControl:
    """In-process worker: Ctrl-C arrives through the event loop's signal handler."""

    def __init__(
        self, view: _LiveView | None, series: SeriesMerger, on_rows: RowsSink | None = None
    ) -> None:
        self.view = view
        self.merger = series
        self.on_rows = on_rows
        self.interrupted = False

    def interrupt(self) -> None:
        self.interrupted = True

    def should_stop(self) -> bool:
        return self.interrupted

    def snapshot(self, index: int, snap: dict[str, Any]) -> None:
        if self.view is not None:
            self.view.add(index, snap)

    def series(self, index: int, seconds: list[dict[str, Any]]) -> None:
        self.merger.add(index, seconds)

    def rows(self, index: int, rows: list[tuple[Any, ...]]) -> None:
        if self.on_rows is not None:
            self.on_rows(rows)


class _ProcessControl:
    """Worker process side: stop is a shared event, snapshots go on the queue.

    A worker whose parent died (SIGTERM from ``timeout``, SIGKILL, OOM) stops
    too, instead of loading the server for the rest of ``-z`` with nobody to
    report to.
    """

    def __init__(self, out: Any, stop: Any, parent_pid: int) -> None:
        import multiprocessing  # a one-worker run (in this process) never needs it

        self.out = out
        self.stop = stop
        self.parent_pid = parent_pid  # from the parent: it may be dead already
        # The run's parent; a forkserver's worker is the server's child, not its.
        self.parent = multiprocessing.parent_process()
        # A forked worker is the run's own child: getppid() changes the moment
        # the run dies. (Its sentinel would not: a worker forked later holds
        # the write end of every earlier worker's sentinel pipe.)
        self.forked = os.getppid() == parent_pid

    def orphaned(self) -> bool:
        if self.forked or self.parent is None:
            return os.getppid() != self.parent_pid
        return not self.parent.is_alive()  # its sentinel: a pipe closed when it exits

    def should_stop(self) -> bool:
        return bool(self.stop.is_set()) or self.orphaned()

    def snapshot(self, index: int, snap: dict[str, Any]) -> None:
        self.out.put(("snap", index, snap))

    def series(self, index: int, seconds: list[dict[str, Any]]) -> None:
        self.out.put(("series", index, seconds))

    def rows(self, index: int, rows: list[tuple[Any, ...]]) -> None:
        self.out.put(("rows", index, rows))


def _child_main(
    plan: WorkerPlan,
    out: Any,
    stop: Any,
    go: Any,
    t0: Any,
    parent_pid: int,
    context: tuple[dict[str, str], str] | None = None,
) -> None:
    """Entry point of a worker process.

    ``context``: the parent's environment and working directory, for a worker
    forked by a forkserver (which holds those of the moment it started).
    """
    ignore_stop_signals()  # the parent owns Ctrl-C and SIGTERM (blocked since the start)
    if context is not None:
        env, cwd = context
        os.environ.clear()
        os.environ.update(env)
        with contextlib.suppress(OSError):
            os.chdir(cwd)
    control = _ProcessControl(out, stop, parent_pid)
    out.put(("ready", plan.index, None))
    while not go.wait(_ORPHAN_POLL_S):
        if control.orphaned():
            os._exit(0)
    try:
        state = run_worker_sync(plan, control, int(t0.value))
        if control.orphaned():
            os._exit(0)  # nobody reads the queue any more
    except LstreamError as exc:
        out.put(("error", plan.index, (str(exc), int(exc.exit_status))))
    except BaseException as exc:
        out.put(("error", plan.index, (f"{type(exc).__name__}: {exc}", int(ExitStatus.ERROR))))
    else:
        out.put(("final", plan.index, state))


def start_method() -> str:
    """``fork`` when this process runs no other thread and no event loop; else ``forkserver``.

    A fork copies only the calling thread: a lock another thread held (rich's
    refresh thread, a logging handler, a test server) would stay locked in
    the child forever, and a running loop's selector would be shared.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:  # none: the usual case
        in_loop = False
    else:
        in_loop = True
    import multiprocessing  # a one-worker run (in this process) never needs it

    forkable = "fork" in multiprocessing.get_all_start_methods()
    if forkable and not in_loop and threading.active_count() == 1:
        return "fork"
    return "forkserver"


def run_load(
    config: LoadConfig,
    on_progress: Callable[[Progress], None] | None = None,
    on_rows: RowsSink | None = None,
    on_started: Callable[[], None] | None = None,
) -> LoadOutcome:
    """Run the load described by ``config``; Ctrl-C ends it early (``interrupted``).

    With ``config.keep_rows``, the per-request rows are handed to ``on_rows``
    in batches as requests finish (none is kept), or, without ``on_rows``,
    kept in the outcome's stats. ``on_started`` is called once the worker
    processes exist (at once when there are none): where the caller starts
    its own threads, so that the workers can be forked.
    """
    plans = plan_workers(config)
    if on_rows is not None:
        plans = [replace(p, stream_rows=True) for p in plans]
    series = SeriesMerger(len(plans), series_target(config))
    view = _LiveView(config, on_progress, series) if (on_progress and config.live) else None
    if len(plans) == 1:
        if on_started is not None:
            on_started()
        return _run_local(plans[0], view, series, on_rows)
    return _run_processes(plans, view, series, on_rows, on_started)


def series_target(config: LoadConfig) -> Callable[[float, float], float] | None:
    """The mean target over a second of the series (``--stages``), or None."""
    stages = config.stages
    return None if stages is None else stages.mean


def _run_local(
    plan: WorkerPlan, view: _LiveView | None, series: SeriesMerger, on_rows: RowsSink | None
) -> LoadOutcome:
    control = _LocalControl(view, series, on_rows)
    main = threading.current_thread() is threading.main_thread()
    t0 = time.perf_counter_ns()
    if view is not None:
        view.start(t0)
    state = run_worker_sync(plan, control, t0, on_sigint=control.interrupt if main else None)
    return LoadOutcome(RunStats.from_state(state), control.interrupted, 1, series.finish())


def _run_processes(
    plans: list[WorkerPlan],
    view: _LiveView | None,
    series: SeriesMerger,
    on_rows: RowsSink | None = None,
    on_started: Callable[[], None] | None = None,
) -> LoadOutcome:
    import multiprocessing  # a one-worker run (in this process) never needs it

    method = start_method()
    ctx: Any = multiprocessing.get_context(method)
    if method == "forkserver":
        ctx.set_forkserver_preload(_FORKSERVER_PRELOAD)  # no effect once the server runs
    out = ctx.Queue()
    stop = ctx.Event()
    go = ctx.Event()
    t0 = ctx.Value("q", 0)
    interrupted = threading.Event()

    def on_sigint(signum: int, frame: Any) -> None:
        interrupted.set()
        stop.set()

    main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGINT, on_sigint) if main else None
    context = (dict(os.environ), os.getcwd()) if method == "forkserver" else None
    procs = [
        ctx.Process(
            target=_child_main,
            args=(replace(plan), out, stop, go, t0, os.getpid(), context),
            name=f"lstream-worker-{plan.index}",
            daemon=True,
        )
        for plan in plans
    ]
    finals: dict[int, dict[str, Any]] = {}
    failure: tuple[str, int] | None = None
    try:
        _start_workers(procs)
        if on_started is not None:
            on_started()
        ready = 0
        while ready < len(procs) and failure is None:
            msg = _get(out, procs)
            if msg is None and not all(p.is_alive() for p in procs):
                msg = _last_words(out)
                if msg is None:
                    failure = ("a worker process failed to start", int(ExitStatus.ERROR))
            if msg is None:
                continue
            kind, _index, payload = msg
            if kind == "ready":
                ready += 1
            elif kind == "error":
                failure = payload
        start = time.perf_counter_ns() + _START_DELAY_NS
        t0.value = start
        if view is not None:
            view.start(start)
        go.set()
        while len(finals) < len(procs) and failure is None:
            msg = _get(out, procs)
            if msg is None:
                # Gone without its final state (which it sends before it exits)?
                dead = [
                    p
                    for i, p in enumerate(procs)
                    if i not in finals and not p.is_alive() and p.exitcode is not None
                ]
                if dead:
                    # Its last message may have reached the pipe just after the
                    # empty poll above: read once more before calling it lost.
                    msg = _last_words(out)
                    if msg is None:
                        failure = (f"worker process exited with {dead[0].exitcode}", 1)
            if msg is None:
                continue
            kind, index, payload = msg
            if kind == "snap":
                if view is not None:
                    view.add(index, payload)
            elif kind == "series":
                series.add(index, payload)
            elif kind == "rows":
                if on_rows is not None:
                    on_rows(payload)
            elif kind == "final":
                finals[index] = payload
                series.end(index)
            elif kind == "error":
                failure = payload
    finally:
        stop.set()
        go.set()
        for p in procs:
            if p.pid is None:
                continue
            p.join(timeout=_JOIN_TIMEOUT_S)
            if p.is_alive():
                p.kill()  # workers ignore SIGTERM (the parent owns it)
                p.join(timeout=1.0)
        if main:
            signal.signal(signal.SIGINT, previous)
        with contextlib.suppress(Exception):
            out.close()
            out.join_thread()
    if failure is not None:
        message, code = failure
        raise LstreamError(message, ExitStatus(code))
    merged = RunStats()
    for index in sorted(finals):
        merged.merge_state(finals[index])
    return LoadOutcome(merged, interrupted.is_set(), len(procs), series.finish(), method)


def _start_workers(procs: list[Any]) -> None:
    """Start the processes with SIGINT and SIGTERM blocked, so they inherit them blocked.

    A Ctrl-C reaches the whole process group; a worker not yet in
    ``_child_main`` (which ignores the stop signals) would die with a
    KeyboardInterrupt traceback. Blocked, the signal waits in the parent until
    the workers are started, then runs its handler there (multiprocessing's
    resource tracker does the same).
    """
    with stop_signals_blocked():
        for p in procs:
            p.start()


def _last_words(out: Any) -> tuple[str, int, Any] | None:
    """A message a worker that has exited may still have in the pipe, or None."""
    try:
        msg: tuple[str, int, Any] = out.get(timeout=1.0)
    except queue_mod.Empty:
        return None
    return msg


def _get(out: Any, procs: list[Any]) -> tuple[str, int, Any] | None:
    try:
        msg: tuple[str, int, Any] = out.get(timeout=0.1)
    except queue_mod.Empty:
        return None
    return msg
