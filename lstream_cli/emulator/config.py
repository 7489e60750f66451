"""What an emulator run is: its settings, its endpoints and AWS's limits.

The limits are AWS's published numbers, kept in one place so the function
URL, API Gateway and Lambda API front ends cannot disagree about them.
``docs/serve.md`` explains each number and how the caller sees it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from lstream_cli.emulator.function import FunctionConfig
    from lstream_cli.emulator.logs import FunctionLogSink

__all__ = [
    "APIGW_BUFFERED_LIMIT",
    "APIGW_REQUEST_LIMIT",
    "APIGW_STREAM_BURST",
    "APIGW_STREAM_MAX_S",
    "APIGW_STREAM_RATE",
    "APIGW_TIMEOUT_S",
    "BUFFERED_RESPONSE_LIMIT",
    "ENDPOINT_NAMES",
    "REQUEST_LIMIT",
    "STREAM_BURST",
    "STREAM_LIMIT",
    "STREAM_RATE",
    "CredentialLookup",
    "EmulatorConfig",
    "Endpoints",
    "RequestLog",
]

# Lambda, synchronous invocation: the request payload limit ("6 MB")...
REQUEST_LIMIT = 6_291_456
# ...and the response limit as Lambda enforces it (its error names 6291556 bytes).
BUFFERED_RESPONSE_LIMIT = 6_291_556
# Response streaming: up to 200 MB; the first 6 MB uncapped, then 2 MBps.
# Lambda writes "MB" for binary megabytes in its payload limits, so these are too.
STREAM_LIMIT = 200 * 1024 * 1024
STREAM_BURST = 6 * 1024 * 1024
STREAM_RATE = 2 * 1024 * 1024  # bytes per second after the burst
# API Gateway: 10 MB payloads, 29 s integration timeout (buffered);
# REST STREAM transfer mode: first 10 MB uncapped, then 2 MB/s, 15 minutes at most.
APIGW_REQUEST_LIMIT = 10 * 1024 * 1024
APIGW_BUFFERED_LIMIT = 10 * 1024 * 1024
APIGW_TIMEOUT_S = 29.0
APIGW_STREAM_BURST = 10 * 1024 * 1024
APIGW_STREAM_RATE = 2 * 1024 * 1024
APIGW_STREAM_MAX_S = 15 * 60.0

ENDPOINT_NAMES = ("stream", "buffered", "apigw", "apigw_stream", "lambda_api")

# access key -> (secret key, session token or None), or None for an unknown key.
CredentialLookup = Callable[[str], "tuple[str, str | None] | None"]


@dataclass(frozen=True, slots=True)
class RequestLog:
    """One served request, for the request log (never holds secrets)."""

    endpoint: str  # one of ENDPOINT_NAMES
    method: str
    path: str  # the path only: a query string may carry a presigned signature
    status: int
    bytes: int  # response body bytes sent
    ms: float  # from the request's arrival to the end of its response
    note: str = ""  # e.g. "cut: 200 MB stream limit", "auth: bad signature"


@dataclass(frozen=True, slots=True)
class EmulatorConfig:
    """Settings of one emulator run (the flags of ``lstream serve``)."""

    host: str = "127.0.0.1"
    port: int = 0  # 0: free ports; N: stream N, buffered N+1, apigw N+2, ...
    auth: Literal["none", "iam"] = "none"
    handler: str = "synthetic"  # synthetic | file:PATH | module:function | path.py:function
    time_scale: float = 1.0  # rates x F, emulated durations / F
    throttle: bool = True  # False: no bandwidth caps at all
    secret_header: tuple[str, str] | None = None  # (name, value) apigw adds, functions check
    profile: str | None = None  # AWS profile whose credentials --auth iam accepts
    credentials: CredentialLookup | None = None  # overrides the default credential chain
    log: Callable[[RequestLog], None] | None = None  # called once per served request
    stream_limit: int = STREAM_LIMIT  # bytes a stream may carry before it is cut; 0 = none
    function_name: str = "lstream-emulator"  # name used in contexts and ARNs
    region: str = "us-east-1"
    # The function every endpoint runs (None: ``handler`` in-process, Timeout 900 as
    # the example stack has it).
    function: FunctionConfig | None = None
    function_log: FunctionLogSink | None = None  # START/END/REPORT and the function's output

    def function_config(self) -> FunctionConfig:
        """The function the five endpoints run."""
        from lstream_cli.emulator.function import MAX_TIMEOUT_S, FunctionConfig

        if self.function is not None:
            if self.function.kind == "inprocess" and self.function.time_scale != self.time_scale:
                return replace(self.function, time_scale=self.time_scale)
            return self.function
        return FunctionConfig(
            name=self.function_name,
            kind="inprocess",
            handler=self.handler,
            timeout_s=MAX_TIMEOUT_S,
            region=self.region,
            time_scale=self.time_scale,
        )

    def __post_init__(self) -> None:
        if self.auth not in ("none", "iam"):
            raise ValueError(f"auth must be 'none' or 'iam', not {self.auth!r}")
        if not self.time_scale > 0:
            raise ValueError("time_scale must be a positive number")
        if self.stream_limit < 0:
            raise ValueError("stream_limit must be >= 0 (0 = no limit)")
        if not 0 <= self.port <= 65535 - 4:
            raise ValueError("port must be 0 (free ports) or 1..65531")


@dataclass(frozen=True, slots=True)
class Endpoints:
    """Base URLs of a running emulator (no trailing slash)."""

    stream: str
    buffered: str
    apigw: str
    apigw_stream: str
    lambda_api: str

    def as_dict(self) -> dict[str, str]:
        return asdict(self)
