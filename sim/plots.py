"""Figures a planner pastes into a briefing, drawn from a :class:`~sim.results.Result`.

Every function takes a ``Result`` (and ``rep``, the position of the replication
in ``result.parts``, default the first) and returns a
:class:`matplotlib.figure.Figure`. Figures are built with the object-oriented
API only (no ``pyplot``), so they never touch global state and work under any
backend, in a notebook or on a headless server. Time axes show clock time
(HH:MM, "+1" for the next day) from the round start.

>>> import sim
>>> from sim import plots
>>> result = sim.run("scenarios/zhaoling.yaml")
>>> plots.cumulative(result)          # doctest: +SKIP
>>> plots.save_all(result, "runs/x")  # doctest: +SKIP
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from matplotlib import patheffects
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from matplotlib.ticker import FixedLocator, FuncFormatter, MaxNLocator, PercentFormatter

from .results.kpis import last_tubes
from .results.result import ReplicationResult, Result
from .stages import GROUP_COLOURS
from .units import format_minute

if TYPE_CHECKING:
    from .experiment.sweep import Sweep

H = 3600.0
DPI = 120

# the cumulative curves: timeline metric, legend label, colour, what it is a share of
CURVES: tuple[tuple[str, str, str, str], ...] = (
    ("residents swabbed", "residents swabbed", "#1f77b4", "residents"),
    ("tubes delivered", "tubes delivered to a lab", "#ff7f0e", "tubes"),
    ("tubes tested", "tubes tested (PCR done)", "#9467bd", "tubes"),
    ("tubes reported", "tubes reported", "#2ca02c", "tubes"),
)
MET_COLOUR = "#1b6e1b"  # target labels; darker than any curve colour
MISSED_COLOUR = "#b01010"
TARGET_LINE = "0.2"
OPEN_COLOUR = "#8c564b"
TICK_STEPS_H = (0.25, 0.5, 1.0, 2.0, 3.0, 4.0, 6.0, 12.0, 24.0)


# -- helpers ---------------------------------------------------------------------
def part(result: Result, rep: int = 0) -> ReplicationResult:
    """The replication at position ``rep`` of ``result.parts`` (0 is the first)."""
    try:
        return result.parts[rep]
    except IndexError:
        raise IndexError(
            f"replication index {rep} out of range: the result has {len(result.parts)}"
        ) from None


def clock(start: float, hours: float | None) -> str:
    """Clock time "HH:MM" ``hours`` after ``start`` ("+N" on later days).

    Seconds are dropped, as the terminal summary does, so both show the same minute.
    """
    if hours is None or not math.isfinite(hours):
        return "--"
    return format_minute(start + hours * H)


def duration(hours: float) -> str:
    """A short duration: minutes below an hour, else hours with one decimal."""
    if hours < 1.0:
        return f"{hours * 60:.0f} min"
    return f"{hours:.1f} h"


def _plain(text: object) -> str:
    """Scenario text shown as written: a "$" would otherwise start matplotlib mathtext."""
    return str(text).replace("$", r"\$")


def _heading(name: object, what: str) -> str:
    """ "<scenario name> — <what>" on one line, or on two when that is too wide for the axes
    (a long scenario name would otherwise push the title past the figure's edge)."""
    first = what.split("\n", 1)[0]
    joint = " — " if len(str(name)) + len(first) <= 72 else "\n"
    return f"{_plain(name)}{joint}{what}"


def _tubes(n: int) -> str:
    return "tube" if n == 1 else "tubes"


def verdict(kpis: dict[str, Any], start: float) -> str:
    """One line: when the last result came and which targets that meets."""
    targets = kpis["targets"]
    completion = kpis["completion_h"]
    if completion is None:
        shares = ", ".join(
            f"{100 * t['share_reported']:.0f} % reported by the {t['hours']:g} h target"
            for t in targets
        )
        return "unfinished at the horizon" + (f": {shares}" if shares else "")
    head = f"last result {clock(start, completion)} ({completion:.1f} h)"
    if not targets:
        return head
    missed = [t for t in targets if not t["met"]]
    met = [t for t in targets if t["met"]]
    parts = [f"{t['hours']:g} h target missed" for t in missed]
    if met:
        parts.append(f"{met[0]['hours']:g} h target met")
    return f"{head} — " + ", ".join(parts)


def _clock_axis(ax: Axes, start: float, x0: float, x1: float, label: bool = True) -> None:
    """x from x0 to x1 hours after the start, ticked at round clock times."""
    ax.set_xlim(x0, x1)
    span = max(x1 - x0, 1e-6)
    step = next((s for s in TICK_STEPS_H if span / s <= 12), TICK_STEPS_H[-1])
    start_h = start / H
    first = math.ceil((x0 + start_h) / step - 1e-9) * step - start_h
    ticks = np.arange(first, x1 + 1e-9, step)
    ax.xaxis.set_major_locator(FixedLocator(ticks.tolist()))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _pos: clock(start, x)))
    if label:
        ax.set_xlabel(f"clock time (round starts {clock(start, 0.0)})")


