"""AWS's limits as compare-modes names them when a cell fails.

The numbers are AWS's published ones (Lambda and API Gateway quotas). They
are defined once, in :mod:`lstream_cli.emulator.config`, so the emulator
that enforces them and the sweep that names them cannot disagree; this
module re-exports the ones compare-modes uses and words the labels a row's
``limit`` shows, so a user can find them in AWS's documentation. The rule
that picks a label for a failed cell is
:func:`lstream_cli.compare.attribute_limit`.
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

LABEL_BUFFERED = f"buffered response limit {BUFFERED_RESPONSE_LIMIT:,} B"
LABEL_REQUEST = f"request payload limit {REQUEST_LIMIT:,} B"
LABEL_APIGW_SIZE = "API Gateway 10 MB"
LABEL_APIGW_TIMEOUT = f"API Gateway {APIGW_TIMEOUT_S:.0f} s"
LABEL_APIGW_STREAM_TIME = "API Gateway STREAM 15 min"
LABEL_STREAM = "streaming 200 MB"
