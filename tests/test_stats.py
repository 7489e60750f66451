"""Table tests for the one statistics module (percentiles, merge, serialization)."""

from __future__ import annotations

import random

import pytest

from lstream_cli.stats import Histogram, summarize_values


def exact_percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile (the HDR definition) on sorted values."""
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * p // 100))  # ceil
    return ordered[int(rank) - 1]


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        # values in ms: (min, p50, p90, p99, p999, max, mean)
        ([5.0], (5.0, 5.0, 5.0, 5.0, 5.0, 5.0, 5.0)),
        ([1.0, 2.0, 3.0, 4.0], (1.0, 2.0, 4.0, 4.0, 4.0, 4.0, 2.5)),
        ([10.0] * 99 + [1000.0], (10.0, 10.0, 10.0, 10.0, 1000.0, 1000.0, 19.9)),
        (list(map(float, range(1, 101))), (1.0, 50.0, 90.0, 99.0, 100.0, 100.0, 50.5)),
        ([0.001, 0.002], (0.001, 0.001, 0.002, 0.002, 0.002, 0.002, 0.0015)),
    ],
)
def test_summary_table(values: list[float], expected: tuple[float, ...]) -> None:
    s = summarize_values(values)
    got = (s.min, s.p50, s.p90, s.p99, s.p999, s.max, s.mean)
    for g, e in zip(got, expected, strict=True):
        assert g == pytest.approx(e, rel=1e-3), (got, expected)
    assert s.count == len(values)
    # min <= p50 <= p90 <= p99 <= p999 <= max: never swapped.
    assert s.min <= s.p50 <= s.p90 <= s.p99 <= s.p999 <= s.max  # type: ignore[operator]


def test_percentiles_within_hdr_precision_on_random_data() -> None:
    rng = random.Random(7)
    values = [rng.lognormvariate(3, 1) for _ in range(20_000)]
    s = summarize_values(values)
    for p, got in ((50, s.p50), (90, s.p90), (99, s.p99), (99.9, s.p999)):
        want = exact_percentile(values, p)
        assert got == pytest.approx(want, rel=2e-3, abs=2e-3)
    assert s.min == pytest.approx(min(values), abs=1e-3)
    assert s.max == pytest.approx(max(values), abs=1e-3)
    assert s.mean == pytest.approx(sum(values) / len(values), rel=1e-4)


def test_merge_is_exact() -> None:
    rng = random.Random(11)
    values = [rng.uniform(0.1, 5000) for _ in range(9_000)]
    whole = Histogram()
    parts = [Histogram() for _ in range(3)]
    for i, v in enumerate(values):
        whole.record(v)
        parts[i % 3].record(v)
    merged = Histogram()
    for part in parts:
        merged.merge(Histogram.from_state(part.to_state()))  # through serialization
    assert merged.summary() == whole.summary()
    assert merged.count == len(values)
    assert merged.encode() == whole.encode()


def test_empty_histogram_summary_is_all_none() -> None:
    s = Histogram().summary()
    assert s.count == 0 and s.p50 is None and s.max is None
    merged = Histogram()
    merged.merge(Histogram())
    assert merged.count == 0


def test_values_beyond_range_are_clamped_and_counted() -> None:
    h = Histogram(highest=1000, scale=1.0)
    h.record(5)
    h.record(10**9)
    assert h.count == 2 and h.clamped == 1
    assert h.summary().max == 1000


def test_negative_values_record_as_zero() -> None:
    h = Histogram()
    h.record(-3.0)
    assert h.summary().min == 0.0


def test_buckets_cover_all_counts() -> None:
    h = Histogram()
    for v in (1.0, 2.0, 3.0, 50.0, 99.0):
        h.record(v)
    buckets = h.buckets(10)
    assert len(buckets) == 10
    assert sum(c for _, c in buckets) == 5
    assert buckets[0][1] == 3 and buckets[-1][1] == 1


def test_several_percentiles_in_one_walk_equal_each_asked_alone() -> None:
    rng = random.Random(11)
    hist = Histogram()
    for _ in range(5000):
        hist.record_raw(rng.randint(1, 10_000_000))
    ps = [50.0, 90.0, 99.0, 99.9, 100.0]
    assert hist.percentiles(ps) == {p: hist.percentile(p) for p in ps}
    assert Histogram().percentiles([50.0]) == {50.0: None}


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_recording_counts_in_bulk_is_recording_them_one_by_one(seed: int) -> None:
    import random

    rng = random.Random(seed)
    counts: dict[int, int] = {}
    for _ in range(5000):
        raw = rng.choice([rng.randrange(0, 3000), rng.randrange(0, 10**9), -5, 4 * 10**9])
        counts[raw] = counts.get(raw, 0) + rng.randrange(0, 4)
    one, bulk = Histogram(), Histogram()
    for raw, n in counts.items():
        one.record_raw(raw, n)
    bulk.record_counts(counts)
    assert bulk.encode() == one.encode()
    assert bulk.to_state() == one.to_state()
    assert bulk.summary() == one.summary() and bulk.clamped == one.clamped > 0
    assert bulk.percentiles([50.0, 99.9]) == one.percentiles([50.0, 99.9])


def test_recording_nothing_in_bulk_changes_nothing() -> None:
    hist = Histogram()
    hist.record_counts({5: 0, 7: -1})
    assert hist.count == 0 and hist.to_state() == Histogram().to_state()


def test_buckets_match_hdrs_own_recorded_iterator() -> None:
    """The C-speed walk over non-empty buckets gives what hdrh's iterator gives."""
    import random

    rng = random.Random(7)
    h = Histogram(scale=1000)
    for _ in range(3000):
        h.record(rng.choice([rng.expovariate(0.2), rng.uniform(0, 5000), 0.001]))
    for state in (h, Histogram.from_state(h.to_state())):
        hdr = state._h
        want = [
            (int(x.value_iterated_to), int(x.count_at_value_iterated_to))
            for x in hdr.get_recorded_iterator()
        ]
        assert list(state._recorded()) == want
        assert sum(c for _, c in state.buckets(17)) == 3000
        assert state.buckets(9, lo=1.0, hi=40.0)[-1][1] > 0


def test_percentiles_match_hdrs_own_walk() -> None:
    """Running totals and bisect find the index hdrh's Python walk finds."""
    import random

    rng = random.Random(11)
    ps = [0.0, 0.1, 1.0, 25.0, 50.0, 90.0, 99.0, 99.9, 99.99, 100.0]
    for n in (1, 2, 7, 5000):
        h = Histogram(scale=1000)
        for _ in range(n):
            h.record(rng.choice([rng.expovariate(0.05), rng.uniform(0, 90000), 0.002]))
        for state in (h, Histogram.from_state(h.to_state())):
            value_at = state._values_at()
            for p in ps:
                assert value_at(p) == state._h.get_value_at_percentile(p), (n, p)
            got = state.percentiles(ps)
            want = state._h.get_percentile_to_value_dict(ps)
            cap = float(state._max) if state._max is not None else float("inf")
            assert got == {p: min(float(want[p]), cap) / state.scale for p in ps}
