"""What a failed answer probably means, and what to do: hints chosen from the evidence.

A 403 from a function URL says why in its body (and in ``x-amzn-ErrorType``);
each reason gets its own hint and no other:

- an expired session token: refresh the credentials;
- an unknown access key or an invalid token: check which credentials went;
- a signature mismatch: the clock, checked against the server's ``Date``
  header, and what goes into the signature (region, ``--service``, a
  ``-H Host``, a proxy rewriting the request);
- a signature outside its 5-minute window (``Signature expired``, ``not yet
  current``): the clock alone (the signature itself matched);
- access denied: the IAM permissions the caller needs.

An unsigned 403 says why it was not signed. Anything else gets no hint:
a guess would send the user the wrong way.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from enum import Enum

from lstream_cli.models import RequestRecord

__all__ = ["BodyPeek", "Refusal", "classify_refusal", "hints_for"]

_PEEK_BYTES = 4096
_SKEW_LIMIT_S = 240  # SigV4 allows 5 minutes; warn a little before


class Refusal(Enum):
    """Why a server refused a request, as its error body says."""

    EXPIRED_TOKEN = "expired_token"
    INVALID_CREDENTIALS = "invalid_credentials"
    SIGNATURE = "signature"
    SIGNATURE_TIME = "signature_time"  # matched, but outside its 5-minute window
    ACCESS_DENIED = "access_denied"


# (what the body or x-amzn-ErrorType says, lower case) -> reason; first match wins.
_MARKERS: tuple[tuple[str, Refusal], ...] = (
    ("expiredtoken", Refusal.EXPIRED_TOKEN),
    ("token included in the request is expired", Refusal.EXPIRED_TOKEN),
    ("token has expired", Refusal.EXPIRED_TOKEN),
    ("unrecognizedclient", Refusal.INVALID_CREDENTIALS),
    ("invalidclienttokenid", Refusal.INVALID_CREDENTIALS),
    ("security token included in the request is invalid", Refusal.INVALID_CREDENTIALS),
    # Before "invalidsignature": AWS sends these with InvalidSignatureException.
    ("signature expired", Refusal.SIGNATURE_TIME),
    ("signature not yet current", Refusal.SIGNATURE_TIME),
    ("invalidsignature", Refusal.SIGNATURE),
    ("signaturedoesnotmatch", Refusal.SIGNATURE),
    ("signature we calculated does not match", Refusal.SIGNATURE),
    ("incompletesignature", Refusal.SIGNATURE),
    ("accessdenied", Refusal.ACCESS_DENIED),
    ("access denied", Refusal.ACCESS_DENIED),
    ("not authorized to perform", Refusal.ACCESS_DENIED),
    ('"forbidden"', Refusal.ACCESS_DENIED),  # a function URL's {"Message":"Forbidden"}
)


class BodyPeek:
    """A body sink that keeps the first 4 KiB of what it passes on (for the error body)."""

    def __init__(self, sink: Callable[[bytes], object] | None = None) -> None:
        self.sink = sink
        self.head = bytearray()

    def __call__(self, chunk: bytes) -> None:
        if len(self.head) < _PEEK_BYTES:
            self.head += chunk[: _PEEK_BYTES - len(self.head)]
        if self.sink is not None:
            self.sink(chunk)


def classify_refusal(headers: Sequence[tuple[str, str]], body: bytes) -> Refusal | None:
    """The reason the error type header and body give, or None when they give none."""
    error_type = next((v for k, v in headers if k.lower() == "x-amzn-errortype"), "")
    text = (error_type + " " + body[:_PEEK_BYTES].decode("utf-8", "replace")).lower()
    for marker, reason in _MARKERS:
        if marker in text:
            return reason
    return None


def hints_for(
    record: RequestRecord, body: bytes, signed: bool, auth: str, now: float | None = None
) -> list[str]:
    """Hints for a refused request (403); none for any other answer.

    ``auth``: the --auth mode, "own" when the user's -H Authorization
    went, "redirected" when a redirect left the signature behind; ``now``: the local clock (``time.time()``), for the skew check.
    """
    if record.status != 403:
        return []
    if not signed:
        why = {
            "none": "--auth none sent it unsigned (use --auth auto or iam)",
            "own": "your own -H Authorization went instead (drop it to let --auth auto sign)",
            "redirected": "-L followed a redirect to another host, which gets no signature "
            "(only the same origin and AWS endpoints over HTTPS do)",
        }.get(auth, "no credentials were found (set them up or use --auth iam to insist)")
        return [f"403 without a signature: a function URL with AuthType AWS_IAM needs SigV4; {why}"]
    reason = classify_refusal(record.response_headers, body)
    if reason is Refusal.EXPIRED_TOKEN:
        return [
            "the credentials expired (the server says the security token is expired): "
            "refresh them (aws sso login, or new session credentials) and retry"
        ]
    if reason is Refusal.INVALID_CREDENTIALS:
        return [
            "the server does not know these credentials (invalid access key id or session "
            "token): check which ones were used (-v names the source) and the account"
        ]
    if reason is Refusal.ACCESS_DENIED:
        return [
            "access denied to a signed request: the caller needs both "
            "lambda:InvokeFunctionUrl and lambda:InvokeFunction on the function"
        ]
    if reason is Refusal.SIGNATURE_TIME:
        return [_clock_hint(record, time.time() if now is None else now)]
    if reason is Refusal.SIGNATURE:
        return [
            _clock_hint(record, time.time() if now is None else now),
            "signature mismatch: check the region and --service signed for, a -H Host "
            "that differs from the URL, and a proxy that rewrites the request",
        ]
    return []


def _clock_hint(record: RequestRecord, now: float) -> str:
    """Clock skew, ruled in, ruled out, or left to check (from the server's Date)."""
    date = next((v for k, v in record.response_headers if k.lower() == "date"), None)
    skew: float | None = None
    if date:
        import email.utils  # only here, for a refused signature: not on every get's path

        try:
            skew = now - email.utils.parsedate_to_datetime(date).timestamp()
        except (TypeError, ValueError):
            skew = None
    if skew is None:
        return (
            "clock skew: no usable Date header to compare with; SigV4 allows 5 minutes, "
            "so check that the local clock is right"
        )
    if abs(skew) > _SKEW_LIMIT_S:
        return (
            f"the local clock is {abs(skew):.0f} s {'ahead of' if skew > 0 else 'behind'} "
            "the server's Date header: SigV4 allows 5 minutes; fix the clock"
        )
    return (
        f"clock skew ruled out: the local clock is within {abs(skew):.0f} s of the "
        "server's Date header (SigV4 allows 5 minutes)"
    )
