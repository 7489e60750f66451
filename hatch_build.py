"""Build hook: compiles ``lstream_cli/_eventscan.c``, the event counters in C, when it can.

The extension is optional: ``lstream_cli.events`` uses its own pure-Python
counters (the same counts, slower) when it is missing. So a missing or
failing C compiler is a warning, never a failed install.

The compiled module is written beside its source, ``lstream_cli/`` in the
project tree (git ignores it): an editable install imports it from there,
and a wheel build adds it to the wheel, which then carries the platform's
tag. The compiler is ``$CC`` or the one Python was built with
(``sysconfig``'s ``CC``); only the plain CPython C API is used.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import sysconfig
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

SOURCE = "lstream_cli/_eventscan.c"


def compiler() -> list[str]:
    return shlex.split(os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc")


def compile_extension(root: Path) -> tuple[Path | None, str]:
    """Build the extension in place: (its path, "") or (None, why not)."""
    source = root / SOURCE
    suffix = sysconfig.get_config_var("EXT_SUFFIX") or ".so"
    target = source.with_name("_eventscan" + suffix)
    partial = target.with_name(target.name + ".part")
    cc = compiler()
    if not cc:
        return None, "no C compiler configured"
    link = ["-bundle", "-undefined", "dynamic_lookup"] if sys.platform == "darwin" else ["-shared"]
    include = sysconfig.get_paths()["include"]
    if not Path(include, "Python.h").exists():
        return None, f"no Python.h in {include} (the Python development headers)"
    argv = [*cc, "-O2", "-fPIC", *link, f"-I{include}", str(source), "-o", str(partial)]
    try:
        done = subprocess.run(argv, capture_output=True, text=True, check=False)
    except OSError as exc:
        return None, f"{cc[0]}: {exc.strerror or exc}"
    if done.returncode != 0:
        partial.unlink(missing_ok=True)
        last = (done.stderr.strip().splitlines() or ["failed"])[-1]
        return None, f"{cc[0]} exited with {done.returncode}: {last}"
    os.replace(partial, target)  # a process that has the old one loaded keeps it intact
    return target, ""


class EventScanBuildHook(BuildHookInterface):
    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        root = Path(self.root)
        built, why = compile_extension(root)
        if built is None:
            # An extension left from an earlier build may not match the source.
            for stale in (root / SOURCE).parent.glob("_eventscan.*.so"):
                stale.unlink(missing_ok=True)
            self.app.display_warning(
                f"lstream: the compiled event counters were not built ({why}); "
                "the pure-Python ones are used (--events counts the same, more slowly)"
            )
            return
        if version == "standard":  # an editable install imports it from the tree
            build_data["force_include"][str(built)] = f"lstream_cli/{built.name}"
            build_data["pure_python"] = False
            build_data["infer_tag"] = True
