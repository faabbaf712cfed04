"""Sweeps: the full grid with common random numbers, a tidy table, a figure; bad paths exit 2."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

import sim
from sim import plots
from sim.experiment import sweep
from sim.experiment.sweep import grid
from sim.scenario import ScenarioError

from .experiment_rounds import LAB_BOUND, load
from .test_cli import natsim


@pytest.fixture(scope="module")
def lab_round(tmp_path_factory: pytest.TempPathFactory) -> sim.Scenario:
    return load(LAB_BOUND, tmp_path_factory.mktemp("lab"))


def test_completion_does_not_rise_with_lab_capacity_under_common_random_numbers(
    lab_round: sim.Scenario,
) -> None:
    capacities = [1, 2, 3, 4, 6]
    result = sweep(lab_round, {"labs.L.pcr.instruments": capacities}, reps=5, workers=2)
    long = result.replications
    assert len(long) == len(capacities) * 5
    wide = long.pivot(index="replication", columns="labs.L.pcr.instruments", values="completion_h")
    # replication by replication, not only on average
    assert (np.diff(wide[capacities].to_numpy(), axis=1) <= 1e-9).all()
    # the same replication saw the same residents in every variant: collection is identical
    for column in ("residents_swabbed", "last_swab_h", "last_delivery_h"):
        per_rep = long.pivot(index="replication", columns="labs.L.pcr.instruments", values=column)
        assert (per_rep.nunique(axis=1) == 1).all(), column
    table = result.table
    assert table["labs.L.pcr.instruments"].tolist() == capacities
    assert table["completion_h_mean"].is_monotonic_decreasing
    # the arithmetic of the round: about 2 h + ceil(6 plates / k) one-hour waves
    expected = [2 + int(np.ceil(6 / k)) for k in capacities]
    assert table["completion_h_mean"].round(0).tolist()[:-1] == expected[:-1]
    assert table["p_met_4.5h"].tolist() == [0.0, 0.0, 1.0, 1.0, 1.0]
    assert (table["p_met_4.5h_low"] <= table["p_met_4.5h"]).all()
    # paired differences from the first variant: exact here, since only the lab changed
    first = table["completion_h_mean"].iloc[0]
    np.testing.assert_allclose(table["completion_h_vs_first"], table["completion_h_mean"] - first)
    assert isinstance(plots.sweep(result), Figure)


def test_grid_of_two_paths_and_validation(lab_round: sim.Scenario) -> None:
    result = sweep(
        lab_round,
        ["labs.L.pcr.instruments=2,3", "point_defaults.stations=10,12"],
        reps=2,
        workers=1,
    )
    assert len(result.table) == 4
    assert result.table[["labs.L.pcr.instruments", "point_defaults.stations"]].values.tolist() == [
        [2, 10], [2, 12], [3, 10], [3, 12],
    ]  # fmt: skip
    assert isinstance(plots.sweep(result), Figure)
    with pytest.raises(ScenarioError, match=r"--vary.*labs\.nowhere"):
        sweep(lab_round, {"labs.nowhere.pcr.instruments": [1, 2]}, reps=1, workers=1)
    with pytest.raises(ScenarioError, match=r"--vary.*labs\.L\.pcr\.instruments"):
        sweep(lab_round, {"labs.L.pcr.instruments": [0, 2]}, reps=1, workers=1)


def test_cli_sweep_writes_the_table_and_figure(tmp_path: Path) -> None:
    path = tmp_path / "round.yaml"
    path.write_text(LAB_BOUND)
    out = tmp_path / "sweep"
    proc = natsim(
        "sweep", str(path), "--vary", "labs.L.pcr.instruments=2,3,6", "--reps", "3",
        "--workers", "2", "--out", str(out),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "P(met 4.5 h)" in proc.stdout and "labs.L.pcr.instruments" in proc.stdout
    table = pd.read_parquet(out / "sweep.parquet")
    assert table["labs.L.pcr.instruments"].tolist() == [2, 3, 6]
    assert {
        "completion_h_mean",
        "completion_h_ci_low",
        "completion_h_ci_high",
        "p_met_4.5h",
    } <= set(table.columns)
    assert len(pd.read_parquet(out / "replications.parquet")) == 9
    assert (out / "sweep.csv").exists() and (out / "summary.json").exists()
    assert (out / "figures" / "sweep.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cli_sweep_bad_path_exits_2_with_one_line(tmp_path: Path) -> None:
    path = tmp_path / "round.yaml"
    path.write_text(LAB_BOUND)
    vary = "labs.nowhere.pcr.instruments=1,2"
    proc = natsim("sweep", str(path), "--vary", vary, "--reps", "2", "--out", str(tmp_path / "x"))
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "--vary: labs.nowhere.pcr.instruments: no element 'nowhere' (ids: L)" in lines[0]
    assert "Traceback" not in proc.stderr and not (tmp_path / "x").exists()


@pytest.mark.parametrize(
    ("vary", "expect"),
    [
        ("labs.L.pcr.instrumnets=1,2", "(after labs.L.pcr.instrumnets=1)"),
        ("labs.L.pcr.instruments", "--vary: labs.L.pcr.instruments: expected PATH=V1,V2"),
        ("labs.L.pcr.instruments=1,,2", "empty value"),
        ("labs.L.pcr.instruments=1,1", "listed twice"),
    ],
)
def test_vary_mistakes_name_the_option_and_path(
    lab_round: sim.Scenario, vary: str, expect: str
) -> None:
    with pytest.raises(ScenarioError) as info:
        grid(lab_round, [vary])
    assert str(info.value).startswith("--vary") and expect in str(info.value)
