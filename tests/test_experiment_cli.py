"""``natsim run --reps``, interruption and ``--resume``, and ``natsim compare``, as a planner uses them."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import pandas as pd
import pytest

import sim
from sim.experiment import compare, replicate

from .experiment_rounds import LAB_BOUND, load
from .test_cli import NATSIM, natsim


@pytest.fixture
def round_file(tmp_path: Path) -> Path:
    path = tmp_path / "round.yaml"
    path.write_text(LAB_BOUND)
    return path


def test_run_with_replications_writes_statistics_tables_and_figures(
    round_file: Path, tmp_path: Path
) -> None:
    out = tmp_path / "run"
    proc = natsim("run", str(round_file), "--reps", "5", "--workers", "2", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    assert "P(met)" in proc.stdout and "5 replications" in proc.stdout
    assert proc.stderr == ""  # no progress bar when stderr is not a terminal
    summary = json.loads((out / "summary.json").read_text())
    assert summary["replications"] == 5 and summary["seed"] == 1
    assert summary["completion_h"] == summary["completion"]["mean"]
    assert {t["hours"] for t in summary["targets"]} == {4.5, 6.0}
    assert all({"p_met", "p_met_ci", "share_reported"} <= set(t) for t in summary["targets"])
    kpis = pd.read_parquet(out / "tables" / "kpis.parquet")
    assert kpis["replication"].tolist() == [0, 1, 2, 3, 4]
    assert set(pd.read_parquet(out / "tables" / "tubes.parquet")["replication"]) == {0}
    assert (out / "report.html").exists()
    assert (out / "figures" / "completion_distribution.png").read_bytes()[:4] == b"\x89PNG"
    assert len(list((out / "replications").glob("*/0*.json"))) == 5
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["executor"] == "2 local processes" and manifest["replications"] == 5


def test_killed_run_resumes_to_the_same_summary(round_file: Path, tmp_path: Path) -> None:
    """SIGKILL mid-way, then ``--resume``: same summary.json as a run never interrupted."""
    reps = "60"
    killed = tmp_path / "killed"
    args = [NATSIM, "run", str(round_file), "--reps", reps, "--workers", "2", "--no-figures"]
    proc = subprocess.Popen(
        [*args, "--out", str(killed)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 120
        while len(list(killed.glob("replications/*/0*.json"))) < 8:
            assert proc.poll() is None, "the run ended before it could be interrupted"
            assert time.monotonic() < deadline
            time.sleep(0.02)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        # orphaned workers notice, remove the run's temporary context folder and exit
        pattern = f"natsim-context-{proc.pid}-*"
        deadline = time.monotonic() + 20
        while list(Path(tempfile.gettempdir()).glob(pattern)) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not list(Path(tempfile.gettempdir()).glob(pattern))
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # the workers, if still there
    stored = {p: p.stat().st_mtime_ns for p in killed.glob("replications/*/0*.json")}
    assert 8 <= len(stored) < 60
    assert not (killed / "summary.json").exists()
    assert not list(killed.glob("replications/*/.*"))  # no half-written file left behind

    resumed = natsim(*args[1:], "--out", str(killed), "--resume")
    assert resumed.returncode == 0, resumed.stderr
    whole = natsim(*args[1:], "--out", str(tmp_path / "whole"))
    assert whole.returncode == 0, whole.stderr
    a = json.loads((killed / "summary.json").read_text())
    b = json.loads((tmp_path / "whole" / "summary.json").read_text())
    assert a == b
    # the replications finished before the kill were reused, not run again
    assert all(p.stat().st_mtime_ns == t for p, t in stored.items())
    assert len(list(killed.glob("replications/*/0*.json"))) == 60


def test_resume_needs_the_folder_of_the_same_scenario(round_file: Path, tmp_path: Path) -> None:
    proc = natsim("run", str(round_file), "--reps", "3", "--resume", "--no-figures")
    assert proc.returncode == 2 and "--resume needs --out" in proc.stderr
    replicate(sim.load_scenario(round_file), 2, workers=1, folder=tmp_path / "a")
    other = natsim(
        "run", str(round_file), "--reps", "2", "--seed", "9", "--resume", "--no-figures",
        "--out", str(tmp_path / "a"),
    )  # fmt: skip
    assert other.returncode == 2 and "another scenario, seed" in other.stderr
    assert len(other.stderr.strip().splitlines()) == 1


def test_compare_pairs_replications_and_names_the_better_run(tmp_path: Path) -> None:
    scenario = load(LAB_BOUND, tmp_path)
    two = replicate(scenario.with_changes({"labs.L.pcr.instruments": 2}), 6, workers=1)
    three = replicate(scenario.with_changes({"labs.L.pcr.instruments": 3}), 6, workers=1)
    two.save(tmp_path / "two")
    three.save(tmp_path / "three")
    table = compare(tmp_path / "two", tmp_path / "three").set_index("kpi")
    assert table["paired"].all() and (table["n"] == 6).all()
    # only the lab changed: every replication finishes exactly one PCR wave earlier
    assert table.loc["completion_h", "difference"] == pytest.approx(-1.0, abs=0.01)
    assert table.loc["completion_h", "better"] == "B"
    assert table.loc["last_swab_h", "difference"] == 0.0
    assert table.loc["last_swab_h", "better"] == "neither"
    assert table.loc["met_4.5h", "difference"] == 1.0 and table.loc["met_4.5h", "better"] == "B"
    assert table.loc["met_6h", "better"] == "neither"
    # different seeds: independent samples, still a clear winner at 4.5 h
    other_seed = replicate(
        scenario.with_changes({"labs.L.pcr.instruments": 3}), 6, seed=5, workers=1
    )
    unpaired = compare(two, other_seed).set_index("kpi")
    assert not unpaired["paired"].any() and unpaired.loc["met_4.5h", "better"] == "B"

    proc = natsim("compare", str(tmp_path / "two"), str(tmp_path / "three"))
    assert proc.returncode == 0, proc.stderr
    assert "paired" in proc.stdout and "4.5 h: B is better" in proc.stdout
    assert "6 h: no clear difference" in proc.stdout
    bad = natsim("compare", str(tmp_path / "two"), str(tmp_path / "nothing"))
    assert bad.returncode == 2 and "not a run folder" in bad.stderr


def test_api_is_exported() -> None:
    for name in ("replicate", "sweep", "plan", "compare"):
        assert callable(getattr(sim, name))
