"""The blocking shell over the client core: ``lstream get`` and compare-modes' URL modes.

Plain sockets and the ``ssl`` module; every byte goes through
:class:`lstream_cli.engine.core.Exchange`, the code the load engine uses too,
so framing, body accounting and error classes are the same in both.

Connection set-up is one function, :meth:`Client.open_connection`, in a
fixed order, each phase timed apart into the meter:

1. resolve the route's host (``dns_ms``);
2. TCP over every resolved address, happy eyeballs (RFC 8305: IPv6 first,
   the next address :data:`~lstream_cli.engine.core.STAGGER_S` after the last
   began or as soon as it failed, the first to connect wins) (``connect_ms``);
3. the route's tunnel (a proxy's CONNECT), when there is one (counted in
   ``connect_ms``);
4. TLS with SNI and verification (``tls_ms``), with a context made before the
   clock started (:meth:`Client.prepare`).

Then the request is written and the response read into one reused buffer
(``recv_into``, up to :data:`READ_SIZE` per read: a read takes whatever the
kernel holds, so a slow stream still comes one small read at a time, while a
fast one costs few reads and few Python calls per GiB). ``--timeout`` bounds
TCP connect and the TLS handshake and then each read and write; on plain
sockets reads and writes block with the kernel's own timers
(``SO_RCVTIMEO``/``SO_SNDTIMEO``), so no poll runs per read (TLS sockets use
Python's socket timeout: the ssl module retries a read the kernel timed
out). The timer is re-armed only when a stall deadline
(``--stall-timeout``) asks for a shorter wait.

Connections are kept alive (up to 4 idle per origin, for 5 s) for the next
request; a kept connection the server had closed is replaced once, before any
byte of the answer, as curl does.
"""

from __future__ import annotations

import contextlib
import errno
import os
import select
import socket
import struct
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from lstream_cli.engine.core import (
    RETRY,
    STAGGER_S,
    AddrInfo,
    Exchange,
    Origin,
    RequestTemplate,
    Resolver,
    Route,
    SetupError,
    Tunnel,
    literal_address,
    order_addresses,
    setup_error,
)
from lstream_cli.engine.tls import client_context, tls_error
from lstream_cli.measure import BodyMeter
from lstream_cli.models import ErrorClass, RequestRecord
from lstream_cli.net.trust import Trust

if TYPE_CHECKING:
    import ssl

__all__ = ["READ_SIZE", "Client", "Interrupted", "connect_tcp"]

READ_SIZE = 1024 * 1024  # bytes asked of one recv (one delivery at most)
_MAX_IDLE = 4  # idle connections kept per origin
_KEEPALIVE_S = 5.0  # an idle connection older than this is closed, not reused
_Key = tuple[Any, ...]


class Interrupted(KeyboardInterrupt):
    """Ctrl-C during a request; ``record`` is what was measured until then.

    A KeyboardInterrupt still (callers that only stop keep working); the
    record is incomplete, with no error class: the server did nothing wrong.
    """

    def __init__(self, record: RequestRecord) -> None:
        super().__init__("interrupted")
        self.record = record


class _Conn:
    """One socket (plain or TLS) and the origin it may go back to."""

    __slots__ = ("armed", "idle_since", "key", "sock")

    def __init__(self, key: _Key, sock: socket.socket, armed: float | None) -> None:
        self.key = key
        self.sock = sock
        self.idle_since = 0.0
        self.armed = armed  # the read timeout the socket has now (seconds, None = none)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()

    def reusable(self, now: float) -> bool:
        """Idle, recent, and the peer has neither closed nor sent anything."""
        if now - self.idle_since > _KEEPALIVE_S:
            return False
        try:
            if _is_tls(self.sock) and self.sock.pending():  # type: ignore[attr-defined]
                return False
            readable, _, _ = select.select([self.sock], [], [], 0)
        except (OSError, ValueError):
            return False
        return not readable


def _is_tls(sock: socket.socket) -> bool:
    """A TLS socket (``ssl.SSLSocket``); the ssl module is loaded when there is one."""
    module = sys.modules.get("ssl")
    return module is not None and isinstance(sock, module.SSLSocket)


