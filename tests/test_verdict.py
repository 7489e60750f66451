"""The streamed / looks-buffered verdict, table-tested on hand-made records."""

from __future__ import annotations

import pytest

from lstream_cli.models import ErrorClass, RequestRecord
from lstream_cli.verdict import judge

MS = 1_000_000


def _record(
    first_ms: float | None, end_ms: float, reads: int, nbytes: int = 1000, complete: bool = True
) -> RequestRecord:
    return RequestRecord(
        t_start_ns=0,
        status=200,
        connect_ns=None,
        headers_ns=0,
        first_byte_ns=None if first_ms is None else int(first_ms * MS),
        end_ns=int(end_ms * MS),
        bytes=nbytes if reads else 0,
        reads=reads,
        gap_max_ns=None,
        gap_p99_ns=None,
        knee=None,
        complete=complete,
        error=None if complete else ErrorClass.TRUNCATED,
    )


@pytest.mark.parametrize(
    ("first_ms", "end_ms", "reads", "complete", "kind", "says"),
    [
        # Held back, then everything at once: buffered.
        (1000.0, 1001.0, 1, True, "looks_buffered", "single read at the end"),
        (1000.0, 1005.0, 8, True, "looks_buffered", "held back"),
        # Spread over the whole response: streamed.
        (2.0, 1000.0, 50, True, "streamed", "50 reads"),
        # Too quick to tell.
        (1.0, 5.0, 3, True, "inconclusive", "too fast"),
        # One early read, then silence until the cut or the timeout: not "at the end".
        (4.0, 104.0, 1, False, "inconclusive", "single read at 4 ms"),
        (2.0, 1000.0, 1, True, "inconclusive", "nothing more until 1000 ms"),
        # Nothing at all.
        (None, 100.0, 0, True, "no_body", "no body"),
    ],
)
def test_verdict_table(
    first_ms: float | None,
    end_ms: float,
    reads: int,
    complete: bool,
    kind: str,
    says: str,
) -> None:
    verdict = judge(_record(first_ms, end_ms, reads, complete=complete))
    assert verdict.kind == kind
    assert says in verdict.reason
