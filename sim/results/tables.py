"""A replication's records as tidy DataFrames, built once.

Times are hours from the round start (columns ending ``_h``); NaN means the
tube never reached that step before the horizon. Every table carries the
``replication`` it came from so tables of several replications stack.

The tables are built column by column as numpy arrays and handed to pandas
once, without a copy (``copy=False``): a million-tube table then costs its
arithmetic, not pandas' block consolidation. Per-tube lab times are the times
of the tube's plate (or bag), taken by one gather from the plate's columns,
whose last cell is NaN so that "no plate" (index -1) reads as NaN.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import chain
from operator import attrgetter
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from ..model.ledger import Bag, Plate
from ..model.world import Replication
from ..stages import DEFAULT, Process

H = 3600.0


def _plate_floats(process: Process) -> tuple[str, ...]:
    """The plate fields each table reads: every plate step's start and end."""
    return tuple(f for st in process.plate_stages for f in (st.start, st.end))


def _tube_plate_times(process: Process) -> tuple[tuple[str, str], ...]:
    """Tube-table column <- plate field, in table order."""
    return tuple(
        (f"{column}_h", field)
        for st in process.plate_stages
        for column, field in ((st.tube_start, st.start), (st.tube_end, st.end))
    )


_TIMES = attrgetter("times")
_SERVER = attrgetter("server")


def _plate_columns(plates: list[Plate], process: Process = DEFAULT) -> dict[str, np.ndarray]:
    """The plates' fields as contiguous columns, read in one pass over the plate objects:
    each plate step's start and end (named as in the registry), its server, and the
    plate's tubes and lab."""
    n = len(plates)
    stages = process.plate_stages
    width = 2 * len(stages)
    times = np.fromiter(chain.from_iterable(map(_TIMES, plates)), float, n * width)
    servers = np.fromiter(chain.from_iterable(map(_SERVER, plates)), np.int64, n * len(stages))
    # (plate, field) rows -> one contiguous array per field
    times = np.ascontiguousarray(times.reshape(n, width).T)
    servers = np.ascontiguousarray(servers.reshape(n, len(stages)).T)
    out = {name: times[k] for k, name in enumerate(_plate_floats(process))}
    for k, st in enumerate(stages):
        if st.server_column:
            out[st.server_column] = servers[k]
    pair = np.fromiter(chain.from_iterable(map(_TUBES_LAB, plates)), np.int64, 2 * n)
    out["tubes"], out["lab"] = np.ascontiguousarray(pair.reshape(n, 2).T)
    return out


_TUBES_LAB = attrgetter("tubes", "lab")


def _bag_columns(bags: list[Bag], process: Process = DEFAULT) -> dict[str, np.ndarray]:
    """The bags' fields as columns: each bag step's start, end and server, and the bag's
    lab, point, tubes and delivery time."""
    n = len(bags)
    stages = process.bag_stages
    width = 2 * len(stages)
    times = np.fromiter(chain.from_iterable(map(_TIMES, bags)), float, n * width)
    times = np.ascontiguousarray(times.reshape(n, width).T)
    servers = np.fromiter(chain.from_iterable(map(_SERVER, bags)), np.int64, n * len(stages))
    servers = np.ascontiguousarray(servers.reshape(n, len(stages)).T)
    out: dict[str, np.ndarray] = {}
    for k, st in enumerate(stages):
        out[st.start], out[st.end] = times[2 * k], times[2 * k + 1]
        if st.server_column:
            out[st.server_column] = servers[k]
    ints = np.fromiter(chain.from_iterable(map(_BAG_INTS, bags)), np.int64, n * 5)
    ints = np.ascontiguousarray(ints.reshape(n, 5).T)
    for k, name in enumerate(("id", "lab", "point", "lo", "hi")):
        out[name] = ints[k]
    out["delivered"] = np.fromiter(map(_DELIVERED, bags), float, n)
    return out


_BAG_INTS = attrgetter("id", "lab", "point", "lo", "hi")
_DELIVERED = attrgetter("delivered")


def _hours_or_nan(seconds: np.ndarray) -> np.ndarray:
    """``seconds`` in hours with one extra NaN cell at the end, for gathers where -1 means none."""
    out = np.empty(len(seconds) + 1)
    np.divide(seconds, H, out=out[:-1])
    out[-1] = np.nan
    return out


