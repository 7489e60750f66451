"""Fixtures for the bench CLI tests: a local fault-injecting HTTP server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.engine.httpserver import TestServer


@pytest.fixture
def server() -> Iterator[TestServer]:
    srv = TestServer().start()
    yield srv
    srv.stop()
