"""AWS's limits as compare-modes names them when a cell fails.

The numbers are AWS's published ones (Lambda and API Gateway quotas). They
are defined once, in :mod:`lstream_cli.emulator.config`, so the emulator
that enforces them and the sweep that names them cannot disagree; this
module re-exports the ones compare-modes uses, words the labels a row's
``limit`` shows, so a user can find them in AWS's documentation, and holds
the rule that picks a label for a failed cell (:func:`attribute_limit`).
"""

from __future__ import annotations

from lstream_cli.emulator.config import (
    APIGW_BUFFERED_LIMIT,
    APIGW_STREAM_BURST,
    APIGW_TIMEOUT_S,
    BUFFERED_RESPONSE_LIMIT,
    REQUEST_LIMIT,
    STREAM_BURST,
    STREAM_LIMIT,
    STREAM_RATE,
)
from lstream_cli.models import ErrorClass, RequestRecord
from lstream_cli.modes import STREAMING_MODES

__all__ = [
    "APIGW_BUFFERED_LIMIT",
    "APIGW_STREAM_BURST",
    "APIGW_TIMEOUT_S",
    "BUFFERED_RESPONSE_LIMIT",
    "LABEL_APIGW_SIZE",
    "LABEL_APIGW_STREAM_TIME",
    "LABEL_APIGW_TIMEOUT",
    "LABEL_BUFFERED",
    "LABEL_REQUEST",
    "LABEL_STREAM",
    "REQUEST_LIMIT",
    "SIZE_LIMITS",
    "STREAM_BURST",
    "STREAM_LIMIT",
    "STREAM_RATE",
    "attribute_limit",
]

LABEL_BUFFERED = f"buffered response limit {BUFFERED_RESPONSE_LIMIT:,} B"
LABEL_REQUEST = f"request payload limit {REQUEST_LIMIT:,} B"
LABEL_APIGW_SIZE = "API Gateway 10 MB"
LABEL_APIGW_TIMEOUT = f"API Gateway {APIGW_TIMEOUT_S:.0f} s"
LABEL_APIGW_STREAM_TIME = "API Gateway STREAM 15 min"
LABEL_STREAM = "streaming 200 MB"

# Limits a path hits because of the size asked (or the time a large body takes):
# a path failing only on these works, the sizes were too large for it.
SIZE_LIMITS: frozenset[str | None] = frozenset(
    {LABEL_BUFFERED, LABEL_APIGW_SIZE, LABEL_STREAM, LABEL_APIGW_TIMEOUT, LABEL_APIGW_STREAM_TIME}
)


def attribute_limit(
    mode: str,
    size: int,
    record: RequestRecord,
    error_code: str | None = None,
    excerpt: str = "",
) -> str | None:
    """The limit that explains a failed run, or None (success, or nothing fits).

    The rule looks at what the caller can see, as a user reading the
    response would: the status, the Lambda API's error type, the body, and
    the size that was asked for (a 502 from a buffered URL at 3 MB is not
    the 6 MB limit).
    """
    if record.ok:
        return None
    status = record.status
    err = record.error
    code = error_code or ""
    if status in (401, 403) or code in ("AccessDeniedException", "UnrecognizedClientException"):
        return f"auth {status or 403}"
    if err is ErrorClass.THROTTLED:
        return f"throttling {status or 429}"
    if status == 413 or code == "RequestEntityTooLargeException":
        return LABEL_REQUEST
    if "ResponseSizeTooLarge" in code or "ResponseSizeTooLarge" in excerpt:
        # Invoke's 6 MB, or InvokeWithResponseStream's 200 MB cap past it (below
        # it, a function that does not stream answers in one 6 MB payload).
        streamed_past = mode in STREAMING_MODES and size > STREAM_LIMIT
        return LABEL_STREAM if streamed_past else LABEL_BUFFERED
    if mode == "buffered" and status == 502 and size > BUFFERED_RESPONSE_LIMIT:
        return LABEL_BUFFERED
    if mode == "apigw":
        if status == 504:
            return LABEL_APIGW_TIMEOUT
        if status == 502 and size > APIGW_BUFFERED_LIMIT:
            return LABEL_APIGW_SIZE
    if (
        mode in STREAMING_MODES
        and size > STREAM_LIMIT
        and (err is ErrorClass.TRUNCATED or (status is not None and status >= 400))
    ):
        return LABEL_STREAM
    if mode == "apigw_stream" and status == 504:
        return LABEL_APIGW_STREAM_TIME
    if err is ErrorClass.TIMEOUT:
        return "client --timeout"
    return None
