"""The levers: what a step more and a step fewer of each resource does, and the bottleneck
named from them.

The claims are checked against what the round actually does: a round built so
that one resource limits it names that resource, for each in turn; the levers
table equals a sweep of the same resources at the same seeds; the two Zhaoling
cases of the issue name sampling and PCR.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import sim
from sim.cli import app
from sim.experiment.levers import _spread, find_levers, levers, step_of
from sim.experiment.sweep import sweep
from sim.model.world import Round
from sim.results.result import kpis_only, outcome_only

from .conftest import SCENARIOS

# Everything ample: 4,700 residents at 20 stations (no line), pickups every half hour,
# 20 servers at every lab stage. One resource made slow limits the round.
AMPLE = """\
round:
  name: Limit round
  start: "07:00"
  targets: [10h, 12h]
  horizon: 40h
demand:
  participation: 1.0
  arrivals: {window: ["07:00", "08:00"], profile: flat, spacing: even}
  zones:
    - {id: Z1, population: 4700, point: A}
point_defaults:
  stations: 20
  service: 10s
  pool: 10
  tube_change: 10s
  tubes_per_bag: 50
points:
  - {id: A}
transport:
  pickups: {every: 30min, first: "07:30", final_sweep: true}
  travel:
    noise_cv: 0
    matrix: {L: {A: 10min}, A: {L: 10min}}
  handover: 5min
  routes:
    - {id: R, points: [A], lab: L}
labs:
  - id: L
    receiving: {staff: 20, per_bag: 5min}
    loading: {staff: 20, per_plate: 10min}
    extraction: {instruments: 20, run: 10min}
    pcr: {instruments: 20, run: 30min}
    report: {staff: 20, per_plate: 5min}
    partial_plate_after: 20min