def _x_end(kpis: dict[str, Any], horizon_h: float, last_event_h: float | None = None) -> float:
    """Where a time axis ends: a little after the last report or the last target."""
    ends = [t["hours"] for t in kpis["targets"]]
    last = kpis["stages_h"].get("last_report") if last_event_h is None else last_event_h
    if last is not None and math.isfinite(last):
        ends.append(last)
    if not kpis["finished"]:
        ends.append(horizon_h)
    end = max(ends) if ends else horizon_h
    return min(end + max(0.5, 0.05 * end), horizon_h)


def _district(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """The district curves as columns (one per metric) indexed by time_h."""
    tl = tables["timeline"]
    d = tl[tl["kind"] == "district"]
    wide = d.pivot_table(index="time_h", columns="metric", values="value", observed=True)
    return wide.sort_index()


def _free_height(ax: Axes, x: float, need: float) -> float:
    """Axes-fraction height at which a vertical label just left of ``x`` crosses no curve.

    The curves' values around ``x`` split the height into gaps; the label goes
    at the bottom of the lowest gap tall enough for it (``need``, a fraction of
    the axes height), else of the tallest gap.
    """
    lo, hi = ax.get_ylim()
    x0, x1 = ax.get_xlim()
    ys = [0.0, 1.0]
    for line in ax.get_lines():
        if line.get_transform() is not ax.transData:
            continue  # target lines and other reference lines
        xd = np.asarray(line.get_xdata(), dtype=float)
        yd = np.asarray(line.get_ydata(), dtype=float)
        if len(xd) < 2 or hi <= lo:
            continue
        for at in (x - 0.03 * (x1 - x0), x):
            if xd.min() <= at <= xd.max():
                ys.append(float(np.clip((np.interp(at, xd, yd) - lo) / (hi - lo), 0.0, 1.0)))
    ys.sort()
    gaps = [(b - a, a) for a, b in itertools.pairwise(ys)]
    roomy = [a for size, a in gaps if size >= need + 0.04]
    bottom = min(roomy) if roomy else max(gaps)[1]
    return max(bottom + 0.02, 0.03)


def _target_lines(ax: Axes, kpis: dict[str, Any], start: float, labels: bool = True) -> None:
    """A dashed line at each target; with ``labels``, "14 h target 21:00 / MET" beside it.

    Call after the curves are drawn and the limits set, so labels avoid the curves.
    """
    fontsize = 9.0
    fig = ax.get_figure(root=True)
    height_in = fig.get_figheight() if isinstance(fig, Figure) else 5.0
    axes_pt = ax.get_position().height * height_in * 72
    for t in kpis["targets"]:
        lines = [
            f"{t['hours']:g} h target {clock(start, t['hours'])}",
            "MET" if t["met"] else f"MISSED, {100 * t['share_reported']:.0f} % reported",
        ]
        need = max(len(s) for s in lines) * 0.62 * fontsize / max(axes_pt, 1.0)
        y = _free_height(ax, t["hours"], need) if labels else 0.0
        ax.axvline(t["hours"], color=TARGET_LINE, linestyle="--", linewidth=1.3, zorder=1)
        if not labels:
            continue
        ax.annotate(
            "\n".join(lines),
            xy=(t["hours"], y),
            xycoords=ax.get_xaxis_transform(),
            xytext=(-3, 0),
            textcoords="offset points",
            rotation=90,
            ha="right",
            va="bottom",
            multialignment="left",
            fontsize=fontsize,
            fontweight="bold",
            color=MET_COLOUR if t["met"] else MISSED_COLOUR,
            bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.8, "pad": 1.0},
            zorder=2,
        )


