"""The compare-modes engine: sizes, limit attribution, cells, the Lambda API paths, wording."""

from __future__ import annotations

import io
import json
import socket
from typing import Any

import pytest
from botocore.exceptions import ClientError
from botocore.response import StreamingBody

from lstream_cli._exitcodes import UsageError
from lstream_cli.cli.compare import display_url, parse_sizes
from lstream_cli.compare import Cell, Plan, _cell, iter_cells, size_url
from lstream_cli.engine.excerpt import Measured
from lstream_cli.engine.lambda_api import InvokeTarget, make_lambda_client
from lstream_cli.limits import LABEL_APIGW_SIZE, LABEL_BUFFERED, LABEL_STREAM, attribute_limit
from lstream_cli.models import ErrorClass, Knee, RequestRecord
from lstream_cli.render.conclusion import conclude
from lstream_cli.request import RequestSpec
from lstream_cli.units import format_size


def record(
    status: int | None = 200,
    error: ErrorClass | None = None,
    complete: bool = True,
    ttfb_ms: float = 5.0,
    total_ms: float = 10.0,
    nbytes: int = 1000,
    knee: Knee | None = None,
) -> RequestRecord:
    return RequestRecord(
        t_start_ns=0,
        status=status,
        connect_ns=None,
        headers_ns=int(ttfb_ms * 1e6),
        first_byte_ns=int(ttfb_ms * 1e6),
        end_ns=int(total_ms * 1e6),
        bytes=nbytes,
        reads=3,
        gap_max_ns=None,
        gap_p99_ns=None,
        knee=knee,
        complete=complete,
        error=error,
    )


def cell(mode: str, size: int, ok: bool = True, limit: str | None = None, **kw: Any) -> Cell:
    kw.setdefault("nbytes", size if ok else 21)  # a success carries the size asked
    rec = record(**kw) if ok else record(status=502, error=ErrorClass.HTTP_5XX, **kw)
    return Cell(mode, size, rec, 1, 0 if ok else 1, limit, None if ok else "HTTP 502")


# --- sizes and URLs ----------------------------------------------------------


def test_parse_sizes_decimal_and_binary_sorted_distinct() -> None:
    assert parse_sizes("7MB, 1MB,5MiB,1MB") == (1_000_000, 5_242_880, 7_000_000)


@pytest.mark.parametrize("text", ["", "1MB,,2MB", "1MB,abc", "5XB", "0", " , "])
def test_parse_sizes_rejects_malformed(text: str) -> None:
    with pytest.raises(UsageError):
        parse_sizes(text)


def test_size_url_adds_or_replaces_the_parameter() -> None:
    assert size_url("http://h:1/", "size", 7_000_000) == "http://h:1/?size=7000000"
    assert size_url("http://h:1/x?a=1&size=3", "size", 5) == "http://h:1/x?a=1&size=5"
    assert size_url("http://h:1/x?a=1", "bytes", 9) == "http://h:1/x?a=1&bytes=9"


def test_display_url_redacts_presigned_values() -> None:
    shown = display_url("https://h/x?size=1&X-Amz-Signature=abcdef0123&X-Amz-Credential=AKID/x")
    assert "abcdef0123" not in shown and "AKID" not in shown
    assert "size=1" in shown
    # A password in the URL is a secret too; the user name stays readable.
    shown = display_url("https://me:hunter2secret@h/x?size=1")
    assert "hunter2secret" not in shown and shown.startswith("https://me:")
    assert display_url("https://h/x") == "https://h/x"


def test_format_size_keeps_the_users_unit() -> None:
    assert format_size(7_000_000) == "7 MB"
    assert format_size(6 * 2**20) == "6 MiB"
    assert format_size(500_000) == "500 kB"
    assert format_size(6_500_000) == "6.50 MB"
    assert format_size(3 * 2**19) == "1.5 MiB"
    # Sizes one byte apart across a limit stay distinct, in exact bytes.
    assert format_size(6_291_556) == "6,291,556 B"
    assert format_size(6_291_557) == "6,291,557 B"
    assert format_size(999) == "999 B"


