"""The terminal summary a planner reads after ``natsim run``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table

from .results.kpis import capacity_phrases, failure_phrases
from .stages import resource_label, segment_label, utilisation_label
from .terminal import terminal
from .units import format_minute, format_share

if TYPE_CHECKING:
    import pandas as pd

    from .experiment.plan import Plan
    from .experiment.sweep import Sweep


def _at(start: float, hours: float | None) -> str:
    if hours is None:
        return "  --  "
    return f"{format_minute(start + hours * 3600)}  ({hours:.1f} h)"


def print_warnings(warnings: list[str], console: Console | None = None) -> None:
    """The pitfalls found in the scenario, one a line, before anything else."""
    console = console or terminal()
    for text in warnings:
        console.print(f"[yellow]warning:[/yellow] {text}", highlight=False)


def print_summary(
    summary: dict[str, Any],
    start: float,
    folder: str | None,
    console: Console | None = None,
    report: bool = True,
) -> None:
    """One replication's headline, in the order a planner asks: done in time? why? where?"""
    console = console or terminal()
    s = summary
    print_warnings(s.get("warnings") or [], console)
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
                f"{t['hours']:g} h target: [red]MISSED[/red] ({format_share(t['share_reported'])} reported by then)"
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
        f"{segment_label(s, r['segment'])} {r['hours']:.1f} h" for r in path if r["hours"] >= 0.05
    ]
    console.print("  the last tubes spent: " + " | ".join(parts[:6]))
    print_advice(s, console, wait=s.get("longest_wait") or {})
    print_positives(s.get("positives"), console, timed="followup" in s)
    print_followup(s.get("followup"), start, console)
    print_door(s.get("door_to_door"), start, console)
    print_failures(s.get("failures"), console)
    q = s.get("longest_queue") or {}
    if q:
        at = format_minute(start + q["at_h"] * 3600)
        console.print(
            f"  longest queue: point {q['point']}, {q['people']:,} people at {at}, "
            f"longest wait there {q['longest_wait_min']:.0f} min; "
            f"{100 * q['share_waiting_over_30min']:.1f} % of residents waited over 30 min"
        )
    util = s.get("utilisation") or {}
    if util:
        console.print(
            "  utilisation: "
            + " | ".join(f"{utilisation_label(k)} {100 * v:.0f} %" for k, v in util.items())
        )
    print_capacity(s.get("lab_capacity"), console)
    for text in s.get("disruptions") or []:
        console.print(f"  disruption: {text}")
    if folder:
        console.print(f"  results in {folder}/" + ("  (report.html)" if report else ""))


def print_positives(
    positives: dict[str, Any] | None, console: Console, timed: bool = False
) -> None:
    """The positives line: what the pooled tubes read and what testing members one a tube
    finds (means over replications when the figures are statistics)."""
    if not positives:
        return

    def value(key: str) -> float:
        v = positives[key]
        return float(v["mean"] if isinstance(v, dict) else v)

    console.print(
        f"  positives: {value('positive_tubes'):,.0f} tubes read positive -> "
        f"{value('recalled_residents'):,.0f} residents tested one a tube, "
        f"{value('confirmed_positives'):,.0f} confirmed of {value('cases'):,.0f} cases "
        f"({value('missed_positives'):,.0f} missed); {value('tests_per_resident'):.3f} tests "
        "a resident" + ("" if timed else " (positives.followup times the follow-up)")
    )