def _censored_hours(seconds: np.ndarray, horizon: float) -> np.ndarray:
    """Hours, with times past the horizon (which did not happen within the round) as NaN."""
    out = np.divide(seconds, H)
    np.copyto(out, np.nan, where=seconds > horizon)
    return out


def _ids(items: Any) -> list[str]:
    """The ``id`` of each item (point, lab, route), in order."""
    return [x.id for x in items]


def _names(names: list[str], codes: np.ndarray) -> pd.api.extensions.ExtensionArray:
    """A text column holding ``names[code]`` for each code (all valid), gathered by Arrow
    so that no Python string is made per row."""
    return pd.array(pa.array(names, pa.large_string()).take(codes), dtype="str")


def _code_type(categories: Any) -> type:
    """The integer type pandas keeps the codes of so many categories in (no conversion later)."""
    n = len(categories)
    return np.int8 if n < 127 else np.int16 if n < 32767 else np.int32


def _categorical(codes: np.ndarray, categories: Any) -> pd.Categorical:
    """A categorical from integer codes (-1: missing), without a pass over strings."""
    return pd.Categorical.from_codes(codes, categories=categories)


def _columns(rows: Sequence[tuple[Any, ...]], dtypes: tuple[type, ...]) -> list[np.ndarray]:
    """Row tuples as one array per field (empty arrays of the right type when there are none)."""
    if not rows:
        return [np.empty(0, dtype=d) for d in dtypes]
    return [np.array(col, dtype=d) for col, d in zip(zip(*rows, strict=True), dtypes, strict=True)]


def _frame(columns: dict[str, Any]) -> pd.DataFrame:
    """A DataFrame over freshly built arrays, without pandas copying or consolidating them."""
    return pd.DataFrame(columns, copy=False)


def tube_table(
    rep: Replication,
    plate_cols: dict[str, np.ndarray] | None = None,
    bag_cols: dict[str, np.ndarray] | None = None,
) -> pd.DataFrame:
    """One row per tube with its point, trip, lab, plate and the time of every step.

    ``plate_cols`` and ``bag_cols`` are the ledger's plate and bag columns when the
    caller already has them.
    """
    led = rep.ledger
    sc = rep.scenario
    process = sc.process
    n = led.n_tubes
    if plate_cols is None:
        plate_cols = _plate_columns(led.plates, process)

    # lab times of each tube: its plate's, gathered in one pass; -1 (no plate) hits the NaN row
    tube_plate_times = _tube_plate_times(process)
    plate_times = np.empty((len(tube_plate_times), len(led.plates) + 1))
    for k, (_, field) in enumerate(tube_plate_times):
        plate_times[k] = _hours_or_nan(plate_cols[field])
    per_tube = np.take(plate_times, led.tube_plate, axis=1)

    if bag_cols is None:
        bag_cols = _bag_columns(led.bags, process)
    bag_times = {
        column: np.take(_hours_or_nan(bag_cols[field]), led.tube_bag)
        for st in process.bag_stages
        for column, field in ((st.tube_start, st.start), (st.tube_end, st.end))
    }
    trip_vehicle: np.ndarray = np.array(
        [row.vehicle for row in led.trips] + [-1], dtype=_code_type(rep.vehicles)
    )

    cols: dict[str, Any] = {
        "replication": np.full(n, rep.replication, dtype=np.int64),
        "tube": np.arange(n, dtype=np.int64),
        "point": _categorical(led.tube_point, _ids(sc.points)),
        "station": led.tube_station.copy(),
        "residents": led.tube_size.copy(),
        "first_arrival_h": _censored_hours(led.tube_arrival, sc.round.horizon),
        "first_swab_h": _censored_hours(led.tube_first, sc.round.horizon),
        "last_swab_h": _censored_hours(led.tube_last, sc.round.horizon),
        "sealed_h": _censored_hours(led.tube_sealed, sc.round.horizon),
        "trip": led.tube_trip.copy(),
        # trip -1 (none) reads the last cell, vehicle -1
        "vehicle": _categorical(np.take(trip_vehicle, led.tube_trip), list(rep.vehicles)),
        "picked_up_h": led.tube_picked_up / H,
        "delivered_h": led.tube_delivered / H,
        "lab": _categorical(led.tube_lab, _ids(sc.labs)),
        "bag": led.tube_bag.copy(),
        **{f"{column}_h": values for column, values in bag_times.items()},
        "plate": led.tube_plate.copy(),
    }
    for k, (name, _) in enumerate(tube_plate_times):
        cols[name] = per_tube[k]
    cols["status"] = _status(cols, process)
    if rep.reads is not None:  # with a positives section: what each tube holds and reads
        cols["cases"] = rep.reads.cases
        cols["reads_positive"] = rep.reads.positive
        cols["single_tubes"] = rep.reads.singles
        cols["confirmed"] = rep.reads.confirmed
    return _frame(cols)


