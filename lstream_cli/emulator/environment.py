"""Execution environments: one process per environment, one invocation at a time.

:class:`EnvironmentPool` is the invoker of a function run by a real runtime
(Node.js through ``aws-lambda-ric``, or any custom ``bootstrap``). As Lambda
does:

- an invocation takes an idle environment (warm) or starts a new one (cold:
  the process starts and initialises; the time until its first ``/next`` is
  the Init Duration); beyond the reserved concurrency (``--concurrency N``;
  10 unless set) it is refused at once (:class:`~lstream_cli.emulator.function.Throttled`);
- each environment has its own Runtime API port
  (:mod:`lstream_cli.emulator.runtime_api`) and runs in its own process
  group; an environment that crashed, exited or timed out is killed and
  replaced by the next cold start;
- the function timeout (3 s unless set) counts from the dispatch; past it
  the log says ``Task timed out after 3.00 seconds`` and the caller gets
  ``Sandbox.Timedout`` (a cut stream once bytes were sent);
- a caller that leaves does not stop the function: its response is read to
  the end and dropped, and the environment is reused after;
- no process survives the emulator: :meth:`EnvironmentPool.close` kills
  every process group; each runtime gets ``PR_SET_PDEATHSIG`` (SIGKILL when
  the emulator's process dies, even by ``kill -9``), and a watchdog process
  kills what is left of the groups (a bootstrap's own children) then.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import math
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lstream_cli.emulator.function import (
    FunctionConfig,
    FunctionError,
    InvokeRequest,
    Throttled,
    error_document,
    http_response_document,
)
from lstream_cli.emulator.handlers import Sink
from lstream_cli.emulator.logs import (
    FunctionLogRecord,
    FunctionLogSink,
    FunctionOutput,
    InvocationEnd,
    InvocationReport,
    InvocationStart,
    PlatformNote,
)
from lstream_cli.emulator.runtime_api import (
    Invocation,
    RuntimeApiServer,
    _RuntimeConnection,
    next_headers,
    prelude_document,
)

__all__ = [
    "DEFAULT_ENVIRONMENTS",
    "INIT_TIMEOUT_S",
    "PRELUDE_CONTENT_TYPE",
    "EnvironmentPool",
    "ExecutionEnvironment",
    "function_environment",
]

DEFAULT_ENVIRONMENTS = 10  # at most this many at once unless --concurrency says otherwise
INIT_TIMEOUT_S = 10.0  # Lambda's limit on the init phase
PRELUDE_CONTENT_TYPE = "application/vnd.awslambda.http-integration-response"
_DELIMITER = b"\x00" * 8
_PRELUDE_LIMIT = 1024 * 1024  # a prelude without its delimiter this far in is a body

_PR_SET_PDEATHSIG = 1
try:
    _LIBC: Any = ctypes.CDLL(None, use_errno=True) if sys.platform == "linux" else None
except OSError:  # pragma: no cover - a libc-less platform
    _LIBC = None


def _die_with_parent(parent: int) -> Callable[[], None]:
    """A preexec hook: SIGKILL this child when the emulator's process dies."""

    def hook() -> None:
        if _LIBC is not None:
            _LIBC.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != parent:  # the parent died before the prctl
            os._exit(1)

    return hook


# The watchdog: a small process of its own (its own session, so a terminal's
# Ctrl-C does not reach it) that reads "+ PGID" / "- PGID" lines from the
# emulator and, when its input ends because the emulator died, kills every
# process group still listed: a bootstrap's own children die too.
_WATCHDOG = """
import os, signal, sys
groups = set()
for line in sys.stdin:
    op, _, pgid = line.strip().partition(" ")
    if pgid.isdigit():
        (groups.add if op == "+" else groups.discard)(int(pgid))
for pgid in groups:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except OSError:
        pass
"""


