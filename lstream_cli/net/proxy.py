"""Which proxy a request goes through, chosen as curl chooses it.

Order, for a URL with scheme ``http`` or ``https``:

1. ``--noproxy LIST`` if given, else ``no_proxy``, else ``NO_PROXY``: a host
   on that list goes direct, whatever else is set (``--proxy`` included);
2. ``--proxy URL`` (``--proxy ''``: no proxy at all, the environment ignored);
3. ``https_proxy`` then ``HTTPS_PROXY`` for an https URL; ``http_proxy`` then
   ``HTTP_PROXY`` for an http URL. curl ignores the upper-case
   ``HTTP_PROXY`` (a CGI program gets a request's ``Proxy:`` header in it);
   lstream honours it, as httpx and requests do, except when
   ``REQUEST_METHOD`` is set (it runs as a CGI program), as Python's urllib;
4. ``all_proxy`` then ``ALL_PROXY``.

A variable that is set but empty counts as set and means "no proxy" (curl).

The list (``NO_PROXY``): comma- or blank-separated; ``*`` alone matches
every host; a name matches itself and its sub-domains, with or without a
leading dot (``example.com`` and ``.example.com`` both match
``api.example.com`` and ``example.com``, never ``notexample.com``); an IP
literal or a CIDR block (``10.0.0.0/8``, ``::1``, ``fd00::/8``) matches
addresses, never names (nothing is resolved). Case and a trailing dot do not
matter; a port in an entry is not supported (curl neither): such an entry
matches nothing.

Proxy URLs: ``http://[user[:password]@]host[:port]`` (scheme-less means
http; the port defaults to 1080, as in curl). The user and password are
percent-decoded and sent as ``Proxy-Authorization: Basic``; they are never
printed (:meth:`Proxy.display`). Other schemes (``https://``, ``socks5://``
...) are refused with a usage error.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import quote, unquote, urlsplit

from lstream_cli._exitcodes import UsageError
from lstream_cli.redact import redact_url

if TYPE_CHECKING:
    import ipaddress

__all__ = [
    "DEFAULT_PROXY_PORT",
    "PROXY_VARIABLES",
    "Proxy",
    "ProxySettings",
    "no_proxy_matches",
    "parse_proxy_url",
]

DEFAULT_PROXY_PORT = 1080  # curl's default for a proxy URL without a port
# What is read from the environment, in the order it is consulted.
PROXY_VARIABLES = (
    "no_proxy",
    "NO_PROXY",
    "https_proxy",
    "HTTPS_PROXY",
    "http_proxy",
    "HTTP_PROXY",
    "all_proxy",
    "ALL_PROXY",
    "REQUEST_METHOD",
)
_SOCKS = ("socks4", "socks4a", "socks5", "socks5h")
_SEPARATORS = re.compile(r"[\s,]+")


@dataclass(frozen=True, slots=True)
class Proxy:
    """An HTTP proxy to go through; ``source`` says where it was configured."""

    host: str  # a name or an IP literal (IPv6 without brackets)
    port: int
    source: str  # "--proxy", "HTTPS_PROXY", "all_proxy", ...
    username: str | None = None  # percent-decoded
    password: str | None = field(default=None, repr=False)  # percent-decoded; never printed

    @property
    def netloc(self) -> str:
        """``host:port`` as it goes in a URL (IPv6 in brackets)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    def authorization(self) -> str | None:
        """The ``Proxy-Authorization`` value, or None without credentials."""
        if self.username is None:
            return None
        userpass = f"{self.username}:{self.password or ''}".encode()
        import base64

        return "Basic " + base64.b64encode(userpass).decode("ascii")

    def url(self) -> str:
        """The proxy URL WITH its credentials, for a client that sends them (botocore).

        Never print it: :meth:`display` is the printable form.
        """
        if self.username is None:
            return f"http://{self.netloc}"
        userinfo = quote(self.username, safe="")
        if self.password is not None:
            userinfo += ":" + quote(self.password, safe="")
        return f"http://{userinfo}@{self.netloc}"

    def display(self) -> str:
        """The proxy URL fit to print: the password is never shown (the one redaction)."""
        return redact_url(self.url())

    def describe(self) -> str:
        """``http://host:port (from HTTPS_PROXY)``, for ``-v``."""
        return f"{self.display()} (from {self.source})"


