"""``report.html``: one static page a planner opens after ``natsim run``.

The page is self-contained (inline CSS, no JavaScript, nothing fetched from the
network); its pictures are the PNG files :func:`sim.plots.save_all` writes next
to it, referenced as ``figures/<name>.png``. A result of several replications
also gets ``figures/completion_distribution.png``
(:func:`sim.plots.completion_distribution`, every replication's completion time
against the targets), shown first. Every piece of text that comes from the
scenario (names, ids) is HTML-escaped.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from datetime import datetime
from html import escape
from pathlib import Path
from typing import Any

import pandas as pd

from .plots import DPI, clock, completion_distribution, duration, part, save_all, verdict
from .results.io import atomic_write
from .results.kpis import capacity_phrases, failure_phrases
from .results.result import Result
from .stages import resource_label, segment_label, utilisation_label
from .units import format_share

#: the figure of a result with several replications (what ``natsim run --reps`` writes)
DISTRIBUTION = "completion_distribution"

CAPTIONS = {
    DISTRIBUTION: (
        "When the last result comes, over all replications",
        "Completion time of every replication (empirical distribution: each step is one "
        "replication) against the target lines. Where the curve crosses a target line is the "
        "share of replications that met it, P(met), printed with its Wilson 95 % interval.",
    ),
    "cumulative": (
        "Progress of the round",
        "Share of residents swabbed and of tubes delivered, tested (PCR done) and reported, "
        "against the target lines. The round is done when the green curve reaches 100 %.",
    ),
    "critical_path": (
        "Where the last tubes spent their time",
        "Mean time the last 1 % of tubes to be reported spent in each step, in order, from "
        "their first resident's arrival at the point: the wait in line comes first. Waits "
        "in line, for pickup (orange) and in lab queues (red) are the waits to shorten; "
        "the longest is named above as where the last tubes waited longest (the bottleneck "
        "is the resource whose next step buys the most time).",
    ),
    "lab_backlog": (
        "Lab backlog",
        "Tubes delivered to each lab that have no result yet, and PCR instruments running "
        "(dotted: instruments installed).",
    ),
    "point_queues": (
        "Queues at sampling points",
        "People in line at the points with the longest peak queue.",
    ),
    "utilisation": (
        "Lab utilisation",
        "Busy time of each lab stage over its units and the lab's working span "
        "(from opening to its last report).",
    ),
}

CSS = """
body { font-family: -apple-system, "Segoe UI", Roboto, "Noto Sans", "Helvetica Neue", Arial,
       sans-serif; color: #1d1d1f; max-width: 1150px; margin: 1.5em auto; padding: 0 1em;
       line-height: 1.45; }
