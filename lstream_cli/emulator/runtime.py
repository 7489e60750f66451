"""What every front end of one emulator run shares.

The run's default function (its invoker), the credentials ``--auth iam``
accepts, the throttle settings, the request log and the token the API
Gateway front ends use to reach the function URL behind them. One
:class:`Runtime` per run, built before any socket is opened, so a bad
``--handler`` or missing credentials fail early. (It is the emulator's
shared state; the Lambda *Runtime API* is :mod:`lstream_cli.emulator.runtime_api`.)
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import os
import secrets
import time
import uuid
from collections.abc import Callable

from lstream_cli._exitcodes import UsageError
from lstream_cli.emulator.config import CredentialLookup, EmulatorConfig, RequestLog
from lstream_cli.emulator.function import Invoker, make_invoker
from lstream_cli.emulator.handlers import Context
from lstream_cli.emulator.http import HttpRequest, HttpResponse
from lstream_cli.emulator.sigv4 import (
    EmulatorCredentialsError,
    VerifyResult,
    emulator_credentials,
    verify_request,
)
from lstream_cli.emulator.throttle import BurstThenRate

__all__ = ["INTERNAL_HEADER", "Runtime", "new_request_id", "reply"]

# Sent by the API Gateway front ends to the function URL behind them: an
# HTTP_PROXY integration carries no SigV4 signature, so the function URL
# trusts this per-run random token instead (it never leaves the process).
INTERNAL_HEADER = "x-lstream-apigw"


_ID_PREFIX = str(uuid.uuid4())[:23] + "-"  # random per process
_id_counter = itertools.count(1)


def _new_id_prefix() -> None:
    """A forked process (``serve --workers N``) draws its own prefix: ids never repeat."""
    global _ID_PREFIX, _id_counter
    _ID_PREFIX = str(uuid.uuid4())[:23] + "-"
    _id_counter = itertools.count(1)


os.register_at_fork(after_in_child=_new_id_prefix)


def new_request_id() -> str:
    """A request id shaped like a UUID: random per process, then a counter (cheap)."""
    return _ID_PREFIX + "%012x" % (next(_id_counter) & 0xFFFFFFFFFFFF)


def reply(
    response: HttpResponse,
    status: int,
    body: bytes,
    request_id: str,
    content_type: str = "application/json",
    error_type: str | None = None,
) -> None:
    """A front end's own whole answer (an error, a refusal), with AWS's id headers."""
    headers = [("content-type", content_type), ("x-amzn-requestid", request_id)]
    if error_type:
        headers.append(("x-amzn-errortype", error_type))
    response.send(status, body, headers)


class Runtime:
    """Shared state of one emulator run."""

    def __init__(self, config: EmulatorConfig) -> None:
        self.config = config
        # The function the default endpoints run (raises UsageError when it cannot load).
        self.invoker: Invoker = make_invoker(config.function_config(), config.function_log)
        self.internal_token = secrets.token_hex(16)
        self.lookup: CredentialLookup | None = None
        if config.auth == "iam":
            self.lookup = config.credentials or _default_lookup(config.profile)
        self.secret_header = config.secret_header
        if self.secret_header is not None:
            name, value = self.secret_header
            self.secret_name = name.lower()
            self.secret_value = value.encode("utf-8")
        self.endpoints: dict[str, str] = {}
        # The streaming size cap (200 MB unless configured; 0 = none).
        self.stream_limit = config.stream_limit or (1 << 62)

    def iam_lookup(self) -> CredentialLookup:
        """The credentials a SigV4-checking endpoint accepts (built once, on demand)."""
        if self.lookup is None:
            self.lookup = self.config.credentials or _default_lookup(self.config.profile)
        return self.lookup

    def context(self, timeout_s: float = 900.0, request_id: str | None = None) -> Context:
        return Context(
            self.config.function_name,
            aws_request_id=request_id or new_request_id(),
            region=self.config.region,
            timeout_s=timeout_s,
            time_scale=self.config.time_scale,
        )

    def throttle(self, burst: int, rate: float) -> BurstThenRate | None:
        if not self.config.throttle:
            return None
        return BurstThenRate(burst, rate * self.config.time_scale)

    def scaled(self, seconds: float) -> float:
        """An emulated duration (29 s, 15 min) under ``--time-scale``."""
        return seconds / self.config.time_scale

    def log(
        self,
        endpoint: str,
        request: HttpRequest,
        status: int,
        nbytes: int,
        t0: float,
        note: str = "",
    ) -> None:
        sink = self.config.log
        if sink is None:
            return
        ms = (time.perf_counter() - t0) * 1000.0
        # A broken log sink must not break serving (try, not suppress(): no context
        # manager per request).
        try:  # noqa: SIM105
            sink(RequestLog(endpoint, request.method, request.path, status, nbytes, ms, note))
        except Exception:
            pass

    def rejecter(self, endpoint: str) -> Callable[[str, int], None]:
        """A request-log callback for requests refused before parsing ended (400)."""

        def reject(client: str, status: int) -> None:
            sink = self.config.log
            if sink is not None:
                with contextlib.suppress(Exception):
                    sink(RequestLog(endpoint, "-", "-", status, 0, 0.0, "malformed request"))

        return reject

    def check_iam(
        self, request: HttpRequest, lookup: CredentialLookup | None = None
    ) -> VerifyResult:
        """The verdict on a SigV4-signed request (its signer's access key when it passes).

        ``lookup``: the credentials accepted (default: the run's ``--auth iam``
        ones). The reason never holds secrets.
        """
        lookup = lookup or self.lookup
        if lookup is None:
            return VerifyResult(True, "")
        body_sha256 = hashlib.sha256(request.body).hexdigest()
        # The server decodes the wire as latin-1 (one character per byte); the
        # verifier signs text decoded as UTF-8, so any byte signs as received.
        headers = [(name, _as_utf8(value)) for name, value in request.headers]
        try:
            return verify_request(
                request.method, _as_utf8(request.target), headers, body_sha256, lookup
            )
        except Exception as exc:  # a verifier bug must read as a refusal, not a 500
            return VerifyResult(False, f"verifier error: {type(exc).__name__}")

    def from_apigw(self, request: HttpRequest) -> bool:
        value = request.header(INTERNAL_HEADER)
        return value is not None and secrets.compare_digest(value, self.internal_token)

    def check_secret(self, request: HttpRequest) -> bool:
        """The seed's secret-header check (always true without --secret-header)."""
        if self.secret_header is None:
            return True
        for name, value in request.headers:
            if name.lower() == self.secret_name:
                return secrets.compare_digest(value.encode("utf-8"), self.secret_value)
        return False


def _as_utf8(wire: str) -> str:
    if wire.isascii():
        return wire
    return wire.encode("latin-1", "replace").decode("utf-8", "surrogateescape")


def _default_lookup(profile: str | None) -> CredentialLookup:
    try:
        lookup = emulator_credentials(profile)
    except EmulatorCredentialsError as exc:  # an unknown profile, a broken file
        raise UsageError(f"--auth iam: {exc}") from None
    if lookup is None:
        from lstream_cli.signing import credential_sources, load_session

        # The files and profile really read (AWS_SHARED_CREDENTIALS_FILE, ...), as get says.
        raise UsageError(
            "--auth iam: no AWS credentials for the emulator to accept; looked in "
            + credential_sources(load_session(profile))
        )
    return lookup
