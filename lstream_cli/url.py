"""URL parsing and the wire form of a URL: what is sent, and so what is signed.

A request's URL is parsed once, validated and normalised (RFC 3986, with the
WHATWG URL standard's percent-encode sets), and that one form is used
everywhere: the request target and ``Host`` header written on the wire
(:mod:`lstream_cli.engine.core`), the URL the SigV4 signature covers
(:mod:`lstream_cli.signing`), and ``-v``'s request line. What it does:

- the scheme and the host are lower-cased; a non-ASCII host is encoded with
  IDNA 2008 (``idna``), an IPv4 or bracketed IPv6 literal must be valid;
- the port is a number and is dropped when it is the scheme's default;
- ``.`` and ``..`` path segments are resolved;
- characters outside each part's safe set are percent-encoded as UTF-8,
  existing ``%XX`` escapes are left as they are (never encoded twice);
- a query is kept apart from an absent one (``/p?`` is not ``/p``), and so is
  a fragment; control characters anywhere refuse the URL.

This is the form httpx gives the same URL, so a signature made here matches
what an httpx-based client would send. Only the standard library is imported
(``idna`` only for a non-ASCII host), which keeps ``lstream get``'s start-up
short.
"""

from __future__ import annotations

import re
from typing import NamedTuple

__all__ = ["URL", "InvalidURL", "parse_url"]

_MAX_LENGTH = 65536
_DEFAULT_PORTS = {"ftp": 21, "http": 80, "https": 443, "ws": 80, "wss": 443}

_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")


def _printable_except(*excluded: int) -> frozenset[str]:
    return frozenset(chr(i) for i in range(0x20, 0x7F) if i not in excluded)


# Percent-encode sets (the WHATWG URL standard): what each part may keep as is.
_QUERY_SAFE = _printable_except(0x20, 0x22, 0x23, 0x3C, 0x3E) | _UNRESERVED
_PATH_SAFE = _QUERY_SAFE - set("?`{}")
_FRAGMENT_SAFE = _printable_except(0x20, 0x22, 0x3C, 0x3E, 0x60) | _UNRESERVED
_USERINFO_SAFE = _PATH_SAFE - set("/;=@[\\]^|")
_HOST_SAFE = _UNRESERVED | frozenset("!$&'()*+,;=" + '"`{}%|\\')

_URL_RE = re.compile(
    r"(?:(?P<scheme>(?:[a-zA-Z][a-zA-Z0-9+.-]*)?):)?"
    r"(?://(?P<authority>[^/?#]*))?"
    r"(?P<path>[^?#]*)"
    r"(?:\?(?P<query>[^#]*))?"
    r"(?:#(?P<fragment>.*))?",
    re.DOTALL,
)
_AUTHORITY_RE = re.compile(
    r"(?:(?P<userinfo>.*)@)?(?P<host>\[.*\]|[^:@]*):?(?P<port>.*)?", re.DOTALL
)
_ESCAPE_RE = re.compile("%[A-Fa-f0-9]{2}")
_IPV4_LIKE = re.compile(r"^[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+$")


class InvalidURL(ValueError):
    """The text is not a URL that can be sent; the message says which part is wrong."""


class URL(NamedTuple):
    """A parsed, normalised URL; every part is ASCII (percent- or IDNA-encoded)."""

    scheme: str
    userinfo: str
    host: str  # IDNA-encoded, IPv6 without brackets
    port: int | None  # None: absent or the scheme's default
    path: str
    query: str | None  # None: no '?'
    fragment: str | None  # None: no '#'

    @property
    def host_text(self) -> str:
        """The host as a person writes it (an ``xn--`` IDNA host decoded)."""
        host = self.host
        if host.startswith("xn--"):  # as httpx: a host that begins with an A-label
            import idna

            try:
                return str(idna.decode(host))
            except idna.IDNAError as exc:
                raise InvalidURL(str(exc)) from None
        return host

    @property
    def netloc(self) -> str:
        """``host[:port]`` as the ``Host`` header carries it (IPv6 in brackets)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port is None else f"{host}:{self.port}"

    @property
    def raw_path(self) -> str:
        """The request target in origin form: path (``/`` when empty) and query."""
        path = self.path or "/"
        return path if self.query is None else f"{path}?{self.query}"

    @property
    def effective_port(self) -> int | None:
        """The port connected to: the given one, else the scheme's default."""
        return self.port if self.port is not None else _DEFAULT_PORTS.get(self.scheme)

    def __str__(self) -> str:
        authority = self.netloc
        if self.userinfo:
            authority = f"{self.userinfo}@{authority}"
        return "".join(
            (
                f"{self.scheme}:" if self.scheme else "",
                f"//{authority}" if authority else "",
                self.path,
                "" if self.query is None else f"?{self.query}",
                "" if self.fragment is None else f"#{self.fragment}",
            )
        )


