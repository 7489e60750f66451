"""Starting and stopping the five endpoints, in-process or for ``lstream serve``.

:class:`Emulator` opens one listening socket per endpoint on the running
event loop; :func:`running_emulator` runs it on a background thread with an
event loop of its own (uvloop when installed) and hands back the
:class:`Endpoints` once every socket listens, which is what ``compare-modes``
and the tests use.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import socket
import threading
from collections.abc import Iterator
from typing import Any, Protocol, TypeVar

from lstream_cli._eventloop import new_event_loop
from lstream_cli._exitcodes import ExitStatus, LstreamError
from lstream_cli.emulator.apigw import ApiGatewayApp
from lstream_cli.emulator.config import (
    APIGW_REQUEST_LIMIT,
    ENDPOINT_NAMES,
    REQUEST_LIMIT,
    EmulatorConfig,
    Endpoints,
)
from lstream_cli.emulator.functionurl import FunctionUrlApp
from lstream_cli.emulator.http import App, HttpServer
from lstream_cli.emulator.lambda_api import LambdaApiApp
from lstream_cli.emulator.runtime import Runtime

T_co = TypeVar("T_co", covariant=True)

__all__ = [
    "Emulator",
    "Startable",
    "new_event_loop",
    "open_sockets",
    "running_emulator",
    "running_in_background",
    "url_host",
]


def url_host(host: str) -> str:
    """``host`` as it goes in a URL (a wildcard bind address as the loopback one)."""
    if host in ("0.0.0.0", ""):
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    return f"[{host}]" if ":" in host else host


class Emulator:
    """The five endpoints of one run, sharing one :class:`Runtime`."""

    def __init__(self, config: EmulatorConfig) -> None:
        self.config = config
        self.runtime = Runtime(config)  # raises UsageError for a bad handler or no credentials
        self._servers: list[HttpServer] = []
        self._apigw: list[ApiGatewayApp] = []
        self.endpoints: Endpoints | None = None

    def _apps(self) -> dict[str, tuple[App, int]]:
        rt = self.runtime
        upstream = lambda: rt.endpoints["stream_internal"]  # noqa: E731
        apigw = ApiGatewayApp(rt, upstream, stream=False)
        apigw_stream = ApiGatewayApp(rt, upstream, stream=True)
        self._apigw = [apigw, apigw_stream]
        return {
            "stream": (FunctionUrlApp(rt, "stream"), REQUEST_LIMIT),
            "buffered": (FunctionUrlApp(rt, "buffered"), REQUEST_LIMIT),
            "apigw": (apigw, APIGW_REQUEST_LIMIT),
            "apigw_stream": (apigw_stream, APIGW_REQUEST_LIMIT),
            "lambda_api": (LambdaApiApp(rt), REQUEST_LIMIT),
        }

    async def start(self, sockets: dict[str, socket.socket] | None = None) -> Endpoints:
        """Listen on every endpoint; raises LstreamError (usage) when a port is taken.

        ``sockets`` (from :func:`open_sockets`) lets several processes serve
        the same listening sockets (``lstream serve --workers``).
        """
        host = self.config.host
        urls: dict[str, str] = {}
        try:
            await self.runtime.invoker.start()
            for index, (name, (app, max_body)) in enumerate(self._apps().items()):
                port = self.config.port + index if self.config.port else 0
                server = HttpServer(app, max_body, on_reject=self.runtime.rejecter(name))
                self._servers.append(server)
                try:
                    sock = sockets.get(name) if sockets else None
                    bound = await server.listen(host, port, sock=sock)
                except OSError as exc:
                    raise _listen_error(host, port, name, exc) from None
                urls[name] = f"http://{url_host(host)}:{bound}"
        except BaseException:
            await self.close()
            raise
        self.runtime.endpoints = dict(urls)
        self.runtime.endpoints["stream_internal"] = urls["stream"]
        self.endpoints = Endpoints(**{name: urls[name] for name in ENDPOINT_NAMES})
        return self.endpoints

    async def close(self) -> None:
        for server in self._servers:
            await server.close()
        self._servers = []
        for app in self._apigw:
            await app.aclose()
        await self.runtime.invoker.close()  # every environment's process group is killed


def _listen_error(host: str, port: int, name: str, exc: OSError) -> LstreamError:
    reason = exc.strerror or str(exc)
    if exc.errno == errno.EADDRINUSE:
        reason = "address already in use (choose another --port, or 0)"
    return LstreamError(f"cannot listen on {host}:{port} ({name}): {reason}", ExitStatus.USAGE)


def open_sockets(config: EmulatorConfig) -> dict[str, socket.socket]:
    """Bind and listen on the five endpoints now, for processes forked after."""
    sockets: dict[str, socket.socket] = {}
    try:
        for index, name in enumerate(ENDPOINT_NAMES):
            port = config.port + index if config.port else 0
            try:
                sockets[name] = socket.create_server(
                    (config.host, port),
                    family=socket.AF_INET6 if ":" in config.host else socket.AF_INET,
                    backlog=2048,
                )
            except OSError as exc:
                raise _listen_error(config.host, port, name, exc) from None
            sockets[name].setblocking(False)
    except BaseException:
        for sock in sockets.values():
            sock.close()
        raise
    return sockets


@contextlib.contextmanager
def running_emulator(config: EmulatorConfig | None = None) -> Iterator[Endpoints]:
    """Run an emulator on a background thread; yields its endpoints once all listen.

    ``with running_emulator() as ep: httpx.get(ep.stream + "/?size=1MB")``.
    Raises UsageError/LstreamError (bad handler, no credentials, port taken)
    before yielding; stops every server and the thread on exit.
    """
    with running_in_background(Emulator(config or EmulatorConfig())) as endpoints:
        yield endpoints


class Startable(Protocol[T_co]):
    """What :func:`running_in_background` runs: ``start()`` gives what it yields."""

    async def start(self) -> T_co: ...

    async def close(self) -> None: ...


@contextlib.contextmanager
def running_in_background(emulator: Startable[T_co]) -> Iterator[T_co]:
    """Run ``emulator`` on a background thread's event loop; yield what its start gave.

    An exception from ``start()`` is raised here, before yielding; on exit the
    loop stops, ``close()`` runs and every task left is cancelled.
    """
    loop = new_event_loop()
    ready = threading.Event()
    box: dict[str, Any] = {}

    def run() -> None:
        asyncio.set_event_loop(loop)
        try:
            box["endpoints"] = loop.run_until_complete(emulator.start())
        except BaseException as exc:
            box["error"] = exc
            ready.set()
            loop.close()
            return
        ready.set()
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(emulator.close())
            _cancel_all(loop)
            loop.close()

    thread = threading.Thread(target=run, name="lstream-emulator", daemon=True)
    thread.start()
    ready.wait()
    if "error" in box:
        thread.join()
        raise box["error"]
    try:
        yield box["endpoints"]
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=30)


def _cancel_all(loop: asyncio.AbstractEventLoop) -> None:
    tasks = [t for t in asyncio.all_tasks(loop) if not t.done()]
    for task in tasks:
        task.cancel()
    if tasks:
        loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
    with contextlib.suppress(Exception):
        loop.run_until_complete(loop.shutdown_asyncgens())
