"""Following redirects (``get -L``) as curl does, without leaking credentials.

A 301, 302, 303, 307 or 308 with a ``Location`` is followed up to
``--max-redirs`` times (default 10; curl's is 50, more than a function URL
behind a CDN or a login ever needs). The method changes as curl's does by default:
303 turns anything but HEAD into a GET without a body, 301 and 302 turn a
POST into a GET without a body; 307 and 308 keep the method and the body.

Credentials stay with their origin (scheme, host and port): on a redirect to
another origin ``Authorization`` (SigV4 or Basic), cookies, proxy
credentials, a ``-H Host`` and every header named as a secret
(:func:`lstream_cli.redact.is_secret_header`: ``x-api-key``,
``x-origin-secret``, ...) are dropped. A signed request is signed again for
each hop: with the same credentials for the same origin or another AWS
endpoint (for the region its host names), and not at all for any other host.

Measurement: the record returned is the final request's, measured as any
``get`` (its own connect, headers, TTFB and total from its own start); the
hops before it are listed with their status, target and total time, so the
time the redirects cost is reported apart (``redirect_ms``) and not mixed
into the final TTFB.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING
from urllib.parse import urljoin, urlsplit

from lstream_cli.credentials import is_aws_host
from lstream_cli.redact import is_secret_header, url_host
from lstream_cli.region import region_from_url
from lstream_cli.request import RequestSpec

if TYPE_CHECKING:  # the engine is loaded by the first fetch, not by ``get --help``
    from lstream_cli.engine.single import Progress, SentRequest
    from lstream_cli.measure import MeterOptions
    from lstream_cli.models import RequestRecord
    from lstream_cli.signing import Signer

    OnHead = Callable[[SentRequest, int, tuple[tuple[str, str], ...], str], None]

__all__ = [
    "DEFAULT_MAX_REDIRS",
    "REDIRECT_STATUSES",
    "Followed",
    "Hop",
    "fetch_following",
    "next_request",
    "origin",
    "redirect_target",
    "signer_for",
]

REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
DEFAULT_MAX_REDIRS = 10


@dataclass(frozen=True, slots=True)
class Hop:
    """One redirect followed: who answered it, how, and where it pointed."""

    url: str  # the URL that answered (unredacted: redact to print)
    method: str
    status: int
    location: str  # the absolute URL it pointed to
    total_ns: int  # that request's total time
    dropped: tuple[str, ...]  # header names not forwarded (a new origin)


@dataclass(frozen=True, slots=True)
class Followed:
    """The outcome of a request and the redirects followed on the way."""

    record: RequestRecord  # the final request's measurement
    url: str  # the final URL (unredacted)
    hops: tuple[Hop, ...]
    location: str | None  # a final 3xx's absolute Location (not followed), else None
    stopped_at_max: bool  # a redirect was left unfollowed because of --max-redirs

    @property
    def redirect_ns(self) -> int:
        return sum(h.total_ns for h in self.hops)


def origin(url: str) -> tuple[str, str, int | None]:
    """(scheme, host, port) with the scheme's default port filled in."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port
    except ValueError:
        port = None
    if port is None:
        port = {"http": 80, "https": 443}.get(scheme)
    return scheme, url_host(url), port


def redirect_target(url: str, status: int, headers: tuple[tuple[str, str], ...]) -> str | None:
    """The absolute URL a redirect answer points to, or None (not a redirect)."""
    if status not in REDIRECT_STATUSES:
        return None
    location = next((v for k, v in headers if k.lower() == "location"), None)
    if location is None or not location.strip():
        return None
    target = urljoin(url, location.strip())
    return target.partition("#")[0]


