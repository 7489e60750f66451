"""The one redaction of URLs and headers for everything printed or saved.

Every message, ``-v`` line, report and result file that shows a URL shows
:func:`redact_url` of it; every header shown goes through
:func:`redact_headers`. :func:`redact_url` works on the text, not on a
parsed URL, so a URL that no parser accepts (``http://u:pw@[::1/...``) is
redacted the same way, and :func:`scrub` removes the same secrets from any
other text (a library's error message that quotes part of the URL).

What is hidden:

- the password of a ``user:password@`` userinfo (the user name stays);
- query values that are secrets: a presigned URL's ``X-Amz-Signature``,
  ``X-Amz-Credential`` and ``X-Amz-Security-Token``, and any parameter whose
  name says signature, secret, token, password or API key;
- header values that are secrets: ``Authorization`` (a SigV4 one keeps its
  credential scope and loses its signature; any other keeps its scheme, such
  as ``Basic``), session tokens, cookies, proxy credentials, and headers
  whose name says secret, token, password, API key or origin-verify
  (``x-origin-secret``, ``x-api-key``, ``x-origin-verify``).

Everything else stays byte for byte as given.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from urllib.parse import unquote

__all__ = [
    "REDACTED",
    "authority_span",
    "is_secret_header",
    "redact_headers",
    "redact_url",
    "scrub",
    "url_host",
    "url_secrets",
]

REDACTED = "<redacted>"

_SECRET_HEADERS = frozenset(
    {"authorization", "x-amz-security-token", "proxy-authorization", "cookie", "set-cookie"}
)
# Header names that announce a secret value (an origin-verify secret, an API key).
# ``X-Origin-Verify`` is the usual name of the static header a CDN or API Gateway
# adds for the origin to check (``lstream serve --help`` uses it too).
_SECRET_NAME_RE = re.compile(
    r"secret|token|password|passwd|api[-_]?key|origin[-_]?verify", re.IGNORECASE
)
# Query parameters that are secrets: a presigned (query-string SigV4) URL's, and
# any whose name says so (CloudFront's Signature, ?token=, ?api_key=).
_SECRET_QUERY_KEYS = frozenset({"x-amz-signature", "x-amz-security-token", "x-amz-credential"})
_SECRET_QUERY_NAME_RE = re.compile(
    r"signature|secret|token|password|passwd|api[-_]?key", re.IGNORECASE
)
_SCHEME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


def is_secret_header(name: str, secret_names: frozenset[str] = frozenset()) -> bool:
    """True when a header called ``name`` carries a secret (never shown, never forwarded)."""
    lname = name.lower()
    return lname in _SECRET_HEADERS or lname in secret_names or bool(_SECRET_NAME_RE.search(lname))


def redact_headers(
    headers: Sequence[tuple[str, str]] | Mapping[str, str],
    secret_names: frozenset[str] = frozenset(),
) -> list[tuple[str, str]]:
    """Headers fit to print: signatures, tokens and named secret headers hidden.

    ``secret_names`` (lower case) adds names to hide besides the known ones.
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
        elif lname in ("authorization", "proxy-authorization") and " " in value.strip():
            scheme = value.strip().split(" ", 1)[0]
            out.append((name, f"{scheme} {REDACTED}"))
        elif is_secret_header(name, secret_names):
            out.append((name, REDACTED))
        else:
            out.append((name, value))
    return out


def authority_span(url: str) -> tuple[int, int]:
    """Where the authority (``user:pw@host:port``) of ``url`` begins and ends.

    Text positions, so it works on a URL that does not parse.
    """
    m = _SCHEME_RE.match(url)
    start = m.end() if m else (2 if url.startswith("//") else 0)
    end = len(url)
    for stop in "/?#":
        i = url.find(stop, start)
        if i != -1:
            end = min(end, i)
    return start, end


def url_host(url: str) -> str:
    """The host of ``url`` in lower case, brackets off an IPv6 literal ('' for none)."""
    start, end = authority_span(url)
    authority = url[start:end].rpartition("@")[2]
    if authority.startswith("["):
        return authority[1:].partition("]")[0].lower()
    return authority.partition(":")[0].rstrip(".").lower()


def _password_span(url: str) -> tuple[int, int] | None:
    """The span of the userinfo password in ``url``, or None.

    The userinfo ends at the last ``@`` of the authority. A password holding
    a ``/``, ``?`` or ``#`` (``http://u:p/w@host``, which parsers reject)
    would end the authority early; an ``@`` before the query (or, failing
    that, before the path) that follows a ``:`` is then taken as the end of a
    password too: showing less is safer than a leak.
    """
    start, end = authority_span(url)
    at = url.rfind("@", start, end)
    if at == -1:
        query = min(
            (i for i in (url.find("?", start), url.find("#", start)) if i != -1), default=-1
        )
        at = url.rfind("@", start, query if query != -1 else len(url))
        if at == -1:  # a "?" or "#" in the password: the "@" before the path then
            slash = url.find("/", start)
            at = url.rfind("@", start, slash if slash != -1 else len(url))
        if at == -1:
            return None
    colon = url.find(":", start, at)
    if colon == -1:
        return None
    return colon + 1, at


def _query_secret_spans(url: str) -> list[tuple[int, int]]:
    q = url.find("?")
    if q == -1:
        return []
    h = url.find("#", q)
    end = len(url) if h == -1 else h
    spans: list[tuple[int, int]] = []
    pos = q + 1
    while pos <= end:
        amp = url.find("&", pos, end)
        field_end = end if amp == -1 else amp
        eq = url.find("=", pos, field_end)
        if eq != -1:
            key = unquote(url[pos:eq]).strip().lower()
            secret = key in _SECRET_QUERY_KEYS or _SECRET_QUERY_NAME_RE.search(key)
            if secret and field_end > eq + 1:
                spans.append((eq + 1, field_end))
        pos = field_end + 1
    return spans


def _secret_spans(url: str) -> list[tuple[int, int]]:
    spans = _query_secret_spans(url)
    password = _password_span(url)
    if password is not None and password[1] > password[0]:
        # A password span may reach into the query in a broken URL: keep spans apart.
        spans = [s for s in spans if s[1] <= password[0] or s[0] >= password[1]]
        spans.append(password)
    return sorted(spans)


def redact_url(url: str) -> str:
    """``url`` fit to print or save, whether it parses or not (see the module doc)."""
    spans = _secret_spans(url)
    if not spans:
        return url
    parts: list[str] = []
    pos = 0
    for start, end in spans:
        parts.append(url[pos:start])
        parts.append(REDACTED)
        pos = end
    parts.append(url[pos:])
    return "".join(parts)


def url_secrets(url: str) -> list[str]:
    """The secret substrings of ``url`` (raw and percent-decoded), longest first."""
    found: set[str] = set()
    for start, end in _secret_spans(url):
        raw = url[start:end]
        found.add(raw)
        found.add(unquote(raw))
    return sorted(found, key=len, reverse=True)


_MIN_SCRUBBED = 4  # shorter secrets would match ordinary words of the text


def scrub(text: str, urls: Iterable[str]) -> str:
    """``text`` with each of ``urls`` redacted, and their secrets of 4+ characters replaced.

    For a message built by a library (which may quote part of a URL);
    lstream's own messages show :func:`redact_url` of the URL instead.
    """
    for url in urls:
        if url and url in text:
            text = text.replace(url, redact_url(url))
        for secret in url_secrets(url):
            if len(secret) >= _MIN_SCRUBBED:
                text = text.replace(secret, REDACTED)
    return text
