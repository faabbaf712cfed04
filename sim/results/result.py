"""What ``sim.run`` returns: tidy tables of one or more replications, KPIs, and saving.

The tables are stacked over replications (each has a ``replication`` column).
``summary()`` is the JSON written as ``summary.json``; with one replication it
holds that replication's KPIs, with several it adds the share of replications
meeting each target (the full statistics live in :mod:`sim.experiment`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..model.world import Replication
from ..scenario.schema import Scenario
from .kpis import resource_use, summarise
from .tables import (
    bag_table,
    plate_table,
    point_table,
    stop_table,
    trip_table,
    tube_table,
    vehicle_table,
)
from .timeline import build_timeline

TABLES = (
    "tubes",
    "plates",
    "points",
    "trips",
    "stops",
    "bags",
    "vehicles",
    "labs",
    "timeline",
    "kpis",
)


@dataclass
class ReplicationResult:
    """The tables and KPIs of one replication."""

    replication: int
    tables: dict[str, pd.DataFrame]
    kpis: dict[str, Any]
    residents: pd.DataFrame | None = None
    wall: dict[str, float] = field(default_factory=dict)


def tabulate(rep: Replication) -> ReplicationResult:
    """Turn one replication's records into tables and KPIs (done once, here)."""
    tubes = tube_table(rep)
    plates = plate_table(rep)
    points = point_table(rep)
    trips = trip_table(rep)
    bags = bag_table(rep)
    use = resource_use(plates, bags, rep.scenario)
    kpis = summarise(
        rep.scenario, rep.seed, rep.replication, tubes, points, plates, bags, trips, rep.routes, use
    )
    labs = use.copy()
    labs.insert(0, "replication", rep.replication)
    tables = {
        "tubes": tubes,
        "plates": plates,
        "points": points,
        "trips": trips,
        "stops": stop_table(rep),
        "bags": bags,
        "vehicles": vehicle_table(trips, rep),
        "labs": labs,
        "timeline": build_timeline(rep.replication, tubes, plates, rep.point_queues, rep.swabbed),
    }
    residents = None
    if rep.residents is not None:
        residents = rep.residents.assign(replication=rep.replication)
    return ReplicationResult(rep.replication, tables, kpis, residents, dict(rep.wall))


class Result:
    """Results of a scenario over one or more replications."""

    def __init__(self, scenario: Scenario, seed: int, parts: list[ReplicationResult]) -> None:
        self.scenario = scenario
        self.seed = seed
        self.parts = sorted(parts, key=lambda p: p.replication)
        self._tables: dict[str, pd.DataFrame] = {}

    # -- tables ------------------------------------------------------------------
    def table(self, name: str) -> pd.DataFrame:
        """A stacked table: one of tubes, plates, points, trips, stops, bags, vehicles, labs, timeline, kpis."""
        if name == "kpis":
            return self.kpis
        if name not in self._tables:
            frames = [p.tables[name] for p in self.parts]
            self._tables[name] = (
                pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
            )
        return self._tables[name]

    @property
    def tubes(self) -> pd.DataFrame:
        return self.table("tubes")

    @property
    def plates(self) -> pd.DataFrame:
        return self.table("plates")

    @property
    def points(self) -> pd.DataFrame:
        return self.table("points")

    @property
    def trips(self) -> pd.DataFrame:
        return self.table("trips")

    @property
    def stops(self) -> pd.DataFrame:
        return self.table("stops")

    @property
    def bags(self) -> pd.DataFrame:
        return self.table("bags")

    @property
    def vehicles(self) -> pd.DataFrame:
        return self.table("vehicles")

    @property
    def labs(self) -> pd.DataFrame:
        return self.table("labs")

    @property
    def timeline(self) -> pd.DataFrame:
        return self.table("timeline")

    @property
    def residents(self) -> pd.DataFrame | None:
        frames = [p.residents for p in self.parts if p.residents is not None]
        return pd.concat(frames, ignore_index=True) if frames else None

    @property
    def kpis(self) -> pd.DataFrame:
        """One row per replication: completion, stage completions, targets."""
        rows = []
        for p in self.parts:
            k = p.kpis
            row: dict[str, Any] = {
                "replication": p.replication,
                "finished": k["finished"],
                "completion_h": k["completion_h"] if k["completion_h"] is not None else np.nan,
                "residents_swabbed": k["residents_swabbed"],
                "tubes": k["tubes"],
            }
            for stage, value in k["stages_h"].items():
                row[f"{stage}_h"] = np.nan if value is None else value
            for t in k["targets"]:
                label = f"{t['hours']:g}h"
                row[f"met_{label}"] = t["met"]
                row[f"share_reported_{label}"] = t["share_reported"]
            rows.append(row)
        return pd.DataFrame(rows)

    # -- headline ----------------------------------------------------------------
    @property
    def replications(self) -> int:
        return len(self.parts)

    def summary(self) -> dict[str, Any]:
        """The headline KPIs (what ``summary.json`` holds)."""
        if self.replications == 1:
            out = dict(self.parts[0].kpis)
            out["replications"] = 1
            return out
        k = self.kpis
        first = self.parts[0].kpis
        completion = k["completion_h"]
        targets = []
        for t in first["targets"]:
            label = f"{t['hours']:g}h"
            targets.append(
                {
                    "hours": t["hours"],
                    "clock": t["clock"],
                    "p_met": float(k[f"met_{label}"].mean()),
                    "share_reported": float(k[f"share_reported_{label}"].mean()),
                }
            )
        return {
            "scenario": first["scenario"],
            "seed": self.seed,
            "replications": self.replications,
            "residents_swabbed": float(k["residents_swabbed"].mean()),
            "tubes": float(k["tubes"].mean()),
            "finished_share": float(k["finished"].mean()),
            "completion_h": float(completion.mean()) if completion.notna().all() else None,
            "stages_h": {s: float(k[f"{s}_h"].mean()) for s in first["stages_h"]},
            "targets": targets,
        }

    # -- saving ------------------------------------------------------------------
    def save(self, folder: str | Path, command: str | None = None) -> Path:
        """Write the run folder: summary.json, Parquet tables, scenario, manifest."""
        from .io import write_run

        return write_run(self, Path(folder), command)

    def __repr__(self) -> str:
        s = self.summary()
        done = f"{s['completion_h']:.2f} h" if s.get("completion_h") is not None else "unfinished"
        return f"<Result {s['scenario']!r} seed={self.seed} replications={self.replications} completion={done}>"


def to_json(data: Any) -> str:
    """JSON with NaN written as null and numpy scalars as numbers."""

    def clean(x: Any) -> Any:
        if isinstance(x, dict):
            return {str(k): clean(v) for k, v in x.items()}
        if isinstance(x, list | tuple):
            return [clean(v) for v in x]
        if isinstance(x, np.generic):
            x = x.item()
        if isinstance(x, float) and not np.isfinite(x):
            return None
        return x

    return json.dumps(clean(data), indent=2, ensure_ascii=False)
