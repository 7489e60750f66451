"""The load engine against a local server: counts, classes, pacing, workers."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from lstream_cli.engine.workers import LoadConfig, LoadOutcome, run_load
from lstream_cli.measure import BodyMeter
from lstream_cli.models import ErrorClass
from lstream_cli.request import RequestSpec
from tests.engine.httpserver import TestServer


def _run(url: str, **kw: Any) -> LoadOutcome:
    spec_kw = {k: kw.pop(k) for k in ("timeout", "method", "body", "headers") if k in kw}
    base: dict[str, Any] = {
        "spec": RequestSpec(url=url, auth="none", **spec_kw),
        "concurrency": 4,
        "requests": 20,
        "duration_s": None,
        "rate": None,
        "workers": 1,
    }
    base.update(kw)
    return run_load(LoadConfig(**base))


def test_exact_request_count(server: TestServer) -> None:
    out = _run(server.url("/ok?size=100"), requests=37, concurrency=5)
    s = out.stats
    assert server.requests == 37
    assert (s.requests, s.ok, s.errors, s.status) == (37, 37, {}, {200: 37})
    assert s.bytes == 3700
    assert s.ttfb.count == s.total.count == s.headers.count == 37


def test_exact_request_count_across_worker_processes(server: TestServer) -> None:
    out = _run(server.url("/ok"), requests=101, concurrency=6, workers=2, keep_rows=True)
    assert out.workers == 2
    assert server.requests == 101
    assert out.stats.requests == out.stats.ok == 101
    assert out.stats.rows is not None and len(out.stats.rows) == 101
    assert len(out.stats.cpu_s) == 2


@pytest.mark.parametrize(
    ("path", "error"),
    [
        ("/status?code=429", "throttled"),
        ("/status?code=400&hint=TooManyRequestsException", "throttled"),
        ("/status?code=400&type=TooManyRequestsException", "throttled"),
        ("/status?code=400&type=InvalidParameterValueException", "http_4xx"),
        ("/status?code=503", "http_5xx"),
        ("/status?code=404", "http_4xx"),
        ("/cut?size=1000&send=100", "truncated"),
    ],
)
def test_failures_are_counted_by_class(server: TestServer, path: str, error: str) -> None:
    s = _run(server.url(path), requests=12, concurrency=3).stats
    assert s.requests == 12
    assert s.ok == 0
    assert s.errors == {error: 12}


def test_server_closing_keep_alive_connections_is_not_an_error(server: TestServer) -> None:
    s = _run(server.url("/close"), requests=30, concurrency=3).stats
    assert (s.requests, s.ok, s.errors) == (30, 30, {})
    assert server.requests == 30


def test_cut_mid_body_counts_bytes_but_never_ok(server: TestServer) -> None:
    s = _run(server.url("/cut?size=1000&send=400"), requests=5, concurrency=1).stats
    assert s.ok == 0 and s.errors == {"truncated": 5}
    assert s.bytes == 2000
    assert s.total.count == 0  # truncated streams have no total time


def test_never_answering_server_times_out(server: TestServer) -> None:
    began = time.monotonic()
    s = _run(server.url("/hang"), requests=4, concurrency=2, timeout=0.3).stats
    assert s.errors == {"timeout": 4} and s.requests == 4
    assert time.monotonic() - began < 30  # it did not hang


def test_refused_connection_ends_promptly_with_connect_errors() -> None:
    began = time.monotonic()
    s = _run("http://127.0.0.1:9/", requests=50, concurrency=5).stats
    assert s.requests == 50 and s.errors == {"connect": 50}
    assert time.monotonic() - began < 30


def test_duration_stops_the_run(server: TestServer) -> None:
    began = time.monotonic()
    out = _run(server.url("/ok"), requests=None, duration_s=0.5, concurrency=2)
    assert time.monotonic() - began < 20  # generous: "it stopped"
    assert out.stats.requests > 0
    assert out.stats.requests == out.stats.ok
    assert 0.4 < out.stats.duration_s < 20


def test_warmup_requests_are_sent_but_not_counted(server: TestServer) -> None:
    s = _run(server.url("/ok"), requests=20, warmup_requests=10).stats
    assert server.requests == 30
    assert s.requests == 20


@pytest.mark.parametrize("workers", [1, 2])
def test_open_loop_rate_is_accurate_in_requests(server: TestServer, workers: int) -> None:
    """200/s for 2 s: exactly 400 requests were due, each finished, cut off or never started.

    An exact account rather than a band around 400, so a slow shared machine
    cannot fail it, and one request too many or too few can. Each answer
    takes 50 ms, so the last ones are still in flight at the deadline.
    """
    s = _run(
        server.url("/delay?ms=50"), requests=None, duration_s=2.0, rate=200.0, concurrency=20,
        workers=workers,
    ).stats  # fmt: skip
    assert s.requests + s.aborted + s.not_started == 400
    assert s.requests > 0 and s.requests == s.ok


def test_open_loop_counts_requests_that_could_not_start(server: TestServer) -> None:
    # Two connections, 300 ms per answer: at most ~7 requests/s can start, 50 are due.
    s = _run(
        server.url("/delay?ms=300"), requests=None, duration_s=1.0, rate=50.0, concurrency=2
    ).stats
    assert s.late + s.not_started >= 20
    # Latency counts from the due time, so queueing shows in the TTFB.
    assert s.requests > 0


def test_streaming_body_metrics(server: TestServer) -> None:
    s = _run(
        server.url("/chunked?size=300000&chunk=10000&gap_ms=2"), requests=3, concurrency=1
    ).stats
    assert s.ok == 3 and s.bytes == 900_000
    assert s.gap_max.count == 3 and s.stream_bps.count == 3
    assert s.gap_max.summary().min is not None and s.gap_max.summary().min >= 1.0


def test_headers_sent_early_do_not_fool_ttfb(
    server: TestServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Headers are stamped before the body left the server, TTFB after it.

    The server (in this process) notes when it sent each body with the same
    perf_counter the records use: no bound on how fast anything runs.
    """
    from lstream_cli.engine.results import RunStats
    from lstream_cli.models import RequestRecord

    real_add = RunStats.add
    records: list[RequestRecord] = []

    def add(self: RunStats, rec: RequestRecord) -> None:
        records.append(rec)
        real_add(self, rec)

    monkeypatch.setattr(RunStats, "add", add)
    s = _run(server.url("/headers-early?ms=150"), requests=2, concurrency=1).stats
    assert s.ok == 2 and len(records) == len(server.body_sent) == 2
    for rec, body_sent in zip(records, server.body_sent, strict=True):
        assert rec.headers_ns is not None and rec.first_byte_ns is not None
        assert rec.t_start_ns + rec.headers_ns < body_sent <= rec.t_start_ns + rec.first_byte_ns
    assert s.ttfb.summary().min is not None and s.ttfb.summary().min >= 150.0


