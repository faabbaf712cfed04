"""Replications: same numbers on every executor, statistics in summary(), precision, resume."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

import sim
from sim.experiment import ProcessExecutor, SerialExecutor, replicate
from sim.experiment.store import ReplicationStore, fingerprint
from sim.results.result import Result

from .experiment_rounds import LAB_BOUND, ONE_TUBE, load


def _kpis(result: Result) -> list[dict[str, object]]:
    return [{**p.kpis} for p in result.parts]


@pytest.fixture(scope="module")
def lab_round(tmp_path_factory: pytest.TempPathFactory) -> sim.Scenario:
    return load(LAB_BOUND, tmp_path_factory.mktemp("lab"))


def test_serial_and_processes_give_identical_replications(lab_round: sim.Scenario) -> None:
    serial = replicate(lab_round, 6, executor=SerialExecutor())
    with ProcessExecutor(2) as pool:
        parallel = replicate(lab_round, 6, executor=pool)
    assert _kpis(serial) == _kpis(parallel)  # every float, exactly
    assert serial.summary() == parallel.summary()
    # replication r is replication r: the same as a single run of it, and as a longer run's r
    single = sim.run(lab_round, seed=lab_round.round.seed).parts[0].kpis
    assert serial.parts[0].kpis["completion_h"] == single["completion_h"]
    longer = replicate(lab_round, 8, workers=1, keep_tables=False)
    assert _kpis(longer)[:6] == _kpis(serial)


def test_summary_reports_intervals_quantiles_and_p_met(lab_round: sim.Scenario) -> None:
    result = replicate(lab_round.with_changes({"labs.L.pcr.instruments": 2}), 5, workers=1)
    s = result.summary()
    for key in ("scenario", "seed", "replications", "residents_swabbed", "tubes", "completion_h"):
        assert key in s
    assert s["replications"] == 5 and s["interval_level"] == 0.95
    c = s["completion"]
    assert set(c) >= {"n", "mean", "sd", "ci", "half_width", "p50", "p90", "p95", "min", "max"}
    assert c["mean"] == s["completion_h"] and c["ci"][0] <= c["mean"] <= c["ci"][1]
    assert c["min"] <= c["p50"] <= c["p90"] <= c["p95"] <= c["max"]
    assert set(s["stages"]) == {"last_swab", "last_delivery", "last_pcr", "last_report"}
    by_hours = {t["hours"]: t for t in s["targets"]}
    # two instruments: three waves of PCR, the last result at about 5.0 h
    assert by_hours[4.5]["p_met"] == 0.0 and by_hours[6.0]["p_met"] == 1.0
    assert by_hours[6.0]["p_met_ci"] == [pytest.approx(5 / (5 + 1.959963985**2)), 1.0]
    assert by_hours[4.5]["replications_met"] == 0
    assert 0 < by_hours[4.5]["share_reported"] < 1
    assert result.kpis.shape[0] == 5 and len(result.tubes) > 0  # replication 0 keeps its tables
    assert set(result.tubes["replication"]) == {0}
    stats = result.statistics()
    assert stats.loc["completion_h", "mean"] == pytest.approx(c["mean"])
    assert stats.loc["met_6h", "ci_low"] == pytest.approx(by_hours[6.0]["p_met_ci"][0])


def test_ci_of_the_mean_covers_the_true_value_about_95_percent(tmp_path: Path) -> None:
    """One tube whose PCR run is normal (75 min, sd 10 min): completion = constant + run.

    For normal data the t interval is exact, so it must cover the true mean
    completion — the deterministic twin's (run = 75 min) — 95 % of the time. 100
    experiments of 3 replications each (replications 0-2, 3-5, ...): the t
    interval from each experiment's summary covers the truth in about 95 % of
    them. Between 88 % and 100 % leaves a correct interval a chance below 0.5 %
    of failing, while an interval with the normal quantile instead of t (1.96
    instead of 4.30 at n = 3) would cover only about 75 %.
    """
    scenario = load(ONE_TUBE, tmp_path)
    truth = sim.run(scenario.deterministic()).summary()["completion_h"]
    n, experiments = 3, 100
    with ProcessExecutor(2) as pool:
        result = replicate(scenario, n * experiments, executor=pool, keep_tables=False)
    completion = result.kpis["completion_h"]
    # completion is the constant plus the run: its spread is that of the run
    assert completion.std() == pytest.approx(10 / 60, rel=0.15)
    covered = 0
    for e in range(experiments):
        parts = result.parts[e * n : (e + 1) * n]
        low, high = Result(scenario, result.seed, parts).summary()["completion"]["ci"]
        covered += low <= truth <= high
    print(f"coverage {covered} of {experiments}")
    assert 0.88 <= covered / experiments <= 1.0, covered


def test_precision_adds_replications_until_the_interval_is_narrow(
    lab_round: sim.Scenario, tmp_path: Path
) -> None:
    noisy = load(ONE_TUBE, tmp_path)  # completion sd 10 min
    result = replicate(noisy, 4, precision="6min", workers=1, keep_tables=False)
    e = result.summary()["experiment"]
    assert e["reached"] and e["half_width_h"] <= 0.1
    assert 4 < result.replications < 40
    assert result.summary()["completion"]["half_width"] == e["half_width_h"]
    # the same request in hours gives the same replications
    assert replicate(noisy, 4, precision=0.1, workers=1, keep_tables=False).replications == (
        result.replications
    )
    capped = replicate(noisy, 3, precision="1s", max_reps=6, workers=1, keep_tables=False)
    assert capped.replications == 6 and not capped.summary()["experiment"]["reached"]


def test_store_round_trip_and_resume_give_the_same_summary(
    lab_round: sim.Scenario, tmp_path: Path
) -> None:
    whole = replicate(lab_round, 6, workers=1, folder=tmp_path / "whole")
    # an interrupted run: only replications 1, 2 and 4 were stored
    part = tmp_path / "part"
    key = fingerprint(lab_round, lab_round.round.seed)
    store = ReplicationStore(part)
    for r in (1, 2, 4):
        store.save(key, whole.parts[r])
    resumed = replicate(lab_round, 6, workers=1, folder=part, resume=True)
    assert resumed.summary() == whole.summary()
    assert _kpis(resumed) == _kpis(whole)
    assert sorted(p.name for p in (part / "replications" / key).glob("0*.json")) == [
        f"{r:06d}.json" for r in range(6)
    ]
    about = json.loads((part / "replications" / key / "variant.json").read_text())
    assert about["seed"] == lab_round.round.seed
    # a changed scenario has another key: nothing of it is reused
    other = lab_round.with_changes({"labs.L.pcr.instruments": 3})
    assert fingerprint(other, lab_round.round.seed) != key
    assert fingerprint(lab_round, lab_round.round.seed + 1) != key


def test_saved_run_folder_has_the_kpi_table_and_first_replication_tables(
    lab_round: sim.Scenario, tmp_path: Path
) -> None:
    result = replicate(lab_round, 3, workers=1)
    result.save(tmp_path / "run", manifest={"executor": "serial"})
    run = sim.results.read_run(tmp_path / "run")
    assert isinstance(run["kpis"], pd.DataFrame) and len(run["kpis"]) == 3
    assert set(run["tubes"]["replication"]) == {0}
    assert run["summary"]["replications"] == 3 and run["manifest"]["executor"] == "serial"
    kpi_only = replicate(lab_round, 2, workers=1, keep_tables=False)
    assert not kpi_only.has_table("tubes") and kpi_only.has_table("kpis")
    with pytest.raises(KeyError, match="tubes"):
        kpi_only.table("tubes")
