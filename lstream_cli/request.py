"""What to send: the request spec shared by get, bench and compare-modes.

The CLI turns flags into a :class:`RequestSpec`; :func:`prepare_auth`
resolves ``--auth auto|iam|none`` into a signer (or none) once, before any
timing starts, exactly as oha and httpx start the clock after auth.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Any

from lstream_cli._exitcodes import UsageError
from lstream_cli.net.options import Network
from lstream_cli.signing import (
    CredentialsError,
    RegionError,
    Signer,
    credential_sources,
    load_session,
    resolve_credentials,
    resolve_region,
)

__all__ = ["RequestSpec", "parse_header", "prepare_auth"]

DEFAULT_TIMEOUT_S = 30.0
# Headers the signer adds: a -H with one of these names cannot go with signing.
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


def parse_header(text: str) -> tuple[str, str]:
    """``'Name: value'`` -> (name, value); raises UsageError when malformed."""
    name, sep, value = text.partition(":")
    name = name.strip()
    if not sep or not name or any(c in name for c in " \t\r\n"):
        # Only the would-be name: what follows may be a secret ('x-api-key=...').
        shown = re.split(r"[\s=]", text.strip(), maxsplit=1)[0]
        if shown != text:
            shown += " ..."
        raise UsageError(f"invalid header {shown!r}: expected 'Name: value'")
    if "\n" in value or "\r" in value:
        raise UsageError(f"invalid header {name!r}: the value holds a line break")
    if not name.isascii():
        raise UsageError(f"invalid header {name!r}: the name must be ASCII")
    if not value.isascii():
        # HTTP gives no encoding for other bytes; AWS signs them as sent. Say so.
        raise UsageError(
            f"invalid header {name!r}: the value must be ASCII (percent- or base64-encode it)"
        )
    return name, value.strip()


def prepare_auth(spec: RequestSpec) -> Signer | None:
    """A signer for ``spec`` or None (``--auth none``, or auto with no credentials).

    Raises UsageError for ``--auth iam`` without credentials, an unknown
    profile, a signed request whose region cannot be told, or a ``-H`` that
    the signature would set a second time. ``--auth auto`` with the user's
    own ``-H Authorization`` does not sign.
    """
    if spec.auth == "none":
        return None
    given = {name.lower() for name, _ in spec.headers}
    if spec.auth == "auto" and "authorization" in given:
        return None  # the user authenticates with their own -H Authorization
    try:
        session: Any = load_session(spec.profile)
        credentials = resolve_credentials(session)
    except CredentialsError as exc:
        raise UsageError(str(exc)) from None
    if credentials is None:
        if spec.auth == "iam":
            raise UsageError(
                "--auth iam: no AWS credentials found; looked in " + credential_sources(session)
            )
        return None
    clash = sorted(given & _SIGNATURE_HEADERS)
    if clash:
        # Sent twice, once unsigned: the server would see two values.
        raise UsageError(
            f"-H {clash[0]}: SigV4 signing sets this header itself; drop the -H, "
            "or use --auth none to send your own"
        )
    try:
        region = resolve_region(spec.url, spec.region, session)
    except RegionError as exc:
        why = str(exc)
        if spec.auth == "auto":  # credentials were found, so auto wants to sign
            why += "; or --auth none to send it unsigned"
        raise UsageError(why) from None
    return Signer(credentials, region, spec.service)
