"""A real local S3 for the functions of a stack: moto's server, in this process.

``--s3 DIR``: one bucket per subfolder of DIR, one object per file below it
(keys keep their paths relative to the bucket folder, with ``/``). The
server listens on a free loopback port; a function reaches it with
:meth:`LocalS3.environment` (``AWS_ENDPOINT_URL_S3``), its region, and
:meth:`LocalS3.credentials`: the server checks no signature, so they are
fixed, public placeholders, not secrets. moto is an optional extra
(``pip install 'lstream[s3]'``).

moto keeps its buckets in module state, so one process runs one local S3 at
a time, and each starts empty (moto's own reset).
"""

from __future__ import annotations

import logging
import os
import re
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from lstream_cli._exitcodes import UsageError

__all__ = ["ACCESS_KEY", "SECRET_KEY", "LocalS3", "bucket_folders", "local_s3"]

# moto checks no signature: any pair works. These are documented placeholders.
ACCESS_KEY = "LSTREAMLOCALS3KEY"
SECRET_KEY = "lstream-local-s3-accepts-any-signature"
_INSTALL_HINT = "pip install 'lstream[s3]'"
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_lock = threading.Lock()
_running = False


def bucket_folders(root: Path) -> list[tuple[str, Path]]:
    """The buckets ``--s3 DIR`` holds: ``(name, folder)``, checked before anything starts."""
    if not root.is_dir():
        raise UsageError(f"--s3: {root} is not a folder")
    out: list[tuple[str, Path]] = []
    for entry in sorted(root.iterdir()):
        if entry.name.startswith("."):
            continue
        if not entry.is_dir():
            raise UsageError(
                f"--s3: {entry.name} is a file at the top of {root}: each bucket is a subfolder"
            )
        if not _BUCKET.match(entry.name) or ".." in entry.name:
            raise UsageError(f"--s3: {entry.name!r} is not a valid S3 bucket name")
        out.append((entry.name, entry))
    return out


def _objects(folder: Path) -> Iterator[tuple[str, Path]]:
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames.sort()
        for name in sorted(filenames):
            path = Path(dirpath) / name
            yield path.relative_to(folder).as_posix(), path


class LocalS3:
    """A running local S3: its URL, a client on it, and the environment functions get."""

    def __init__(self, server: Any, url: str, region: str) -> None:
        self._server = server
        self.url = url
        self.region = region
        import botocore.session
        from botocore.config import Config

        session = botocore.session.Session()
        self.client = session.create_client(
            "s3",
            region_name=region,
            endpoint_url=url,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
            # Loopback: never through a proxy the environment names.
            config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}, proxies={}),
        )

    def environment(self) -> dict[str, str]:
        """The variable that points the AWS SDKs' S3 clients here (the region is Lambda's own)."""
        return {"AWS_ENDPOINT_URL_S3": self.url}

    @staticmethod
    def credentials() -> tuple[str, str, str | None]:
        """The key pair the functions get (as Lambda gives its role's): one the server accepts."""
        return (ACCESS_KEY, SECRET_KEY, None)

    def create_bucket(self, name: str) -> None:
        if not _BUCKET.match(name):
            raise UsageError(f"local S3: {name!r} is not a valid S3 bucket name")
        kwargs: dict[str, Any] = {"Bucket": name}
        if self.region != "us-east-1":
            kwargs["CreateBucketConfiguration"] = {"LocationConstraint": self.region}
        with suppress(self.client.exceptions.BucketAlreadyOwnedByYou):
            self.client.create_bucket(**kwargs)

    def put(self, bucket: str, key: str, body: bytes | Any) -> None:
        self.client.put_object(Bucket=bucket, Key=key, Body=body)

    def load(self, buckets: Iterable[tuple[str, Path]]) -> int:
        """Upload the folders' files; returns the number of objects."""
        count = 0
        for name, folder in buckets:
            self.create_bucket(name)
            for key, path in _objects(folder):
                with path.open("rb") as fh:
                    self.put(name, key, fh)
                count += 1
        return count

    def keys(self, bucket: str) -> list[str]:
        out: list[str] = []
        for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            out.extend(obj["Key"] for obj in page.get("Contents", []))
        return out

    def close(self) -> None:
        self.client.close()
        self._server.stop()


def _reset(url: str) -> None:
    import urllib.request

    request = urllib.request.Request(url + "/moto-api/reset", data=b"", method="POST")
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback: no proxy
    with opener.open(request, timeout=30) as answer:
        answer.read()


@contextmanager
def local_s3(host: str = "127.0.0.1", region: str = "us-east-1") -> Iterator[LocalS3]:
    """Start moto's S3 on a free port of ``host``; stop it on exit."""
    global _running
    try:
        from moto.server import ThreadedMotoServer
    except ImportError:
        raise UsageError(f"the local S3 (--s3) needs moto's server: {_INSTALL_HINT}") from None
    with _lock:
        if _running:
            raise UsageError("local S3: one is already running in this process")
        _running = True
    try:
        # werkzeug would log every request on stderr; the request log is ours.
        werkzeug = logging.getLogger("werkzeug")
        werkzeug.setLevel(logging.WARNING)
        if not werkzeug.handlers:
            werkzeug.addHandler(logging.NullHandler())
        server = ThreadedMotoServer(ip_address=host, port=0, verbose=False)
        server.start()
        bound_host, port = server.get_host_and_port()
        shown = f"[{bound_host}]" if ":" in bound_host else bound_host
        url = f"http://{shown}:{port}"
        # moto keeps its buckets in module state: a new local S3 starts empty.
        _reset(url)
        s3 = LocalS3(server, url, region)
        try:
            yield s3
        finally:
            s3.close()
    finally:
        with _lock:
            _running = False
