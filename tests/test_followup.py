"""The follow-up of positive pooled tubes, by hand on the tiny round.

Tiny (tests/test_hand_computed.py) reports all six tubes on one plate at 4.402239 h.
Zone Z2 (20 residents at point B: tubes 4 and 5, ten members each) is all cases, Z1
none; tests are perfect. The recalls are notified 10 min after the result, a team
swabs a member a minute, the single tubes drive from B to the lab L and are reported
an hour after they arrive.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import sim
from sim.scenario.zones import ZoneTable

from .conftest import SCENARIOS

REPORTED_H = 4.402239  # tiny's one plate (rounded as test_hand_computed pins it)
FOLLOWUP = {
    "positives.zones": {"Z2": 1.0},
    "positives.followup": {
        "notify_after": "10min", "teams": 1, "base": "B", "per_person": "1min",
        "lab_turnaround": "1h",
    },
}  # fmt: skip


def drive_h(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Tiny's travel: haversine distance (R = 6,371 km), detour 1.0, 30 km/h."""
    lat1, lon1, lat2, lon2 = map(math.radians, (*a, *b))
    h = (
        math.sin((lat2 - lat1) / 2) ** 2
        + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    )
    return 2 * 6371.0 * math.asin(math.sqrt(h)) / 30.0


B, L, A = (33.580, 114.050), (33.565, 114.054), (33.570, 114.040)


@pytest.fixture(scope="module")
def tiny() -> sim.Scenario:
    return sim.load_scenario(SCENARIOS / "tiny.yaml")


def test_one_team_works_through_the_recalls_in_turn(tiny: sim.Scenario) -> None:
    run = sim.run(tiny.with_changes(FOLLOWUP))
    recalls = run.table("recalls")
    assert recalls["tube"].tolist() == [4, 5] and recalls["members"].tolist() == [10, 10]
    notified = REPORTED_H + 10 / 60
    np.testing.assert_allclose(recalls["pooled_result_h"], [REPORTED_H] * 2, atol=1e-6)
    np.testing.assert_allclose(recalls["team_arrived_h"], [notified, notified + 10 / 60], atol=1e-6)
    np.testing.assert_allclose(
        recalls["reswabbed_h"], [notified + 10 / 60, notified + 20 / 60], atol=1e-6
    )
    last = notified + 20 / 60 + drive_h(B, L) + 1.0
    s = run.summary()
    assert s["followup_completion_h"] == pytest.approx(last, abs=1e-6)
    assert [t["met"] for t in s["followup"]["targets"]] == [False, True]  # 4 h, 6 h
    assert s["completion_h"] == pytest.approx(REPORTED_H, abs=1e-6)  # screening unchanged


def test_single_tubes_on_the_next_trip_wait_for_the_routes_vehicle(tiny: sim.Scenario) -> None:
    """carry: next_trip. B is finished (swept) when the first recall is re-swabbed, so a
    trip sets out for its single tubes at once (reason "recall"): lab -> B, 5 min
    handover, B -> lab. The second recall is ready 10 min later, when the one vehicle is
    still out: it goes when the vehicle is back."""
    spec = {**FOLLOWUP["positives.followup"], "carry": "next_trip"}  # type: ignore[dict-item]
    run = sim.run(tiny.with_changes(FOLLOWUP | {"positives.followup": spec}))
    recalls = run.table("recalls")
    first = REPORTED_H + 10 / 60 + 10 / 60  # the first recall's last member swabbed
    second = first + 10 / 60
    d = drive_h(L, B)
    back1 = first + d + 5 / 60 + d
    assert back1 > second  # the vehicle is still out when the second recall is ready
    back2 = back1 + d + 5 / 60 + d
    np.testing.assert_allclose(recalls["delivered_h"], [back1, back2], atol=1e-6)
    np.testing.assert_allclose(recalls["reported_h"], [back1 + 1.0, back2 + 1.0], atol=1e-6)
    trips = run.trips
    late = trips[trips["depart_h"] > REPORTED_H]
    # the first goes as the 3 h pickup (every 2 h from 1 h), due and not yet made (nothing
    # was waiting then); the second for the recall alone, before the 5 h pickup
    assert late["reason"].tolist() == ["schedule", "recall"] and (late["tubes"] == 0).all()
    np.testing.assert_allclose(late["depart_h"], [first, back1], atol=1e-6)
    assert run.summary()["completion_h"] == pytest.approx(REPORTED_H, abs=1e-6)