def test_request_body_and_headers_are_sent(server: TestServer) -> None:
    s = _run(
        server.url("/ok"),
        requests=2,
        concurrency=1,
        method="POST",
        body=b"payload",
        headers=(("X-Test", "1"),),
    ).stats
    assert s.ok == 2
    head = server.heads[0].decode()
    assert head.startswith("POST /ok HTTP/1.1\r\n")
    assert "X-Test: 1\r\n" in head and "Content-Length: 7\r\n" in head
    assert "User-Agent: lstream/" in head
    assert f"Host: 127.0.0.1:{server.port}\r\n" in head


def test_bench_n1_agrees_with_a_body_meter_reference(server: TestServer) -> None:
    url = server.url("/chunked?size=200000&chunk=20000&gap_ms=1")
    out = _run(url, requests=1, concurrency=1, keep_rows=True)
    names = [
        "t",
        "status",
        "connect",
        "tls",
        "headers",
        "ttfb",
        "total",
        "bytes",
        "reads",
        "gap",
        "err",
    ]
    row = dict(
        zip(
            names,
            out.stats.rows[0],  # type: ignore[index]
            strict=True,
        )
    )
    # Reference: the same server read through httpx and a BodyMeter, as `get` does.
    with httpx.Client() as client:
        t0 = time.perf_counter_ns()
        meter = BodyMeter(t0)
        with client.stream("GET", url) as resp:
            meter.headers(time.perf_counter_ns(), resp.status_code)
            for chunk in resp.iter_raw():
                meter.data(time.perf_counter_ns(), len(chunk))
        ref = meter.finish(time.perf_counter_ns(), True)
    assert row["status"] == ref.status == 200
    assert row["bytes"] == ref.bytes == 200_000
    assert row["reads"] > 0 and ref.reads > 0
    assert row["err"] is None and ref.error is None
    assert row["headers"] <= row["ttfb"] <= row["total"]
    assert row["connect"] is not None
    assert row["tls"] is None  # plain HTTP: no handshake