def test_sizes_one_byte_apart_read_apart_in_table_chart_and_conclusion() -> None:
    from lstream_cli.render.compare import format_chart, format_table

    cells = [
        cell("buffered", 6_291_556),
        cell("buffered", 6_291_557, ok=False, limit=LABEL_BUFFERED),
        cell("stream", 6_291_556),
        cell("stream", 6_291_557),
    ]
    table = _render(format_table(cells))
    assert "6,291,556 B" in table and "6,291,557 B" in table
    chart = _render(format_chart(cells)).splitlines()
    bars = [line for line in chart if "│" in line]
    assert len({line.index("│") for line in bars}) == 1  # labels aligned
    text = conclude(cells)
    assert "Up to 6,291,556 B every path works." in text
    assert "At 6,291,557 B the buffered function URL fails" in text


# --- limit attribution -------------------------------------------------------

_5XX = ErrorClass.HTTP_5XX


@pytest.mark.parametrize(
    ("mode", "size", "status", "error", "code", "expected"),
    [
        ("buffered", 7_000_000, 502, _5XX, None, LABEL_BUFFERED),
        ("buffered", 3_000_000, 502, _5XX, None, None),  # a 502 below 6 MB is not the limit
        ("invoke", 7_000_000, 200, _5XX, "Function.ResponseSizeTooLarge", LABEL_BUFFERED),
        ("apigw", 12_000_000, 502, _5XX, None, LABEL_APIGW_SIZE),
        ("apigw", 5_000_000, 502, _5XX, None, None),
        ("apigw", 1_000_000, 504, _5XX, None, "API Gateway 29 s"),
        ("stream", 1_000_000, 403, ErrorClass.HTTP_4XX, None, "auth 403"),
        ("invoke", 1_000_000, 403, ErrorClass.HTTP_4XX, "AccessDeniedException", "auth 403"),
        ("invoke", 1_000_000, 413, ErrorClass.HTTP_4XX, "RequestEntityTooLargeException",
         "request payload limit 6,291,456 B"),
        ("stream", 1_000_000, 429, ErrorClass.THROTTLED, None, "throttling 429"),
        ("stream", 300 * 2**20, 200, ErrorClass.TRUNCATED, None, "streaming 200 MB"),
        # InvokeWithResponseStream past 200 MB ends with InvokeComplete
        # ErrorCode Function.ResponseSizeTooLarge: the streaming limit, not 6 MB.
        ("invoke_stream", 210_000_000, 200, _5XX, "Function.ResponseSizeTooLarge",
         "streaming 200 MB"),
        ("stream", 1_000_000, 200, ErrorClass.TRUNCATED, None, None),
        ("stream", 1_000_000, None, ErrorClass.CONNECT, None, None),
        ("stream", 1_000_000, None, ErrorClass.TIMEOUT, None, "client --timeout"),
    ],
)  # fmt: skip
def test_attribute_limit(
    mode: str,
    size: int,
    status: int | None,
    error: ErrorClass,
    code: str | None,
    expected: str | None,
) -> None:
    rec = record(status=status, error=error, complete=error is not ErrorClass.TRUNCATED)
    assert attribute_limit(mode, size, rec, code) == expected


def test_attribute_limit_none_for_success() -> None:
    assert attribute_limit("buffered", 50_000_000, record()) is None


# --- cells: median run, failures win ------------------------------------------


def test_cell_reports_the_median_run_by_total_time() -> None:
    runs = [Measured(record(total_ms=t, ttfb_ms=t / 2)) for t in (30.0, 10.0, 20.0)]
    c = _cell("stream", 1000, runs)
    assert c.ok and c.runs == 3 and c.failures == 0
    assert c.record.total_ms == 20.0 and c.record.ttfb_ms == 10.0


def test_cell_with_a_failed_run_reports_the_failure() -> None:
    bad = Measured(record(status=502, error=_5XX), excerpt='{"Message": null}')
    c = _cell("buffered", 7_000_000, [Measured(record()), bad])
    assert not c.ok and c.failures == 1
    assert c.record.status == 502
    assert c.limit == LABEL_BUFFERED
    assert c.error_text == 'HTTP 502 {"Message": null}'
    row = c.to_json()
    assert row["ok"] is False and row["error"] == "http_5xx" and row["size"] == 7_000_000


# --- the Lambda API, through fake and real botocore clients -------------------