def test_single_tubes_ride_with_screening_tubes_when_a_trip_comes_anyway(
    tiny: sim.Scenario,
) -> None:
    """Sampling over 14 h at A (one station, tubes sealed every ~3.5 h), all of Z1 cases:
    A's early tubes are recalled while A still samples, and its scheduled pickups (every
    2 h) carry the single tubes with A's screening tubes; lab: first runs them first."""
    long = tiny.with_changes(
        {
            "demand.arrivals.window": ["07:00", "21:00"],
            "round.horizon": "24h",
            "positives.zones": {"Z1": 1.0},
            "positives.followup": {
                **FOLLOWUP["positives.followup"],
                "base": "A",
                "carry": "next_trip",  # type: ignore[dict-item]
                "lab": "first",
                "lab_turnaround": None,
            },
        }
    )
    run = sim.run(long)
    recalls = run.table("recalls")
    assert len(recalls) == 4 and recalls["reported_h"].notna().all()
    trips = run.trips.set_index("back_h")
    by = trips.loc[recalls["delivered_h"]]
    last_swab = run.points.set_index("point").loc["A", "last_swab_h"]
    during = recalls["reswabbed_h"].to_numpy() < last_swab
    assert during.sum() >= 2  # recalled while A still samples
    # those went on the next scheduled trip after the re-swab (one with A's tubes)
    assert (by["reason"].to_numpy()[during] == "schedule").all()
    assert (by["tubes"].to_numpy()[during] > 0).any()
    assert (by["depart_h"].to_numpy() >= recalls["reswabbed_h"].to_numpy()).all()
    assert (recalls["reported_h"] > recalls["delivered_h"]).all()


def test_two_teams_work_at_once_and_a_base_elsewhere_adds_the_drive(tiny: sim.Scenario) -> None:
    two = FOLLOWUP | {
        "positives.followup": {**FOLLOWUP["positives.followup"], "teams": 2, "base": "A"}  # type: ignore[dict-item]
    }
    recalls = sim.run(tiny.with_changes(two)).table("recalls")
    arrive = REPORTED_H + 10 / 60 + drive_h(A, B)
    np.testing.assert_allclose(recalls["team_arrived_h"], [arrive, arrive], atol=1e-6)
    np.testing.assert_allclose(
        recalls["reported_h"], [arrive + 10 / 60 + drive_h(B, L) + 1.0] * 2, atol=1e-6
    )


def test_every_recalled_resident_has_one_result_or_is_unfinished(tiny: sim.Scenario) -> None:
    for horizon, finished in (("12h", True), ("5h", False)):
        changes = {**FOLLOWUP, "round.horizon": horizon, "round.targets": ["4h", "5h"]}
        s = sim.run(tiny.with_changes(changes))
        f = s.summary()["followup"]
        recalls = s.table("recalls")
        done = recalls["reported_h"].notna()
        assert f["finished"] is finished and f["recalls"] == 2
        assert (
            int(recalls.loc[done, "members"].sum()) + int(recalls.loc[~done, "members"].sum())
            == (s.summary()["positives"]["recalled_residents"])
        )
        assert (f["completion_h"] is None) is not finished
        assert not (recalls.filter(like="_h") > float(horizon[:-1]) + 1e-9).any().any()


def test_the_follow_up_moves_no_screening_time(tiny: sim.Scenario) -> None:
    counted = sim.run(tiny.with_changes({"positives.zones": {"Z2": 1.0}}))
    timed = sim.run(tiny.with_changes(FOLLOWUP))
    assert not counted.has_table("recalls") and "followup" not in counted.summary()
    for column in ("sealed_h", "delivered_h", "reported_h"):
        np.testing.assert_array_equal(counted.tubes[column], timed.tubes[column])


def test_over_replications_p_met_for_the_follow_up(tiny: sim.Scenario) -> None:
    many = sim.replicate(tiny.with_changes(FOLLOWUP), 3, workers=1)
    f = many.summary()["followup"]
    assert [t["p_met"] for t in f["targets"]] == [0.0, 1.0]  # fixed durations: every day alike
    assert many.kpis["followup_met_6h"].all()


def test_a_round_with_a_follow_up_cannot_be_saved_yet(tiny: sim.Scenario) -> None:
    morning = sim.Round(tiny.with_changes(FOLLOWUP))
    morning.run(3600)
    with pytest.raises(ValueError, match="cannot be saved yet"):
        morning.save()


def test_a_base_that_is_no_point(tiny: sim.Scenario) -> None:
    bad = {**FOLLOWUP, "positives.followup": {**FOLLOWUP["positives.followup"], "base": "Q"}}  # type: ignore[dict-item]
    with pytest.raises(sim.ScenarioError, match="no point 'Q'"):
        tiny.with_changes(bad)


def test_the_teams_table(tiny: sim.Scenario) -> None:
    one = sim.run(tiny.with_changes(FOLLOWUP)).table("teams")
    assert one[["team", "recalls", "residents"]].values.tolist() == [[0, 2, 20]]
    assert one["busy_h"].item() == pytest.approx(20 / 60) and one["utilisation"].item() == 1.0
    two = FOLLOWUP | {"positives.followup": {**FOLLOWUP["positives.followup"], "teams": 3}}  # type: ignore[dict-item]
    teams = sim.run(tiny.with_changes(two)).table("teams")
    assert teams["recalls"].tolist() == [1, 1, 0]  # the third team had nothing to do