# -- figures ---------------------------------------------------------------------
def cumulative(result: Result, rep: int = 0) -> Figure:
    """Share of residents swabbed and of tubes delivered / tested / reported over the round."""
    p = part(result, rep)
    k = p.kpis
    start = result.scenario.round.start
    horizon_h = result.scenario.round.horizon / H
    wide = _district(p.tables)
    totals = {
        "residents": max(int(k["residents_arrived"]), 1),
        "tubes": max(len(p.tables["tubes"]), 1),
    }

    fig = Figure(figsize=(10, 5.6), layout="constrained")
    ax = fig.add_subplot()
    for metric, label, colour, of in CURVES:
        if metric not in wide:
            continue
        share = 100.0 * wide[metric].to_numpy(dtype=float) / totals[of]
        width = 2.6 if metric == "tubes reported" else 1.8
        ax.plot(wide.index.to_numpy(), share, color=colour, linewidth=width, label=label, zorder=3)
    end = _x_end(k, horizon_h)
    recalls = p.tables.get("recalls")
    if recalls is not None and len(recalls):
        # the follow-up beside the screening: recalled residents with their single results
        done = recalls.dropna(subset=["reported_h"]).sort_values("reported_h")
        wanted = max(int(k["positives"]["recalled_residents"]), 1)
        steps = np.r_[0.0, done["reported_h"].to_numpy()]
        share = 100.0 * np.r_[0.0, done["members"].cumsum().to_numpy()] / wanted
        ax.step(steps, share, where="post", color="#d62728", linewidth=1.8, linestyle="--",
                label="recalled residents with\ntheir single-tube result", zorder=3)  # fmt: skip
        if k.get("followup_completion_h") is not None:
            end = max(end, min(horizon_h, float(k["followup_completion_h"]) + 0.5))
    _clock_axis(ax, start, 0.0, end)
    ax.set_ylim(0, 105)
    _target_lines(ax, k, start)
    ax.yaxis.set_major_formatter(PercentFormatter(100))
    ax.set_ylabel("share done (% of residents / % of tubes)")
    ax.grid(True, alpha=0.3)
    ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False, fontsize=9)
    residents = f"{k['residents_swabbed']:,} residents, {k['tubes']:,} tubes"
    ax.set_title(
        _heading(result.scenario.round.name, f"{residents}\n{verdict(k, start)}"), fontsize=12
    )
    return fig


