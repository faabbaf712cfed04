"""What ``sim.run`` and ``sim.replicate`` return: tidy tables, KPIs, and saving.

The tables are stacked over replications (each has a ``replication`` column).
A replication may carry only its KPIs (``tables`` empty): ``sim.replicate``
keeps the full tables of the first replication only, so thousands of
replications never hold thousands of tube tables; the stacked tables then hold
the replications that kept theirs, and ``kpis`` has one row per replication.
``summary()`` is the JSON written as ``summary.json``; with one replication it
holds that replication's KPIs, with several it adds, for completion and every
stage, mean, sd, t interval and quantiles, and for every target the
probability of meeting it with a Wilson interval (formulas in
:mod:`sim.stats`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..checks import check
from ..gc_pause import collector_paused
from ..model.world import Replication
from ..scenario.schema import Scenario
from .io import atomic_write, manifest_basics, to_json, write_parquet, write_scenario
from .kpis import resource_use, summarise
from .tables import (
    _bag_columns,
    _plate_columns,
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
    warnings: list[str] | None = None  # the scenario's pitfalls (sim.checks), when tabulated


def _core(
    rep: Replication,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The tables the KPIs are computed from: tubes, plates, points, trips, bags, lab use."""
    plate_cols = _plate_columns(rep.ledger.plates)  # read the plate objects once for both tables
    bag_cols = _bag_columns(rep.ledger.bags)  # and the bags
    tubes = tube_table(rep, plate_cols, bag_cols)
    plates = plate_table(rep, plate_cols)
    points = point_table(rep)
    trips = trip_table(rep)
    bags = bag_table(rep, bag_cols)
    use = resource_use(plates, bags, rep.scenario)
    return tubes, plates, points, trips, bags, use


def _kpis(
    rep: Replication,
    tubes: pd.DataFrame,
    plates: pd.DataFrame,
    points: pd.DataFrame,
    trips: pd.DataFrame,
    bags: pd.DataFrame,
    use: pd.DataFrame,
) -> dict[str, Any]:
    return summarise(
        rep.scenario, rep.seed, rep.replication, tubes, points, plates, bags, trips, rep.routes, use
    )


def kpis_only(rep: Replication) -> ReplicationResult:
    """One replication's KPIs without its tables (what many-replication experiments keep).

    Skips the tables the KPIs do not need (stops, vehicles, the timeline), so
    it is cheaper than :func:`tabulate`; the KPIs are identical.
    """
    tubes, plates, points, trips, bags, use = _core(rep)
    kpis = _kpis(rep, tubes, plates, points, trips, bags, use)
    return ReplicationResult(rep.replication, {}, kpis, None, dict(rep.wall))


def tabulate(rep: Replication) -> ReplicationResult:
    """Turn one replication's records into tables and KPIs (done once, here)."""
    with collector_paused():  # see sim.gc_pause: no cycles worth collecting are made here
        return _tabulate(rep)


def _tabulate(rep: Replication) -> ReplicationResult:
    tubes, plates, points, trips, bags, use = _core(rep)
    kpis = _kpis(rep, tubes, plates, points, trips, bags, use)
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
    warnings = [finding.message for finding in check(rep.scenario, rep.routes)]
    return ReplicationResult(rep.replication, tables, kpis, residents, dict(rep.wall), warnings)


