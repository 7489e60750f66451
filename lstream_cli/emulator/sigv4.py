"""SigV4 verification for the emulator's ``--auth iam``, written from the spec.

The emulator must accept exactly what AWS accepts, so this module rebuilds the
canonical request from the request *as received* (the raw request-target and
the raw header list), the way a function URL does, and checks it against the
``Authorization`` header:

    raw request  ->  canonical request  ->  string to sign  ->  HMAC chain
    (wire form)      method, URI, query,    algorithm, date,    kSecret -> kDate
                     headers, signed list,  scope, sha256 of    -> kRegion ->
                     payload hash           canonical request   kService -> kSigning

It is deliberately an independent implementation (``hashlib``/``hmac`` only):
it shares no code with the client's signing path (botocore, or
:mod:`lstream_cli.signing`), so a canonicalisation bug on one side shows up as
a failed verification instead of hiding behind common code.

Rules followed (non-S3 services such as ``lambda``):

- canonical URI: dot-segments and duplicate slashes removed, then the wire
  path percent-encoded *again* (a wire ``%20`` signs as ``%2520``);
- canonical query: each ``key=value`` percent-decoded (``+`` stays a plus),
  re-encoded per RFC 3986 with uppercase hex, sorted by encoded key then
  value; a key without ``=`` signs as ``key=``;
- canonical headers: the signed ones, lowercase names, values trimmed with
  inner whitespace runs collapsed, repeated headers joined with ``,``;
- payload hash: ``x-amz-content-sha256`` when sent (it must then equal the
  body's hash), else the body's hash;
- ``X-Amz-Date`` within five minutes of now, its day equal to the scope's;
- temporary credentials: ``X-Amz-Security-Token`` must be sent and equal the
  session token (AWS lets a client sign it or add it after signing).

Derived signing keys are cached per (secret, day, region, service), so a
request costs two SHA-256 hashes and two HMACs.
"""

from __future__ import annotations

import datetime
import functools
import hashlib
import hmac
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_to_bytes

__all__ = [
    "ALGORITHM",
    "MAX_SKEW",
    "EmulatorCredentialsError",
    "SecretLookup",
    "VerifyResult",
    "canonical_query",
    "canonical_uri",
    "emulator_credentials",
    "verify_request",
]

ALGORITHM = "AWS4-HMAC-SHA256"
MAX_SKEW = datetime.timedelta(minutes=5)

SecretLookup = Callable[[str], "tuple[str, str | None] | None"]

_UNRESERVED = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~")
# Byte -> its canonical spelling; one table for query parts, one for paths ('/' kept).
_ENCODE = tuple(chr(b) if b in _UNRESERVED else f"%{b:02X}" for b in range(256))
_ENCODE_PATH = tuple("/" if b == 0x2F else _ENCODE[b] for b in range(256))
_SIGNATURE_RE = re.compile(r"^[0-9a-f]{64}$")
_DATE_RE = re.compile(r"^\d{8}$")
_AMZ_DATE_RE = re.compile(r"^\d{8}T\d{6}Z$")
# Text from the wire is taken as UTF-8; undecodable bytes decoded with
# 'surrogateescape' re-encode to exactly the bytes received.
_ERRORS = "surrogateescape"
_HEADER_NAME_RE = re.compile(r"^[!#$%&'*+\-.^_`|~0-9a-z]+$")


class EmulatorCredentialsError(Exception):
    """The emulator was pointed at credentials that cannot be loaded (bad profile)."""


@dataclass(frozen=True, slots=True)
class VerifyResult:
    """The verdict on one request; ``reason`` is short, for logs, never secret."""

    ok: bool
    reason: str
    access_key: str | None = None


@dataclass(frozen=True, slots=True)
class _Authorization:
    access_key: str
    date: str
    region: str
    service: str
    signed_headers: tuple[str, ...]
    signed_headers_text: str
    signature: str


def _encode(data: bytes, table: tuple[str, ...] = _ENCODE) -> str:
    return "".join([table[b] for b in data])


def _remove_dot_segments(path: str) -> str:
    """RFC 3986 §5.2.4 dot-segment removal, plus collapsing empty segments.

    ``/a/./b/../c`` -> ``/a/c``; ``//example//`` -> ``/example/``; a trailing
    slash is kept when something remains before it.
    """
    if not path:
        return "/"
    kept: list[str] = []
    for segment in path.split("/"):
        if segment in ("", "."):
            continue
        if segment == "..":
            if kept:
                kept.pop()
            continue
        kept.append(segment)
    out = "/" + "/".join(kept)
    if kept and path.endswith("/"):
        out += "/"
    return out


