"""The same replications on every executor: serial, local processes, and a real Dask cluster.

The cluster is a ``dask scheduler`` and a ``dask worker`` (two processes of one
thread) started by the test as subprocesses on 127.0.0.1 and stopped after it.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

import sim
from sim.experiment import DaskExecutor, ProcessExecutor, SerialExecutor, replicate, sweep
from sim.experiment.levers import levers

from .experiment_rounds import LAB_BOUND, load
from .test_cli import natsim

DASK = str(Path(sys.executable).parent / "dask")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The address of a running loopback Dask cluster with two single-thread workers."""
    from distributed import Client

    folder = tmp_path_factory.mktemp("dask")
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    log = (folder / "cluster.log").open("wb")
    common = {"stdout": log, "stderr": subprocess.STDOUT, "cwd": folder, "start_new_session": True}
    procs: list[subprocess.Popen[bytes]] = []
    try:
        procs.append(
            subprocess.Popen(
                [DASK, "scheduler", "--host", "127.0.0.1", "--port", str(port),
                 "--no-dashboard", "--dashboard-address", "127.0.0.1:0"],
                **common,  # type: ignore[call-overload]
            )
        )  # fmt: skip
        procs.append(
            subprocess.Popen(
                [DASK, "worker", address, "--nworkers", "2", "--nthreads", "1",
                 "--host", "127.0.0.1", "--no-dashboard", "--local-directory", str(folder)],
                **common,  # type: ignore[call-overload]
            )
        )  # fmt: skip
        with Client(address, timeout=60) as client:
            client.wait_for_workers(2, timeout=120)
        yield address
    finally:
        for proc in reversed(procs):
            _stop(proc)
        log.close()


@pytest.fixture(scope="module")
def lab_round(tmp_path_factory: pytest.TempPathFactory) -> sim.Scenario:
    return load(LAB_BOUND, tmp_path_factory.mktemp("lab"))


def test_identical_replications_serial_processes_and_dask(
    cluster: str, lab_round: sim.Scenario
) -> None:
    reps = 6
    serial = replicate(lab_round, reps, executor=SerialExecutor())
    with ProcessExecutor(2) as pool:
        local = replicate(lab_round, reps, executor=pool)
    with DaskExecutor(cluster) as dask:
        assert dask.workers == 2
        remote = replicate(lab_round, reps, executor=dask)
        # several variants in one map: the context holds them all, shipped once
        variants = {"labs.L.pcr.instruments": [2, 3]}
        swept_remote = sweep(lab_round, variants, 3, executor=dask)
    for other in (local, remote):
        assert [p.kpis for p in other.parts] == [p.kpis for p in serial.parts]  # exact floats
        assert other.summary() == serial.summary()
        pd.testing.assert_frame_equal(other.tubes, serial.tubes)  # replication 0's full tables
    swept_serial = sweep(lab_round, variants, 3, workers=1)
    pd.testing.assert_frame_equal(swept_remote.table, swept_serial.table)
    pd.testing.assert_frame_equal(swept_remote.replications, swept_serial.replications)


def test_cli_run_on_dask_writes_the_same_summary(
    cluster: str, lab_round: sim.Scenario, tmp_path: Path
) -> None:
    path = tmp_path / "round.yaml"
    path.write_text(LAB_BOUND)
    on_dask = natsim(
        "run", str(path), "--reps", "4", "--dask", cluster, "--no-figures",
        "--out", str(tmp_path / "dask"),
    )  # fmt: skip
    assert on_dask.returncode == 0, on_dask.stderr
    scenario = sim.load_scenario(path)
    serial = replicate(scenario, 4, executor=SerialExecutor())
    # the CLI measured the levers (cheap here) on Dask: the same as measured in-process
    measured = levers(scenario, 4, seed=serial.seed, executor=SerialExecutor())
    serial.attach_levers(measured.table, measured.summary())
    serial.save(tmp_path / "serial")
    a = json.loads((tmp_path / "dask" / "summary.json").read_text())
    b = json.loads((tmp_path / "serial" / "summary.json").read_text())
    assert a == b and a["replications"] == 4
    manifest = json.loads((tmp_path / "dask" / "manifest.json").read_text())
    assert cluster in manifest["executor"]
    assert "P(met)" in on_dask.stdout
