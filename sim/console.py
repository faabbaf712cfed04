"""The terminal summary a planner reads after ``natsim run``."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

from .units import format_clock

SEGMENT_LABELS = {
    "filling": "filling tubes",
    "pickup wait": "pickup wait",
    "transit": "transit",
    "receiving wait": "receiving queue",
    "receiving": "receiving",
    "plate wait": "waiting for a plate",
    "loading": "plate loading",
    "extraction wait": "extraction queue",
    "extraction": "extraction",
    "PCR wait": "PCR queue",
    "PCR": "PCR",
    "report wait": "report queue",
    "report": "report",
}
STAGE_LABELS = {
    "transport": "transport",
    "receiving": "receiving",
    "loading": "plate loading",
    "extraction": "extraction",
    "pcr": "PCR",
    "report": "reporting",
}


def _at(start: float, hours: float | None) -> str:
    if hours is None:
        return "  --  "
    return f"{format_clock(start + hours * 3600)[:5]}  ({hours:.1f} h)"


def print_summary(
    summary: dict[str, Any], start: float, folder: str | None, console: Console | None = None
) -> None:
    """One replication's headline, in the order a planner asks: done in time? why? where?"""
    console = console or Console()
    s = summary
    console.print(
        f"[bold]{s['scenario']}[/bold]   seed {s['seed']}   "
        f"{s['residents_swabbed']:,} residents   {s['tubes']:,} tubes   {s['plates']:,} plates"
    )
    stages = s["stages_h"]
    console.print(f"  last swab      {_at(start, stages['last_swab'])}")
    console.print(f"  last delivery  {_at(start, stages['last_delivery'])}")
    console.print(f"  last PCR       {_at(start, stages['last_pcr'])}")
    verdicts = []
    for t in s["targets"]:
        if t["met"]:
            verdicts.append(
                f"{t['hours']:g} h target: [green]MET[/green] ({t['spare_h']:.1f} h spare)"
            )
        else:
            verdicts.append(
                f"{t['hours']:g} h target: [red]MISSED[/red] ({100 * t['share_reported']:.1f} % reported by then)"
            )
    console.print(f"  last report    {_at(start, stages['last_report'])}   " + "   ".join(verdicts))
    if not s["finished"]:
        u = s["unfinished"]
        console.print(
            f"  [red]unfinished at the horizon:[/red] {u['tubes']:,} tubes, {u['residents']:,} residents"
        )
        for w in u.get("where", [])[:5]:
            console.print(f"    {w['tubes']:>7,} tubes  {w['status']:<20} at {w['place']}")
    path = sorted(s["critical_path"], key=lambda r: -r["hours"])
    parts = [
        f"{SEGMENT_LABELS.get(r['segment'], r['segment'])} {r['hours']:.1f} h"
        for r in path
        if r["hours"] >= 0.05
    ]
    console.print("  the last tubes spent: " + " | ".join(parts[:6]))
    b = s.get("bottleneck") or {}
    if b:
        what = STAGE_LABELS.get(b["stage"], b["stage"])
        line = f"  bottleneck: {what}"
        if b.get("where"):
            line += f" at {b['where']}"
        if b.get("busy_share_in_window") is not None:
            window = b.get("busy_window") or ["", ""]
            line += (
                f" ({100 * b['busy_share_in_window']:.0f} % busy {window[0][:5]}-{window[1][:5]})"
            )
        console.print(line)
    q = s.get("longest_queue") or {}
    if q:
        at = format_clock(start + q["at_h"] * 3600)[:5]
        console.print(
            f"  longest queue: point {q['point']}, {q['people']:,} people at {at}, "
            f"longest wait there {q['longest_wait_min']:.0f} min; "
            f"{100 * q['share_waiting_over_30min']:.1f} % of residents waited over 30 min"
        )
    util = s.get("utilisation") or {}
    if util:
        console.print(
            "  utilisation: " + " | ".join(f"{k} {100 * v:.0f} %" for k, v in util.items())
        )
    if folder:
        console.print(f"  results in {folder}/  (report.html)")


def print_replications(summary: dict[str, Any], console: Console | None = None) -> None:
    """Several replications: completion and the probability of meeting each target."""
    console = console or Console()
    s = summary
    console.print(
        f"[bold]{s['scenario']}[/bold]   seed {s['seed']}   {s['replications']} replications"
    )
    table = Table(show_header=True, header_style="bold")
    table.add_column("target")
    table.add_column("P(met)", justify="right")
    table.add_column("share reported by then", justify="right")
    for t in s["targets"]:
        table.add_row(
            f"{t['hours']:g} h ({t['clock']})",
            f"{t['p_met']:.2f}",
            f"{100 * t['share_reported']:.1f} %",
        )
    console.print(table)
    if s.get("completion_h") is not None:
        console.print(f"  mean completion {s['completion_h']:.2f} h")