def critical_path(result: Result, rep: int = 0) -> Figure:
    """Where the last tubes spent their time: one bar per step, in order, coloured by kind.

    In an unfinished round "the last tubes" are those without a result; steps
    they never reached say so, and a last bar shows how long they had been
    waiting in their final step when the horizon came.
    """
    p = part(result, rep)
    k = p.kpis
    path = pd.DataFrame(k["critical_path"], columns=["segment", "group", "hours"])
    fig = Figure(figsize=(10, 5.6), layout="constrained")
    ax = fig.add_subplot()
    tubes = p.tables["tubes"]
    last = last_tubes(tubes) if len(tubes) else tubes
    n_last = len(last)
    finished = bool(k["finished"])
    who = (
        (
            "the last tube reported"
            if n_last == 1
            else f"the last {n_last:,} tubes reported (last 1 %)"
        )
        if finished
        else f"the {n_last:,} {_tubes(n_last)} without a result at the horizon"
    )
    if not len(path) or not n_last:
        ax.text(0.5, 0.5, "no tubes", ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
        return fig
    hours = path["hours"].fillna(0.0).clip(lower=0.0).to_numpy(dtype=float)
    process = result.scenario.process
    columns = {seg.name: (seg.start, seg.end) for seg in process.segments}
    reached = [
        name not in columns
        or bool(np.isfinite(last[columns[name][1]] - last[columns[name][0]]).any())
        for name in path["segment"]
    ]
    names = [process.segment_labels.get(seg, seg) for seg in path["segment"]]
    colours = [GROUP_COLOURS.get(g, "#17becf") for g in path["group"]]
    if not finished:
        steps = [c for seg in process.segments for c in (seg.start, seg.end)]
        latest = last[list(dict.fromkeys(steps))].max(axis=1, skipna=True)
        open_h = float(np.nanmean(result.scenario.round.horizon / H - latest.to_numpy(dtype=float)))
        status = last["status"].astype(str).mode()
        hours = np.append(hours, max(open_h, 0.0) if math.isfinite(open_h) else 0.0)
        reached.append(True)
        names.append(f"still open at the horizon ({status.iloc[0] if len(status) else '?'})")
        colours.append(OPEN_COLOUR)
    lefts = np.concatenate([[0.0], np.cumsum(hours)[:-1]])
    y = np.arange(len(hours))[::-1]
    bars = ax.barh(
        y, hours, left=lefts, color=colours, height=0.7, edgecolor="white", linewidth=0.5
    )
    if not finished:
        bars[-1].set_hatch("//")
    total = float(hours.sum())
    for yi, left, h, ok in zip(y, lefts, hours, reached, strict=True):
        ax.text(
            left + h + 0.01 * total,
            yi,
            duration(h) if ok else "not reached",
            va="center",
            ha="left",
            fontsize=8.5,
            color="black" if ok else "0.5",
            style="normal" if ok else "italic",
        )
    ax.set_yticks(y, names)
    ax.set_xlim(0, total * 1.15 if total > 0 else 1.0)
    ax.set_xlabel("hours since the tube's first resident joined the line (mean over those tubes)")
    ax.grid(True, axis="x", alpha=0.3)
    groups = [*path["group"], *([] if finished else ["open at the horizon"])]
    by_group = pd.Series(hours, index=groups).groupby(level=0, sort=False).sum()
    handles = [
        Patch(
            facecolor=GROUP_COLOURS.get(str(g), OPEN_COLOUR),
            label=f"{g}: {duration(h)}",
            hatch="//" if g == "open at the horizon" else None,
            edgecolor="white",
        )
        for g, h in by_group.items()
    ]
    ax.legend(handles=handles, loc="lower left", frameon=True, fontsize=9, title="in total")
    end = "result" if finished else "the horizon"
    ax.set_title(
        _heading(
            result.scenario.round.name,
            f"where the last tubes spent their time\n{who}: {duration(total)} from joining the line to {end}",
        ),
        fontsize=12,
    )
    return fig


def pcr_instruments(lab: Any, scenario: Any) -> int:
    """The units of the pool a lab's PCR step takes first (a default lab's PCR instruments)."""
    step = lab.process.step(scenario.process.tested.name)
    return int(lab.process.pools[next(iter(step.needs))].units)


def lab_backlog(result: Result, rep: int = 0) -> Figure:
    """Per lab: tubes without a result over time, and PCR instruments running."""
    p = part(result, rep)
    k = p.kpis
    sc = result.scenario
    start = sc.round.start
    tl = p.tables["timeline"]
    labs = tl[tl["kind"] == "lab"]
    fig = Figure(figsize=(10, 7), layout="constrained")
    top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=(3, 2))
    colours = [f"C{i % 10}" for i in range(len(sc.labs))]
    for lab, colour in zip(sc.labs, colours, strict=True):
        installed = pcr_instruments(lab, sc)
        mine = labs[labs["entity"] == lab.id]
        backlog = mine[mine["metric"] == "tubes without result"].sort_values("time_h")
        if len(backlog):
            top.plot(
                backlog["time_h"],
                backlog["value"],
                color=colour,
                linewidth=2,
                label=f"{_plain(lab.id)} ({installed} PCR)",
            )
        running = mine[mine["metric"] == "PCR instruments running"].sort_values("time_h")
        if len(running):
            bottom.plot(
                running["time_h"],
                running["value"],
                color=colour,
                linewidth=1.8,
                drawstyle="steps-post",
            )
            bottom.axhline(installed, color=colour, linestyle=":", linewidth=1.2)
    _clock_axis(bottom, start, 0.0, _x_end(k, sc.round.horizon / H))
    for ax in (top, bottom):
        ax.grid(True, alpha=0.3)
        ax.set_ylim(bottom=0)
        _target_lines(ax, k, start, labels=ax is top)
    top.set_ylabel("tubes in the lab\nwithout a result")
    bottom.set_ylabel("PCR instruments running\n(dotted: installed)")
    bottom.yaxis.set_major_locator(MaxNLocator(integer=True))
    top.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:,.0f}"))
    top.legend(
        loc="upper left",
        bbox_to_anchor=(1.01, 1.0),
        frameon=False,
        fontsize=9,
        title="lab (PCR instruments)",
    )
    top.set_title(_heading(sc.round.name, "lab backlog (sampled every 15 min)"), fontsize=12)
    return fig


