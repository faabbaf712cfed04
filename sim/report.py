"""``report.html``: the one page a planner opens after ``natsim run``.

The page is one self-contained file (:mod:`sim.report_html`): inline CSS, no
JavaScript, nothing fetched from the network, every figure embedded as a PNG
``data:`` URI, so the file alone can be mailed or printed (A4). The figures
are also kept as PNG files in ``figures/`` (:func:`sim.plots.save_all`) for
slides and for other programs. The page opens with the verdict: when the last
result came and, for each target, MET or MISSED. A result of several
replications is read as a distribution: the verdict gives the median and p90
of the last result and P(met) of each target with its Wilson interval (from
:meth:`~sim.results.Result.summary`), its first figure is
``figures/completion_distribution.png``
(:func:`sim.plots.completion_distribution`), and the first replication is
shown in detail below. Every piece of text that comes from the scenario (names,
ids) is HTML-escaped.

:func:`rebuild_run_page` writes the page again from a run folder alone
(:func:`sim.results.result.load_run`), without running anything: the same page,
drawing only the figures the folder lacks.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from .plots import DPI, FIGURES, clock, completion_distribution, duration, part, save_all
from .report_html import CSS, document, e, figure, footer, p_class, p_met, pct, table, verdict
from .report_html import verdict_word as _word
from .results.io import atomic_write, to_json
from .results.kpis import capacity_phrases, failure_phrases
from .results.result import Result
from .stages import resource_label, segment_label, utilisation_label

__all__ = [
    "CAPTIONS",
    "CSS",
    "DISTRIBUTION",
    "rebuild_run_page",
    "render",
    "write_figures_and_report",
]

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
    "map": (
        "Where the points, labs and routes are",
        "Sampling points coloured by their peak queue and sized by their residents, labs as "
        "squares, and each route from its first point to its lab, as wide as the tubes its "
        "trips carried (drawn from the coordinates alone: no map tiles).",
    ),
}

_e, _pct, _table = e, pct, table


def _plain(data: Any) -> Any:
    """``data`` as it reads back from its JSON file (NaN as None, numpy scalars as numbers),
    so a page drawn from a Result and one drawn from its run folder are the same page."""
    return json.loads(to_json(data))


@dataclass
class _Run:
    """What the run page shows, read once from a Result."""

    name: str
    start: float
    targets_h: list[float]
    horizon_h: float
    seed: Any
    replications: int
    summary: dict[str, Any]  # what summary.json holds
    kpis: dict[str, Any]  # the KPIs of the replication shown in detail
    shown: int  # its replication number
    tables: dict[str, pd.DataFrame]  # its tables
    levers: pd.DataFrame | None


def _run_of(result: Result, rep: int) -> _Run:
    p = part(result, rep)
    rnd = result.scenario.round
    return _Run(
        name=rnd.name,
        start=rnd.start,
        targets_h=[t / 3600.0 for t in rnd.targets],
        horizon_h=rnd.horizon / 3600.0,
        seed=result.seed,
        replications=result.replications,
        summary=_plain(result.summary()),
        kpis=_plain(p.kpis),
        shown=p.replication,
        tables=p.tables,
        levers=result.levers,
    )


# -- small builders ----------------------------------------------------------------
def _at(start: float, hours: float | None) -> str:
    if hours is None or hours != hours:
        return "--"
    return f"{clock(start, hours)} ({hours:.1f} h)"


def _badge(met: bool) -> str:
    return (
        '<span class="badge met">MET</span>' if met else '<span class="badge missed">MISSED</span>'
    )


# -- the verdict -------------------------------------------------------------------
def _verdict_single(r: _Run, k: dict[str, Any]) -> str:
    """Last result, then each target MET or MISSED: the one-line answer."""
    start = r.start
    done = k.get("completion_h")
    if k.get("finished") and done is not None:
        parts = [f"Last result {_e(_at(start, done))}"]
    else:
        parts = [f"Unfinished at the horizon {_e(clock(start, r.horizon_h))}"]
    targets = k.get("targets") or []
    for t in targets:
        when = clock(start, t["hours"])
        text = f"{t['hours']:g} h target ({_e(when)}) {_word(t['met'])}"
        if not t["met"]:
            text += f" <small>({_e(_pct(t['share_reported'], 1))} reported by then)</small>"
        parts.append(text)
    met = [bool(t["met"]) for t in targets]
    kind = "good" if all(met) and k.get("finished") else ("fair" if any(met) else "bad")
    return verdict(parts, kind)


def _verdict_replications(r: _Run) -> str:
    """Median and p90 of the last result over the replications, and P(met) of each target
    with its Wilson interval: the distribution is the answer, not one replication."""
    s = r.summary
    c = s.get("completion") or {}
    head = (
        f"Over {s['replications']} replications: last result median "
        f"{_e(_at(r.start, c.get('p50')))}, p90 {_e(_at(r.start, c.get('p90')))}"
    )
    nowcast = (s.get("experiment") or {}).get("nowcast")
    if nowcast:  # a forecast from a state: say from when, and from what, first
        kind = "the saved state" if nowcast["exact"] else "the counts given (rules below)"
        head = f"Forecast from {_e(nowcast['from'])}, from {kind}. " + head
    parts = [head]
    classes = []
    for t in s.get("targets") or []:
        low, high = t["p_met_ci"]
        parts.append(f"{t['hours']:g} h target ({_e(t['clock'])}): {p_met(t['p_met'], low, high)}")
        classes.append(p_class(t["p_met"]))
    kind = "info" if not classes else min(classes, key=("bad", "fair", "good").index)
    return verdict(parts, kind)


def _meta(r: _Run) -> str:
    targets = ", ".join(f"{t:g} h" for t in r.targets_h)
    n = r.replications
    return (
        f'<p class="meta">round starts {_e(clock(r.start, 0.0))} &middot; targets {_e(targets)} '
        f"&middot; horizon {_e(f'{r.horizon_h:g}')} h &middot; seed {_e(r.seed)} &middot; "
        f"{n} replication{'s' if n != 1 else ''}</p>"
    )


# -- sections ----------------------------------------------------------------------
def _targets_single(r: _Run, k: dict[str, Any]) -> str:
    start = r.start
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
    return _table(header, rows, numeric=(3, 4))


def _targets_replications(r: _Run, distribution: bool) -> str:
    """P(met) of each target with its interval, the spread of the last result and of each
    stage (as summary() gives them), and which replication the rest of the page shows."""
    s = r.summary
    n = s["replications"]
    c = s.get("completion") or {}
    header = ["target", "clock", "P(met)", "95 % interval", "replications met it",
              "share reported by then (mean)"]  # fmt: skip
    rows = []
    for t in s["targets"]:
        low, high = t["p_met_ci"]
        rows.append(
            [
                _e(f"{t['hours']:g} h"),
                _e(t["clock"]),
                f'<span class="p {p_class(t["p_met"])}">{t["p_met"]:.2f}</span>',
                _e(f"[{low:.2f}, {high:.2f}]"),
                _e(f"{t['replications_met']} of {n}"),
                _e(_pct(t["share_reported"], 1)),
            ]
        )
    out = [_table(header, rows, numeric=(2, 3, 4, 5))]
    out.append(_spread(r))
    unfinished = c.get("unfinished", 0)
    if unfinished:
        out.append(
            f'<div class="warn"><p>{unfinished} of {n} replications did not finish by the '
            "horizon: the mean completion time is unknown.</p></div>"
        )
    shown = f"replication {_e(r.shown)} of {n}"
    out.append(
        f"<p>The distribution of completion times covers all {n} replications; the other "
        f"figures and the tables below show {shown} in detail.</p>"
        if distribution
        else f"<p>The figures and tables below show {shown} in detail.</p>"
    )
    return "\n".join(out)


STAGE_NAMES = {
    "last_swab": "last swab",
    "last_delivery": "last delivery to a lab",
    "last_pcr": "last PCR done",
    "last_report": "last result reported",
}


def _spread(r: _Run) -> str:
    """Mean with its t interval, and quantiles, of the last result and of each stage."""
    s = r.summary
    rows_in = [("last result", s.get("completion") or {})]
    rows_in += [
        (STAGE_NAMES.get(name, name), d)
        for name, d in (s.get("stages") or {}).items()
        if name != "last_report"  # the last report is the last result
    ]

    def h(value: Any) -> str:
        return "--" if value is None else f"{value:.2f}"

    rows = []
    for label, d in rows_in:
        ci = d.get("ci") or [None, None]
        mean = d.get("mean")
        rows.append(
            [
                _e(label),
                _e(h(mean)),
                _e(clock(r.start, mean)),
                _e("--" if None in ci else f"[{ci[0]:.2f}, {ci[1]:.2f}]"),
                *(_e(h(d.get(q))) for q in ("p50", "p90", "p95", "min", "max")),
            ]
        )
    header = ["hours from the start", "mean", "clock", "95 % CI", "p50", "p90", "p95", "min",
              "max"]  # fmt: skip
    return _table(header, rows, numeric=tuple(range(1, 9)))


def _by_hour(r: _Run) -> str:
    """Share of residents swabbed, delivered, tested and reported by every hour (with the
    10-90 % band over replications), up to the first hour everything is reported."""
    b = r.summary.get("by_hour") or {}
    if not b:
        return ""
    start = r.start
    steps = ("swabbed", "delivered", "tested", "reported")
    several = r.replications > 1

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
        f"<p>Mean share of the residents who came, over {r.replications} replications, "
        "with the 10-90 % band of the replications in brackets.</p>"
        if several
        else "<p>Share of the residents who came.</p>"
    )
    return note + _table(head, rows, numeric=(1, 2, 3, 4, 5))


def _warnings(r: _Run) -> str:
    """The pitfalls natsim found (:mod:`sim.checks`), as the terminal prints them."""
    nowcast = (r.summary.get("experiment") or {}).get("nowcast") or {}
    found = [*(r.summary.get("warnings") or []), *(nowcast.get("warnings") or [])]
    rules = nowcast.get("rules") or []
    out = ""
    if found:
        items = "".join(f"<li>{_e(text)}</li>" for text in found)
        out += f'<div class="warn"><p><b>Warnings</b></p><ul>{items}</ul></div>'
    if rules:  # a nowcast of counts: what filled in what the counts do not say
        items = "".join(f"<li>{_e(text)}</li>" for text in rules)
        out += f"<div><p><b>Rules that filled in the counts</b></p><ul>{items}</ul></div>"
    return out


def _bottleneck(r: _Run, k: dict[str, Any]) -> list[str]:
    """The bottleneck from the levers, and where the last tubes waited longest."""
    out = []
    b = r.summary.get("bottleneck")
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


def _levers(run: _Run) -> str:
    """What a step more and a step fewer of each resource does, with paired intervals."""
    table = run.levers
    summary = (run.summary.get("levers") or {}) if table is None else None
    if table is None:
        why = (summary or {}).get("why")
        return f"<p>The levers were {_e(why)}.</p>" if why else ""
    if table.empty:
        return "<p>This scenario has no resource to vary.</p>"
    reps = int(table["replications"].iloc[0])
    targets = [f"{t:g}h" for t in run.targets_h]
    header = ["change", "now", "to", "last result", "change in last result"]
    header += [f"P(met {t[:-1]} h) change" for t in targets]
    costed = table["cost"].notna().any()
    if costed:
        header += ["cost", "hours saved per cost"]
    # the steps that move the last result or a P(met); the rest are one sentence
    meaningful = float((run.summary.get("levers") or {}).get("meaningful_h", 0.05))
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


def _facts(r: _Run, k: dict[str, Any]) -> str:
    start = r.start
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
    right = _bottleneck(r, k)
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


def _figures(images: Sequence[tuple[str, bytes | None]]) -> str:
    out = []
    for stem, data in images:
        title, caption = CAPTIONS.get(stem, (stem.replace("_", " "), ""))
        out.append(figure(data, title, caption, f"figures/{stem}.png"))
    return "\n".join(out)


def _table_of(r: _Run, name: str) -> pd.DataFrame | None:
    frame = r.tables.get(name)
    return frame if isinstance(frame, pd.DataFrame) else None


def _detail_tables(r: _Run, k: dict[str, Any]) -> list[str]:
    out = ["<h2>Share done by the hour</h2>", _by_hour(r)]
    points, labs, vehicles = (_table_of(r, n) for n in ("points", "labs", "vehicles"))
    several = r.replications > 1
    of = f" (replication {_e(r.shown)})" if several else ""
    if points is not None:
        out += [f"<h2>Sampling points with the longest queues{of}</h2>",
                _points_table(points, r.start)]  # fmt: skip
    if labs is not None:
        out += [f"<h2>Labs{of}</h2>", _labs_table(labs, k)]
    if vehicles is not None:
        out += [f"<h2>Vehicles{of}</h2>", _vehicles_table(vehicles)]
    return out


# -- the page ----------------------------------------------------------------------
def _page(
    r: _Run, images: Sequence[tuple[str, bytes | None]], manifest: dict[str, Any] | None
) -> str:
    k = r.kpis
    levers = _levers(r)
    lever_part = ["<h2>What a step more buys</h2>", levers] if levers else []
    several = r.replications > 1
    distribution = [(stem, data) for stem, data in images if stem == DISTRIBUTION]
    others = [(stem, data) for stem, data in images if stem != DISTRIBUTION]
    if several:
        headline = [
            f"<h1>{_e(r.name)}</h1>",
            _verdict_replications(r),
            _meta(r),
            _targets_replications(r, bool(distribution)),
            _figures(distribution),
            _warnings(r),
            *lever_part,
        ]
        detail = [
            f"<h2>Replication {_e(r.shown)} of {r.replications} in detail</h2>",
            _unfinished(k),
            _facts(r, k),
            "<h3>Figures</h3>" if others else "",
            _figures(others),
        ]
    else:
        headline = [
            f"<h1>{_e(r.name)}</h1>",
            _verdict_single(r, k),
            _meta(r),
            _targets_single(r, k),
            _warnings(r),
            _unfinished(k),
            _facts(r, k),
            *lever_part,
        ]
        detail = ["<h2>Figures</h2>", _figures(others)] if others else []
    sections = [
        "\n".join(s for s in headline if s),
        "\n".join(s for s in detail if s),
        "\n".join(s for s in _detail_tables(r, k) if s),
    ]
    files = "tables in tables/*.parquet, headline in summary.json, figures in figures/*.png"
    return document(f"{r.name} — natsim report", sections, footer(manifest, files))


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except OSError:
        return None


def _manifest(folder: Path) -> dict[str, Any] | None:
    try:
        data = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def render(
    result: Result,
    figures: Sequence[str | Path],
    rep: int = 0,
    folder: str | Path | None = None,
) -> str:
    """The HTML of the report of ``result``, showing replication ``rep`` in detail.

    ``figures`` are the PNG files to show, as paths relative to ``folder``
    (default: the current folder); each is embedded in the page, so the page
    needs no file beside it; a file that cannot be read is shown as a missing
    figure. The footer says when ``folder/manifest.json`` says the run was
    written (else now).
    """
    base = Path(folder) if folder is not None else Path(".")
    images = [(Path(rel).stem, _read(base / rel)) for rel in figures]
    manifest = _manifest(base) if folder is not None else None
    return _page(_run_of(result, rep), images, manifest)


def _figure_names(result: Result) -> list[str]:
    """The figures of a run's page, in the order the page shows them."""
    names = list(FIGURES)
    return [DISTRIBUTION, *names] if result.replications > 1 else names


