"""Who is swabbed at home: the homebound residents of each zone (``door_to_door:``).

Fixed by the scenario, never drawn, so every replication visits the same
households; the points' demand is drawn from the rest of each zone.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..scenario.schema import Scenario
from ..scenario.zones import ZoneTable


def homebound(scenario: Scenario) -> np.ndarray:
    """Homebound residents of each zone (zeros without a ``door_to_door`` section).

    A zone's ``homebound`` column wins; otherwise its share (``door_to_door.zones``,
    else ``share``) of its population, rounded so that the zones' total is the
    rounded sum of their exact shares: each zone gets the whole part, and the
    zones with the largest remainders (ties: table order) one more.
    """
    zones = scenario.demand.zones
    door = scenario.door_to_door
    n = len(zones)
    if door is None or n == 0:
        return np.zeros(n, np.int64)
    share = np.full(n, door.share)
    if door.zones:
        rows = pd.Index(zones.id).get_indexer(list(door.zones))
        share[rows] = list(door.zones.values())
    given = ~np.isnan(zones.homebound)
    exact = np.where(given, 0.0, share * zones.population)
    whole = np.floor(exact)
    extra = round(float(exact.sum() - whole.sum()))
    if extra > 0:
        order = np.lexsort((np.arange(n), -(exact - whole)))
        whole[order[:extra]] += 1
    counts = np.where(given, np.nan_to_num(zones.homebound), whole).astype(np.int64)
    return np.minimum(counts, zones.population)


def walking_zones(zones: ZoneTable, home: np.ndarray) -> ZoneTable:
    """The zone table of the residents who walk to a point (the homebound taken out)."""
    return ZoneTable(
        zones.id, zones.population - home, zones.point, zones.lat, zones.lon, zones.open,
        zones.close, np.full(len(zones), np.nan),
    )  # fmt: skip


def walkers_scenario(scenario: Scenario, home: np.ndarray) -> Scenario:
    """``scenario`` with only the residents who walk to a point in its zones."""
    if not home.any():
        return scenario
    zones = walking_zones(scenario.demand.zones, home)
    return scenario.model_copy(
        update={"demand": scenario.demand.model_copy(update={"zones": zones})}
    )
