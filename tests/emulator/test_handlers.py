"""The handler protocol and the shipped handlers, run against a collecting sink."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from lstream_cli._exitcodes import UsageError
from lstream_cli.emulator.handlers import (
    Context,
    ResponseStream,
    expected_body,
    invoke_handler,
    load_handler,
    synthetic_handler,
)

HANDLERS = Path(__file__).with_name("emu_test_handlers.py")


class Collect:
    def __init__(self) -> None:
        self.status: int | None = None
        self.headers: dict[str, str] = {}
        self.writes: list[bytes] = []
        self.cookies: list[str] = []
        self.opened = 0

    async def open(self, status: int, headers: dict[str, str], cookies: list[str]) -> None:
        self.opened += 1
        self.status, self.headers, self.cookies = status, headers, cookies

    async def send(self, data: bytes | memoryview) -> None:
        self.writes.append(bytes(data))

    @property
    def body(self) -> bytes:
        return b"".join(self.writes)


def run(handler: Any, event: dict[str, Any]) -> Collect:
    sink = Collect()
    ctx = Context("fn", time_scale=1000.0)
    asyncio.run(invoke_handler(handler, event, ResponseStream(sink), ctx))
    return sink


def url_event(**params: str) -> dict[str, Any]:
    return {"rawPath": "/", "requestContext": {}, "queryStringParameters": params}


def test_synthetic_sends_the_pattern_in_chunks() -> None:
    sink = run(synthetic_handler, url_event(size="1000", chunk="300"))
    assert sink.status == 200
    assert sink.headers["content-type"] == "application/octet-stream"
    assert [len(w) for w in sink.writes] == [300, 300, 300, 100]
    assert sink.body == bytes(i % 256 for i in range(1000))
    assert sink.opened == 1


@pytest.mark.parametrize(("text", "size"), [("5MB", 5_000_000), ("5MiB", 5_242_880), ("7", 7)])
def test_synthetic_sizes_take_units(text: str, size: int) -> None:
    sink = run(synthetic_handler, url_event(size=text, chunk="1MiB"))
    assert len(sink.body) == size
    assert sink.body[-3:] == expected_body(size)[-3:]


def test_synthetic_reads_the_lambda_api_payload_like_a_query() -> None:
    sink = run(synthetic_handler, {"size": "3KB", "status": 203})
    assert sink.status == 203
    assert len(sink.body) == 3000


def test_synthetic_status_and_empty_body() -> None:
    sink = run(synthetic_handler, url_event(size="0", status="404"))
    assert sink.status == 404
    assert sink.body == b""
    assert sink.opened == 1


def test_synthetic_fail_at_raises_after_that_many_bytes() -> None:
    sink = Collect()
    stream = ResponseStream(sink)
    with pytest.raises(RuntimeError, match="after 2500 bytes"):
        asyncio.run(
            invoke_handler(
                synthetic_handler,
                url_event(size="10000", chunk="1000", fail_at="2500"),
                stream,
                Context("fn"),
            )
        )
    assert len(sink.body) == 2500


def test_synthetic_fail_at_zero_fails_before_the_metadata() -> None:
    sink = Collect()
    with pytest.raises(RuntimeError):
        asyncio.run(
            invoke_handler(
                synthetic_handler, url_event(fail_at="0"), ResponseStream(sink), Context("fn")
            )
        )
    assert sink.opened == 0


@pytest.mark.parametrize(
    "params",
    [
        {"size": "lots"},
        {"chunk": "0.5XB"},
        {"delay_ms": "-1"},
        {"status": "99"},
        {"gap_ms": "soon"},
        {"chunk": "1GiB"},
    ],
)
def test_synthetic_bad_parameters_are_a_400(params: dict[str, str]) -> None:
    sink = run(synthetic_handler, url_event(**params))
    assert sink.status == 400
    assert "message" in json.loads(sink.body)


@pytest.mark.parametrize(
    "payload",
    [
        {"size": -5},
        {"size": 1.5},
        {"size": 1e400},  # JSON's 1e400 is infinity: once an OverflowError
        {"fail_at": -1},
    ],
)
def test_synthetic_bad_json_numbers_are_a_400(payload: dict[str, Any]) -> None:
    """The Lambda API payload's numbers are checked like the query string's sizes."""
    sink = run(synthetic_handler, payload)
    assert sink.status == 400
    assert "expected a whole number of bytes" in json.loads(sink.body)["message"]


@pytest.mark.parametrize("payload", [[1, 2], "text", 7, None])
def test_synthetic_payload_that_is_not_an_object_takes_the_defaults(payload: Any) -> None:
    sink = run(synthetic_handler, payload)
    assert sink.status == 200
    assert sink.body == expected_body(1024 * 1024)


def test_metadata_is_immutable_after_the_first_write() -> None:
    handler = load_handler(f"{HANDLERS}:metadata_after_write")
    sink = run(handler, {})
    assert sink.status == 200
    assert sink.body.startswith(b"first refused: ")


def test_set_metadata_sets_both() -> None:
    async def handler(event: Any, stream: ResponseStream, context: Context) -> None:
        stream.set_metadata(status_code=418, headers={"x-a": "1"})
        await stream.write("tea")

    sink = run(handler, {})
    assert (sink.status, sink.headers, sink.body) == (418, {"x-a": "1"}, b"tea")


def test_invalid_status_and_header_are_refused() -> None:
    stream = ResponseStream(Collect())
    with pytest.raises(ValueError):
        stream.set_status(1000)
    with pytest.raises(ValueError):
        stream.set_headers({"bad name": "x"})
    with pytest.raises(ValueError):
        stream.set_headers({"x-ok": "line\r\nbreak"})


def test_plain_function_returning_a_proxy_document() -> None:
    sink = run(load_handler(f"{HANDLERS}:plain_return"), {})
    assert sink.status == 202
    assert sink.headers == {"x-plain": "yes"}
    assert sink.body == b"returned body"


def test_returned_json_value_is_serialised() -> None:
    sink = run(lambda e, s, c: {"answer": 42}, {})
    assert json.loads(sink.body) == {"answer": 42}


def test_file_handler_streams_the_file(tmp_path: Path) -> None:
    data = bytes(range(256)) * 4000
    path = tmp_path / "object.json"
    path.write_bytes(data)
    sink = run(load_handler(f"file:{path}"), {})
    assert sink.body == data
    assert sink.headers["content-type"] == "application/json"
    assert len(sink.writes) > 1


def test_module_function_spec_loads_an_importable_module() -> None:
    import emu_test_handlers  # importable: pytest puts this folder on sys.path

    assert load_handler("emu_test_handlers:echo_event") is emu_test_handlers.echo_event


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("file:/no/such/file", "no such file"),
        (f"file:{HANDLERS.parent}", "a directory, not a file"),
        ("no_such_module_xyz:handler", "cannot import"),
        ("nonsense", "expected synthetic"),
        (f"{HANDLERS}:missing", "has no function"),
        (f"{HANDLERS}:not_a_handler", "(event, stream, context)"),
        ("/no/such/handler.py:handler", "no such file"),
    ],
)
def test_bad_handler_specs_are_usage_errors(spec: str, message: str) -> None:
    with pytest.raises(UsageError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_handler(spec)


def test_context_counts_down_in_scaled_time() -> None:
    ctx = Context("fn", timeout_s=900.0, time_scale=1.0)
    assert 890_000 < ctx.get_remaining_time_in_millis() <= 900_000
    assert ctx.function_name == "fn"
    assert ctx.aws_request_id
    assert Context("fn", timeout_s=900.0, time_scale=1000.0).get_remaining_time_in_millis() <= 900
