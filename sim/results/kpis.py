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

from ..model.door import COURIER_REASON
from ..stages import DEFAULT, Process, Stage, summary_labels
from ..units import format_minute

H = 3600.0
LAST_SHARE = 0.01  # "the last tubes": the last 1 % reported (at least one tube)


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


def critical_path(
    tubes: pd.DataFrame, horizon_h: float = np.inf, process: Process = DEFAULT
) -> pd.DataFrame:
    """Mean hours the last tubes spent in each step, in the order of the steps (those of
    ``process``, the scenario's: ``scenario.process``).

    A tube stuck in a step at the horizon counts the time it has spent there so far.
    """
    return _path(last_tubes(tubes), horizon_h, process)


def _path(
    last: pd.DataFrame, horizon_h: float = np.inf, process: Process = DEFAULT
) -> pd.DataFrame:
    """:func:`critical_path` of the given last tubes."""
    rows = []
    for seg in process.segments:
        name, group = seg.name, seg.group
        begun, ended = last[seg.start].to_numpy(dtype=float), last[seg.end].to_numpy(dtype=float)
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


def _stage_busy(st: Stage, records: dict[str, np.ndarray], servers: np.ndarray | None) -> float:
    """Busy hours of one step's runs over its records (a run of several plates counts once)."""
    start, end = records[st.start], records[st.end]
    if st.batched and servers is not None:
        runs = _first_rows(servers, start)
        start, end = start[runs], end[runs]
    return _sum(end - start)


def resource_use(plates: pd.DataFrame, bags: pd.DataFrame, scenario: Any) -> pd.DataFrame:
    """Busy hours and utilisation per lab and pool (a default lab's pools are its stages),
    over the lab's working span.

    The span runs from the lab's opening to its last report (its last receipt if
    no plate was reported). A pool is busy for every run of every step that needs it,
    once for each unit the step takes; a run of several plates counts once. Computed
    on numpy columns, lab by lab, with the same sums (NaN skipped, pairwise in row
    order) as pandas would take.
    """
    process = scenario.process
    lab_ids = [lab.id for lab in scenario.labs]
    p_lab = _codes(plates["lab"], lab_ids) if len(plates) else np.empty(0, dtype=np.int64)
    b_lab = _codes(bags["lab"], lab_ids) if len(bags) else np.empty(0, dtype=np.int64)

    def columns(frame: pd.DataFrame, stages: tuple[Stage, ...]) -> dict[str, np.ndarray]:
        if not len(frame):
            return {}
        return {f: _float(frame, f"{f}_h") for st in stages for f in (st.start, st.end)}

    p, b = columns(plates, process.plate_stages), columns(bags, process.bag_stages)
    servers = {
        st.name: plates[st.server_column].to_numpy()
        for st in process.plate_stages
        if st.batched and st.server_column and len(plates)
    }
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
                _nanmax(lp[process.plate_stages[-1].end]) if len(on_p) else np.nan,
                _nanmax(lb[process.bag_stages[-1].end])
                if len(on_b) and process.bag_stages
                else np.nan,
            )
            if np.isfinite(x)
        ]
        span = (max(ends) - opens) if ends else 0.0
        own = lab.process
        busy = dict.fromkeys(own.pools, 0.0)
        for st, spec in zip(process.stages, own.steps, strict=True):
            on, records = (on_b, lb) if st.unit == "bag" else (on_p, lp)
            by = servers[st.name][on] if st.name in servers else None
            hours = _stage_busy(st, records, by) if len(on) else 0.0
            for pool, count in spec.needs.items():
                busy[pool] += count * hours
        for name, pool in own.pools.items():
            units = pool.units
            rows.append(
                {
                    "lab": lab.id,
                    "pool": name,
                    "kind": pool.kind,
                    "units": units,
                    "busy_h": busy[name],
                    "span_h": span,
                    "utilisation": busy[name] / (units * span) if span > 0 else 0.0,
                }
            )
    return pd.DataFrame(rows)


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
    door: pd.DataFrame | None = None,
) -> dict[str, Any]:
    """The headline KPIs of one replication, as plain JSON-ready values.

    ``use`` is :func:`resource_use` of the same plates and bags (computed once by the
    caller); ``door`` the households the door-to-door teams visited (None: no such teams).
    """
    start = scenario.round.start
    residents_arrived, residents_swabbed = resident_counts(points, door)
    sealed = tubes["sealed_h"].notna()
    reported = tubes["reported_h"]
    finished, completion, targets = outcome(
        scenario,
        reported.to_numpy(dtype=float),
        tubes["residents"].to_numpy(),
        residents_arrived,
        residents_swabbed,
    )
    # a stage is complete when every resident's tube is through it by the horizon; until
    # then its completion is unknown (None), never the latest time of those that got through
    swabbed_all = residents_swabbed == residents_arrived
    last_swab = _max(points["last_swab_h"])
    if door is not None and len(door):
        last_swab = max(x for x in (last_swab, _max(door["swabbed_h"])) if x is not None)
    stages = {
        "last_swab": last_swab if swabbed_all else None,
        "last_delivery": _complete(tubes["delivered_h"]),
        "last_pcr": _complete(tubes[f"{scenario.process.tested.tube_end}_h"]),
        "last_report": _complete(reported),
    }
    last = last_tubes(tubes) if len(tubes) else tubes
    path = (
        _path(last, process=scenario.process)
        if len(tubes)
        else pd.DataFrame(columns=["segment", "group", "hours"])
    )
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
        "longest_wait": _longest_wait(path, last, use, scenario),
        "longest_queue": _longest_queue(points),
        "utilisation": _utilisation(use, points, trips, sum(r.vehicles for r in routes)),
        "unfinished": _unfinished(tubes, points),
    }
    labels = summary_labels(scenario.process)
    if labels is not None:  # a lab's own steps: what readers of summary.json call them
        summary["labels"] = labels
    return summary