def print_followup(followup: dict[str, Any] | None, start: float, console: Console) -> None:
    """The follow-up line: when the last single-tube result of the recalls is out, and each
    target judged for it (P(met) over replications)."""
    if not followup:
        return
    if "completion" in followup:  # over replications
        c = followup["completion"]
        done = (
            "unknown (some replications unfinished)" if c["mean"] is None else f"{c['mean']:.1f} h"
        )
        verdicts = "   ".join(
            f"{t['hours']:g} h: P(met) {t['p_met']:.2f} [{t['p_met_ci'][0]:.2f}, {t['p_met_ci'][1]:.2f}]"
            for t in followup["targets"]
        )
        console.print(f"  follow-up: last single-tube result, mean {done}   {verdicts}")
        return
    if followup["completion_h"] is None:
        console.print(
            f"  follow-up: [red]unfinished at the horizon[/red]: {followup['recalls_done']:,} of "
            f"{followup['recalls']:,} recalls have their single-tube results"
        )
        return
    verdicts = "   ".join(
        f"{t['hours']:g} h target: {'MET' if t['met'] else 'MISSED'}" for t in followup["targets"]
    )
    console.print(
        f"  follow-up: {followup['recalls']:,} recalls, last single-tube result "
        f"{_at(start, followup['completion_h'])}   {verdicts}"
    )


def print_door(door: dict[str, Any] | None, start: float, console: Console) -> None:
    """The door-to-door line: households visited, the last swab at home and the last of
    their results (one replication)."""
    if not door:
        return
    if "last_swab" in door:  # over replications
        swab = door["last_swab"]["mean"]
        console.print(
            f"  door-to-door: {door['teams']:,} teams, {door['households']:,} households, "
            f"{door['residents']:,} residents; last swab at home, mean "
            + ("unknown (some after the horizon)" if swab is None else f"{swab:.1f} h")
        )
        return
    swab, report = door["last_swab_h"], door["last_report_h"]
    console.print(
        f"  door-to-door: {door['teams']:,} teams, {door['households']:,} households, "
        f"{door['residents']:,} residents; last swab at home "
        + ("[red]after the horizon[/red]" if swab is None else _at(start, swab))
        + "; their last result "
        + ("[red]not by the horizon[/red]" if report is None else _at(start, report))
    )


def print_capacity(rows: list[dict[str, Any]] | None, console: Console) -> None:
    """Each lab's capacity in tubes a day (and the published figure when given)."""
    if not rows:
        return
    console.print("  lab capacity, tubes a day: " + " | ".join(capacity_phrases(rows)))


def print_failures(failures: list[dict[str, Any]] | None, console: Console) -> None:
    """The breakdowns line: how many and the unit-hours lost, per lab stage and vehicles."""
    if failures is None:
        return
    parts = failure_phrases(failures)
    console.print("  breakdowns: " + ("; ".join(parts) if parts else "none in this round"))


def _resource(s: dict[str, Any], resource: str | None, where: str | None) -> str:
    what = resource_label(s, resource or "")
    return f"{what} at {where}" if where else what


def _saving(hours: float, ci: list[float] | None) -> str:
    verb = "save" if hours >= 0 else "cost"
    text = f"{verb} {abs(hours):.2f} h"
    if ci is not None:
        text += f" [{ci[0]:+.2f}, {ci[1]:+.2f}]"
    return text


def lever_line(row: dict[str, Any], targets: list[float]) -> str:
    """One lever as a planner reads it: the change, what it does to the round and the targets."""
    delta = row["completion_h_delta"]
    low, high = row.get("completion_h_delta_low"), row.get("completion_h_delta_high")
    ci = "" if low is None or high is None else f" [{low:+.2f}, {high:+.2f}]"
    parts = [f"{row['action']} ({row['now']} -> {row['to']}): {delta:+.2f} h{ci}"]
    for hours in targets:
        d = row.get(f"p_met_{hours:g}h_delta")
        if d:
            parts.append(f"P(met {hours:g} h) {d:+.2f}")
    if row.get("cost") is not None:
        parts.append(f"cost {row['cost']:,.4g}")
    return ", ".join(parts)