def canonical_uri(raw_path: str) -> str:
    """The canonical URI of a wire path for a non-S3 service (double-encoded)."""
    return _encode(_remove_dot_segments(raw_path).encode("utf-8", _ERRORS), _ENCODE_PATH)


def _decode_encode(text: str) -> str:
    return _encode(unquote_to_bytes(text.encode("utf-8", _ERRORS)))


def canonical_query(raw_query: str) -> str:
    """The canonical query string of a wire query (decoded, re-encoded, sorted)."""
    if not raw_query:
        return ""
    pairs: list[tuple[str, str]] = []
    for part in raw_query.split("&"):
        if not part:
            continue
        key, _, value = part.partition("=")
        pairs.append((_decode_encode(key), _decode_encode(value)))
    pairs.sort()
    return "&".join(f"{k}={v}" for k, v in pairs)


def _parse_authorization(value: str) -> _Authorization | str:
    """The parsed header, or a short reason why it is malformed."""
    algorithm, sep, rest = value.partition(" ")
    if not sep:
        return "malformed Authorization header"
    if algorithm != ALGORITHM:
        return "unsupported signature algorithm"
    fields: dict[str, str] = {}
    for part in rest.split(","):
        name, eq, field_value = part.strip().partition("=")
        if not eq or name not in ("Credential", "SignedHeaders", "Signature"):
            return "malformed Authorization header"
        if name in fields:
            return "malformed Authorization header"
        fields[name] = field_value
    if len(fields) != 3:
        return "malformed Authorization header"
    scope = fields["Credential"].split("/")
    if len(scope) != 5 or not all(scope):
        return "malformed credential scope"
    access_key, date, region, service, terminator = scope
    if terminator != "aws4_request" or not _DATE_RE.match(date):
        return "malformed credential scope"
    signed_text = fields["SignedHeaders"]
    signed = tuple(signed_text.split(";"))
    if not signed_text or not all(_HEADER_NAME_RE.match(name) for name in signed):
        return "malformed SignedHeaders"
    if list(signed) != sorted(set(signed)):
        return "SignedHeaders not sorted or repeated"
    if not _SIGNATURE_RE.match(fields["Signature"]):
        return "malformed Signature"
    return _Authorization(
        access_key, date, region, service, signed, signed_text, fields["Signature"]
    )


@functools.lru_cache(maxsize=256)
def _signing_key(secret_key: str, date: str, region: str, service: str) -> bytes:
    key = ("AWS4" + secret_key).encode("utf-8")
    for part in (date, region, service, "aws4_request"):
        key = hmac.new(key, part.encode("utf-8"), hashlib.sha256).digest()
    return key


def _equal(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode("utf-8"), b.encode("utf-8"))


def _fail(reason: str, access_key: str | None = None) -> VerifyResult:
    return VerifyResult(False, reason, access_key)