"""

# one slow resource each: (what to change in AMPLE, the resource the levers must name)
SLOW = {
    "sampling": ({"points.A.stations": 4, "points.A.service": "30s"}, "sampling"),
    "receiving": ({"labs.L.receiving.staff": 1, "labs.L.receiving.per_bag": "60min"}, "receiving"),
    "loading": ({"labs.L.loading.staff": 1, "labs.L.loading.per_plate": "2h"}, "loading"),
    "extraction": ({"labs.L.extraction.instruments": 1, "labs.L.extraction.run": "2h"}, "extraction"),
    "pcr": ({"labs.L.pcr.instruments": 1, "labs.L.pcr.run": "2h"}, "pcr"),
    "report": ({"labs.L.report.staff": 1, "labs.L.report.per_plate": "2h"}, "report"),
    # the only vehicle (based at the lab) drives 90 min each way: it reaches A at 09:00,
    # 15 min before the last residents; their tubes wait for its return at 12:05, while a
    # second vehicle, out at 08:00, would take them at 09:30
    "transport": (
        {
            "demand.arrivals.window": ["07:00", "09:15"],
            "transport.travel.matrix": {"L": {"A": "90min"}, "A": {"L": "90min"}},
        },
        "transport",
    ),
}  # fmt: skip


@pytest.fixture(scope="module")
def ample(tmp_path_factory: pytest.TempPathFactory) -> sim.Scenario:
    path = tmp_path_factory.mktemp("levers") / "ample.yaml"
    path.write_text(AMPLE)
    return sim.load_scenario(path)


@pytest.mark.parametrize("case", list(SLOW))
def test_a_round_limited_by_one_resource_names_it(ample: sim.Scenario, case: str) -> None:
    changes, resource = SLOW[case]
    scenario = ample.with_changes(changes)
    measured = levers(scenario, reps=1, workers=1)
    best = measured.limiting()
    assert best is not None, measured.table[["action", "completion_h_delta"]]
    assert best["resource"] == resource
    assert -best["completion_h_delta"] >= 0.5  # a real saving, not a tie broken by order
    # every other step more buys (almost) nothing: the resource was the only limit
    others = measured.table[
        (measured.table["direction"] == "more") & (measured.table["resource"] != resource)
    ]
    assert (-others["completion_h_delta"] < 0.5 * -best["completion_h_delta"]).all()


def test_an_ample_round_has_no_bottleneck(ample: sim.Scenario) -> None:
    measured = levers(ample, reps=1, workers=1)
    assert measured.limiting() is None
    result = sim.run(ample)
    result.attach_levers(measured.table, measured.summary())
    b = result.summary()["bottleneck"]
    assert b["resource"] is None and "no step more of any resource saves" in b["why"]


def test_steps_are_one_unit_or_ten_percent() -> None:
    assert [step_of(n) for n in (1, 9, 10, 11, 46, 824)] == [1, 1, 1, 2, 5, 83]


def test_spread_gives_units_to_the_most_loaded_and_takes_from_the_least() -> None:
    load = np.array([100.0, 50.0, 10.0, 40.0])
    units = np.array([1, 1, 1, 2])
    # +2: 100/1 is highest -> 100/2 = 50 ties 50/1, the first wins -> 100/3, 50/1 next
    assert _spread(load, units, 2, add=True).tolist() == [3, 1, 1, 2]
    assert _spread(load, units, 3, add=True).tolist() == [3, 2, 1, 2]
    # -1: only the point with two stations can give one
    assert _spread(load, units, 1, add=False).tolist() == [1, 1, 1, 1]
    assert _spread(load, units, 5, add=False).tolist() == [1, 1, 1, 1]  # no more to take


def test_the_levers_of_zhaoling(zhaoling: sim.Scenario) -> None:
    found = {lever.name: lever for lever in find_levers(zhaoling)}
    stations = found["stations"]
    assert stations.base == 824 and stations.step == 83 and len(stations.more) == 83
    after = {p.id: p.stations for p in zhaoling.points}
    after.update({path.split(".")[1]: value for path, value in stations.more.items()})
    assert sum(after.values()) == 824 + 83
    assert found["vehicles"].fewer is None and "one vehicle" in found["vehicles"].note
    pcr = found["labs.henan-mobile-1.pcr.instruments"]
    assert (pcr.base, pcr.step, dict(pcr.more), dict(pcr.fewer or {})) == (
        46, 5, {pcr.name: 51}, {pcr.name: 41},
    )  # fmt: skip
    assert found["labs.henan-mobile-1.opens"].more == {"labs.henan-mobile-1.opens": "09:00"}
    assert "labs.luohe-cdc.opens" not in found  # opens with the round: nothing earlier
    # one lever per stage and lab, from the stage registry
    assert sum(name.startswith("labs.") and name.count(".") == 3 for name in found) == 3 * 5


@pytest.fixture(scope="module")
def zhaoling() -> sim.Scenario:
    return sim.load_scenario(SCENARIOS / "zhaoling.yaml")


def test_the_levers_table_agrees_with_a_sweep_at_the_same_seeds(zhaoling: sim.Scenario) -> None:
    path = "labs.henan-mobile-1.pcr.instruments"
    measured = levers(zhaoling, reps=2, only=[path], workers=1)
    swept = sweep(zhaoling, {path: [46, 51, 41]}, reps=2, workers=1).table
    for direction, value in (("more", 51), ("fewer", 41)):
        row = measured.table.set_index("direction").loc[direction]
        other = swept.set_index(path).loc[value]
        assert row["completion_h_delta"] == pytest.approx(other["completion_h_vs_first"], abs=1e-9)
        assert row["completion_h_delta_low"] == pytest.approx(
            other["completion_h_vs_first_low"], abs=1e-9
        )
        assert row["completion_h"] == pytest.approx(other["completion_h_mean"], abs=1e-9)
        for target in ("14h", "16h"):
            assert row[f"p_met_{target}"] == pytest.approx(other[f"p_met_{target}"])


def test_zhaoling_base_names_pcr_and_two_stations_names_sampling(zhaoling: sim.Scenario) -> None:
    base = levers(zhaoling, reps=1, workers=1).limiting()
    assert base is not None
    assert (base["resource"], base["where"]) == ("pcr", "henan-mobile-1")
    short = zhaoling.with_changes({"points.*.stations": 2})
    best = levers(short, reps=1, seed=7, workers=1).limiting()
    assert best is not None and best["resource"] == "sampling"
    assert -best["completion_h_delta"] > 2.0


def test_a_variant_on_the_scenarios_collection_equals_a_fresh_run(zhaoling: sim.Scenario) -> None:
    variant = zhaoling.with_changes({"labs.henan-mobile-1.pcr.instruments": 51})
    base = Round(zhaoling, 3)
    shared = Round(variant, 3, sampled=base.sampled)
    fresh = Round(variant, 3)
    for run in (shared, fresh):
        run.run()
    a, b = shared.records(), fresh.records()
    for name in ("tube_sealed", "tube_delivered", "tube_plate", "tube_lab"):
        np.testing.assert_array_equal(getattr(a.ledger, name), getattr(b.ledger, name))
    assert outcome_only(a) == outcome_only(b)
    kpis = kpis_only(b).kpis
    assert outcome_only(b)["completion_h"] == kpis["completion_h"]
    assert [outcome_only(b)[f"share_reported_{h}"] for h in ("14h", "16h")] == [
        t["share_reported"] for t in kpis["targets"]
    ]


def test_costs_rank_the_levers(ample: sim.Scenario) -> None:
    scenario = ample.with_changes(SLOW["pcr"][0])
    measured = levers(scenario, reps=1, workers=1, costs={"pcr.instruments": 4.0, "stations": 0.1})
    row = measured.table.set_index(["lever", "direction"]).loc[("labs.L.pcr.instruments", "more")]
    assert row["cost"] == 4.0 and row["saves_h_per_cost"] == pytest.approx(
        -row["completion_h_delta"] / 4.0
    )
    assert np.isnan(
        measured.table.set_index(["lever", "direction"]).loc[("vehicles", "more"), "cost"]
    )


def test_run_levers_from_the_command_line(tmp_path: Path) -> None:
    scenario = tmp_path / "pcr.yaml"
    scenario.write_text(
        AMPLE.replace("pcr: {instruments: 20, run: 30min}", "pcr: {instruments: 1, run: 2h}")
    )
    out = tmp_path / "run"
    runner = CliRunner()
    done = runner.invoke(
        app,
        ["run", str(scenario), "--out", str(out), "--levers", "--no-figures", "--workers", "1",
         "--cost", "pcr.instruments=3"],
    )  # fmt: skip
    assert done.exit_code == 0, done.output
    text = " ".join(done.output.split())
    assert "bottleneck: PCR at L — 1 more instruments (1 -> 2) save" in text
    assert "+1 PCR instruments at L (1 -> 2)" in text
    summary = json.loads((out / "summary.json").read_text())
    assert summary["bottleneck"]["resource"] == "pcr"
    assert summary["levers"]["rows"] and summary["levers"]["top"][0]["lever"] == (
        "labs.L.pcr.instruments"
    )
    assert (out / "levers.csv").exists() and (out / "tables" / "levers.parquet").exists()
    bad = runner.invoke(app, ["run", str(scenario), "--levers", "--cost", "gold=1"])
    assert bad.exit_code == 2 and "--cost" in bad.output and "gold" in bad.output


def test_levers_are_skipped_by_default_when_they_would_take_long(tmp_path: Path) -> None:
    from sim.cli import LEVER_BUDGET_S
    from sim.experiment.levers import estimate_seconds

    result = sim.run(SCENARIOS / "zhaoling.yaml")
    found = find_levers(result.scenario)
    one = estimate_seconds(result, found, 1, 1)
    assert estimate_seconds(result, found, 10, 1) == pytest.approx(10 * one, rel=1e-9)
    assert estimate_seconds(result, found, 100, 2) > LEVER_BUDGET_S
    result.skip_levers("not measured by default: about 60 s")
    s = result.summary()
    assert s["levers"] == {"measured": False, "why": "not measured by default: about 60 s"}
    assert "bottleneck" not in s or s.get("bottleneck") is None


def test_a_second_measurement_in_one_process_does_not_reuse_the_first(
    zhaoling: sim.Scenario,
) -> None:
    path = "labs.henan-mobile-1.pcr.instruments"
    levers(zhaoling, reps=1, seed=1, only=[path], workers=1)
    second = levers(zhaoling, reps=1, seed=2, only=[path], workers=1)
    fresh = sim.run(zhaoling.with_changes({path: 51}), seed=2).summary()["completion_h"]
    row = second.table.set_index("direction").loc["more"]
    assert row["completion_h"] == pytest.approx(fresh, abs=1e-12)


def test_a_lab_whose_id_has_a_dot(ample: sim.Scenario, tmp_path: Path) -> None:
    path = tmp_path / "dot.yaml"
    path.write_text(
        AMPLE.replace("lab: L}", "lab: L.1}")
        .replace("- id: L\n", "- id: L.1\n")
        .replace("{L: {A: 10min}, A: {L: 10min}}", "{L.1: {A: 10min}, A: {L.1: 10min}}")
    )
    scenario = sim.load_scenario(path)
    names = [lever.name for lever in find_levers(scenario)]
    assert "labs.0.pcr.instruments" in names
    assert not levers(scenario, reps=1, workers=1, only=["labs.0.pcr.instruments"]).table.empty


def test_levers_of_a_round_the_horizon_cuts_are_not_judged(ample: sim.Scenario) -> None:
    cut = ample.with_changes(
        {**SLOW["pcr"][0], "round.horizon": "2h", "round.targets": ["1h", "2h"]}
    )
    measured = levers(cut, reps=1, workers=1)
    assert (measured.table["censored"] == 1).all()  # one replication: counted once
    assert measured.unjudged() is not None
    result = sim.run(cut)
    result.attach_levers(measured.table, measured.summary())
    assert result.summary()["bottleneck"]["why"].startswith("not judged: every run ended")
