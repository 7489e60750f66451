"""SigV4 for function URLs with ``AWS_IAM`` auth, through botocore.

What goes on the wire is what gets signed: the URL is first put in the form
httpx sends (percent-encoded path and query), the path is handed to botocore
as is (it applies SigV4's double encoding for non-S3 services), and the
query is decoded into pairs that botocore re-encodes and sorts as AWS does
(spaces, ``:``, UTF-8, repeated and value-less keys). Credentials come from
botocore's whole default chain; refreshable credentials are read at each
signing so a long run stays valid past their first expiry.

A signature is valid for about five minutes; :class:`Signer` caches one per
second per distinct request so a load test does not spend its CPU on HMACs.
"""

from __future__ import annotations

import hashlib
import os
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

import httpx

__all__ = [
    "REDACTED",
    "AuthMode",
    "CredentialsError",
    "RegionError",
    "Signer",
    "canonical_query_pairs",
    "credential_sources",
    "load_session",
    "redact_headers",
    "redact_url",
    "region_from_url",
    "resolve_credentials",
    "resolve_region",
    "wire_url",
]

REDACTED = "<redacted>"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
_LAMBDA_URL_RE = re.compile(r"^[^.]+\.lambda-url\.([a-z0-9-]+)\.on\.aws$", re.IGNORECASE)
_SECRET_HEADERS = frozenset(
    {"authorization", "x-amz-security-token", "proxy-authorization", "cookie", "set-cookie"}
)
# Header names that announce a secret value (an origin-verify secret, an API key).
# ``X-Origin-Verify`` is the usual name of the static header a CDN or API Gateway
# adds for the origin to check (``lstream serve --help`` uses it too).
_SECRET_NAME_RE = re.compile(
    r"secret|token|password|passwd|api[-_]?key|origin[-_]?verify", re.IGNORECASE
)
# Methods whose body hash goes in x-amz-content-sha256 (CloudFront OAC needs it).
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})

AuthMode = str  # "auto" | "iam" | "none"


class CredentialsError(Exception):
    """No credentials where ``--auth iam`` needs them (a usage error)."""


class RegionError(Exception):
    """No region in the URL, the flags or the profile (a usage error)."""


def credential_sources(session: Any | None = None) -> str:
    """Where botocore's default chain looks, for the 'no credentials' message.

    With the ``session`` that looked, the files and profile are the ones it
    really read (``AWS_SHARED_CREDENTIALS_FILE``, ``AWS_CONFIG_FILE``,
    ``--profile``/``AWS_PROFILE``), not the defaults, so a user can see a
    wrong path or profile at once.
    """
    credentials_file, config_file, profile = "~/.aws/credentials", "~/.aws/config", None
    if session is not None:
        try:
            credentials_file = str(session.get_config_variable("credentials_file"))
            config_file = str(session.get_config_variable("config_file"))
            profile = session.profile
        except Exception:  # a message helper must not fail; fall back to the defaults
            pass
    which = f"profile {profile!r}" if profile else "the default profile"
    return (
        "environment (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY), "
        f"shared credentials file {credentials_file} and config file {config_file} "
        f"({which}; --profile / AWS_PROFILE), "
        "SSO, assume-role, web identity, container and instance metadata"
    )


def wire_url(url: str) -> str:
    """The URL exactly as httpx will put it on the wire (scheme://host/raw_path)."""
    u = httpx.URL(url)
    return str(u.copy_with())


def region_from_url(url: str) -> str | None:
    host = urlsplit(url).hostname or ""
    m = _LAMBDA_URL_RE.match(host)
    return m.group(1).lower() if m else None


def load_session(profile: str | None) -> Any:
    """A botocore session for ``profile``; raises CredentialsError on a bad profile."""
    import botocore.exceptions
    import botocore.session

    try:
        return botocore.session.Session(profile=profile)
    except botocore.exceptions.ProfileNotFound as exc:
        raise CredentialsError(str(exc)) from None


def resolve_credentials(session: Any) -> Any | None:
    """botocore's default chain; None when it finds nothing."""
    import botocore.exceptions

    try:
        return session.get_credentials()
    except botocore.exceptions.ProfileNotFound as exc:
        raise CredentialsError(str(exc)) from None
    except botocore.exceptions.BotoCoreError as exc:
        raise CredentialsError(f"could not load credentials: {exc}") from None


def resolve_region(url: str, region: str | None, session: Any | None) -> str:
    """``--region`` if given, else the function URL's host, else the configured one.

    The configured region is ``AWS_REGION`` (which the AWS CLI and most SDKs
    honour but botocore does not), then botocore's own (``AWS_DEFAULT_REGION``,
    the profile's ``region``).
    """
    if region:
        return region
    found = region_from_url(url)
    if found:
        return found
    env_region = os.environ.get("AWS_REGION", "").strip()
    if env_region:
        return env_region
    if session is not None:
        configured = session.get_config_variable("region")
        if configured:
            return str(configured)
    raise RegionError(
        "cannot tell the AWS region: the URL is not <id>.lambda-url.<region>.on.aws "
        "and no region is configured; pass --region (or set AWS_REGION)"
    )


