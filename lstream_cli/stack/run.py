"""Running a :class:`~.model.Stack` on the emulator: its functions, URLs and REST APIs.

Each function gets an invoker (its execution environments: Node.js through
aws-lambda-ric, or the ``bootstrap`` of a custom runtime); each function URL
and each REST API listens on its own loopback port, bound to that invoker;
with ``--s3`` the functions reach a local S3 (:mod:`.s3`). The deployed URLs
of the stack map to the local listeners (:meth:`Stack.localize`), so the
outputs, the integration URIs and the functions' environment point at them.

In-process (compare-modes, tests)::

    with running_stack(stack, StackOptions(), s3_dir=None) as run:
        run.endpoints.outputs["StreamingUrl"]
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import socket
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from lstream_cli._exitcodes import ExitStatus, LstreamError, UsageError
from lstream_cli.emulator.config import (
    APIGW_REQUEST_LIMIT,
    REQUEST_LIMIT,
    STREAM_LIMIT,
    CredentialLookup,
    EmulatorConfig,
    RequestLog,
)
from lstream_cli.emulator.function import FunctionConfig, Invoker, make_invoker
from lstream_cli.emulator.functionurl import FunctionUrlApp
from lstream_cli.emulator.http import App, HttpServer
from lstream_cli.emulator.lambda_api import LambdaApiApp
from lstream_cli.emulator.logs import FunctionLogSink
from lstream_cli.emulator.runtime import Runtime
from lstream_cli.emulator.server import running_in_background, url_host
from lstream_cli.emulator.settings import RESERVED_VARIABLES, runtime_client_for
from lstream_cli.stack.model import FunctionSpec, Stack
from lstream_cli.stack.restapi import RestApiApp
from lstream_cli.stack.s3 import LocalS3

__all__ = [
    "LAMBDA_API",
    "StackEndpoints",
    "StackOptions",
    "StackRun",
    "local_storage",
    "running_stack",
]

MASK = "****"
LAMBDA_API = "lambda_api"  # the Lambda API listener (never a logical id: those have no "_")


@dataclass(frozen=True, slots=True)
class StackOptions:
    """How to run a stack (the flags of ``serve --template``)."""

    host: str = "127.0.0.1"
    port: int = 0  # 0: free ports; N: N, N+1, ... in the order of the endpoint table
    time_scale: float = 1.0
    throttle: bool = True
    stream_limit: int = STREAM_LIMIT
    profile: str | None = None  # whose credentials AWS_IAM URLs accept
    credentials: CredentialLookup | None = None  # overrides that (compare-modes' own key)
    # Given to the functions (None: none); a local S3's own pair replaces them.
    function_credentials: tuple[str, str, str | None] | None = field(default=None, repr=False)
    environment: tuple[tuple[str, str], ...] = field(default=(), repr=False)  # --env: wins
    runtime_client: str | None = None  # aws-lambda-ric's bin/index.mjs (None: node_modules)
    log: Callable[[RequestLog], None] | None = None
    function_log: FunctionLogSink | None = None


@dataclass(frozen=True, slots=True)
class StackEndpoints:
    """Where a running stack listens, and its outputs with the local URLs in them."""

    urls: Mapping[str, str]  # function URL logical id -> http://HOST:PORT/
    apis: Mapping[str, str]  # REST API logical id -> http://HOST:PORT/STAGE/ (first stage)
    outputs: Mapping[str, str]  # output name -> value (NoEcho values masked)
    s3: str | None = None
    lambda_api: str | None = None  # Invoke / InvokeWithResponseStream by FunctionName

    def as_dict(self) -> dict[str, Any]:
        return {
            "outputs": dict(self.outputs),
            "urls": dict(self.urls),
            "apis": dict(self.apis),
            "lambda_api": self.lambda_api,
            "s3": self.s3,
        }


class StackRun:
    """A stack's listeners and invokers on the running event loop."""

    def __init__(self, stack: Stack, options: StackOptions, s3: LocalS3 | None = None) -> None:
        self.stack = stack
        self.options = options
        self.s3 = s3
        self.runtime = Runtime(
            EmulatorConfig(
                host=options.host,
                time_scale=options.time_scale,
                throttle=options.throttle,
                stream_limit=options.stream_limit,
                profile=options.profile,
                credentials=options.credentials,
                log=options.log,
                region=stack.region,
            )
        )
        # Checked now, before anything listens: a function that cannot run, an
        # AWS_IAM URL with no credentials to accept. The invokers are made once
        # the ports are known, so the functions' environment can hold local URLs.
        self._hosts: dict[str, str] = {}
        for spec in stack.functions:
            self._function(spec)
        self._check_iam()
        self.invokers: dict[str, Invoker] = {}
        self._servers: list[HttpServer] = []
        self._rest: list[RestApiApp] = []
        self.endpoints: StackEndpoints | None = None

    def _check_iam(self) -> None:
        for url in self.stack.urls:
            if url.auth_type == "AWS_IAM":
                try:
                    self.runtime.iam_lookup()
                except UsageError as exc:
                    why = str(exc).removeprefix("--auth iam: ")
                    raise UsageError(
                        f"{self.stack.template.name}: {url.logical_id}: AuthType AWS_IAM: {why}"
                    ) from None
                return

    def _names(self) -> list[str]:
        """The listeners, in port order: function URLs, REST APIs, the Lambda API."""
        names = [u.logical_id for u in self.stack.urls] + [a.logical_id for a in self.stack.apis]
        return names + ([LAMBDA_API] if self.stack.functions else [])

    def _function(self, spec: FunctionSpec) -> FunctionConfig:
        where = f"{self.stack.template.name}: {spec.logical_id}"
        for name in spec.environment:
            if name in RESERVED_VARIABLES:
                raise UsageError(
                    f"{where}: Environment.Variables.{name}: reserved (Lambda sets it)"
                )
        # A value holding a deployed URL of the stack holds the local one (known once listening).
        env = {k: self.localize(v) for k, v in spec.environment.items()}
        credentials = self.options.function_credentials
        if self.s3 is not None:
            env.update(self.s3.environment())
            credentials = self.s3.credentials()
        env.update(self.options.environment)
        common: dict[str, Any] = {
            "name": spec.name,
            "code_dir": str(spec.code_dir),
            "timeout_s": float(spec.timeout_s),
            "memory_mb": spec.memory_mb,
            "environment": tuple(env.items()),
            "reserved_concurrency": spec.reserved_concurrency,
            "region": self.stack.region,
            "credentials": credentials,
        }
        try:
            if spec.runtime.startswith("nodejs"):
                return FunctionConfig(
                    kind="node",
                    handler=spec.handler,
                    runtime_client=self._runtime_client(where, spec.code_dir),
                    node=self._node(where),
                    **common,
                )
            bootstrap = spec.code_dir / "bootstrap"
            if not bootstrap.is_file() or not os.access(bootstrap, os.X_OK):
                raise UsageError(
                    f"{where}: Runtime {spec.runtime}: no executable 'bootstrap' in {spec.code_dir}"
                )
            return FunctionConfig(
                kind="bootstrap", handler=spec.handler, bootstrap=str(bootstrap), **common
            )
        except ValueError as exc:  # Timeout, MemorySize, ReservedConcurrentExecutions
            raise UsageError(f"{where}: {exc}") from None

    def _runtime_client(self, where: str, code_dir: Path) -> str:
        try:
            return runtime_client_for(code_dir, self.options.runtime_client)
        except UsageError as exc:
            raise UsageError(f"{where}: {exc}") from None

    @staticmethod
    def _node(where: str) -> str:
        node = shutil.which("node")
        if node is None:
            raise UsageError(f"{where}: Node.js (node) is not on PATH; install Node.js 20 or later")
        return node

    def localize(self, value: str) -> str:
        return self.stack.localize(value, self._hosts)

    def _apps(self) -> list[tuple[str, App, int]]:
        rt = self.runtime
        apps: list[tuple[str, App, int]] = []
        for url in self.stack.urls:
            mode: Literal["stream", "buffered"] = (
                "stream" if url.invoke_mode == "RESPONSE_STREAM" else "buffered"
            )
            app = FunctionUrlApp(
                rt,
                mode,
                self.invokers[url.function],
                auth="iam" if url.auth_type == "AWS_IAM" else "none",
                url_id=url.logical_id.lower(),
                name=url.logical_id,
            )
            apps.append((url.logical_id, app, REQUEST_LIMIT))
        for api in self.stack.apis:
            rest = RestApiApp(rt, api, self.localize)
            self._rest.append(rest)
            apps.append((api.logical_id, rest, APIGW_REQUEST_LIMIT))
        if self.stack.functions:
            by_name = {spec.name: self.invokers[spec.logical_id] for spec in self.stack.functions}
            apps.append((LAMBDA_API, LambdaApiApp(rt, by_name.get), REQUEST_LIMIT))
        return apps

    async def start(self) -> StackEndpoints:
        """Listen, then start every invoker (LstreamError, exit 2, when a port is taken)."""
        opts = self.options
        host = url_host(opts.host)
        bases: dict[str, str] = {}
        sockets: dict[str, socket.socket] = {}
        try:
            for index, name in enumerate(self._names()):
                port = opts.port + index if opts.port else 0
                sockets[name] = _listening_socket(opts.host, port, name)
                bases[name] = f"http://{host}:{sockets[name].getsockname()[1]}"
            self._map_hosts(bases)
            self.invokers = {
                spec.logical_id: make_invoker(self._function(spec), opts.function_log)
                for spec in self.stack.functions
            }
            for invoker in self.invokers.values():
                await invoker.start()
            for name, app, max_body in self._apps():
                server = HttpServer(app, max_body, on_reject=self.runtime.rejecter(name))
                self._servers.append(server)
                await server.listen(opts.host, 0, sock=sockets.pop(name))
        except BaseException:
            for sock in sockets.values():
                sock.close()
            await self.close()
            raise
        outputs = {
            o.name: (MASK if o.secret else self.localize(o.value)) for o in self.stack.outputs
        }
        self.endpoints = StackEndpoints(
            urls={u.logical_id: bases[u.logical_id] + "/" for u in self.stack.urls},
            apis={a.logical_id: f"{bases[a.logical_id]}/{a.stages[0]}/" for a in self.stack.apis},
            outputs=outputs,
            s3=self.s3.url if self.s3 is not None else None,
            lambda_api=bases.get(LAMBDA_API),
        )
        return self.endpoints

    def _map_hosts(self, bases: Mapping[str, str]) -> None:
        region = self.stack.region
        for url in self.stack.urls:
            host = f"{url.logical_id.lower()}.lambda-url.{region}.on.aws"
            self._hosts[host] = bases[url.logical_id]
        for api in self.stack.apis:
            self._hosts[f"{api.api_id}.execute-api.{region}.amazonaws.com"] = bases[api.logical_id]

    async def close(self) -> None:
        for server in self._servers:
            await server.close()
        self._servers = []
        for app in self._rest:
            await app.aclose()
        self._rest = []
        for invoker in self.invokers.values():
            with contextlib.suppress(Exception):
                await invoker.close()


