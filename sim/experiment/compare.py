"""Two runs side by side: paired differences of their KPIs, and which is better at each target.

Two runs made with the same seed share their replications' random numbers
(common random numbers): replication r of run A and replication r of run B had
the same residents arriving at the same moments with the same service times.
The difference B - A is then computed replication by replication and its t
interval is that of the paired differences — far narrower than comparing two
independent means, because the shared noise cancels. Runs with different seeds
are compared as independent samples (Welch's interval for means, Newcombe's for
proportions), and the table says so.

"Better" at a KPI means the interval of the difference excludes zero in that
run's favour (earlier completion, higher P(met), more reported by a target);
otherwise neither is better on this evidence. At a target, the probability of
meeting it decides first, then the share reported by then.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..results.io import RunFolderError, check_run_folder, read_json, read_parquet
from ..results.result import Result
from ..stats import LEVEL, mean_interval, newcombe, t_quantile

STAGES = ("last_swab", "last_delivery", "last_pcr", "last_report")


@dataclass
class Side:
    """One run's per-replication KPIs and what it is."""

    name: str
    seed: int | None
    kpis: pd.DataFrame


def side(run: Result | str | Path, name: str) -> Side:
    """A run given as a Result or as a complete run folder written by ``natsim run``
    (:class:`~sim.results.io.RunFolderError` otherwise)."""
    if isinstance(run, Result):
        return Side(name, run.seed, run.kpis)
    folder = Path(run)
    check_run_folder(folder)  # a run killed before it finished is not compared
    path = folder / "tables" / "kpis.parquet"
    if not path.exists():
        raise RunFolderError(f"{folder}: not a run folder (no tables/kpis.parquet)")
    summary = read_json(folder / "summary.json")
    seed = summary.get("seed") if isinstance(summary, dict) else None
    return Side(str(folder), seed, read_parquet(path))


def _targets(kpis: pd.DataFrame) -> list[str]:
    return [c[len("met_") :] for c in kpis.columns if c.startswith("met_")]


def _welch(a: np.ndarray, b: np.ndarray, level: float) -> tuple[float | None, float | None]:
    """Welch's interval for mean(b) - mean(a) of two independent samples."""
    if a.size < 2 or b.size < 2:
        return None, None
    va, vb = a.var(ddof=1) / a.size, b.var(ddof=1) / b.size
    se = math.sqrt(va + vb)
    d = float(b.mean() - a.mean())
    if se == 0:
        return d, d
    df = (va + vb) ** 2 / (va**2 / (a.size - 1) + vb**2 / (b.size - 1))
    half = t_quantile(0.5 + level / 2, df) * se
    return d - half, d + half


def _row(
    kpi: str,
    target: str | None,
    a: pd.Series,
    b: pd.Series,
    paired: bool,
    higher_is_better: bool,
    proportion: bool,
    level: float,
) -> dict[str, Any]:
    if paired:
        both = pd.concat([a.rename("a"), b.rename("b")], axis=1, join="inner").dropna()
        x = both["a"].to_numpy(dtype=float)
        y = both["b"].to_numpy(dtype=float)
        mean, _, low, high = mean_interval(y - x, level)
        n = x.size
    else:
        x = a.dropna().to_numpy(dtype=float)
        y = b.dropna().to_numpy(dtype=float)
        mean = float(y.mean() - x.mean()) if x.size and y.size else math.nan
        if proportion and x.size and y.size:
            low, high = newcombe(int(x.sum()), x.size, int(y.sum()), y.size, level)
        else:
            low, high = _welch(x, y, level)
        n = min(x.size, y.size)
    better = "neither"
    if low is not None and high is not None:
        if low > 0:
            better = "B" if higher_is_better else "A"
        elif high < 0:
            better = "A" if higher_is_better else "B"
    elif n:
        better = "unknown"
    return {
        "kpi": kpi,
        "target": target,
        "a": float(x.mean()) if x.size else math.nan,
        "b": float(y.mean()) if y.size else math.nan,
        "difference": mean,
        "ci_low": math.nan if low is None else low,
        "ci_high": math.nan if high is None else high,
        "n": int(n),
        "paired": paired,
        "better": better,
    }


def compare(a: Result | str | Path, b: Result | str | Path, level: float = LEVEL) -> pd.DataFrame:
    """KPIs of run ``a`` and run ``b``, their difference (b - a) with its interval, and the better.

    Rows: ``completion_h``, the stage completions, and per target ``met_<t>``
    (P(met)) and ``share_reported_<t>``. Columns: ``kpi``, ``target``, ``a``,
    ``b``, ``difference``, ``ci_low``, ``ci_high``, ``n`` (replications used),
    ``paired`` (same seed: replication by replication) and ``better`` ("A",
    "B", "neither", or "unknown" when one replication gives no interval).
    ``table.attrs`` holds the two runs' names.
    """
    left, right = side(a, "A"), side(b, "B")
    paired = left.seed is not None and left.seed == right.seed
    ka = left.kpis.set_index("replication")
    kb = right.kpis.set_index("replication")
    if paired and not set(ka.index) & set(kb.index):
        paired = False
    rows = []
    for kpi in ["completion_h", *[f"{s}_h" for s in STAGES]]:
        if kpi in ka and kpi in kb:
            rows.append(_row(kpi, None, ka[kpi], kb[kpi], paired, False, False, level))
    for target in [t for t in _targets(ka) if t in _targets(kb)]:
        met_a = ka[f"met_{target}"].astype(float)
        met_b = kb[f"met_{target}"].astype(float)
        rows.append(_row(f"met_{target}", target, met_a, met_b, paired, True, True, level))
        share = f"share_reported_{target}"
        rows.append(_row(share, target, ka[share], kb[share], paired, True, False, level))
    table = pd.DataFrame(rows)
    table.attrs.update({"A": left.name, "B": right.name, "level": level})
    return table


def target_verdicts(table: pd.DataFrame) -> list[tuple[str, str, str]]:
    """For each target: (target, "A"/"B"/"neither", a sentence saying why)."""
    out = []
    for target in dict.fromkeys(t for t in table["target"] if isinstance(t, str)):
        met = table[(table["target"] == target) & table["kpi"].str.startswith("met_")].iloc[0]
        share = table[(table["target"] == target) & table["kpi"].str.startswith("share_")].iloc[0]
        hours = target.removesuffix("h")
        p = f"P(met) {met['a']:.2f} -> {met['b']:.2f}"
        if np.isfinite(met["ci_low"]):
            p += f" ({met['difference']:+.2f}, CI {met['ci_low']:+.2f} to {met['ci_high']:+.2f})"
        s = f"reported by then {100 * share['a']:.1f} % -> {100 * share['b']:.1f} %"
        if np.isfinite(share["ci_low"]):
            s += (
                f" ({100 * share['difference']:+.1f} points, CI {100 * share['ci_low']:+.1f}"
                f" to {100 * share['ci_high']:+.1f})"
            )
        if met["better"] in ("A", "B"):
            out.append((target, met["better"], f"{hours} h: {met['better']} is better: {p}"))
        elif share["better"] in ("A", "B"):
            out.append(
                (target, share["better"], f"{hours} h: {share['better']} is better: {p}; {s}")
            )
        else:
            out.append((target, "neither", f"{hours} h: no clear difference: {p}; {s}"))
    return out
