"""The statistics behind summary.json: t quantiles, intervals, quantiles, and their coverage."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sim.stats import (
    betainc,
    describe,
    mean_interval,
    newcombe,
    quantile,
    t_cdf,
    t_quantile,
    wilson,
)

# Student's t quantiles from the standard tables (e.g. NIST/SEMATECH, Table of t).
T_TABLE = [
    (0.975, 1, 12.706204736),
    (0.975, 2, 4.302652730),
    (0.975, 3, 3.182446305),
    (0.975, 4, 2.776445105),
    (0.975, 5, 2.570581836),
    (0.975, 9, 2.262157163),
    (0.975, 10, 2.228138852),
    (0.975, 19, 2.093024054),
    (0.975, 29, 2.045229642),
    (0.975, 30, 2.042272456),
    (0.975, 100, 1.983971519),
    (0.975, 1000, 1.962339081),
    (0.95, 1, 6.313751515),
    (0.95, 10, 1.812461123),
    (0.95, 30, 1.697260887),
    (0.995, 5, 4.032142984),
    (0.995, 20, 2.845339710),
    (0.9, 7, 1.414923928),
]


@pytest.mark.parametrize(("p", "df", "expected"), T_TABLE)
def test_t_quantile_matches_the_tables(p: float, df: int, expected: float) -> None:
    assert t_quantile(p, df) == pytest.approx(expected, rel=2e-9)
    assert t_quantile(1 - p, df) == pytest.approx(-expected, rel=2e-9)
    assert t_cdf(t_quantile(p, df), df) == pytest.approx(p, abs=1e-12)


def test_t_tends_to_the_normal_and_known_closed_forms() -> None:
    assert t_quantile(0.975, 1e9) == pytest.approx(1.959963985, rel=1e-9)
    assert t_quantile(0.5, 7) == 0.0
    # df = 1 is the Cauchy distribution, df = 2 has a closed form too
    for t in (-3.0, -0.4, 0.0, 1.2, 10.0):
        assert t_cdf(t, 1) == pytest.approx(0.5 + math.atan(t) / math.pi, abs=1e-13)
        assert t_cdf(t, 2) == pytest.approx(0.5 + t / (2 * math.sqrt(2 + t * t)), abs=1e-13)
    assert betainc(2.0, 3.0, 0.4) == pytest.approx(0.5248, abs=1e-12)  # 1 - sum of binomials
    with pytest.raises(ValueError):
        t_quantile(1.0, 3)


def test_wilson_interval_known_values_and_edges() -> None:
    low, high = wilson(20, 20)
    assert high == 1.0 and low == pytest.approx(20 / (20 + 1.959963985**2), rel=1e-9)
    assert wilson(0, 10)[0] == 0.0
    # Newcombe (1998), table I: 81 of 263 -> 0.2553 .. 0.3662
    low, high = wilson(81, 263)
    assert (low, high) == (pytest.approx(0.2553, abs=1e-4), pytest.approx(0.3662, abs=1e-4))
    # the difference interval contains the observed difference and stays in [-1, 1]
    low, high = newcombe(5, 10, 9, 10)
    assert -1 <= low < 0.4 < high <= 1


def test_quantiles_follow_numpy_and_treat_unfinished_as_infinite() -> None:
    x = np.array([3.0, 1.0, 4.0, 1.5, 9.0, 2.6])
    for q in (0.0, 0.5, 0.9, 0.95, 1.0):
        assert quantile(x, q) == pytest.approx(np.percentile(x, 100 * q))
    summary = describe([4.0, 5.0, None, 6.0], censored=True)
    assert summary["unfinished"] == 1 and summary["n"] == 4
    assert summary["mean"] is None and summary["ci"] is None
    assert summary["p50"] == pytest.approx(5.5) and summary["max"] is None
    plain = describe([4.0, 5.0, None, 6.0])
    assert plain["n"] == 3 and plain["mean"] == pytest.approx(5.0)
    mean, sd, low, high = mean_interval([4.0, 5.0, 6.0])
    assert mean == pytest.approx(5.0)
    assert sd == pytest.approx(1.0) and low is not None and high is not None
    assert (high - low) / 2 == pytest.approx(t_quantile(0.975, 2) / math.sqrt(3))
    assert describe([7.0])["ci"] is None


@pytest.mark.parametrize("n", [3, 5, 20])
def test_t_interval_covers_the_true_mean_95_percent_of_the_time(n: int) -> None:
    """10,000 experiments of n normal draws: coverage 95 % +- 0.6 % (3 binomial sd)."""
    rng = np.random.default_rng(20261129 + n)
    data = rng.normal(10.0, 2.0, size=(10_000, n))
    half = t_quantile(0.975, n - 1) * data.std(axis=1, ddof=1) / math.sqrt(n)
    covered = np.abs(data.mean(axis=1) - 10.0) <= half
    assert covered.mean() == pytest.approx(0.95, abs=0.0066)


def test_wilson_interval_coverage_is_close_to_nominal() -> None:
    """Wilson's interval keeps near 95 % where the normal interval would fall short."""
    rng = np.random.default_rng(7)
    for p, n in ((0.9, 35), (0.5, 20), (0.97, 100)):
        k = rng.binomial(n, p, size=4000)
        inside = [lo <= p <= hi for lo, hi in (wilson(int(x), n) for x in k)]
        assert 0.92 <= np.mean(inside) <= 0.99, (p, n, np.mean(inside))
