"""One request, streamed and measured (``get`` and compare-modes' URL modes).

:func:`fetch` builds the request (headers, signature), makes the TLS context
and everything else it needs, and only then starts the clock (``t_start``):
what is timed is the network alone, DNS, TCP, TLS, the request, the head,
the body. The wire work is :class:`lstream_cli.engine.h1.Client` over the
client core (:mod:`lstream_cli.engine.core`) that the load engine uses too,
so ``get`` and ``bench -n 1`` read every response the same way.

The body is consumed incrementally: each delivery is timed, handed to the
:class:`BodyMeter` and passed to a sink (a file, stdout, or nothing) before
the next read, so memory stays flat whatever the size. ``headers_ms`` is the
moment the head was parsed, ``ttfb_ms`` the first body byte (stamped when
the read that carried it returned, with the head when they came together).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from lstream_cli.engine.core import USER_AGENT, Exchange, RequestTemplate
from lstream_cli.engine.h1 import Client, Interrupted
from lstream_cli.engine.routes import route_picker, trust_for
from lstream_cli.measure import BodyMeter, MeterOptions
from lstream_cli.models import RequestRecord, ns_to_ms
from lstream_cli.net.options import network_of
from lstream_cli.request import RequestSpec

if TYPE_CHECKING:
    import ssl

    from lstream_cli.signing import Signer

__all__ = ["USER_AGENT", "Interrupted", "Progress", "SentRequest", "fetch", "make_client"]

_PROGRESS_EVERY_NS = 100_000_000


@dataclass(frozen=True, slots=True)
class Progress:
    """A live view of one request in flight (for the progress line)."""

    elapsed_s: float
    bytes: int
    ttfb_ms: float | None
    status: int | None


@dataclass(frozen=True, slots=True)
class SentRequest:
    """What went on the wire, for ``-v`` (headers unredacted: redact to print)."""

    method: str
    url: str
    headers: tuple[tuple[str, str], ...]


def make_client(spec: RequestSpec, **kw: Any) -> Client:
    """A client for ``spec``'s TLS and time-out settings (``kw``: see :class:`Client`).

    Reuse one for several requests to the same origin: its connections are
    kept alive between them.
    """
    network = network_of(spec)  # proxy and CA bundle (net.options), resolved untimed
    trust = trust_for(network, spec.url, spec.insecure)
    kw.setdefault("route_for", route_picker(network))
    verify: bool | ssl.SSLContext = trust.context() if trust is not None else not spec.insecure
    return Client(verify=verify, timeout_s=spec.timeout, trust=trust, **kw)


def fetch(
    spec: RequestSpec,
    signer: Signer | None = None,
    sink: Callable[[Any], object] | None = None,
    on_progress: Callable[[Progress], None] | None = None,
    on_head: Callable[[SentRequest, int, tuple[tuple[str, str], ...], str], None] | None = None,
    client: Client | None = None,
    on_request: Callable[[SentRequest], None] | None = None,
    options: MeterOptions | None = None,
) -> RequestRecord:
    """Send ``spec``, stream the body into ``sink``, return the measured record.

    ``sink`` gets each body delivery as a bytes-like object (a ``memoryview``
    into the read buffer for Content-Length bodies) valid during the call.
    ``on_request`` sees the request about to be sent, before the clock
    starts (``-v`` prints it even when no response ever comes). ``options``:
    what the meter measures beyond bytes (``--events``, ``--stall-timeout``).
    ``client``: reuse its kept-alive connections (one is made and closed
    otherwise).

    Network failures become a record with an error class; exceptions that
    are not about the request (a failing sink) propagate after the bytes
    already received have been handed to the sink; Ctrl-C raises
    :class:`Interrupted` with the record measured so far.
    """
    own_client = client is None
    http = client if client is not None else make_client(spec)
    try:
        template = RequestTemplate(spec, signer, route_for=http.route_for)
        data, headers = template.build()
        sent = SentRequest(spec.method, template.url, headers)
        http.prepare(template.origin)
        if on_request is not None:
            on_request(sent)

        head_cb = None
        if on_head is not None:
            head = on_head

            def head_cb(ex: Exchange) -> None:
                head(sent, ex.status, ex.str_headers(), ex.status_line)

        t_start = time.perf_counter_ns()
        meter = BodyMeter(t_start, options=options)
        deliver = sink
        if on_progress is not None:
            deliver = _with_progress(meter, sink, on_progress)
        record = http.request(template, data, meter, sink=deliver, on_head=head_cb)
        if on_progress is not None and record.complete:
            on_progress(_progress(meter, t_start + (record.end_ns or 0)))
        return record
    finally:
        if own_client:
            http.close()


def _with_progress(
    meter: BodyMeter, sink: Callable[[Any], object] | None, on_progress: Callable[[Progress], None]
) -> Callable[[Any], object]:
    perf = time.perf_counter_ns
    next_at = meter.t_start_ns + _PROGRESS_EVERY_NS

    def deliver(chunk: Any) -> None:
        nonlocal next_at
        if sink is not None:
            sink(chunk)
        now = perf()
        if now >= next_at:
            next_at = now + _PROGRESS_EVERY_NS
            on_progress(_progress(meter, now))

    return deliver


def _progress(meter: BodyMeter, now: int) -> Progress:
    return Progress(
        elapsed_s=(now - meter.t_start_ns) / 1e9,
        bytes=meter.bytes,
        ttfb_ms=ns_to_ms(meter.first_byte_ns),
        status=meter.status,
    )
