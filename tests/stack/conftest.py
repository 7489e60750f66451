"""Stack fixtures: the real aws-lambda-ric, built once per session when missing."""

from __future__ import annotations

from tests.emulator.conftest import runtime_client

__all__ = ["runtime_client"]