def point_queues(result: Result, rep: int = 0, top: int = 10) -> Figure:
    """People in line over time at the ``top`` points with the longest peak queue."""
    p = part(result, rep)
    sc = result.scenario
    start = sc.round.start
    points = p.tables["points"]
    tl = p.tables["timeline"]
    lines = tl[tl["kind"] == "point"]
    fig = Figure(figsize=(11, 5.6), layout="constrained")
    ax = fig.add_subplot()
    worst = points[points["peak_queue"] > 0].nlargest(top, "peak_queue")
    ax.set_title(
        _heading(
            sc.round.name,
            f"people in line at the {len(worst)} points with the longest peak queue"
            if len(worst)
            else "people in line at the sampling points",
        ),
        fontsize=12,
    )
    if not len(worst):
        ax.text(
            0.5,
            0.5,
            "No lines formed at any sampling point",
            ha="center",
            va="center",
            fontsize=13,
            transform=ax.transAxes,
        )
        ax.set_yticks([])
        last = float(points["last_swab_h"].max()) if len(points) else 1.0
        _clock_axis(ax, start, 0.0, (last if math.isfinite(last) else 1.0) + 0.5)
        return fig
    for i, row in enumerate(worst.itertuples(index=False)):
        q = lines[lines["entity"] == row.point].sort_values("time_h")
        label = (
            f"{_plain(row.point)}: peak {int(row.peak_queue):,} at {clock(start, row.peak_queue_h)}"
        )
        ax.plot(
            q["time_h"],
            q["value"],
            color=f"C{i % 10}",
            linewidth=1.8,
            label=label,
            marker="o",
            markersize=2.5,
        )
    median = float(points["peak_queue"].median())
    ax.axhline(
        median,
        color="0.4",
        linestyle="--",
        linewidth=1.2,
        zorder=1,
        label=f"median peak over all {len(points):,} points: {median:,.0f}",
    )
    ax.set_ylim(bottom=0)
    ax.set_ylabel("people in line (sampled every 15 min)")
    ax.grid(True, alpha=0.3)
    ax.legend(
        loc="center left",
        bbox_to_anchor=(1.01, 0.5),
        frameon=False,
        fontsize=9,
        title="point: exact peak",
    )
    last_swab = float(worst["last_swab_h"].max())
    end = last_swab if math.isfinite(last_swab) else sc.round.horizon / H
    if len(lines):
        busy = lines[(lines["value"] > 0) & lines["entity"].isin(worst["point"])]
        if len(busy):
            end = max(end, float(busy["time_h"].max()))
    _clock_axis(ax, start, 0.0, min(end + max(0.5, 0.05 * end), sc.round.horizon / H))
    return fig


def utilisation(result: Result, rep: int = 0) -> Figure:
    """Utilisation of each lab pool (a default lab's pools are its stages), per lab (busy
    time over units x working span)."""
    p = part(result, rep)
    sc = result.scenario
    labs = p.tables["labs"]
    fig = Figure(figsize=(10, 5.2), layout="constrained")
    ax = fig.add_subplot()
    lab_ids = list(dict.fromkeys(labs["lab"].astype(str)))
    stages = list(dict.fromkeys(labs["pool"]))
    x = np.arange(len(stages))
    width = 0.8 / max(len(lab_ids), 1)
    top = 100.0
    for i, lab in enumerate(lab_ids):
        rows = labs[labs["lab"].astype(str) == lab].set_index("pool").reindex(stages)
        values = 100.0 * rows["utilisation"].fillna(0.0).to_numpy(dtype=float)
        top = max(top, float(values.max(initial=0.0)))
        span = float(rows["span_h"].max())
        bars = ax.bar(
            x - 0.4 + width * (i + 0.5),
            values,
            width * 0.92,
            color=f"C{i % 10}",
            label=f"{_plain(lab)} (working span {span:.1f} h)",
        )
        if len(lab_ids) <= 4:
            ax.bar_label(bars, labels=[f"{v:.0f} %" for v in values], fontsize=8, padding=2)
    ax.axhline(100, color="0.3", linewidth=1, linestyle="--")
    ax.set_xticks(x, [sc.process.resource_labels.get(name, name) for name in stages])
    ax.set_ylim(0, top * 1.15)
    ax.yaxis.set_major_formatter(PercentFormatter(100))
    ax.set_ylabel("utilisation (% of units busy\nfrom lab opening to last report)")
    default = all(lab.process.default for lab in sc.labs)
    ax.set_xlabel("lab stage" if default else "lab pool (staff or instruments)")
    ax.grid(True, axis="y", alpha=0.3)
    ax.legend(
        loc="upper center",
        bbox_to_anchor=(0.5, -0.14),
        ncols=min(len(lab_ids), 3),
        frameon=False,
        fontsize=9,
    )
    ax.set_title(
        _heading(sc.round.name, "lab utilisation by " + ("stage" if default else "pool")),
        fontsize=12,
    )
    return fig


