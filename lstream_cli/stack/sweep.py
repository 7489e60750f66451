"""What ``compare-modes --template`` sweeps on a running stack.

:func:`find_targets` picks the paths from the stack: ``stream`` its
``RESPONSE_STREAM`` function URL, ``buffered`` its ``BUFFERED`` one (an
``AWS_IAM`` URL before a ``NONE`` one, as the seed measures them), and
``apigw_stream`` / ``apigw`` the first REST API whose methods stream /
buffer (a stack with one of each sweeps both); an output named for a mode
replaces the pick (``--apigw-output`` takes the mode of the API its URL
points into). For each path it also
tells whether the URL needs SigV4 and which buckets the function behind it
reads, so :func:`seed_objects` can put one object per swept size there,
named by its size in bytes (the examples' convention, ``?key=7000000``).
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from botocore.credentials import Credentials

from lstream_cli._exitcodes import UsageError
from lstream_cli.compare import WARMUP_SIZE, Plan
from lstream_cli.emulator.logs import FunctionLogSink
from lstream_cli.engine.lambda_api import InvokeTarget
from lstream_cli.request import RequestSpec
from lstream_cli.signing import Signer
from lstream_cli.stack.model import FunctionSpec, FunctionUrlSpec, RestApiSpec, Stack
from lstream_cli.stack.run import StackEndpoints, StackOptions, local_storage, running_stack
from lstream_cli.stack.s3 import LocalS3

__all__ = [
    "OUTPUT_FLAGS",
    "StackTargets",
    "SweepStackArgs",
    "find_targets",
    "seed_objects",
    "stack_plan",
]

# mode -> the flag that names an output for it
OUTPUT_FLAGS = {
    "stream": "--stream-output",
    "buffered": "--buffered-output",
    "apigw_stream": "--apigw-output",
    "apigw": "--apigw-output",
}
_CHUNK = bytes(range(256)) * 4096  # 1 MiB of a known pattern


@dataclass(frozen=True, slots=True)
class StackTargets:
    urls: dict[str, str]  # mode -> local base URL
    signed: frozenset[str]  # modes whose URL is AWS_IAM
    buckets: dict[str, tuple[str, ...]] = field(default_factory=dict)  # mode -> buckets read
    names: dict[str, str] = field(default_factory=dict)  # mode -> resource or output name

    @property
    def reads_s3(self) -> bool:
        return any(self.buckets.values())


def _pick_url(stack: Stack, mode: str) -> FunctionUrlSpec | None:
    wanted = "RESPONSE_STREAM" if mode == "stream" else "BUFFERED"
    urls = [u for u in stack.urls if u.invoke_mode == wanted]
    urls.sort(key=lambda u: u.auth_type != "AWS_IAM")  # AWS_IAM first, stable otherwise
    return urls[0] if urls else None


def _url_behind(stack: Stack, endpoints: StackEndpoints, url: str) -> FunctionUrlSpec | None:
    for spec in stack.urls:
        base = endpoints.urls.get(spec.logical_id)
        if base is not None and (url == base or url.startswith(base)):
            return spec
    return None


def find_targets(
    stack: Stack,
    endpoints: StackEndpoints,
    localize: Callable[[str], str],
    outputs: Mapping[str, str | None],
    required: bool = True,
) -> StackTargets:
    """The sweep's paths; ``outputs`` maps a mode to the output naming its URL (or None).

    ``localize`` maps a deployed URL of the stack to the local one; with
    ``required``, a stack with no URL to sweep is a usage error.
    """
    urls: dict[str, str] = {}
    names: dict[str, str] = {}
    behind: dict[str, FunctionUrlSpec | None] = {}
    for mode in ("stream", "buffered"):
        spec = _pick_url(stack, mode)
        if spec is not None:
            urls[mode] = endpoints.urls[spec.logical_id]
            names[mode] = spec.logical_id
            behind[mode] = spec
    for api in stack.apis:
        mode = "apigw_stream" if _streams(api) else "apigw"
        if mode in urls:
            continue
        urls[mode] = endpoints.apis[api.logical_id]
        names[mode] = api.logical_id
        root = next((r for r in api.routes if r.path == "/"), api.routes[0] if api.routes else None)
        behind[mode] = _url_behind(stack, endpoints, localize(root.uri)) if root else None
    for mode, output in outputs.items():
        if output is None:
            continue
        if output not in endpoints.outputs:
            flag = OUTPUT_FLAGS[mode]
            known = ", ".join(endpoints.outputs) or "none"
            raise UsageError(f"{flag} {output}: the template has no such output (it has: {known})")
        value = endpoints.outputs[output]
        if not value.startswith(("http://", "https://")):
            raise UsageError(f"{OUTPUT_FLAGS[mode]} {output}: its value is not a URL")
        if mode in ("apigw", "apigw_stream"):
            mode = _api_mode(stack, endpoints, value)
        urls[mode] = value
        names[mode] = output
        behind[mode] = _url_behind(stack, endpoints, value)
        if mode in ("apigw", "apigw_stream"):
            behind[mode] = _api_function_url(stack, endpoints, localize, value) or behind[mode]
    if not urls and required:
        raise UsageError(
            f"{stack.template.name}: no function URL or REST API to compare (and no output named)"
        )
    signed = frozenset(
        m
        for m, spec in behind.items()
        if spec is not None and m in ("stream", "buffered") and spec.auth_type == "AWS_IAM"
    )
    buckets = {
        m: stack.function(spec.function).reads_buckets
        for m, spec in behind.items()
        if spec is not None
    }
    return StackTargets(urls=urls, signed=signed, buckets=buckets, names=names)


def _streams(api: RestApiSpec) -> bool:
    return any(r.transfer_mode == "STREAM" for r in api.routes)


def _api_mode(stack: Stack, endpoints: StackEndpoints, value: str) -> str:
    """``apigw_stream`` or ``apigw`` for an output's URL: by the API it points into.

    A URL outside the stack's APIs is ``apigw_stream`` when the stack has a
    streaming API, else ``apigw``.
    """
    for api in stack.apis:
        base = endpoints.apis[api.logical_id].rsplit("/", 2)[0]  # without /STAGE/
        if value.startswith(base + "/"):
            return "apigw_stream" if _streams(api) else "apigw"
    return "apigw_stream" if any(_streams(a) for a in stack.apis) else "apigw"


def _api_function_url(
    stack: Stack, endpoints: StackEndpoints, localize: Callable[[str], str], value: str
) -> FunctionUrlSpec | None:
    """The function URL behind the root method of the API that ``value`` points into."""
    for api in stack.apis:
        base = endpoints.apis[api.logical_id].rsplit("/", 2)[0]  # without /STAGE/
        if value.startswith(base + "/"):
            root = next((r for r in api.routes if r.path == "/"), None)
            if root is not None:
                return _url_behind(stack, endpoints, localize(root.uri))
    return None


def _body(size: int) -> bytes:
    whole, rest = divmod(size, len(_CHUNK))
    return _CHUNK * whole + _CHUNK[:rest]


def seed_objects(s3: LocalS3, buckets: Iterable[str], sizes: Iterable[int]) -> int:
    """One object per size in each bucket, named by its size in bytes; returns how many."""
    count = 0
    for bucket in dict.fromkeys(buckets):
        s3.create_bucket(bucket)
        for size in dict.fromkeys(sizes):
            s3.put(bucket, str(size), _body(size))
            count += 1
    return count


@dataclass(frozen=True, slots=True)
class SweepStackArgs:
    """What ``compare-modes --template`` takes from compare's other flags."""

    outputs: dict[str, str | None]  # mode -> output naming its URL (--stream-output ...)
    sizes: tuple[int, ...]
    repeat: int
    size_param: str | None  # None: not given ("key" when the functions read S3, else "size")
    time_scale: float
    function_log: str | None  # a file for the functions' log lines (the CLI opens it)
    invoke: str | None = None  # a function (logical id or name) for the Lambda API rows


