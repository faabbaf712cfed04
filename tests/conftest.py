"""Shared fixtures: scenario files written into a temporary folder, and the repo's scenarios."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

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
