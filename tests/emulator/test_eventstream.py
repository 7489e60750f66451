"""The event-stream encoder, decoded by botocore's own parser and Lambda model.

If botocore's ``EventStreamBuffer`` accepts our frames (CRCs, lengths,
headers) and its rest-json parser turns a whole response into the
``PayloadChunk`` / ``InvokeComplete`` events the Lambda client yields, then
boto3, the AWS CLI and the SDKs built on the same model read the emulator's
InvokeWithResponseStream unchanged.
"""

from __future__ import annotations

import json
import struct
import zlib
from collections.abc import Iterator
from typing import Any

import botocore.session
import pytest
from botocore.compat import HTTPHeaders
from botocore.eventstream import ChecksumMismatch, EventStreamBuffer, EventStreamError
from botocore.parsers import create_parser

from lstream_cli.emulator.eventstream import (
    CONTENT_TYPE,
    encode_message,
    error_message,
    invoke_complete,
    payload_chunk,
)


def decode(data: bytes) -> list[Any]:
    buffer = EventStreamBuffer()
    buffer.add_data(data)
    return list(buffer)


def test_encode_message_layout_by_hand() -> None:
    frame = encode_message([("a", "b")], b"xyz")
    total, headers_len, prelude_crc = struct.unpack(">III", frame[:12])
    assert total == len(frame) == 12 + (1 + 1 + 1 + 2 + 1) + 3 + 4
    assert headers_len == 6
    assert prelude_crc == zlib.crc32(frame[:8])
    assert frame[12:18] == b"\x01a\x07\x00\x01b"
    assert frame[18:21] == b"xyz"
    assert struct.unpack(">I", frame[-4:])[0] == zlib.crc32(frame[:-4])


@pytest.mark.parametrize("payload", [b"", b"hello", bytes(range(256)) * 300])
def test_botocore_decodes_messages(payload: bytes) -> None:
    headers = [(":event-type", "Custom"), ("x-ünï", "välue"), ("empty", "")]
    (message,) = decode(encode_message(headers, payload))
    assert message.payload == payload
    assert message.headers == dict(headers)
    assert message.prelude.total_length == 16 + message.prelude.headers_length + len(payload)


def test_payload_chunk_frame() -> None:
    (message,) = decode(payload_chunk(b"\x00\x01binary\xff"))
    assert message.headers == {
        ":event-type": "PayloadChunk",
        ":content-type": "application/octet-stream",
        ":message-type": "event",
    }
    assert message.payload == b"\x00\x01binary\xff"


def test_invoke_complete_frame_only_given_keys() -> None:
    (message,) = decode(invoke_complete())
    assert message.headers[":event-type"] == "InvokeComplete"
    assert message.headers[":content-type"] == "application/json"
    assert json.loads(message.payload) == {}
    (message,) = decode(invoke_complete("Unhandled", "boom", "bG9ncw=="))
    assert json.loads(message.payload) == {
        "ErrorCode": "Unhandled",
        "ErrorDetails": "boom",
        "LogResult": "bG9ncw==",
    }
    (message,) = decode(invoke_complete(error_code="Function.ResponseSizeTooLarge"))
    assert json.loads(message.payload) == {"ErrorCode": "Function.ResponseSizeTooLarge"}


def test_corrupted_frame_is_rejected_by_botocore() -> None:
    frame = bytearray(payload_chunk(b"data"))
    frame[-6] ^= 0xFF  # a payload byte: the message CRC no longer matches
    with pytest.raises(ChecksumMismatch):
        decode(bytes(frame))


def test_oversized_parts_are_refused() -> None:
    with pytest.raises(ValueError):
        encode_message([("x" * 256, "v")], b"")
    with pytest.raises(ValueError):
        encode_message([("n", "v" * 70_000)], b"")
    with pytest.raises(ValueError):
        payload_chunk(b"\0" * (16 * 1024 * 1024 + 1))


# --- a whole response through botocore's Lambda model ----------------------


class _RawStream:
    """What botocore's EventStream reads: an object with ``stream()``."""

    def __init__(self, data: bytes, piece: int) -> None:
        self._data = data
        self._piece = piece

    def stream(self) -> Iterator[bytes]:
        for i in range(0, len(self._data), self._piece):
            yield self._data[i : i + self._piece]


def parse_lambda_response(body: bytes, piece: int = 7) -> dict[str, Any]:
    """botocore's own parsing of an InvokeWithResponseStream HTTP response."""
    model = botocore.session.get_session().get_service_model("lambda")
    operation = model.operation_model("InvokeWithResponseStream")
    parser = create_parser(model.metadata["protocol"])
    parsed = parser.parse(
        {
            "status_code": 200,
            "headers": HTTPHeaders.from_pairs(
                [("Content-Type", CONTENT_TYPE), ("X-Amz-Executed-Version", "$LATEST")]
            ),
            "body": _RawStream(body, piece),
            "context": {"operation_name": operation.name},
        },
        operation.output_shape,
    )
    return parsed  # type: ignore[no-any-return]


@pytest.mark.parametrize("piece", [1, 7, 4096])
def test_lambda_model_yields_payload_chunks_and_invoke_complete(piece: int) -> None:
    chunks = [b"first chunk ", bytes(range(256)), b"", b"last"]
    body = b"".join(payload_chunk(c) for c in chunks) + invoke_complete()
    parsed = parse_lambda_response(body, piece)
    events = list(parsed["EventStream"])
    assert parsed["StatusCode"] == 200
    assert parsed["ExecutedVersion"] == "$LATEST"
    assert parsed["ResponseStreamContentType"] == CONTENT_TYPE
    assert events == [{"PayloadChunk": {"Payload": c}} for c in chunks] + [{"InvokeComplete": {}}]


def test_lambda_model_reads_invoke_complete_error() -> None:
    body = payload_chunk(b"partial") + invoke_complete(
        "Function.ResponseSizeTooLarge", "Response payload size exceeded", "bG9n"
    )
    events = list(parse_lambda_response(body)["EventStream"])
    assert events[0] == {"PayloadChunk": {"Payload": b"partial"}}
    assert events[1] == {
        "InvokeComplete": {
            "ErrorCode": "Function.ResponseSizeTooLarge",
            "ErrorDetails": "Response payload size exceeded",
            "LogResult": "bG9n",
        }
    }


def test_lambda_model_raises_on_error_message() -> None:
    body = payload_chunk(b"ok") + error_message("ServiceException", "the stream broke")
    stream = iter(parse_lambda_response(body, piece=5)["EventStream"])
    assert next(stream) == {"PayloadChunk": {"Payload": b"ok"}}
    with pytest.raises(EventStreamError) as info:
        next(stream)
    assert info.value.response["Error"]["Code"] == "ServiceException"
    assert info.value.response["Error"]["Message"] == "the stream broke"
