"""The burst-then-rate bucket: pure arithmetic on byte counts and a clock."""

from __future__ import annotations

import pytest

from lstream_cli.emulator import EmulatorConfig
from lstream_cli.emulator.config import STREAM_BURST, STREAM_RATE
from lstream_cli.emulator.runtime import Runtime
from lstream_cli.emulator.throttle import BurstThenRate


def test_burst_is_free() -> None:
    bucket = BurstThenRate(burst=1000, rate=100)
    assert bucket.delay(600, now=0.0) == 0.0
    assert bucket.delay(400, now=0.0) == 0.0  # exactly the burst


def test_bytes_past_the_burst_wait_at_the_rate() -> None:
    bucket = BurstThenRate(burst=1000, rate=100)
    assert bucket.delay(1000, now=5.0) == 0.0
    # 50 bytes past the burst at 100 B/s: due half a second after the burst ran out.
    assert bucket.delay(50, now=5.0) == pytest.approx(0.5)
    # Another 100 bytes: due 1.5 s after; 1 s has passed, so 0.5 s more.
    assert bucket.delay(100, now=6.0) == pytest.approx(0.5)
    # Sending slower than the rate never waits.
    assert bucket.delay(10, now=60.0) == 0.0


def test_a_write_that_crosses_the_burst_pays_only_for_its_excess() -> None:
    bucket = BurstThenRate(burst=1000, rate=100)
    assert bucket.delay(1200, now=0.0) == pytest.approx(2.0)


def test_runtime_throttle_follows_the_flags() -> None:
    assert Runtime(EmulatorConfig(throttle=False)).throttle(STREAM_BURST, STREAM_RATE) is None
    bucket = Runtime(EmulatorConfig(time_scale=10)).throttle(STREAM_BURST, STREAM_RATE)
    assert bucket is not None
    assert bucket.burst == 6 * 1024 * 1024
    assert bucket.rate == 10 * 2 * 1024 * 1024


def test_rate_must_be_positive() -> None:
    with pytest.raises(ValueError):
        BurstThenRate(burst=1, rate=0)
