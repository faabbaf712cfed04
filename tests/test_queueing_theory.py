"""The collection kernel against queueing theory: one point as an M/M/c queue.

Poisson arrivals (rate lambda) and exponential service (rate mu) at c stations,
with sealing free (tube change 0) and no breaks, make a point an M/M/c queue, for
which Erlang's C formula gives the probability of waiting and the mean wait.

Tolerances, from the sample size. With 1,000,000 residents (the first 20,000
dropped as warm-up from an empty point) the run-to-run standard deviation of the
kernel's mean wait, measured over 20 seeds for each case below, was 0.5-1.4 %
of Wq (largest at rho = 0.85, c = 4; batch means of a single run agree), and
that of the fraction who waited 0.001-0.0023. So the test allows 5 % relative
on Wq (at least 3.5 standard deviations everywhere) and 0.01 absolute on
P(wait) (at least 4). A kernel that ran one station short or one too many would
be off by far more: Wq moves by 30 % or more for every case here, which
``test_wrong_station_count_would_fail`` checks against the same tolerances.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from functools import cache

import numpy as np
import pytest

from sim.model.calendars import breaks_calendar
from sim.model.collect import collect

MU = 1 / 20.0  # service rate: mean swab 20 s
N = 1_000_000
WARM_UP = 20_000
POOL = 10
SEED = 20240607
WQ_REL_TOL = 0.05
PWAIT_ABS_TOL = 0.01

CASES = [(c, rho) for c in (1, 2, 4) for rho in (0.5, 0.7, 0.85)]


def erlang_c(c: int, a: float) -> float:
    """P(wait) in M/M/c with offered load a = lambda/mu (requires a < c)."""
    assert 0 < a < c
    below = sum(a**k / math.factorial(k) for k in range(c))
    top = a**c / math.factorial(c) * c / (c - a)
    return top / (below + top)


def mean_wait(c: int, lam: float, mu: float) -> float:
    """Wq = C(c, a) / (c mu - lambda)."""
    return erlang_c(c, lam / mu) / (c * mu - lam)


def test_erlang_c_formula() -> None:
    # M/M/1: P(wait) = rho and Wq = rho / (mu - lambda)
    assert erlang_c(1, 0.7) == pytest.approx(0.7)
    assert mean_wait(1, 0.7, 1.0) == pytest.approx(0.7 / 0.3)
    # M/M/2 with a = 1: C = (1/2 * 2) / (1 + 1 + 1) = 1/3 (textbook value)
    assert erlang_c(2, 1.0) == pytest.approx(1 / 3)
    assert erlang_c(4, 2.0) == pytest.approx(0.173913, abs=1e-6)


@cache
def _run(c: int, rho: float) -> tuple[np.ndarray, np.ndarray, float]:
    """Arrival and swab start times of an M/M/c point (fixed seed); and lambda."""
    lam = rho * c * MU
    rng = np.random.default_rng([SEED, c, round(100 * rho)])
    arrivals = np.cumsum(rng.exponential(1 / lam, N))
    service = rng.exponential(1 / MU, N)
    out = collect(
        arrivals, service, c, 0.0, float(arrivals[-1]), POOL,
        np.zeros((c, N // POOL + 2)), breaks_calendar(np.full((c, 1), np.nan), 0.0),
    )  # fmt: skip
    return arrivals, out.swab_start, lam


@pytest.fixture(scope="module", autouse=True)
def _free_runs() -> Iterator[None]:
    """The cached runs hold about 150 MB; let them go when this module is done."""
    yield
    _run.cache_clear()


def _measured(c: int, rho: float) -> tuple[float, float]:
    arrivals, start, _ = _run(c, rho)
    wait = (start - arrivals)[WARM_UP:]
    return float(wait.mean()), float((wait > 0).mean())


@pytest.mark.parametrize(("c", "rho"), CASES)
def test_mean_wait_and_probability_of_waiting(c: int, rho: float) -> None:
    lam = rho * c * MU
    wq, p_wait = _measured(c, rho)
    assert wq == pytest.approx(mean_wait(c, lam, MU), rel=WQ_REL_TOL)
    assert p_wait == pytest.approx(erlang_c(c, lam / MU), abs=PWAIT_ABS_TOL)


@pytest.mark.parametrize(("c", "rho"), CASES)
def test_wrong_station_count_would_fail(c: int, rho: float) -> None:
    """The tolerances can tell c from c - 1 and c + 1 stations (where those are stable)."""
    lam = rho * c * MU
    wq, p_wait = _measured(c, rho)
    for other in (c - 1, c + 1):
        if other < 1 or lam / MU >= other:
            continue
        assert wq != pytest.approx(mean_wait(other, lam, MU), rel=WQ_REL_TOL)
        assert abs(mean_wait(other, lam, MU) / mean_wait(c, lam, MU) - 1) > 0.3
        assert p_wait != pytest.approx(erlang_c(other, lam / MU), abs=PWAIT_ABS_TOL)


def _time_average_waiting(arrivals: np.ndarray, start: np.ndarray, t0: float, t1: float) -> float:
    """Mean number in line over [t0, t1]: sweep the +1 (arrival) / -1 (swab start) events."""
    times = np.concatenate([arrivals, start])
    steps = np.concatenate([np.ones(arrivals.size), -np.ones(start.size)])
    order = np.argsort(times, kind="stable")
    times, queue = times[order], np.cumsum(steps[order])  # queue length just after each event
    assert queue.min() >= 0
    edges = np.clip(times, t0, t1)
    return float(np.sum(queue[:-1] * np.diff(edges)) / (t1 - t0))


@pytest.mark.parametrize(("c", "rho"), CASES)
def test_littles_law(c: int, rho: float) -> None:
    """Time-average number waiting = arrival rate x mean wait, on the kernel's sample path
    (up to edge effects), and = lambda Wq of the theory within the Wq tolerance."""
    arrivals, start, lam = _run(c, rho)
    t0, t1 = float(arrivals[WARM_UP]), float(arrivals[-1])
    lq = _time_average_waiting(arrivals, start, t0, t1)
    inside = (arrivals >= t0) & (arrivals <= t1)
    lam_hat = inside.sum() / (t1 - t0)
    wq_hat = float((start - arrivals)[inside].mean())
    assert lq == pytest.approx(lam_hat * wq_hat, rel=1e-3)
    assert lq == pytest.approx(lam * mean_wait(c, lam, MU), rel=WQ_REL_TOL + 0.01)