def parse_url(text: str) -> URL:
    """Parse and normalise ``text``; raises :class:`InvalidURL` saying what is wrong."""
    if not isinstance(text, str):
        raise TypeError(f"a URL must be text, not {type(text).__name__}")
    if len(text) > _MAX_LENGTH:
        raise InvalidURL("URL too long")
    for index, char in enumerate(text):
        if char < " " or char == "\x7f":
            raise InvalidURL(
                f"Invalid non-printable ASCII character in URL, {char!r} at position {index}."
            )
    m = _URL_RE.match(text)
    assert m is not None  # every part is optional: it always matches
    given_scheme = m.group("scheme") or ""
    scheme = given_scheme.lower()
    authority = _AUTHORITY_RE.match(m.group("authority") or "")
    assert authority is not None
    userinfo = _quote(authority.group("userinfo") or "", _USERINFO_SAFE)
    host = _encode_host(authority.group("host") or "")
    # The default port is dropped for the scheme as written: ``HTTP://h:80`` keeps it.
    port = _port(authority.group("port"), given_scheme)
    path = m.group("path") or ""
    has_authority = bool(userinfo or host or port is not None)
    if has_authority and path and not path.startswith("/"):
        raise InvalidURL("For absolute URLs, path must be empty or begin with '/'")
    if not scheme and not has_authority:
        if path.startswith("//"):
            raise InvalidURL("Relative URLs cannot have a path starting with '//'")
        if path.startswith(":"):
            raise InvalidURL("Relative URLs cannot have a path starting with ':'")
    if scheme or has_authority:
        path = _remove_dot_segments(path)
    query, fragment = m.group("query"), m.group("fragment")
    return URL(
        scheme,
        userinfo,
        host,
        port,
        _quote(path, _PATH_SAFE),
        None if query is None else _quote(query, _QUERY_SAFE),
        None if fragment is None else _quote(fragment, _FRAGMENT_SAFE),
    )


def _encode_host(host: str) -> str:
    if not host:
        return ""
    if _IPV4_LIKE.match(host):
        import ipaddress

        try:
            ipaddress.IPv4Address(host)
        except ValueError:
            raise InvalidURL(f"Invalid IPv4 address: {host!r}") from None
        return host
    if host.startswith("[") and host.endswith("]"):
        import ipaddress

        try:
            ipaddress.IPv6Address(host[1:-1])
        except ValueError:
            raise InvalidURL(f"Invalid IPv6 address: {host!r}") from None
        return host[1:-1]
    if host.isascii():
        return _quote(host.lower(), _HOST_SAFE)
    import idna

    try:
        return str(idna.encode(host.lower()).decode("ascii"))
    except idna.IDNAError:
        raise InvalidURL(f"Invalid IDNA hostname: {host!r}") from None


def _port(port: str | None, scheme: str) -> int | None:
    if not port:
        return None
    try:
        number = int(port)
    except ValueError:
        raise InvalidURL(f"Invalid port: {port!r}") from None
    return None if number == _DEFAULT_PORTS.get(scheme) else number


def _remove_dot_segments(path: str) -> str:
    """RFC 3986 §5.2.4: ``/a/./b/../c`` -> ``/a/c``."""
    if "." not in path:
        return path
    segments = path.split("/")
    if "." not in segments and ".." not in segments:
        return path
    out: list[str] = []
    for segment in segments:
        if segment == ".":
            continue
        if segment == "..":
            if out and out != [""]:
                out.pop()
        else:
            out.append(segment)
    return "/".join(out)


def _quote(text: str, safe: frozenset[str]) -> str:
    """Percent-encode what ``safe`` does not hold, as UTF-8; ``%XX`` escapes stay."""
    if all(char in safe for char in text):
        return text
    out: list[str] = []
    pos = 0
    for m in _ESCAPE_RE.finditer(text):
        out.append(_encode(text[pos : m.start()], safe))
        out.append(m.group(0))
        pos = m.end()
    out.append(_encode(text[pos:], safe))
    return "".join(out)


def _encode(text: str, safe: frozenset[str]) -> str:
    return "".join(
        char if char in safe else "".join(f"%{b:02X}" for b in char.encode("utf-8"))
        for char in text
    )
