"""Door-to-door sampling, by hand on the tiny round, and its rules on Zhaoling.

Tiny (tests/test_hand_computed.py): zone Z1 (40 people, point A, no coordinates of its
own, so at A) has 9 homebound residents in households of 4: households of 4, 4 and 1
(uneven, so that counting households, tubes or residents in place of another fails).
One team from base A, 10 min at a door (6 households an hour), 4 min between doors, two
households a trip. Drives from Z1 to A are 0 (the zone is at its point).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import sim
from sim.checks import check
from sim.model.homebound import homebound
from sim.scenario.zones import ZoneTable

from .conftest import SCENARIOS
from .test_followup import A, L, drive_h

DOOR = {
    "household_size": 4, "teams": [{"base": "A", "teams": 1}], "households_per_hour": 6,
    "between": "4min", "households_per_trip": 2,
}  # fmt: skip
M = 1 / 60  # a minute in hours


@pytest.fixture(scope="module")
def tiny() -> sim.Scenario:
    sc = sim.load_scenario(SCENARIOS / "tiny.yaml")
    zones = sc.demand.zones.to_frame()
    zones.loc[zones["id"] == "Z1", "homebound"] = 9
    return sc.with_changes({"demand.zones": ZoneTable.from_frame(zones), "door_to_door": DOOR})


def test_one_team_visits_the_households_and_brings_their_tubes_to_its_base(
    tiny: sim.Scenario,
) -> None:
    run = sim.run(tiny)
    door = run.table("door")
    assert door["residents"].tolist() == [4, 4, 1]
    np.testing.assert_allclose(door["arrive_h"], [0, 14 * M, 24 * M], atol=1e-9)
    np.testing.assert_allclose(door["swabbed_h"], [10 * M, 24 * M, 34 * M], atol=1e-9)
    # two households a trip: back at the base (0 min away) after the second, and at the end
    np.testing.assert_allclose(door["handed_h"], [24 * M, 24 * M, 34 * M], atol=1e-9)
    assert door["trip"].tolist() == [0, 0, 1] and door["delivered_h"].isna().all()
    s = run.summary()
    assert s["residents_arrived"] == 60 and s["residents_swabbed"] == 60
    # A's walkers are 40 - 9 = 31: tubes of 10, 10, 10 and 1; then the households' 3; B's 2
    points = run.points.set_index("point")
    assert points.loc["A", "residents"] == 31 and points.loc["A", "tubes"] == 4
    tubes = run.tubes
    assert len(tubes) == 4 + 3 + 2 and s["tubes"] == 9
    home = tubes.set_index("tube").loc[door["tube"]]
    assert (home["point"] == "A").all() and (home["station"] == -1).all()
    assert home["residents"].tolist() == [4, 4, 1]
    np.testing.assert_allclose(home["sealed_h"], door["handed_h"], atol=1e-9)
    # they wait at A with its own tubes for the 08:00 pickup and go on the same trip
    first_trip = run.trips.sort_values("depart_h").iloc[0]
    assert first_trip["depart_h"] == pytest.approx(1.0)
    assert (home["trip"] == first_trip["trip"]).all()
    assert tubes["reported_h"].notna().all()
    d = s["door_to_door"]
    assert (d["households"], d["residents"], d["tubes"], d["trips"]) == (3, 9, 3, 2)
    assert d["last_swab_h"] == pytest.approx(34 * M)
    assert d["last_report_h"] == pytest.approx(tubes["reported_h"].max())
    # the households' swabs are in the timeline: all 60 swabbed within the first 1.25 h
    assert run.parts[0].kpis["by_hour"]["swabbed"][1] == pytest.approx(1.0)


def test_a_courier_takes_each_trip_from_the_door_to_the_lab(tiny: sim.Scenario) -> None:
    run = sim.run(tiny.with_changes({"door_to_door.tubes": "courier"}))
    door = run.table("door")
    # the team stays in the zone: 4 min to the third door after the courier took two tubes
    np.testing.assert_allclose(door["arrive_h"], [0, 14 * M, 28 * M], atol=1e-9)
    np.testing.assert_allclose(door["handed_h"], [24 * M, 24 * M, 38 * M], atol=1e-9)
    drive = drive_h(A, L)  # from Z1 (at A) to the lab of A's route
    np.testing.assert_allclose(door["delivered_h"], door["handed_h"] + drive, atol=1e-6)
    trips = run.trips
    courier = trips[trips["reason"] == "door-to-door"]
    assert courier["vehicle"].tolist() == ["courier:A"] * 2
    assert courier["tubes"].tolist() == [2, 1] and (courier["lab"] == "L").all()
    home = run.tubes.set_index("tube").loc[door["tube"]]
    np.testing.assert_allclose(home["delivered_h"], door["delivered_h"], atol=1e-9)
    assert home["reported_h"].notna().all()
    # couriers are not the fleet: the vehicles' utilisation is the route's vehicle alone
    fleet = trips[trips["reason"] != "door-to-door"]
    span = fleet["back_h"].max() - fleet["depart_h"].min()
    busy = (fleet["back_h"] - fleet["depart_h"]).sum() / span
    assert run.summary()["utilisation"]["vehicles"] == pytest.approx(busy)


def test_a_team_at_another_base_moves_nothing_else(tiny: sim.Scenario) -> None:
    """Common random numbers: a base that serves no zone changes no draw of the others."""
    one = sim.run(
        tiny.with_changes({"door_to_door.between": {"dist": "exponential", "mean": "4min"}})
    )
    two = sim.run(
        tiny.with_changes(
            {
                "door_to_door.between": {"dist": "exponential", "mean": "4min"},
                "door_to_door.teams": [{"base": "A", "teams": 1}, {"base": "B", "teams": 3}],
            }
        )
    )
    pd.testing.assert_frame_equal(one.table("door"), two.table("door"))
    cols = ["first_arrival_h", "first_swab_h", "last_swab_h", "sealed_h"]
    pd.testing.assert_frame_equal(one.tubes[cols], two.tubes[cols])


def test_shares_are_rounded_to_the_districts_total() -> None:
    sc = sim.load_scenario(SCENARIOS / "zhaoling.yaml")
    base = sc.points[0].id
    door = {"share": 0.005, "teams": [{"base": base}], "households_per_hour": 6}
    home = homebound(sc.with_changes({"door_to_door": door}))
    people = sc.demand.zones.population
    assert home.sum() == round(0.005 * people.sum())  # 2,004 of 400,875
    assert (np.abs(home - 0.005 * people) < 1).all()
    zone = str(sc.demand.zones.id[3])
    changed = homebound(sc.with_changes({"door_to_door": {**door, "zones": {zone: 0.5}}}))
    assert changed[3] == round(0.5 * people[3]) or changed[3] == math.floor(0.5 * people[3])


def test_time_between_doors_has_its_mean_and_spread(tiny: sim.Scenario) -> None:
    zones = tiny.demand.zones.to_frame()
    zones.loc[zones["id"] == "Z1", ["population", "homebound"]] = [400, 200]
    run = sim.run(
        tiny.with_changes(
            {
                "demand.zones": ZoneTable.from_frame(zones),
                "round.horizon": "30h",
                "door_to_door": {
                    **DOOR,
                    "household_size": 1,
                    "households_per_hour": 60,
                    "households_per_trip": 1000,
                    "between": {"dist": "lognormal", "mean": "5min", "sd": "2min"},
                },
            }
        )
    )
    door = run.table("door")
    gaps = (door["arrive_h"].to_numpy()[1:] - door["swabbed_h"].to_numpy()[:-1]) * 60
    assert gaps.size == 199
    assert abs(gaps.mean() - 5.0) < 3 * 2.0 / math.sqrt(gaps.size)
    assert gaps.std(ddof=1) == pytest.approx(2.0, rel=0.2)


def test_zhaoling_homebound_are_all_swabbed_and_tested() -> None:
    sc = sim.load_scenario(SCENARIOS / "zhaoling.yaml")
    ids = [p.id for p in sc.points]
    bases = [{"base": ids[i], "teams": 8} for i in range(0, len(ids), len(ids) // 8)][:8]
    door = {"share": 0.005, "household_size": 2, "households_per_hour": 6, "teams": bases}
    plain = sim.run(sc).summary()
    run = sim.run(sc.with_changes({"door_to_door": door}))
    s = run.summary()
    assert s["finished"] and s["door_to_door"]["residents"] == 2004
    assert s["door_to_door"]["last_report_h"] <= s["completion_h"]
    # the walkers are fewer by the homebound (participation 0.95 of the rest)
    assert s["residents_arrived"] - 2004 == pytest.approx(0.95 * (400875 - 2004), rel=0.002)
    assert s["residents_arrived"] == pytest.approx(plain["residents_arrived"], rel=0.01)
    assert not any(w.startswith("door-to-door teams are short") for w in s["warnings"])


def test_too_few_teams_is_a_warning(tiny: sim.Scenario) -> None:
    slow = tiny.with_changes({"door_to_door.households_per_hour": 0.5})
    found = [f for f in check(slow) if f.code == "door-teams-short"]
    assert len(found) == 1
    assert "3 households" in found[0].message and "1 teams at least 6.2 h" in found[0].message
    assert not [f for f in check(tiny) if f.code == "door-teams-short"]


def test_a_zone_csv_with_a_homebound_column_is_read_and_checked(tmp_path: Path) -> None:
    text = (SCENARIOS / "tiny.yaml").read_text()
    text = text.replace(
        """  zones:
    - {id: Z1, population: 40, point: A}
    - {id: Z2, population: 20, point: B}""",
        "  zones: {csv: zones.csv}",
    )
    door = "door_to_door: {teams: [{base: B}], households_per_hour: 6}\n"
    (tmp_path / "s.yaml").write_text(text + door)
    (tmp_path / "zones.csv").write_text("id,population,point,homebound\nZ1,40,A,\nZ2,20,B,5\n")
    sc = sim.load_scenario(tmp_path / "s.yaml")
    assert homebound(sc).tolist() == [0, 5]
    assert sim.run(sc).summary()["door_to_door"]["households"] == 3  # 2, 2 and 1
    (tmp_path / "zones.csv").write_text("id,population,point,homebound\nZ1,40,A,\nZ2,20,B,25\n")
    with pytest.raises(sim.ScenarioError) as raised:
        sim.load_scenario(tmp_path / "s.yaml")
    assert "zones.csv:3" in str(raised.value) and "25 homebound of 20 people" in str(raised.value)
    (tmp_path / "s.yaml").write_text(text)
    (tmp_path / "zones.csv").write_text("id,population,point,homebound\nZ1,40,A,\nZ2,20,B,5\n")
    with pytest.raises(sim.ScenarioError) as raised:
        sim.load_scenario(tmp_path / "s.yaml")
    assert "no door_to_door section" in str(raised.value)


def test_bad_door_to_door_sections_are_refused(tiny: sim.Scenario, tmp_path: Path) -> None:
    text = (SCENARIOS / "tiny.yaml").read_text()
    cases = {
        "door_to_door: {teams: [{base: C}], households_per_hour: 6}": "no point 'C'",
        "door_to_door: {teams: [{base: A}, {base: A}], households_per_hour: 6}": "listed twice",
        "door_to_door: {teams: [{base: A}], households_per_hour: 6, zones: {Z9: 0.1}}": "no zone",
        "door_to_door: {teams: [{base: A}], households_per_hour: 6, household_size: 30}": "20",
        "door_to_door: {teams: [{base: A}], households_per_hour: 6, start: '06:00'}": "before",
        "door_to_door: {teams: [{base: A}], household_per_hour: 6}": "household_per_hour",
    }
    for line, words in cases.items():
        (tmp_path / "s.yaml").write_text(text + line + "\n")
        with pytest.raises(sim.ScenarioError) as raised:
            sim.load_scenario(tmp_path / "s.yaml")
        assert words in str(raised.value), (line, str(raised.value))
        assert "s.yaml:" in str(raised.value)


def test_set_changes_the_section(tiny: sim.Scenario, tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(
        (SCENARIOS / "tiny.yaml").read_text()
        + "door_to_door: {teams: [{base: A}], households_per_hour: 6}\n"
    )
    sc = sim.load_scenario(path, ["door_to_door.share=0.25"])
    assert homebound(sc).tolist() == [10, 5]


def test_a_round_with_door_to_door_cannot_be_saved_or_carried_on(tiny: sim.Scenario) -> None:
    from sim.model.world import Round

    plain = sim.load_scenario(SCENARIOS / "tiny.yaml")
    stopped = Round(plain)
    stopped.run(3600.0)
    with pytest.raises(ValueError, match="door_to_door"):
        Round(tiny, state=stopped.save())
    visiting = Round(tiny)
    visiting.run(3600.0)
    with pytest.raises(ValueError, match="door_to_door cannot be saved"):
        visiting.save()


def test_households_at_home_read_their_own_zones_prevalence(tiny: sim.Scenario) -> None:
    """Z1's homebound are served from B (the only base) but are Z1's people: with every
    Z2 resident a case and none in Z1, their tubes have no case and B's own tubes are
    all cases. With households and a secondary rate of 1, a household at home is one
    household: all its members are cases or none."""
    from sim.model.world import Round

    away = tiny.with_changes(
        {"door_to_door.teams": [{"base": "B", "teams": 1}], "positives.zones": {"Z2": 1.0}}
    )
    run = Round(away)
    reads = run.reads
    assert reads is not None
    assert (reads.cases[run.door_tube] == 0).all()
    own_b = np.flatnonzero((run.ledger.tube_point == 1) & (run.ledger.tube_station >= 0))
    assert (reads.cases[own_b] == run.ledger.tube_size[own_b]).all()
    clustered = tiny.with_changes(
        {
            "positives.prevalence": 0.3,
            "positives.households": {"sizes": [1, 2, 3], "secondary_rate": 1.0},
        }
    )
    for replication in range(20):
        run = Round(clustered, replication)
        assert run.reads is not None
        cases = run.reads.cases[run.door_tube]
        sizes = run.ledger.tube_size[run.door_tube]
        assert ((cases == 0) | (cases == sizes)).all()


def test_a_household_tube_at_a_point_that_pools_none_is_still_recalled(
    tiny: sim.Scenario,
) -> None:
    """Review finding: at a base with pool 1, a positive household tube of 4 was taken as
    one resident's result (false positives came out negative)."""
    sc = tiny.with_changes({"points.A.pool": 1, "positives.prevalence": 0.9})
    p = sim.run(sc).summary()["positives"]
    assert p["false_positives"] >= 0 and p["confirmed_positives"] == p["cases"]
