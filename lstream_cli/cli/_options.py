"""Flags shared by several commands, and their conversion to engine values.

``request_options`` adds the shared request flags (-X, -H, -d, --auth,
--profile, --region, --service, --timeout, --insecure) and
``spec_from_options`` turns them into a :class:`RequestSpec`.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass, fields, replace
from typing import TYPE_CHECKING, Any, TypeVar, cast

import click

from lstream_cli._exitcodes import UsageError
from lstream_cli.net.options import resolve_network
from lstream_cli.request import DEFAULT_TIMEOUT_S, RequestSpec, parse_header, read_body

if TYPE_CHECKING:
    from lstream_cli.measure import EventsMode, MeterOptions

__all__ = [
    "RequestFlags",
    "check_url",
    "event_options",
    "json_option",
    "meter_options_from",
    "read_data",
    "request_options",
    "spec_from_options",
]

F = TypeVar("F", bound=Callable[..., Any])

# An HTTP method is a token (RFC 9110 §5.6.2): no spaces, ASCII only.
_METHOD_RE = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
# SigV4 scope parts: regions (us-east-1, us-gov-west-1) and services (lambda, execute-api).
_SCOPE_RE = re.compile(r"[a-z0-9][a-z0-9-]*")
_MAX_TIMEOUT_S = 1_000_000.0  # ~11 days; NaN, infinity and beyond are refused


@dataclass(frozen=True, slots=True)
class RequestFlags:
    """The shared request flags as given; ``to_spec`` validates and converts them."""

    method: str | None
    headers: tuple[str, ...]
    data: str | None
    auth: str
    profile: str | None
    region: str | None
    service: str
    timeout: float | None
    insecure: bool
    proxy: str | None
    noproxy: str | None
    cacert: str | None

    def to_spec(
        self, url: str, auth: str | None = None, *, network_for_url: bool = True
    ) -> RequestSpec:
        """A :class:`RequestSpec` for ``url`` (``auth`` overrides ``--auth``).

        ``network_for_url`` False: ``url`` is a placeholder, so its proxy and
        trust are not checked (the caller checks its real URLs).
        """
        spec = spec_from_options(
            url,
            self.method,
            self.headers,
            self.data,
            self.auth if auth is None else auth,
            self.profile,
            self.region,
            self.service,
            self.timeout,
            self.insecure,
        )
        network = resolve_network(
            url if network_for_url else None,
            self.proxy,
            self.noproxy,
            self.cacert,
            self.insecure,
            self.profile,
        )
        return replace(spec, network=network)


_FLAG_NAMES = tuple(f.name for f in fields(RequestFlags))


def request_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """Add the shared request flags; the command receives them as ``request: RequestFlags``."""

    @functools.wraps(f)
    def command(*args: Any, **kwargs: Any) -> Any:
        flags = RequestFlags(**{name: kwargs.pop(name) for name in _FLAG_NAMES})
        return f(*args, request=flags, **kwargs)

    options = [
        click.option(
            "-X",
            "--method",
            default=None,
            metavar="METHOD",
            help="HTTP method (default GET, or POST with -d).",
        ),
        click.option(
            "-H",
            "--header",
            "headers",
            multiple=True,
            metavar="'K: V'",
            help="Extra request header; repeatable (control characters refused).",
        ),
        click.option(
            "-d",
            "--data",
            default=None,
            metavar="DATA",
            help="Request body: text, @file, or @- for stdin (up to 64 MiB).",
        ),
        click.option(
            "--auth",
            type=click.Choice(["auto", "iam", "none"]),
            default="auto",
            show_default=True,
            help="SigV4-sign the request: auto signs when credentials are found (no "
            "instance/container metadata for a non-AWS host); iam insists.",
        ),
        click.option("--profile", default=None, help="AWS profile for credentials and region."),
        click.option(
            "--region",
            default=None,
            help="Signing region (default: the URL's AWS host, else AWS_REGION, "
            "AWS_DEFAULT_REGION, the profile's).",
        ),
        click.option(
            "--service", default="lambda", show_default=True, help="Signing service name."
        ),
        click.option(
            "--timeout",
            type=float,
            default=DEFAULT_TIMEOUT_S,
            show_default=True,
            metavar="SECONDS",
            help="Give up when connecting, or waiting for the next byte, takes longer (0 = never).",
        ),
        click.option(
            "-k", "--insecure", is_flag=True, help="Do not verify the server's TLS certificate."
        ),
        click.option(
            "-x",
            "--proxy",
            default=None,
            metavar="URL",
            help="HTTP proxy, http://[user:password@]host[:port] ('' = none); "
            "default: HTTPS_PROXY, HTTP_PROXY, ALL_PROXY (see docs/network.md).",
        ),
        click.option(
            "--noproxy",
            default=None,
            metavar="LIST",
            help="Hosts, domains, IPs or CIDRs to reach directly, comma-separated "
            "('*' = all); replaces NO_PROXY.",
        ),
        click.option(
            "--cacert",
            default=None,
            metavar="FILE",
            help="Verify TLS with the CA certificates in FILE (PEM) instead of "
            "AWS_CA_BUNDLE, the profile's ca_bundle or the system store.",
        ),
    ]
    decorated: Callable[..., Any] = command
    for option in reversed(options):
        decorated = option(decorated)
    return decorated


def json_option(f: F) -> F:
    return click.option(
        "--json",
        "json_path",
        default=None,
        metavar="PATH",
        help="Write the machine-readable result to PATH ('-' = stdout).",
    )(f)


def check_url(url: str) -> str:
    """Reject what cannot be an http(s) URL before anything is sent.

    Messages show the URL redacted; a parser's own words are left out when
    the URL holds a secret (they may quote part of it).
    """
    from lstream_cli.redact import redact_url, url_secrets
    from lstream_cli.url import parse_url

    shown = redact_url(url)
    try:
        parsed = parse_url(url)
        parsed.host_text  # noqa: B018  (a malformed IDNA A-label fails here)
    except (TypeError, ValueError) as exc:
        why = "it does not parse" if url_secrets(url) else str(exc)
        raise UsageError(f"invalid URL {shown!r}: {why}") from None
    if parsed.scheme not in ("http", "https"):
        raise UsageError(f"invalid URL {shown!r}: the scheme must be http or https")
    if not parsed.host:
        raise UsageError(f"invalid URL {shown!r}: no host")
    if parsed.port is not None and not 0 < parsed.port < 65536:
        raise UsageError(f"invalid URL {shown!r}: the port must be 1 to 65535")
    return url


def read_data(data: str | None) -> bytes | None:
    """``-d`` value to bytes: text, ``@file`` or ``@-`` (stdin), bounded in size."""
    return read_body(data)


def spec_from_options(
    url: str,
    method: str | None,
    headers: tuple[str, ...],
    data: str | None,
    auth: str,
    profile: str | None,
    region: str | None,
    service: str,
    timeout: float | None,
    insecure: bool,
) -> RequestSpec:
    check_url(url)
    if timeout is not None and not 0 <= timeout <= _MAX_TIMEOUT_S:
        raise UsageError(
            f"--timeout must be 0 (never) or a number of seconds up to {_MAX_TIMEOUT_S:,.0f}"
        )
    if region is not None and not _SCOPE_RE.fullmatch(region):
        raise UsageError(f"invalid --region {region!r}: expected a name such as us-east-1")
    if not _SCOPE_RE.fullmatch(service):
        raise UsageError(f"invalid --service {service!r}: expected a name such as lambda")
    if method is not None and not _METHOD_RE.fullmatch(method):
        raise UsageError(f"invalid method {method!r}: expected a name such as GET or POST")
    body = read_data(data)
    return RequestSpec(
        url=url,
        method=(method or ("POST" if body is not None else "GET")).upper(),
        headers=tuple(parse_header(h) for h in headers),
        body=body,
        auth=auth,
        profile=profile,
        region=region,
        service=service,
        timeout=timeout if timeout else None,
        insecure=insecure,
    )


def event_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """Add ``--events`` and ``--stall-timeout``; the command receives ``meter_options``."""

    @functools.wraps(f)
    def command(*args: Any, **kwargs: Any) -> Any:
        meter = meter_options_from(kwargs.pop("events"), kwargs.pop("stall_timeout"))
        return f(*args, meter_options=meter, **kwargs)

    decorated = click.option(
        "--stall-timeout",
        default=None,
        metavar="DURATION",
        help="End a stream as 'stalled' when no event (no byte, without --events) "
        "arrives for this long after the first byte, e.g. 2s.",
    )(command)
    return click.option(
        "--events",
        type=click.Choice(["sse", "ndjson", "lines", "auto"]),
        default=None,
        help="Count events in the body: time to first event, gaps between events, "
        "events/s (auto: from the Content-Type). See docs/events.md.",
    )(decorated)


def meter_options_from(events: str | None, stall_timeout: str | None) -> MeterOptions:
    """``--events`` and ``--stall-timeout`` as the run's :class:`MeterOptions`."""
    from lstream_cli.measure import MeterOptions
    from lstream_cli.units import parse_duration

    stall_ns: int | None = None
    if stall_timeout is not None:
        try:
            seconds = parse_duration(stall_timeout)
        except ValueError as exc:
            raise UsageError(f"--stall-timeout: {exc}") from None
        if not 0 < seconds <= _MAX_TIMEOUT_S:
            raise UsageError("--stall-timeout must be more than 0 and at most 1,000,000 s")
        stall_ns = int(seconds * 1e9)
    return MeterOptions(events=cast("EventsMode | None", events), stall_timeout_ns=stall_ns)