def _timeval(seconds: float | None) -> bytes:
    """A struct timeval for SO_RCVTIMEO/SO_SNDTIMEO (0 = no limit)."""
    if seconds is None:
        return struct.pack("ll", 0, 0)
    seconds = max(seconds, 0.000_001)
    whole = int(seconds)
    return struct.pack("ll", whole, int((seconds - whole) * 1e6))


def _arm(sock: socket.socket, option: int, seconds: float | None) -> None:
    """Bound the next reads (SO_RCVTIMEO) or writes (SO_SNDTIMEO) to ``seconds``.

    A TLS socket uses Python's own timeout instead (a poll before each read):
    the ssl module retries a kernel-timed-out read on a blocking socket.
    """
    if _is_tls(sock):
        sock.settimeout(seconds)
    else:
        sock.setsockopt(socket.SOL_SOCKET, option, _timeval(seconds))


def connect_tcp(
    addrs: list[AddrInfo], timeout_s: float | None, stagger_s: float = STAGGER_S
) -> socket.socket:
    """TCP to the first of ``addrs`` that answers, happy-eyeballs style.

    An attempt starts every ``stagger_s`` (or as soon as the previous one
    failed); the first connected socket wins, the others are closed. Raises
    the last error (TimeoutError when ``timeout_s`` passed first).
    """
    perf = time.monotonic
    deadline = None if timeout_s is None else perf() + timeout_s
    pending: dict[int, tuple[socket.socket, AddrInfo]] = {}
    poller = select.poll()
    last_error: OSError | None = None
    index = 0
    next_start = perf()
    try:
        while True:
            now = perf()
            if index < len(addrs) and (now >= next_start or not pending):
                family, addr = addrs[index]
                index += 1
                next_start = now + stagger_s
                sock = socket.socket(family, socket.SOCK_STREAM)
                sock.setblocking(False)
                code = sock.connect_ex(addr)
                if code == 0:
                    return _connected(sock, pending)
                if code in (errno.EINPROGRESS, errno.EWOULDBLOCK, errno.EAGAIN):
                    pending[sock.fileno()] = (sock, (family, addr))
                    poller.register(sock, select.POLLOUT)
                else:
                    sock.close()
                    last_error = OSError(code, os.strerror(code))
                continue
            if not pending:
                raise last_error or OSError("no address to connect to")
            waits = [] if deadline is None else [deadline - now]
            if index < len(addrs):
                waits.append(next_start - now)
            wait = min(waits) if waits else None
            if deadline is not None and now >= deadline:
                raise TimeoutError("timed out")
            events = poller.poll(None if wait is None else max(0, int(wait * 1000) + 1))
            for fd, _ in events:
                sock, _info = pending.pop(fd)
                poller.unregister(fd)
                code = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if code == 0:
                    return _connected(sock, pending)
                sock.close()
                last_error = OSError(code, os.strerror(code))
    except BaseException:
        for sock, _info in pending.values():
            sock.close()
        raise


def _connected(
    sock: socket.socket, losers: dict[int, tuple[socket.socket, AddrInfo]]
) -> socket.socket:
    for other, _info in losers.values():
        other.close()
    losers.clear()
    sock.setblocking(True)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def _through_tunnel(sock: socket.socket, tunnel: Tunnel, timeout_s: float | None) -> None:
    """The route's step between TCP and TLS (a proxy's CONNECT)."""
    sock.settimeout(timeout_s)
    sock.sendall(tunnel.request())
    while True:
        data = sock.recv(65536)
        if not data:
            raise OSError("the proxy closed the connection")
        if tunnel.feed(data):
            return