def test_streams_with_a_bandwidth_knee_are_counted(server: TestServer) -> None:
    knee = _run(server.url("/knee?burst=1000000&slow=20"), requests=2, concurrency=2).stats
    assert knee.ok == 2 and knee.bytes == 2 * 1_200_000
    assert knee.knees == 2
    steady = _run(
        server.url("/chunked?size=200000&chunk=10000&gap_ms=20"), requests=2, concurrency=2
    ).stats
    assert steady.ok == 2 and steady.knees == 0


def test_closed_loop_signs_before_the_request_starts(
    server: TestServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As the README's measurement definition says, building and signing come before t_start (a slow credential
    refresh is the client's time, not the server's TTFB).

    Checked by order, not by speed: no signing may fall inside a request's
    measured window [t_start, end].
    """
    from lstream_cli.engine.protocol import RequestTemplate
    from lstream_cli.engine.results import RunStats
    from lstream_cli.models import RequestRecord

    real_bytes, real_add = RequestTemplate.bytes, RunStats.add
    signing: list[tuple[int, int]] = []
    records: list[RequestRecord] = []

    def slow_bytes(self: RequestTemplate) -> bytes:
        began = time.perf_counter_ns()
        time.sleep(0.05)  # e.g. botocore refreshing SSO credentials
        request = real_bytes(self)
        signing.append((began, time.perf_counter_ns()))
        return request

    def add(self: RunStats, rec: RequestRecord) -> None:
        records.append(rec)
        real_add(self, rec)

    monkeypatch.setattr(RequestTemplate, "bytes", slow_bytes)
    monkeypatch.setattr(RunStats, "add", add)
    s = _run(server.url("/ok"), requests=3, concurrency=1).stats
    assert (s.requests, s.ok) == (3, 3) and len(records) == 3 and len(signing) >= 3
    for rec in records:
        assert rec.end_ns is not None
        start, end = rec.t_start_ns, rec.t_start_ns + rec.end_ns
        inside = [(b, e) for b, e in signing if e > start and b < end]
        assert inside == [], "signed inside the measured window"


def test_open_loop_runs_for_the_whole_duration(server: TestServer) -> None:
    """-r 2 -z 1.2s: arrivals at 0, 0.5 and 1.0 s; the run (and the rate's
    denominator) is the 1.2 s asked for, not the 1.0 s until the last arrival."""
    s = _run(server.url("/ok"), requests=None, duration_s=1.2, rate=2.0, concurrency=2).stats
    assert (s.requests, s.ok) == (3, 3)
    assert s.duration_s >= 1.2


@pytest.mark.parametrize(
    ("raw", "error", "detail"),
    [
        ("SSH-2.0-OpenSSH_9.6\r\n\r\n", "connect", "connect: malformed HTTP response"),
        ("HTTP/1.1 200 OK\r\nContent-Le", "connect", "connect: connection closed before"),
        (
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nZZ\r\n",
            "truncated",
            "truncated: invalid HTTP response",
        ),
    ],
)
def test_a_broken_answer_is_classed_as_get_classes_it(
    server: TestServer, raw: str, error: str, detail: str
) -> None:
    """No status line and headers = no response (connect, as in `get`); a body
    broken after them = truncated."""
    from urllib.parse import quote

    s = _run(server.url("/raw?text=" + quote(raw)), requests=3, concurrency=1).stats
    assert (s.requests, s.ok, s.errors) == (3, 0, {error: 3})
    assert s.status == ({} if error == "connect" else {200: 3})
    assert any(key.startswith(detail) for key in s.details), s.details


@pytest.mark.parametrize("interim", ["100 Continue", "103 Early Hints\r\nLink: </a.css>"])
def test_interim_1xx_answers_are_skipped_for_the_final_one(
    server: TestServer, interim: str
) -> None:
    """A 1xx is not the response: counting it would pair every later answer
    on the connection with the wrong request."""
    from urllib.parse import quote

    raw = f"HTTP/1.1 {interim}\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
    s = _run(server.url("/raw?text=" + quote(raw)), requests=3, concurrency=1).stats
    assert (s.requests, s.ok, s.errors, s.status) == (3, 3, {}, {200: 3})
    assert s.bytes == 6


def test_open_loop_sends_at_or_after_the_due_time_and_no_duration_is_negative(
    server: TestServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """-r: each request is written no earlier than its due time (its t_start),
    and every offset and duration of every record is >= 0."""
    from lstream_cli.engine.protocol import Connection
    from lstream_cli.engine.results import RunStats
    from lstream_cli.models import RequestRecord

    real_request, real_add = Connection.request, RunStats.add
    sent: list[tuple[int, int]] = []
    records: list[RequestRecord] = []

    def request(self: Connection, data: bytes, meter: BodyMeter, *a: Any) -> Any:
        sent.append((meter.t_start_ns, time.perf_counter_ns()))
        return real_request(self, data, meter, *a)

    def add(self: RunStats, rec: RequestRecord) -> None:
        records.append(rec)
        real_add(self, rec)

    monkeypatch.setattr(Connection, "request", request)
    monkeypatch.setattr(RunStats, "add", add)
    s = _run(server.url("/ok"), requests=120, rate=300.0, concurrency=4).stats
    assert s.requests == s.ok == 120 and len(records) == 120
    assert sent and all(at >= due for due, at in sent)
    for rec in records:
        offsets = (rec.headers_ns, rec.first_byte_ns, rec.end_ns)
        durations = (rec.dns_ns, rec.connect_ns, rec.tls_ns, rec.gap_max_ns, rec.gap_p99_ns)
        assert all(v is None or v >= 0 for v in (*offsets, *durations)), rec
        assert rec.headers_ns is not None and rec.end_ns is not None
        assert 0 <= rec.headers_ns <= (rec.first_byte_ns or rec.headers_ns) <= rec.end_ns


_FORK_PROBE = """
import json, sys, threading
import lstream_cli.engine.workers as w
from lstream_cli.request import RequestSpec
spec = RequestSpec(url=sys.argv[1], auth="none")
threads = threading.active_count()
out = w.run_load(w.LoadConfig(spec, 4, 40, None, None, workers=2))
print(json.dumps({"threads": threads, "method": out.start_method, "workers": out.workers,
                  "ok": out.stats.ok, "spawned": w.start_method.__module__}))
