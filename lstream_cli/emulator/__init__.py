"""The local emulator of streaming function URLs, API Gateway and the Lambda API.

``lstream serve`` runs it from the command line; in-process (compare-modes,
tests)::

    from lstream_cli.emulator import EmulatorConfig, running_emulator

    with running_emulator(EmulatorConfig(time_scale=100)) as endpoints:
        ...  # endpoints.stream, .buffered, .apigw, .apigw_stream, .lambda_api

The function every endpoint runs is ``EmulatorConfig.function``, a
:class:`FunctionConfig` (None: ``handler`` in-process, Timeout 900 as the
example stack has it)::

    fn = FunctionConfig(name="app", kind="node", handler="app.handler",
                        code_dir="fn/", runtime_client="node_modules/aws-lambda-ric/bin/index.mjs")
    with running_emulator(EmulatorConfig(function=fn, function_log=print)) as endpoints:
        ...

:func:`~lstream_cli.emulator.settings.function_from_flags` builds one from
``serve``'s flags (``app.mjs:handler``, ``--bootstrap``, ...).

Several functions in one emulator: each front end is an app bound to one
invoker (:func:`make_invoker`), served by an :class:`~lstream_cli.emulator.http.HttpServer`::

    runtime = Runtime(config)                       # auth, throttle, request log
    invoker = make_invoker(fn, config.function_log)
    await invoker.start()
    url = FunctionUrlApp(runtime, "stream", invoker, auth="iam", url_id="abc123")
    server = HttpServer(url, REQUEST_LIMIT, on_reject=runtime.rejecter("stream"))
    port = await server.listen("127.0.0.1", 0)
    api = LambdaApiApp(runtime, functions={"app": invoker}.get)  # unknown name: 404
    ...
    await server.close(); await invoker.close()    # every environment's process dies

``ApiGatewayApp(runtime, upstream, stream)`` sits in front of a function URL
given by its base URL. In-process handlers are written against
:mod:`lstream_cli.emulator.handlers` (``ResponseStream``, ``Context``): the
emulator's own protocol, not a Lambda runtime; Node.js and custom runtimes
speak the Lambda Runtime API (:mod:`lstream_cli.emulator.runtime_api`) from
execution environments (:mod:`lstream_cli.emulator.environment`).
"""

from __future__ import annotations

from lstream_cli.emulator.config import EmulatorConfig, Endpoints, RequestLog
from lstream_cli.emulator.function import (
    FunctionConfig,
    FunctionError,
    Invoker,
    InvokeRequest,
    Throttled,
    make_invoker,
)
from lstream_cli.emulator.server import Emulator, running_emulator

__all__ = [
    "Emulator",
    "EmulatorConfig",
    "Endpoints",
    "FunctionConfig",
    "FunctionError",
    "InvokeRequest",
    "Invoker",
    "RequestLog",
    "Throttled",
    "make_invoker",
    "running_emulator",
]
