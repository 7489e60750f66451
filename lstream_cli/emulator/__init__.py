"""The local emulator of streaming function URLs, API Gateway and the Lambda API."""

from __future__ import annotations