"""


def test_workers_are_forked_from_a_parent_without_threads(server: TestServer) -> None:
    import json
    import subprocess
    import sys

    proc = subprocess.run(
        [sys.executable, "-c", _FORK_PROBE, server.url("/ok")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert (doc["threads"], doc["method"], doc["workers"], doc["ok"]) == (1, "fork", 2, 40)
    assert server.requests == 40


def test_a_parent_with_threads_uses_a_forkserver(server: TestServer) -> None:
    import threading

    from lstream_cli.engine.workers import start_method

    assert threading.active_count() > 1  # the test server's thread
    assert start_method() == "forkserver"
    out = _run(server.url("/ok"), requests=30, concurrency=4, workers=2)
    assert (out.start_method, out.workers, out.stats.ok) == ("forkserver", 2, 30)


def test_one_worker_runs_in_this_process(server: TestServer) -> None:
    out = _run(server.url("/ok"), requests=5, concurrency=2, workers=1)
    assert (out.start_method, out.workers, out.stats.ok) == (None, 1, 5)


@pytest.mark.parametrize(
    ("requests", "warmup", "auto", "workers"),
    [
        (2, None, True, 1),
        (100, None, True, 1),
        (90, 20, True, 2),
        (101, None, True, 2),
        (2, None, False, 2),
    ],
)
def test_a_short_run_with_default_workers_stays_in_one_process(
    requests: int, warmup: int | None, auto: bool, workers: int
) -> None:
    from lstream_cli.engine.workers import plan_workers

    spec = RequestSpec(url="http://127.0.0.1:9/", auth="none")
    config = LoadConfig(
        spec, 4, requests, None, None, workers=2, auto_workers=auto, warmup_requests=warmup
    )
    plans = plan_workers(config)
    assert len(plans) == workers
    assert sum(p.requests or 0 for p in plans) == requests


def test_an_open_loop_run_that_cannot_keep_up_says_it_is_saturated(server: TestServer) -> None:
    """Two connections to a 300 ms server cannot carry 50 requests/s: the run says so."""
    from lstream_cli.engine.results import build_report

    s = _run(
        server.url("/delay?ms=300"), requests=None, duration_s=1.0, rate=50.0, concurrency=2
    ).stats
    client = build_report(s, "http://x/").client
    assert client.saturated is True
    assert client.reason is not None  # a loaded machine may add the loop's lag as a cause
    assert any(cause.startswith("open loop: ") for cause in client.reason.split("; "))
    assert f"{s.late:,} late, {s.not_started:,} never" in client.reason
    assert client.to_json()["saturated"] is True
    assert any("did not deliver the rate asked for" in w for w in client.warnings)


def test_ttfb_is_reported_apart_for_new_and_reused_connections(server: TestServer) -> None:
    s = _run(server.url("/ok"), requests=20, concurrency=4)
    hists = s.stats.histograms()
    assert hists["ttfb_new_conn_ms"].count == 4  # one fresh connection per slot
    assert hists["ttfb_reused_conn_ms"].count == 16
    assert hists["ttfb_ms"].count == 20
    assert hists["connect_ms"].count == 4


def test_every_request_on_a_closing_server_opens_its_connection(server: TestServer) -> None:
    s = _run(server.url("/close"), requests=9, concurrency=3).stats
    hists = s.histograms()
    assert s.ok == 9
    assert (hists["ttfb_new_conn_ms"].count, hists["ttfb_reused_conn_ms"].count) == (9, 0)


def test_a_threshold_on_reused_connections_leaves_the_connect_storm_out(
    server: TestServer,
) -> None:
    from lstream_cli.engine.results import build_report
    from lstream_cli.engine.thresholds import evaluate, parse_threshold

    stats = _run(server.url("/ok"), requests=12, concurrency=3).stats
    report = build_report(stats, "http://x/")
    exprs = ["ttfb_reused_conn_ms.p99<100000", "ttfb_new_conn_ms.max<0"]
    results = evaluate([parse_threshold(e) for e in exprs], report)
    assert [r.ok for r in results] == [True, False]
    assert results[0].value == report.summaries["ttfb_reused_conn_ms"].p99
    assert report.summaries["ttfb_new_conn_ms"].count == 3


def test_a_running_event_loop_means_a_forkserver() -> None:
    import subprocess
    import sys

    code = (
        "import asyncio\n"
        "from lstream_cli.engine.workers import start_method\n"
        "async def probe():\n"
        "    return start_method()\n"
        "print(start_method(), asyncio.run(probe()))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["fork", "forkserver"]


_ORPHANS = """
import multiprocessing as mp, os, sys, time
from lstream_cli.engine.workers import _ProcessControl

