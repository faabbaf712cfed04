"""Sweeps: the same replications of every combination of a few changed values.

``sweep(scenario, {"labs.L.pcr.instruments": [20, 30, 40]}, reps=10)`` runs
the full grid (the product of the listed values) with replications 0 .. reps-1
of the same seed in every variant. Because every random quantity draws from a
stream named after what it is (see :mod:`sim.random`), replication r has the
same residents, arrivals and service times in every variant — common random
numbers — so differences between variants are differences of the variants, not
of the noise. The table therefore also gives each variant's paired difference
in completion time from the first variant, whose interval is typically much
narrower than the two separate intervals suggest.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..results.io import atomic_write, manifest_basics, staged, to_json, write_scenario
from ..results.result import Result
from ..scenario import Scenario, load_scenario
from ..stats import LEVEL, mean_interval
from .executors import Executor
from .replicate import Job, ProgressFn, Runner
from .variants import label, parse_vary, variant


@dataclass
class Sweep:
    """A finished sweep: ``table`` (one row per variant) and ``replications`` (one per run)."""

    scenario: Scenario
    seed: int
    reps: int
    paths: list[str]
    variants: list[dict[str, Any]]
    results: list[Result]

    def __post_init__(self) -> None:
        self.table = self._table()
        self.replications = self._replications()

    @property
    def targets_h(self) -> list[float]:
        return [t / 3600.0 for t in self.scenario.round.targets]

    def _values(self, changes: dict[str, Any]) -> dict[str, Any]:
        return {
            path: value if isinstance(value, int | float | str | bool) else label(value)
            for path, value in changes.items()
        }

    def _table(self) -> pd.DataFrame:
        base = self.results[0].kpis["completion_h"].to_numpy(dtype=float)
        rows = []
        for changes, result in zip(self.variants, self.results, strict=True):
            stats = result.statistics()
            kpis = result.kpis
            row: dict[str, Any] = self._values(changes)
            row["replications"] = result.replications
            row["finished_share"] = float(kpis["finished"].mean())
            for col in ("mean", "sd", "ci_low", "ci_high", "p50", "p90", "p95", "min", "max"):
                row[f"completion_h_{col}"] = stats.loc["completion_h", col]
            for stage in result.parts[0].kpis["stages_h"]:
                for col in ("mean", "ci_low", "ci_high"):
                    row[f"{stage}_h_{col}"] = stats.loc[f"{stage}_h", col]
            for hours in self.targets_h:
                name = f"{hours:g}h"
                row[f"p_met_{name}"] = stats.loc[f"met_{name}", "mean"]
                row[f"p_met_{name}_low"] = stats.loc[f"met_{name}", "ci_low"]
                row[f"p_met_{name}_high"] = stats.loc[f"met_{name}", "ci_high"]
                row[f"share_reported_{name}"] = stats.loc[f"share_reported_{name}", "mean"]
            diff = kpis["completion_h"].to_numpy(dtype=float) - base
            diff = diff[np.isfinite(diff)]
            mean, _, low, high = mean_interval(diff, LEVEL)
            row["completion_h_vs_first"] = mean
            row["completion_h_vs_first_low"] = np.nan if low is None else low
            row["completion_h_vs_first_high"] = np.nan if high is None else high
            rows.append(row)
        return pd.DataFrame(rows)

    def _replications(self) -> pd.DataFrame:
        frames = []
        for index, (changes, result) in enumerate(zip(self.variants, self.results, strict=True)):
            frame = result.kpis
            front = pd.DataFrame({"variant": index, **self._values(changes)}, index=frame.index)
            frames.append(pd.concat([front, frame], axis=1))
        return pd.concat(frames, ignore_index=True)

    def summary(self) -> dict[str, Any]:
        """What ``summary.json`` of a sweep folder holds: the settings and the table."""
        return {
            "scenario": self.scenario.round.name,
            "seed": self.seed,
            "replications": self.reps,
            "interval_level": LEVEL,
            "vary": {
                p: [label(v) for v in dict.fromkeys(c[p] for c in self.variants)]
                for p in self.paths
            },
            "variants": self.table.to_dict("records"),
        }

    def save(
        self,
        folder: str | Path,
        command: str | None = None,
        manifest: dict[str, Any] | None = None,
        *,
        figures: bool = False,
        replace: bool = False,
    ) -> Path:
        """Write ``sweep.parquet``/``.csv``, ``replications.parquet``, ``summary.json``,
        the base scenario, ``manifest.json`` and with ``figures`` ``figures/sweep.png``
        (:func:`sim.plots.sweep`): complete or not at all, as
        :meth:`sim.Result.save` (``replace`` likewise)."""
        with staged(folder, replace) as tmp:
            self.table.to_parquet(tmp / "sweep.parquet", index=False)
            atomic_write(tmp / "sweep.csv", self.table.to_csv(index=False).encode())
            self.replications.to_parquet(tmp / "replications.parquet", index=False)
            atomic_write(tmp / "summary.json", to_json(self.summary()).encode())
            write_scenario(self.scenario, tmp)
            info = {
                **manifest_basics(command),
                "scenario": self.scenario.round.name,
                "seed": self.seed,
                "replications": self.reps,
                "variants": len(self.variants),
                **(manifest or {}),
            }
            atomic_write(tmp / "manifest.json", to_json(info).encode())
            if figures:
                from ..plots import DPI
                from ..plots import sweep as sweep_figure

                (tmp / "figures").mkdir()
                sweep_figure(self).savefig(tmp / "figures" / "sweep.png", dpi=DPI)
        return Path(folder)


def grid(
    scenario: Scenario, vary: Mapping[str, Sequence[Any]] | Sequence[str]
) -> tuple[list[str], list[dict[str, Any]], list[Scenario]]:
    """The paths, the combinations and their validated scenarios (errors name ``--vary``)."""
    if not isinstance(vary, Mapping):
        pairs = [parse_vary(text) for text in vary]
        paths = [p for p, _ in pairs]
        if len(set(paths)) != len(paths):
            dup = next(p for p in paths if paths.count(p) > 1)
            from ..scenario import ScenarioError

            raise ScenarioError("--vary", None, dup, "the same path is varied twice")
        vary = dict(pairs)
    if not vary:
        raise ValueError("nothing to vary: give at least one path with its values")
    paths = list(vary)
    combos = [dict(zip(paths, values, strict=True)) for values in itertools.product(*vary.values())]
    return paths, combos, [variant(scenario, c, "--vary") for c in combos]


def sweep(
    scenario: Scenario | str | Path,
    vary: Mapping[str, Sequence[Any]] | Sequence[str],
    reps: int = 10,
    *,
    seed: int | None = None,
    workers: int | None = None,
    dask: str | None = None,
    executor: Executor | None = None,
    folder: str | Path | None = None,
    resume: bool = False,
    progress: ProgressFn | None = None,
) -> Sweep:
    """Replications 0 .. reps-1 of every combination of the values in ``vary``.

    ``vary`` maps dotted paths to value lists, e.g. ``{"labs.L.pcr.instruments":
    [20, 30], "points.*.stations": [2, 3]}`` (or is a list of ``"PATH=V1,V2"``
    texts as on the command line). Returns a :class:`Sweep`: ``.table`` has one
    row per variant (the varied values as columns, then completion time with
    its interval and quantiles, stage completions, P(met) per target with
    Wilson intervals, and the paired difference from the first variant);
    ``.replications`` has one row per variant and replication. Executors,
    ``folder`` and ``resume`` as in :func:`~sim.experiment.replicate.replicate`.
    """
    if not isinstance(scenario, Scenario):
        scenario = load_scenario(scenario)
    if reps < 1:
        raise ValueError(f"reps must be at least 1, got {reps}")
    seed = scenario.round.seed if seed is None else int(seed)
    paths, combos, scenarios = grid(scenario, vary)
    jobs = [Job(s, seed, tuple(c.items())) for s, c in zip(scenarios, combos, strict=True)]
    wanted = [(v, r) for r in range(reps) for v in range(len(jobs))]
    with Runner(
        executor, workers=workers, dask=dask, folder=folder, resume=resume, progress=progress
    ) as runner:
        done = runner.run(jobs, wanted, label="variants x replications")
    results = [
        Result(s, seed, [done[(v, r)] for r in range(reps)]) for v, s in enumerate(scenarios)
    ]
    return Sweep(scenario, seed, reps, paths, combos, results)