@contextlib.contextmanager
def stack_plan(
    stack: Stack,
    s3_dir: Path | None,
    args: SweepStackArgs,
    base: RequestSpec,
    function_log: FunctionLogSink | None = None,
) -> Iterator[Plan]:
    """The running stack's sweep :class:`~lstream_cli.compare.Plan`; the stack stops on exit.

    AWS_IAM function URLs accept a key made for this run, and the sweep signs
    with it; with functions that read S3, the local S3 holds one object per
    swept size (named by its size in bytes) and the size goes in ``?key=``.
    """
    access_key = "LSTREAMSWEEP" + secrets.token_hex(4).upper()
    secret_key = secrets.token_urlsafe(30)

    def accepted(key: str) -> tuple[str, str | None] | None:
        return (secret_key, None) if key == access_key else None

    reads_s3 = any(fn.reads_buckets for fn in stack.functions)
    options = StackOptions(
        time_scale=args.time_scale, credentials=accepted, function_log=function_log
    )
    with (
        local_storage(stack, s3_dir, always=reads_s3) as s3,
        running_stack(stack, options, s3) as run,
    ):
        assert run.endpoints is not None
        invoked = _invoked_function(stack, args.invoke)
        targets = find_targets(
            stack, run.endpoints, run.localize, args.outputs, required=invoked is None
        )
        buckets = [b for m in targets.urls for b in targets.buckets.get(m, ())]
        invoke: InvokeTarget | None = None
        if invoked is not None:
            buckets.extend(invoked.reads_buckets)
            invoke = InvokeTarget(
                function=invoked.name,
                region=stack.region,
                endpoint_url=run.endpoints.lambda_api,
                static_credentials=(access_key, secret_key),
                timeout=base.timeout,
            )
        size_param = args.size_param or ("key" if buckets else "size")
        if s3 is not None and buckets:
            seed_objects(s3, buckets, (WARMUP_SIZE, *args.sizes))
        signer = Signer(Credentials(access_key, secret_key), stack.region, "lambda")
        yield Plan(
            sizes=args.sizes,
            spec=base,
            urls=dict(targets.urls),
            signers={m: (signer if m in targets.signed else None) for m in targets.urls},
            invoke=invoke,
            repeat=args.repeat,
            size_param=size_param,
        )


def _invoked_function(stack: Stack, given: str | None) -> FunctionSpec | None:
    """The FunctionSpec ``--invoke`` names (its logical id or its FunctionName), or None."""
    if given is None:
        return None
    for spec in stack.functions:
        if given in (spec.logical_id, spec.name):
            return spec
    known = ", ".join(spec.logical_id for spec in stack.functions) or "none"
    raise UsageError(f"--invoke {given}: no such function in the template (it has: {known})")
