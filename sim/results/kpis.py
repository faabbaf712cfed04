"""The figures a planner reads first, computed from the tidy tables of one replication.

* completion: when the last screening result was reported (hours from the
  start), and whether every tube got one before the horizon;
* stage completions: last swab, last delivery, last PCR, last report;
* each target: met or not, and the share of swabbed residents whose result was
  out by then;
* the critical path: where the last tubes (the last 1 % to be reported) spent
  their time, step by step;
* the bottleneck: the step in which the last tubes waited longest, with the
  utilisation of the resource behind it;
* the longest queue of people, and utilisation per resource class.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

H = 3600.0
LAST_SHARE = 0.01  # "the last tubes": the last 1 % reported (at least one tube)

# step name, what a planner calls it, from column, to column, resource behind a wait
SEGMENTS: tuple[tuple[str, str, str, str, str | None], ...] = (
    ("filling", "filling the tube", "first_swab_h", "sealed_h", None),
    ("pickup wait", "waiting for pickup", "sealed_h", "picked_up_h", "transport"),
    ("transit", "in transit", "picked_up_h", "delivered_h", None),
    ("receiving wait", "lab queue", "delivered_h", "receive_start_h", "receiving"),
    ("receiving", "in process", "receive_start_h", "received_h", None),
    ("plate wait", "lab queue", "received_h", "plate_formed_h", "loading"),
    ("loading", "in process", "plate_formed_h", "plated_h", None),
    ("extraction wait", "lab queue", "plated_h", "extraction_start_h", "extraction"),
    ("extraction", "in process", "extraction_start_h", "extraction_end_h", None),
    ("PCR wait", "lab queue", "extraction_end_h", "pcr_start_h", "pcr"),
    ("PCR", "in process", "pcr_start_h", "pcr_end_h", None),
    ("report wait", "lab queue", "pcr_end_h", "report_start_h", "report"),
    ("report", "reporting", "report_start_h", "reported_h", None),
)
LAB_STAGES = ("receiving", "loading", "extraction", "pcr", "report")


def last_tubes(tubes: pd.DataFrame) -> pd.DataFrame:
    """The last 1 % of tubes to be reported (or, if some never were, those unfinished).

    The same rows in the same order as ``tubes.nlargest(k, "reported_h")`` (latest
    first, ties in table order), found by a partition instead of a sort.
    """
    reported = tubes["reported_h"].to_numpy(dtype=float)
    missing = np.isnan(reported)
    if missing.any():
        return tubes[missing]
    k = max(1, int(np.ceil(LAST_SHARE * len(tubes))))
    return tubes.take(_largest(reported, k))


def _largest(values: np.ndarray, k: int) -> np.ndarray:
    """Positions of the ``k`` largest values, largest first, ties by position (no NaN)."""
    n = len(values)
    if k >= n:
        chosen = np.arange(n)
    else:
        kth = np.partition(values, n - k)[n - k]  # the k-th largest value
        above = np.flatnonzero(values > kth)
        ties = np.flatnonzero(values == kth)[: k - len(above)]  # the first ones, as nlargest
        chosen = np.concatenate([above, ties])
    return chosen[np.lexsort((chosen, -values[chosen]))]


def critical_path(tubes: pd.DataFrame, horizon_h: float = np.inf) -> pd.DataFrame:
    """Mean hours the last tubes spent in each step, in the order of the steps.

    A tube stuck in a step at the horizon counts the time it has spent there so far.
    """
    return _path(last_tubes(tubes), horizon_h)


def _path(last: pd.DataFrame, horizon_h: float = np.inf) -> pd.DataFrame:
    """:func:`critical_path` of the given last tubes."""
    rows = []
    for name, group, a, b, _ in SEGMENTS:
        begun, ended = last[a].to_numpy(dtype=float), last[b].to_numpy(dtype=float)
        if np.isfinite(horizon_h):
            ended = np.where(np.isnan(ended) & ~np.isnan(begun), horizon_h, ended)
        span = ended - begun
        rows.append(
            {
                "segment": name,
                "group": group,
                "hours": float(np.nanmean(span)) if np.isfinite(span).any() else 0.0,
            }
        )
    return pd.DataFrame(rows)


def _codes(column: pd.Series, ids: list[str]) -> np.ndarray:
    """Position of each row's value in ``ids`` (-1: not there), for categorical or text columns."""
    if isinstance(column.dtype, pd.CategoricalDtype):
        where = np.append(pd.Index(ids).get_indexer(column.cat.categories), -1)
        return where[column.cat.codes.to_numpy()]  # code -1 (missing) reads the appended -1
    return pd.Index(ids).get_indexer(column)