def write_figures_and_report(result: Result, folder: str | Path) -> Path:
    """Write ``folder/figures/*.png`` and ``folder/report.html``; returns the report's path.

    With several replications the completion distribution over all of them is
    written too (``figures/completion_distribution.png``) and comes first on
    the page, with the median, p90 and P(met) of every target as its verdict.
    """
    folder = Path(folder)
    save_all(result, folder)
    if result.replications > 1:
        path = folder / "figures" / f"{DISTRIBUTION}.png"
        completion_distribution(result).savefig(path, dpi=DPI)
    figures = [f"figures/{name}.png" for name in _figure_names(result)]
    out = folder / "report.html"
    atomic_write(out, render(result, figures, folder=folder).encode("utf-8"))
    return out


def rebuild_run_page(folder: str | Path) -> Path:
    """Write ``folder/report.html`` again from a run folder (one replication or several),
    without running anything: the Result is reopened from the folder's files
    (:func:`sim.results.result.load_run`), the figures in ``figures/`` are reused and
    only those missing are drawn. Raises :class:`~sim.results.io.RunFolderError` for a
    folder that is not a complete run folder."""
    from .results.result import load_run

    folder = Path(folder)
    result = load_run(folder)
    names = _figure_names(result)
    (folder / "figures").mkdir(exist_ok=True)
    for name in names:
        path = folder / "figures" / f"{name}.png"
        if not path.is_file():
            draw = completion_distribution if name == DISTRIBUTION else FIGURES[name]
            draw(result).savefig(path, dpi=DPI)
    out = folder / "report.html"
    figures = [f"figures/{name}.png" for name in names]
    atomic_write(out, render(result, figures, folder=folder).encode("utf-8"))
    return out
