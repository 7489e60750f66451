"""SigV4 for function URLs with ``AWS_IAM`` auth, through botocore.

What goes on the wire is what gets signed: the URL is first put in its wire
form (:mod:`lstream_cli.url`: percent-encoded path and query), the path is handed to botocore
as is (it applies SigV4's double encoding for non-S3 services), and the
query is decoded into pairs that botocore re-encodes and sorts as AWS does
(spaces, ``:``, UTF-8, repeated and value-less keys). Credentials come from
:mod:`lstream_cli.credentials`; refreshable credentials are read at each
signing so a long run stays valid past their first expiry (a refresh that
fails is a :class:`CredentialsError`, exit 2, naming the source).

A signature is valid for about five minutes; :class:`Signer` caches one per
second per distinct request so a load test does not spend its CPU on HMACs.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

from lstream_cli.credentials import (
    CredentialsError,
    credential_sources,
    load_session,
    resolve_credentials,
)
from lstream_cli.redact import REDACTED, redact_headers, redact_url
from lstream_cli.region import RegionError, region_from_url, resolve_region
from lstream_cli.url import parse_url

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

# SHA-256 of no bytes (hashlib, and OpenSSL with it, is loaded only to sign).
EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
# Methods whose body hash goes in x-amz-content-sha256 (CloudFront OAC needs it).
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})

AuthMode = str  # "auto" | "iam" | "none"


def wire_url(url: str) -> str:
    """The URL exactly as it goes on the wire (normalised and percent-encoded)."""
    return str(parse_url(url))


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

    def __init__(
        self, credentials: Any, region: str, service: str = "lambda", source: str = "credentials"
    ) -> None:
        self.credentials = credentials  # botocore Credentials (maybe refreshable)
        self.region = region
        self.service = service
        self.source = source  # where they came from, for messages (credentials.describe_source)
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
        import hashlib

        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest

        method = method.upper()
        wire = wire_url(url)
        if body_sha256 is None:
            body_sha256 = hashlib.sha256(body).hexdigest() if body else EMPTY_SHA256
        items = tuple(headers.items()) if isinstance(headers, Mapping) else tuple(headers)
        try:
            frozen = self.credentials.get_frozen_credentials()
        except Exception as exc:  # a refresh failed or came back expired, mid-run
            raise CredentialsError(
                f"the credentials from {self.source} could not be refreshed: "
                f"{' '.join(str(exc).split())[:300]}"
            ) from None
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
            # without one, botocore signs the URL's host (as it is sent).
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
