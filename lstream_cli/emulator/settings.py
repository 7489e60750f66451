"""From ``lstream serve``'s flags to a :class:`FunctionConfig`.

- ``--handler path/to/app.mjs:handler`` (``.mjs``, ``.js``, ``.cjs``): Node.js
  through ``aws-lambda-ric``, found in ``node_modules`` of the handler's
  folder or any parent (or ``--runtime-client PATH``); the code folder is the
  handler's, ``_HANDLER`` is ``app.handler``.
- ``--bootstrap PATH``: a custom runtime; ``_HANDLER`` is ``--handler`` when given.
- anything else: an in-process Python handler (the emulator's own protocol).

``--env K=V`` and ``--env-file FILE`` give the function's variables; Lambda's
reserved names are refused, as Lambda refuses them. The same checks serve
other sources of functions (a template): :func:`runtime_client_for`,
:func:`parse_env` and :data:`RESERVED_VARIABLES`.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from lstream_cli._exitcodes import UsageError
from lstream_cli.emulator.function import (
    DEFAULT_TIMEOUT_S,
    MAX_MEMORY_MB,
    MAX_TIMEOUT_S,
    MIN_MEMORY_MB,
    FunctionConfig,
)

__all__ = [
    "INSTALL_HINT",
    "NODE_SUFFIXES",
    "RESERVED_VARIABLES",
    "find_runtime_client",
    "function_credentials",
    "function_from_flags",
    "parse_env",
    "read_env_file",
    "runtime_client_for",
]

NODE_SUFFIXES = (".mjs", ".js", ".cjs")
RIC_ENTRY = Path("node_modules") / "aws-lambda-ric" / "bin" / "index.mjs"
INSTALL_HINT = "sudo apt-get install -y autoconf automake libtool && npm install aws-lambda-ric@3"
# Lambda refuses these as function variables: the platform sets them.
RESERVED_VARIABLES = frozenset(
    {
        "_HANDLER",
        "_X_AMZN_TRACE_ID",
        "AWS_DEFAULT_REGION",
        "AWS_REGION",
        "AWS_EXECUTION_ENV",
        "AWS_LAMBDA_FUNCTION_NAME",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
        "AWS_LAMBDA_FUNCTION_VERSION",
        "AWS_LAMBDA_INITIALIZATION_TYPE",
        "AWS_LAMBDA_LOG_GROUP_NAME",
        "AWS_LAMBDA_LOG_STREAM_NAME",
        "AWS_ACCESS_KEY",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_LAMBDA_RUNTIME_API",
        "LAMBDA_TASK_ROOT",
        "LAMBDA_RUNTIME_DIR",
    }
)


def parse_env(pairs: tuple[str, ...] | list[str], origin: str = "--env") -> list[tuple[str, str]]:
    """``K=V`` pairs; a missing ``=``, an empty or reserved name is a usage error."""
    out: list[tuple[str, str]] = []
    for pair in pairs:
        name, sep, value = pair.partition("=")
        name = name.strip()
        if not sep or not name or any(c in name for c in " \t\r\n\0"):
            raise UsageError(f"{origin}: expected NAME=VALUE, got {name or pair[:20]!r}")
        if name in RESERVED_VARIABLES:
            raise UsageError(f"{origin}: {name} is reserved: Lambda sets it")
        if "\0" in value:
            raise UsageError(f"{origin}: {name}: a NUL byte in the value")
        out.append((name, value))
    return out


def read_env_file(path: str) -> list[tuple[str, str]]:
    """``K=V`` lines (``#`` comments, blank lines, an optional ``export``, quotes stripped)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"--env-file {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise UsageError(f"--env-file {path}: not UTF-8 text") from None
    pairs: list[str] = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("export "):
            line = line[7:].lstrip()
        name, sep, value = line.partition("=")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        pairs.append(f"{name}{sep}{value}")
    return parse_env(pairs, f"--env-file {path}")


def find_runtime_client(start: Path) -> Path | None:
    """``node_modules/aws-lambda-ric/bin/index.mjs`` in ``start`` or any parent."""
    for folder in (start, *start.parents):
        candidate = folder / RIC_ENTRY
        if candidate.is_file():
            return candidate
    return None


def runtime_client_for(code_dir: Path, given: str | None = None) -> str:
    """aws-lambda-ric's ``bin/index.mjs`` for code in ``code_dir`` (UsageError naming the fix).

    ``given`` (``--runtime-client``): that file, or a folder holding it;
    otherwise ``node_modules`` of ``code_dir`` or any parent. A template's
    ``nodejs20.x`` function is ``FunctionConfig(kind="node", handler="index.handler",
    code_dir=CodeUri, runtime_client=runtime_client_for(Path(CodeUri)), node=shutil.which("node"))``.
    """
    if given is not None:
        path = Path(given)
        if path.is_dir():
            for candidate in (path / "bin" / "index.mjs", path / RIC_ENTRY):
                if candidate.is_file():
                    return str(candidate.resolve())
        elif path.is_file():
            return str(path.resolve())
        raise UsageError(
            f"--runtime-client {given}: no aws-lambda-ric there (expected its bin/index.mjs); "
            f"install it: {INSTALL_HINT}"
        )
    found = find_runtime_client(code_dir.resolve())
    if found is None:
        raise UsageError(
            f"the Node.js runtime interface client (aws-lambda-ric) is not in node_modules of "
            f"{code_dir} or any parent; install it: {INSTALL_HINT} "
            "(or give --runtime-client PATH)"
        )
    return str(found)


def function_from_flags(
    handler: str,
    bootstrap: str | None = None,
    runtime_client: str | None = None,
    timeout_s: float | None = None,
    memory_mb: int = MIN_MEMORY_MB,
    concurrency: int | None = None,
    environment: list[tuple[str, str]] | None = None,
    region: str = "us-east-1",
    name: str = "lstream-emulator",
    credentials: tuple[str, str, str | None] | None = None,
    time_scale: float = 1.0,
) -> FunctionConfig:
    """The function ``lstream serve`` runs (raises UsageError with one clear line)."""
    if not MIN_MEMORY_MB <= memory_mb <= MAX_MEMORY_MB:
        raise UsageError(f"--memory must be {MIN_MEMORY_MB} to {MAX_MEMORY_MB} (MB)")
    if timeout_s is not None and not 0 < timeout_s <= MAX_TIMEOUT_S:
        raise UsageError(f"--function-timeout must be more than 0 and at most {MAX_TIMEOUT_S:g} s")
    if concurrency is not None and not 1 <= concurrency <= 1000:
        raise UsageError("--concurrency must be 1 to 1000")
    env = tuple(environment or ())
    common = {
        "memory_mb": memory_mb,
        "reserved_concurrency": concurrency,
        "environment": env,
        "region": region,
        "name": name,
        "credentials": credentials,
    }
    if bootstrap is not None:
        path = Path(bootstrap)
        if not path.is_file():
            raise UsageError(f"--bootstrap {bootstrap}: no such file")
        if not os.access(path, os.X_OK):
            raise UsageError(f"--bootstrap {bootstrap}: not executable (chmod +x it)")
        return FunctionConfig(
            kind="bootstrap",
            handler="" if handler == "synthetic" else handler,
            bootstrap=str(path.resolve()),
            code_dir=str(path.resolve().parent),
            timeout_s=timeout_s or DEFAULT_TIMEOUT_S,
            **common,  # type: ignore[arg-type]
        )
    module_ref, sep, export = handler.rpartition(":")
    if sep and module_ref.endswith(NODE_SUFFIXES):
        source = Path(module_ref)
        if not source.is_file():
            raise UsageError(f"--handler {handler}: no such file {module_ref}")
        if not export or not export.replace("_", "a").replace(".", "a").isalnum():
            raise UsageError(f"--handler {handler}: expected path/to/app.mjs:exportName")
        node = shutil.which("node")
        if node is None:
            raise UsageError("--handler: Node.js (node) is not on PATH; install Node.js 20")
        code_dir = source.resolve().parent
        return FunctionConfig(
            kind="node",
            handler=f"{source.stem}.{export}",
            code_dir=str(code_dir),
            runtime_client=runtime_client_for(code_dir, runtime_client),
            node=node,
            timeout_s=timeout_s or DEFAULT_TIMEOUT_S,
            **common,  # type: ignore[arg-type]
        )
    if runtime_client is not None:
        raise UsageError("--runtime-client applies to a Node.js --handler (app.mjs:handler)")
    builtin = handler == "synthetic" or handler.startswith("file:")
    # The built-in handlers are configured as the example stack is (Timeout 900).
    default_timeout = MAX_TIMEOUT_S if builtin else DEFAULT_TIMEOUT_S
    return FunctionConfig(
        kind="inprocess",
        handler=handler,
        timeout_s=timeout_s or default_timeout,
        time_scale=time_scale,
        **common,  # type: ignore[arg-type]
    )


def function_credentials(profile: str | None) -> tuple[str, str, str | None] | None:
    """The caller's AWS credentials (environment, then ``profile``'s chain) for the function.

    None when there are none; they go only into the function's environment.
    """
    from lstream_cli.credentials import CredentialsError, load_session, resolve_credentials

    try:
        # No metadata endpoints: a local function gets what is configured here.
        resolved = resolve_credentials(load_session(profile), metadata=False)
    except CredentialsError as exc:
        if profile is not None:
            raise UsageError(f"--profile {profile}: {exc}") from None
        return None
    if resolved is None:
        return None
    frozen = resolved.credentials.get_frozen_credentials()
    return (frozen.access_key, frozen.secret_key, frozen.token or None)