class FakeLambda:
    """Duck-typed Lambda client: canned answers for Invoke and the event stream."""

    def __init__(self, invoke: Any = None, stream: Any = None) -> None:
        self._invoke, self._stream = invoke, stream
        self.payloads: list[dict[str, Any]] = []

    def _answer(self, what: Any, payload: bytes) -> Any:
        self.payloads.append(json.loads(payload))
        if isinstance(what, BaseException):
            raise what
        return what()

    def invoke(self, FunctionName: str, Payload: bytes) -> Any:
        return self._answer(self._invoke, Payload)

    def invoke_with_response_stream(self, FunctionName: str, Payload: bytes) -> Any:
        return self._answer(self._stream, Payload)

    def close(self) -> None:
        pass


def _meta(status: int = 200) -> dict[str, Any]:
    return {"HTTPStatusCode": status, "HTTPHeaders": {"x-amzn-requestid": "r-1"}}


def _invoke_plan(sizes: tuple[int, ...] = (1_000_000,)) -> Plan:
    target = InvokeTarget(function="fn", region="us-east-1", endpoint_url="http://127.0.0.1:9")
    return Plan(sizes=sizes, spec=RequestSpec(url="http://127.0.0.1/"), invoke=target)


def test_invoke_rows_measure_payload_and_stream_chunks() -> None:
    body = b"x" * 300_000

    def invoke() -> Any:
        return {
            "StatusCode": 200,
            "Payload": StreamingBody(io.BytesIO(body), len(body)),
            "ResponseMetadata": _meta(),
        }

    def stream() -> Any:
        events = [{"PayloadChunk": {"Payload": b"y" * 1000}} for _ in range(5)]
        events.append({"InvokeComplete": {}})
        return {"StatusCode": 200, "EventStream": iter(events), "ResponseMetadata": _meta()}

    fake = FakeLambda(invoke, stream)
    cells = list(iter_cells(_invoke_plan(), invoke_client=fake))
    assert [c.mode for c in cells] == ["invoke", "invoke_stream"]
    inv, st = cells
    assert inv.ok and inv.record.bytes == 300_000 and inv.record.status == 200
    assert st.ok and st.record.bytes == 5000 and st.record.reads == 5
    # One unmeasured warm-up call per mode, then the cell.
    warm = {"size": "1000", "queryStringParameters": {"size": "1000"}}
    cell = {"size": "1000000", "queryStringParameters": {"size": "1000000"}}
    assert fake.payloads == [warm] * 2 + [cell] * 2


def test_invoke_function_error_is_a_row_naming_the_limit() -> None:
    doc = json.dumps(
        {
            "errorType": "Function.ResponseSizeTooLarge",
            "errorMessage": "Response payload size exceeded maximum allowed payload size "
            "(6291556 bytes).",
        }
    ).encode()

    def invoke() -> Any:
        return {
            "StatusCode": 200,
            "FunctionError": "Unhandled",
            "Payload": StreamingBody(io.BytesIO(doc), len(doc)),
            "ResponseMetadata": _meta(),
        }

    def stream() -> Any:
        events = [{"PayloadChunk": {"Payload": b"y" * 10}}]
        events.append(
            {"InvokeComplete": {"ErrorCode": "Function.ResponseSizeTooLarge", "ErrorDetails": "x"}}
        )
        return {"StatusCode": 200, "EventStream": iter(events), "ResponseMetadata": _meta()}

    inv, st = list(iter_cells(_invoke_plan((7_000_000,)), invoke_client=FakeLambda(invoke, stream)))
    assert not inv.ok and inv.record.status == 200 and inv.record.error is ErrorClass.HTTP_5XX
    assert inv.limit == LABEL_BUFFERED
    assert inv.error_text is not None and "Function.ResponseSizeTooLarge" in inv.error_text
    assert not st.ok and st.limit == LABEL_BUFFERED
    assert st.error_text is not None and "Function.ResponseSizeTooLarge" in st.error_text


def test_invoke_stream_without_invoke_complete_is_truncated() -> None:
    def stream() -> Any:
        events = [{"PayloadChunk": {"Payload": b"y" * 10}}]
        return {"StatusCode": 200, "EventStream": iter(events), "ResponseMetadata": _meta()}

    fake = FakeLambda(ClientError({"Error": {"Code": "X"}}, "Invoke"), stream)
    _, st = list(iter_cells(_invoke_plan(), invoke_client=fake))
    assert st.record.error is ErrorClass.TRUNCATED and not st.record.complete
    assert st.record.bytes == 10