def _float(frame: pd.DataFrame, name: str) -> np.ndarray:
    return frame[name].to_numpy(dtype=float)


def _sum(values: np.ndarray) -> float:
    """As ``Series.sum()``: NaN skipped, numpy's pairwise sum over the rest in row order."""
    return float(np.nansum(values))


def _nanmax(values: np.ndarray) -> float:
    """The largest value that is not NaN (-inf when there is none)."""
    return float(np.fmax.reduce(values, initial=-np.inf))


def _first_rows(keys: np.ndarray, times: np.ndarray) -> np.ndarray:
    """Positions of the first row of each distinct (key, time) pair, in row order.

    What ``drop_duplicates`` keeps: a stable sort brings equal pairs together in
    row order, and NaN times count as equal to each other.
    """
    if not len(keys):
        return np.empty(0, dtype=np.int64)
    order = np.lexsort((times, keys))
    k, t = keys[order], times[order]
    same = (k[1:] == k[:-1]) & ((t[1:] == t[:-1]) | (np.isnan(t[1:]) & np.isnan(t[:-1])))
    return np.sort(order[np.concatenate(([True], ~same))])


def resource_use(plates: pd.DataFrame, bags: pd.DataFrame, scenario: Any) -> pd.DataFrame:
    """Busy hours and utilisation per lab and step, over the lab's working span.

    The span runs from the lab's opening to its last report; an extraction run
    of several plates counts once. Computed on numpy columns, lab by lab, with the
    same sums (NaN skipped, pairwise in row order) as pandas would take.
    """
    lab_ids = [lab.id for lab in scenario.labs]
    p_lab = _codes(plates["lab"], lab_ids) if len(plates) else np.empty(0, dtype=np.int64)
    b_lab = _codes(bags["lab"], lab_ids) if len(bags) else np.empty(0, dtype=np.int64)
    p = {c: _float(plates, f"{c}_h") for c in _PLATE_STEPS} if len(plates) else {}
    instrument = plates["extraction_instrument"].to_numpy() if len(plates) else np.empty(0)
    b = {c: _float(bags, f"{c}_h") for c in _BAG_STEPS} if len(bags) else {}
    rows = []
    for code, lab in enumerate(scenario.labs):
        on_p = np.flatnonzero(p_lab == code)
        on_b = np.flatnonzero(b_lab == code)
        lp = {c: v[on_p] for c, v in p.items()}
        lb = {c: v[on_b] for c, v in b.items()}
        opens = 0.0 if lab.opens is None else (lab.opens - scenario.round.start) / H
        ends = [
            x
            for x in (
                _nanmax(lp["reported"]) if len(on_p) else np.nan,
                _nanmax(lb["received"]) if len(on_b) else np.nan,
            )
            if np.isfinite(x)
        ]
        span = (max(ends) - opens) if ends else 0.0
        busy = {"receiving": 0.0, "loading": 0.0, "extraction": 0.0, "pcr": 0.0, "report": 0.0}
        if len(on_b):
            busy["receiving"] = _sum(lb["received"] - lb["receive_start"])
        if len(on_p):
            runs = _first_rows(instrument[on_p], lp["extraction_start"])
            busy["loading"] = _sum(lp["loaded"] - lp["formed"])
            busy["extraction"] = _sum(lp["extraction_end"][runs] - lp["extraction_start"][runs])
            busy["pcr"] = _sum(lp["pcr_end"] - lp["pcr_start"])
            busy["report"] = _sum(lp["reported"] - lp["report_start"])
        units = {
            "receiving": lab.receiving.staff,
            "loading": lab.loading.staff,
            "extraction": lab.extraction.instruments,
            "pcr": lab.pcr.instruments,
            "report": lab.report.staff,
        }
        for stage in LAB_STAGES:
            rows.append(
                {
                    "lab": lab.id,
                    "stage": stage,
                    "units": units[stage],
                    "busy_h": busy[stage],
                    "span_h": span,
                    "utilisation": busy[stage] / (units[stage] * span) if span > 0 else 0.0,
                }
            )
    return pd.DataFrame(rows)