class _Watchdog:
    """Kills the environments' process groups if the emulator's process dies."""

    def __init__(self) -> None:
        self._proc: subprocess.Popen[bytes] | None = None

    def _send(self, line: str) -> None:
        proc = self._proc
        if proc is None or proc.poll() is not None:
            proc = self._proc = subprocess.Popen(
                [sys.executable, "-S", "-c", _WATCHDOG],
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
                close_fds=True,
            )
        assert proc.stdin is not None
        with contextlib.suppress(OSError):
            proc.stdin.write(line.encode("ascii"))
            proc.stdin.flush()

    def watch(self, pgid: int) -> None:
        self._send(f"+ {pgid}\n")

    def forget(self, pgid: int) -> None:
        if self._proc is not None:
            self._send(f"- {pgid}\n")

    def close(self) -> None:
        proc = self._proc
        self._proc = None
        if proc is not None and proc.stdin is not None:
            with contextlib.suppress(OSError):
                proc.stdin.close()
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(2.0)


def function_environment(function: FunctionConfig, runtime_api: str) -> dict[str, str]:
    """The process environment of one execution environment, as Lambda sets it."""
    name = function.name
    day = time.strftime("%Y/%m/%d", time.gmtime())
    env = {
        "PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"),
        "LANG": "en_US.UTF-8",
        "TZ": ":UTC",
        "AWS_LAMBDA_RUNTIME_API": runtime_api,
        "_HANDLER": function.handler,
        "LAMBDA_TASK_ROOT": str(Path(function.code_dir or ".").resolve()),
        "AWS_LAMBDA_FUNCTION_NAME": name,
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(function.memory_mb),
        "AWS_REGION": function.region,
        "AWS_DEFAULT_REGION": function.region,
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{name}",
        "AWS_LAMBDA_LOG_STREAM_NAME": f"{day}/[$LATEST]{secrets.token_hex(16)}",
        "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
        "AWS_EXECUTION_ENV": "AWS_Lambda_nodejs20.x"
        if function.kind == "node"
        else "AWS_Lambda_provided.al2023",
    }
    if function.kind == "node" and function.runtime_client:
        env["LAMBDA_RUNTIME_DIR"] = str(Path(function.runtime_client).resolve().parent.parent)
    if function.credentials is not None:
        key, secret, token = function.credentials
        env["AWS_ACCESS_KEY_ID"] = key
        env["AWS_SECRET_ACCESS_KEY"] = secret
        if token:
            env["AWS_SESSION_TOKEN"] = token
    env.update(dict(function.environment))
    return env


def _argv(function: FunctionConfig) -> list[str]:
    if function.kind == "node":
        assert function.runtime_client is not None
        return [function.node or "node", function.runtime_client, function.handler]
    assert function.bootstrap is not None
    return [str(Path(function.bootstrap).resolve())]


