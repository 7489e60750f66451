"""The local emulator of streaming function URLs, API Gateway and the Lambda API.

``lstream serve`` runs it from the command line; in-process (compare-modes,
tests)::

    from lstream_cli.emulator import EmulatorConfig, running_emulator

    with running_emulator(EmulatorConfig(time_scale=100)) as endpoints:
        ...  # endpoints.stream, .buffered, .apigw, .apigw_stream, .lambda_api

Handlers are written against :mod:`lstream_cli.emulator.handlers`
(``ResponseStream``, ``Context``).
"""

from __future__ import annotations

from lstream_cli.emulator.config import EmulatorConfig, Endpoints, RequestLog
from lstream_cli.emulator.server import Emulator, running_emulator

__all__ = ["Emulator", "EmulatorConfig", "Endpoints", "RequestLog", "running_emulator"]
