"""The two implementations of the event counters, for tests that run against both."""

from __future__ import annotations

import os
import shlex
import shutil
import sysconfig
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from lstream_cli import events

IMPLEMENTATIONS = ["python", "c"]


@dataclass(frozen=True)
class Counters:
    """The three counter classes of one implementation."""

    name: str
    sse: Callable[[], Any]
    ndjson: Callable[[], Any]
    lines: Callable[[], Any]


def build_compiler() -> str | None:
    """The C compiler the install's build hook uses (hatch_build.py), if it could build.

    That is: the compiler is on PATH and Python's development headers are there.
    """
    if not Path(sysconfig.get_paths()["include"], "Python.h").exists():
        return None
    cc = os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc"
    words = shlex.split(cc)
    return shutil.which(words[0]) if words else None


def compiled_module() -> Any:
    """``lstream_cli._eventscan``; a test failure when a compiler was there to build it."""
    try:
        from lstream_cli import _eventscan
    except ImportError as exc:
        if build_compiler() is not None:
            raise AssertionError(
                "a C compiler is present but lstream_cli._eventscan does not import "
                f"({exc}): the build hook did not build it (reinstall: pip install -e .)"
            ) from exc
        pytest.skip("no C compiler here: the compiled counters were not built")
    return _eventscan


def counters_of(name: str) -> Counters:
    if name == "python":
        return Counters(name, events.SseCounter, events.NdjsonCounter, events.LinesCounter)
    mod = compiled_module()
    return Counters(name, mod.SseCounter, mod.NdjsonCounter, mod.LinesCounter)