class Client:
    """Blocking HTTP/1.1 connections with a small keep-alive pool.

    ``verify``: True (the trust of :func:`~lstream_cli.engine.tls.client_context`),
    False (``--insecure``) or a ready context. ``resolver`` replaces
    ``socket.getaddrinfo`` (same signature); ``route_for`` picks the route to
    an origin (direct when None).
    """

    def __init__(
        self,
        verify: bool | ssl.SSLContext = True,
        *,
        timeout_s: float | None = 30.0,
        resolver: Resolver | None = None,
        route_for: Callable[[Origin], Route] | None = None,
        trust: Trust | None = None,
        read_size: int = READ_SIZE,
        max_idle: int = _MAX_IDLE,
        stagger_s: float = STAGGER_S,
    ) -> None:
        self.timeout_s = timeout_s
        self.route_for = route_for
        self.trust = trust  # the CA bundle behind ``verify``, named when a check fails
        self._verify = verify
        self._ssl: ssl.SSLContext | None = None
        self._resolver: Resolver = resolver or socket.getaddrinfo
        self._buf = bytearray(read_size)
        self._max_idle = max_idle
        self._stagger_s = stagger_s
        self._idle: dict[_Key, list[_Conn]] = {}

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- before the clock starts -------------------------------------------------

    def prepare(self, origin: Origin) -> None:
        """Make what connecting to ``origin`` needs (the TLS context) now, untimed."""
        if origin.tls and self._ssl is None:
            self._ssl = client_context(self._verify)

    # -- connection set-up -------------------------------------------------------

    def open_connection(self, origin: Origin, route: Route, meter: BodyMeter) -> socket.socket:
        """Resolve, TCP (every address), tunnel, TLS: each phase timed into ``meter``.

        Raises :class:`SetupError` (the phase's class and a one-line reason)
        after recording the phases that were done.
        """
        perf = time.perf_counter_ns
        timeout = self.timeout_s
        # A proxy's failures name it (its URL without credentials, and where it was set).
        proxy = f"proxy {route.label}" if route.label else None
        where = proxy or f"{route.host}:{route.port}"
        t0 = perf()
        try:
            addrs = literal_address(route.host, route.port)
            if addrs is None:
                infos = self._resolver(route.host, route.port, 0, socket.SOCK_STREAM)
                addrs = order_addresses(infos)
        except (OSError, UnicodeError) as exc:
            meter.set_up(perf() - t0, None, None)
            raise setup_error("resolve", exc, proxy or route.host, timeout) from None
        t1 = perf()
        meter.set_up(t1 - t0, None, None)
        if not addrs:
            raise SetupError(ErrorClass.CONNECT, f"cannot resolve host {route.host}: no address")
        try:
            sock = connect_tcp(addrs, timeout, self._stagger_s)
        except OSError as exc:
            meter.set_up(t1 - t0, perf() - t1, None)
            raise setup_error("tcp", exc, where, timeout) from None
        try:
            if route.tunnel is not None:
                try:
                    _through_tunnel(sock, route.tunnel(), timeout)
                except OSError as exc:
                    raise setup_error(
                        "tunnel", exc, f"{origin.host}:{origin.port}", timeout
                    ) from None
            t2 = perf()
            meter.set_up(t1 - t0, t2 - t1, None)
            if origin.tls:
                if self._ssl is None:
                    self._ssl = client_context(self._verify)
                sock.settimeout(timeout)
                try:
                    sock = self._ssl.wrap_socket(sock, server_hostname=origin.host)
                except OSError as exc:
                    meter.set_up(t1 - t0, t2 - t1, perf() - t2)
                    raise setup_error("tls", exc, origin.host, timeout, self.trust) from None
                meter.set_up(t1 - t0, t2 - t1, perf() - t2)
        except BaseException:
            with contextlib.suppress(OSError):
                sock.close()
            raise
        if not _is_tls(sock):
            sock.settimeout(None)  # blocking; the kernel's timers bound each read and write
        _arm(sock, socket.SO_SNDTIMEO, timeout)
        _arm(sock, socket.SO_RCVTIMEO, timeout)
        return sock

    # -- one request ---------------------------------------------------------------

    def request(
        self,
        template: RequestTemplate,
        data: bytes,
        meter: BodyMeter,
        *,
        sink: Callable[[Any], object] | None = None,
        on_head: Callable[[Exchange], object] | None = None,
    ) -> RequestRecord:
        """Send ``data`` (``template``'s bytes) and read the answer into ``meter``.

        Network failures end as a record with an error class; an exception
        raised by ``sink`` or ``on_head`` propagates (after what arrived was
        delivered); Ctrl-C raises :class:`Interrupted` with the record so far.
        """
        origin, route = template.origin, template.route
        timeout_ns = None if self.timeout_s is None else int(self.timeout_s * 1e9)
        for attempt in range(2):
            ex = Exchange(meter, template.method, timeout_ns=timeout_ns, sink=sink, on_head=on_head)
            conn = self._take(origin.key) if attempt == 0 else None
            try:
                if conn is None:
                    try:
                        sock = self.open_connection(origin, route, meter)
                    except SetupError as exc:
                        return meter.finish(
                            time.perf_counter_ns(), False, error=exc.error, detail=str(exc)
                        )
                    conn = _Conn(origin.key, sock, self.timeout_s)
                else:
                    ex.reused = True
                    meter.set_up(None, None, None)
                result = self._exchange(conn, ex, data)
            except KeyboardInterrupt:
                if conn is not None:
                    conn.close()
                raise Interrupted(ex.interrupted(time.perf_counter_ns())) from None
            except BaseException:
                if conn is not None:
                    conn.close()
                raise
            if result is RETRY:
                conn.close()
                continue
            assert isinstance(result, RequestRecord)
            if ex.reusable:
                self._give_back(conn)
            else:
                conn.close()
            return result
        return meter.finish(  # not reached: a fresh connection never asks for a retry
            time.perf_counter_ns(),
            False,
            error=ErrorClass.CONNECT,
            detail="connection closed before any response",
        )

    def _exchange(self, conn: _Conn, ex: Exchange, data: bytes) -> RequestRecord | object:
        sock = conn.sock
        perf = time.perf_counter_ns
        ex.last_rx_ns = perf()
        write_error: OSError | None = None
        try:
            sock.sendall(data)
        except (BlockingIOError, TimeoutError) as exc:
            return ex.failed(TimeoutError(f"timed out sending the request: {exc}"), perf())
        except OSError as exc:
            if tls_error(exc, "SSLWantWriteError"):
                return ex.failed(TimeoutError(f"timed out sending the request: {exc}"), perf())
            write_error = exc  # the server may have answered and closed (a 413): read it
        buf = self._buf
        view = memoryview(buf)
        meter = ex.meter
        recv_into = sock.recv_into
        feed = ex.feed
        while True:
            if meter.idle_deadline_ns() is not None:
                deadline = ex.deadline_ns()
                assert deadline is not None
                # Never 0 (no limit, or a non-blocking socket): a deadline already
                # past still takes the bytes waiting, then times out at once.
                wait = max(1e-6, (deadline - perf()) / 1e9)
                _arm(sock, socket.SO_RCVTIMEO, wait)
                conn.armed = wait
            elif conn.armed != self.timeout_s:
                conn.armed = self.timeout_s
                _arm(sock, socket.SO_RCVTIMEO, conn.armed)
            try:
                n = recv_into(buf)
            except (BlockingIOError, TimeoutError):
                return ex.expire(perf())
            except OSError as exc:
                if tls_error(exc, "SSLWantReadError"):
                    return ex.expire(perf())
                if write_error is not None and not ex.started:
                    return ex.failed(write_error, perf())
                return ex.failed(exc, perf())
            now = perf()
            if n == 0:
                if write_error is not None and not ex.started:
                    return ex.failed(write_error, now)
                return ex.eof(now)
            if feed(view[:n], now):
                assert ex.record is not None
                return ex.record

    # -- pool ----------------------------------------------------------------------

    def _take(self, key: _Key) -> _Conn | None:
        now = time.monotonic()
        idle = self._idle.get(key) or []
        while idle:
            conn = idle.pop()
            if conn.reusable(now):
                return conn
            conn.close()
        return None

    def _give_back(self, conn: _Conn) -> None:
        idle = self._idle.setdefault(conn.key, [])
        if len(idle) < self._max_idle:
            conn.idle_since = time.monotonic()
            idle.append(conn)
        else:
            conn.close()

    def close(self) -> None:
        conns = [c for idle in self._idle.values() for c in idle]
        self._idle.clear()
        for conn in conns:
            conn.close()
