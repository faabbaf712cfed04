"""``natsim diff``: what differs between two scenarios, as --set writes it."""

from __future__ import annotations

from pathlib import Path

import sim
from sim.scenario.diff import Change, scenario_diff
from sim.scenario.zones import ZoneTable

from .conftest import SCENARIOS
from .test_cli import natsim


def test_the_outage_example_differs_in_its_name_and_its_disruption() -> None:
    a = sim.load_scenario(SCENARIOS / "zhaoling.yaml")
    b = sim.load_scenario(SCENARIOS / "zhaoling-outage.yaml")
    changes = scenario_diff(a, b)
    assert [c.path for c in changes] == ["round.name", "disruptions"]
    assert changes[1].after[0]["units"] == 15 and scenario_diff(a, a) == []


def test_points_and_labs_are_matched_by_id_and_alike_changes_grouped() -> None:
    tiny = sim.load_scenario(SCENARIOS / "tiny.yaml")
    one = scenario_diff(tiny, tiny.with_changes({"points.B.stations": 5}))
    assert one == [Change("points.B.stations", 2, 5)]
    every = scenario_diff(tiny, tiny.with_changes({"points.*.pool": 20}))
    assert every == [Change("points.*.pool", 10, 20)]
    lab = scenario_diff(tiny, tiny.with_changes({"labs.L.pcr.instruments": 4}))
    assert lab == [Change("labs.L.pcr.instruments", 1, 4)]
    assert lab[0].describe() == "labs.L.pcr.instruments: 1 -> 4"
    zones = tiny.demand.zones.to_frame()
    zones.loc[zones["id"] == "Z2", "population"] = 25
    more = tiny.with_changes({"demand.zones": ZoneTable.from_frame(zones)})
    assert scenario_diff(tiny, more) == [
        Change("demand.zones.population", None, "1 zones differ (+5 people)")
    ]


def test_the_cli_compares_files_and_run_folders(tmp_path: Path) -> None:
    folder = tmp_path / "run"
    natsim(
        "run", str(SCENARIOS / "tiny.yaml"), "--set", "labs.L.pcr.instruments=2", "-o", str(folder)
    )
    out = natsim("diff", str(SCENARIOS / "tiny.yaml"), str(folder)).stdout
    assert "1 settings differ (A -> B):" in out and "labs.L.pcr.instruments: 1 -> 2" in out
    same = natsim("diff", str(SCENARIOS / "tiny.yaml"), str(SCENARIOS / "tiny.yaml")).stdout
    assert "the two scenarios are the same" in same
    plain = tmp_path / "plain"
    natsim("run", str(SCENARIOS / "tiny.yaml"), "-o", str(plain))
    compared = natsim("compare", str(plain), str(folder)).stdout
    assert "labs.L.pcr.instruments: 1 -> 2" in compared
