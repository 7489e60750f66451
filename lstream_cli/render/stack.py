"""What ``serve --template`` shows of a stack: a label per endpoint, and its settings.

Never a secret: parameters marked ``NoEcho`` are masked, environment values
and static header values are never shown (only their names).
"""

from __future__ import annotations

from lstream_cli.stack.model import Stack

__all__ = ["stack_labels", "stack_settings"]


def stack_labels(stack: Stack) -> dict[str, str]:
    """Endpoint name (a logical id) -> what it is."""
    labels: dict[str, str] = {}
    for url in stack.urls:
        target = url.function + (f":{url.qualifier}" if url.qualifier else "")
        labels[url.logical_id] = f"function URL, {url.invoke_mode}, {url.auth_type} -> {target}"
    for api in stack.apis:
        modes: list[str] = sorted({r.transfer_mode for r in api.routes}) or ["no methods"]
        labels[api.logical_id] = (
            f"REST API {api.name!r}, {len(api.routes)} HTTP_PROXY methods, {'/'.join(modes)}"
        )
    names = ", ".join(fn.name for fn in stack.functions)
    labels["lambda_api"] = (
        f"Lambda API (--endpoint-url): Invoke, InvokeWithResponseStream of {names}"
    )
    return labels


def stack_settings(stack: Stack, s3_url: str | None, credentials: str) -> dict[str, str]:
    """The lines under the table: template, parameters, functions, S3."""
    settings = {"template": f"{stack.template} (stack {stack.stack_name}, {stack.region})"}
    shown = stack.shown_parameters()
    if shown:
        settings["parameters"] = ", ".join(f"{k}={v}" for k, v in shown.items())
    for fn in stack.functions:
        env = ", ".join(fn.environment) or "none"
        concurrency = (
            f", reserved concurrency {fn.reserved_concurrency}"
            if fn.reserved_concurrency is not None
            else ""
        )
        settings[f"function {fn.logical_id}"] = (
            f"{fn.runtime} {fn.handler} in {fn.code_dir}, {fn.timeout_s} s, {fn.memory_mb} MB"
            f"{concurrency}; environment {env} (values hidden)"
        )
    for api in stack.apis:
        for route in api.routes:
            if route.static_headers:
                names = ", ".join(name for name, _ in route.static_headers)
                settings[f"{api.logical_id} {route.http_method} {route.path}"] = (
                    f"adds {names} (value hidden)"
                )
    if stack.not_run:
        settings["not run locally"] = ", ".join(f"{lid} ({rtype})" for lid, rtype in stack.not_run)
    if s3_url is not None:
        settings["local S3"] = s3_url
    else:
        read = sorted({b for fn in stack.functions for b in fn.reads_buckets})
        if read:
            settings["S3"] = (
                f"no --s3: the functions read {', '.join(read)} where their credentials "
                "and --env point"
            )
    settings["function credentials"] = credentials
    return settings