def canonical_query_pairs(query: str) -> list[tuple[str, str]]:
    """Decode a wire query into (key, value) pairs for SigV4.

    ``+`` stays a literal plus (RFC 3986); a key without ``=`` has an empty
    value; order and repetition are kept (botocore sorts).
    """
    pairs: list[tuple[str, str]] = []
    if not query:
        return pairs
    for part in query.split("&"):
        if part == "":
            continue
        key, _, value = part.partition("=")
        pairs.append((unquote(key), unquote(value)))
    return pairs


@dataclass(frozen=True, slots=True)
class _CacheKey:
    second: int
    method: str
    url: str
    headers: tuple[tuple[str, str], ...]
    body_sha256: str
    access_key: str


class Signer:
    """Signs requests for one service and region with the session's credentials.

    ``sign`` returns the headers to add (Authorization, X-Amz-Date,
    X-Amz-Security-Token, x-amz-content-sha256 for bodies). Results are cached
    for the current second, keyed on everything that goes into the signature.
    """

    def __init__(self, credentials: Any, region: str, service: str = "lambda") -> None:
        self.credentials = credentials  # botocore Credentials (maybe refreshable)
        self.region = region
        self.service = service
        self._cache: dict[_CacheKey, dict[str, str]] = {}
        self._cache_second = -1

    def sign(
        self,
        method: str,
        url: str,
        headers: Sequence[tuple[str, str]] | Mapping[str, str] = (),
        body: bytes | None = None,
        body_sha256: str | None = None,
    ) -> dict[str, str]:
        """Headers that authenticate this request, valid for ~5 minutes from now."""
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest

        method = method.upper()
        wire = wire_url(url)
        if body_sha256 is None:
            body_sha256 = hashlib.sha256(body).hexdigest() if body else EMPTY_SHA256
        items = tuple(headers.items()) if isinstance(headers, Mapping) else tuple(headers)
        frozen = self.credentials.get_frozen_credentials()
        now = int(time.time())
        key = _CacheKey(now, method, wire, items, body_sha256, frozen.access_key)
        if now != self._cache_second:
            self._cache.clear()
            self._cache_second = now
        cached = self._cache.get(key)
        if cached is not None:
            return dict(cached)

        parts = urlsplit(wire)
        base = urlunsplit((parts.scheme, parts.netloc, parts.path or "/", "", ""))
        sign_headers: dict[str, str] = {}
        for name, value in items:
            if name.lower() in ("content-length", "user-agent", "expect"):
                continue  # hop/transport headers the client may rewrite
            # A -H Host goes on the wire as given, so it is the host signed;
            # without one, botocore signs the URL's host (as httpx sends it).
            sign_headers[name] = value
        if method in _BODY_METHODS or body:
            sign_headers["x-amz-content-sha256"] = body_sha256
        request = AWSRequest(
            method=method,
            url=base,
            headers=sign_headers,
            params=canonical_query_pairs(parts.query),
        )
        SigV4Auth(frozen, self.service, self.region).add_auth(request)
        out = {
            "Authorization": request.headers["Authorization"],
            "X-Amz-Date": request.headers["X-Amz-Date"],
        }
        if frozen.token:
            out["X-Amz-Security-Token"] = frozen.token
        if "x-amz-content-sha256" in sign_headers:
            out["x-amz-content-sha256"] = body_sha256
        self._cache[key] = out
        return dict(out)


def redact_headers(
    headers: Sequence[tuple[str, str]] | Mapping[str, str],
    secret_names: frozenset[str] = frozenset(),
) -> list[tuple[str, str]]:
    """Headers fit to print: signatures, tokens and named secret headers hidden.

    Besides the known ones (Authorization, the session token, cookies) and
    ``secret_names``, a header whose name says secret, token, password, API key
    or origin-verify is hidden too (``x-origin-secret: ...`` given with ``-H``).
    """
    items = headers.items() if isinstance(headers, Mapping) else headers
    out: list[tuple[str, str]] = []
    for name, value in items:
        lname = name.lower()
        if lname == "authorization" and value.startswith("AWS4-HMAC-SHA256"):
            # Keep the credential scope (useful), drop the signature.
            kept = re.sub(r"Signature=[0-9a-fA-F]+", f"Signature={REDACTED}", value)
            kept = re.sub(r"Credential=[A-Z0-9]+/", "Credential=<access-key>/", kept)
            out.append((name, kept))
        elif lname in _SECRET_HEADERS or lname in secret_names or _SECRET_NAME_RE.search(lname):
            out.append((name, REDACTED))
        else:
            out.append((name, value))
    return out


# Query parameters of a presigned (query-string SigV4) URL that are secrets.
_SECRET_QUERY_KEYS = frozenset({"x-amz-signature", "x-amz-security-token", "x-amz-credential"})


def redact_url(url: str) -> str:
    """``url`` fit to print or save: a userinfo password and presigned-URL secrets hidden.

    Only those parts change; everything else stays byte for byte as given.
    """
    parts = urlsplit(url)
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, hostport = netloc.rpartition("@")
        user, sep, _password = userinfo.partition(":")
        netloc = f"{user}{sep}{REDACTED if sep else ''}@{hostport}"
    query = parts.query
    if query:
        fields = []
        for field in query.split("&"):
            key, sep, _value = field.partition("=")
            if sep and unquote(key).lower() in _SECRET_QUERY_KEYS:
                field = f"{key}={REDACTED}"
            fields.append(field)
        query = "&".join(fields)
    if netloc == parts.netloc and query == parts.query:
        return url
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))
