"""The run's network choices as the client core's routes and TLS context.

Both shells (``get``'s blocking client and the load engine) ask this module,
so they go through the same proxy and trust the same CA bundle:

- :func:`route_picker`: for an :class:`~lstream_cli.engine.core.Origin`,
  the :class:`~lstream_cli.engine.core.Route` the proxy settings choose
  (:mod:`lstream_cli.net.proxy`): direct; through a CONNECT tunnel for https
  (:class:`ConnectStep`, one per connection; TLS then runs inside it with the
  origin's name for SNI and the certificate check); or absolute-form with
  ``Proxy-Authorization`` for plain http;
- :func:`tls_context`: the context of the resolved
  :class:`~lstream_cli.net.trust.Trust`, built before anything is timed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from lstream_cli.engine.core import USER_AGENT, Origin, Route, SetupError
from lstream_cli.net.options import Network
from lstream_cli.net.proxy import Proxy
from lstream_cli.net.trust import Trust

if TYPE_CHECKING:
    import ssl

__all__ = ["ConnectStep", "route_picker", "tls_context", "trust_for"]


class ConnectStep:
    """One connection's CONNECT exchange (the core's ``Tunnel``)."""

    def __init__(self, proxy: Proxy, host: str, port: int) -> None:
        # A proxy's tunnel only: a direct connection never loads the CONNECT code.
        from lstream_cli.net.tunnel import TunnelReply, authority, connect_request

        self._request = connect_request(host, port, proxy, USER_AGENT)
        self._reply = TunnelReply(proxy, authority(host, port))

    def request(self) -> bytes:
        return self._request

    def feed(self, data: bytes) -> bool:
        """True once the tunnel is open; raises SetupError when the proxy refuses."""
        from lstream_cli.net.tunnel import TunnelError

        try:
            if not self._reply.feed(data):
                return False
            self._reply.check()
        except TunnelError as exc:
            raise SetupError(exc.error, str(exc)) from None
        return True


def route_picker(network: Network) -> Callable[[Origin], Route]:
    """The core's ``route_for``: the route ``network`` chooses for an origin."""

    def pick(origin: Origin) -> Route:
        host = f"[{origin.host}]" if ":" in origin.host else origin.host
        chosen = network.route(f"{origin.scheme}://{host}:{origin.port}/")
        proxy = chosen.proxy
        if proxy is None:
            return Route.direct(origin)
        if chosen.tunnel:

            def step() -> ConnectStep:
                return ConnectStep(proxy, origin.host, origin.port)

            return Route(proxy.host, proxy.port, tunnel=step, label=proxy.describe())
        return Route(
            proxy.host,
            proxy.port,
            absolute_form=True,
            headers=chosen.proxy_headers(),
            label=proxy.describe(),
        )

    return pick


def trust_for(network: Network, url: str, insecure: bool) -> Trust | None:
    """The trust of TLS handshakes to ``url``'s run (None: a plain-http run)."""
    if network.trust is not None or url.lower().startswith("https:") or insecure:
        return network.tls_trust()
    return None


def tls_context(network: Network, url: str, insecure: bool) -> ssl.SSLContext | bool:
    """What the shells take as ``verify``: the trust's ready context, or a flag."""
    trust = trust_for(network, url, insecure)
    return trust.context() if trust is not None else not insecure