h1 { font-size: 1.7em; margin-bottom: 0.1em; }
h2 { font-size: 1.25em; border-bottom: 2px solid #ddd; padding-bottom: 0.2em; margin-top: 1.8em; }
.meta { color: #666; margin-top: 0; }
.verdict { font-size: 1.25em; font-weight: 600; padding: 0.6em 0.9em; border-radius: 6px;
           margin: 0.8em 0; }
.verdict.good { background: #e7f5e7; border-left: 6px solid #1b6e1b; }
.verdict.bad { background: #fbe9e9; border-left: 6px solid #b01010; }
.badge { display: inline-block; padding: 0.05em 0.5em; border-radius: 4px; color: #fff;
         font-weight: 700; font-size: 0.9em; letter-spacing: 0.03em; }
.badge.met { background: #1b6e1b; }
.badge.missed { background: #b01010; }
table { border-collapse: collapse; margin: 0.5em 0 1em; font-size: 0.93em; }
th, td { padding: 0.3em 0.7em; border-bottom: 1px solid #e3e3e3; text-align: left; }
th { background: #f4f4f6; font-weight: 600; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
.facts { display: grid; grid-template-columns: repeat(auto-fit, minmax(320px, 1fr));
         gap: 0 2em; }
.facts p { margin: 0.35em 0; }
.warn { background: #fff4e0; border-left: 6px solid #d08000; padding: 0.5em 0.9em;
        border-radius: 6px; }
figure { margin: 1.2em 0 2em; }
figure img { max-width: 100%; height: auto; border: 1px solid #e3e3e3; }
figcaption { color: #444; font-size: 0.93em; margin-top: 0.3em; }
footer { color: #888; font-size: 0.85em; margin-top: 3em; border-top: 1px solid #ddd;
         padding-top: 0.5em; }
"""


# -- small builders ----------------------------------------------------------------
def _e(value: Any) -> str:
    return escape(str(value), quote=True)


def _pct(share: float | None, digits: int = 0) -> str:
    if share is None or not math.isfinite(share):
        return "--"
    return format_share(share, digits)


def _at(start: float, hours: float | None) -> str:
    if hours is None or not math.isfinite(hours):
        return "--"
    return f"{clock(start, hours)} ({hours:.1f} h)"


def _badge(met: bool) -> str:
    return (
        '<span class="badge met">MET</span>' if met else '<span class="badge missed">MISSED</span>'
    )


def _table(
    header: Sequence[str], rows: Iterable[Sequence[str]], numeric: Sequence[int] = ()
) -> str:
    """An HTML table; ``header`` and ``rows`` must already be escaped HTML."""

    def cell(tag: str, i: int, text: str) -> str:
        cls = ' class="num"' if i in numeric else ""
        return f"<{tag}{cls}>{text}</{tag}>"

    head = "".join(cell("th", i, h) for i, h in enumerate(header))
    body = "\n".join(
        "<tr>" + "".join(cell("td", i, c) for i, c in enumerate(row)) + "</tr>" for row in rows
    )
    return f"<table>\n<thead><tr>{head}</tr></thead>\n<tbody>\n{body}\n</tbody>\n</table>"


# -- sections ----------------------------------------------------------------------
def _headline(result: Result, k: dict[str, Any], distribution: bool = False) -> str:
    if result.replications > 1:
        return _headline_replications(result, distribution)
    start = result.scenario.round.start
    good = k["finished"] and all(t["met"] for t in k["targets"])
    out = [f'<div class="verdict {"good" if good else "bad"}">{_e(verdict(k, start))}</div>']
    header = ["target", "clock", "verdict", "spare time", "share reported by then"]
    rows = []
    for t in k["targets"]:
        spare = t.get("spare_h")
        rows.append(
            [
                _e(f"{t['hours']:g} h"),
                _e(clock(start, t["hours"])),
                _badge(bool(t["met"])),
                _e(duration(spare) if spare is not None and spare >= 0 else "--"),
                _e(_pct(t["share_reported"], 1)),
            ]
        )
    out.append(_table(header, rows, numeric=(3, 4)))
    return "\n".join(out)


def _headline_replications(result: Result, distribution: bool) -> str:
    """Several replications: the distribution is the answer (median, p90, P(met)), not one run."""
    start = result.scenario.round.start
    s = result.summary()
    n = result.replications
    c = s["completion"]
    good = all(t["p_met"] >= 0.9 for t in s["targets"])
    median, p90 = c.get("p50"), c.get("p90")
    parts = [f"over {n} replications: last result median {_at(start, median)}"]
    parts.append(f"p90 {_at(start, p90)}")
    for t in s["targets"]:
        low, high = t["p_met_ci"]
        parts.append(f"P(met {t['hours']:g} h) {t['p_met']:.2f} [{low:.2f}, {high:.2f}]")
    out = [f'<div class="verdict {"good" if good else "bad"}">{_e(", ".join(parts))}</div>']
    header = ["target", "clock", "P(met)", "95 % interval", "replications met it",
              "share reported by then (mean)"]  # fmt: skip
    rows = []
    for t in s["targets"]:
        low, high = t["p_met_ci"]
        rows.append(
            [
                _e(f"{t['hours']:g} h"),
                _e(t["clock"]),
                _e(f"{t['p_met']:.2f}"),
                _e(f"[{low:.2f}, {high:.2f}]"),
                _e(f"{t['replications_met']} of {n}"),
                _e(_pct(t["share_reported"], 1)),
            ]
        )
    out.append(_table(header, rows, numeric=(2, 3, 4, 5)))
    unfinished = c.get("unfinished", 0)
    if unfinished:
        out.append(
            f'<div class="warn"><p>{unfinished} of {n} replications did not finish by the '
            "horizon: the mean completion time is unknown.</p></div>"
        )
    shown = f"replication {_e(result.parts[0].replication)} of {n}"
    out.append(
        f"<p>The distribution of completion times covers all {n} replications; the other "
        f"figures and the tables below show {shown} in detail.</p>"
        if distribution
        else f"<p>The figures and tables below show {shown} in detail.</p>"
    )
    return "\n".join(out)


def _by_hour(result: Result) -> str:
    """Share of residents swabbed, delivered, tested and reported by every hour (with the
    10-90 % band over replications), up to the first hour everything is reported."""
    s = result.summary()
    b = s.get("by_hour") or {}
    if not b:
        return ""
    start = result.scenario.round.start
    steps = ("swabbed", "delivered", "tested", "reported")
    several = result.replications > 1

    def cell(name: str, i: int) -> str:
        if not several:
            return _pct(b[name][i], 1)
        d = b[name]
        band = f" ({_pct(d['p10'][i])}-{_pct(d['p90'][i])})" if d["p90"][i] > d["p10"][i] else ""
        return _pct(d["mean"][i], 1) + band

    def share(name: str, i: int) -> float:
        return float(b[name]["mean"][i] if several else b[name][i])

    rows = []
    for i, hours in enumerate(b["hours"]):
        rows.append([_e(clock(start, hours)), _e(f"{hours:g} h"), *(_e(cell(n, i)) for n in steps)])
        if share("reported", i) >= 1.0:
            break
    head = ["clock", "hours from start", *(f"{n} by then" for n in steps)]
    note = (
        f"<p>Mean share of the residents who came, over {result.replications} replications, "
        "with the 10-90 % band of the replications in brackets.</p>"
        if several
        else "<p>Share of the residents who came.</p>"
    )
    return note + _table(head, rows, numeric=(1, 2, 3, 4, 5))


def _warnings(result: Result) -> str:
    """The pitfalls natsim found (:mod:`sim.checks`), as the terminal prints them."""
    found = result.warnings
    if not found:
        return ""
    items = "".join(f"<li>{_e(text)}</li>" for text in found)
    return f'<div class="warn"><p><b>Warnings</b></p><ul>{items}</ul></div>'


def _bottleneck(result: Result, k: dict[str, Any]) -> list[str]:
    """The bottleneck from the levers, and where the last tubes waited longest."""
    out = []
    b = result.bottleneck()
    if b is not None and b.get("resource") is not None:
        what = resource_label(k, b["resource"])
        where = f" at {_e(b['where'])}" if b.get("where") else ""
        ci = b.get("saves_h_ci")
        interval = f" [{ci[0]:+.2f}, {ci[1]:+.2f}]" if ci else ""
        step, saves = f"{b['step']:g}", f"{b['saves_h']:.2f}"
        out.append(
            f"<p><b>Bottleneck</b>: {_e(what)}{where} &mdash; {_e(step)} more "
            f"{_e(b['unit'])} ({_e(b['now'])} &rarr; {_e(b['to'])}) save "
            f"{_e(saves)} h{_e(interval)} (see <i>What a step more buys</i>).</p>"
        )
    elif b is not None:
        out.append(f"<p><b>Bottleneck</b>: none &mdash; {_e(b['why'])}.</p>")
    w = k.get("longest_wait") or {}
    if w:
        what = resource_label(k, w["stage"])
        text = f"<b>The last tubes waited longest</b> for {_e(what)}"
        if w.get("where"):
            text += f" at {_e(w['where'])}"
        text += f": {_e(segment_label(k, w['segment']))} {_e(duration(w['hours']))}"
        if w.get("utilisation") is not None:
            window = w.get("busy_window") or ["", ""]
            text += (
                f"; {_e(_pct(w['utilisation']))} busy from its opening at {_e(str(window[0]))} "
                f"to its last report at {_e(str(window[1]))}"
            )
        out.append(f"<p>{text}.</p>")
    return out


def _levers(result: Result) -> str:
    """What a step more and a step fewer of each resource does, with paired intervals."""
    table = result.levers
    summary = (result.summary().get("levers") or {}) if table is None else None
    if table is None:
        why = (summary or {}).get("why")
        return f"<p>The levers were {_e(why)}.</p>" if why else ""
    if table.empty:
        return "<p>This scenario has no resource to vary.</p>"
    reps = int(table["replications"].iloc[0])
    targets = [f"{t / 3600:g}h" for t in result.scenario.round.targets]
    header = ["change", "now", "to", "last result", "change in last result"]
    header += [f"P(met {t[:-1]} h) change" for t in targets]
    costed = table["cost"].notna().any()
    if costed:
        header += ["cost", "hours saved per cost"]
    # the steps that move the last result or a P(met); the rest are one sentence
    meaningful = float((result.summary().get("levers") or {}).get("meaningful_h", 0.05))
    moved = table["completion_h_delta"].abs() >= meaningful
    for t in targets:
        moved |= table[f"p_met_{t}_delta"].abs() > 0
    shown = table[moved]
    rows = []
    for _, r in shown.iterrows():
        low, high = r["completion_h_delta_low"], r["completion_h_delta_high"]
        delta = f"{r['completion_h_delta']:+.2f} h"
        if pd.notna(low) and pd.notna(high):
            delta += f" [{low:+.2f}, {high:+.2f}]"
        row = [_e(r["action"]), _e(r["now"]), _e(r["to"]), _e(f"{r['completion_h']:.2f} h"),
               _e(delta)]  # fmt: skip
        for t in targets:
            d, lo, hi = (r[f"p_met_{t}_delta{x}"] for x in ("", "_low", "_high"))
            text = f"{d:+.2f}" + (
                f" [{lo:+.2f}, {hi:+.2f}]" if pd.notna(lo) and pd.notna(hi) else ""
            )
            row.append(_e(text))
        if costed:
            row += [
                _e("--" if pd.isna(r["cost"]) else f"{r['cost']:,.4g}"),
                _e("--" if pd.isna(r["saves_h_per_cost"]) else f"{r['saves_h_per_cost']:.3g}"),
            ]
        rows.append(row)
    basis = (
        f"the same {reps} replications as the scenario (common random numbers), paired "
        "differences with their 95 % t intervals"
        if reps > 1
        else "the same replication as the scenario (common random numbers): one day's "
        "difference, without an interval (run with --reps for intervals)"
    )
    intro = (
        "<p>Each row is the scenario with one step more (or fewer) of one resource: one unit "
        f"or 10 % of its units, whichever is larger, run on {basis}. Negative changes in the "
        "last result are time saved.</p>"
    )
    numeric = tuple(range(1, len(header)))
    rest = len(table) - len(shown)
    tail = (
        f"<p>The other {rest} of the {len(table)} steps change the last result by less than "
        f"{meaningful * 60:.0f} min and no P(met); all are in <code>levers.csv</code>.</p>"
        if rest
        else ""
    )
    return intro + (_table(header, rows, numeric=numeric) if rows else "") + tail


def _facts(result: Result, k: dict[str, Any]) -> str:
    start = result.scenario.round.start
    stages = k["stages_h"]
    left = [
        f"<p><b>Residents</b>: {k['residents_swabbed']:,} swabbed of {k['residents_arrived']:,} "
        f"who came</p>",
        f"<p><b>Tubes</b>: {k['tubes']:,} &middot; <b>plates</b>: {k['plates']:,} "
        f"&middot; <b>vehicle trips</b>: {k['trips']:,}</p>",
    ]
    stage_rows = [
        ["last swab", _e(_at(start, stages.get("last_swab")))],
        ["last delivery to a lab", _e(_at(start, stages.get("last_delivery")))],
        ["last PCR done", _e(_at(start, stages.get("last_pcr")))],
        ["last result reported", _e(_at(start, stages.get("last_report")))],
    ]
    when = "stage complete" if k["finished"] else "last event before the horizon"
    left.append(_table([when, "clock (hours from start)"], stage_rows))
    right = _bottleneck(result, k)
    path = sorted(k.get("critical_path") or [], key=lambda r: -r["hours"])
    parts = [
        f"{_e(segment_label(k, r['segment']))} {_e(duration(r['hours']))}"
        for r in path
        if r["hours"] >= 0.05
    ]
    if parts:
        right.append("<p><b>The last tubes spent</b>: " + " &middot; ".join(parts[:6]) + "</p>")
    q = k.get("longest_queue") or {}
    if q:
        anywhere = q.get("longest_wait_anywhere") or {}
        text = (
            f"<b>Longest queue</b>: point {_e(q['point'])}, {q['people']:,} people at "
            f"{_e(clock(start, q['at_h']))}; longest wait there {q['longest_wait_min']:.0f} min"
        )
        if anywhere and anywhere.get("point") != q["point"]:
            text += f" (anywhere: {anywhere['minutes']:.0f} min at {_e(anywhere['point'])})"
        text += f"; {_e(_pct(q['share_waiting_over_30min'], 1))} of residents waited over 30 min"
        right.append(f"<p>{text}.</p>")
    else:
        right.append("<p><b>Queues</b>: no lines formed at any sampling point.</p>")
    pos = k.get("positives")
    if pos:
        right.append(
            f"<p><b>Positives</b>: {pos['positive_tubes']:,} tubes read positive; "
            f"{pos['recalled_residents']:,} residents tested one a tube; "
            f"{pos['confirmed_positives']:,} confirmed of {pos['cases']:,} cases "
            f"({pos['missed_positives']:,} missed, {pos['false_positives']:,} false positives); "
            f"{pos['tests_per_resident']:.3f} tests a resident."
            + (
                ""
                if "followup" in k
                else " The follow-up is not timed (<code>positives.followup</code> does it)."
            )
            + "</p>"
        )
    disruptions = k.get("disruptions") or []
    if disruptions:
        right.append(
            "<p><b>Disruptions</b> in this scenario: "
            + "; ".join(_e(text) for text in disruptions)
            + ".</p>"
        )
    capacity = k.get("lab_capacity") or []
    if capacity:
        rows = [_e(text) for text in capacity_phrases(capacity)]
        right.append("<p><b>Lab capacity</b>, tubes a day: " + "; ".join(rows) + ".</p>")
    failures = k.get("failures")
    if failures is not None:
        parts = [_e(p) for p in failure_phrases(failures)]
        right.append(
            "<p><b>Breakdowns</b>: "
            + ("; ".join(parts) if parts else "none in this round")
            + ".</p>"
        )
    door = k.get("door_to_door")
    if door:
        swab, report = door["last_swab_h"], door["last_report_h"]
        right.append(
            f"<p><b>Door-to-door</b>: {door['teams']:,} teams visited {door['households']:,} "
            f"households ({door['residents']:,} homebound residents, one tube a household); "
            + (
                "their last swab came after the horizon"
                if swab is None
                else f"last swab at home {_e(clock(start, swab))}"
            )
            + "; "
            + (
                "not all of their results by the horizon"
                if report is None
                else f"their last result {_e(clock(start, report))}"
            )
            + ".</p>"
        )
    follow = k.get("followup")
    if follow:
        done = follow["completion_h"]
        verdicts = ", ".join(
            f"{t['hours']:g} h target {'met' if t['met'] else 'missed'}" for t in follow["targets"]
        )
        right.append(
            f"<p><b>Follow-up</b>: {follow['recalls']:,} recalls; "
            + (
                f"last single-tube result {_e(clock(start, done))} ({done:.1f} h); {verdicts}"
                if done is not None
                else f"unfinished at the horizon ({follow['recalls_done']:,} done)"
            )
            + ".</p>"
        )
    util = k.get("utilisation") or {}
    if util:
        right.append(
            "<p><b>Utilisation</b>: "
            + " &middot; ".join(
                f"{_e(utilisation_label(name))} {_e(_pct(v))}" for name, v in util.items()
            )
            + "</p>"
        )
    return (
        '<div class="facts"><div>'
        + "\n".join(left)
        + "</div><div>"
        + "\n".join(right)
        + "</div></div>"
    )


def _unfinished(k: dict[str, Any]) -> str:
    if k["finished"]:
        return ""
    u = k.get("unfinished") or {}
    text = (
        f"<p><b>Unfinished at the horizon</b>: {u.get('tubes', 0):,} tubes and "
        f"{u.get('residents', 0):,} residents have no result"
    )
    if u.get("residents_not_swabbed"):
        text += f" ({u['residents_not_swabbed']:,} residents were never swabbed)"
    text += ".</p>"
    rows = [[_e(w["status"]), _e(w["place"]), _e(f"{w['tubes']:,}")] for w in u.get("where", [])]
    table = (
        _table(["where the tube was", "point or lab", "tubes"], rows, numeric=(2,)) if rows else ""
    )
    return f'<div class="warn">{text}{table}</div>'


def _figures(figures: Sequence[str]) -> str:
    out = []
    for rel in figures:
        stem = Path(rel).stem
        title, caption = CAPTIONS.get(stem, (stem.replace("_", " "), ""))
        out.append(
            f'<figure><img src="{_e(rel)}" alt="{_e(title)}">'
            f"<figcaption><b>{_e(title)}.</b> {_e(caption)}</figcaption></figure>"
        )
    return "\n".join(out)


def _points_table(points: pd.DataFrame, start: float, top: int = 10) -> str:
    if not len(points):
        return "<p>No sampling points.</p>"
    worst = points.sort_values(["peak_queue", "max_wait_min"], ascending=False).head(top)
    rows = []
    for r in worst.itertuples(index=False):
        rows.append(
            [
                _e(r.point),
                _e(r.stations),
                _e(f"{int(r.residents):,}"),
                _e(f"{int(r.peak_queue):,}"),
                _e(clock(start, r.peak_queue_h)),
                _e(f"{r.mean_wait_min:.0f}"),
                _e(f"{r.p95_wait_min:.0f}"),
                _e(f"{r.max_wait_min:.0f}"),
                _e(_pct(r.waited_over_30min)),
                _e(clock(start, r.last_swab_h)),
            ]
        )
    header = [
        "point",
        "stations",
        "residents",
        "peak queue",
        "at",
        "mean wait (min)",
        "95th pct wait (min)",
        "longest wait (min)",
        "waited &gt; 30 min",
        "last swab",
    ]
    return _table(header, rows, numeric=(1, 2, 3, 5, 6, 7, 8))


def _labs_table(labs: pd.DataFrame, k: dict[str, Any] | None = None) -> str:
    """Utilisation per lab and pool (a default lab's pools are its stages)."""
    if not len(labs):
        return "<p>No labs.</p>"
    pools = list(dict.fromkeys(labs["pool"]))
    header = ["lab", "working span"] + [_e(resource_label(k, name)) for name in pools]
    rows = []
    for lab, g in labs.groupby("lab", sort=False, observed=True):
        by = g.set_index("pool")
        row = [_e(lab), _e(f"{float(g['span_h'].max()):.1f} h")]
        for name in pools:
            if name in by.index:
                u = by.loc[name]
                row.append(
                    f"{_e(_pct(float(u['utilisation'])))} <small>of {int(u['units'])}</small>"
                )
            else:
                row.append("--")
        rows.append(row)
    return (
        _table(header, rows, numeric=tuple(range(1, 2 + len(pools))))
        + "<p><small>Utilisation: busy time over (units &times; working span); "
        "&ldquo;of N&rdquo; is the number of staff or instruments.</small></p>"
    )


def _vehicles_table(vehicles: pd.DataFrame) -> str:
    if not len(vehicles):
        return "<p>No vehicles.</p>"
    rows = []
    for lab, g in vehicles.groupby("lab", sort=False):
        trips = g["trips"]
        rows.append(
            [
                _e(lab),
                _e(g["route"].nunique()),
                _e(len(g)),
                _e(f"{int(trips.sum()):,}"),
                _e(f"{int(trips.min())} / {trips.median():g} / {int(trips.max())}"),
                _e(f"{int(g['tubes'].sum()):,}"),
                _e(f"{float(g['busy_h'].mean()):.1f} h"),
            ]
        )
    header = [
        "lab served",
        "routes",
        "vehicles",
        "trips",
        "trips per vehicle (min / median / max)",
        "tubes carried",
        "mean hours on the road per vehicle",
    ]
    return _table(header, rows, numeric=(1, 2, 3, 4, 5, 6))


# -- the page ----------------------------------------------------------------------
def render(result: Result, figures: Sequence[str], rep: int = 0) -> str:
    """The HTML of the report; ``figures`` are image paths relative to the page."""
    from .version import __version__

    p = part(result, rep)
    k = p.kpis
    sc = result.scenario
    start = sc.round.start
    name = _e(sc.round.name)
    targets = ", ".join(f"{t / 3600:g} h" for t in sc.round.targets)
    meta = (
        f"round starts {_e(clock(start, 0.0))} &middot; targets {_e(targets)} &middot; "
        f"horizon {_e(f'{sc.round.horizon / 3600:g}')} h &middot; seed {_e(result.seed)} &middot; "
        f"{result.replications} replication{'s' if result.replications != 1 else ''}"
    )
    levers = _levers(result)
    body = [
        f"<h1>{name}</h1>",
        f'<p class="meta">{meta}</p>',
        "<h2>Headline</h2>",
        _headline(result, k, any(Path(f).stem == DISTRIBUTION for f in figures)),
        _warnings(result),
        _unfinished(k),
        _facts(result, k),
        "<h2>What a step more buys</h2>" if levers else "",
        levers,
        "<h2>Figures</h2>",
        _figures(figures),
        "<h2>Share done by the hour</h2>",
        _by_hour(result),
        "<h2>Sampling points with the longest queues</h2>",
        _points_table(p.tables["points"], start),
        "<h2>Labs</h2>",
        _labs_table(p.tables["labs"], k),
        "<h2>Vehicles</h2>",
        _vehicles_table(p.tables["vehicles"]),
        f"<footer>natsim {_e(__version__)} &middot; written "
        f"{_e(datetime.now().strftime('%Y-%m-%d %H:%M'))} &middot; tables in tables/*.parquet, "
        "headline in summary.json</footer>",
    ]
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{name} — natsim report</title>\n<style>{CSS}</style>\n</head>\n<body>\n"
        + "\n".join(s for s in body if s)
        + "\n</body>\n</html>\n"
    )


def write_figures_and_report(result: Result, folder: str | Path) -> Path:
    """Write ``folder/figures/*.png`` and ``folder/report.html``; returns the report's path.

    With several replications the completion distribution over all of them is
    written too (``figures/completion_distribution.png``) and comes first on
    the page; a single run's figures and page are as before.
    """
    folder = Path(folder)
    paths = save_all(result, folder)
    if result.replications > 1:
        path = folder / "figures" / f"{DISTRIBUTION}.png"
        completion_distribution(result).savefig(path, dpi=DPI)
        paths.insert(0, path)
    figures = [path.relative_to(folder).as_posix() for path in paths]
    out = folder / "report.html"
    atomic_write(out, render(result, figures).encode("utf-8"))
    return out
