"""AWS's limits that compare-modes names when a cell fails, in one place.

The numbers are AWS's published ones (Lambda and API Gateway quotas); the
labels are what a row's ``limit`` says, worded so a user can find them in
AWS's documentation. The rule that picks a label for a failed cell lives in
:func:`lstream_cli.compare.attribute_limit`.
"""

from __future__ import annotations

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
    "STREAM_BURST",
    "STREAM_LIMIT",
    "STREAM_RATE",
]

# Lambda, synchronous invocation: the request payload limit ("6 MB")...
REQUEST_LIMIT = 6_291_456
# ...and the response limit as Lambda enforces it (its error names 6291556 bytes).
BUFFERED_RESPONSE_LIMIT = 6_291_556
# Response streaming: up to 200 MB; the first 6 MB uncapped, then 2 MBps.
STREAM_LIMIT = 200 * 1024 * 1024
STREAM_BURST = 6 * 1024 * 1024
STREAM_RATE = 2 * 1024 * 1024
# API Gateway: 10 MB payloads and a 29 s integration timeout (buffered);
# REST STREAM transfer mode: first 10 MB uncapped, then 2 MB/s, 15 minutes.
APIGW_BUFFERED_LIMIT = 10 * 1024 * 1024
APIGW_TIMEOUT_S = 29.0
APIGW_STREAM_BURST = 10 * 1024 * 1024

LABEL_BUFFERED = f"buffered response limit {BUFFERED_RESPONSE_LIMIT:,} B"
LABEL_REQUEST = f"request payload limit {REQUEST_LIMIT:,} B"
LABEL_APIGW_SIZE = "API Gateway 10 MB"
LABEL_APIGW_TIMEOUT = "API Gateway 29 s"
LABEL_APIGW_STREAM_TIME = "API Gateway STREAM 15 min"
LABEL_STREAM = "streaming 200 MB"
