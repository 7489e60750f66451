"""What to send: the request spec shared by get, bench and compare-modes.

The CLI turns flags into a :class:`RequestSpec`; :func:`prepare_auth`
resolves ``--auth auto|iam|none`` into a signer (or none) once, before any
timing starts, exactly as oha and httpx start the clock after auth.
"""

from __future__ import annotations

import os
import re
import stat
import sys
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, BinaryIO
from urllib.parse import unquote

from lstream_cli._exitcodes import UsageError
from lstream_cli.credentials import (
    credential_sources,
    describe_source,
    is_aws_host,
    load_session,
    may_have_credentials,
    resolve_credentials,
    resolve_env_credentials,
)
from lstream_cli.net.options import Network
from lstream_cli.redact import authority_span, url_host
from lstream_cli.region import RegionError, region_from_url, resolve_region

if TYPE_CHECKING:
    from lstream_cli.signing import Signer

__all__ = [
    "MAX_BODY_BYTES",
    "RequestSpec",
    "auth_summary",
    "parse_header",
    "prepare",
    "prepare_auth",
    "prepare_invoke",
    "read_body",
    "url_userinfo",
]

DEFAULT_TIMEOUT_S = 30.0
# The largest -d body read into memory. A function URL takes at most 6 MB
# (a synchronous invocation's payload); this leaves room for other servers
# while a -d @/dev/zero or a huge file stops with one clear line.
MAX_BODY_BYTES = 64 * 2**20
_READ_BLOCK = 2**20
# Headers the signer adds: a -H with one of these names cannot go with signing.
# A header name is a token (RFC 9110 §5.6.2).
_TOKEN_RE = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_SIGNATURE_HEADERS = frozenset(
    {"authorization", "x-amz-date", "x-amz-security-token", "x-amz-content-sha256"}
)


@dataclass(frozen=True, slots=True)
class RequestSpec:
    """One request as the user described it (before signing)."""

    url: str
    method: str = "GET"
    headers: tuple[tuple[str, str], ...] = field(default=())  # as given, in order
    body: bytes | None = None
    auth: str = "auto"  # auto | iam | none
    profile: str | None = None
    region: str | None = None
    service: str = "lambda"
    timeout: float | None = DEFAULT_TIMEOUT_S  # connect and idle-read timeout, seconds
    insecure: bool = False  # skip TLS verification
    # Proxy and TLS trust, resolved once (--proxy, --noproxy, --cacert and the
    # environment); None: resolved from the environment when a client is made.
    network: Network | None = None

    def with_url(self, url: str) -> RequestSpec:
        return replace(self, url=url)


def _control_name(ch: str) -> str:
    names = {"\r": "CR", "\n": "LF", "\x00": "NUL", "\x7f": "DEL"}
    return names.get(ch, f"0x{ord(ch):02X}")


def _first_control(text: str) -> str | None:
    """The first control character of ``text`` (C0 but tab, and DEL), or None."""
    for ch in text:
        if (ord(ch) < 0x20 and ch != "\t") or ch == "\x7f":
            return ch
    return None


def parse_header(text: str) -> tuple[str, str]:
    """``'Name: value'`` -> (name, value); raises UsageError when malformed.

    Messages name the header, never its value (it may be a secret). Control
    characters (CR, LF, NUL and the other C0 ones but tab, and DEL) are
    refused in names and values: sent, they would split the request or be
    read differently by each server on the way.
    """
    name, sep, value = text.partition(":")
    name = name.strip()
    if not sep or not name or not _TOKEN_RE.fullmatch(name):
        # Only the would-be name: what follows may be a secret ('x-api-key=...').
        shown = re.split(r"[\s=]", text.strip(), maxsplit=1)[0]
        if shown != text:
            shown += " ..."
        bad = _first_control(name) if sep else None
        if bad is not None:
            raise UsageError(
                f"invalid header {shown!r}: the name holds a control character "
                f"({_control_name(bad)})"
            )
        if sep and not name.isascii():
            raise UsageError(f"invalid header {shown!r}: the name must be ASCII")
        raise UsageError(f"invalid header {shown!r}: expected 'Name: value'")
    bad = _first_control(value)
    if bad is not None:
        what = "a line break" if bad in "\r\n" else "a control character"
        raise UsageError(f"invalid header {name!r}: the value holds {what} ({_control_name(bad)})")
    if not value.isascii():
        # HTTP gives no encoding for other bytes; AWS signs them as sent. Say so.
        raise UsageError(
            f"invalid header {name!r}: the value must be ASCII (percent- or base64-encode it)"
        )
    return name, value.strip(" \t")