def test_recalls_and_teams_are_saved_and_read_back(tiny: sim.Scenario, tmp_path: Path) -> None:
    run = sim.run(tiny.with_changes(FOLLOWUP))
    run.save(tmp_path / "run")
    back = sim.results.read_run(tmp_path / "run")
    for name in ("recalls", "teams"):
        pd.testing.assert_frame_equal(back[name], run.table(name), check_exact=True)
    assert back["summary"]["followup_completion_h"] == run.summary()["followup_completion_h"]


FIRST = {
    "positives.zones": {"Z2": 1.0},
    "positives.followup": {
        "notify_after": "10min", "teams": 1, "base": "B", "per_person": "1min", "lab": "first",
    },
}  # fmt: skip


def test_single_tubes_through_the_labs_own_stages(tiny: sim.Scenario) -> None:
    # the lab is idle after the screening plate (4.402 h): each recall's plate of ten single
    # tubes takes receiving 10 min, loading 30, extraction 30, PCR 75, report 10 (155 min)
    recalls = sim.run(tiny.with_changes(FIRST)).table("recalls")
    first_in = REPORTED_H + 20 / 60 + drive_h(B, L)
    second_in = first_in + 10 / 60
    np.testing.assert_allclose(recalls["delivered_h"], [first_in, second_in], atol=1e-6)
    first_done = first_in + 155 / 60
    # the second waits for the one staff member, loader, extractor and instrument in turn:
    # it starts PCR when the first's ends
    pcr_second = first_in + (10 + 30 + 30 + 75) / 60
    np.testing.assert_allclose(recalls["pcr_start_h"], [first_in + 70 / 60, pcr_second], atol=1e-6)
    np.testing.assert_allclose(recalls["reported_h"], [first_done, pcr_second + 85 / 60], atol=1e-6)


def test_single_tubes_go_ahead_of_screening_plates(tiny: sim.Scenario) -> None:
    # 30,000 residents, one PCR instrument: screening plates queue for PCR for hours while the
    # first recalls come back; no plate already waiting when a recall's plate arrived at PCR
    # may start after it
    zones = tiny.demand.zones.to_frame()
    zones["population"] = [20000, 10000]  # 3,000 tubes: 32 plates, 40 h of PCR on one instrument
    busy = tiny.with_changes(
        {**FIRST, "positives.zones": {"Z2": 0.002}, "demand.zones": ZoneTable.from_frame(zones),
         "points.*.stations": 20, "round.horizon": "96h", "round.targets": ["48h", "96h"]}
    )  # fmt: skip
    run = sim.run(busy)
    plates, recalls = run.plates, run.table("recalls").dropna(subset=["pcr_start_h"])
    assert len(recalls) and run.summary()["followup"]["finished"]
    jumped = 0
    for _, r in recalls.iterrows():
        waiting = plates[
            (plates["extraction_end_h"] < r["pcr_start_h"] - 1e-9)
            & (plates["pcr_start_h"] > r["pcr_start_h"] + 1e-9)
        ]
        jumped += len(waiting)  # screening plates that were ready first and went after it
    assert jumped > 0  # the single tubes did overtake screening work
    # and the overtaken work is later than with capacity kept apart
    kept = busy.with_changes(
        {"positives.followup": {**FIRST["positives.followup"], "lab": "kept",  # type: ignore[dict-item]
                                "lab_turnaround": "2h"}}
    )  # fmt: skip
    assert sim.run(kept).summary()["completion_h"] < run.summary()["completion_h"]


def test_one_row_per_single_tube(tiny: sim.Scenario) -> None:
    # sensitivity 0.5 for single tubes, false positives 1 in 2: the counts drawn per pooled
    # tube are spread over its members' rows
    noisy = tiny.with_changes(
        {**FOLLOWUP, "positives.zones": {"Z2": 0.5}, "positives.sensitivity": {1: 0.5},
         "positives.false_positive_rate": 0.5}
    )  # fmt: skip
    run = sim.run(noisy, seed=3)
    singles, recalls, tubes = run.table("single_tubes"), run.table("recalls"), run.tubes
    assert len(singles) == recalls["members"].sum() == run.summary()["positives"]["single_tubes"]
    by_tube = singles.groupby("tube")
    for tube, rows in by_tube:
        row = tubes.set_index("tube").loc[tube]
        assert rows["case"].sum() == row["cases"]
        assert rows["reads_positive"].sum() == row["confirmed"]
        assert rows["single"].tolist() == list(range(len(rows)))