def print_advice(
    s: dict[str, Any],
    console: Console,
    wait: dict[str, Any] | None = None,
    waits: list[dict[str, Any]] | None = None,
    replications: int = 1,
) -> None:
    """The bottleneck (from the levers, when measured), where the last tubes waited longest,
    and the top three levers."""
    b = s.get("bottleneck")
    levers = s.get("levers") or {}
    waited = ""
    if wait:
        label = segment_label(s, wait.get("segment", ""))
        waited = f"{label} {wait['hours']:.1f} h"
        if wait.get("where"):
            waited += f" at {wait['where']}"
        if wait.get("utilisation") is not None:
            window = wait.get("busy_window") or ["", ""]
            waited += f" ({100 * wait['utilisation']:.0f} % busy {window[0]}-{window[1]})"
    elif waits:
        waited = "; ".join(
            f"{_resource(s, w['stage'], w.get('where'))} in {w['replications']} of {replications}"
            for w in waits[:2]
        )
    if b is None:
        if waited:
            console.print(f"  the last tubes waited longest: {waited}")
        why = levers.get("why") or "natsim run --levers measures what a step more of each buys"
        console.print(f"  bottleneck: not measured ({why})")
        return
    reps = levers.get("replications", 1)
    basis = (
        f"{reps} replication{'s' if reps != 1 else ''}, paired" if reps > 1 else "this replication"
    )
    if b.get("resource") is None:
        why = str(b["why"])
        if why.startswith("not judged: "):
            console.print(f"  bottleneck: not judged — {why[len('not judged: ') :]}")
        else:
            console.print(f"  bottleneck: none — {why} ({basis})")
    else:
        step = f"{b['step']:g} more {b['unit']}"
        console.print(
            f"  bottleneck: {_resource(s, b['resource'], b.get('where'))} — {step} "
            f"({b['now']} -> {b['to']}) {_saving(b['saves_h'], b.get('saves_h_ci'))} ({basis})"
        )
    if waited:
        same = (
            wait and b.get("resource") == wait.get("stage") and b.get("where") == wait.get("where")
        )
        console.print(f"  the last tubes waited longest{' for it too' if same else ''}: {waited}")
    rows = levers.get("top", [])
    targets = [t["hours"] for t in s.get("targets", [])]
    if rows:
        console.print("  what a step more buys (last result, paired):")
        for row in rows:
            console.print(f"    {lever_line(row, targets)}", highlight=False)


def _h(value: float | None, digits: int = 2) -> str:
    return "--" if value is None else f"{value:.{digits}f}"


def _ci(low: float | None, high: float | None, digits: int = 2, sign: str = "") -> str:
    """An interval as "[low, high]" ("--" when there is none)."""
    if low is None or high is None or low != low or high != high:  # None or NaN
        return "--"
    return f"[{low:{sign}.{digits}f}, {high:{sign}.{digits}f}]"


def _minutes(hours: float) -> str:
    return f"{60 * hours:.1f} min" if hours < 1 else f"{hours:.2f} h"


def print_state(summary: dict[str, Any], folder: str, console: Console | None = None) -> None:
    """Where everything is at the moment a round was stopped (``natsim run --until``)."""
    console = console or terminal()
    s = summary
    console.print(
        f"[bold]{s['scenario']}[/bold]   seed {s['seed']}   replication {s['replication']}   "
        f"stopped at {s['at']}"
    )
    console.print(
        f"  residents: {s['swabbed']:,} swabbed, {s['in_line']:,} in line", highlight=False
    )
    console.print(
        f"  tubes: {s['tubes_sealed']:,} sealed; {s['tubes_at_points']:,} at the points, "
        f"{s['tubes_on_road']:,} on {s['vehicles_on_road']:,} vehicles, {s['tubes_in_labs']:,} "
        f"in the labs, {s['tubes_reported']:,} reported",
        highlight=False,
    )
    console.print(f"  state in {folder}/state/  (points.csv, vehicles.csv, labs.csv)")
    console.print(f"  forecast the rest: natsim nowcast SCENARIO --state {folder}")