def parse_proxy_url(text: str, source: str) -> Proxy:
    """``text`` (from ``source``) as a :class:`Proxy`; raises UsageError if unusable."""
    shown = redact_url(text)  # the one redaction, which works on URLs that do not parse

    def refuse(why: str) -> UsageError:
        return UsageError(f"invalid proxy {shown!r} (from {source}): {why}")

    raw = text.strip()
    if "://" not in raw:
        raw = "http://" + raw
    try:
        parts = urlsplit(raw)
        port = parts.port
    except ValueError as exc:
        raise refuse(str(exc) or "not a URL") from None
    scheme = parts.scheme.lower()
    if scheme in _SOCKS:
        raise refuse("SOCKS proxies are not supported; use an http:// proxy")
    if scheme == "https":
        raise refuse(
            "https:// proxies are not supported; use an http:// proxy "
            "(an https:// URL is still encrypted end to end through it)"
        )
    if scheme != "http":
        raise refuse(f"the scheme {scheme!r} is not supported; use an http:// proxy")
    host = parts.hostname
    if not host:
        raise refuse("no host")
    if port == 0:
        raise refuse("the port must be 1 to 65535")
    username = None if parts.username is None else unquote(parts.username)
    password = None if parts.password is None else unquote(parts.password)
    return Proxy(host, port or DEFAULT_PROXY_PORT, source, username, password)


def _split(patterns: str) -> list[str]:
    return [p for p in _SEPARATORS.split(patterns.strip()) if p]


def _ip(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    import ipaddress  # only for a --noproxy / NO_PROXY list: not on every run's path

    try:
        return ipaddress.ip_address(host.strip("[]").split("%", 1)[0])
    except ValueError:
        return None


def no_proxy_matches(host: str, patterns: str) -> bool:
    """Whether ``host`` (a URL's host) is on the no-proxy list ``patterns``."""
    if patterns.strip() == "*":
        return True
    address = _ip(host)
    name = host.lower().rstrip(".")
    for token in _split(patterns):
        if address is not None:
            import ipaddress

            try:
                network = ipaddress.ip_network(token.strip("[]"), strict=False)
            except ValueError:
                continue  # a name never matches an address (nothing is resolved)
            if address.version == network.version and address in network:
                return True
            continue
        pattern = token.lower().strip(".")
        if pattern and (name == pattern or name.endswith("." + pattern)):
            return True
    return False


@dataclass(frozen=True, slots=True)
class ProxySettings:
    """The proxy flags and variables of a run; :meth:`select` picks for a URL.

    A plain value (picklable): the load engine's worker processes get it
    with the request spec and choose exactly as the parent did.
    """

    # Proxy URLs may hold passwords: kept out of repr (tracebacks, debug output).
    proxy: str | None = field(default=None, repr=False)  # --proxy; "" = no proxy
    noproxy: str | None = None  # --noproxy; overrides no_proxy/NO_PROXY
    environ: tuple[tuple[str, str], ...] = field(default=(), repr=False)  # PROXY_VARIABLES set

    @classmethod
    def from_environ(
        cls,
        proxy: str | None = None,
        noproxy: str | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> ProxySettings:
        env = os.environ if environ is None else environ
        found = tuple((name, env[name]) for name in PROXY_VARIABLES if name in env)
        return cls(proxy, noproxy, found)

    def _env(self, *names: str) -> tuple[str, str] | None:
        values = dict(self.environ)
        for name in names:
            if name in values:
                return name, values[name]
        return None

    def bypass_list(self) -> tuple[str, str] | None:
        """The no-proxy list in force and where it came from, if any."""
        if self.noproxy is not None:
            return "--noproxy", self.noproxy
        return self._env("no_proxy", "NO_PROXY")

    def select(self, scheme: str, host: str) -> Proxy | None:
        """The proxy for a ``scheme://host`` URL, or None to go direct.

        Raises UsageError when the proxy that applies cannot be used.
        """
        bypass = self.bypass_list()
        if bypass is not None and no_proxy_matches(host, bypass[1]):
            return None
        if self.proxy is not None:
            chosen: tuple[str, str] | None = ("--proxy", self.proxy)
        else:
            scheme = scheme.lower()
            names = [f"{scheme}_proxy", f"{scheme.upper()}_PROXY"]
            if scheme == "http" and self._env("REQUEST_METHOD") is not None:
                names.pop()  # a CGI program: HTTP_PROXY may come from a request header
            chosen = self._env(*names) or self._env("all_proxy", "ALL_PROXY")
        if chosen is None or not chosen[1].strip():
            return None
        source, text = chosen
        return parse_proxy_url(text, source)