def outcome(
    scenario: Any,
    reported_h: np.ndarray,
    residents: np.ndarray,
    arrived: int,
    swabbed: int,
) -> tuple[bool, float | None, list[dict[str, Any]]]:
    """Whether the round finished, its completion (hours) and each target's verdict.

    ``reported_h``: each tube's report time in hours (NaN: not reported by the
    horizon); ``residents``: each tube's residents. The round is finished when
    every resident who came was swabbed and every tube reported; a target is met
    when it finished by then; its share is of the residents who came. When nobody
    came, the round is finished at its start and every share is 1. The one
    statement of these rules: the KPIs and the levers (:mod:`sim.experiment.levers`)
    read them from here.
    """
    start = scenario.round.start
    finished = bool(not np.isnan(reported_h).any()) and swabbed == arrived
    completion = float(reported_h.max()) if finished and len(reported_h) else None
    if arrived == 0:  # nobody came (a small district's draw): nothing to wait for
        completion = 0.0
    targets = []
    for t in scenario.round.targets:
        th = t / H
        share = float(residents[reported_h <= th].sum() / arrived) if arrived else 1.0
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
    return finished, completion, targets


def resident_counts(points: pd.DataFrame, door: pd.DataFrame | None) -> tuple[int, int]:
    """Residents who came (to a point, or were visited at home) and of them swabbed by the
    horizon: the points' and the door-to-door households' together."""
    arrived = int(points["residents"].sum())
    swabbed = int(arrived - points["unswabbed_at_horizon"].sum())
    if door is not None and len(door):
        arrived += int(door["residents"].sum())
        swabbed += int(door.loc[door["swabbed_h"].notna(), "residents"].sum())
    return arrived, swabbed


