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

from ..checks import check, horizon_cut
from ..gc_pause import collector_paused
from ..model.capacity import capacity_table
from ..model.followup import single_tube_table, team_table
from ..model.world import QUEUE_STEP, Replication
from ..scenario.schema import Scenario
from .io import (
    RunFolderError,
    atomic_write,
    manifest_basics,
    read_json,
    read_run,
    staged,
    to_json,
    write_parquet,
    write_scenario,
)
from .kpis import (
    by_hour,
    door_outcome,
    failure_outcome,
    followup_outcome,
    outcome,
    progress,
    resident_counts,
    resource_use,
    summarise,
)
from .tables import (
    _bag_columns,
    _plate_columns,
    bag_table,
    plate_table,
    point_table,
    stop_table,
    trip_table,
    tube_reported_h,
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
    "recalls",
    "single_tubes",
    "teams",
    "door",
    "failures",
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
    process = rep.scenario.process
    plate_cols = _plate_columns(rep.ledger.plates, process)  # the plate objects once for both
    bag_cols = _bag_columns(rep.ledger.bags, process)  # and the bags
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
    kpis = summarise(
        rep.scenario, rep.seed, rep.replication, tubes, points, plates, bags, trips, rep.routes, use,
        rep.door,
    )  # fmt: skip
    step_h = QUEUE_STEP / 3600.0
    kpis["by_hour"] = by_hour(rep.scenario, rep.swabbed, step_h, tubes, kpis["residents_arrived"])
    if rep.reads is not None:
        kpis["positives"] = rep.reads.summary(kpis["residents_arrived"])
    if rep.recalls is not None and rep.reads is not None:
        kpis["followup"] = followup_outcome(rep.scenario, rep.recalls, rep.reads)
        kpis["followup_completion_h"] = kpis["followup"]["completion_h"]
    kpis["lab_capacity"] = [row._asdict() for row in capacity_table(rep.scenario)]
    kpis["disruptions"] = [d.describe() for d in rep.scenario.disruptions]
    if rep.failures is not None:
        kpis["failures"] = failure_outcome(rep.failures, rep.scenario.round.horizon / 3600.0)
    door = rep.scenario.door_to_door
    if rep.door is not None and door is not None:
        kpis["door_to_door"] = door_outcome(rep.door, tubes, sum(b.teams for b in door.teams))
    return kpis


def kpis_only(rep: Replication) -> ReplicationResult:
    """One replication's KPIs without its tables (what many-replication experiments keep).

    Skips the tables the KPIs do not need (stops, vehicles, the timeline), so
    it is cheaper than :func:`tabulate`; the KPIs are identical.
    """
    tubes, plates, points, trips, bags, use = _core(rep)
    kpis = _kpis(rep, tubes, plates, points, trips, bags, use)
    return ReplicationResult(rep.replication, {}, kpis, None, dict(rep.wall))


def outcome_only(rep: Replication) -> dict[str, Any]:
    """One replication's outcome as a ``kpis`` row has it (``finished``, ``completion_h``,
    ``met_<T>`` and ``share_reported_<T>`` per target), read from the records without
    building any table: what an experiment that only compares outcomes needs."""
    arrived, swabbed = resident_counts(rep.points, rep.door)
    finished, completion, targets = outcome(
        rep.scenario, tube_reported_h(rep), rep.ledger.tube_size, arrived, swabbed
    )
    row: dict[str, Any] = {
        "replication": rep.replication,
        "finished": finished,
        "completion_h": np.nan if completion is None else completion,
    }
    for t in targets:
        label = f"{t['hours']:g}h"
        row[f"met_{label}"] = t["met"]
        row[f"share_reported_{label}"] = t["share_reported"]
    return row


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
        "timeline": build_timeline(
            rep.replication, tubes, plates, rep.point_queues, rep.swabbed, rep.scenario.process
        ),
    }
    if rep.recalls is not None:
        tables["recalls"] = rep.recalls
        spec = rep.scenario.positives.followup
        tables["teams"] = team_table(rep.recalls, spec.teams if spec is not None else 0)
        if rep.reads is not None:
            tables["single_tubes"] = single_tube_table(rep.recalls, rep.reads)
    if rep.door is not None:
        tables["door"] = rep.door
    if rep.failures is not None:
        tables["failures"] = rep.failures
    residents = None
    if rep.residents is not None:
        residents = rep.residents.assign(replication=rep.replication)
    warnings = [finding.message for finding in check(rep.scenario, rep.routes)]
    return ReplicationResult(rep.replication, tables, kpis, residents, dict(rep.wall), warnings)


