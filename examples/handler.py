"""A streaming handler for ``lstream serve``: the Node example, with a local file.

It does what ``examples/node/index.mjs`` does on Lambda, with a file in place
of the S3 object, in the emulator's handler protocol (the streamifyResponse
style):

    async def handler(event, stream, context)
        stream.set_status(int)      # before the first write
        stream.set_headers(dict)    # before the first write
        await stream.write(bytes | str)

``event`` is a function URL event, payload format 2.0 (``rawPath``,
``rawQueryString``, ``headers`` with lowercase names,
``queryStringParameters``, ``requestContext.http.method``, ``body``,
``isBase64Encoded``).

Configuration, from the environment:

- ``LSTREAM_EXAMPLE_FILE``: the file to serve. When it is unset, the ``key``
  query parameter names a file inside ``LSTREAM_EXAMPLE_DIR`` (the local
  stand-in for the S3 bucket); a key that leads outside that folder is a 404,
  so the handler never serves arbitrary paths.
- ``ORIGIN_SECRET_HEADER`` / ``ORIGIN_SECRET_VALUE``: when both are set, a
  request without that header and value gets 403, as behind the API Gateway
  that adds it.

Failures before the first byte are a status and a small JSON body; once the
body has started, an error can only cut the stream.

Run it::

    LSTREAM_EXAMPLE_FILE=/tmp/100MB.bin \\
        lstream serve --handler examples/handler.py:handler
"""

from __future__ import annotations

import hmac
import json
import os
from typing import Any

__all__ = ["CHUNK_SIZE", "handler"]

CHUNK_SIZE = 64 * 1024


def _secret_ok(headers: dict[str, str]) -> bool:
    name = os.environ.get("ORIGIN_SECRET_HEADER", "").lower()
    expected = os.environ.get("ORIGIN_SECRET_VALUE", "")
    if not name or not expected:
        return True  # no check configured
    given = headers.get(name)
    if given is None:
        return False
    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))


def _key_path(key: str | None) -> str | None:
    """The file for ``key`` inside LSTREAM_EXAMPLE_DIR; "" when it leads outside.

    None when there is no key or no folder configured.
    """
    base = os.environ.get("LSTREAM_EXAMPLE_DIR")
    if not key or not base:
        return None
    root = os.path.realpath(base)
    candidate = os.path.realpath(os.path.join(root, key))
    if os.path.commonpath([root, candidate]) != root or candidate == root:
        return ""
    return candidate


async def _error(stream: Any, status: int, message: str) -> None:
    stream.set_status(status)
    stream.set_headers({"content-type": "application/json"})
    await stream.write(json.dumps({"message": message}))


async def handler(event: dict[str, Any], stream: Any, context: Any) -> None:
    """Stream a local file in 64 KiB chunks, after the secret-header check."""
    headers = {k.lower(): v for k, v in (event.get("headers") or {}).items()}
    if not _secret_ok(headers):
        await _error(stream, 403, "Forbidden")
        return

    query = event.get("queryStringParameters") or {}
    path = os.environ.get("LSTREAM_EXAMPLE_FILE") or _key_path(query.get("key"))
    if path is None:
        await _error(
            stream,
            400,
            "no file: set LSTREAM_EXAMPLE_FILE, or LSTREAM_EXAMPLE_DIR and pass ?key=",
        )
        return
    if not path:
        await _error(stream, 404, "Not Found")
        return
    try:
        f = open(path, "rb")  # noqa: SIM115 - closed below, after streaming
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        await _error(stream, 404, "Not Found")
        return
    except PermissionError:
        await _error(stream, 403, "Forbidden")
        return

    with f:
        # Status and headers go out with the first write, so set them first.
        stream.set_status(200)
        stream.set_headers({"content-type": "application/octet-stream"})
        # Local reads of 64 KiB are short; each write's await lets the
        # emulator's event loop (and its flow control) run between chunks.
        while chunk := f.read(CHUNK_SIZE):
            await stream.write(chunk)