def district_map(result: Result, rep: int = 0, colour_by: str = "peak_queue") -> Figure:
    """Points, labs and routes where they are (no tiles, no network: the coordinates alone).

    A point's dot is coloured by its peak queue (``colour_by="peak_queue"``) or its last
    swab (``"last_swab_h"``) and sized by its residents; each route is drawn from its
    first point to its lab, as wide as the tubes its trips carried; labs are squares.
    Points without coordinates are left out (and counted in the title).
    """
    p = part(result, rep)
    sc = result.scenario
    from .model.geo import routes_for

    points = p.tables["points"].set_index("point")
    where = {pt.id: pt.location for pt in sc.points if pt.location is not None}
    labs = {lab.id: lab.location for lab in sc.labs if lab.location is not None}
    fig = Figure(figsize=(9, 8), layout="constrained")
    ax = fig.add_subplot()
    if not where:
        ax.text(0.5, 0.5, "no point has coordinates", ha="center", va="center",
                transform=ax.transAxes)  # fmt: skip
        ax.set_axis_off()
        return fig
    lat0 = float(np.mean([lat for lat, _ in where.values()]))
    lon0 = float(np.mean([lon for _, lon in where.values()]))
    # km from the points' centre (a degree of longitude is shorter away from the equator)
    km_east, km_north = 111.32 * math.cos(math.radians(lat0)), 110.57

    def xy(loc: tuple[float, float]) -> tuple[float, float]:
        return (loc[1] - lon0) * km_east, (loc[0] - lat0) * km_north

    trips = p.tables["trips"]
    carried = trips.groupby("route", observed=True)["tubes"].sum() if len(trips) else pd.Series()
    most = float(carried.max()) if len(carried) else 1.0
    for route in routes_for(sc):
        stops = [xy(where[pid]) for pid in route.points if pid in where]
        if route.lab in labs:
            stops.append(xy(labs[route.lab]))
        if len(stops) < 2:
            continue
        width = 0.4 + 3.6 * float(carried.get(route.id, 0.0)) / max(most, 1.0)
        xs, ys = zip(*stops, strict=True)
        ax.plot(xs, ys, color="0.55", linewidth=width, alpha=0.6, zorder=1)
    ids = [pid for pid in where if pid in points.index]
    values = points.loc[ids, colour_by].to_numpy(dtype=float)
    residents = points.loc[ids, "residents"].to_numpy(dtype=float)
    coords = np.array([xy(where[pid]) for pid in ids])
    size = 12 + 120 * residents / max(float(residents.max(initial=0.0)), 1.0)
    dots = ax.scatter(coords[:, 0], coords[:, 1], c=values, s=size, cmap="viridis",
                      edgecolors="white", linewidths=0.4, zorder=2)  # fmt: skip
    label = "peak queue (people)" if colour_by == "peak_queue" else "last swab (clock)"
    bar = fig.colorbar(dots, ax=ax, shrink=0.7, label=label)
    if colour_by != "peak_queue":
        bar.ax.yaxis.set_major_formatter(
            FuncFormatter(lambda v, _: format_minute(sc.round.start + v * H))
        )
    for lab_id, loc in labs.items():
        x, y = xy(loc)
        ax.scatter([x], [y], marker="s", s=160, color="#d62728", edgecolors="black", zorder=3)
        text = ax.annotate(_plain(lab_id), (x, y), xytext=(6, 6), textcoords="offset points",
                           fontsize=9, weight="bold", zorder=4)  # fmt: skip
        text.set_path_effects([patheffects.withStroke(linewidth=3, foreground="white")])
    ax.set_aspect("equal")
    ax.set_xlabel("km east of the points' centre")
    ax.set_ylabel("km north")
    ax.grid(True, alpha=0.2)
    left_out = len(sc.points) - len(ids)
    note = f"; {left_out:,} points without coordinates left out" if left_out else ""
    ax.set_title(
        _heading(sc.round.name, f"points, routes and labs\nline width: tubes carried{note}"),
        fontsize=12,
    )
    return fig


FIGURES: dict[str, Callable[..., Figure]] = {
    "cumulative": cumulative,
    "critical_path": critical_path,
    "lab_backlog": lab_backlog,
    "point_queues": point_queues,
    "utilisation": utilisation,
    "map": district_map,
}


