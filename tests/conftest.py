"""Shared fixtures: scenario files written into a temporary folder, the repo's scenarios,
and a random variant of the tiny round."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

import sim
from sim.scenario.zones import ZoneTable

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = ROOT / "scenarios"

# A one-point, one-lab round with fixed durations and a travel matrix, so every
# time in it can be worked out by hand (see test_hand_computed.py).
HAND_ROUND = """\
round:
  name: Hand round
  start: "07:00"
  targets: [5h, 6h]
  horizon: 12h
demand:
  participation: 1.0
  arrivals: {window: ["07:00", "08:00"], profile: flat, spacing: even}
  zones:
    - {id: Z1, population: 20, point: A}
point_defaults:
  stations: 1
  service: 30s
  pool: 10
  tube_change: 60s
  tubes_per_bag: 50
points:
  - {id: A}
transport:
  pickups: {every: 2h, first: "07:30", final_sweep: true}
  travel:
    noise_cv: 0
    matrix: {L: {A: 10min}, A: {L: 10min}}
  handover: 5min
  routes:
    - {id: R, points: [A], lab: L}
labs:
  - id: L
    receiving: {staff: 1, per_bag: 10min}
    loading: {staff: 2, per_plate: 30min}
    extraction: {instruments: 1, run: 30min}
    pcr: {instruments: 1, run: 75min}
    report: {staff: 1, per_plate: 10min}
    partial_plate_after: 20min
"""


@pytest.fixture
def write_scenario(tmp_path: Path) -> Callable[..., Path]:
    """Write YAML text (and optional extra files) into tmp_path; return the YAML path."""

    def write(text: str, name: str = "scenario.yaml", **files: str) -> Path:
        for file_name, content in files.items():
            (tmp_path / file_name.replace("__", ".")).write_text(content)
        path = tmp_path / name
        path.write_text(text)
        return path

    return write


def random_tiny(tube_change: object = None) -> sim.Scenario:
    """The tiny round made random: lognormal durations, random arrivals, relief breaks
    (staggered at A, together at B), several stations, a zone window of its own and a
    point that opens after people come. For tests comparing fast code with a reference."""
    base = sim.load_scenario(SCENARIOS / "tiny.yaml")
    zones = ZoneTable.from_records(
        [
            {"id": "Z1", "population": 900, "point": "A"},
            {"id": "Z2", "population": 500, "point": "B"},
            {"id": "Z3", "population": 300, "point": "B", "open": "07:00", "close": "07:30"},
            {"id": "Z4", "population": 200, "point": "B"},
        ]
    )
    return base.with_changes(
        {
            "demand.zones": zones,
            "demand.participation": 0.9,
            "demand.arrivals.spacing": "random",
            "demand.arrivals.profile": "front-loaded",
            "point_defaults.service": {"dist": "lognormal", "mean": "12s", "sd": "5s"},
            "point_defaults.tube_change": tube_change
            or {"dist": "lognormal", "mean": "30s", "sd": "6s"},
            "point_defaults.relief": {"every": "15min", "for": "3min", "stagger": True},
            "points.A.stations": 3,
            "points.B.stations": 2,
            "points.B.pool": 5,
            "points.B.window": ["07:10", "08:00"],
            "points.B.relief.stagger": False,
        }
    )
