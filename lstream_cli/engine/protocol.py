"""The asyncio shell over the client core: the load engine's connections.

httpx spends tens of microseconds per request in pool bookkeeping; a load
generator that must keep up with hey cannot. Here one :class:`Connection`
is an ``asyncio.BufferedProtocol`` that hands every read to the client
core's :class:`~lstream_cli.engine.core.Exchange`, the code ``get`` runs
too: same parser settings, framing, body accounting and error classes, so
``bench -n 1`` and ``get`` agree on every response.

Picture::

    RequestTemplate --bytes--> Connection.request(meter) --future--> RequestRecord
        buffer_updated -> Exchange.feed (llhttp for heads, chunked bodies decoded in place,
                          a count for Content-Length bodies) -> BodyMeter
    Connector.resolve()  once per worker, before the run
    Connector.connect()  TCP over every address (happy eyeballs) -> [tunnel] -> TLS

A connection serves one request at a time (no pipelining) and is kept
alive between requests while the server allows it. A request sent on a
reused connection that the server had already closed, before any byte of
response, is retried once on a fresh connection, as browsers and curl do:
that is keep-alive housekeeping, not a failed request.
"""

from __future__ import annotations

import asyncio
import errno
import os
import socket
import ssl
import time
from typing import cast

from lstream_cli.engine.core import (
    RETRY,
    STAGGER_S,
    AddrInfo,
    Exchange,
    Origin,
    RequestTemplate,
    Resolver,
    Retry,
    Route,
    SetupError,
    Tunnel,
    literal_address,
    order_addresses,
    setup_error,
)
from lstream_cli.engine.tls import client_context
from lstream_cli.measure import BodyMeter
from lstream_cli.models import RequestRecord
from lstream_cli.net.trust import Trust

__all__ = [
    "READ_SIZE",
    "RETRY",
    "TIMELINE_FROM_BYTES",
    "ConnectError",
    "Connection",
    "Connector",
    "RequestTemplate",
    "connect_tcp_async",
]

READ_SIZE = 256 * 1024  # bytes per socket read
# The BodyMeter timeline (knee, gap p99) is kept for responses without a
# Content-Length (streams) and for bodies announced at least this long.
TIMELINE_FROM_BYTES = 1_000_000
ConnectError = SetupError  # the name the worker loop catches


