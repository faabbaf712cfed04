"""The run folder: what a planner keeps and an analyst reopens.

::

    runs/<scenario>-<timestamp>/
      summary.json        headline KPIs (targets met, completion, stages, bottleneck)
      tables/*.parquet    tubes, plates, points, trips, stops, bags, vehicles, labs, timeline, kpis
      scenario.yaml       the scenario as resolved (defaults filled in, overrides applied)
      zones.parquet       the zone table the run used
      manifest.json       natsim version, seed, replications, command line, timings
      figures/*.png       pictures (written by sim.plots)

``load_run(folder)`` gives the tables back as DataFrames.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import tempfile
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

if TYPE_CHECKING:
    from ..scenario.schema import Scenario
    from .result import Result


def default_folder(scenario_name: str, root: str | Path = "runs") -> Path:
    slug = "".join(c if c.isalnum() else "-" for c in scenario_name.lower()).strip("-")
    slug = "-".join(part for part in slug.split("-") if part)[:40] or "run"
    stamp = datetime.now().strftime("%Y-%m-%dT%H%M%S")
    return Path(root) / f"{slug}-{stamp}"


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write(path: Path, data: bytes) -> None:
    """Write a file so that a reader never sees half of it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes files private; run folders are shared
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def manifest_basics(command: str | None) -> dict[str, Any]:
    """What every manifest.json starts with: natsim version, command line, when, where."""
    from .. import __version__

    return {
        "natsim": __version__,
        "command": command if command is not None else " ".join(sys.argv),
        "written": datetime.now().isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "machine": platform.platform(),
    }


def write_scenario(scenario: Scenario, folder: Path) -> None:
    """``folder/scenario.yaml`` (resolved, reloadable) and ``folder/zones.parquet``."""
    from ..scenario.dumping import scenario_yaml

    folder.mkdir(parents=True, exist_ok=True)
    atomic_write(
        folder / "scenario.yaml",
        (
            "# the scenario as this run resolved it (defaults filled in, --set applied)\n"
            + scenario_yaml(scenario, {"parquet": "zones.parquet"})
        ).encode(),
    )
    zones = scenario.demand.zones.to_frame()
    zones.to_parquet(folder / "zones.parquet", index=False)


def write_run(
    result: Result, folder: Path, command: str | None, extra: dict[str, Any] | None = None
) -> Path:
    """Write ``result`` into ``folder``; ``extra`` entries are added to the manifest.

    Tables no replication kept (``sim.replicate`` keeps the full tables of the
    first replication only) are not written; ``kpis.parquet`` always is.
    """
    from .result import TABLES, to_json

    folder.mkdir(parents=True, exist_ok=True)
    tables = folder / "tables"
    tables.mkdir(exist_ok=True)
    for name in TABLES:
        if result.has_table(name):
            result.table(name).to_parquet(tables / f"{name}.parquet", index=False)
    residents = result.residents
    if residents is not None:
        residents.to_parquet(tables / "residents.parquet", index=False)
    atomic_write(folder / "summary.json", to_json(result.summary()).encode())
    scenario = result.scenario
    write_scenario(scenario, folder)
    manifest: dict[str, Any] = {
        **manifest_basics(command),
        "scenario": scenario.round.name,
        "seed": result.seed,
        "replications": result.replications,
        "wall_s": [p.wall for p in result.parts],
        **(extra or {}),
    }
    atomic_write(folder / "manifest.json", to_json(manifest).encode())
    return folder


def load_run(folder: str | Path) -> dict[str, Any]:
    """A finished run folder as ``{"summary": dict, "manifest": dict, <table>: DataFrame}``."""
    folder = Path(folder)
    out: dict[str, Any] = {
        "summary": json.loads((folder / "summary.json").read_text()),
        "manifest": json.loads((folder / "manifest.json").read_text()),
    }
    for path in sorted((folder / "tables").glob("*.parquet")):
        out[path.stem] = pd.read_parquet(path)
    return out