def _peak_rss_mb(pid: int) -> int | None:
    """The process's peak resident set size (VmHWM), in MB rounded up."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return max(1, math.ceil(int(line.split()[1]) / 1024))
    except (OSError, ValueError, IndexError):
        return None
    return None


class ExecutionEnvironment:
    """One process and its Runtime API port."""

    def __init__(self, pool: EnvironmentPool, index: int) -> None:
        self.pool = pool
        self.index = index
        self.server = RuntimeApiServer(self)
        self.process: asyncio.subprocess.Process | None = None
        self.ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.exited: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self.init_ms: float | None = None
        self.init_reported = False
        self.current: Invocation | None = None
        self._next_conn: _RuntimeConnection | None = None
        self.asked_next = asyncio.Event()  # the runtime asked for more since the dispatch
        self._t_spawn = 0.0
        self._tasks: set[asyncio.Task[Any]] = set()
        self.dead = False

    # -- what the Runtime API server asks -------------------------------------
    def invocation(self, request_id: str) -> Invocation | None:
        inv = self.current
        return inv if inv is not None and inv.request_id == request_id else None

    def next_requested(self, conn: _RuntimeConnection) -> None:
        if not self.ready.done():
            self.init_ms = (time.perf_counter() - self._t_spawn) * 1000.0
            self.ready.set_result(None)
        self.asked_next.set()
        inv = self.current
        if inv is not None and inv.state == "pending":
            conn.send_next(inv)
            inv.wake()
        else:
            self._next_conn = conn

    def init_error(self, error_type: str, body: bytes) -> None:
        if not self.ready.done():
            self.init_ms = (time.perf_counter() - self._t_spawn) * 1000.0
            self.ready.set_exception(FunctionError(error_type, body or b"{}"))

    # -- lifecycle -----------------------------------------------------------------
    async def start(self) -> None:
        fn = self.pool.function
        port = await self.server.listen()
        self._t_spawn = time.perf_counter()
        try:
            self.process = await asyncio.create_subprocess_exec(
                *_argv(fn),
                cwd=str(Path(fn.code_dir or ".").resolve()),
                env=function_environment(fn, f"127.0.0.1:{port}"),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                start_new_session=True,  # its own process group: killed as one
                preexec_fn=_die_with_parent(os.getpid()),
            )
        except OSError as exc:
            await self.server.close()
            self.dead = True
            message = f"cannot start the runtime: {exc.strerror or exc}"
            self.pool.emit(PlatformNote(fn.name, None, f"INIT_REPORT Error: {message}"))
            raise FunctionError(
                "Runtime.InvalidEntrypoint", error_document("Runtime.InvalidEntrypoint", message)
            ) from None
        self.pool.watchdog.watch(self.process.pid)  # its group: the leader's pid
        assert self.process.stdout is not None and self.process.stderr is not None
        self._spawn(self._read_lines(self.process.stdout, "stdout"))
        self._spawn(self._read_lines(self.process.stderr, "stderr"))
        self._spawn(self._watch())

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _read_lines(self, reader: asyncio.StreamReader, stream: str) -> None:
        name = self.pool.function.name
        pending = b""
        while True:
            try:
                data = await reader.read(65536)
            except Exception:
                data = b""
            if not data:
                if pending:
                    self.pool.emit(FunctionOutput(name, self._request_id(), stream, _text(pending)))
                return
            pending += data
            *lines, pending = pending.split(b"\n")
            for line in lines:
                self.pool.emit(FunctionOutput(name, self._request_id(), stream, _text(line)))
            if len(pending) > 256 * 1024:  # a line without end: shown in pieces
                self.pool.emit(FunctionOutput(name, self._request_id(), stream, _text(pending)))
                pending = b""

    def _request_id(self) -> str | None:
        inv = self.current
        return inv.request_id if inv is not None else None

    async def _watch(self) -> None:
        assert self.process is not None
        code = await self.process.wait()
        self.dead = True
        if not self.exited.done():
            self.exited.set_result(code)
        if not self.ready.done():
            self.init_ms = (time.perf_counter() - self._t_spawn) * 1000.0
            self.ready.set_exception(
                FunctionError("Runtime.ExitError", error_document("Runtime.ExitError", _exit(code)))
            )
        inv = self.current
        if inv is not None:
            inv.wake()
        self.asked_next.set()
        self.pool.environment_exited(self)

    def peak_memory_mb(self) -> int | None:
        return _peak_rss_mb(self.process.pid) if self.process is not None else None

    def dispatch(self, inv: Invocation) -> None:
        self.current = inv
        self.asked_next.clear()
        conn = self._next_conn
        self._next_conn = None
        if conn is not None:
            conn.send_next(inv)  # a connection gone meanwhile leaves it pending

    async def kill(self) -> None:
        """Kill the process group and wait for it; close the Runtime API port."""
        self.dead = True
        proc = self.process
        if proc is not None and proc.returncode is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(proc.wait(), 5.0)
        elif proc is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)  # what it left in its group
        if proc is not None:
            self.pool.watchdog.forget(proc.pid)
        await self.server.close()
        tasks = [t for t in self._tasks if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def _retrieved(future: asyncio.Future[None]) -> None:
    """Mark a future's exception as seen (its caller may be gone)."""
    if not future.cancelled():
        future.exception()


def _text(line: bytes) -> str:
    return line.rstrip(b"\r").decode("utf-8", "replace")