class Result:
    """Results of a scenario over one or more replications (``sim.run``, ``sim.replicate``,
    ``sim.load_run``).

    Tables, stacked over replications (column ``replication``; :meth:`table` by name):
    ``tubes``, ``plates``, ``bags``, ``points``, ``trips``, ``stops``, ``vehicles``,
    ``labs`` (utilisation per lab and pool), ``timeline``, ``kpis`` (one row a
    replication), ``residents`` (with ``detail="residents"``), and with their sections
    ``recalls``, ``single_tubes``, ``teams``, ``door``, ``failures``. Headline:
    :meth:`summary` (``summary.json``), :meth:`statistics`, :meth:`bottleneck`,
    ``warnings``, ``by_hour``. Writing: :meth:`save` (``report=True`` adds the figures and
    ``report.html``), :meth:`report` (the figures and the page alone, anywhere).
    ``scenario`` and ``seed`` are what it ran; ``folder`` and
    ``manifest`` are set when it was reopened from a run folder.
    """

    def __init__(
        self,
        scenario: Scenario,
        seed: int,
        parts: list[ReplicationResult],
        experiment: dict[str, Any] | None = None,
    ) -> None:
        #: the run folder it was reopened from (:func:`load_run`), and that folder's manifest
        self.folder: Path | None = None
        self.manifest: dict[str, Any] | None = None
        self.scenario = scenario
        self.seed = seed
        self.parts = sorted(parts, key=lambda p: p.replication)
        #: how the replications were chosen (e.g. the precision rule), copied into summary()
        self.experiment = dict(experiment or {})
        self._tables: dict[str, pd.DataFrame] = {}
        self._warnings: list[str] | None = None
        #: what a step more and fewer of each resource does (:mod:`sim.experiment.levers`)
        self.levers: pd.DataFrame | None = None
        self._levers_summary: dict[str, Any] | None = None

    def attach_levers(self, table: pd.DataFrame, summary: dict[str, Any]) -> None:
        """Keep the levers measured on this result's scenario and seed: ``summary()`` then
        names the bottleneck from them, and ``save`` writes ``tables/levers.parquet``."""
        self.levers = table
        self._levers_summary = summary

    def skip_levers(self, why: str) -> None:
        """Record that the levers were not measured, and why (``summary()["levers"]``)."""
        self.levers = None
        self._levers_summary = {"measured": False, "why": why}

    def bottleneck(self) -> dict[str, Any] | None:
        """The resource whose next step buys the most time, from the levers: None when the
        levers were not measured; ``{"resource": None, ...}`` when no step buys time."""
        if self._levers_summary is None or self._levers_summary.get("measured") is False:
            return None
        best = self._levers_summary.get("limiting")
        unjudged = self._levers_summary.get("unjudged")
        if best is None and unjudged:
            return {"resource": None, "why": f"not judged: {unjudged}"}
        if best is None:
            return {
                "resource": None,
                "why": "no step more of any resource saves "
                f"{self._levers_summary.get('meaningful_h', 0.05):g} h or more",
            }
        keys = ("resource", "where", "lever", "label", "action", "step", "unit", "now", "to")
        out = {k: best.get(k) for k in keys}
        out["saves_h"] = -best["completion_h_delta"]
        low, high = best.get("completion_h_delta_low"), best.get("completion_h_delta_high")
        out["saves_h_ci"] = None if low is None or high is None else [-high, -low]
        out["replications"] = best.get("replications")
        return out

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
            for key, value in (k.get("positives") or {}).items():
                row[key] = value
            if "followup" in k:
                f = k["followup"]
                row["followup_completion_h"] = (
                    np.nan if f["completion_h"] is None else f["completion_h"]
                )
                for t in f["targets"]:
                    row[f"followup_met_{t['hours']:g}h"] = t["met"]
            if "door_to_door" in k:
                d = k["door_to_door"]
                row["door_residents"] = d["residents"]
                row["door_last_swab_h"] = np.nan if d["last_swab_h"] is None else d["last_swab_h"]
            for t in k["targets"]:
                label = f"{t['hours']:g}h"
                row[f"met_{label}"] = t["met"]
                row[f"share_reported_{label}"] = t["share_reported"]
            rows.append(row)
        return pd.DataFrame(rows)

    # -- headline ----------------------------------------------------------------
    @property
    def warnings(self) -> list[str]:
        """The pitfalls found in the scenario before it was run (:mod:`sim.checks`), and
        after it a horizon that cut the round off."""
        if self._warnings is None:
            known = [p.warnings for p in self.parts if p.warnings is not None]
            before = known[0] if known else [f.message for f in check(self.scenario)]
            unfinished = [p.kpis.get("unfinished", {}) for p in self.parts]
            after = [f.message for f in horizon_cut(self.scenario, unfinished)]
            self._warnings = [*before, *after]
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
            self._add_levers(single)
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
            "longest_waits": self._longest_waits(),
            "by_hour": self._by_hour_bands(),
            "warnings": self.warnings,
        }
        if "positives" in first:  # each count's mean, sd and interval over replications
            out["positives"] = {key: describe(k[key]) for key in first["positives"]}
        if "followup" in first:  # the follow-up's completion and P(met) at each target
            follow = describe(k["followup_completion_h"], censored=True)
            met_targets = []
            for t in first["followup"]["targets"]:
                label = f"{t['hours']:g}h"
                met = int(k[f"followup_met_{label}"].sum())
                low, high = wilson(met, n)
                met_targets.append(
                    {"hours": t["hours"], "p_met": met / n, "p_met_ci": [low, high],
                     "replications_met": met}
                )  # fmt: skip
            out["followup"] = {"completion": follow, "targets": met_targets}
            out["followup_completion_h"] = follow["mean"]
        out["lab_capacity"] = first.get("lab_capacity", [])
        out["disruptions"] = first.get("disruptions", [])
        if "door_to_door" in first:  # homebound residents (fixed) and their last swab's spread
            out["door_to_door"] = {
                "teams": first["door_to_door"]["teams"],
                "households": first["door_to_door"]["households"],
                "residents": first["door_to_door"]["residents"],
                "last_swab": describe(k["door_last_swab_h"], censored=True),
            }
        if self.experiment:
            out["experiment"] = dict(self.experiment)
        self._add_levers(out)
        return out

    @property
    def by_hour(self) -> pd.DataFrame:
        """Share of residents swabbed, delivered, tested and reported by every hour: one row
        per replication and hour (what ``tables/by_hour.parquet`` holds)."""
        frames = []
        for p in self.parts:
            b = p.kpis.get("by_hour")
            if b:
                frame = pd.DataFrame({k: b[k] for k in ("hours", *(n for n, _ in progress()))})
                frame.insert(0, "replication", p.replication)
                frames.append(frame)
        if not frames:
            return pd.DataFrame(columns=["replication", "hours", *(n for n, _ in progress())])
        return pd.concat(frames, ignore_index=True)

    def _by_hour_bands(self) -> dict[str, Any]:
        """Per hour, each step's mean share over the replications and its 10-90 % band."""
        frame = self.by_hour
        if frame.empty:
            return {}
        out: dict[str, Any] = {"hours": sorted(frame["hours"].unique().tolist())}
        grouped = frame.groupby("hours")
        for name, _ in progress():
            g = grouped[name]
            out[name] = {
                "mean": g.mean().tolist(),
                "p10": g.quantile(0.1).tolist(),
                "p90": g.quantile(0.9).tolist(),
            }
        return out

    def _add_levers(self, summary: dict[str, Any]) -> None:
        if self._levers_summary is not None:
            summary["bottleneck"] = self.bottleneck()
            summary["levers"] = self._levers_summary

    def _longest_waits(self) -> list[dict[str, Any]]:
        """How often each resource (and place) held the last tubes longest, most often first."""
        counts: dict[tuple[str, str], int] = {}
        for p in self.parts:
            b = p.kpis.get("longest_wait") or {}
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
        self,
        folder: str | Path,
        command: str | None = None,
        manifest: dict[str, Any] | None = None,
        *,
        report: bool = False,
        replace: bool = False,
    ) -> Path:
        """Write the run folder, complete or not at all: summary.json, Parquet tables,
        scenario, manifest, and with ``report`` the figures and report.html too (what
        ``natsim run`` writes).

        The files are written into a temporary sibling renamed to ``folder`` once all
        are there (:func:`~sim.results.io.staged`), so ``folder`` never holds half a
        run. An existing non-empty ``folder`` raises
        :class:`~sim.results.io.FolderTaken` unless ``replace`` (the old folder is
        then replaced once the new one is complete); the replications store an
        experiment kept in it (``replications/``) is kept. ``manifest`` entries (e.g.
        where the replications ran) are added to manifest.json. Tables no replication
        kept (``sim.replicate`` keeps the full tables of the first replication only)
        are not written; ``kpis.parquet`` always is.
        """
        with staged(folder, replace) as tmp:
            self._write(tmp, command, manifest)
            if report:
                from ..report import write_figures_and_report

                write_figures_and_report(self, tmp)
        return Path(folder)

    def report(self, folder: str | Path) -> Path:
        """Write the figures (``folder/figures/*.png``) and the self-contained page
        (``folder/report.html``, figures embedded: it can be sent on its own) of this
        result; returns the page's path. ``save(folder, report=True)`` writes them with the
        run folder; this writes them anywhere, e.g. from a notebook."""
        from ..report import write_figures_and_report

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        return write_figures_and_report(self, folder)

    def _write(self, folder: Path, command: str | None, manifest: dict[str, Any] | None) -> None:
        """Write the files of the run folder into ``folder`` (an empty folder)."""
        tables = folder / "tables"
        tables.mkdir()
        for name in TABLES:
            if self.has_table(name):
                write_parquet(self.table(name), tables / f"{name}.parquet")
        residents = self.residents
        if residents is not None:
            write_parquet(residents, tables / "residents.parquet")
        by_hour = self.by_hour
        if not by_hour.empty:
            write_parquet(by_hour, tables / "by_hour.parquet")
        if self.levers is not None:
            write_parquet(self.levers, tables / "levers.parquet")
            self.levers.to_csv(folder / "levers.csv", index=False)
        atomic_write(folder / "summary.json", to_json(self.summary()).encode())
        parts = [
            {"replication": p.replication, "kpis": p.kpis, "wall": p.wall, "warnings": p.warnings}
            for p in self.parts
        ]
        atomic_write(folder / "parts.json", to_json({"parts": parts}).encode())
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


