"""Handlers the tests load with ``--handler path.py:function``."""

from __future__ import annotations

import json
from typing import Any

CALLS: list[str] = []


async def echo_event(event: dict[str, Any], stream: Any, context: Any) -> None:
    """Answers with the event it was given, as JSON."""
    stream.set_status(201)
    stream.set_headers({"content-type": "application/json", "x-handler": "echo"})
    await stream.write(
        json.dumps(
            {
                "event": event,
                "function_name": context.function_name,
                "remaining_ms": context.get_remaining_time_in_millis(),
            }
        )
    )


async def metadata_after_write(event: dict[str, Any], stream: Any, context: Any) -> None:
    """Tries to change the status after the first write: must be refused."""
    await stream.write("first ")
    try:
        stream.set_status(500)
    except RuntimeError as exc:
        await stream.write(f"refused: {exc}")


async def crash_before_write(event: dict[str, Any], stream: Any, context: Any) -> None:
    stream.set_status(200)
    raise ValueError("boom before the first write")


async def crash_after_write(event: dict[str, Any], stream: Any, context: Any) -> None:
    await stream.write(b"x" * 1000)
    raise ValueError("boom after the first write")


def plain_return(event: dict[str, Any], stream: Any, context: Any) -> dict[str, Any]:
    """A buffered-style handler: returns the proxy response document."""
    return {"statusCode": 202, "headers": {"x-plain": "yes"}, "body": "returned body"}


def not_a_handler() -> None:
    """Takes no arguments: load_handler must refuse it."""


async def exits(event: dict[str, Any], stream: Any, context: Any) -> None:
    """Calls sys.exit(): the emulator must answer and carry on."""
    import sys

    if (event.get("queryStringParameters") or {}).get("after"):
        await stream.write(b"partial")
    sys.exit(3)


PROGRESS: list[int] = []


async def counting(event: dict[str, Any], stream: Any, context: Any) -> None:
    """Writes 100 MiB in 1 MiB pieces, recording how far it got."""
    block = b"\x00" * (1024 * 1024)
    PROGRESS.clear()
    for _ in range(100):
        await stream.write(block)
        PROGRESS.append(stream.bytes_written)


LEAKED: list[str] = []


async def leaky(event: dict[str, Any], stream: Any, context: Any) -> None:
    """Returns while a task of its own still writes: that write must be refused."""
    import asyncio

    async def late() -> None:
        await asyncio.sleep(0.05)
        try:
            await stream.write(b"LEAK")
        except RuntimeError as exc:
            LEAKED.append(str(exc))

    LEAKS.append(asyncio.get_running_loop().create_task(late()))
    await stream.write(b"ok")


LEAKS: list[Any] = []


async def cancelled(event: dict[str, Any], stream: Any, context: Any) -> None:
    """Raises CancelledError itself (nobody cancelled it)."""
    import asyncio

    raise asyncio.CancelledError


def blocking(event: dict[str, Any], stream: Any, context: Any) -> str:
    """A plain def that blocks (time.sleep) when asked to."""
    import time

    seconds = float((event.get("queryStringParameters") or {}).get("sleep", "0"))
    time.sleep(seconds)
    return f"slept {seconds}"


SLOW_PROGRESS: list[int] = []


async def slow_writer(event: dict[str, Any], stream: Any, context: Any) -> None:
    """1 KiB every 20 ms, 500 times, recording how far it got."""
    import asyncio

    SLOW_PROGRESS.clear()
    for i in range(500):
        await stream.write(b"s" * 1024)
        SLOW_PROGRESS.append(i + 1)
        await asyncio.sleep(0.02)


async def cookies(event: dict[str, Any], stream: Any, context: Any) -> None:
    """Several cookies: one Set-Cookie header each."""
    stream.set_metadata(status_code=200, headers={"content-type": "text/plain"}, cookies=["a=1"])
    stream.set_cookies(["a=1; Path=/", "b=2; Secure"])
    await stream.write("with cookies")


def returned_cookies(event: dict[str, Any], stream: Any, context: Any) -> dict[str, Any]:
    return {"statusCode": 201, "cookies": ["x=1", "y=2"], "body": "returned"}


async def sleeps(event: dict[str, Any], stream: Any, context: Any) -> None:
    """Sleeps past any short timeout; ?raise=1 raises its own TimeoutError instead."""
    import asyncio

    if event.get("raise") or (event.get("queryStringParameters") or {}).get("raise"):
        raise TimeoutError("my own")
    await stream.write(b"started ")
    await asyncio.sleep(30)
