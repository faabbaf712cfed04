"""``natsim runs`` / ``sim.runs``: every run folder, a row each, nothing hidden."""

from __future__ import annotations

from pathlib import Path

import pytest

import sim
from sim.results.io import RunFolderError

from .conftest import SCENARIOS
from .test_cli import natsim


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("runs")
    tiny = str(SCENARIOS / "tiny.yaml")
    natsim("run", tiny, "-o", str(root / "plain"), "--no-figures")
    natsim("run", tiny, "-o", str(root / "slow-pcr"), "--no-figures",
           "--set", "labs.L.pcr.run=150min")  # fmt: skip
    natsim("run", tiny, "-o", str(root / "reps"), "--no-figures", "--reps", "3", "--seed", "4")
    (root / ".half.partial-99").mkdir()  # a run being written, or killed while writing
    return root


def test_each_run_folder_is_a_row_with_its_verdicts_and_changes(runs: Path) -> None:
    index = sim.runs(runs, sort="folder")
    assert index["folder"].tolist() == [".half.partial-99", "plain", "reps", "slow-pcr"]
    rows = index.set_index("folder")
    assert rows.loc[".half.partial-99", "status"].startswith("a run folder being written")
    plain, slow, reps = rows.loc["plain"], rows.loc["slow-pcr"], rows.loc["reps"]
    assert plain["status"] == "complete" and plain["replications"] == 1
    assert plain["completion_h"] == pytest.approx(4.402239, abs=1e-6)  # tiny, hand-computed
    assert (plain["met_4h"], plain["met_6h"]) == (0.0, 1.0)
    assert slow["changes"] == "--set labs.L.pcr.run=150min" and slow["completion_h"] > 5.0
    assert (
        reps["replications"] == 3 and reps["seed"] == 4 and reps["changes"] == "--reps 3 --seed 4"
    )
    fastest = sim.runs(runs, sort="completion")["folder"].tolist()
    assert fastest.index("plain") < fastest.index("slow-pcr")


def test_the_cli_lists_them_and_refuses_what_is_not_there(runs: Path, tmp_path: Path) -> None:
    out = natsim("runs", str(runs)).stdout
    assert "slow-pcr" in out and "--set labs.L.pcr.run=150min" in out and "missed" in out
    assert "being written" in out
    with pytest.raises(RunFolderError, match="no such folder"):
        sim.runs(tmp_path / "nowhere")
    with pytest.raises(ValueError, match="sort by one of"):
        sim.runs(runs, sort="colour")
