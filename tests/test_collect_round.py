"""The batched collection stage against its per-point building blocks, and the draws it uses.

``collect_round`` draws every point and runs all of them in a few compiled calls;
each point's outcome must be exactly what ``collect`` and ``point_statistics``
give on that point's draws (the kernel whose rules the SimPy reference checks).
The draws themselves are checked for their law: arrivals uniform within their
slice, totals binomial, zone splits adding up.
"""

from __future__ import annotations

import numpy as np
import pytest

from sim.model import collect as collect_module
from sim.model.calendars import break_schedule, breaks_calendar
from sim.model.collect import (
    STAT_FIELDS,
    collect,
    collect_round,
    fresh_accumulators,
    point_statistics,
    series_bounds,
)
from sim.model.demand import ZoneIndex, _sorted_uniforms, draw_point_demand
from sim.random import Streams, stream

from .conftest import random_tiny

STEP = 900.0


def _statistics(
    arrivals: np.ndarray,
    start: np.ndarray,
    service: np.ndarray,
    step: float,
    horizon: float,
    swabbed: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """point_statistics of a point served in one piece, everyone swabbed."""
    n = arrivals.size
    first, last = series_bounds(arrivals, start, n, step, -np.inf, np.inf, False)
    stats, times, queue, _ = point_statistics(
        arrivals, start, service, n, step, horizon, swabbed, fresh_accumulators(),
        np.empty(0), -np.inf, np.inf, first, last, False,
    )  # fmt: skip
    return stats, times, queue


@pytest.mark.parametrize("chunk", [1, 1 << 17])  # a kernel call per point, or one for all
@pytest.mark.parametrize("keep", [False, True])
@pytest.mark.parametrize("tube_change", [None, "35s"])  # drawn, or fixed (filled in the kernel)
def test_collect_round_is_collect_point_by_point(
    monkeypatch: pytest.MonkeyPatch, chunk: int, keep: bool, tube_change: str | None
) -> None:
    monkeypatch.setattr(collect_module, "CHUNK_RESIDENTS", chunk)
    scenario = random_tiny(tube_change)
    streams = Streams(5, 2)
    horizon = scenario.round.horizon
    swabbed = np.zeros(int(np.ceil(horizon / STEP)) + 2, np.int64)
    batch = collect_round(scenario, streams, STEP, swabbed, keep)

    index = ZoneIndex(scenario)
    start = scenario.round.start
    expected_swabbed = np.zeros_like(swabbed)
    tube_base = 0
    for i, point in enumerate(scenario.points):
        window = point.window or scenario.demand.arrivals.window
        open_t, close_t = window.open - start, window.close - start
        d = draw_point_demand(scenario, point, index.rows(i), streams, keep_zone=keep)
        assert point.relief is not None
        out = collect(
            d.arrivals, d.service, point.stations, open_t, close_t, point.pool,
            d.tube_change, breaks_calendar(break_schedule(point, open_t, close_t), point.relief.for_),
        )  # fmt: skip
        point_stats, times, queue = _statistics(
            d.arrivals, out.swab_start, d.service, STEP, horizon, expected_swabbed
        )
        assert out.swab_start.size > 100
        tubes = slice(batch.tube_bounds[i], batch.tube_bounds[i + 1])
        np.testing.assert_array_equal(batch.tube_sealed[tubes], out.tube_sealed)
        np.testing.assert_array_equal(batch.tube_first[tubes], out.tube_first)
        np.testing.assert_array_equal(batch.tube_last[tubes], out.tube_last)
        np.testing.assert_array_equal(batch.tube_station[tubes], out.tube_station)
        np.testing.assert_array_equal(batch.tube_size[tubes], out.tube_size)
        np.testing.assert_array_equal(batch.tubes_sealed(i), out.tube_sealed)
        np.testing.assert_array_equal(batch.stats[i], point_stats)
        q = slice(batch.queue_bounds[i], batch.queue_bounds[i + 1])
        np.testing.assert_array_equal(batch.queue_time[q], times)
        np.testing.assert_array_equal(batch.queue[q], queue)
        assert batch.residents[i] == d.arrivals.size
        assert batch.first_arrival[i] == d.arrivals[0]
        assert batch.last_arrival[i] == d.arrivals[-1]
        residents = slice(batch.resident_bounds[i], batch.resident_bounds[i + 1])
        if keep:
            assert batch.swab_start is not None and batch.tube is not None
            assert batch.arrivals is not None and batch.station is not None
            assert batch.zone is not None and d.zone is not None
            np.testing.assert_array_equal(batch.arrivals[residents], d.arrivals)
            np.testing.assert_array_equal(batch.swab_start[residents], out.swab_start)
            np.testing.assert_array_equal(batch.station[residents], out.station)
            np.testing.assert_array_equal(batch.tube[residents], out.tube + tube_base)
            np.testing.assert_array_equal(batch.zone[residents], d.zone)
        else:
            assert batch.swab_start is None and batch.zone is None
        tube_base += out.tube_sealed.size
    np.testing.assert_array_equal(swabbed, expected_swabbed)
    assert batch.tube_sealed.size == tube_base
    assert set(STAT_FIELDS) >= {"peak_queue", "p95_wait"}


def test_p95_and_peak_queue_by_brute_force() -> None:
    """The selection and the merge inside point_statistics against sorting and counting."""
    rng = np.random.default_rng(3)
    for _ in range(200):
        n = int(rng.integers(1, 80))
        arrivals = np.sort(rng.integers(0, 40, n).astype(float))  # ties on purpose
        start = np.maximum.accumulate(arrivals + rng.integers(0, 6, n))
        service = np.full(n, 1.0)
        out, _, _ = _statistics(arrivals, start, service, STEP, 1e9, np.zeros(3, np.int64))
        waits = np.sort(start - arrivals)
        assert out[STAT_FIELDS.index("p95_wait")] == waits[min(n - 1, int(np.ceil(0.95 * n)) - 1)]
        in_line = [(i + 1) - int((start <= a).sum()) for i, a in enumerate(arrivals)]
        peak = max(in_line)
        assert out[STAT_FIELDS.index("peak_queue")] == peak
        assert out[STAT_FIELDS.index("peak_queue_at")] == arrivals[in_line.index(peak)]


def test_break_schedule_matches_the_rule() -> None:
    """Station j of c at open + j·every/c + m·every, m >= 1, only before closing."""
    scenario = random_tiny()
    for point in scenario.points:
        assert point.relief is not None
        every = point.relief.every
        for open_t, close_t in [(0.0, 3000.0), (600.0, 600.0 + 4 * every), (0.0, every / 2)]:
            got = break_schedule(point, open_t, close_t)
            c = point.stations
            offsets = np.arange(c) * every / c if point.relief.stagger else np.zeros(c)
            m = np.arange(1, int((close_t - open_t) // every) + 2)
            times = open_t + offsets[:, None] + every * m[None, :]
            np.testing.assert_array_equal(got, np.where(times < close_t, times, np.nan))


def test_sorted_uniforms_are_uniform_within_their_slices() -> None:
    rng = np.random.default_rng(11)
    per_slice = np.array([3000, 0, 1000, 2500])
    spacings = rng.standard_exponential(per_slice.sum() + per_slice.size)
    times = _sorted_uniforms(spacings, per_slice, 100.0, 50.0)
    assert times.size == per_slice.sum()
    assert np.all(np.diff(times) >= 0)
    ends = np.cumsum(per_slice)
    for k, m in enumerate(per_slice):
        part = times[ends[k] - m : ends[k]]
        if m == 0:
            continue
        lo = 100.0 + 50.0 * k
        assert lo <= part.min() and part.max() < lo + 50.0
        u = (part - lo) / 50.0  # sorted; Kolmogorov-Smirnov distance to the uniform law
        i = np.arange(1, m + 1)
        distance = max(np.max(i / m - u), np.max(u - (i - 1) / m))
        assert distance < 1.95 / np.sqrt(m)  # rejects a uniform sample 0.1 % of the time


def test_point_totals_are_binomial_and_zone_splits_add_up() -> None:
    """Zone B1 and B2 share a window: one binomial for both, split hypergeometrically."""
    scenario = random_tiny()
    index = ZoneIndex(scenario)
    point = scenario.points[1]
    groups = index.groups(1)
    assert [g.population for g in groups] == [300, 700]  # 07:00-07:30 first, then the rest
    totals = []
    for replication in range(300):
        d = draw_point_demand(scenario, point, index.rows(1), Streams(1, replication), True)
        assert d.zone is not None
        ids = scenario.demand.zones.id[d.zone]
        totals.append(d.arrivals.size)
        counts = {z: int((ids == z).sum()) for z in ("Z2", "Z3", "Z4")}
        assert sum(counts.values()) == d.arrivals.size
        assert counts["Z3"] <= 300 and counts["Z2"] <= 500 and counts["Z4"] <= 200
        early = d.arrivals[ids == "Z3"]  # the 07:00-07:30 window
        assert early.size == 0 or early.max() < 1800.0
    mean, var = 1000 * 0.9, 1000 * 0.9 * 0.1
    assert abs(np.mean(totals) - mean) < 4 * np.sqrt(var / 300)
    assert 0.6 < np.var(totals) / var < 1.5


def test_seek_and_fresh_streams_give_the_same_numbers() -> None:
    streams = Streams(7, 3)
    rng = np.random.Generator(np.random.PCG64(123))
    rng.random(17)  # anywhere, half-way through a 32-bit pair too
    rng.integers(0, 10, dtype=np.uint32)
    for name in ("arrivals/P-1", "service/P-1", "lab-01/pcr", "travel/V-0001"):
        expected = streams[name].standard_normal(50)
        np.testing.assert_array_equal(streams.seek(rng, name).standard_normal(50), expected)
        np.testing.assert_array_equal(stream(7, 3, name).standard_normal(50), expected)
    with pytest.raises(ValueError):
        Streams(-1, 0)