log = sys.argv[1]

def note(text):
    with open(log, "a") as fh:
        fh.write(text + "\\n")

def watcher(ppid):
    control = _ProcessControl(None, None, ppid)
    note(f"forked {control.forked}")
    while not control.orphaned():
        time.sleep(0.01)
    note("first worker saw its run end")

def holder():
    time.sleep(4)  # a later worker busy with a long stream
    note("second worker done")

if __name__ == "__main__":
    ctx = mp.get_context("fork")
    ctx.Process(target=watcher, args=(os.getpid(),)).start()
    time.sleep(0.3)
    ctx.Process(target=holder).start()
    time.sleep(0.3)
    os._exit(0)  # the run dies without a word
"""


def test_a_forked_worker_sees_its_run_end_while_a_later_worker_still_runs(
    tmp_path: Path,
) -> None:
    """A later worker holds earlier workers' sentinel pipes open; getppid() does not wait."""
    import subprocess
    import sys
    import time

    script, log = tmp_path / "orphans.py", tmp_path / "log.txt"
    script.write_text(_ORPHANS)
    subprocess.run([sys.executable, str(script), str(log)], check=True, timeout=30)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        lines = log.read_text().splitlines() if log.exists() else []
        if len(lines) == 3:
            break
        time.sleep(0.05)
    assert lines == ["forked True", "first worker saw its run end", "second worker done"]


