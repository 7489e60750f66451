"""How a ``get`` ended: its exit status and the one line that says why.

The rule (the README's exit-code table): a final status that is not 2xx
exits 3, a 3xx included, since the answer asked for did not come: a redirect
not followed (no ``-L``), one past ``--max-redirs``, or another 3xx (304
...), and a final 1xx too (a 101 the request did not ask for). A cut body exits 4, a failed connection 5. The line names a redirect's
target redacted (:func:`lstream_cli.redact.redact_url`).
"""

from __future__ import annotations

from lstream_cli._exitcodes import ExitStatus, exit_status_for_error
from lstream_cli.redact import redact_url, scrub
from lstream_cli.redirects import Followed

__all__ = ["get_outcome"]


def get_outcome(followed: Followed, max_redirs: int) -> tuple[ExitStatus, str | None]:
    """(exit status, the error line or None) for a finished, not interrupted, ``get``."""
    record = followed.record
    status = exit_status_for_error(None if record.error is None else record.error.value)
    if (
        status is ExitStatus.SUCCESS
        and record.status is not None
        and not 200 <= record.status < 300
    ):
        line = f"the server answered HTTP {record.status}"
        if followed.stopped_at_max and followed.location is not None:
            line = (
                f"stopped after {len(followed.hops)} redirects (--max-redirs {max_redirs}): "
                f"HTTP {record.status} to {redact_url(followed.location)}"
            )
        elif followed.location is not None:
            line += f": redirect to {redact_url(followed.location)}; use -L to follow"
        return ExitStatus.HTTP_ERROR, line
    if status is ExitStatus.SUCCESS:
        return status, None
    assert record.error is not None
    if record.error.value.startswith("http_") or record.error.value == "throttled":
        return status, f"the server answered HTTP {record.status}"
    if record.error.value == "truncated":
        return status, (
            f"stream truncated after {record.bytes:,} bytes "
            f"({record.error_detail or 'the body ended early'}); what arrived was written"
        )
    urls = [followed.url, *(h.url for h in followed.hops)]
    return status, scrub(record.error_detail or record.error.value, urls)
