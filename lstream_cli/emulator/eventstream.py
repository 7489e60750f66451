"""The binary event-stream framing of Lambda's InvokeWithResponseStream.

The Lambda API answers ``InvokeWithResponseStream`` with
``Content-Type: application/vnd.amazon.eventstream``: a sequence of
self-delimiting messages, each

    +-------------+--------------+-------------+---------+---------+-------------+
    | total len   | headers len  | prelude CRC | headers | payload | message CRC |
    | u32 BE      | u32 BE       | u32 BE      |         |         | u32 BE      |
    +-------------+--------------+-------------+---------+---------+-------------+

where the prelude CRC covers the first 8 bytes and the message CRC everything
before it (CRC-32 as in zlib). A header is ``name length (u8), name, type
(u8, 7 = string), value length (u16 BE), value``.

The emulator sends what botocore's Lambda model expects: ``PayloadChunk``
events whose payload is the raw bytes of the response, then one
``InvokeComplete`` event whose JSON payload carries ``ErrorCode``,
``ErrorDetails`` and ``LogResult`` when there is something to say, and, for a
failure the service itself reports mid-stream, an ``error`` message.
"""

from __future__ import annotations

import json
import struct
import zlib

__all__ = [
    "CONTENT_TYPE",
    "MAX_HEADERS_LENGTH",
    "MAX_PAYLOAD_LENGTH",
    "encode_message",
    "error_message",
    "invoke_complete",
    "payload_chunk",
]

CONTENT_TYPE = "application/vnd.amazon.eventstream"
# Limits botocore's decoder enforces: keep every frame inside them.
MAX_HEADERS_LENGTH = 128 * 1024
MAX_PAYLOAD_LENGTH = 16 * 1024 * 1024

_STRING = 7
_PRELUDE = struct.Struct(">II")
_CRC = struct.Struct(">I")


def _encode_headers(headers: list[tuple[str, str]]) -> bytes:
    out = bytearray()
    for name, value in headers:
        raw_name = name.encode("utf-8")
        raw_value = value.encode("utf-8")
        if not 0 < len(raw_name) < 256:
            raise ValueError(f"event-stream header name must be 1-255 bytes: {name!r}")
        if len(raw_value) > 0xFFFF:
            raise ValueError(f"event-stream header {name!r} value is over 65535 bytes")
        out += bytes((len(raw_name),)) + raw_name + bytes((_STRING,))
        out += struct.pack(">H", len(raw_value)) + raw_value
    return bytes(out)


def encode_message(headers: list[tuple[str, str]], payload: bytes) -> bytes:
    """One event-stream message with string headers (in the order given)."""
    encoded_headers = _encode_headers(headers)
    if len(encoded_headers) > MAX_HEADERS_LENGTH:
        raise ValueError("event-stream headers are over 128 KiB")
    if len(payload) > MAX_PAYLOAD_LENGTH:
        raise ValueError("event-stream payload is over 16 MiB; split it into chunks")
    total = _PRELUDE.size + _CRC.size + len(encoded_headers) + len(payload) + _CRC.size
    prelude = _PRELUDE.pack(total, len(encoded_headers))
    head = prelude + _CRC.pack(zlib.crc32(prelude))
    crc = zlib.crc32(payload, zlib.crc32(encoded_headers, zlib.crc32(head)))
    return b"".join((head, encoded_headers, payload, _CRC.pack(crc)))


def payload_chunk(data: bytes) -> bytes:
    """A ``PayloadChunk`` event carrying ``data`` as is."""
    return encode_message(
        [
            (":event-type", "PayloadChunk"),
            (":content-type", "application/octet-stream"),
            (":message-type", "event"),
        ],
        data,
    )


def invoke_complete(
    error_code: str | None = None,
    error_details: str | None = None,
    log_result: str | None = None,
) -> bytes:
    """The closing ``InvokeComplete`` event; keys appear only when given."""
    body: dict[str, str] = {}
    if error_code is not None:
        body["ErrorCode"] = error_code
    if error_details is not None:
        body["ErrorDetails"] = error_details
    if log_result is not None:
        body["LogResult"] = log_result
    return encode_message(
        [
            (":event-type", "InvokeComplete"),
            (":content-type", "application/json"),
            (":message-type", "event"),
        ],
        json.dumps(body, separators=(",", ":")).encode("utf-8"),
    )


def error_message(error_code: str, error_message: str) -> bytes:
    """An error inside the stream (``:message-type`` ``error``).

    Lambda's stream models no exception events, so a failure after the
    response has started is framed with the generic ``:error-code`` and
    ``:error-message`` headers, which botocore raises as ``EventStreamError``.
    """
    return encode_message(
        [
            (":error-code", error_code),
            (":error-message", error_message),
            (":message-type", "error"),
        ],
        b"",
    )
