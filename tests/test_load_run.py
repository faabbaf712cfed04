"""A run folder reopened with ``sim.load_run`` is the Result it was written from."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

import sim
from sim import plots
from sim.cli import app
from sim.results.result import TABLES

from .conftest import SCENARIOS


def _same(back: sim.Result, run: sim.Result) -> None:
    assert back.replications == run.replications and back.seed == run.seed
    # the same settings and zones (a zone table compares by identity, so compare its rows)
    assert back.scenario.model_dump(exclude={"demand": {"zones"}}) == run.scenario.model_dump(
        exclude={"demand": {"zones"}}
    )
    pd.testing.assert_frame_equal(
        back.scenario.demand.zones.to_frame(), run.scenario.demand.zones.to_frame()
    )
    for name in TABLES:
        assert back.has_table(name) == run.has_table(name), name
        if run.has_table(name):
            pd.testing.assert_frame_equal(back.table(name), run.table(name), check_exact=True)
    assert back.summary() == json.loads(json.dumps(run.summary(), allow_nan=True))


def test_a_cli_run_folder_reopens_as_the_result_of_sim_run(tmp_path: Path) -> None:
    out = tmp_path / "run"
    got = CliRunner().invoke(
        app, ["run", str(SCENARIOS / "tiny.yaml"), "--seed", "3", "-o", str(out), "--no-levers"]
    )
    assert got.exit_code == 0, got.output
    back = sim.load_run(out)
    assert isinstance(back, sim.Result) and back.folder == out
    assert back.manifest is not None and back.manifest["seed"] == 3
    _same(back, sim.run(sim.load_scenario(SCENARIOS / "tiny.yaml"), seed=3))
    # every figure function takes it
    for name, draw in plots.FIGURES.items():
        assert draw(back) is not None, name


def test_replications_and_levers_come_back(tmp_path: Path) -> None:
    scenario = sim.load_scenario(SCENARIOS / "tiny.yaml")
    result = sim.replicate(scenario, reps=3, seed=2)
    result.skip_levers("not measured in this test")
    result.save(tmp_path / "reps")
    back = sim.load_run(tmp_path / "reps")
    _same(back, result)
    assert back.summary()["levers"] == {"measured": False, "why": "not measured in this test"}
    assert len(back.kpis) == 3


def test_a_folder_without_parts_is_refused_in_one_line(tmp_path: Path) -> None:
    scenario = sim.load_scenario(SCENARIOS / "tiny.yaml")
    folder = sim.run(scenario).save(tmp_path / "old")
    (folder / "parts.json").unlink()
    with pytest.raises(sim.results.RunFolderError, match=r"no parts\.json"):
        sim.load_run(folder)
    assert sim.results.read_run(folder)["summary"]["seed"] == 1


def test_a_result_writes_its_page_anywhere(tmp_path: Path) -> None:
    result = sim.run(sim.load_scenario(SCENARIOS / "tiny.yaml"))
    page = result.report(tmp_path / "page")
    assert page == tmp_path / "page" / "report.html" and page.is_file()
    assert "data:image/png;base64," in page.read_text()
    assert sorted(p.stem for p in (tmp_path / "page" / "figures").glob("*.png")) == sorted(
        plots.FIGURES
    )
