"""lstream: measure, load-test and emulate AWS Lambda function URLs that stream.

The package is layered; imports point one way::

    cli ──> engine, compare, emulator, render ──> measure, stats, knee ──> models

``cli`` is the only layer that imports click, ``render`` the only one that
imports rich. The engine never prints: it hands finished records to a sink.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
