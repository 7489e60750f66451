"""The one AWS region resolver, for get, bench and compare-modes alike.

The order, first found wins:

1. ``--region``;
2. the URL's host: ``<id>.lambda-url.<region>.on.aws``,
   ``<api>.execute-api.<region>.amazonaws.com``,
   ``lambda.<region>.amazonaws.com`` (and the ``.amazonaws.com.cn`` forms):
   a request to an AWS endpoint is signed for the region that endpoint
   lives in, whatever the environment says;
3. ``AWS_REGION`` (the AWS CLI and most SDKs honour it, botocore does not);
4. ``AWS_DEFAULT_REGION``, then the profile's ``region`` (botocore's own
   order, with ``--profile`` / ``AWS_PROFILE`` choosing the profile);
5. a fallback the caller gives (compare-modes' ``--invoke`` against a
   non-AWS ``--endpoint-url`` signs for ``us-east-1``), else an error.
"""

from __future__ import annotations

import os
import re
from typing import Any

from lstream_cli.redact import url_host

__all__ = ["RegionError", "configured_region", "region_from_url", "resolve_region"]

# <id>.lambda-url.<region>.on.aws, <api>.execute-api.<region>.amazonaws.com[.cn],
# <service>.<region>.amazonaws.com[.cn] (lambda.us-east-1.amazonaws.com).
_HOST_REGION_RES = (
    re.compile(r"^[^.]+\.lambda-url\.([a-z0-9-]+)\.on\.aws$"),
    re.compile(r"^[^.]+\.execute-api\.([a-z0-9-]+)\.amazonaws\.com(?:\.cn)?$"),
    re.compile(r"^(?:lambda|lambda-fips)\.([a-z0-9-]+)\.amazonaws\.com(?:\.cn)?$"),
)


class RegionError(Exception):
    """No region in the flags, the URL, the environment or the profile (a usage error)."""


def region_from_url(url: str) -> str | None:
    """The region an AWS endpoint's host names, or None (any other host)."""
    host = url_host(url)
    for pattern in _HOST_REGION_RES:
        m = pattern.match(host)
        if m:
            return m.group(1)
    return None


def configured_region(session: Any | None) -> str | None:
    """``AWS_REGION``, else ``AWS_DEFAULT_REGION`` or the profile's (through botocore)."""
    env_region = os.environ.get("AWS_REGION", "").strip()
    if env_region:
        return env_region
    if session is not None:
        configured = session.get_config_variable("region")
        if configured:
            return str(configured).strip() or None
    return None


def resolve_region(
    url: str | None,
    region: str | None,
    session: Any | None,
    fallback: str | None = None,
    what: str = "the URL is not <id>.lambda-url.<region>.on.aws",
) -> str:
    """The region to sign for (see the module doc for the order)."""
    if region:
        return region
    found = region_from_url(url) if url else None
    if found:
        return found
    found = configured_region(session)
    if found:
        return found
    if fallback:
        return fallback
    raise RegionError(
        f"cannot tell the AWS region: {what} and no region is configured; "
        "pass --region (or set AWS_REGION)"
    )