def save_all(result: Result, folder: str | Path, rep: int = 0, dpi: int = DPI) -> list[Path]:
    """Write every figure as ``folder/figures/<name>.png``; returns the paths written."""
    out = Path(folder) / "figures"
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, draw in FIGURES.items():
        fig = draw(result, rep)
        path = out / f"{name}.png"
        fig.savefig(path, dpi=dpi)
        paths.append(path)
    return paths


# -- experiments (replications and sweeps) ---------------------------------------
def completion_distribution(result: Result) -> Figure:
    """Completion time over replications (empirical CDF) against the targets.

    Each step is one replication; where the curve crosses a target line is
    the share of replications that met it — P(met), printed beside the line
    with its Wilson 95 % interval. Replications unfinished at the horizon never
    reach the top of the curve.
    """
    from .stats import wilson

    kpis = result.kpis
    start = result.scenario.round.start
    n = len(kpis)
    values = np.sort(kpis["completion_h"].to_numpy(dtype=float))
    done = values[np.isfinite(values)]
    fig = Figure(figsize=(10, 5.2), layout="constrained")
    ax = fig.add_subplot()
    if done.size:
        xs = np.concatenate([[done[0]], done])
        ys = np.arange(0, done.size + 1) / n
        ax.step(xs, 100 * ys, where="post", color=CURVES[3][2], linewidth=2.4, zorder=3)
        ax.plot(done, 100 * np.arange(1, done.size + 1) / n, "o", color=CURVES[3][2], ms=3)
    targets_h = [t / H for t in result.scenario.round.targets]
    lo = min([*done.tolist(), *targets_h]) if done.size else min(targets_h, default=0.0)
    hi = max([*done.tolist(), *targets_h]) if done.size else result.scenario.round.horizon / H
    pad = max(0.25, 0.08 * (hi - lo))
    _clock_axis(ax, start, max(0.0, lo - pad), hi + pad)
    ax.set_ylim(0, 105)
    for hours in targets_h:
        met = int(np.sum(done <= hours + 1e-12))
        low, high = wilson(met, n)
        ax.axvline(hours, color=TARGET_LINE, linestyle="--", linewidth=1.3, zorder=1)
        ax.annotate(
            f"{hours:g} h target {clock(start, hours)}\n"
            f"P(met) {met / n:.2f} [{low:.2f}, {high:.2f}]",
            xy=(hours, 0.03),
            xycoords=ax.get_xaxis_transform(),
            xytext=(-3, 0),
            textcoords="offset points",
            rotation=90,
            ha="right",
            va="bottom",
            fontsize=9,
            fontweight="bold",
            color=_p_colour(met / n),
            bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.8, "pad": 1.0},
        )
    ax.yaxis.set_major_formatter(PercentFormatter(100))
    ax.set_ylabel("replications finished by then")
    ax.grid(True, alpha=0.3)
    unfinished = n - done.size
    note = f", {unfinished} unfinished at the horizon" if unfinished else ""
    ax.set_title(
        _heading(
            result.scenario.round.name,
            f"when the last result comes\n{n} replications, seed {result.seed}{note}",
        ),
        fontsize=12,
    )
    return fig


def _p_colour(p: float) -> str:
    """Green from P(met) 0.9, amber from 0.5, red below (as the terminal colours it)."""
    return MET_COLOUR if p >= 0.9 else ("#a05a00" if p >= 0.5 else MISSED_COLOUR)


def sweep(result: Sweep) -> Figure:
    """A sweep's completion time and P(met) by variant (:func:`sweep_figure` of its table)."""
    return sweep_figure(result.table, result.paths, result.targets_h, result.scenario.round.name)


