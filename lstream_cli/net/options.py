"""The resolved network choices of a run, carried by the request spec.

:func:`resolve_network` turns ``--proxy``, ``--noproxy``, ``--cacert``,
``-k`` and ``--profile`` plus the environment into a :class:`Network`, once,
before anything is timed; every client (``get``'s, the load engine's
workers, compare-modes' URL modes and its botocore client) asks it for the
proxy of a URL and the trust of a TLS handshake, so all of them choose alike.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from lstream_cli.net.proxy import Proxy, ProxySettings
from lstream_cli.net.trust import Trust, resolve_trust

if TYPE_CHECKING:
    from lstream_cli.request import RequestSpec

__all__ = ["Network", "Route", "network_of", "resolve_network"]


@dataclass(frozen=True, slots=True)
class Route:
    """How a request reaches one origin: directly, through a tunnel, or forwarded.

    A decision, not a connection: ``engine/routes.py`` turns it into the
    client core's route. :attr:`tunnel` (https through a proxy): TCP to the
    proxy, CONNECT (:mod:`lstream_cli.net.tunnel`), then TLS with the
    ORIGIN's :attr:`host` as SNI and for the certificate check.
    :attr:`forward` (plain http through a proxy): the request line carries
    :meth:`target` (absolute-form) and the :meth:`proxy_headers`.
    """

    scheme: str  # the origin's: "http" or "https"
    host: str  # the origin's host (IPv6 without brackets)
    port: int
    proxy: Proxy | None = None

    @property
    def tls(self) -> bool:
        return self.scheme == "https"

    @property
    def tunnel(self) -> bool:
        """https through a proxy: CONNECT first, then TLS inside the tunnel."""
        return self.proxy is not None and self.tls

    @property
    def forward(self) -> bool:
        """http through a proxy: absolute-form requests to the proxy."""
        return self.proxy is not None and not self.tls

    @property
    def origin(self) -> str:
        """``scheme://host[:port]`` as an absolute-form target begins."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        default = 443 if self.tls else 80
        port = "" if self.port == default else f":{self.port}"
        return f"{self.scheme}://{host}{port}"

    def target(self, origin_form: str) -> str:
        """The request target: ``origin_form`` (``/path?q``), absolute when forwarded."""
        return self.origin + origin_form if self.forward else origin_form

    def proxy_headers(self) -> tuple[tuple[str, str], ...]:
        """Headers a forwarded request adds (the proxy's credentials)."""
        if not self.forward or self.proxy is None:
            return ()
        credentials = self.proxy.authorization()
        return () if credentials is None else (("Proxy-Authorization", credentials),)


@dataclass(frozen=True, slots=True)
class Network:
    """Proxy settings and TLS trust for a run (a plain, picklable value)."""

    proxies: ProxySettings = field(default_factory=ProxySettings)
    trust: Trust | None = None  # None until a TLS handshake needs it (plain-http URLs)
    cacert: str | None = None
    insecure: bool = False
    profile: str | None = None

    def proxy_for(self, url: str) -> Proxy | None:
        """The proxy for ``url``, or None to connect directly."""
        return self.route(url).proxy

    def route(self, url: str) -> Route:
        """The :class:`Route` to ``url`` (an http or https URL)."""
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        port = parts.port or (443 if scheme == "https" else 80)
        host = parts.hostname or ""
        return Route(scheme, host, port, self.proxies.select(scheme, host))

    def ready_for(self, urls: Iterable[str]) -> Network:
        """This network with its trust resolved now if one of ``urls`` is https."""
        if self.trust is None and any(urlsplit(u).scheme.lower() == "https" for u in urls):
            return replace(self, trust=self.tls_trust())
        return self

    def tls_trust(self) -> Trust:
        """The trust for TLS handshakes (resolved now if it was not yet)."""
        if self.trust is not None:
            return self.trust
        return resolve_trust(self.cacert, self.insecure, self.profile)

    def for_botocore(
        self, endpoint_url: str
    ) -> tuple[bool | str | None, tuple[tuple[str, str], ...]]:
        """``verify=`` and ``Config(proxies=...)`` for a botocore client of ``endpoint_url``.

        The same choices as the URL clients: the resolved CA bundle (None, botocore's
        own default, when nothing was configured) and the proxy this network picks
        for the endpoint (an empty mapping: direct, botocore's environment lookup
        skipped, so NO_PROXY and --noproxy mean the same for it).
        """
        verify = self.tls_trust().botocore_verify() if endpoint_url.startswith("https") else None
        if self.insecure:
            verify = False
        proxy = self.proxy_for(endpoint_url)
        if proxy is None:
            return verify, ()
        return verify, ((urlsplit(endpoint_url).scheme.lower(), proxy.url()),)

    def path_of(self, url: str) -> tuple[str | None, str | None]:
        """The proxy and the CA bundle of a request to ``url``, described for a
        result file (no password); None for a direct request / a plain-http one."""
        proxy = self.proxy_for(url)
        https = urlsplit(url).scheme.lower() == "https"
        return (
            proxy.describe() if proxy is not None else None,
            self.tls_trust().describe() if https else None,
        )

    def describe(self, url: str) -> list[str]:
        """What ``-v`` says about the path to ``url``: the proxy, the CA bundle."""
        proxy, bundle = self.path_of(url)
        lines = [f"proxy: {proxy or 'none (direct)'}"]
        if bundle is not None:
            lines.append(f"CA bundle: {bundle}")
        return lines


def resolve_network(
    url: str | None,
    proxy: str | None = None,
    noproxy: str | None = None,
    cacert: str | None = None,
    insecure: bool = False,
    profile: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> Network:
    """The :class:`Network` for a run on ``url``; raises UsageError (exit 2)
    for a proxy that cannot be used or a CA bundle that cannot be read.

    ``url`` None: the run's URLs are not known yet (compare-modes); the
    caller checks them with :meth:`Network.ready_for` and :meth:`Network.route`.
    """
    proxies = ProxySettings.from_environ(proxy, noproxy, environ)
    network = Network(proxies, None, cacert, insecure, profile)
    if url is not None:
        network.proxy_for(url)  # a bad proxy is a usage error now, not a failed request later
    if (url is not None and urlsplit(url).scheme.lower() == "https") or cacert is not None:
        trust = resolve_trust(cacert, insecure, profile, environ)
        network = Network(proxies, trust, cacert, insecure, profile)
    return network


def network_of(spec: RequestSpec) -> Network:
    """``spec``'s network, or the environment's when the spec carries none."""
    if spec.network is not None:
        return spec.network
    return resolve_network(spec.url, insecure=spec.insecure, profile=spec.profile)
