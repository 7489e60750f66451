"""The paths compare-modes measures: their names, their order, which ones stream.

A mode is one way to reach a function: its two function URLs, the Lambda
API's two calls, API Gateway's two integrations. The sweep
(:mod:`lstream_cli.compare`), the rule that names a limit
(:func:`lstream_cli.limits.attribute_limit`) and the screen all use these.
"""

from __future__ import annotations

__all__ = ["MODES", "MODE_NAMES", "STREAMING_MODES", "URL_MODES"]

# Row order everywhere: the function URL pair, the Lambda API pair, API Gateway's pair.
MODES: tuple[str, ...] = ("stream", "buffered", "invoke", "invoke_stream", "apigw", "apigw_stream")
URL_MODES: tuple[str, ...] = ("stream", "buffered", "apigw", "apigw_stream")
STREAMING_MODES: frozenset[str] = frozenset({"stream", "invoke_stream", "apigw_stream"})
MODE_NAMES: dict[str, str] = {
    "stream": "the streaming function URL",
    "buffered": "the buffered function URL",
    "invoke": "Invoke",
    "invoke_stream": "InvokeWithResponseStream",
    "apigw": "API Gateway (buffered)",
    "apigw_stream": "API Gateway STREAM",
}
# Crosses the 6 MB buffered limit and API Gateway's 10 MB; streams run past