class _NullControl:
    """A worker's control that never stops the run and drops what it is sent."""

    def should_stop(self) -> bool:
        return False

    def snapshot(self, index: int, snap: dict[str, Any]) -> None:
        pass

    def series(self, index: int, seconds: list[dict[str, Any]]) -> None:
        pass

    def rows(self, index: int, rows: list[tuple[Any, ...]]) -> None:
        pass


def test_a_worker_collects_garbage_less_often_and_restores_the_collector(
    server: TestServer,
) -> None:
    """During the run: the prior objects frozen, young passes rarer; after it: as before."""
    import gc

    from lstream_cli.engine.load import GC_YOUNG_THRESHOLD, WorkerPlan, run_worker_sync

    seen: list[tuple[int, int]] = []

    class Control(_NullControl):
        def should_stop(self) -> bool:
            seen.append((gc.get_threshold()[0], gc.get_freeze_count()))
            return False

    before = (gc.get_threshold(), gc.get_freeze_count())
    spec = RequestSpec(url=server.url("/ok"), auth="none")
    plan = WorkerPlan(0, spec, 2, None, 0.3, None)
    state = run_worker_sync(plan, Control(), time.perf_counter_ns())
    assert state["ok"] == state["requests"] > 0
    assert seen, "the run polled its control"
    assert all(young == GC_YOUNG_THRESHOLD and frozen > 0 for young, frozen in seen)
    assert (gc.get_threshold(), gc.get_freeze_count()) == before


def test_a_callers_own_gc_freeze_is_left_as_it_was(server: TestServer) -> None:
    """An embedding program that froze its objects finds the same freeze after a run."""
    import gc

    from lstream_cli.engine.load import WorkerPlan, run_worker_sync

    gc.freeze()
    try:
        kept = [[i] for i in range(10_000)]  # made after the freeze: not frozen
        frozen = gc.get_freeze_count()
        spec = RequestSpec(url=server.url("/ok"), auth="none")
        state = run_worker_sync(
            WorkerPlan(0, spec, 2, None, 0.2, None), _NullControl(), time.perf_counter_ns()
        )
        assert state["ok"] == state["requests"] > 0
        # Still frozen, and nothing of the run's or of ``kept`` added to it (a
        # frozen object freed during the run may leave it: the count never grows).
        assert frozen - 1_000 < gc.get_freeze_count() <= frozen and len(kept) == 10_000
    finally:
        gc.unfreeze()


def test_a_closed_loop_keeps_one_connection_per_slot_and_sends_each_request_once(
    server: TestServer,
) -> None:
    """After its first request a slot's requests go out from the callback that ended the last."""
    out = _run(server.url("/ok?size=7"), requests=40, concurrency=2)
    s = out.stats
    hists = s.histograms()
    assert (s.requests, s.ok, s.bytes, s.status) == (40, 40, 280, {200: 40})
    assert (hists["ttfb_new_conn_ms"].count, hists["ttfb_reused_conn_ms"].count) == (2, 38)
    assert hists["ttfb_ms"].count == hists["total_ms"].count == 40
    assert server.requests == 40
    points = out.series
    assert sum(p.started for p in points) == sum(p.requests for p in points) == 40


def test_a_kept_alive_request_that_times_out_drops_its_connection_and_the_loop_goes_on(
    server: TestServer,
) -> None:
    """Every 2nd request hangs on a reused connection: TIMEOUT, then a new connection."""
    s = _run(server.url("/hang-every?every=2"), requests=6, concurrency=1, timeout=0.3).stats
    hists = s.histograms()
    assert (s.requests, s.ok, s.errors) == (6, 3, {ErrorClass.TIMEOUT: 3})
    assert (hists["ttfb_new_conn_ms"].count, hists["ttfb_reused_conn_ms"].count) == (3, 0)
    assert s.details == {
        "timeout: timed out: no byte for 0.3s waiting for the response (--timeout)": 3
    }
    assert server.requests == 6
