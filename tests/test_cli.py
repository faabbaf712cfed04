"""The command line as a planner uses it: the installed ``natsim`` script, real files."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from sim.results import read_run

from .conftest import HAND_ROUND, SCENARIOS

NATSIM = str(Path(sys.executable).parent / "natsim")


def natsim(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}
    return subprocess.run(
        [NATSIM, *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=300
    )


def test_run_writes_the_run_folder(tmp_path: Path) -> None:
    out = tmp_path / "run"
    proc = natsim(
        "run", str(SCENARIOS / "tiny.yaml"), "--out", str(out), "--seed", "3", "--no-figures"
    )
    assert proc.returncode == 0, proc.stderr
    assert "Tiny hand-checkable round" in proc.stdout and "last report" in proc.stdout
    summary = json.loads((out / "summary.json").read_text())
    for key in (
        "scenario",
        "seed",
        "replications",
        "residents_swabbed",
        "tubes",
        "completion_h",
        "stages_h",
        "targets",
    ):
        assert key in summary, key
    assert summary["seed"] == 3 and summary["replications"] == 1
    assert set(summary["stages_h"]) == {"last_swab", "last_delivery", "last_pcr", "last_report"}
    assert all({"hours", "met", "share_reported"} <= set(t) for t in summary["targets"])
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["seed"] == 3 and "--seed 3" in manifest["command"] and manifest["natsim"]
    run = read_run(out)
    assert isinstance(run["tubes"], pd.DataFrame) and len(run["tubes"]) == summary["tubes"]
    assert (out / "scenario.yaml").exists() and (out / "zones.parquet").exists()


def test_resolved_scenario_reloads_to_the_same_round(tmp_path: Path) -> None:
    out = tmp_path / "run"
    assert (
        natsim(
            "run",
            str(SCENARIOS / "tiny.yaml"),
            "--out",
            str(out),
            "--no-figures",
            "--set",
            "labs.L.pcr.instruments=2",
        ).returncode
        == 0
    )
    import sim

    reloaded = sim.load_scenario(out / "scenario.yaml")
    assert reloaded.lab("L").pcr.instruments == 2
    original = sim.load_scenario(SCENARIOS / "tiny.yaml", ["labs.L.pcr.instruments=2"])
    assert reloaded.model_dump(exclude={"demand": {"zones"}}) == original.model_dump(
        exclude={"demand": {"zones"}}
    )
    pd.testing.assert_frame_equal(
        reloaded.demand.zones.to_frame(), original.demand.zones.to_frame()
    )


def test_run_with_figures_and_report(tmp_path: Path) -> None:
    out = tmp_path / "run"
    proc = natsim("run", str(SCENARIOS / "tiny.yaml"), "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    assert (out / "report.html").stat().st_size > 0
    pngs = list((out / "figures").glob("*.png"))
    assert pngs and all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in pngs)


def test_validate(tmp_path: Path) -> None:
    proc = natsim("validate", str(SCENARIOS / "zhaoling.yaml"))
    assert proc.returncode == 0 and "valid" in proc.stdout and "400,875 people" in proc.stdout


@pytest.mark.parametrize(
    ("old", "new", "expect"),
    [
        ("  stations: 1", "  stations: three", "point_defaults.stations"),
        ("  stations: 1", "  stations: -2", "point_defaults.stations"),
        ("  stations: 1", "  statoins: 1", "point_defaults.statoins"),
        (
            "    - {id: Z1, population: 20, point: A}",
            "    - {id: Z1, population: 20, point: B}",
            "demand.zones[0].point",
        ),
        ("  service: 30s", "  service: 30 secs", "point_defaults.service.value"),
    ],
)
def test_bad_input_exits_2_with_one_line(
    write_scenario: Callable[..., Path], old: str, new: str, expect: str
) -> None:
    text = HAND_ROUND.replace(old, new)
    path = write_scenario(text)
    line = text.splitlines().index(new) + 1
    for command in ("validate", "run"):
        proc = (
            natsim(command, str(path), "--no-figures")
            if command == "run"
            else natsim(command, str(path))
        )
        assert proc.returncode == 2, proc.stdout + proc.stderr
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1, proc.stderr
        assert re.search(rf"{re.escape(str(path))}:{line}:\d+: {re.escape(expect)}:", lines[0])
        assert "Traceback" not in proc.stderr


def test_bad_set_and_bad_option_exit_2() -> None:
    proc = natsim(
        "run", str(SCENARIOS / "tiny.yaml"), "--set", "labs.L.pcr.instruments=none", "--no-figures"
    )
    assert (
        proc.returncode == 2
        and "labs.L.pcr.instruments" in proc.stderr
        and "Traceback" not in proc.stderr
    )
    proc = natsim("run", str(SCENARIOS / "tiny.yaml"), "--detail", "everything")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr


def test_version() -> None:
    from sim.version import __version__

    proc = natsim("--version")
    assert proc.returncode == 0 and proc.stdout.strip() == f"natsim {__version__}"
