"""A stack's REST API as an emulator front end: routing, then API Gateway's HTTP_PROXY.

Each request ``/STAGE/path`` is matched to a method (:mod:`.routes`); the
integration request (its ``Uri`` with the stack's deployed URLs mapped to
the local ones, the caller's query string, the static headers) goes out
through :class:`~lstream_cli.emulator.apigw.ApiGatewayApp`'s two transfer
modes, with the method's ``TimeoutInMillis``: BUFFERED (10 MB, at most
29 s) or STREAM (10 MB burst then 2 MB/s, at most 15 minutes). An unsigned
call to an ``AWS_IAM`` function URL gets that URL's 403, as on AWS: an
HTTP_PROXY integration cannot sign.
"""

from __future__ import annotations

from collections.abc import Callable

from lstream_cli.emulator.apigw import HOP_HEADERS, ApiGatewayApp
from lstream_cli.emulator.config import APIGW_STREAM_MAX_S, APIGW_TIMEOUT_S
from lstream_cli.emulator.http import HttpRequest, HttpResponse
from lstream_cli.emulator.runtime import Runtime, reply
from lstream_cli.stack.model import RestApiSpec
from lstream_cli.stack.routes import integration_target, match

__all__ = ["MISSING_TOKEN", "RestApiApp"]

MISSING_TOKEN = b'{"message":"Missing Authentication Token"}'


def _wire(value: str) -> bytes:
    """A header value as bytes: the caller's exactly as received, a static one as UTF-8."""
    try:
        return value.encode("latin-1")
    except UnicodeEncodeError:
        return value.encode("utf-8")


class RestApiApp(ApiGatewayApp):
    """One REST API of a stack, every stage and method of it."""

    def __init__(self, runtime: Runtime, api: RestApiSpec, localize: Callable[[str], str]) -> None:
        super().__init__(runtime, lambda: "", stream=True)
        self.api = api
        self.name = api.logical_id
        self._localize = localize

    async def _serve(self, request: HttpRequest, response: HttpResponse, request_id: str) -> str:
        raw_path, _, query = request.target.partition("?")
        found = match(self.api, request.method, raw_path)
        if found is None:
            reply(
                response,
                403,
                MISSING_TOKEN,
                request_id,
                error_type="MissingAuthenticationTokenException",
            )
            return "no method for this path"
        headers = [(k, v) for k, v in request.headers if k.lower() not in HOP_HEADERS]
        method, url, out = integration_target(found, request.method, query, headers)
        upstream = self.client.build_request(
            method,
            self._localize(url),
            headers=[(k.encode("latin-1"), _wire(v)) for k, v in out],
            content=request.body,
        )
        route = found.route
        limit_s = route.timeout_ms / 1000.0
        if route.transfer_mode == "STREAM":
            return await self._stream(
                request, response, request_id, upstream, min(limit_s, APIGW_STREAM_MAX_S)
            )
        return await self._buffered(
            request, response, request_id, upstream, min(limit_s, APIGW_TIMEOUT_S)
        )