def next_request(
    spec: RequestSpec, status: int, target: str
) -> tuple[RequestSpec, tuple[str, ...]]:
    """The request to send to ``target`` after ``status``, and the headers dropped."""
    method, body = spec.method, spec.body
    if (status == 303 and method != "HEAD") or (status in (301, 302) and method == "POST"):
        method, body = "GET", None
    headers = spec.headers
    dropped: list[str] = []
    if origin(target) != origin(spec.url):
        kept = []
        for name, value in headers:
            if name.lower() == "host" or is_secret_header(name):
                dropped.append(name)
            else:
                kept.append((name, value))
        headers = tuple(kept)
    if body is None:
        headers = tuple((k, v) for k, v in headers if k.lower() != "content-length")
    return replace(spec, url=target, method=method, body=body, headers=headers), tuple(dropped)


def signer_for(first: Signer | None, first_url: str, url: str) -> Signer | None:
    """The signer of a hop to ``url``: the same origin or an AWS endpoint, else none."""
    if first is None:
        return None
    if origin(url) == origin(first_url):
        return first
    if not is_aws_host(url_host(url)) or urlsplit(url).scheme.lower() != "https":
        return None
    region = region_from_url(url) or first.region
    from lstream_cli.signing import Signer

    return Signer(first.credentials, region, first.service, source=first.source)


def fetch_following(
    spec: RequestSpec,
    signer: Signer | None,
    follow: bool,
    max_redirs: int = DEFAULT_MAX_REDIRS,
    sink: Callable[[bytes], object] | None = None,
    on_progress: Callable[[Progress], None] | None = None,
    on_head: OnHead | None = None,
    on_request: Callable[[SentRequest], None] | None = None,
    on_hop: Callable[[Hop], None] | None = None,
    options: MeterOptions | None = None,
) -> Followed:
    """Send ``spec``; with ``follow``, follow its redirects (see the module doc).

    ``on_head`` sees every response head, the redirects' too (as ``curl -iL``
    shows them); only the final response's body reaches ``sink``.
    ``on_hop`` hears of each redirect followed, before the next request.
    ``options`` (``--events``, ``--stall-timeout``) measure every request.
    """
    from lstream_cli.engine.single import fetch

    hops: list[Hop] = []
    current = spec
    while True:
        watch = _Watch(current.url, follow and len(hops) < max_redirs, sink, on_head)
        record = fetch(
            current,
            signer_for(signer, spec.url, current.url),
            # Without a redirect to follow, every body goes to the sink: straight there.
            sink=watch.body if sink is not None and watch.may_follow else sink,
            on_progress=on_progress,
            on_head=watch.head,
            on_request=on_request,
            options=options,
        )
        target = watch.target
        if not watch.following() or target is None or not record.complete:
            return Followed(
                record=record,
                url=current.url,
                hops=tuple(hops),
                location=target if record.status in REDIRECT_STATUSES else None,
                stopped_at_max=follow and target is not None and len(hops) >= max_redirs,
            )
        nxt, dropped = next_request(current, record.status or 0, target)
        hop = Hop(
            current.url, current.method, record.status or 0, target, record.end_ns or 0, dropped
        )
        hops.append(hop)
        if on_hop is not None:
            on_hop(hop)
        current = nxt


class _Watch:
    """One request of the chain: is its answer a redirect to follow? Its body goes away then."""

    def __init__(
        self,
        url: str,
        may_follow: bool,
        sink: Callable[[bytes], object] | None,
        on_head: OnHead | None,
    ) -> None:
        self.url = url
        self.may_follow = may_follow
        self.sink = sink
        self.on_head = on_head
        self.target: str | None = None

    def following(self) -> bool:
        return self.may_follow and self.target is not None

    def head(
        self, sent: SentRequest, status: int, headers: tuple[tuple[str, str], ...], line: str
    ) -> None:
        target = redirect_target(self.url, status, headers)
        if target is not None and urlsplit(target).scheme.lower() in ("http", "https"):
            self.target = target
        if self.on_head is not None:
            self.on_head(sent, status, headers, line)

    def body(self, chunk: bytes) -> None:
        if self.sink is not None and not self.following():
            self.sink(chunk)
