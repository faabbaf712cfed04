"""Confidence intervals and quantile summaries over replications, written out in full.

natsim does not depend on scipy, so the few distribution functions the
experiments need are here:

* :func:`t_quantile` — quantiles of Student's t, by bisection on the t CDF,
  which is computed from the regularized incomplete beta function (a continued
  fraction, modified Lentz). Accurate to about 1e-10 absolute for 1 <= df <=
  1e7 (the tests check standard table values to 7 significant digits); beyond
  1e7 degrees of freedom the normal quantile is returned (difference < 1e-6).
* :func:`mean_interval` — the t-based interval for a mean:
  ``mean ± t(1 - α/2, n - 1) · sd / sqrt(n)``.
* :func:`wilson` — the Wilson score interval for a proportion (P(met target)),
  which stays inside [0, 1] and is sensible at 0 or n successes, unlike the
  normal ("Wald") interval.
* :func:`newcombe` — the interval for a difference of two independent
  proportions from two Wilson intervals (Newcombe 1998, method 10).
* :func:`quantile` — the empirical quantile with linear interpolation between
  order statistics (numpy's default "linear" method), extended so that +inf
  values (replications that never finished) sort last and propagate honestly.
* :func:`describe` — everything ``summary.json`` reports for one KPI.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from statistics import NormalDist
from typing import Any

import numpy as np

LEVEL = 0.95  # the confidence level reported everywhere unless asked otherwise


def normal_quantile(p: float) -> float:
    """The standard normal quantile (the standard library's, accurate to ~1e-15)."""
    return NormalDist().inv_cdf(p)


def _betacf(a: float, b: float, x: float) -> float:
    """Continued fraction of the incomplete beta function (modified Lentz's method)."""
    tiny = 1e-300
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c = 1.0
    d = 1.0 - qab * x / qap
    d = tiny if abs(d) < tiny else d
    d = 1.0 / d
    h = d
    for m in range(1, 10_000):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1.0 + aa * d
        d = tiny if abs(d) < tiny else d
        c = 1.0 + aa / c
        c = tiny if abs(c) < tiny else c
        d = 1.0 / d
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 + aa * d
        d = tiny if abs(d) < tiny else d
        c = 1.0 + aa / c
        c = tiny if abs(c) < tiny else c
        d = 1.0 / d
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < 1e-15:
            break
    return h


def betainc(a: float, b: float, x: float) -> float:
    """The regularized incomplete beta function I_x(a, b), for a, b > 0 and 0 <= x <= 1."""
    if not 0.0 <= x <= 1.0:
        raise ValueError(f"x must lie in [0, 1], got {x}")
    if x in (0.0, 1.0):
        return x
    log_front = (
        math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    )
    front = math.exp(log_front)
    if x < (a + 1.0) / (a + b + 2.0):
        return front * _betacf(a, b, x) / a
    return 1.0 - front * _betacf(b, a, 1.0 - x) / b


def t_cdf(t: float, df: float) -> float:
    """P(T <= t) for Student's t with ``df`` degrees of freedom."""
    if df <= 0:
        raise ValueError(f"degrees of freedom must be positive, got {df}")
    if math.isinf(t):
        return 1.0 if t > 0 else 0.0
    tail = 0.5 * betainc(df / 2.0, 0.5, df / (df + t * t))
    return 1.0 - tail if t > 0 else tail


def t_quantile(p: float, df: float) -> float:
    """The ``p`` quantile of Student's t with ``df`` degrees of freedom (see the module notes)."""
    if not 0.0 < p < 1.0:
        raise ValueError(f"p must lie strictly between 0 and 1, got {p}")
    if df <= 0:
        raise ValueError(f"degrees of freedom must be positive, got {df}")
    if df > 1e7:
        return normal_quantile(p)
    if p == 0.5:
        return 0.0
    upper = max(p, 1.0 - p)
    lo, hi = 0.0, 1.0
    while t_cdf(hi, df) < upper:
        lo, hi = hi, hi * 2.0
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if t_cdf(mid, df) < upper:
            lo = mid
        else:
            hi = mid
        if hi - lo <= 1e-13 * max(1.0, hi):
            break
    q = 0.5 * (lo + hi)
    return q if p > 0.5 else -q


def mean_interval(
    values: Iterable[float], level: float = LEVEL
) -> tuple[float, float | None, float | None, float | None]:
    """Mean, sample sd, and the t interval's lower and upper ends.

    With one value the sd and the interval are None (nothing to estimate the
    spread from); with no values the mean is NaN.
    """
    x = np.asarray(list(values), dtype=float)
    n = x.size
    if n == 0:
        return math.nan, None, None, None
    mean = float(x.mean())
    if n == 1:
        return mean, None, None, None
    sd = float(x.std(ddof=1))
    half = t_quantile(0.5 + level / 2.0, n - 1) * sd / math.sqrt(n)
    return mean, sd, mean - half, mean + half


def wilson(successes: int, n: int, level: float = LEVEL) -> tuple[float, float]:
    """The Wilson score interval for a proportion of ``successes`` in ``n`` trials."""
    if n <= 0:
        return 0.0, 1.0
    if not 0 <= successes <= n:
        raise ValueError(f"successes must lie in [0, {n}], got {successes}")
    z = normal_quantile(0.5 + level / 2.0)
    p = successes / n
    z2n = z * z / n
    centre = (p + z2n / 2.0) / (1.0 + z2n)
    half = z / (1.0 + z2n) * math.sqrt(p * (1.0 - p) / n + z * z / (4.0 * n * n))
    # exact at the ends (the formula gives them up to rounding)
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == n else min(1.0, centre + half)
    return low, high


def newcombe(k1: int, n1: int, k2: int, n2: int, level: float = LEVEL) -> tuple[float, float]:
    """Interval for p2 - p1 of two independent proportions (Newcombe's hybrid score method)."""
    p1, p2 = k1 / n1, k2 / n2
    l1, u1 = wilson(k1, n1, level)
    l2, u2 = wilson(k2, n2, level)
    d = p2 - p1
    low = d - math.sqrt((p2 - l2) ** 2 + (u1 - p1) ** 2)
    high = d + math.sqrt((u2 - p2) ** 2 + (p1 - l1) ** 2)
    return max(-1.0, low), min(1.0, high)


def quantile(values: Iterable[float], q: float) -> float:
    """Empirical ``q`` quantile, linear between order statistics; +inf values sort last.

    If the interpolation touches an infinite order statistic with a positive
    weight the result is +inf (the quantile lies among runs that never
    finished); NaN values are ignored.
    """
    x = np.sort(np.asarray(list(values), dtype=float))
    x = x[~np.isnan(x)]
    if x.size == 0:
        return math.nan
    h = (x.size - 1) * q
    lo = math.floor(h)
    hi = min(lo + 1, x.size - 1)
    frac = h - lo
    if frac == 0.0 or x[hi] == x[lo]:
        return float(x[lo])
    if math.isinf(x[hi]):
        return math.inf
    return float(x[lo] + frac * (x[hi] - x[lo]))


def describe(
    values: Iterable[float | None], level: float = LEVEL, censored: bool = False
) -> dict[str, Any]:
    """Mean, sd, t interval, p50/p90/p95, min and max of one KPI over replications.

    ``None``/NaN values are missing and left out, unless ``censored``: then
    they are replications that never reached the event (a round unfinished at
    the horizon), which count as +inf — the quantiles and the maximum can still
    be read (p50 exists if at least half finished) but the mean, sd and
    interval are None because the mean of a censored sample is unknown.
    """
    raw = [math.nan if v is None else float(v) for v in values]
    x = np.asarray(raw, dtype=float)
    missing = int(np.isnan(x).sum())
    x = np.where(np.isnan(x), math.inf, x) if censored else x[~np.isnan(x)]
    n = int(x.size)
    out: dict[str, Any] = {"n": n}
    if censored:
        out["unfinished"] = missing
    finite = bool(np.isfinite(x).all())
    if n and finite:
        mean, sd, low, high = mean_interval(x, level)
        out["mean"] = mean
        out["sd"] = sd
        out["ci"] = None if low is None else [low, high]
        out["half_width"] = None if low is None or high is None else (high - low) / 2.0
    else:
        out.update(mean=None, sd=None, ci=None, half_width=None)
    for name, q in (("p50", 0.5), ("p90", 0.9), ("p95", 0.95)):
        out[name] = _finite_or_none(quantile(x, q)) if n else None
    out["min"] = _finite_or_none(float(x.min())) if n else None
    out["max"] = _finite_or_none(float(x.max())) if n else None
    return out


def _finite_or_none(value: float) -> float | None:
    return value if math.isfinite(value) else None