class Result:
    """Results of a scenario over one or more replications."""

    def __init__(
        self,
        scenario: Scenario,
        seed: int,
        parts: list[ReplicationResult],
        experiment: dict[str, Any] | None = None,
    ) -> None:
        self.scenario = scenario
        self.seed = seed
        self.parts = sorted(parts, key=lambda p: p.replication)
        #: how the replications were chosen (e.g. the precision rule), copied into summary()
        self.experiment = dict(experiment or {})
        self._tables: dict[str, pd.DataFrame] = {}
        self._warnings: list[str] | None = None

    # -- tables ------------------------------------------------------------------
    def table(self, name: str) -> pd.DataFrame:
        """A stacked table: one of tubes, plates, points, trips, stops, bags, vehicles, labs, timeline, kpis."""
        if name == "kpis":
            return self.kpis
        if name not in self._tables:
            frames = [p.tables[name] for p in self.parts if name in p.tables]
            if not frames:
                raise KeyError(
                    f"no replication of this result kept its {name!r} table "
                    "(sim.replicate keeps the tables of the first replication only)"
                )
            self._tables[name] = (
                pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
            )
        return self._tables[name]

    def has_table(self, name: str) -> bool:
        """Whether :meth:`table` can give ``name`` (some replication kept it)."""
        return name == "kpis" or any(name in p.tables for p in self.parts)

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
    def warnings(self) -> list[str]:
        """The pitfalls found in the scenario before it was run (:mod:`sim.checks`)."""
        if self._warnings is None:
            known = [p.warnings for p in self.parts if p.warnings is not None]
            self._warnings = known[0] if known else [f.message for f in check(self.scenario)]
        return list(self._warnings)

    @property
    def replications(self) -> int:
        return len(self.parts)

    def summary(self) -> dict[str, Any]:
        """The headline KPIs (what ``summary.json`` holds).

        One replication: its KPIs as they are. Several: ``completion_h`` and
        ``stages_h`` are means (as before), ``completion`` and ``stages`` hold
        n, mean, sd, the t interval (``ci``, at ``interval_level``), p50, p90,
        p95, min and max; each target has ``p_met`` with its Wilson interval
        ``p_met_ci`` and the mean ``share_reported`` with its t interval. An
        unfinished replication counts as never completing: it makes the mean
        completion unknown (None) but the quantiles may still be read.
        Replications are aggregated in replication order, so the numbers do not
        depend on the order in which they finished or where they ran.
        """
        if self.replications == 1:
            single = dict(self.parts[0].kpis)
            single["replications"] = 1
            single["warnings"] = self.warnings
            if self.experiment:
                single["experiment"] = dict(self.experiment)
            return single
        from ..stats import LEVEL, describe, wilson

        k = self.kpis
        first = self.parts[0].kpis
        n = self.replications
        completion = describe(k["completion_h"], censored=True)
        stages = {s: describe(k[f"{s}_h"]) for s in first["stages_h"]}
        targets = []
        for t in first["targets"]:
            label = f"{t['hours']:g}h"
            met = int(k[f"met_{label}"].sum())
            low, high = wilson(met, n)
            share = describe(k[f"share_reported_{label}"])
            targets.append(
                {
                    "hours": t["hours"],
                    "clock": t["clock"],
                    "p_met": met / n,
                    "p_met_ci": [low, high],
                    "replications_met": met,
                    "share_reported": share["mean"],
                    "share_reported_ci": share["ci"],
                }
            )
        out: dict[str, Any] = {
            "scenario": first["scenario"],
            "seed": self.seed,
            "replications": n,
            "interval_level": LEVEL,
            "residents_swabbed": float(k["residents_swabbed"].mean()),
            "tubes": float(k["tubes"].mean()),
            "finished_share": float(k["finished"].mean()),
            "completion_h": completion["mean"],
            "completion": completion,
            "stages_h": {s: d["mean"] for s, d in stages.items()},
            "stages": stages,
            "targets": targets,
            "bottlenecks": self._bottlenecks(),
            "warnings": self.warnings,
        }
        if self.experiment:
            out["experiment"] = dict(self.experiment)
        return out

    def _bottlenecks(self) -> list[dict[str, Any]]:
        """How often each stage (and place) was the bottleneck, most frequent first."""
        counts: dict[tuple[str, str], int] = {}
        for p in self.parts:
            b = p.kpis.get("bottleneck") or {}
            if b.get("stage"):
                key = (str(b["stage"]), str(b.get("where") or ""))
                counts[key] = counts.get(key, 0) + 1
        ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
        return [
            {
                "stage": stage,
                "where": where or None,
                "replications": c,
                "share": c / self.replications,
            }
            for (stage, where), c in ranked
        ]

    def statistics(self) -> pd.DataFrame:
        """One row per KPI over the replications: n, mean, sd, t interval, quantiles.

        Rows: ``completion_h``, each stage (``last_swab_h`` ...), and per target
        ``share_reported_<t>`` and ``met_<t>`` (the mean of ``met`` is P(met);
        its interval is Wilson's; quantiles do not apply to it).
        """
        from ..stats import describe, wilson

        k = self.kpis
        first = self.parts[0].kpis
        rows = [{"kpi": "completion_h", **_flat(describe(k["completion_h"], censored=True))}]
        rows += [{"kpi": f"{s}_h", **_flat(describe(k[f"{s}_h"]))} for s in first["stages_h"]]
        for t in first["targets"]:
            label = f"{t['hours']:g}h"
            rows.append(
                {"kpi": f"share_reported_{label}", **_flat(describe(k[f"share_reported_{label}"]))}
            )
            met = int(k[f"met_{label}"].sum())
            low, high = wilson(met, self.replications)
            rows.append(
                {
                    "kpi": f"met_{label}",
                    "n": self.replications,
                    "mean": met / self.replications,
                    "ci_low": low,
                    "ci_high": high,
                }
            )
        columns = ["n", "mean", "sd", "ci_low", "ci_high", "p50", "p90", "p95", "min", "max"]
        return pd.DataFrame(rows).set_index("kpi").reindex(columns=columns)

    # -- saving ------------------------------------------------------------------
    def save(
        self, folder: str | Path, command: str | None = None, manifest: dict[str, Any] | None = None
    ) -> Path:
        """Write the run folder: summary.json, Parquet tables, scenario, manifest.

        ``manifest`` entries (e.g. where the replications ran) are added to
        manifest.json. Tables no replication kept (``sim.replicate`` keeps the full
        tables of the first replication only) are not written; ``kpis.parquet``
        always is.
        """
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        tables = folder / "tables"
        tables.mkdir(exist_ok=True)
        for name in TABLES:
            if self.has_table(name):
                write_parquet(self.table(name), tables / f"{name}.parquet")
        residents = self.residents
        if residents is not None:
            write_parquet(residents, tables / "residents.parquet")
        atomic_write(folder / "summary.json", to_json(self.summary()).encode())
        write_scenario(self.scenario, folder)
        record: dict[str, Any] = {
            **manifest_basics(command),
            "scenario": self.scenario.round.name,
            "seed": self.seed,
            "replications": self.replications,
            "wall_s": [p.wall for p in self.parts],
            **(manifest or {}),
        }
        atomic_write(folder / "manifest.json", to_json(record).encode())
        return folder

    def __repr__(self) -> str:
        s = self.summary()
        done = f"{s['completion_h']:.2f} h" if s.get("completion_h") is not None else "unfinished"
        return f"<Result {s['scenario']!r} seed={self.seed} replications={self.replications} completion={done}>"


def _flat(stats: dict[str, Any]) -> dict[str, Any]:
    """A :func:`~sim.stats.describe` dict as flat columns (None -> NaN)."""
    ci = stats.get("ci") or [None, None]
    out = {k: v for k, v in stats.items() if k not in ("ci", "half_width", "unfinished")}
    out["ci_low"], out["ci_high"] = ci
    return {k: np.nan if v is None else v for k, v in out.items()}