def tube_reported_h(rep: Replication) -> np.ndarray:
    """Each tube's report time in hours (NaN: not reported by the horizon), without the
    rest of the tube table: what a replication's outcome needs."""
    last = 2 * len(rep.scenario.process.plate_stages) - 1  # the last plate step's end: the report
    reported = np.fromiter((p.times[last] for p in rep.ledger.plates), float)
    return np.take(_hours_or_nan(reported), rep.ledger.tube_plate)


def _status(cols: dict[str, Any], process: Process) -> pd.Categorical:
    """Where each tube stands at the horizon: "reported", or the step it was in."""
    n = len(cols["tube"])
    order = process.status_order
    codes = np.full(n, order.index("not swabbed"), dtype=np.int8)
    for label, column in process.status_steps:  # later steps overwrite earlier ones
        np.copyto(codes, order.index(label), where=~np.isnan(cols[column]))
    return pd.Categorical.from_codes(codes, categories=list(order))


def tube_status(tubes: pd.DataFrame, process: Process = DEFAULT) -> pd.Categorical:
    """Where each tube of a tube table stands at the horizon: "reported", or the step it was
    in (the steps of ``process``, the scenario's)."""
    cols = {"tube": tubes["tube"].to_numpy()}
    for _, column in process.status_steps:
        cols[column] = tubes[column].to_numpy(dtype=float)
    return _status(cols, process)


def plate_table(rep: Replication, plate_cols: dict[str, np.ndarray] | None = None) -> pd.DataFrame:
    """One row per plate: its lab, size and the time of each lab step.

    ``plate_cols`` are the ledger's plate columns when the caller already has them.
    """
    led = rep.ledger
    process = rep.scenario.process
    if plate_cols is None:
        plate_cols = _plate_columns(led.plates, process)
    n = len(led.plates)
    cols: dict[str, Any] = {
        "replication": np.full(n, rep.replication, dtype=np.int64),
        "plate": np.arange(n, dtype=np.int64),
        "lab": _categorical(plate_cols["lab"], _ids(rep.scenario.labs)),
        "tubes": plate_cols["tubes"],
        # bin 0 collects the tubes without a plate (-1)
        "residents": np.bincount(led.tube_plate + 1, weights=led.tube_size, minlength=n + 1)[
            1:
        ].astype(np.int64),
    }
    for st in process.plate_stages:
        if st.server_column:
            cols[st.server_column] = plate_cols[st.server_column]
    for name in _plate_floats(process):
        cols[f"{name}_h"] = plate_cols[name] / H
    return _frame(cols)


_TRIP_TYPES = (
    np.int64,
    np.int64,
    np.int64,
    object,
    float,
    float,
    np.int64,
    np.int64,
    np.int64,
    object,
)


def trip_table(rep: Replication) -> pd.DataFrame:
    """One row per vehicle trip, with the lab it delivered to and why it went there."""
    trip, route, vehicle, reason, depart, back, tubes, stops, lab, choice = _columns(
        rep.ledger.trips, _TRIP_TYPES
    )
    labs = _ids(rep.scenario.labs)
    return _frame(
        {
            "replication": np.full(len(trip), rep.replication, dtype=np.int64),
            "trip": trip,
            "route": _names(_ids(rep.routes), route),
            "vehicle": _names(list(rep.vehicles), vehicle),
            "reason": pd.array(reason, dtype="str"),
            "tubes": tubes,
            "stops": stops,
            "lab": pd.array([labs[k] if k >= 0 else None for k in lab.tolist()], dtype="str"),
            "choice": pd.array([c or None for c in choice], dtype="str"),
            "depart_h": depart / H,
            "back_h": back / H,
        }
    )