def _exit(code: int) -> str:
    if code < 0:
        return f"Runtime exited with error: signal: {signal.Signals(-code).name.lower()}"
    if code == 0:
        return "Runtime exited without providing a reason"
    return f"Runtime exited with error: exit status {code}"


class _Delivery:
    """Turns the runtime's response into what the front end's sink takes."""

    def __init__(self, sink: Sink, raw: bool) -> None:
        self.sink = sink
        self.raw = raw
        self.opened = False
        self.gone: BaseException | None = None  # ClientGone / LimitExceeded: drop the rest
        self._prelude: bytearray | None = None
        self.bytes = 0

    async def _open(self, status: int, headers: dict[str, str], cookies: list[str]) -> None:
        if not self.opened:
            self.opened = True
            await self.sink.open(status, headers, cookies)

    async def _deliver(
        self, meta: tuple[int, dict[str, str], list[str]], data: bytes | memoryview
    ) -> None:
        """The metadata (once), then ``data``; a sink's refusal stops all delivery after."""
        try:
            await self._open(*meta)
            if data:
                self.bytes += len(data)
                await self.sink.send(data)
        except BaseException as exc:
            self.gone = exc
            raise

    async def stream(self, data: bytes | memoryview, content_type: str) -> None:
        if self.gone is not None:
            return
        meta: tuple[int, dict[str, str], list[str]] = (200, {"content-type": content_type}, [])
        if not self.raw and content_type == PRELUDE_CONTENT_TYPE and not self.opened:
            buf = self._prelude = (self._prelude or bytearray()) + data
            at = buf.find(_DELIMITER)
            if at < 0 and len(buf) <= _PRELUDE_LIMIT:
                return  # the prelude's end is still to come
            if at < 0:  # no delimiter this far in: it was a body after all
                data = bytes(buf)
            else:
                meta = prelude_document(bytes(buf[:at]))
                data = bytes(buf[at + len(_DELIMITER) :])
            self._prelude = None
        await self._deliver(meta, data)

    async def end_stream(self, content_type: str) -> None:
        if self.gone is not None:
            return
        if self._prelude is not None:  # the stream ended inside its prelude
            meta = prelude_document(bytes(self._prelude).rstrip(b"\x00"))
            self._prelude = None
            await self._deliver(meta, b"")
        await self._deliver((200, {"content-type": content_type}, []), b"")

    async def buffered(self, body: bytes, content_type: str) -> None:
        if self.gone is not None:
            return
        if self.raw:
            await self._deliver((200, {"content-type": content_type}, []), body)
        else:
            status, headers, cookies, data = http_response_document(body)
            await self._deliver((status, headers, cookies), data)


