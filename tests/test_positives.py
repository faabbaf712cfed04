"""Positives: what pooled tubes read and what testing members one a tube finds.

Dorfman's expectation over replications, households lowering the tests a resident,
the prevalence moving no time (common random numbers), reads by hand, and input.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import sim
from sim.model.positives import dorfman_tests, point_prevalence
from sim.scenario.zones import ZoneTable
from sim.stats import LEVEL, mean_interval

from .conftest import SCENARIOS

TIMES = ["first_swab_h", "sealed_h", "delivered_h", "pcr_end_h", "reported_h"]


@pytest.fixture(scope="module")
def town() -> sim.Scenario:
    """Tiny's round with 3,000 residents at two points (10-in-1 tubes), every test perfect."""
    tiny = sim.load_scenario(SCENARIOS / "tiny.yaml")
    zones = tiny.demand.zones.to_frame()
    zones["population"] = [2000, 1000]
    return tiny.with_changes(
        {"demand.zones": ZoneTable.from_frame(zones), "points.*.stations": 6, "round.horizon": "36h",
         "positives.prevalence": 0.02}
    )  # fmt: skip


def test_tests_per_resident_follow_dorfman(town: sim.Scenario) -> None:
    many = sim.run(town, seed=4, replications=40)  # keeps every replication's tubes
    observed = many.kpis["tests_per_resident"].to_numpy()
    mean, _, low, high = mean_interval(observed, LEVEL)
    assert low is not None and high is not None
    # Dorfman for the tubes each replication actually made (a last tube may hold fewer)
    expected = np.mean(
        [
            dorfman_tests(
                p.tables["tubes"]["residents"].to_numpy(), np.full(len(p.tables["tubes"]), 10), 0.02
            )
            for p in many.parts
        ]
    )
    assert low <= expected <= high, (mean, expected, low, high)
    # and the textbook figure for full tubes of 10: 1/k + 1 - (1 - p)^k
    assert mean == pytest.approx(1 / 10 + 1 - 0.98**10, rel=0.05)
    assert many.summary()["positives"]["tests_per_resident"]["ci"][0] == pytest.approx(low)


def test_households_lower_the_tests_a_resident(town: sim.Scenario) -> None:
    clustered = town.with_changes(
        {"positives.prevalence": 0.01,
         "positives.households": {"sizes": [3, 4], "secondary_rate": 1.0}}
    )  # fmt: skip
    together = sim.replicate(clustered, 20, seed=2, workers=1).kpis
    share = float((together["cases"] / 3000 / 1.0).mean())  # participation 1: 3,000 came
    independent = sim.replicate(
        town.with_changes({"positives.prevalence": share}), 20, seed=2, workers=1
    ).kpis
    # about as many cases, in fewer tubes: fewer tests
    assert independent["cases"].mean() == pytest.approx(together["cases"].mean(), rel=0.2)
    assert together["tests_per_resident"].mean() < independent["tests_per_resident"].mean() - 0.02


def test_the_prevalence_moves_no_time(town: sim.Scenario) -> None:
    none = sim.run(town.with_changes({"positives.prevalence": 0.0}), seed=9)
    some = sim.run(town, seed=9)
    assert "cases" not in none.tubes.columns and "positives" not in none.summary()
    for column in TIMES:
        np.testing.assert_array_equal(none.tubes[column], some.tubes[column])
    assert none.summary()["completion_h"] == some.summary()["completion_h"]
    assert some.summary()["positives"]["cases"] == int(some.tubes["cases"].sum()) > 0


def test_reads_by_hand(town: sim.Scenario) -> None:
    perfect = sim.run(town, seed=1)
    t, s = perfect.tubes, perfect.summary()["positives"]
    assert (t["reads_positive"] == (t["cases"] > 0)).all()  # perfect: exactly the tubes with a case
    assert s["recalled_residents"] == int(t.loc[t["reads_positive"], "residents"].sum())
    assert s["confirmed_positives"] == s["cases"] and s["missed_positives"] == 0
    assert s["tests"] == len(t) + s["single_tubes"]
    # a pooled test that never sees a case: every case missed, no one recalled
    blind = sim.run(town.with_changes({"positives.sensitivity": {10: 0.0}}), seed=1)
    b = blind.summary()["positives"]
    assert b["positive_tubes"] == 0 and b["missed_positives"] == b["cases"] > 0
    # every tube false-positive, every single tube too: everyone recalled and "confirmed"
    alarm = sim.run(town.with_changes({"positives.false_positive_rate": 1.0}), seed=1)
    a = alarm.summary()["positives"]
    assert a["positive_tubes"] == len(alarm.tubes)
    assert (
        a["recalled_residents"] == a["confirmed_positives"] == alarm.summary()["residents_arrived"]
    )
    assert a["false_positives"] == a["confirmed_positives"] - a["cases"]
    # single tubes (pool 1): a positive tube is its member's result, no recall
    single = sim.run(town.with_changes({"points.*.pool": 1}), seed=1).summary()["positives"]
    assert single["recalled_residents"] == 0 and single["tests_per_resident"] == 1.0


def test_a_zone_prevalence_mixes_into_its_point() -> None:
    tiny = sim.load_scenario(SCENARIOS / "tiny.yaml")  # Z1: 40 people at A, Z2: 20 at B
    mixed = tiny.with_changes({"positives.prevalence": 0.1, "positives.zones": {"Z1": 0.4}})
    assert point_prevalence(mixed).tolist() == pytest.approx([0.4, 0.1])
    with pytest.raises(sim.ScenarioError, match="no zone 'Z9'"):
        tiny.with_changes({"positives.zones": {"Z9": 0.4}})


def test_positives_from_the_command_line(tmp_path: Path) -> None:
    from .test_cli import natsim

    proc = natsim(
        "run", str(SCENARIOS / "tiny.yaml"), "--set", "positives.prevalence=0.5",
        "--set", "positives.sensitivity={10: 0.9}", "--no-figures", "--no-levers",
        "--out", str(tmp_path / "run"),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "tubes read positive ->" in proc.stdout and "tests a resident" in proc.stdout
    run = sim.results.read_run(tmp_path / "run")
    assert run["summary"]["positives"]["cases"] > 0
    bad = natsim("validate", str(SCENARIOS / "tiny.yaml"), "--set", "positives.prevalence=2")
    assert bad.returncode == 2 and "positives.prevalence" in bad.stderr


def test_sensitivity_by_pool_size_from_a_file(tmp_path: Path) -> None:
    text = (SCENARIOS / "tiny.yaml").read_text() + (
        "positives: {prevalence: 0.1, sensitivity: {1: 0.99, 10: 0.9}}\n"
    )
    path = tmp_path / "s.yaml"
    path.write_text(text)
    loaded = sim.load_scenario(path)
    assert loaded.positives.sensitivity_of(10) == 0.9 and loaded.positives.sensitivity_of(1) == 0.99
    run = sim.run(loaded)
    run.save(tmp_path / "run")
    again = sim.load_scenario(tmp_path / "run" / "scenario.yaml")  # the run folder's own copy
    assert again.positives == loaded.positives