def door_outcome(door: pd.DataFrame, tubes: pd.DataFrame, teams: int) -> dict[str, Any]:
    """What the door-to-door teams did: households, residents, tubes, the last swab and
    the last tube handed on, and when their tubes' last result came (None: not all by the
    horizon)."""
    reported = tubes["reported_h"].to_numpy(dtype=float)[door["tube"].to_numpy()]
    return {
        "teams": teams,
        "households": len(door),
        "residents": int(door["residents"].sum()),
        "tubes": len(door),
        "trips": int(door["trip"].nunique()),
        "last_swab_h": _max(door["swabbed_h"]) if door["swabbed_h"].notna().all() else None,
        "last_handed_h": _max(door["handed_h"]) if door["handed_h"].notna().all() else None,
        "last_report_h": (
            float(reported.max()) if len(reported) and not np.isnan(reported).any() else None
        ),
    }


def failure_outcome(failures: pd.DataFrame, horizon_h: float) -> list[dict[str, Any]]:
    """Breakdowns by lab and stage (or vehicles): how many began within the round and the
    unit-hours out of order up to the horizon."""
    out = []
    ends = failures["end_h"].fillna(horizon_h).clip(upper=horizon_h)
    down = ends - failures["start_h"]
    keys = failures["lab"].fillna("").astype(str) + "\0" + failures["stage"].astype(str)
    for key, rows in failures.groupby(keys, sort=False).groups.items():
        lab, stage = str(key).split("\0")
        out.append(
            {
                "lab": lab or None,
                "stage": stage,
                "breakdowns": len(rows),
                "unit_hours_down": float(down.loc[rows].sum()),
            }
        )
    return out


def capacity_phrases(rows: list[dict[str, Any]]) -> list[str]:
    """Each lab's capacity (``summary["lab_capacity"]``) as a planner reads it
    ("henan-mobile-1 79,488 (PCR), published 80,000")."""
    out = []
    for row in rows:
        text = f"{row['lab']} {row['tubes_per_day']:,} ({row['bottleneck']})"
        if row.get("published_tubes_per_day") is not None:
            text += f", published {row['published_tubes_per_day']:,}"
        out.append(text)
    return out


def failure_phrases(failures: list[dict[str, Any]], process: Process = DEFAULT) -> list[str]:
    """Each entry of :func:`failure_outcome` as a planner reads it ("77 of PCR at
    henan-mobile-1 (166.5 unit-hours)")."""
    return [
        f"{f['breakdowns']:,} of "
        + ("vehicles" if f["lab"] is None else f"{process.label(f['stage'])} at {f['lab']}")
        + f" ({f['unit_hours_down']:.1f} unit-hours)"
        for f in failures
    ]


def followup_outcome(scenario: Any, recalls: pd.DataFrame, reads: Any) -> dict[str, Any]:
    """The follow-up's outcome: finished when every recalled tube's members have their
    single-tube results by the horizon; its completion and each target's verdict."""
    wanted = int((reads.singles > 0).sum())
    done = recalls["reported_h"].to_numpy(dtype=float)
    finished = len(recalls) == wanted and not np.isnan(done).any()
    completion = (float(done.max()) if len(done) else 0.0) if finished else None
    return {
        "recalls": wanted,
        "recalls_started": len(recalls),
        "recalls_done": int((~np.isnan(done)).sum()),
        "finished": finished,
        "completion_h": completion,
        "completion_clock": _clock(scenario.round.start, completion),
        "targets": [
            {
                "hours": t / H,
                "met": completion is not None and completion <= t / H,
                "spare_h": None if completion is None else t / H - completion,
            }
            for t in scenario.round.targets
        ],
    }


def progress(process: Process = DEFAULT) -> tuple[tuple[str, str | None], ...]:
    """The steps of a round a resident's share is counted at, by the hour: (name, tube
    column; None: the swab counts)."""
    return (
        ("swabbed", None),
        ("delivered", "delivered_h"),
        ("tested", f"{process.tested.tube_end}_h"),
        ("reported", "reported_h"),
    )