@pytest.mark.parametrize(
    ("code", "status", "error", "limit"),
    [
        ("RequestEntityTooLargeException", 413, ErrorClass.HTTP_4XX,
         "request payload limit 6,291,456 B"),
        ("TooManyRequestsException", 429, ErrorClass.THROTTLED, "throttling 429"),
        ("ResourceNotFoundException", 404, ErrorClass.HTTP_4XX, None),
        ("AccessDeniedException", 403, ErrorClass.HTTP_4XX, "auth 403"),
    ],
)  # fmt: skip
def test_client_errors_become_rows(
    code: str, status: int, error: ErrorClass, limit: str | None
) -> None:
    exc = ClientError(
        {
            "Error": {"Code": code, "Message": f"{code} happened"},
            "ResponseMetadata": {"HTTPStatusCode": status},
        },
        "Invoke",
    )
    inv, st = list(iter_cells(_invoke_plan(), invoke_client=FakeLambda(exc, exc)))
    for c in (inv, st):
        assert not c.ok and c.record.status == status and c.record.error is error
        assert c.limit == limit
        assert c.error_text is not None and code in c.error_text and str(status) in c.error_text


def _closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = int(s.getsockname()[1])
    s.close()
    return port


def test_real_botocore_client_against_a_closed_port_gives_connect_rows() -> None:
    target = InvokeTarget(
        function="fn",
        region="us-east-1",
        endpoint_url=f"http://127.0.0.1:{_closed_port()}",
        static_credentials=("AKIDTEST", "secret-test"),
        timeout=5,
    )
    client = make_lambda_client(target)
    plan = Plan(sizes=(1000,), spec=RequestSpec(url="http://127.0.0.1/"), invoke=target)
    cells = list(iter_cells(plan, invoke_client=client))
    client.close()
    assert [c.record.error for c in cells] == [ErrorClass.CONNECT, ErrorClass.CONNECT]
    assert all(c.limit is None and c.error_text for c in cells)


# --- the conclusion ------------------------------------------------------------


def test_conclusion_names_where_each_path_breaks_and_what_to_use() -> None:
    knee = Knee(burst_bytes=6_291_456, rate_after_burst_bytes_per_s=2_097_152, at_ms=100)
    cells = []
    for s in (1_000_000, 7_000_000, 12_000_000):
        cells.append(cell("stream", s, ttfb_ms=2.0, knee=knee if s == 12_000_000 else None))
        cells.append(cell("buffered", s, ok=s < 6_291_556, limit=LABEL_BUFFERED, ttfb_ms=9.0))
        cells.append(cell("apigw", s, ok=s < 10_485_760, limit=LABEL_APIGW_SIZE))
    text = conclude(cells)
    assert "Up to 1 MB every path works." in text
    assert f"At 7 MB the buffered function URL fails ({LABEL_BUFFERED})." in text
    assert f"At 12 MB API Gateway (buffered) fails ({LABEL_APIGW_SIZE})." in text
    assert "Only the streaming function URL carries 12 MB" in text
    assert "2.10 MB/s after the first 6.29 MB" in text
    assert "first byte came sooner over the streaming URL (2.0 ms) than over" in text
    assert "use the streaming function URL" in text


def test_conclusion_for_a_dead_target_and_all_ok() -> None:
    cells = [cell("stream", 1000), cell("stream", 2000)]
    cells += [
        Cell("apigw", s, record(status=None, error=ErrorClass.CONNECT, complete=False), 1, 1, None,
             "cannot connect: refused")
        for s in (1000, 2000)
    ]  # fmt: skip
    text = conclude(cells)
    assert "Every path that answered carried every size up to 2 kB." in text
    assert "API Gateway (buffered) failed at every size (connect: cannot connect" in text
    assert conclude([]) == "Nothing was measured."


# --- rendering -------------------------------------------------------------------


def _render(renderable: Any, width: int = 100) -> str:
    from rich.console import Console

    console = Console(width=width, record=True, file=io.StringIO(), color_system=None)
    console.print(renderable)
    return console.export_text()