#: the tables a run folder splits back into replications (the rest are derived again)
_REOPENED = (*TABLES[:-1], "residents")


def load_run(folder: str | Path) -> Result:
    """Reopen a run folder (``natsim run``, ``Result.save``) as the :class:`Result` it was
    written from: the same scenario (``scenario.yaml``), tables, KPIs and levers, so every
    figure and report function takes it, and ``summary()`` is ``summary.json`` again.

    Raises :class:`~sim.results.io.RunFolderError` (one line, naming the folder or file)
    for a folder that is not complete or was written before natsim kept each
    replication's KPIs (``parts.json``).
    """
    from ..scenario.loading import load_scenario

    folder = Path(folder)
    files = read_run(folder)
    if not (folder / "parts.json").is_file():
        raise RunFolderError(
            f"{folder}: written before natsim kept each replication's KPIs (no parts.json): "
            "read its files with sim.results.read_run, or run it again"
        )
    summary, manifest = files["summary"], files["manifest"]
    scenario = load_scenario(folder / "scenario.yaml")
    saved_parts = read_json(folder / "parts.json")["parts"]
    tables: dict[int, dict[str, pd.DataFrame]] = {}
    for name in _REOPENED:
        frame = files.get(name)
        if frame is None:
            continue
        if not len(frame):  # an empty table: the first replication's, as it was kept
            tables.setdefault(int(saved_parts[0]["replication"]), {})[name] = frame
            continue
        for _, rows in frame.groupby("replication", sort=True, observed=True):
            rep = int(rows["replication"].iat[0])
            tables.setdefault(rep, {})[name] = rows.reset_index(drop=True)
    parts = []
    for saved in saved_parts:
        rep = int(saved["replication"])
        own = tables.get(rep, {})
        residents = own.pop("residents", None)
        parts.append(
            ReplicationResult(rep, own, saved["kpis"], residents, saved["wall"], saved["warnings"])
        )
    result = Result(scenario, int(manifest["seed"]), parts, summary.get("experiment"))
    levers = summary.get("levers")
    if isinstance(levers, dict) and levers.get("measured") is False:
        result.skip_levers(str(levers.get("why")))
    elif isinstance(levers, dict):
        result.attach_levers(files.get("levers", pd.DataFrame()), levers)
    result.folder, result.manifest = folder, manifest
    return result