def _print_nowcast(info: dict[str, Any], by_hour: dict[str, Any], start: float,
                   console: Console) -> None:  # fmt: skip
    """The head of a nowcast: from when, from what, by which rules; the share by each hour."""
    kind = "as saved, to the second" if info["exact"] else "from the counts given"
    console.print(f"  [bold]forecast from {info['from']}[/bold] (state {info['state']}: {kind})")
    t = info.get("totals") or {}
    if t:
        console.print(
            f"  at {info['from']}: {t['swabbed']:,} swabbed, {t['in_line']:,} in line; tubes "
            f"{t['tubes_at_points']:,} at points, {t['tubes_on_road']:,} on the road, "
            f"{t['tubes_in_labs']:,} in labs, {t['tubes_reported']:,} reported",
            highlight=False,
        )
    for rule in info.get("rules") or []:
        console.print(f"  rule: {rule}", highlight=False)
    for text in info.get("warnings") or []:
        console.print(f"  [yellow]warning[/yellow]: {text}", highlight=False)
    hours, reported = by_hour.get("hours") or [], (by_hour.get("reported") or {}).get("mean")
    if hours and reported:
        shown = [
            f"{format_minute(start + h * 3600)} {format_share(r, 0)}"
            for h, r in zip(hours, reported, strict=True)
            if r > 0 and (not shown_before(reported, h, hours))
        ]
        console.print(f"  reported by the hour (mean): {', '.join(shown)}", highlight=False)


def shown_before(reported: list[float], h: float, hours: list[float]) -> bool:
    """Whether the hour before ``h`` already had every result (nothing new to show)."""
    k = hours.index(h)
    return k > 0 and reported[k - 1] >= 1.0


def print_replications(
    summary: dict[str, Any],
    start: float,
    folder: str | None,
    console: Console | None = None,
    report: bool = True,
) -> None:
    """Several replications: completion and stages with intervals, P(met) for every target."""
    console = console or terminal()
    s = summary
    print_warnings(s.get("warnings") or [], console)
    nowcast = (s.get("experiment") or {}).get("nowcast")
    if nowcast:
        _print_nowcast(nowcast, s.get("by_hour") or {}, start, console)
    n = s["replications"]
    console.print(
        f"[bold]{s['scenario']}[/bold]   seed {s['seed']}   {n} replications   "
        f"{s['residents_swabbed']:,.0f} residents   {s['tubes']:,.0f} tubes (means)"
    )
    table = Table(show_header=True, header_style="bold", box=None, padding=(0, 1))
    table.add_column("  hours from the start")
    for name in ("mean", "clock", "95 % CI", "sd", "p50", "p90", "p95", "min", "max"):
        table.add_column(name, justify="right")
    rows = [("last result", s["completion"])]
    labels = {"last_swab": "last swab", "last_delivery": "last delivery", "last_pcr": "last PCR"}
    rows += [(labels[k], v) for k, v in s["stages"].items() if k in labels]
    for label, d in rows:
        ci = d.get("ci")
        table.add_row(
            f"  {label}",
            _h(d["mean"]),
            format_minute(start + d["mean"] * 3600) if d["mean"] is not None else "--",
            _ci(*ci) if ci else "--",
            _h(d["sd"]),
            *(_h(d[q]) for q in ("p50", "p90", "p95", "min", "max")),
        )
    console.print(table)
    unfinished = s["completion"].get("unfinished", 0)
    if unfinished:
        console.print(
            f"  [red]{unfinished} of {n} replications unfinished at the horizon[/red]: "
            "the mean completion time is unknown"
        )
    for t in s["targets"]:
        low, high = t["p_met_ci"]
        colour = "green" if t["p_met"] >= 0.9 else ("yellow" if t["p_met"] >= 0.5 else "red")
        console.print(
            f"  {t['hours']:g} h target ({t['clock']}): [{colour}]P(met) {t['p_met']:.2f}"
            f"[/{colour}] {_ci(low, high)} ({t['replications_met']} of {n} replications met it); "
            f"{format_share(t['share_reported'])} reported by then on average",
            highlight=False,
        )
    print_advice(s, console, waits=s.get("longest_waits") or [], replications=n)
    print_positives(s.get("positives"), console, timed="followup" in s)
    print_followup(s.get("followup"), start, console)
    print_door(s.get("door_to_door"), start, console)
    e = s.get("experiment") or {}
    if "precision_h" in e:
        half = e.get("half_width_h")
        shown = "--" if half is None else _minutes(half)
        wanted = _minutes(e["precision_h"])
        if e.get("reached"):
            console.print(
                f"  precision: the 95 % CI of the mean last result is ± {shown} (asked ± {wanted}), "
                f"reached with {n} replications"
            )
        else:
            why = e.get("note") or f"stopped at the cap of {e['max_replications']} replications"
            console.print(
                f"  [yellow]precision ± {wanted} not reached[/yellow] "
                f"(± {shown} with {n} replications): {why}"
            )
    print_capacity(s.get("lab_capacity"), console)
    for text in s.get("disruptions") or []:
        console.print(f"  disruption: {text}")
    if folder:
        what = "report.html: replication 0 in detail; " if report else ""
        console.print(f"  results in {folder}/  ({what}tables/kpis.parquet: every replication)")


