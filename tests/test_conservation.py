"""Conservation laws and invariants on a stochastic round, finished and unfinished.

Every arriving resident is swabbed once and sits in exactly one tube; every
tube gets exactly one result or is reported unfinished; timestamps never go
backwards along a tube; no resource ever serves more at once than it has.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import sim
from sim.results.result import TABLES
from sim.stages import DEFAULT

from .conftest import SCENARIOS

STATUS_ORDER = DEFAULT.status_order

STEPS = [
    "first_swab_h", "last_swab_h", "sealed_h", "picked_up_h", "delivered_h", "receive_start_h", "received_h",
    "plate_formed_h", "plated_h", "extraction_start_h", "extraction_end_h", "pcr_start_h", "pcr_end_h",
    "report_start_h", "reported_h",
]  # fmt: skip


def door_to_door(sc: sim.Scenario, tubes: str = "base") -> dict[str, object]:
    """Zhaoling's homebound (0.5 %, about 2,000) visited by 60 teams from eight bases."""
    ids = [p.id for p in sc.points]
    return {
        "share": 0.005, "household_size": 2, "households_per_hour": 6, "between": "5min",
        "teams": [{"base": ids[i], "teams": 8} for i in range(0, len(ids), len(ids) // 8)][:8],
        "households_per_trip": 12, "tubes": tubes,
    }  # fmt: skip


@pytest.fixture(
    scope="module",
    params=[
        "finished",
        "cut short",
        "lines past the horizon",
        "door-to-door and recalls",
        "door-to-door by courier",
    ],
)
def result(request: pytest.FixtureRequest) -> sim.Result:
    sc = sim.load_scenario(SCENARIOS / "zhaoling.yaml")
    if request.param == "door-to-door by courier":
        sc = sc.with_changes({"door_to_door": door_to_door(sc, "courier")})
    if request.param == "door-to-door and recalls":
        # homebound residents' tubes join their bases' sealed tubes and bags; positive tubes
        # are recalled, their single tubes go on the routes' next trips and through the
        # labs' own stages first
        sc = sc.with_changes(
            {
                "door_to_door": door_to_door(sc),
                "positives.prevalence": 0.002,
                "positives.followup": {
                    "teams": 6,
                    "per_person": "1min",
                    "lab": "first",
                    "carry": "next_trip",
                },
            }
        )
    if request.param == "cut short":
        # a 9 h horizon stops the round with tubes everywhere: at points, on the road, in labs
        sc = sc.with_changes({"round.horizon": "9h", "round.targets": ["8h", "9h"]})
    if request.param == "lines past the horizon":
        # one station a point: lines that would last beyond the 9 h horizon
        sc = sc.with_changes(
            {"points.*.stations": 1, "round.horizon": "9h", "round.targets": ["8h", "9h"]}
        )
    return sim.run(sc, detail="residents")


def test_nothing_happens_after_the_horizon(result: sim.Result) -> None:
    horizon = result.scenario.round.horizon / 3600
    for name in ("tubes", "plates", "points", "bags"):
        table = result.table(name)
        hours = table[[c for c in table.columns if c.endswith("_h")]].to_numpy(dtype=float)
        assert not (hours > horizon + 1e-9).any(), name
    stages = result.summary()["stages_h"]
    for stage, hours in stages.items():
        assert hours is None or hours <= horizon + 1e-9, stage
    if result.summary()["unfinished"].get("residents_not_swabbed"):
        assert stages["last_swab"] is None  # a stage not every resident got through has no end


def test_every_resident_is_swabbed_once_into_one_tube(result: sim.Result) -> None:
    residents = result.residents
    assert residents is not None
    tubes = result.tubes
    assert len(residents) == result.points["residents"].sum()
    # the residents swabbed at home are in the households' tubes, one tube a household
    at_home = result.parts[0].tables.get("door", pd.DataFrame(columns=["tube", "residents"]))
    assert at_home["tube"].is_unique
    in_tube = residents.groupby("tube").size().reindex(tubes["tube"], fill_value=0)
    in_tube = in_tube.add(at_home.set_index("tube")["residents"], fill_value=0).astype(int)
    assert in_tube.tolist() == tubes["residents"].tolist()
    home_tubes = tubes[tubes["tube"].isin(at_home["tube"])]
    assert (home_tubes["station"] == -1).all() and not (
        residents["tube"].isin(at_home["tube"])
    ).any()
    assert len(at_home) == 0 or result.summary()["residents_arrived"] == len(residents) + int(
        at_home["residents"].sum()
    )
    # a tube holds consecutive residents of one station of one point, at most k of them
    merged = residents.merge(tubes[["tube", "point", "station"]], on="tube", suffixes=("", "_tube"))
    assert (merged["point"].astype(str) == merged["point_tube"].astype(str)).all()
    assert (merged["station"] == merged["station_tube"]).all()
    assert tubes["residents"].between(1, 10).all()
    assert (residents["swab_start"] >= residents["arrival"]).all()


def test_every_tube_has_one_result_or_is_unfinished(result: sim.Result) -> None:
    tubes = result.tubes
    s = result.summary()
    reported = tubes["reported_h"].notna()
    assert ((tubes["status"] == "reported") == reported).all()
    assert set(tubes["status"].astype(str)) <= set(STATUS_ORDER)
    assert s["unfinished"]["tubes"] == int((~reported).sum())
    # residents without a result: exactly those in tubes without one
    assert s["unfinished"]["residents"] == int(tubes.loc[~reported, "residents"].sum())
    assert s["residents_arrived"] == int(tubes["residents"].sum())
    if s["finished"]:
        assert reported.all()
    else:
        assert s["completion_h"] is None and not reported.all()
        assert sum(w["tubes"] for w in s["unfinished"]["where"]) <= s["unfinished"]["tubes"]
    # one plate per tube, plate sizes add up
    plated = tubes[tubes["plate"] >= 0]
    assert plated.groupby("plate").size().tolist() == result.plates["tubes"].tolist()


def test_timestamps_never_go_backwards(result: sim.Result) -> None:
    values = result.tubes[STEPS].to_numpy()
    for a, b in zip(range(len(STEPS) - 1), range(1, len(STEPS)), strict=True):
        both = ~np.isnan(values[:, a]) & ~np.isnan(values[:, b])
        assert (values[both, b] >= values[both, a] - 1e-12).all(), (STEPS[a], STEPS[b])
        # a step reached means the step before it was reached
        assert not (np.isnan(values[:, a]) & ~np.isnan(values[:, b])).any(), (STEPS[a], STEPS[b])


def _max_concurrent(starts: np.ndarray, ends: np.ndarray) -> int:
    keep = ~np.isnan(starts)
    ends = np.where(np.isnan(ends[keep]), np.inf, ends[keep])
    events = np.concatenate(
        [np.c_[ends, -np.ones(ends.size)], np.c_[starts[keep], np.ones(ends.size)]]
    )
    events = events[
        np.lexsort((events[:, 1], events[:, 0]))
    ]  # ends before starts at the same instant
    return int(np.cumsum(events[:, 1]).max()) if events.size else 0


def test_no_resource_exceeds_its_capacity(result: sim.Result) -> None:
    sc = result.scenario
    plates, bags = result.plates, result.bags
    for lab in sc.labs:
        p = plates[plates["lab"] == lab.id]
        runs = p.drop_duplicates(["extraction_instrument", "extraction_start_h"])
        b = bags[bags["lab"] == lab.id]
        checks = [
            ("receiving", b["receive_start_h"], b["received_h"], lab.receiving.staff),
            ("loading", p["formed_h"], p["loaded_h"], lab.loading.staff),
            (
                "extraction",
                runs["extraction_start_h"],
                runs["extraction_end_h"],
                lab.extraction.instruments,
            ),
            ("pcr", p["pcr_start_h"], p["pcr_end_h"], lab.pcr.instruments),
            ("report", p["report_start_h"], p["reported_h"], lab.report.staff),
        ]
        for stage, starts, ends, capacity in checks:
            peak = _max_concurrent(starts.to_numpy(dtype=float), ends.to_numpy(dtype=float))
            assert peak <= capacity, (lab.id, stage, peak, capacity)
        # one plate at a time per PCR instrument
        for _, runs_on in p.groupby("pcr_instrument"):
            assert (
                _max_concurrent(runs_on["pcr_start_h"].to_numpy(), runs_on["pcr_end_h"].to_numpy())
                <= 1
            )
        assert (runs.groupby("extraction_start_h").size() <= lab.extraction.instruments).all()
    # vehicles drive one trip at a time (door-to-door couriers are not limited)
    fleet = result.trips[result.trips["reason"] != "door-to-door"]
    for _, trips in fleet.groupby("vehicle"):
        assert _max_concurrent(trips["depart_h"].to_numpy(), trips["back_h"].to_numpy()) <= 1
    # stations swab one resident at a time
    residents = result.residents
    assert residents is not None
    for _, group in residents.groupby(["point", "station"], observed=True):
        assert _max_concurrent(group["swab_start"].to_numpy(), group["swab_end"].to_numpy()) <= 1


def test_plates_hold_at_most_the_sample_wells(result: sim.Result) -> None:
    per_plate = {lab.id: lab.pcr.samples_per_plate for lab in result.scenario.labs}
    limit = result.plates["lab"].astype(str).map(per_plate)
    assert (result.plates["tubes"] <= limit).all()
    assert (result.plates["tubes"] >= 1).all()


def test_tables_are_tidy(result: sim.Result) -> None:
    for name in (n for n in TABLES if result.has_table(n)):
        frame = result.table(name)
        assert isinstance(frame, pd.DataFrame) and "replication" in frame.columns, name
        assert frame.columns.is_unique, name


def test_a_round_cut_during_sampling_says_where_everyone_is() -> None:
    """Horizon at 10:00, in the middle of sampling: tubes still filling are 'at point'."""
    sc = sim.load_scenario(SCENARIOS / "zhaoling.yaml").with_changes(
        {"round.horizon": "3h", "round.targets": ["2h", "3h"], "points.*.stations": 2}
    )
    result = sim.run(sc)
    tubes, s = result.tubes, result.summary()
    filling = tubes["first_swab_h"].notna() & tubes["sealed_h"].isna()
    assert filling.any() and (tubes.loc[filling, "status"] == "at point").all()
    assert (tubes.loc[tubes["first_swab_h"].isna(), "status"] == "not swabbed").all()
    assert s["unfinished"]["residents_not_swabbed"] > 0
    assert s["unfinished"]["residents"] == s["residents_arrived"] - int(
        tubes.loc[tubes["reported_h"].notna(), "residents"].sum()
    )


def test_each_tube_names_the_vehicle_of_its_trip(result: sim.Result) -> None:
    picked = result.tubes[result.tubes["trip"] >= 0]
    trips = result.trips.set_index("trip")["vehicle"]
    assert (
        picked["vehicle"].astype(str).to_numpy() == trips.loc[picked["trip"]].astype(str).to_numpy()
    ).all()
    assert result.tubes.loc[result.tubes["trip"] < 0, "vehicle"].isna().all()


def test_every_recalled_resident_has_one_single_tube_result(result: sim.Result) -> None:
    """Each recall (a positive pooled tube) ends reported, its members' single tubes
    delivered once, or is listed unfinished; none is lost on the way."""
    recalls = result.parts[0].tables.get("recalls")
    if recalls is None:
        return
    s = result.summary()
    f = s["followup"]
    assert f["recalls"] == s["positives"]["positive_tubes"] and f["recalls_started"] == len(recalls)
    assert recalls["tube"].is_unique
    done = recalls["reported_h"].notna()
    assert int(done.sum()) == f["recalls_done"]
    assert (recalls.loc[done, "delivered_h"] >= recalls.loc[done, "reswabbed_h"]).all()
    assert (recalls.loc[done, "reported_h"] > recalls.loc[done, "delivered_h"]).all()
    assert f["finished"] == (f["recalls_done"] == f["recalls"])