_STOP_TYPES = (np.int64, np.int64, float, float, np.int64, np.int64, np.int64)


def stop_table(rep: Replication) -> pd.DataFrame:
    """One row per handover at a point."""
    trip, point, arrive, depart, tubes, _, _ = _columns(rep.ledger.stops, _STOP_TYPES)
    return _frame(
        {
            "replication": np.full(len(trip), rep.replication, dtype=np.int64),
            "trip": trip,
            "point": _names(_ids(rep.scenario.points), point),
            "tubes": tubes,
            "arrive_h": arrive / H,
            "depart_h": depart / H,
        }
    )


def bag_table(rep: Replication, bag_cols: dict[str, np.ndarray] | None = None) -> pd.DataFrame:
    """One row per bag delivered to a lab: its tubes and the runs of the bag stages."""
    sc = rep.scenario
    process = sc.process
    cols = _bag_columns(rep.ledger.bags, process) if bag_cols is None else bag_cols
    out: dict[str, Any] = {
        "replication": np.full(len(cols["id"]), rep.replication, dtype=np.int64),
        "bag": cols["id"],
        "lab": _names(_ids(sc.labs), cols["lab"]),
        "point": _names(_ids(sc.points), cols["point"]),
    }
    for st in process.bag_stages:
        if st.server_column:
            out[st.server_column] = cols[st.server_column]
    out["tubes"] = cols["hi"] - cols["lo"]
    out["delivered_h"] = cols["delivered"] / H
    for st in process.bag_stages:
        out[f"{st.start}_h"] = cols[st.start] / H
        out[f"{st.end}_h"] = cols[st.end] / H
    return _frame(out)


def point_table(rep: Replication) -> pd.DataFrame:
    frame = rep.points.copy()
    frame.insert(0, "replication", rep.replication)
    return frame


def vehicle_table(trips: pd.DataFrame, rep: Replication) -> pd.DataFrame:
    """Trips, tubes and hours on the road per vehicle, in the order of ``rep.vehicles``.

    Counts, minima and maxima are exact whatever the order; the hours on the road
    are summed by pandas' grouped sum, as they always were.
    """
    vehicles = list(rep.vehicles)
    n = len(vehicles)
    code = pd.Index(vehicles).get_indexer(trips["vehicle"]) if len(trips) else np.empty(0, int)
    mine = code >= 0
    code = code[mine]
    depart = trips["depart_h"].to_numpy(dtype=float)[mine]
    back = trips["back_h"].to_numpy(dtype=float)[mine]
    tubes = trips["tubes"].to_numpy()[mine]
    busy = pd.Series(back - depart).groupby(code).sum().reindex(range(n), fill_value=0.0)
    first_depart = np.full(n, np.inf)
    np.fmin.at(first_depart, code, depart)  # fmin skips NaN
    last_back = np.full(n, -np.inf)
    np.fmax.at(last_back, code, back)
    routes: list[str | None] = [r.id for r in rep.routes for _ in range(r.vehicles)]
    labs: list[str | None] = [r.lab for r in rep.routes for _ in range(r.vehicles)]
    for name in vehicles[len(routes) :]:  # door-to-door couriers: the route and lab they served
        theirs = trips[trips["vehicle"] == name]
        routes.append(theirs["route"].iloc[0] if len(theirs) else None)
        labs.append(theirs["lab"].iloc[0] if len(theirs) else None)
    return _frame(
        {
            "replication": np.full(n, rep.replication, dtype=np.int64),
            "vehicle": pd.array(np.array(vehicles, dtype=object), dtype="str"),
            "route": pd.array(np.array(routes, dtype=object), dtype="str"),
            "lab": pd.array(np.array(labs, dtype=object), dtype="str"),
            "trips": np.bincount(code, minlength=n).astype(np.int64),
            "tubes": np.bincount(code, weights=tubes, minlength=n).astype(np.int64),
            "busy_h": busy.to_numpy(dtype=float),
            "first_depart_h": np.where(np.isinf(first_depart), np.nan, first_depart),
            "last_back_h": np.where(np.isinf(last_back), np.nan, last_back),
        }
    )
