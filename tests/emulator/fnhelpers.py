"""What the tests of functions run by real runtimes share: a log sink, clients."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import botocore.session
import httpx
from botocore.config import Config

from lstream_cli.emulator.logs import FunctionLogRecord
from lstream_cli.render.serve import format_function_log

NODE = Path(__file__).with_name("node")  # the Node.js handlers the tests run
RIC = Path(__file__).parents[2] / "examples/node/node_modules/aws-lambda-ric/bin/index.mjs"


class Logs:
    """A function-log sink collecting the records, with waits on what they say."""

    def __init__(self) -> None:
        self.records: list[FunctionLogRecord] = []

    def __call__(self, record: FunctionLogRecord) -> None:
        self.records.append(record)

    def lines(self) -> list[str]:
        return [format_function_log(r) for r in list(self.records)]

    def of(self, request_id: str) -> list[FunctionLogRecord]:
        return [r for r in list(self.records) if getattr(r, "request_id", None) == request_id]

    def wait(self, predicate: Callable[[], bool], timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise AssertionError("not logged in time:\n" + "\n".join(self.lines()[-30:]))
            time.sleep(0.02)


def lambda_client(endpoint: str) -> Any:
    session = botocore.session.get_session()
    return session.create_client(
        "lambda",
        region_name="us-east-1",
        endpoint_url=endpoint,
        aws_access_key_id="AKIDEXAMPLE",
        aws_secret_access_key="secret",
        config=Config(retries={"max_attempts": 0}, read_timeout=30),
    )


def rid(response: httpx.Response) -> str:
    return response.headers["x-amzn-requestid"]