_PLATE_STEPS = (
    "formed", "loaded", "extraction_start", "extraction_end", "pcr_start", "pcr_end", "report_start", "reported",
)  # fmt: skip
_BAG_STEPS = ("receive_start", "received")


# the plate table's columns where each lab stage starts and ends work on a plate
STAGE_COLUMNS = {
    "loading": ("formed_h", "loaded_h"),
    "extraction": ("extraction_start_h", "extraction_end_h"),
    "pcr": ("pcr_start_h", "pcr_end_h"),
    "report": ("report_start_h", "reported_h"),
}


def busy_share(
    plates: pd.DataFrame, lab: str, stage: str, units: int, t0: float, t1: float
) -> float:
    """Share of ``units`` busy in ``stage`` at ``lab`` between t0 and t1 (hours)."""
    if t1 <= t0 or not len(plates):
        return 0.0
    start_col, end_col = STAGE_COLUMNS[stage]
    rows = np.flatnonzero(_codes(plates["lab"], [lab]) == 0)
    start, end = _float(plates, start_col)[rows], _float(plates, end_col)[rows]
    if stage == "extraction":  # a run of several plates counts once
        runs = _first_rows(plates["extraction_instrument"].to_numpy()[rows], start)
        start, end = start[runs], end[runs]
    overlap = np.minimum(end, t1) - np.maximum(start, t0)
    overlap = np.where(overlap < 0, 0.0, overlap)  # as clip(lower=0): NaN stays NaN
    return _sum(overlap) / (units * (t1 - t0))


def summarise(
    scenario: Any,
    seed: int,
    replication: int,
    tubes: pd.DataFrame,
    points: pd.DataFrame,
    plates: pd.DataFrame,
    bags: pd.DataFrame,
    trips: pd.DataFrame,
    routes: tuple[Any, ...],
    use: pd.DataFrame,
) -> dict[str, Any]:
    """The headline KPIs of one replication, as plain JSON-ready values.

    ``use`` is :func:`resource_use` of the same plates and bags (computed once by the caller).
    """
    start = scenario.round.start
    residents_arrived = int(points["residents"].sum())
    residents_swabbed = int(residents_arrived - points["unswabbed_at_horizon"].sum())
    sealed = tubes["sealed_h"].notna()
    reported = tubes["reported_h"]
    finished = bool(reported.notna().all()) and residents_swabbed == residents_arrived
    completion = float(reported.max()) if finished and len(tubes) else None
    weights = tubes["residents"].to_numpy()
    targets = []
    for t in scenario.round.targets:
        th = t / H
        by = (reported <= th).to_numpy()
        share = float(weights[by].sum() / max(residents_arrived, 1))
        met = completion is not None and completion <= th
        targets.append(
            {
                "hours": th,
                "clock": _clock(start, th),
                "met": bool(met),
                "spare_h": (th - completion) if completion is not None else None,
                "share_reported": share,
            }
        )
    stages = {
        "last_swab": _max(points["last_swab_h"]),
        "last_delivery": _max(tubes["delivered_h"]),
        "last_pcr": _max(tubes["pcr_end_h"]),
        "last_report": _max(reported),
    }
    last = last_tubes(tubes) if len(tubes) else tubes
    path = _path(last) if len(tubes) else pd.DataFrame(columns=["segment", "group", "hours"])
    summary: dict[str, Any] = {
        "scenario": scenario.round.name,
        "seed": seed,
        "replication": replication,
        "residents_arrived": residents_arrived,
        "residents_swabbed": residents_swabbed,
        "tubes": int(sealed.sum()),
        "plates": len(plates),
        "trips": len(trips),
        "finished": finished,
        "completion_h": completion,
        "completion_clock": _clock(start, completion) if completion is not None else None,
        "stages_h": stages,
        "targets": targets,
        "critical_path": path.to_dict("records"),
        "bottleneck": _bottleneck(path, last, tubes, plates, use, scenario),
        "longest_queue": _longest_queue(points),
        "utilisation": _utilisation(use, points, trips, sum(r.vehicles for r in routes)),
        "unfinished": _unfinished(tubes, points),
    }
    return summary


def _max(series: pd.Series) -> float | None:
    return float(series.max()) if series.notna().any() else None


def _clock(start: float, hours: float | None) -> str | None:
    from ..units import format_clock

    return None if hours is None else format_clock(start + hours * H)


