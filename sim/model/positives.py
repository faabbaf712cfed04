"""Who is positive, what each pooled tube reads, and what testing its members one a tube finds.

A tube's members are its residents; each is a case with the prevalence of the
point's zones (a zone's own, or the scenario's), independently, or within
households (``positives.households``): members of a household are swabbed one
after another at one station, so they fill one tube or consecutive tubes of
that station, and a member of a household with a case is positive with the
secondary rate. A tube with a case reads positive with the sensitivity of its
pool size, a tube without one with the false-positive rate. The members of a
positive pooled tube are tested one a tube, each read the same way (the
sensitivity of a single tube). Nothing here feeds back into the round yet:
the reads are of every tube, and the time the follow-up takes is not
simulated (docs/model.md, *Positives*).

Every draw comes from the ``positives/...`` streams, in tube order, so the
prevalence changes no arrival, swab, trip or lab time (common random numbers).

Expected tests a resident with pool k, prevalence p, perfect tests and no
households (Dorfman 1943): 1/k + 1 - (1 - p)^k; :func:`dorfman_tests` gives the
exact expectation for the tube sizes a round actually made.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..random import Streams
from ..scenario.schema import Households, Scenario


@dataclass(frozen=True)
class TubeReads:
    """Per tube (in tube order): its cases, how it read, and its members' single tubes."""

    cases: np.ndarray  # int: members who are cases
    positive: np.ndarray  # bool: the tube read positive
    singles: np.ndarray  # int: members tested one a tube (a positive pooled tube's residents)
    confirmed: np.ndarray  # int: single tubes (or a positive tube of one) that read positive
    confirmed_cases: np.ndarray  # int: of those, members who are cases

    def summary(self, residents: int) -> dict[str, int | float]:
        """The counts a command centre asks for (``summary.json["positives"]``)."""
        tubes = int(self.cases.size)
        cases = int(self.cases.sum())
        found = int(self.confirmed_cases.sum())
        return {
            "cases": cases,
            "positive_tubes": int(self.positive.sum()),
            "recalled_residents": int(self.singles.sum()),
            "single_tubes": int(self.singles.sum()),
            "confirmed_positives": int(self.confirmed.sum()),
            "false_positives": int(self.confirmed.sum()) - found,
            "missed_positives": cases - found,
            "tests": tubes + int(self.singles.sum()),
            "tests_per_resident": (tubes + float(self.singles.sum())) / residents
            if residents
            else 0.0,
        }


def point_prevalence(scenario: Scenario) -> np.ndarray:
    """Each point's prevalence: its zones' own (or the scenario's), weighted by people."""
    zones = scenario.demand.zones
    spec = scenario.positives
    per_zone = np.array([spec.zones.get(z, spec.prevalence) for z in zones.id], dtype=float)
    codes = pd.Index([p.id for p in scenario.points]).get_indexer(zones.point)
    n = len(scenario.points)
    people = np.bincount(codes, weights=zones.population, minlength=n)
    cases = np.bincount(codes, weights=zones.population * per_zone, minlength=n)
    return np.divide(cases, people, out=np.zeros(n), where=people > 0)


def read_tubes(
    scenario: Scenario,
    tube_size: np.ndarray,
    tube_point: np.ndarray,
    tube_station: np.ndarray,
    streams: Streams,
    home: tuple[np.ndarray, np.ndarray] | None = None,
) -> TubeReads | None:
    """What every tube reads (None when nothing can read positive: nothing is drawn).

    ``home``: the tubes of the households swabbed at home and their zones (door to
    door): such a tube's residents have their zone's prevalence, not its base point's,
    and are one household (station -1 marks them).
    """
    spec = scenario.positives
    if not spec.active:
        return None
    size = tube_size.astype(np.int64)
    point = tube_point.astype(np.int64)
    p = point_prevalence(scenario)[point]
    if home is not None and home[0].size:
        tubes, zones = home
        ids = scenario.demand.zones.id[zones]
        p[tubes] = [spec.zones.get(str(z), spec.prevalence) for z in ids]
    if spec.households is None:
        cases = streams["positives/cases"].binomial(size, p)
    else:
        cases = _household_cases(spec.households, size, point, tube_station, p, streams)
    point_pools = np.array([pt.pool for pt in scenario.points], dtype=np.int64)
    pools = point_pools[point]
    sensitivity = np.array([spec.sensitivity_of(int(k)) for k in point_pools])[point]
    chance = np.where(cases > 0, sensitivity, spec.false_positive_rate)
    positive = streams["positives/pooled"].random(size.size) < chance
    # a positive tube of one is its member's result; a pooled one recalls its members (a
    # household's tube swabbed at home holds several even at a point that pools none)
    recalled = positive & ((pools > 1) | (size > 1))
    singles = np.where(recalled, size, 0)
    single_sensitivity = spec.sensitivity_of(1)
    draws = streams["positives/single"]
    true_found = draws.binomial(np.where(recalled, cases, 0), single_sensitivity)
    false_found = draws.binomial(np.where(recalled, size - cases, 0), spec.false_positive_rate)
    alone = positive & ~recalled
    confirmed = np.where(recalled, true_found + false_found, alone.astype(np.int64))
    confirmed_cases = np.where(recalled, true_found, np.where(alone, cases, 0))
    return TubeReads(cases, positive, singles, confirmed, confirmed_cases)


def _household_cases(
    households: Households,
    size: np.ndarray,
    point: np.ndarray,
    station: np.ndarray,
    p: np.ndarray,
    streams: Streams,
) -> np.ndarray:
    """Cases per tube when residents come in households along each station's sequence
    (a tube of station -1, a household swabbed at home, is one household)."""
    n = int(size.sum())
    if n == 0:
        return np.zeros(size.size, dtype=np.int64)
    # the residents in the order a station swabbed them: tubes by point, station, tube
    order = np.lexsort((np.arange(size.size), station, point))
    owner = np.repeat(order, size[order])  # each resident's tube
    lane = point[owner] * (int(station.max()) + 1) + station[owner]  # (point, station)
    rng = streams["positives/households"]
    sizes = np.array(households.sizes, dtype=np.int64)
    drawn = sizes[rng.choice(len(sizes), size=n, p=households.shares)]  # more than enough
    ends = np.cumsum(drawn)
    ends = ends[: int(np.searchsorted(ends, n)) + 1]
    ends[-1] = n
    household = np.searchsorted(ends, np.arange(n), side="right")
    at_home = station[owner] < 0
    lane = np.where(at_home, -1 - owner, lane)  # each household at home is a lane of its own
    # a household never spans two stations' sequences: it starts again where a lane starts
    new_lane = np.r_[True, lane[1:] != lane[:-1]]
    drawn_new = np.r_[True, household[1:] != household[:-1]] & ~at_home
    household = np.cumsum(new_lane | drawn_new) - 1
    community = rng.random(n) < p[owner]
    has_case = np.bincount(household, weights=community, minlength=household[-1] + 1) > 0
    secondary = rng.random(n) < households.secondary_rate
    case = community | (has_case[household] & secondary)
    return np.bincount(owner, weights=case, minlength=size.size).astype(np.int64)


def dorfman_tests(tube_size: np.ndarray, tube_pool: np.ndarray, prevalence: float) -> float:
    """Expected tests a resident for these tubes, with perfect tests (Dorfman): a test a
    tube, plus one a member for every tube of a pooling point (pool > 1) with a case."""
    size = tube_size.astype(float)
    pooled = tube_pool > 1
    retests = (size * (1.0 - (1.0 - prevalence) ** size))[pooled].sum()
    return float((size.size + retests) / size.sum())