def sweep_figure(
    table: pd.DataFrame, vary: list[str], targets_h: list[float], title: str = ""
) -> Figure:
    """Completion time (mean with its 95 % interval, p90 dotted) and P(met) by variant.

    ``table`` is a sweep table (:attr:`sim.experiment.Sweep.table`), ``vary``
    its varied paths. The first path is the x axis (numeric if its values are
    numbers); every combination of the other paths is one line.
    """
    first, others = vary[0], vary[1:]
    xs_raw = table[first].tolist()
    numeric = all(isinstance(v, int | float) and not isinstance(v, bool) for v in xs_raw)
    order = list(dict.fromkeys(xs_raw))
    position = {v: float(v) if numeric else float(i) for i, v in enumerate(order)}
    groups = [((), table)] if not others else list(table.groupby(others, sort=False, dropna=False))
    colours = [f"C{i % 10}" for i in range(len(groups))]
    styles = ["-", "--", ":", "-."]
    # lines of several groups often coincide in P(met): shift each group a little sideways
    span = (max(position.values()) - min(position.values())) or 1.0
    dodge = [(g - (len(groups) - 1) / 2) * 0.012 * span for g in range(len(groups))]

    fig = Figure(figsize=(12, 5.2), layout="constrained")
    ax_c, ax_p = fig.subplots(1, 2)
    unfinished: list[str] = []
    for (key, rows), colour, shift in zip(groups, colours, dodge, strict=True):
        key = key if isinstance(key, tuple) else (key,)
        name = ", ".join(
            f"{p.split('.')[-1] if len(p) > 24 else p}={k}"
            for p, k in zip(others, key, strict=True)
        )
        x = np.array([position[v] for v in rows[first]])
        mean = rows["completion_h_mean"].to_numpy(dtype=float)
        low = rows["completion_h_ci_low"].to_numpy(dtype=float)
        high = rows["completion_h_ci_high"].to_numpy(dtype=float)
        ok = np.isfinite(mean)
        err = np.vstack(
            [
                mean - np.where(np.isfinite(low), low, mean),
                np.where(np.isfinite(high), high, mean) - mean,
            ]
        )
        ax_c.errorbar(
            x[ok], mean[ok], yerr=err[:, ok], color=colour, marker="o", capsize=4, linewidth=2,
            label=(name + " — " if name else "") + "mean, 95 % CI",
        )  # fmt: skip
        p90 = rows["completion_h_p90"].to_numpy(dtype=float)
        ax_c.plot(x, p90, color=colour, linestyle=":", marker="^", ms=4, linewidth=1.2,
                  label=(name + " — " if name else "") + "90th percentile")  # fmt: skip
        for xv, share in zip(x, rows["finished_share"], strict=True):
            if share < 1:
                unfinished.append(f"{xv:g}" if numeric else str(order[int(xv)]))
        for t_index, hours in enumerate(targets_h):
            col = f"p_met_{hours:g}h"
            if col not in rows:
                continue
            p = rows[col].to_numpy(dtype=float)
            lo_p = rows[f"{col}_low"].to_numpy(dtype=float)
            hi_p = rows[f"{col}_high"].to_numpy(dtype=float)
            ax_p.errorbar(
                x + shift, p, yerr=np.vstack([p - lo_p, hi_p - p]), color=colour if others else f"C{t_index}",
                linestyle=styles[t_index % len(styles)], marker="o", capsize=4, linewidth=2,
                label=(name + " — " if name else "") + f"{hours:g} h target",
            )  # fmt: skip
    for hours in targets_h:
        ax_c.axhline(hours, color=TARGET_LINE, linestyle="--", linewidth=1.2, zorder=1)
        ax_c.annotate(
            f"{hours:g} h target", xy=(1.0, hours), xycoords=("axes fraction", "data"),
            xytext=(-4, 3), textcoords="offset points", ha="right", va="bottom", fontsize=9,
            color="0.25",
        )  # fmt: skip
    xlabel = _plain(first)
    for ax in (ax_c, ax_p):
        ax.set_xlabel(xlabel)
        ax.grid(True, alpha=0.3)
        if not numeric:
            ax.set_xticks([position[v] for v in order], [str(v) for v in order])
        elif len(order) <= 12:
            ax.set_xticks(sorted(position.values()))
    ax_c.set_ylabel("hours from the start to the last result")
    ax_c.set_title("Completion time", fontsize=11)
    ax_c.legend(fontsize=8, frameon=False)
    ax_p.set_ylim(-0.03, 1.03)
    ax_p.set_ylabel("probability of meeting the target")
    ax_p.set_title("P(met target), Wilson 95 % interval", fontsize=11)
    ax_p.legend(fontsize=8, frameon=False, loc="lower right")
    reps = int(table["replications"].iloc[0]) if len(table) else 0
    head = f"{_plain(title)} — " if title else ""
    sub = f"{reps} replications per variant, the same replications in every variant"
    if unfinished:
        sub += f"; some replications unfinished at {first}={', '.join(unfinished)}"
    over = " and ".join(_plain(p) for p in vary)
    fig.suptitle(f"{head}sweep over {over}\n{sub}", fontsize=12)
    return fig