def test_table_shows_limits_knees_and_errors_per_size() -> None:
    from lstream_cli.render.compare import format_errors, format_report, format_table

    knee = Knee(burst_bytes=6_291_456, rate_after_burst_bytes_per_s=2_097_152, at_ms=100)
    cells = [
        cell("stream", 12_000_000, knee=knee),
        cell("buffered", 12_000_000, ok=False, limit=LABEL_BUFFERED),
        cell("buffered", 1_000_000),
    ]
    table = _render(format_table(cells))
    lines = table.splitlines()
    one = next(i for i, line in enumerate(lines) if "1 MB" in line)
    twelve = next(i for i, line in enumerate(lines) if "12 MB" in line)
    assert one < twelve  # sorted by size
    assert "knee 6.29 MB → 2.10 MB/s" in lines[twelve]
    assert any("502 ✗" in line and LABEL_BUFFERED in line for line in lines)
    errors = _render(format_errors(cells))
    assert "buffered at 12 MB:" in errors and "HTTP 502" in errors
    assert format_errors([cell("stream", 1000)]) is None
    report = _render(format_report(cells, "The conclusion.", interrupted=True))
    assert "Interrupted: the rows above" in report and "The conclusion." in report


def test_chart_bars_grow_with_time_and_failures_name_the_limit() -> None:
    from lstream_cli.render.compare import format_chart

    cells = [
        cell("stream", 1_000_000, ttfb_ms=2.0, total_ms=10.0),
        cell("stream", 12_000_000, ttfb_ms=2.0, total_ms=3000.0),
        cell("apigw", 12_000_000, ok=False, limit=LABEL_APIGW_SIZE),
    ]
    text = format_chart(cells).plain
    small, big = text.splitlines()[2], text.splitlines()[3]
    assert "1 MB" in small and "12 MB" in big
    assert big.count("█") > small.count("█") > 0
    assert small.count("▒") == big.count("▒")  # same TTFB, same TTFB bar
    assert f"✗ {LABEL_APIGW_SIZE}" in text
    assert [line for line in text.splitlines() if "│" in line][2].strip().startswith("12 MB")


@pytest.mark.parametrize(
    ("stream_ms", "buffered_ms", "phrase"),
    [
        (2.0, 9.0, "came sooner over the streaming URL (2.0 ms) than over"),
        (1.2, 1.9, "came about as soon over the streaming URL (1.2 ms) as over"),
        (40.0, 3.0, "came later over the streaming URL (40 ms) than over"),
    ],
)
def test_ttfb_comparison_does_not_read_noise_as_a_difference(
    stream_ms: float, buffered_ms: float, phrase: str
) -> None:
    cells = [cell("stream", 1000, ttfb_ms=stream_ms), cell("buffered", 1000, ttfb_ms=buffered_ms)]
    text = conclude(cells)
    assert phrase in text
    # Advice to stream for the first byte only when the data shows it.
    assert ("For the first byte sooner, use" in text) == ("came sooner" in phrase)


def test_conclusion_mentions_the_knee_when_every_path_carries_every_size() -> None:
    knee = Knee(burst_bytes=6_291_456, rate_after_burst_bytes_per_s=2_097_152, at_ms=100)
    text = conclude([cell("stream", 12_000_000, knee=knee), cell("apigw_stream", 12_000_000)])
    assert "Every path carried every size up to 12 MB." in text
    assert "Past their first 6.29 MB the streams slowed to about 2.10 MB/s." in text


def test_conclusion_of_an_interrupted_sweep_judges_only_measured_cells() -> None:
    """Ctrl-C during the last size: modes not yet measured there are not 'failing'."""
    cells = []
    for s in (1_000_000, 7_000_000):
        cells.append(cell("stream", s))
        cells.append(cell("buffered", s, ok=s < 6_291_556, limit=LABEL_BUFFERED))
        cells.append(cell("apigw_stream", s))
    cells.append(cell("stream", 12_000_000))
    cells.append(cell("buffered", 12_000_000, ok=False, limit=LABEL_BUFFERED))
    # apigw_stream at 12 MB was never measured.
    text = conclude(cells)
    assert "Only" not in text
    assert "The streaming function URL carries 12 MB (the sweep stopped before" in text
    assert f"At 7 MB the buffered function URL fails ({LABEL_BUFFERED})." in text
    # A mode measured at the largest size and failing there still makes "Only" true.
    cells.append(cell("apigw_stream", 12_000_000, ok=False, limit="API Gateway STREAM 15 min"))
    assert "Only the streaming function URL carries 12 MB" in conclude(cells)