def print_sweep(sweep: Sweep, folder: str | None, console: Console | None = None) -> None:
    """A sweep: one row per variant with completion, P(met) and the change from the first."""
    console = console or terminal()
    t = sweep.table
    console.print(
        f"[bold]{sweep.scenario.round.name}[/bold]   seed {sweep.seed}   {len(t)} variants x "
        f"{sweep.reps} replications (the same replications in every variant)"
    )
    table = Table(show_header=True, header_style="bold", box=None, padding=(0, 1))
    for path in sweep.paths:
        table.add_column(path, justify="right")
    table.add_column("last result h", justify="right")
    table.add_column("95 % CI", justify="right")
    table.add_column("p90", justify="right")
    table.add_column("vs first, paired [95 % CI]", justify="right")
    for hours in sweep.targets_h:
        table.add_column(f"P(met {hours:g} h) [95 % CI]", justify="right")
    for i in range(len(t)):
        row = t.iloc[i]
        cells = [str(t[p].iloc[i]) for p in sweep.paths]
        mean = row["completion_h_mean"]
        cells.append("unfinished" if mean != mean else f"{mean:.2f}")
        cells.append(_ci(row["completion_h_ci_low"], row["completion_h_ci_high"]))
        p90 = row["completion_h_p90"]
        cells.append("--" if p90 != p90 else f"{p90:.2f}")
        diff = row["completion_h_vs_first"]
        low, high = row["completion_h_vs_first_low"], row["completion_h_vs_first_high"]
        cells.append("--" if diff != diff else f"{diff:+.2f} {_ci(low, high, sign='+')}")
        for hours in sweep.targets_h:
            name = f"p_met_{hours:g}h"
            cells.append(f"{row[name]:.2f} {_ci(row[name + '_low'], row[name + '_high'])}")
        table.add_row(*cells)
    console.print(table)
    if folder:
        console.print(
            f"  results in {folder}/  (sweep.csv, sweep.parquet, replications.parquet, "
            "figures/sweep.png)"
        )


def print_comparison(table: pd.DataFrame, console: Console | None = None) -> None:
    """Two runs: the KPI differences B - A with intervals, then a verdict per target."""
    from .experiment.compare import target_verdicts

    console = console or terminal()
    a, b = table.attrs.get("A", "A"), table.attrs.get("B", "B")
    paired = bool(table["paired"].all()) if len(table) else False
    n = int(table["n"].max()) if len(table) else 0
    how = (
        f"paired replication by replication ({n} pairs, same seed: common random numbers)"
        if paired
        else f"as independent samples (different seeds; up to {n} replications each)"
    )
    console.print(f"A = {a}\nB = {b}\ncompared {how}", highlight=False)
    out = Table(show_header=True, header_style="bold", box=None, padding=(0, 1))
    for name in ("KPI", "A", "B", "B - A", "95 % CI", "better"):
        out.add_column(name, justify="left" if name == "KPI" else "right")
    for _, row in table.iterrows():
        kpi = str(row["kpi"])
        share = kpi.startswith("share_reported_")
        scale, digits = (100.0, 1) if share else (1.0, 2)
        label = kpi
        if kpi.startswith("met_"):
            label = f"P(met {kpi[4:-1]} h)"
        elif share:
            label = f"% reported by {kpi[len('share_reported_') : -1]} h"
        elif kpi == "completion_h":
            label = "last result (h)"
        else:
            label = kpi.removesuffix("_h").replace("_", " ") + " (h)"
        low, high = row["ci_low"], row["ci_high"]
        out.add_row(
            label,
            f"{scale * row['a']:.{digits}f}",
            f"{scale * row['b']:.{digits}f}",
            f"{scale * row['difference']:+.{digits}f}",
            _ci(scale * low, scale * high, digits, "+"),
            str(row["better"]),
        )
    console.print(out)
    for _, winner, sentence in target_verdicts(table):
        colour = "green" if winner in ("A", "B") else "yellow"
        console.print(f"  [{colour}]{sentence}[/{colour}]", highlight=False)