def by_hour(
    scenario: Any, swabbed: np.ndarray, step_h: float, tubes: pd.DataFrame, arrived: int
) -> dict[str, list[float]]:
    """Share of the residents who came that were swabbed, delivered, tested (PCR done) and
    reported by each whole hour from the start to the horizon.

    ``swabbed[k]``: residents swabbed by ``k * step_h`` hours (the replication's swab
    counts); the other steps count each tube's residents at its time in that column.
    """
    hours = np.arange(1, int(np.ceil(scenario.round.horizon / H - 1e-9)) + 1, dtype=float)
    out: dict[str, list[float]] = {"hours": hours.tolist()}
    denominator = max(arrived, 1)
    weights = tubes["residents"].to_numpy(dtype=float)
    for name, column in progress(scenario.process):
        if column is None:
            index = np.minimum(np.rint(hours / step_h).astype(np.int64), len(swabbed) - 1)
            counts = swabbed[index].astype(float)
        else:
            # residents whose tube got there by hour h: a tube at time t counts from hour
            # ceil(t) on (one pass over the tubes, no sort); NaN (not by the horizon) never
            times = tubes[column].to_numpy(dtype=float)
            done = ~np.isnan(times)
            first_hour = np.ceil(times[done]).astype(np.int64)
            per_hour = np.bincount(
                np.minimum(first_hour, hours.size + 1), weights[done], minlength=hours.size + 2
            )
            counts = np.cumsum(per_hour)[1 : hours.size + 1]
        out[name] = (counts / denominator if arrived else np.ones_like(counts)).tolist()
    return out


def _max(series: pd.Series) -> float | None:
    return float(series.max()) if series.notna().any() else None


def _complete(series: pd.Series) -> float | None:
    """When the last of ``series`` happened, if all of them did (NaN: not by the horizon)."""
    return float(series.max()) if len(series) and series.notna().all() else None


def _clock(start: float, hours: float | None) -> str | None:
    return None if hours is None else format_minute(start + hours * H)


def _longest_wait(
    path: pd.DataFrame, last: pd.DataFrame, use: pd.DataFrame, scenario: Any
) -> dict[str, Any]:
    """The wait that held the last tubes (``last``) longest, and how busy the resource behind it was."""
    process = scenario.process
    waits = [(seg.name, seg.resource) for seg in process.segments if seg.resource is not None]
    if not len(path):
        return {}
    hours = dict(zip(path["segment"], path["hours"], strict=True))
    name, resource = max(waits, key=lambda w: hours.get(w[0], 0.0))
    out: dict[str, Any] = {"segment": name, "stage": resource, "hours": hours.get(name, 0.0)}
    if resource in ("sampling", "transport"):  # waits at a point: name the point
        out["where"] = str(last["point"].mode().iloc[0]) if len(last) else None
        return out
    labs = last["lab"].dropna()
    if not len(labs):
        return out
    lab = str(labs.mode().iloc[0])
    out["where"] = lab
    # the pools the step needs: the busiest is the resource behind the wait
    needs = list(scenario.lab(lab).process.step(str(resource)).needs)
    rows = use[(use["lab"] == lab) & use["pool"].isin(needs)]
    if len(rows):
        row = rows.loc[[rows["utilisation"].idxmax()]]
        # the one utilisation (labs.parquet's): busy over units x the span from opening
        opens = scenario.lab(lab).opens
        opened = 0.0 if opens is None else (opens - scenario.round.start) / H
        span = float(row["span_h"].iloc[0])
        out["pool"] = str(row["pool"].iloc[0])
        out["utilisation"] = float(row["utilisation"].iloc[0])
        out["busy_window"] = [
            _clock(scenario.round.start, opened),
            _clock(scenario.round.start, opened + span),
        ]
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
    for name in dict.fromkeys(use["pool"]) if len(use) else ():
        u = use[use["pool"] == name]
        capacity = (u["units"] * u["span_h"]).sum()
        if capacity > 0:
            out[f"lab {name}"] = float(u["busy_h"].sum() / capacity)
    trips = trips[trips["reason"] != COURIER_REASON]  # door-to-door couriers are no fleet
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