def verify_request(
    method: str,
    raw_target: str,
    headers: list[tuple[str, str]],
    body_sha256: str,
    lookup_secret: SecretLookup,
    now: datetime.datetime | None = None,
    service: str = "lambda",
) -> VerifyResult:
    """Check a request's SigV4 ``Authorization`` header as AWS does.

    ``raw_target`` is the request-target as received (path and query,
    percent-encoded as on the wire); ``headers`` the raw (name, value) list in
    order; both decoded from bytes as UTF-8 with ``errors='surrogateescape'``
    so any byte signs as received. ``body_sha256`` is the lowercase hex
    SHA-256 of the body received.
    ``lookup_secret(access_key)`` gives ``(secret_key, session_token|None)``
    or None for an unknown key.
    """
    grouped: dict[str, list[str]] = {}
    for name, value in headers:
        grouped.setdefault(name.lower(), []).append(value)

    auth_values = grouped.get("authorization")
    if not auth_values:
        return _fail("missing Authorization header")
    if len(auth_values) > 1:
        return _fail("repeated Authorization header")
    parsed = _parse_authorization(auth_values[0].strip())
    if isinstance(parsed, str):
        return _fail(parsed)
    access_key = parsed.access_key
    if parsed.service != service:
        return _fail(f"credential scope is for service {parsed.service!r}", access_key)

    dates = grouped.get("x-amz-date")
    if not dates:
        return _fail("missing X-Amz-Date header", access_key)
    if len(dates) > 1:
        return _fail("repeated X-Amz-Date header", access_key)
    amz_date = dates[0].strip()
    if not _AMZ_DATE_RE.match(amz_date):
        return _fail("malformed X-Amz-Date", access_key)
    try:
        signed_at = datetime.datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(
            tzinfo=datetime.timezone.utc
        )
    except ValueError:
        return _fail("malformed X-Amz-Date", access_key)
    if amz_date[:8] != parsed.date:
        return _fail("credential scope date differs from X-Amz-Date", access_key)
    if now is None:
        now = datetime.datetime.now(datetime.timezone.utc)
    elif now.tzinfo is None:
        now = now.replace(tzinfo=datetime.timezone.utc)
    if signed_at > now + MAX_SKEW:
        return _fail("signature not yet current (X-Amz-Date in the future)", access_key)
    if signed_at < now - MAX_SKEW:
        return _fail("signature expired (X-Amz-Date too old)", access_key)

    if "host" not in parsed.signed_headers:
        return _fail("host is not among SignedHeaders", access_key)
    for name in parsed.signed_headers:
        if name not in grouped:
            return _fail(f"signed header {name!r} missing from the request", access_key)

    found = lookup_secret(access_key)
    if found is None:
        return _fail("unknown access key", access_key)
    secret_key, session_token = found

    tokens = grouped.get("x-amz-security-token")
    if session_token is not None:
        if not tokens:
            return _fail("missing X-Amz-Security-Token", access_key)
        if len(tokens) > 1 or not _equal(tokens[0].strip(), session_token):
            return _fail("invalid security token", access_key)
    elif tokens:
        return _fail("security token sent for credentials without one", access_key)

    content_hashes = grouped.get("x-amz-content-sha256")
    if content_hashes:
        if len(content_hashes) > 1:
            return _fail("repeated x-amz-content-sha256 header", access_key)
        payload_hash = content_hashes[0].strip()
        if payload_hash != body_sha256:
            return _fail("x-amz-content-sha256 does not match the body", access_key)
    else:
        payload_hash = body_sha256

    path, _, query = raw_target.partition("?")
    canonical_headers = "".join(
        f"{name}:{','.join(' '.join(v.split()) for v in grouped[name])}\n"
        for name in parsed.signed_headers
    )
    canonical_request = "\n".join(
        (
            method.upper(),
            canonical_uri(path),
            canonical_query(query),
            canonical_headers,
            parsed.signed_headers_text,
            payload_hash,
        )
    )
    scope = f"{parsed.date}/{parsed.region}/{parsed.service}/aws4_request"
    string_to_sign = "\n".join(
        (
            ALGORITHM,
            amz_date,
            scope,
            hashlib.sha256(canonical_request.encode("utf-8", _ERRORS)).hexdigest(),
        )
    )
    key = _signing_key(secret_key, parsed.date, parsed.region, parsed.service)
    expected = hmac.new(key, string_to_sign.encode("utf-8"), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected.encode("ascii"), parsed.signature.encode("ascii")):
        return _fail("signature does not match", access_key)
    return VerifyResult(True, "ok", access_key)


def emulator_credentials(profile: str | None = None) -> SecretLookup | None:
    """A lookup over botocore's default credential chain, or None when it finds none.

    The lookup reads the (possibly refreshable) credentials at each call, so
    an emulator running past the first expiry keeps accepting fresh ones.
    Raises :class:`EmulatorCredentialsError` for an unknown profile.
    """
    import botocore.exceptions
    import botocore.session

    try:
        session = botocore.session.Session(profile=profile)
        credentials: Any = session.get_credentials()
    except botocore.exceptions.ProfileNotFound as exc:
        raise EmulatorCredentialsError(str(exc)) from None
    except botocore.exceptions.BotoCoreError as exc:
        raise EmulatorCredentialsError(f"could not load credentials: {exc}") from None
    if credentials is None:
        return None

    def lookup(access_key: str) -> tuple[str, str | None] | None:
        try:
            frozen = credentials.get_frozen_credentials()
        except botocore.exceptions.BotoCoreError:
            return None  # a failed refresh rejects the request, it does not crash
        if not frozen.access_key or not frozen.secret_key:
            return None
        if not _equal(str(frozen.access_key), access_key):
            return None
        return str(frozen.secret_key), (str(frozen.token) if frozen.token else None)

    return lookup
