"""Small rounds for the experiment tests, built from the hand round with random durations.

They run in milliseconds per replication, so the tests can afford hundreds of
replications; each is small enough that its behaviour can be reasoned out.
"""

from __future__ import annotations

from pathlib import Path

import sim

from .conftest import HAND_ROUND

# One resident, one tube, one plate: every duration is fixed except the PCR run,
# normal with mean 75 min and sd 10 min (truncated at zero, 7.5 sd away). The
# completion time is a constant plus that run: normal, with a true mean equal to
# the completion of the deterministic twin (run = 75 min).
ONE_TUBE = HAND_ROUND.replace("population: 20", "population: 1").replace(
    "pcr: {instruments: 1, run: 75min}",
    "pcr: {instruments: 1, run: {dist: normal, mean: 75min, sd: 10min}}",
)

# A lab-bound round: 4,700 residents make 470 full tubes plus the part-filled
# tubes the 12 stations seal at closing (about 475), hence 6 plates of 94 wells,
# all delivered by the final sweep after the point closes at 08:00 (1.4 h).
# Service is random (lognormal), the lab is fixed: the plates are ready about
# 2.0 h after the start and 6 plates of 60 min PCR on k instruments take
# ceil(6 / k) waves of an hour, so the last result comes at about
# 2.0 + ceil(6 / k) h: 8.0 h for k = 1, 5.0 h for k = 2, 4.0 h for k = 3 .. 5.
# The 4.5 h target is therefore met by k >= 3 and missed by k <= 2, whatever
# the service times.
LAB_BOUND = """\
round:
  name: Lab-bound round
  start: "07:00"
  targets: [4.5h, 6h]
  horizon: 16h
demand:
  participation: 1.0
  arrivals: {window: ["07:00", "08:00"], profile: flat}
  zones:
    - {id: Z1, population: 4700, point: A}
point_defaults:
  stations: 12
  service: {dist: lognormal, mean: 8s, sd: 3s}
  pool: 10
  tube_change: 5s
  tubes_per_bag: 500
points:
  - {id: A}
transport:
  pickups: {every: 4h, first: "12:00", final_sweep: true}
  travel:
    noise_cv: 0
    matrix: {L: {A: 10min}, A: {L: 10min}}
  handover: 5min
  routes:
    - {id: R, points: [A], lab: L}
labs:
  - id: L
    receiving: {staff: 1, per_bag: 10min}
    loading: {staff: 5, per_plate: 10min}
    extraction: {instruments: 5, run: 10min}
    pcr: {instruments: 1, run: 60min}
    report: {staff: 5, per_plate: 5min}
    partial_plate_after: 20min
"""


def load(text: str, folder: Path, name: str = "round.yaml") -> sim.Scenario:
    """Write ``text`` to ``folder/name`` and load it."""
    path = folder / name
    path.write_text(text)
    return sim.load_scenario(path)
