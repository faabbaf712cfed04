"""Every run folder is complete or absent: a used ``--out`` is refused unless ``--force``,
a write that fails leaves nothing behind, a killed run leaves no folder that ``load_run``
or ``compare`` would take for a finished one, and ``--resume`` survives damaged files."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import random
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import sim
from sim.cli import app
from sim.experiment import replicate
from sim.results.io import FolderTaken, RunFolderError

from .conftest import SCENARIOS
from .experiment_rounds import LAB_BOUND, load
from .test_cli import NATSIM, natsim

TINY = str(SCENARIOS / "tiny.yaml")


def cli(*args: str) -> tuple[int, str]:
    """``natsim ARGS`` in this process: exit code and what it printed (stdout and stderr)."""
    done = CliRunner().invoke(app, list(args), env={"COLUMNS": "200", "NO_COLOR": "1"})
    return done.exit_code, done.output


def one_error_line(output: str) -> str:
    """The single ``error:`` line a refused command prints, checked to be all it printed."""
    lines = output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), output
    assert "Traceback" not in output
    return lines[0]


def siblings(folder: Path) -> list[str]:
    """What is left beside ``folder`` under a temporary name."""
    return sorted(p.name for p in folder.parent.glob(f".{folder.name}.*"))


def complete(folder: Path, report: bool = True) -> bool:
    """Whether ``folder`` holds every file ``natsim run`` writes."""
    names = ["manifest.json", "summary.json", "scenario.yaml", "zones.parquet"]
    names += ["tables/tubes.parquet", "tables/kpis.parquet", "tables/timeline.parquet"]
    if report:
        names += ["report.html", "figures/cumulative.png"]
    return all((folder / name).is_file() for name in names)


@pytest.fixture(scope="module")
def tiny_result() -> sim.Result:
    return sim.run(sim.load_scenario(SCENARIOS / "tiny.yaml"))


@pytest.fixture
def lab_round(tmp_path: Path) -> sim.Scenario:
    return load(LAB_BOUND, tmp_path)


def test_second_run_is_refused_and_force_replaces_it_whole(tmp_path: Path) -> None:
    out = tmp_path / "run"
    code, text = cli("run", TINY, "--out", str(out), "--no-levers")
    assert code == 0, text
    assert complete(out)
    before = (out / "summary.json").read_bytes(), (out / "manifest.json").stat().st_mtime_ns

    code, text = cli("run", TINY, "--out", str(out), "--no-levers", "--seed", "5")
    assert code == 2
    line = one_error_line(text)
    assert str(out) in line and "--force" in line
    assert before == (
        (out / "summary.json").read_bytes(),
        (out / "manifest.json").stat().st_mtime_ns,
    )

    # --force: the new run, and nothing of the old one (no old report beside the new summary)
    code, text = cli(
        "run", TINY, "--out", str(out), "--no-levers", "--seed", "5", "--no-figures", "--force"
    )
    assert code == 0, text
    assert json.loads((out / "summary.json").read_text())["seed"] == 5
    assert complete(out, report=False)
    assert not (out / "report.html").exists() and not (out / "figures").exists()
    assert siblings(out) == []


def test_second_run_is_refused_by_sweep_and_plan_too(
    tmp_path: Path, lab_round: sim.Scenario
) -> None:
    out = tmp_path / "used"
    out.mkdir()
    (out / "manifest.json").write_text("{}")
    round_file = str(tmp_path / "round.yaml")
    for command in (
        ["sweep", round_file, "--vary", "labs.L.pcr.instruments=1,2", "--reps", "2"],
        ["plan", round_file, "--target", "6h", "--resource", "labs.L.pcr.instruments=1..3"],
        ["run", round_file, "--reps", "3"],
    ):
        code, text = cli(*command, "--out", str(out), "--workers", "1")
        assert code == 2, text
        assert "--force replaces it" in one_error_line(text)
    assert sorted(p.name for p in out.iterdir()) == ["manifest.json"]


def test_python_api_refuses_a_used_folder_unless_replace(
    tiny_result: sim.Result, tmp_path: Path
) -> None:
    out = tiny_result.save(tmp_path / "run", report=True)
    assert complete(out) and siblings(out) == []
    with pytest.raises(FolderTaken, match="replace=True"):
        tiny_result.save(out)
    assert complete(out)
    tiny_result.save(out, replace=True)
    assert complete(out, report=False) and not (out / "report.html").exists()
    assert sim.results.read_run(out)["summary"] == json.loads(json.dumps(tiny_result.summary()))


def test_out_that_is_a_file_is_refused(tmp_path: Path) -> None:
    file = tmp_path / "results"
    file.write_text("mine")
    for out in (file, file / "run"):
        code, text = cli("run", TINY, "--out", str(out), "--no-figures", "--force")
        assert code == 2
        assert "is a file, not a folder" in one_error_line(text)
    assert file.read_text() == "mine"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results"]


def test_out_in_a_read_only_folder_is_refused(tmp_path: Path) -> None:
    parent = tmp_path / "locked"
    parent.mkdir()
    parent.chmod(0o555)
    try:
        if os.access(parent, os.W_OK):
            pytest.skip("permissions are not enforced for this user (root)")
        code, text = proc_text(natsim("run", TINY, "--out", str(parent / "run")))
        assert code == 2
        line = one_error_line(text)
        assert str(parent / "run") in line and "cannot write" in line
        assert list(parent.iterdir()) == []
    finally:
        parent.chmod(0o755)


def test_out_on_a_read_only_file_system_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same as a read-only folder for a user permissions do not stop: the folder cannot
    be made when the run is written."""
    real = Path.mkdir

    def mkdir(self: Path, *args: Any, **kwargs: Any) -> None:
        if self.is_relative_to(tmp_path):
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(self))
        real(self, *args, **kwargs)

    monkeypatch.setattr(Path, "mkdir", mkdir)
    out = tmp_path / "run"
    code, text = cli("run", TINY, "--out", str(out), "--no-levers")
    assert code == 2
    line = one_error_line(text)
    assert str(out) in line and "Read-only file system" in line
    assert list(tmp_path.iterdir()) == []