def url_userinfo(url: str) -> tuple[str, str | None, str] | None:
    """``(user, password or None, url without them)`` for a ``user:pw@`` URL, else None."""
    start, end = authority_span(url)
    at = url.rfind("@", start, end)
    if at == -1:
        return None
    user, sep, password = url[start:at].partition(":")
    return unquote(user), (unquote(password) if sep else None), url[:start] + url[at + 1 :]


def prepare(spec: RequestSpec) -> tuple[RequestSpec, Signer | None]:
    """The spec as it will be sent, and its signer (see :func:`prepare_auth`).

    A URL's ``user:password@`` becomes ``Authorization: Basic`` (as curl
    sends it) and leaves the URL, when the request is not signed; with
    signing on it is a usage error (the server would get two credentials).
    A ``-H Authorization`` of the user's own wins over the URL's, as in curl.
    """
    signer = prepare_auth(spec)
    info = url_userinfo(spec.url)
    if info is None:
        return spec, signer
    user, password, bare = info
    own = any(name.lower() == "authorization" for name, _ in spec.headers)
    headers = spec.headers
    if not own:
        import base64

        token = base64.b64encode(f"{user}:{password or ''}".encode()).decode("ascii")
        headers = (*headers, ("Authorization", f"Basic {token}"))
    return replace(spec, url=bare, headers=headers), signer


def prepare_auth(spec: RequestSpec) -> Signer | None:
    """A signer for ``spec`` or None (``--auth none``, or auto with no credentials).

    Raises UsageError for ``--auth iam`` without credentials, credentials
    that are expired or broken, an unknown profile, a signed request whose
    region cannot be told, a signed request whose URL holds a
    ``user:password@``, or a ``-H`` that the signature would set a second
    time. ``--auth auto`` with the user's own ``-H Authorization`` does not
    sign; for a host that is not an AWS endpoint it does not ask the
    instance or container metadata endpoints (:mod:`lstream_cli.credentials`).
    """
    if spec.auth == "none":
        return None
    given = {name.lower() for name, _ in spec.headers}
    if spec.auth == "auto" and "authorization" in given:
        return None  # the user authenticates with their own -H Authorization
    metadata = spec.auth == "iam" or is_aws_host(url_host(spec.url))
    if spec.auth == "auto" and not may_have_credentials(spec.profile, metadata):
        return None  # nowhere to find credentials: decided without loading botocore
    session: Any = None
    found = None
    # Keys in the environment and the region known without a profile: the
    # chain would answer with those keys, so no botocore session is built.
    quick_region = _region_without_session(spec)
    if spec.profile is None and quick_region and "AWS_ACCESS_KEY_ID" in os.environ:
        found = resolve_env_credentials()
    if found is None:
        session = load_session(spec.profile)
        found = resolve_credentials(session, metadata=metadata)
    if found is None:
        if spec.auth == "iam":
            raise UsageError(
                "--auth iam: no AWS credentials found; looked in " + credential_sources(session)
            )
        return None
    if url_userinfo(spec.url) is not None:
        raise UsageError(
            "the URL holds a user name and password (user:password@) and the request "
            f"is SigV4-signed (credentials from {describe_source(found.method, found.profile)}): "
            "remove them from the URL, or use --auth none to send them as Basic auth"
        )
    clash = sorted(given & _SIGNATURE_HEADERS)
    if clash:
        # Sent twice, once unsigned: the server would see two values.
        raise UsageError(
            f"-H {clash[0]}: SigV4 signing sets this header itself; drop the -H, "
            "or use --auth none to send your own"
        )
    try:
        region = quick_region if session is None else resolve_region(spec.url, spec.region, session)
    except RegionError as exc:
        why = str(exc)
        if spec.auth == "auto":  # credentials were found, so auto wants to sign
            why += "; or --auth none to send it unsigned"
        raise UsageError(why) from None
    assert region is not None
    from lstream_cli.signing import Signer  # an unsigned run never loads it

    return Signer(found.credentials, region, spec.service, source=found.describe())