class Connection(asyncio.BufferedProtocol):
    """One keep-alive connection; ``request`` returns a future of the record.

    A buffered protocol: the loop reads into one buffer shared by the
    worker's connections (reads are handled one at a time).
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, buffer: memoryview | None = None) -> None:
        self.loop = loop
        self._buf = buffer if buffer is not None else memoryview(bytearray(READ_SIZE))
        self.transport: asyncio.Transport | None = None
        self.alive = False  # connected and not closed by either side
        self.used = 0  # responses completed on this connection
        self.exchange: Exchange | None = None  # the request in flight, if any
        self._waiter: asyncio.Future[RequestRecord | Retry] | None = None

    @property
    def meter(self) -> BodyMeter | None:
        ex = self.exchange
        return None if ex is None else ex.meter

    # -- asyncio.Protocol ---------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        self.alive = True

    def get_buffer(self, sizehint: int) -> memoryview:
        return self._buf

    def buffer_updated(self, nbytes: int) -> None:
        ex = self.exchange
        if ex is None:
            self.abort()  # bytes nobody asked for: the stream is out of step
            return
        if ex.feed(self._buf[:nbytes], time.perf_counter_ns()):
            self.exchange = None
            self.used += 1
            if not ex.reusable:
                self.close()
            assert ex.record is not None
            self._resolve(ex.record)

    def connection_lost(self, exc: Exception | None) -> None:
        self.alive = False
        ex = self.exchange
        if ex is None:
            return
        self.exchange = None
        now = time.perf_counter_ns()
        self._resolve(ex.eof(now) if exc is None else ex.failed(exc, now))

    # -- driving ------------------------------------------------------------
    def request(
        self, data: bytes, meter: BodyMeter, method: str = "GET", timeout_ns: int | None = None
    ) -> asyncio.Future[RequestRecord | Retry]:
        """Send ``data``; the future resolves to the finished record (or RETRY)."""
        fut: asyncio.Future[RequestRecord | Retry] = self.loop.create_future()
        self._waiter = fut
        ex = Exchange(
            meter,
            method,
            reused=self.used > 0,
            timeout_ns=timeout_ns,
            keep_headers=False,
            timeline_from=TIMELINE_FROM_BYTES,
        )
        self.exchange = ex
        if not self.alive or self.transport is None:
            self.connection_lost(None)
            return fut
        self.transport.write(data)
        return fut

    def expire(self, now: int) -> None:
        """Its deadline passed with no byte: fail the request, drop the connection."""
        ex = self.exchange
        self.alive = False  # before the result is handed over: nothing more goes out on it
        if ex is not None:
            self.exchange = None
            self._resolve(ex.expire(now))
        self.abort()

    def close(self) -> None:
        self.alive = False
        if self.transport is not None:
            self.transport.close()

    def abort(self) -> None:
        self.alive = False
        self.exchange = None
        if self.transport is not None:
            self.transport.abort()

    def _resolve(self, result: RequestRecord | Retry) -> None:
        fut = self._waiter
        self._waiter = None
        if fut is not None and not fut.done():
            fut.set_result(result)


async def _attempt(
    loop: asyncio.AbstractEventLoop, family: int, addr: tuple[object, ...]
) -> socket.socket:
    """A non-blocking connect to ``addr``, awaited on the loop's writer callback.

    Not ``loop.sock_connect``: uvloop's first call costs several milliseconds
    (an address lookup in its executor), which would land in ``connect_ms``.
    """
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setblocking(False)
        code = sock.connect_ex(addr)
        if code in (errno.EINPROGRESS, errno.EAGAIN, errno.EWOULDBLOCK):
            done: asyncio.Future[None] = loop.create_future()
            fd = sock.fileno()

            def writable() -> None:
                if not done.done():
                    done.set_result(None)

            loop.add_writer(fd, writable)
            try:
                await done
            finally:
                loop.remove_writer(fd)
            code = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if code:
            raise OSError(code, os.strerror(code))
    except BaseException:
        sock.close()
        raise
    return sock


async def connect_tcp_async(
    loop: asyncio.AbstractEventLoop, addrs: list[AddrInfo], stagger_s: float = STAGGER_S
) -> socket.socket:
    """TCP to the first of ``addrs`` that answers, happy-eyeballs style.

    An attempt starts every ``stagger_s`` (or as soon as one failed); the
    first connected socket wins and the others are cancelled. Raises the
    last error when every address failed.
    """
    if len(addrs) == 1:
        return await _attempt(loop, *addrs[0])  # nothing to race
    pending: set[asyncio.Task[socket.socket]] = set()
    last: BaseException | None = None
    index = 0
    try:
        while True:
            wait: float | None = None
            if index < len(addrs):
                family, addr = addrs[index]
                index += 1
                pending.add(loop.create_task(_attempt(loop, family, addr)))
                wait = stagger_s
            elif not pending:
                raise last if last is not None else OSError("no address to connect to")
            done, pending = await asyncio.wait(
                pending, timeout=wait, return_when=asyncio.FIRST_COMPLETED
            )
            winner: socket.socket | None = None
            for task in done:
                exc = task.exception()
                if exc is not None:
                    last = exc
                elif winner is None:
                    winner = task.result()
                else:
                    task.result().close()  # connected at the same instant: not needed
            if winner is not None:
                return winner
    finally:
        for task in pending:
            task.cancel()
        if pending:
            for result in await asyncio.gather(*pending, return_exceptions=True):
                if isinstance(result, socket.socket):
                    result.close()


class Connector:
    """Opens connections to one origin: DNS once per worker, then TCP (+TLS) each time.

    ``route`` is how TCP reaches the origin (direct, or through a proxy);
    ``resolver`` replaces ``socket.getaddrinfo`` (same signature).
    """

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        origin: Origin,
        route: Route,
        insecure: bool,
        timeout_s: float | None,
        resolver: Resolver | None = None,
        stagger_s: float = STAGGER_S,
        trust: Trust | None = None,
    ) -> None:
        self.loop = loop
        self.origin = origin
        self.route = route
        self.timeout_s = timeout_s  # TCP connect and TLS handshake, each; None = never
        # The same trust as `get` (net.trust: --cacert, AWS_CA_BUNDLE, ...; without
        # one, engine.tls), made before any request is timed.
        self.trust = trust
        self.ssl: ssl.SSLContext | None = None
        if origin.tls:
            self.ssl = trust.context() if trust is not None else client_context(not insecure)
        # A proxy's failures name it (its URL without credentials, and where it was set).
        self._proxy = f"proxy {route.label}" if route.label else None
        self.addrs: list[AddrInfo] = []
        self.dns_ns: int | None = None  # how long the worker's one resolution took
        self._resolver = resolver
        self._stagger_s = stagger_s
        self._resolve_error: SetupError | None = None
        self._buffer = memoryview(bytearray(READ_SIZE))  # shared by this worker's connections

    async def resolve(self) -> None:
        """Every address of the route's host, once (before the run is timed)."""
        route = self.route
        began = time.perf_counter_ns()
        try:
            literal = literal_address(route.host, route.port)
            if literal is not None:
                self.addrs = literal
            else:
                if self._resolver is not None:
                    infos = self._resolver(route.host, route.port, 0, socket.SOCK_STREAM)
                else:
                    infos = await self.loop.getaddrinfo(
                        route.host, route.port, type=socket.SOCK_STREAM
                    )
                self.addrs = order_addresses(infos)
            if not self.addrs:
                raise OSError("no address")
        except (OSError, UnicodeError) as exc:
            self._resolve_error = setup_error("resolve", exc, self._proxy or route.host, None)
        self.dns_ns = time.perf_counter_ns() - began

    async def connect(self, meter: BodyMeter) -> Connection:
        """A fresh connection, its TCP and TLS times in ``meter``; raises :class:`SetupError`."""
        if not self.addrs and self._resolve_error is None:
            await self.resolve()
        if self._resolve_error is not None:
            raise self._resolve_error
        origin, route, timeout = self.origin, self.route, self.timeout_s
        perf = time.perf_counter_ns
        t0 = perf()
        # asyncio.timeout, not wait_for: no task of its own per step (with 1,000
        # connections opening at once, those tasks were a share of the storm).
        try:
            async with asyncio.timeout(timeout):
                sock = await connect_tcp_async(self.loop, self.addrs, self._stagger_s)
        except (OSError, asyncio.TimeoutError) as exc:
            meter.set_up(None, perf() - t0, None)
            where = self._proxy or f"{route.host}:{route.port}"
            raise setup_error("tcp", exc, where, timeout) from None
        conn = Connection(self.loop, self._buffer)
        try:
            if route.tunnel is not None:
                try:
                    async with asyncio.timeout(timeout):
                        await self._through_tunnel(sock, route.tunnel())
                except (OSError, asyncio.TimeoutError) as exc:
                    where = f"{origin.host}:{origin.port}"
                    raise setup_error("tunnel", exc, where, timeout) from None
            t1 = perf()
            meter.set_up(None, t1 - t0, None)
            try:
                async with asyncio.timeout(timeout):
                    await self.loop.create_connection(
                        lambda: conn,
                        sock=sock,
                        ssl=self.ssl,
                        server_hostname=origin.host if self.ssl is not None else None,
                    )
            except (OSError, asyncio.TimeoutError) as exc:
                meter.set_up(None, t1 - t0, perf() - t1 if self.ssl is not None else None)
                stage = "tls" if self.ssl else "tcp"
                raise setup_error(stage, exc, origin.host, timeout, self.trust) from None
            if self.ssl is not None:
                meter.set_up(None, t1 - t0, perf() - t1)
        except BaseException:
            if conn.transport is None:
                sock.close()
            raise
        return conn

    async def _through_tunnel(self, sock: socket.socket, tunnel: Tunnel) -> None:
        """The route's step between TCP and TLS (a proxy's CONNECT)."""
        await self.loop.sock_sendall(sock, tunnel.request())
        while True:
            data = await self.loop.sock_recv(sock, 65536)
            if not data:
                raise OSError("the proxy closed the connection")
            if tunnel.feed(data):
                return