def print_plan(
    plan: Plan, scenario_path: str, folder: str | None, console: Console | None = None
) -> None:
    """A capacity plan: the evidence table, then the answer and how to check it."""
    console = console or terminal()
    evidence = plan.evidence
    rule = "Wilson 95 % lower bound of P(met)" if plan.rule == "lower" else "estimated P(met)"
    console.print(
        f"[bold]{plan.scenario.round.name}[/bold]   seed {plan.seed}   target {plan.target_h:g} h "
        f"with P(met) >= {plan.confidence:g} (judged on the {rule})"
    )
    table = Table(show_header=True, header_style="bold", box=None, padding=(0, 1))
    table.add_column("#", justify="right")
    for r in plan.resources:
        table.add_column(r.path.split(".", 1)[-1], justify="right")
    for name in ("cost", "reps", "P(met)", "95 % CI", "mean h", "verdict", "why"):
        table.add_column(name, justify="left" if name in ("verdict", "why") else "right")
    q = [c for c in evidence.columns if c.startswith("completion_p")]
    for _, row in evidence.iterrows():
        mean = row["completion_mean_h"]
        verdict = str(row["verdict"])
        colour = "green" if verdict == "meets" else "red"
        table.add_row(
            str(row["step"]),
            *(str(row[r.path]) for r in plan.resources),
            f"{row['cost']:g}",
            str(row["replications"]),
            f"{row['p_met']:.2f}",
            _ci(row["p_met_low"], row["p_met_high"]),
            "--" if mean is None or mean != mean else f"{mean:.2f}",
            f"[{colour}]{verdict}[/{colour}]",
            str(row["why"]),
        )
    console.print(table)
    if q:
        console.print(f"  ({len(evidence)} combinations tried; {q[0]} is in the evidence file)")
    if plan.best is None or plan.best_evaluation is None:
        console.print(f"  [red]no combination in the ranges meets the target[/red]: {plan.method}")
    else:
        ev = plan.best_evaluation
        settings = "  ".join(f"{path}={value}" for path, value in plan.best.items())
        changes = [
            f"{r.path.split('.', 1)[-1]} {plan.best[r.path] - r.current:+d}"
            for r in plan.resources
            if r.current is not None
        ]
        console.print(
            f"  [bold green]cheapest found:[/bold green] {settings}   cost {ev.cost:g}"
            + (f"   (change from the scenario: {', '.join(changes)})" if changes else "")
        )
        console.print(
            f"  P(met {plan.target_h:g} h) {ev.p_met:.2f}, 95 % CI {_ci(ev.p_low, ev.p_high)}, "
            f"over {ev.replications} replications; method: {plan.method}"
        )
        sets = " ".join(f"--set {path}={value}" for path, value in plan.best.items())
        console.print(
            f"  check it: natsim run {scenario_path} {sets} --reps {max(ev.replications, 100)}",
            highlight=False,
        )
    if folder:
        console.print(f"  results in {folder}/  (plan.json, evidence.csv)")