class EnvironmentPool:
    """The invoker of a function whose runtime is a process (node, bootstrap)."""

    def __init__(self, function: FunctionConfig, log: FunctionLogSink | None = None) -> None:
        self.function = function
        self._log = log
        self.limit = function.reserved_concurrency or DEFAULT_ENVIRONMENTS
        self._idle: list[ExecutionEnvironment] = []
        self._all: set[ExecutionEnvironment] = set()
        self._busy = 0
        self._count = 0
        self._closed = False
        self._background: set[asyncio.Task[Any]] = set()
        self.watchdog = _Watchdog()

    def emit(self, record: FunctionLogRecord) -> None:
        if self._log is not None:
            with contextlib.suppress(Exception):  # a broken log sink must not break serving
                self._log(record)

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        self._closed = True
        envs = list(self._all)
        self._all.clear()
        self._idle.clear()
        await asyncio.gather(*(env.kill() for env in envs), return_exceptions=True)
        self.watchdog.close()
        for task in list(self._background):
            task.cancel()

    def environment_exited(self, env: ExecutionEnvironment) -> None:
        if env in self._idle:
            self._idle.remove(env)
            self._all.discard(env)
            self._spawn(env.kill())

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def _acquire(self) -> ExecutionEnvironment | None:
        """An idle environment (most recently used first), or None to start one."""
        while self._idle:
            env = self._idle.pop()
            if not env.dead:
                return env
            self._all.discard(env)
        if self._busy >= self.limit:
            raise Throttled
        return None

    @property
    def environments(self) -> int:
        """Environments alive now (busy or idle)."""
        return len(self._all)

    async def invoke(
        self,
        request: InvokeRequest,
        sink: Sink,
        raw: bool,
        on_start: Callable[[], None] | None = None,
    ) -> None:
        if self._closed:
            raise FunctionError("Sandbox.Failure", error_document("Sandbox.Failure", "stopping"))
        env = self._acquire()
        self._busy += 1
        loop = asyncio.get_running_loop()
        answer: asyncio.Future[None] = loop.create_future()
        answer.add_done_callback(_retrieved)
        try:
            if on_start is not None:
                on_start()
            task = loop.create_task(self._run(env, request, _Delivery(sink, raw), answer))
            self._background.add(task)
            task.add_done_callback(self._background.discard)
        except BaseException:
            self._busy -= 1
            raise
        await answer

    async def _new_environment(self) -> ExecutionEnvironment:
        self._count += 1
        env = ExecutionEnvironment(self, self._count)
        self._all.add(env)
        await env.start()
        return env

    async def _run(
        self,
        env: ExecutionEnvironment | None,
        request: InvokeRequest,
        delivery: _Delivery,
        answer: asyncio.Future[None],
    ) -> None:
        def settle(exc: BaseException | None = None) -> None:
            if not answer.done():
                if exc is None:
                    answer.set_result(None)
                else:
                    answer.set_exception(exc)

        try:
            for attempt in range(2):
                if env is None:
                    env = await self._new_environment()
                retry = await self._invoke_in(env, request, delivery, settle, first=attempt == 0)
                if not retry:
                    break
                env = None  # it died before taking the invocation: a fresh one takes it
        except BaseException as exc:
            settle(exc if isinstance(exc, Exception) else FunctionError("Sandbox.Failure", b"{}"))
            if env is not None:
                self._all.discard(env)
                await env.kill()
            if not isinstance(exc, Exception):
                raise
        finally:
            self._busy -= 1
            settle()

    async def _invoke_in(
        self,
        env: ExecutionEnvironment,
        request: InvokeRequest,
        delivery: _Delivery,
        settle: Callable[[BaseException | None], None],
        first: bool,
    ) -> bool:
        """One invocation in ``env``; True when it must be retried in a fresh one."""
        fn = self.function
        rid = request.request_id
        cold = not env.ready.done()
        if cold:
            try:
                await asyncio.wait_for(asyncio.shield(env.ready), INIT_TIMEOUT_S)
            except TimeoutError:
                raise FunctionError(
                    "Sandbox.Timedout",
                    error_document(
                        "Sandbox.Timedout",
                        f"RequestId: {rid} Error: init timed out after {INIT_TIMEOUT_S:.2f} s",
                    ),
                ) from None
            except FunctionError as exc:
                self.emit(
                    PlatformNote(
                        fn.name,
                        None,
                        f"INIT_REPORT Init Duration: {env.init_ms or 0.0:.2f} ms\tPhase: init"
                        f"\tStatus: error\tError Type: {exc.error_type}",
                    )
                )
                raise
        deadline_ms = int(time.time() * 1000 + fn.timeout_s * 1000)
        trace = f"Root=1-{int(time.time()):08x}-{secrets.token_hex(12)};Parent={secrets.token_hex(8)};Sampled=0"
        inv = Invocation(
            rid,
            request.payload_bytes(),
            next_headers(
                rid, deadline_ms, fn.arn, trace, request.client_context, request.cognito_identity
            ),
        )
        self.emit(InvocationStart(fn.name, rid))
        t0 = time.perf_counter()
        timer = asyncio.get_running_loop().call_later(fn.timeout_s, inv.expire)
        env.dispatch(inv)
        status: str | None = None
        error: BaseException | None = None
        timed_out = False
        while True:
            while inv.chunks:
                data = inv.pop()
                try:
                    await delivery.stream(data, inv.content_type)
                except BaseException as exc:  # the caller left or a limit: keep reading, drop
                    settle(exc)
                    if isinstance(exc, ConnectionError):
                        self.emit(
                            PlatformNote(
                                fn.name,
                                rid,
                                "the caller closed the connection; the function keeps running",
                            )
                        )
            if inv.finished:
                break
            if env.dead:
                if inv.state == "pending" and first:
                    # Died between invocations (an exit after its last answer): start afresh.
                    timer.cancel()
                    env.current = None
                    self._all.discard(env)
                    await env.kill()
                    return True
                break
            if not await inv.wait():
                timed_out = True
                break
        timer.cancel()
        duration_ms = (time.perf_counter() - t0) * 1000.0
        memory = env.peak_memory_mb()
        if timed_out:
            status = "timeout"
            message = f"Task timed out after {fn.timeout_s:.2f} seconds"
            self.emit(PlatformNote(fn.name, rid, message))
            error = FunctionError(
                "Sandbox.Timedout",
                error_document("Sandbox.Timedout", f"RequestId: {rid} Error: {message}"),
            )
        elif inv.finished and not inv.cut:
            try:
                error = await self._finish(inv, delivery)
            except BaseException as exc:
                settle(exc)
            if error is not None:
                status = "error"
        else:  # the process exited (or cut its response) in the middle
            with contextlib.suppress(Exception):
                await asyncio.wait_for(asyncio.shield(env.exited), 1.0)
            code = env.exited.result() if env.exited.done() else None
            message = _exit(code) if code is not None else "Runtime closed its response"
            status = "error"
            self.emit(PlatformNote(fn.name, rid, f"RequestId: {rid} Error: {message}"))
            self.emit(PlatformNote(fn.name, rid, "Runtime.ExitError"))
            error = FunctionError(
                "Runtime.ExitError",
                error_document("Runtime.ExitError", f"RequestId: {rid} Error: {message}"),
            )
        if error is not None and not delivery.gone:
            settle(error)
        elif not delivery.gone:
            settle(None)
        if not (timed_out or env.dead or inv.cut):
            # The invocation ends when the runtime asks for the next one: what it
            # logs until then (its own 413 line, say) belongs to this request.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(env.asked_next.wait(), 1.0)
        self.emit(InvocationEnd(fn.name, rid))
        init_ms = None
        if not env.init_reported:
            env.init_reported = True
            init_ms = env.init_ms
        self.emit(
            InvocationReport(
                fn.name,
                rid,
                duration_ms=duration_ms,
                billed_ms=max(1, math.ceil(duration_ms)),
                memory_mb=fn.memory_mb,
                max_memory_mb=memory,
                init_ms=init_ms,
                status=status,
            )
        )
        env.current = None
        if timed_out or env.dead or inv.cut:
            self._all.discard(env)
            await env.kill()
        elif not self._closed:
            self._idle.append(env)
        settle(error)
        return False

    async def _finish(self, inv: Invocation, delivery: _Delivery) -> FunctionError | None:
        """The runtime's whole answer, to the front end; a function error is returned."""
        from lstream_cli.emulator.functionurl import LimitExceeded

        if inv.invalid_mode:
            return FunctionError(
                "Runtime.InvalidResponseModeHeader",
                error_document(
                    "Runtime.InvalidResponseModeHeader", "Invalid function response mode"
                ),
            )
        if inv.too_large:
            raise LimitExceeded(
                "Response payload size exceeded maximum allowed payload size (6291556 bytes)."
            )
        if inv.mode == "streaming":
            trailer = inv.trailer_error()
            if trailer is not None:
                return FunctionError(*trailer)
            await delivery.end_stream(inv.content_type)
            return None
        if inv.error_type is not None:
            return FunctionError(inv.error_type, inv.error_body or b"{}")
        await delivery.buffered(inv.body, inv.content_type)
        return None
