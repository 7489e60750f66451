"""The CONNECT exchange that opens a tunnel through an HTTP proxy.

Sans-IO: :func:`connect_request` gives the bytes to write once connected to
the proxy, :class:`TunnelReply` is fed what the proxy answers and says when
its answer is complete (parsed by llhttp, as every other response head).
Both clients run it as their route's tunnel step (``engine/routes.py``,
between TCP and TLS); the TLS handshake then runs through the tunnel with
the ORIGIN's name for SNI and the certificate check, never the proxy's.

Any 2xx opens the tunnel (RFC 9110 §9.3.6: its Content-Length or
Transfer-Encoding is ignored). Anything else is a ``connect`` failure whose
message carries the proxy's status; the tunnel is then never used.
"""

from __future__ import annotations

from dataclasses import dataclass

import httptools

from lstream_cli.models import ErrorClass
from lstream_cli.net.proxy import Proxy

__all__ = [
    "MAX_REPLY_BYTES",
    "TunnelError",
    "TunnelReply",
    "authority",
    "connect_request",
]

MAX_REPLY_BYTES = 64 * 1024  # a proxy's answer head longer than this is refused
_HINTS = {
    401: "proxy authentication required",  # some proxies (tinyproxy) answer wrong credentials so
    407: "proxy authentication required",
    403: "the proxy does not allow this destination",
    502: "the proxy could not reach the destination",
    503: "the proxy could not reach the destination",
    504: "the proxy timed out reaching the destination",
}


class TunnelError(Exception):
    """The tunnel could not be opened; ``error`` is the request's error class."""

    def __init__(self, message: str, error: ErrorClass = ErrorClass.CONNECT) -> None:
        super().__init__(message)
        self.error = error


def authority(host: str, port: int) -> str:
    """``host:port`` as CONNECT names it (IPv6 in brackets)."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def connect_request(host: str, port: int, proxy: Proxy, user_agent: str) -> bytes:
    """The CONNECT request for ``host:port`` (authority-form, RFC 9112 §3.2.3)."""
    target = authority(host, port)
    lines = [f"CONNECT {target} HTTP/1.1", f"Host: {target}", f"User-Agent: {user_agent}"]
    credentials = proxy.authorization()
    if credentials is not None:
        lines.append(f"Proxy-Authorization: {credentials}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


@dataclass(slots=True)
class _Head:
    """The proxy's reply head to CONNECT, as far as it has arrived."""

    status: int = 0
    reason: bytes = b""
    complete: bool = False

    # llhttp callbacks
    def on_status(self, status: bytes) -> None:
        self.reason += status

    def on_headers_complete(self) -> None:
        self.complete = True


class TunnelReply:
    """The proxy's answer to CONNECT, fed as it arrives.

    :meth:`feed` returns True once the head is complete; then
    :attr:`status` and :attr:`reason` are set and :meth:`check` raises
    :class:`TunnelError` unless the tunnel is open. Bytes after the head
    (:attr:`extra`) are the tunnel's own: none may come before the client
    speaks TLS, so any is an error too.
    """

    def __init__(self, proxy: Proxy, target: str) -> None:
        self.proxy = proxy
        self.target = target
        self._buf = bytearray()
        self._head = _Head()
        self.extra = b""

    @property
    def status(self) -> int:
        return self._head.status

    @property
    def reason(self) -> str:
        return self._head.reason.decode("latin-1").strip()

    def feed(self, data: bytes) -> bool:
        """Add bytes from the proxy; True when the answer's head is complete."""
        self._buf += data
        end = self._buf.find(b"\r\n\r\n")
        size = 4
        lf = self._buf.find(b"\n\n")
        if lf != -1 and (end == -1 or lf < end):
            end, size = lf, 2
        if end == -1:
            if len(self._buf) > MAX_REPLY_BYTES:
                raise TunnelError(f"{self._who()} sent an answer head over {MAX_REPLY_BYTES} bytes")
            return False
        head, self.extra = bytes(self._buf[: end + size]), bytes(self._buf[end + size :])
        parser = httptools.HttpResponseParser(self._head)
        lenient = getattr(parser, "set_dangerous_leniencies", None)
        if lenient is not None:
            lenient(lenient_optional_cr_before_lf=True)
        try:
            parser.feed_data(head)
        except httptools.HttpParserError as exc:
            raise TunnelError(f"{self._who()} sent a malformed answer to CONNECT: {exc}") from None
        if not self._head.complete:
            raise TunnelError(f"{self._who()} sent a malformed answer to CONNECT")
        self._head.status = parser.get_status_code()
        return True

    def eof(self) -> TunnelError:
        """The error for a proxy that closed before its answer was complete."""
        return TunnelError(f"{self._who()} closed the connection before answering CONNECT")

    def check(self) -> None:
        """Raise :class:`TunnelError` unless the tunnel is open."""
        status = self.status
        if 200 <= status < 300:
            if self.extra:
                raise TunnelError(f"{self._who()} sent data before the TLS handshake")
            return
        reason = f" {self.reason}" if self.reason else ""
        hint = _HINTS.get(status)
        if status in (401, 407):
            hint = (
                f"{hint}: the proxy refused the credentials of its URL"
                if self.proxy.username is not None
                else f"{hint}: put credentials in the proxy URL, http://user:password@host:port"
            )
        more = f" ({hint})" if hint else ""
        raise TunnelError(
            f"{self._who()} answered CONNECT {self.target} with HTTP {status}{reason}{more}"
        )

    def _who(self) -> str:
        return f"proxy {self.proxy.netloc} (from {self.proxy.source})"