def _bottleneck(
    path: pd.DataFrame,
    last: pd.DataFrame,
    tubes: pd.DataFrame,
    plates: pd.DataFrame,
    use: pd.DataFrame,
    scenario: Any,
) -> dict[str, Any]:
    """The wait that held the last tubes (``last``) longest, and how busy the resource behind it was."""
    waits = [(name, res) for name, _, _, _, res in SEGMENTS if res is not None]
    if not len(path):
        return {}
    hours = dict(zip(path["segment"], path["hours"], strict=True))
    name, resource = max(waits, key=lambda w: hours.get(w[0], 0.0))
    out: dict[str, Any] = {"segment": name, "stage": resource, "hours": hours.get(name, 0.0)}
    if resource == "transport":
        out["where"] = str(last["point"].mode().iloc[0]) if len(last) else None
        return out
    labs = last["lab"].dropna()
    if not len(labs):
        return out
    lab = str(labs.mode().iloc[0])
    out["where"] = lab
    row = use[(use["lab"] == lab) & (use["stage"] == resource)]
    out["utilisation"] = float(row["utilisation"].iloc[0]) if len(row) else None
    if resource != "receiving" and len(plates):
        t0 = float(tubes.loc[tubes["lab"] == lab, "delivered_h"].min())
        t1 = (
            float(last["reported_h"].max())
            if last["reported_h"].notna().any()
            else float(scenario.round.horizon / H)
        )
        units = int(row["units"].iloc[0]) if len(row) else 1
        out["busy_window"] = [_clock(scenario.round.start, t0), _clock(scenario.round.start, t1)]
        out["busy_share_in_window"] = busy_share(plates, lab, resource, units, t0, t1)
    return out


def _longest_queue(points: pd.DataFrame) -> dict[str, Any]:
    if not len(points) or points["peak_queue"].max() <= 0:
        return {}
    row = points.loc[points["peak_queue"].idxmax()]
    worst_wait = points.loc[points["max_wait_min"].idxmax()]
    return {
        "point": str(row["point"]),
        "people": int(row["peak_queue"]),
        "at_h": float(row["peak_queue_h"]),
        "longest_wait_min": float(row["max_wait_min"]),
        "longest_wait_anywhere": {
            "point": str(worst_wait["point"]),
            "minutes": float(worst_wait["max_wait_min"]),
        },
        "share_waiting_over_30min": float(
            (points["waited_over_30min"] * points["residents"]).sum()
            / max(points["residents"].sum(), 1)
        ),
    }


def _utilisation(
    use: pd.DataFrame, points: pd.DataFrame, trips: pd.DataFrame, n_vehicles: int
) -> dict[str, float]:
    out: dict[str, float] = {}
    stations = points["stations"] * (points["last_swab_h"] - points["open_h"]).clip(lower=0)
    if stations.sum() > 0:
        out["sampling stations"] = float((points["utilisation"] * stations).sum() / stations.sum())
    for stage in LAB_STAGES:
        u = use[use["stage"] == stage]
        capacity = (u["units"] * u["span_h"]).sum()
        if capacity > 0:
            out[f"lab {stage}"] = float(u["busy_h"].sum() / capacity)
    if len(trips):
        span = trips["back_h"].max() - trips["depart_h"].min()
        if span > 0 and n_vehicles:
            out["vehicles"] = float(
                (trips["back_h"] - trips["depart_h"]).sum() / (n_vehicles * span)
            )
    return out


def _unfinished(tubes: pd.DataFrame, points: pd.DataFrame) -> dict[str, Any]:
    still_open = (tubes["status"] != "reported").to_numpy()
    open_tubes = tubes.loc[still_open, ["status", "residents", "point", "lab"]]
    unswabbed = int(points["unswabbed_at_horizon"].sum())
    # every resident who came is in a tube, those not swabbed by the horizon too
    out: dict[str, Any] = {
        "tubes": len(open_tubes),
        "residents": int(open_tubes["residents"].sum()),
    }
    if unswabbed:
        out["residents_not_swabbed"] = unswabbed
    if len(open_tubes):
        place = np.where(
            open_tubes["status"].isin(["at point", "not swabbed"]),
            open_tubes["point"].astype(str),
            open_tubes["lab"].astype(str),
        )
        where = (
            open_tubes.assign(place=place)
            .groupby(["status", "place"], observed=True)
            .size()
            .sort_values(ascending=False)
            .head(10)
        )
        out["where"] = [{"status": s, "place": p, "tubes": int(n)} for (s, p), n in where.items()]
    return out
