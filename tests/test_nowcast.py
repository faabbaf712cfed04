"""Stop and save, then forecast from the state (a nowcast): exact, seeded, by hand, bad input.

* Deterministic: ``--until`` then a nowcast of that state gives the uninterrupted run's
  times for every tube (and every replication, every duration being fixed).
* Seeded: the saved replication carries on exactly; the others draw their own futures,
  whose completion matches the full runs' within a stated tolerance.
* Counts filled in by hand: the fill rules (tubes gone are in the labs or reported,
  the line is served, every resident gets a result), and errors as good as a scenario's.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import sim
from sim.model.world import Round
from sim.nowcast import nowcast, read_state, stop_and_save
from sim.results.result import kpis_only, tabulate
from sim.scenario.overrides import apply_changes

from .conftest import SCENARIOS

TINY = SCENARIOS / "tiny.yaml"


@pytest.fixture(scope="module")
def tiny() -> sim.Scenario:
    return sim.load_scenario(TINY)


@pytest.fixture(scope="module")
def noisy(tiny: sim.Scenario) -> sim.Scenario:
    """The tiny round with random arrivals, swabs and travel, and more residents."""
    return apply_changes(
        tiny,
        {
            "demand.arrivals.spacing": "random",
            "demand.participation": 0.9,
            "point_defaults.service": {"dist": "lognormal", "mean": "30s", "sd": "15s"},
            "transport.travel.noise_cv": 0.3,
        },
    )


def _tubes(round_: Round) -> pd.DataFrame:
    return tabulate(round_.records()).tables["tubes"]


def test_until_then_nowcast_is_the_uninterrupted_round(tmp_path: Path) -> None:
    scenario = sim.load_scenario(SCENARIOS / "zhaoling.yaml").deterministic()
    whole = Round(scenario)
    whole.run()
    expected = _tubes(whole)
    summary = stop_and_save(scenario, "10:00", tmp_path / "run")
    assert summary["at"] == "10:00" and summary["tubes_in_labs"] > 0
    result = nowcast(scenario, tmp_path / "run", reps=2, workers=1)
    assert result.experiment["nowcast"]["exact"] is True
    pd.testing.assert_frame_equal(result.tubes, expected)
    # every duration fixed: replication 1 draws its own future, which is the same one
    assert result.kpis["completion_h"].tolist() == pytest.approx([expected["reported_h"].max()] * 2)


def test_the_saved_replication_carries_on_exactly_the_others_differ(
    noisy: sim.Scenario, tmp_path: Path
) -> None:
    round_ = Round(noisy, 0)
    round_.run()
    expected = _tubes(round_)
    stop_and_save(noisy, "07:40", tmp_path / "run")
    result = nowcast(noisy, tmp_path / "run", reps=6, workers=1)
    pd.testing.assert_frame_equal(result.tubes, expected)
    assert result.kpis["completion_h"].nunique() > 1


def test_nowcast_matches_the_full_runs(noisy: sim.Scenario, tmp_path: Path) -> None:
    """The state at 07:30 is the day's (rep 0); the future's spread is the round's own.

    Tolerance: the two means differ by at most three standard errors of the difference
    plus 2 minutes (the morning of replication 0 moves the mean a little).
    """
    reps = 40
    stop_and_save(noisy, "07:30", tmp_path / "run")
    forecast = nowcast(noisy, tmp_path / "run", reps=reps, workers=1).kpis["completion_h"]
    full = np.array(
        [kpis_only(_run(noisy, r)).kpis["completion_h"] for r in range(reps)], dtype=float
    )
    a, b = forecast.to_numpy(dtype=float), full
    se = np.sqrt(a.var(ddof=1) / reps + b.var(ddof=1) / reps)
    assert abs(a.mean() - b.mean()) <= 3 * se + 2 / 60
    # conditioned on the morning the future varies less than whole days, not more
    assert a.std(ddof=1) <= 1.5 * b.std(ddof=1) + 1e-9


def _run(scenario: sim.Scenario, r: int) -> object:
    round_ = Round(scenario, r)
    round_.run()
    return round_.records()


def _counts(folder: Path, points: str, labs: str = "", vehicles: str = "") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "state.yaml").write_text(
        "state:\n  scenario: Tiny hand-checkable round\n  at: '07:45'\n  note: by hand\n"
    )
    (folder / "points.csv").write_text(points)
    if labs:
        (folder / "labs.csv").write_text(labs)
    if vehicles:
        (folder / "vehicles.csv").write_text(vehicles)
    return folder


def test_counts_by_hand_follow_the_rules(tiny: sim.Scenario, tmp_path: Path) -> None:
    """At 07:45 (flat arrivals 07:00-08:00 of 40 and 20): A has swabbed 25, 3 in line,
    1 tube waiting of 2 sealed (so 5 in its open tube, 1 tube gone); B swabbed 12 with 1
    tube sealed and waiting and 2 open tubes of 1; the lab holds the gone tube, waiting
    for plating; nothing on the road."""
    folder = _counts(
        tmp_path / "counts",
        "point,swabbed,in_line,tubes_waiting,tubes_sealed\nA,25,3,1,2\nB,12,0,1,1\n",
        "lab,step,waiting\nL,loading,1\n",
    )
    found = read_state(folder, tiny)
    assert not found.exact and found.rules and found.note == "by hand"
    state = found.state
    c = state.collection
    assert c.started.tolist() == [25, 12] and (c.arrived - c.started).tolist() == [3, 0]
    # A: 2 sealed tubes share the 20 not in the open tube; its open tube holds 5
    assert np.diff(c.tube_bounds).tolist() == [3, 3]
    assert c.tube_size.tolist() == [10, 10, 5, 10, 1, 1]
    assert state.taken.tolist() == [1, 0]
    assert state.labs[0].n_waiting == 1
    result = nowcast(tiny, found, reps=1, workers=1)
    tubes = result.tubes
    # those to come are the scenario's own after 07:45 (even spacing: A's last quarter of
    # 40 is 10, B's of 20 is 5), besides the 28 and 12 counted: 38 + 17 = 55 residents.
    # A: its open 5 + 5 of the 13 seal a tube of 10, the last 8 one at closing; B: its two
    # open tubes of 1 take 3 and 2 of the 5 (the earlier free station first)
    assert tubes["residents"].tolist() == [10, 10, 10, 8, 10, 4, 3]
    assert tubes["reported_h"].notna().all()
    assert result.kpis["residents_swabbed"].iloc[0] == 55


def test_saved_files_read_back_as_counts(noisy: sim.Scenario, tmp_path: Path) -> None:
    """The readable files natsim writes are valid counts: without the exact detail the
    nowcast starts from them and every tube is reported."""
    stop_and_save(noisy, "07:50", tmp_path / "run")
    state = tmp_path / "run" / "state"
    (state / "points.csv").write_text((state / "points.csv").read_text() + "\n")
    with pytest.raises(sim.ScenarioError, match="changed since natsim saved"):
        read_state(tmp_path / "run", noisy)
    for name in ("exact.json", "exact.npz"):
        (state / name).unlink()
    shutil.copy(state / "points.csv", tmp_path / "points.csv")
    vehicles = (state / "vehicles.csv").read_text().splitlines()
    if len(vehicles) > 1 and vehicles[1].endswith(","):  # still visiting points: give arrives
        (state / "vehicles.csv").write_text(vehicles[0] + "\n")
    found = read_state(tmp_path / "run", noisy)
    assert not found.exact
    result = nowcast(noisy, found, reps=2, workers=1)
    assert result.tubes["reported_h"].notna().all()


@pytest.mark.parametrize(
    ("points", "labs", "message"),
    [
        ("point,swabed,in_line,tubes_waiting\n", "", r"points.csv:1: swabed: unknown column "
         r"\(did you mean 'swabbed'\?\)"),
        ("point,swabbed,in_line,tubes_waiting\nA,25,3,1\nC,1,0,0\n", "",
         r"points.csv:3: point: 'C' is not a point of the scenario"),
        ("point,swabbed,in_line,tubes_waiting\nA,25,3,x\nB,0,0,0\n", "",
         r"points.csv:2: tubes_waiting: 'x' is not a number"),
        ("point,swabbed,in_line,tubes_waiting\nA,25,3,1\n", "", r"points.csv: point: no row for B"),
        ("point,swabbed,in_line,tubes_waiting\nA,25,3,9\nB,0,0,0\n", "",
         r"points.csv:2: tubes_waiting: 9 waiting, but only 2 sealed"),
        ("point,swabbed,in_line,tubes_waiting\nA,25,3,1\nB,0,0,0\n", "lab,step,waiting\nL,pcrr,1\n",
         r"labs.csv:2: step: 'pcrr' is not a step of the scenario \(did you mean 'pcr'\?\)"),
        ("point,swabbed,in_line,tubes_waiting\nA,25,3,1\nB,0,0,0\n", "lab,step,waiting\nL,pcr,50\n",
         r"labs.csv:2: waiting: the labs hold more tubes than the points have sent"),
    ],
)  # fmt: skip
def test_a_typo_in_counts_is_named_like_a_scenario_error(
    tiny: sim.Scenario, tmp_path: Path, points: str, labs: str, message: str
) -> None:
    folder = _counts(tmp_path / "counts", points, labs)
    with pytest.raises(sim.ScenarioError, match=message):
        read_state(folder, tiny)


def test_state_yaml_is_checked(tiny: sim.Scenario, tmp_path: Path) -> None:
    folder = _counts(tmp_path / "c", "point,swabbed,in_line,tubes_waiting\nA,0,0,0\nB,0,0,0\n")
    (folder / "state.yaml").write_text(
        "state:\n  scenario: Tiny hand-checkable round\n  att: '9'\n"
    )
    with pytest.raises(sim.ScenarioError, match=r"state.yaml:3.*att"):
        read_state(folder, tiny)
    (folder / "state.yaml").write_text(
        "state:\n  scenario: Tiny hand-checkable round\n  at: '06:00'\n"
    )
    with pytest.raises(sim.ScenarioError, match=r"state.yaml:3: state.at: '06:00' is before"):
        read_state(folder, tiny)
    (folder / "state.yaml").write_text("state:\n  scenario: Another round\n  at: '08:00'\n")
    with pytest.raises(sim.ScenarioError, match=r"state.yaml:2: state.scenario"):
        read_state(folder, tiny)


def test_the_command_line(tmp_path: Path) -> None:
    from .test_cli import natsim

    done = natsim("run", str(TINY), "--until", "07:40", "-o", str(tmp_path / "run"))
    assert done.returncode == 0, done.stderr
    assert "stopped at 07:40" in done.stdout and "natsim nowcast" in done.stdout
    assert (tmp_path / "run" / "state" / "points.csv").is_file()
    done = natsim(
        "nowcast", str(TINY), "--state", str(tmp_path / "run"), "--reps", "3", "--workers", "1",
        "-o", str(tmp_path / "now"),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "forecast from 07:40" in done.stdout and "P(met)" in done.stdout
    assert (tmp_path / "now" / "state" / "exact.json").is_file()
    page = (tmp_path / "now" / "report.html").read_text()
    assert "Forecast from 07:40, from the saved state." in page
    assert sim.load_run(tmp_path / "now").summary()["experiment"]["nowcast"]["exact"]
    done = natsim("run", str(TINY), "--until", "25:00")
    assert done.returncode == 2 and "--until" in done.stderr
    done = natsim("nowcast", str(TINY), "--state", str(tmp_path))
    assert done.returncode == 2 and "no state.yaml" in done.stderr