def proc_text(proc: subprocess.CompletedProcess[str]) -> tuple[int, str]:
    return proc.returncode, proc.stdout + proc.stderr


def failing_after(calls: int, error: int) -> Callable[..., None]:
    """A writer that works ``calls`` times, then fails as a full disk (or ``error``) does."""
    count = {"n": 0}

    def write(real: Callable[..., None], *args: Any) -> None:
        count["n"] += 1
        if count["n"] > calls:
            raise OSError(error, os.strerror(error))
        real(*args)

    return write


def test_full_disk_leaves_no_folder_behind(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import sim.results.result as result_module

    real, fail = result_module.write_parquet, failing_after(3, errno.ENOSPC)
    monkeypatch.setattr(result_module, "write_parquet", lambda *a: fail(real, *a))
    out = tmp_path / "run"
    code, text = cli("run", TINY, "--out", str(out), "--no-levers")
    assert code == 2
    line = one_error_line(text)
    assert str(out) in line and "No space left on device" in line
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # no run, no temporary folder


def test_full_disk_during_replications_keeps_only_what_resume_needs(
    tmp_path: Path, lab_round: sim.Scenario, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sim.experiment.store as store_module

    # variant.json, then replications 0 and 1; the third replication finds the disk full
    real, fail = store_module.atomic_write, failing_after(3, errno.ENOSPC)
    monkeypatch.setattr(store_module, "atomic_write", lambda *a: fail(real, *a))
    out = tmp_path / "run"
    args = ["run", str(tmp_path / "round.yaml"), "--reps", "5", "--workers", "1", "--no-levers"]
    code, text = cli(*args, "--out", str(out))
    assert code == 2
    line = one_error_line(text)
    assert "No space left on device" in line and "2 finished replications are kept" in line
    assert [p.name for p in out.iterdir()] == ["replications"]
    with pytest.raises(RunFolderError, match="--resume"):
        sim.load_run(out)
    code, text = cli(*args, "--out", str(out))  # neither --resume nor --force
    assert code == 2
    assert "interrupted run: --resume completes it, --force replaces it" in one_error_line(text)
    monkeypatch.undo()  # room again: --resume completes the run
    code, text = cli(*args, "--out", str(out), "--resume", "--no-figures")
    assert code == 0, text
    assert sim.results.read_run(out)["summary"]["replications"] == 5
    code, text = cli(*args, "--out", str(out), "--resume")  # into its own finished folder
    assert code == 0, text
    assert complete(out) and siblings(out) == []


def test_load_run_and_compare_refuse_an_incomplete_or_corrupt_folder(
    tiny_result: sim.Result, tmp_path: Path
) -> None:
    good = tiny_result.save(tmp_path / "good")
    cases: dict[str, tuple[Path, str]] = {}

    partial = tmp_path / ".good.partial-4242"  # as a killed run leaves it
    shutil.copytree(good, partial)
    cases["partial"] = (partial, "temporary name")
    for name in ("manifest.json", "summary.json"):
        folder = tmp_path / f"no-{name}"
        shutil.copytree(good, folder)
        (folder / name).unlink()
        cases[name] = (folder, f"not a complete run folder (no {name})")
    interrupted = tmp_path / "interrupted"
    (interrupted / "replications" / "0123456789abcdef").mkdir(parents=True)
    cases["interrupted"] = (interrupted, "--resume")
    corrupt = tmp_path / "corrupt-summary"
    shutil.copytree(good, corrupt)
    text = (corrupt / "summary.json").read_text()
    (corrupt / "summary.json").write_text(text[: len(text) // 2])
    cases["summary"] = (corrupt, f"{corrupt / 'summary.json'}: corrupt JSON")
    table = tmp_path / "corrupt-table"
    shutil.copytree(good, table)
    (table / "tables" / "kpis.parquet").write_bytes(b"PAR1 not really")
    cases["table"] = (table, f"{table / 'tables' / 'kpis.parquet'}: not a readable Parquet")

    assert sim.results.read_run(good)["summary"]["seed"] == 1
    for what, (folder, message) in cases.items():
        with pytest.raises(RunFolderError, match=re.escape(message)) as caught:
            sim.load_run(folder)
        assert "\n" not in str(caught.value), what
        code, text = cli("compare", str(good), str(folder))
        assert code == 2, (what, text)
        assert message in one_error_line(text), what


def test_sigkill_at_any_moment_leaves_the_folder_complete_or_absent(tmp_path: Path) -> None:
    """Kill ``natsim run`` at random moments (start-up, simulating, levers, tables,
    figures, the rename): whatever is under the name asked for is a complete run."""
    rng = random.Random()
    for attempt in range(5):
        out = tmp_path / f"run{attempt}"
        delay = rng.uniform(0.5, 6.5)
        proc = subprocess.Popen(
            [NATSIM, "run", TINY, "--out", str(out)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            time.sleep(delay)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
        if out.exists():
            sim.load_run(out)
            assert complete(out), f"killed after {delay:.2f} s: {sorted(os.listdir(out))}"
        else:
            with pytest.raises(RunFolderError, match="no such folder"):
                sim.load_run(out)
        for left in siblings(out):  # a temporary folder is never taken for a run
            with pytest.raises(RunFolderError, match="temporary name"):
                sim.load_run(out.parent / left)
    # the next run into a folder cleans up what killed runs left beside it
    out = tmp_path / "run0"
    code, text = proc_text(natsim("run", TINY, "--out", str(out), "--force", "--no-figures"))
    assert code == 0, text
    assert complete(out, report=False) and siblings(out) == []


def test_resume_runs_a_corrupt_stored_replication_again(
    tmp_path: Path, lab_round: sim.Scenario
) -> None:
    out = tmp_path / "run"
    args = ["run", str(tmp_path / "round.yaml"), "--reps", "4", "--workers", "1"]
    args += ["--no-figures", "--no-levers", "--out", str(out)]
    first = natsim(*args)
    assert first.returncode == 0, first.stderr
    summary = json.loads((out / "summary.json").read_text())
    (damaged,) = out.glob("replications/*/000002.json")
    text = damaged.read_text()
    damaged.write_text(text[: len(text) // 3])
    kept = {p: p.stat().st_mtime_ns for p in damaged.parent.glob("0*.json") if p != damaged}

    resumed = natsim(*args, "--resume")  # into its own folder: allowed
    assert resumed.returncode == 0, resumed.stderr
    warning = [line for line in resumed.stderr.splitlines() if line.startswith("warning:")]
    assert len(warning) == 1 and str(damaged) in warning[0] and "corrupt" in warning[0]
    # simulated again and the file replaced: the same KPIs as before it was damaged
    assert json.loads(damaged.read_text())["kpis"] == json.loads(text)["kpis"]
    assert all(p.stat().st_mtime_ns == t for p, t in kept.items())  # the others reused
    assert json.loads((out / "summary.json").read_text()) == summary


def test_resume_finds_the_replications_of_a_run_killed_while_renaming(
    tmp_path: Path, lab_round: sim.Scenario
) -> None:
    """Killed between moving its store into the finished temporary folder and renaming
    that folder: ``--resume`` takes the store back and simulates nothing again."""
    out = tmp_path / "run"
    replicate(lab_round, 3, workers=1, folder=out)
    dead = subprocess.Popen(["true"])
    dead.wait()
    left = tmp_path / f".run.partial-{dead.pid}"
    left.mkdir()
    (out / "replications").rename(left / "replications")
    stored = {p.name: p.stat().st_mtime_ns for p in left.glob("replications/*/0*.json")}
    assert len(stored) == 3

    args = ["run", str(tmp_path / "round.yaml"), "--reps", "3", "--workers", "1"]
    code, text = cli(*args, "--no-figures", "--no-levers", "--out", str(out), "--resume")
    assert code == 0, text
    assert sim.results.read_run(out)["summary"]["replications"] == 3
    again = {p.name: p.stat().st_mtime_ns for p in out.glob("replications/*/0*.json")}
    assert again == stored and siblings(out) == []


def test_force_never_removes_files_natsim_did_not_write(tmp_path: Path) -> None:
    folder = tmp_path / "mine"
    (folder / "src").mkdir(parents=True)
    (folder / "manifest.json").write_text('{"a": 1}')  # not natsim's
    (folder / "notes.txt").write_text("keep me")
    code, output = cli("run", TINY, "--no-figures", "--no-levers", "--out", str(folder), "--force")
    assert code == 2 and "not a natsim run's (notes.txt, src)" in one_error_line(output)
    assert (folder / "notes.txt").read_text() == "keep me" and (folder / "src").is_dir()
    (folder / "notes.txt").unlink()
    (folder / "src").rmdir()
    code, output = cli("run", TINY, "--no-figures", "--no-levers", "--out", str(folder), "--force")
    assert code == 2 and "no natsim manifest.json" in one_error_line(output)