def _listening_socket(host: str, port: int, name: str) -> socket.socket:
    try:
        sock = socket.create_server(
            (host, port), family=socket.AF_INET6 if ":" in host else socket.AF_INET, backlog=2048
        )
    except OSError as exc:
        reason = exc.strerror or str(exc)
        if exc.errno == errno.EADDRINUSE:
            reason = "address already in use (choose another --port, or 0)"
        raise LstreamError(
            f"cannot listen on {host}:{port} ({name}): {reason}", ExitStatus.USAGE
        ) from None
    sock.setblocking(False)
    return sock


@contextlib.contextmanager
def running_stack(
    stack: Stack, options: StackOptions, s3: LocalS3 | None = None
) -> Iterator[StackRun]:
    """Run ``stack`` on a background thread's event loop; yields once every port listens."""
    run = StackRun(stack, options, s3)
    with running_in_background(run):
        yield run


@contextlib.contextmanager
def local_storage(
    stack: Stack, s3_dir: Path | None, always: bool = False
) -> Iterator[LocalS3 | None]:
    """The local S3 of ``--s3 DIR`` (or, with ``always``, an empty one), or None.

    DIR's folders are checked before the server starts; every bucket of the
    template and every bucket a function's role reads is created, empty when
    DIR has no folder for it.
    """
    from lstream_cli.stack.s3 import bucket_folders, local_s3

    if s3_dir is None and not always:
        yield None
        return
    folders = bucket_folders(s3_dir) if s3_dir is not None else []
    with local_s3(region=stack.region) as s3:
        s3.load(folders)
        for bucket in stack.buckets:
            s3.create_bucket(bucket)
        for spec in stack.functions:
            for bucket in spec.reads_buckets:
                s3.create_bucket(bucket)
        yield s3