def _region_without_session(spec: RequestSpec) -> str | None:
    """The region when no profile is needed to tell it (lstream_cli.region's order):
    ``--region``, the URL's AWS host, ``AWS_REGION``, ``AWS_DEFAULT_REGION``."""
    for value in (
        spec.region,
        region_from_url(spec.url),
        os.environ.get("AWS_REGION", "").strip(),
        os.environ.get("AWS_DEFAULT_REGION", "").strip(),
    ):
        if value:
            return value
    return None


def read_body(data: str | None) -> bytes | None:
    """``-d`` to bytes: text, ``@file`` or ``@-`` (stdin), at most MAX_BODY_BYTES.

    A file is read in blocks and never past the limit, so ``-d @/dev/zero``
    or a file larger than memory is a usage error, not a MemoryError.
    """
    if data is None:
        return None
    if not data.startswith("@"):
        body = data.encode("utf-8")
        if len(body) > MAX_BODY_BYTES:
            raise UsageError(_too_large("-d", len(body)))
        return body
    name = data[1:]
    shown = "-d @-" if name == "-" else f"-d @{name}"
    try:
        if name == "-":
            if sys.stdin is None:  # started with stdin closed (<&-)
                raise UsageError("cannot read -d @-: stdin is closed")
            return _read_bounded(sys.stdin.buffer, shown)
        with open(name, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            if stat.S_ISREG(os.fstat(fh.fileno()).st_mode) and size > MAX_BODY_BYTES:
                raise UsageError(_too_large(shown, size))
            return _read_bounded(fh, shown)
    except OSError as exc:
        raise UsageError(f"cannot read {shown}: {exc.strerror or exc}") from None


def _too_large(shown: str, size: int | None) -> str:
    what = f"is {size:,} bytes" if size is not None else "goes on"
    return (
        f"{shown}: the body {what}, past the {MAX_BODY_BYTES // 2**20} MiB lstream "
        "sends (a function URL accepts at most 6 MB)"
    )


def _read_bounded(fh: BinaryIO, shown: str) -> bytes:
    body = bytearray()
    while True:
        block = fh.read(min(_READ_BLOCK, MAX_BODY_BYTES + 1 - len(body)))
        if not block:
            return bytes(body)
        body += block
        if len(body) > MAX_BODY_BYTES:
            raise UsageError(_too_large(shown, None))


def auth_summary(given: RequestSpec, sent: RequestSpec, signer: Signer | None) -> str:
    """One line for ``-v``: how the request authenticates (never a secret)."""
    if signer is not None:
        return f"SigV4 ({signer.service}, {signer.region}) with credentials from {signer.source}"
    info = url_userinfo(given.url)
    if info is not None and sent.url != given.url:
        own = any(name.lower() == "authorization" for name, _ in given.headers)
        if own:
            return "not signed: your -H Authorization (the URL's user:password@ is not sent)"
        return f"Basic auth from the URL's user {info[0]!r} (password not shown), not signed"
    if given.auth == "none":
        return "not signed (--auth none)"
    if any(name.lower() == "authorization" for name, _ in given.headers):
        return "not signed: your -H Authorization goes instead"
    if not is_aws_host(url_host(given.url)):
        return (
            "not signed: no AWS credentials found in the environment or the profile files "
            "(instance and container metadata are not asked for a non-AWS host; "
            "--auth iam asks them and insists)"
        )
    return "not signed: no AWS credentials found (--auth iam insists)"


def prepare_invoke(spec: RequestSpec, endpoint_url: str | None) -> str:
    """The region for the Lambda API (compare-modes ``--invoke``), credentials checked.

    The same resolver as every signed request (:mod:`lstream_cli.region`):
    ``--region``, the endpoint's host, ``AWS_REGION``, ``AWS_DEFAULT_REGION``,
    the profile; ``us-east-1`` for a non-AWS ``--endpoint-url`` (any region
    signs there). Metadata endpoints are asked only for an AWS endpoint.
    """
    session: Any = load_session(spec.profile)
    aws = endpoint_url is None or is_aws_host(url_host(endpoint_url))
    if resolve_credentials(session, metadata=aws) is None:
        raise UsageError(
            "--invoke: the Lambda API needs AWS credentials; looked in "
            + credential_sources(session, metadata=aws)
        )
    try:
        return resolve_region(endpoint_url, spec.region, session, None if aws else "us-east-1")
    except RegionError:
        raise UsageError(
            "--invoke: no region; give --region, set AWS_REGION or AWS_DEFAULT_REGION, "
            "or set one in the profile"
        ) from None
