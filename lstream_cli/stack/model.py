"""The typed model of a stack as a local run needs it.

:func:`lstream_cli.stack.template.load_stack` builds a :class:`Stack` from a
SAM or CloudFormation template: every value already resolved (parameters,
pseudo parameters, intrinsic functions), every path absolute. URLs keep the
shape they have once deployed (``https://ID.lambda-url.REGION.on.aws/``,
``https://ID.execute-api.REGION.amazonaws.com/STAGE/``); a running stack
maps those hosts to its local listeners with :meth:`Stack.localize`, so an
output or an integration URI written against the deployed stack points at
the local one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

__all__ = [
    "AuthType",
    "FunctionSpec",
    "FunctionUrlSpec",
    "InvokeMode",
    "Output",
    "RestApiSpec",
    "RouteSpec",
    "Stack",
    "TransferMode",
]

AuthType = Literal["AWS_IAM", "NONE"]
InvokeMode = Literal["RESPONSE_STREAM", "BUFFERED"]
TransferMode = Literal["STREAM", "BUFFERED"]


@dataclass(frozen=True, slots=True)
class FunctionSpec:
    """One ``AWS::Lambda::Function`` (SAM functions arrive translated into these)."""

    logical_id: str
    name: str  # FunctionName, or the name CloudFormation would make up
    runtime: str  # nodejs*, provided.*
    handler: str  # "index.handler"; for provided.* whatever the bootstrap reads
    code_dir: Path  # absolute: the folder beside the template
    timeout_s: int = 3
    memory_mb: int = 128
    environment: Mapping[str, str] = field(default_factory=dict, repr=False)  # may hold secrets
    reserved_concurrency: int | None = None
    # Buckets its execution role may read objects from (s3:GetObject), by name.
    reads_buckets: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class FunctionUrlSpec:
    """One ``AWS::Lambda::Url`` (SAM's ``FunctionUrlConfig`` included)."""

    logical_id: str
    function: str  # logical id of the FunctionSpec it invokes
    qualifier: str | None  # alias name, or None for $LATEST
    auth_type: AuthType
    invoke_mode: InvokeMode
    url: str  # the deployed shape: https://ID.lambda-url.REGION.on.aws/


@dataclass(frozen=True, slots=True)
class RouteSpec:
    """One ``AWS::ApiGateway::Method`` with an ``HTTP_PROXY`` integration."""

    logical_id: str
    path: str  # resource path: "/", "/{proxy+}", "/items/{id}"
    http_method: str  # GET, POST, ..., or ANY
    integration_method: str  # the method sent to the backend (ANY: the caller's)
    uri: str  # may hold {name} placeholders filled from path parameters
    # integration.request.header.NAME -> static value (quotes removed); may be a secret
    static_headers: tuple[tuple[str, str], ...] = field(default=(), repr=False)
    # integration.request.path/querystring/header.NAME -> method.request.path/querystring/header.NAME
    mapped: tuple[tuple[str, str], ...] = ()
    transfer_mode: TransferMode = "BUFFERED"
    timeout_ms: int = 29_000


@dataclass(frozen=True, slots=True)
class RestApiSpec:
    """One ``AWS::ApiGateway::RestApi``: its routes and its stages."""

    logical_id: str
    api_id: str  # the id in its deployed URL
    name: str
    stages: tuple[str, ...]
    routes: tuple[RouteSpec, ...]

    def url(self, region: str, stage: str) -> str:
        return f"https://{self.api_id}.execute-api.{region}.amazonaws.com/{stage}/"


@dataclass(frozen=True, slots=True)
class Output:
    """One entry of ``Outputs``: ``secret`` when it holds a ``NoEcho`` parameter's value."""

    name: str
    value: str
    description: str = ""
    secret: bool = False


@dataclass(frozen=True, slots=True)
class Stack:
    """A template, resolved for a local run."""

    template: Path
    stack_name: str
    region: str
    account_id: str
    parameters: Mapping[str, str] = field(repr=False)  # every value, NoEcho ones included
    secret_parameters: frozenset[str]  # names of the NoEcho parameters
    functions: tuple[FunctionSpec, ...]
    urls: tuple[FunctionUrlSpec, ...]
    apis: tuple[RestApiSpec, ...]
    outputs: tuple[Output, ...]
    buckets: tuple[str, ...] = ()  # names of the template's AWS::S3::Bucket resources
    # (logical id, type) of the resources a local run leaves out (an HTTP API, a queue...)
    not_run: tuple[tuple[str, str], ...] = ()

    def function(self, logical_id: str) -> FunctionSpec:
        for spec in self.functions:
            if spec.logical_id == logical_id:
                return spec
        raise KeyError(logical_id)

    def shown_parameters(self) -> dict[str, str]:
        """Parameter values as they may be printed (NoEcho ones masked)."""
        return {
            k: ("****" if k in self.secret_parameters else v) for k, v in self.parameters.items()
        }

    def localize(self, value: str, hosts: Mapping[str, str]) -> str:
        """``value`` with every deployed ``https://HOST`` of this stack mapped to its local base.

        ``hosts`` maps a host (``ID.lambda-url.REGION.on.aws``) to a local base
        URL without a trailing slash (``http://127.0.0.1:9000``).
        """
        for host, base in hosts.items():
            value = value.replace(f"https://{host}", base)
        return value
