"""A campaign's folder: its tables, the figure of completion by round, and its page.

::

    <folder>/
      rounds.csv, tables/rounds.parquet     one row a round: completion, P(met), carry-over
      tables/campaign.parquet               one row a round and replication
      figures/completion_by_round.png       completion by round against the targets
      report.html                           self-contained page, verdict first
      summary.json, manifest.json
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from . import report_html as h
from .experiment.campaign import CampaignResult
from .results.io import atomic_write, manifest_basics, staged, to_json, write_parquet
from .units import HOUR

DPI = 110


def completion_by_round(result: CampaignResult) -> Figure:
    """Each round's last result (mean, its interval, p90) against the target lines."""
    rounds = result.rounds()
    fig = Figure(figsize=(10, 5), layout="constrained")
    ax = fig.add_subplot()
    x = rounds["round"].to_numpy()
    mean = rounds["completion_h"].to_numpy(dtype=float)
    low = rounds["completion_h_low"].to_numpy(dtype=float)
    high = rounds["completion_h_high"].to_numpy(dtype=float)
    spread = np.vstack([np.nan_to_num(mean - low), np.nan_to_num(high - mean)])
    ax.errorbar(x, mean, yerr=spread if result.reps > 1 else None, fmt="o-", color="C0",
                capsize=3, label="last result (mean" + (", 95 % CI)" if result.reps > 1 else ")"))  # fmt: skip
    if result.reps > 1:
        ax.plot(x, rounds["completion_p90_h"], "v", color="C1", label="p90")
    targets = sorted({t / HOUR for r in result.campaign.rounds for t in r.scenario.round.targets})
    for t in targets:
        ax.axhline(t, color="0.3", linestyle="--", linewidth=1)
        ax.text(x.max() + 0.3, t, f"{t:g} h", va="center", fontsize=9)
    ax.set_xticks(x)
    ax.set_xlabel("round")
    ax.set_ylabel("hours from the round's start to its last result")
    ax.grid(True, alpha=0.3)
    ax.legend(loc="center right", frameon=False)
    ax.set_title(f"{result.campaign.name}: the last result of each round", fontsize=12)
    return fig


def write_campaign(result: CampaignResult, folder: str | Path, replace: bool = False) -> Path:
    """Write the campaign's folder (complete or not at all); returns it."""
    rounds = result.rounds()
    with staged(folder, replace) as tmp:
        (tmp / "tables").mkdir()
        write_parquet(rounds, tmp / "tables" / "rounds.parquet")
        write_parquet(result.table, tmp / "tables" / "campaign.parquet")
        rounds.to_csv(tmp / "rounds.csv", index=False)
        (tmp / "figures").mkdir()
        png = tmp / "figures" / "completion_by_round.png"
        completion_by_round(result).savefig(png, dpi=DPI)
        summary = {
            "kind": "campaign",
            "campaign": result.campaign.name,
            "seed": result.seed,
            "replications": result.reps,
            "carry_over": result.campaign.carry_over,
            "rounds": rounds.to_dict("records"),
        }
        atomic_write(tmp / "summary.json", to_json(summary).encode())
        manifest = {**manifest_basics(None), "kind": "campaign", "scenario": result.campaign.name,
                    "seed": result.seed, "replications": result.reps}  # fmt: skip
        atomic_write(tmp / "manifest.json", to_json(manifest).encode())
        html = page(summary, rounds, png.read_bytes(), manifest)
        atomic_write(tmp / "report.html", html.encode())
    return Path(folder)


def rebuild_campaign_page(folder: str | Path) -> Path:
    """Write a campaign folder's ``report.html`` again from its files (no run)."""
    from .results.io import read_json, read_parquet

    folder = Path(folder)
    summary = read_json(folder / "summary.json")
    rounds = read_parquet(folder / "tables" / "rounds.parquet")
    png = folder / "figures" / "completion_by_round.png"
    data = png.read_bytes() if png.is_file() else None
    html = page(summary, rounds, data, read_json(folder / "manifest.json"))
    atomic_write(folder / "report.html", html.encode())
    return folder / "report.html"


def page(
    summary: dict[str, Any], rounds: pd.DataFrame, png: bytes | None, manifest: dict[str, Any]
) -> str:
    """The campaign's page: which rounds met each target (verdict), the figure, the table.
    ``summary`` is the folder's summary.json (name, seed, replications, carry-over)."""
    targets = [c.removeprefix("p_met_") for c in rounds.columns
               if c.startswith("p_met_") and not c.endswith(("_low", "_high"))]  # fmt: skip
    parts = []
    kind = "good"
    reps = int(summary["replications"])
    every = "every replication" if reps > 1 else "its one replication"
    for label in targets:
        p = rounds[f"p_met_{label}"]
        always, never = int((p == 1.0).sum()), int((p == 0.0).sum())
        shown = h.e(label.replace("h", " h"))
        text = f"{shown} target met in {every} of {always} of {len(rounds)} rounds"
        if never:
            text += f", in none of {never}"
        if len(rounds) - always - never:
            text += f", in some of {len(rounds) - always - never}"
        parts.append(text)
        if always < len(rounds):
            kind = "fair" if always else "bad"
    carried = int((rounds["carried_tubes"] > 0).sum())
    parts.append(f"{carried} rounds start with tubes carried over")
    header = ["round", "day", "start", "last result (h)", "95 % CI", *[f"P(met {t})" for t in targets],
              "tubes carried in"]  # fmt: skip
    rows = []
    for _, r in rounds.iterrows():
        row = [str(r["round"]), str(r["day"]), h.e(r["start"]), h.hours(r["completion_h"]),
               h.interval(r["completion_h_low"], r["completion_h_high"])]  # fmt: skip
        for t in targets:
            row.append(h.p_cell(r[f"p_met_{t}"], r[f"p_met_{t}_low"], r[f"p_met_{t}_high"]))
        row.append(f"{r['carried_tubes']:,.0f}")
        rows.append(row)
    rule = (
        "Carry-over: the staff and instruments still busy with a round's tubes when the next "
        "round starts are out of the next round at those times (docs/experiments.md, "
        "<i>Campaigns</i>)."
        if summary["carry_over"]
        else "Carry-over is off: every round starts with empty labs."
    )
    head = (
        f"<h1>{h.e(summary['campaign'])}</h1>"
        + h.verdict(parts, kind)
        + f"<p>{len(rounds)} rounds, {summary['replications']} replication(s) each, seed "
        f"{summary['seed']}. "
        f"{rule}</p>"
    )
    figure = h.figure(png, "The last result of each round", "Mean over replications, with its "
                      "95 % interval and p90, against the target lines.")  # fmt: skip
    body = "<h2>Rounds</h2>" + h.table(header, rows, numeric=tuple(range(3, len(header))))
    return h.document(
        summary["campaign"],
        [head + figure, body],
        h.footer(manifest, "rounds.csv, tables/*.parquet"),
    )