def test_invoke_payload_carries_the_size_under_size_param() -> None:
    """--size-param names the size for Invoke too, flat and as a function URL event has it."""

    def invoke() -> Any:
        return {
            "StatusCode": 200,
            "Payload": StreamingBody(io.BytesIO(b"x"), 1),
            "ResponseMetadata": _meta(),
        }

    def stream() -> Any:
        events = [{"PayloadChunk": {"Payload": b"y"}}, {"InvokeComplete": {}}]
        return {"StatusCode": 200, "EventStream": iter(events), "ResponseMetadata": _meta()}

    fake = FakeLambda(invoke, stream)
    plan = Plan(
        sizes=(7_000_000,),
        spec=RequestSpec(url="http://127.0.0.1/"),
        invoke=_invoke_plan().invoke,
        size_param="bytes",
        warmup=False,
    )
    list(iter_cells(plan, invoke_client=fake))
    expected = {"bytes": "7000000", "queryStringParameters": {"bytes": "7000000"}}
    assert fake.payloads == [expected, expected]


def test_a_function_that_ignores_the_size_is_called_out() -> None:
    """A 200 with far fewer bytes than asked is not 'carrying' that size: say so."""
    from lstream_cli.render.compare import format_table

    cells = [
        cell("stream", 1_000_000, nbytes=1_000_000),
        cell("stream", 7_000_000, nbytes=1_234),
        cell("stream", 12_000_000, nbytes=1_234),
    ]
    text = conclude(cells)
    assert text.startswith(
        "Careful: the streaming function URL sent 1.23 kB when 7 MB was asked (2 cells in all)"
    )
    assert "--size-param" in text
    table = _render(format_table(cells))
    assert table.count("sent only 1.23 kB") == 2
    # Bodies of the size asked (or larger: headers, framing) raise nothing.
    assert "Careful" not in conclude(
        [cell("stream", 1000, nbytes=1000), cell("stream", 2000, nbytes=2100)]
    )


def test_a_path_failing_every_size_at_its_limit_is_not_a_broken_target() -> None:
    """Sizes all past the buffered limit: say so, recommend only what carried them."""
    cells = []
    for s in (7_000_000, 12_000_000):
        cells.append(cell("stream", s))
        cells.append(cell("buffered", s, ok=False, limit=LABEL_BUFFERED))
        cells.append(cell("invoke", s, ok=False, limit=LABEL_BUFFERED))
        cells.append(cell("apigw", s, ok=s < 10_485_760, limit=LABEL_APIGW_SIZE))
    text = conclude(cells)
    assert "check that target" not in text
    assert "well under its limit" not in text  # no buffered path carried 7 MB
    assert text.startswith(
        f"At 7 MB the buffered function URL and Invoke fail ({LABEL_BUFFERED}). "
        f"At 12 MB API Gateway (buffered) fails ({LABEL_APIGW_SIZE})."
    )
    assert "Already at 7 MB a buffered path fails: for responses this large use the " in text
    # Every buffered path past its limit at every size.
    only_big = [c for c in cells if c.size == 12_000_000]
    assert "No buffered path carried any size here: use the streaming function URL." in (
        conclude(only_big)
    )


def test_when_no_path_carries_any_size_nothing_is_recommended() -> None:
    cells = [
        cell("stream", 250_000_000, ok=False, limit=LABEL_STREAM),
        cell("buffered", 250_000_000, ok=False, limit=LABEL_BUFFERED),
    ]
    text = conclude(cells)
    assert "check that target" not in text and " use " not in text
    assert text.endswith("No path carried any size here.")
    # A real dead target (no size limit explains it) is still called out.
    cells.append(
        Cell("apigw", 250_000_000, record(status=403, error=ErrorClass.HTTP_4XX), 1, 1,
             "auth 403", "HTTP 403")
    )  # fmt: skip
    assert "API Gateway (buffered) failed at every size (auth 403): check that target." in (
        conclude(cells)
    )
    # Only broken targets: that is the whole finding.
    assert conclude(cells[2:]) == (
        "API Gateway (buffered) failed at every size (auth 403): check that target."
    )


def test_a_single_path_is_named_not_called_every_path() -> None:
    knee = Knee(burst_bytes=6_291_456, rate_after_burst_bytes_per_s=2_097_152, at_ms=100)
    text = conclude([cell("stream", 1_000_000), cell("stream", 7_000_000, knee=knee)])
    assert text.startswith("The streaming function URL carried every size up to 7 MB.")
    assert "Past its first 6.29 MB the stream slowed to about 2.10 MB/s." in text
    text = conclude(
        [cell("buffered", 1_000_000), cell("buffered", 7_000_000, ok=False, limit=LABEL_BUFFERED)]
    )
    assert text.startswith("Up to 1 MB the buffered function URL works.")
