"""A replication's records as tidy DataFrames, built once.

Times are hours from the round start (columns ending ``_h``); NaN means the
tube never reached that step before the horizon. Every table carries the
``replication`` it came from so tables of several replications stack.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..model.ledger import Plate
from ..model.world import Replication

H = 3600.0
STATUS_ORDER = (
    "reported",
    "not swabbed",
    "at point",
    "in transit",
    "receiving",
    "waiting for a plate",
    "loading",
    "extraction",
    "PCR",
    "report",
)


_PLATE_FLOATS = (
    "formed", "loaded", "extraction_start", "extraction_end", "pcr_start", "pcr_end", "report_start", "reported",
)  # fmt: skip
_PLATE_INTS = ("loader", "extraction_instrument", "pcr_instrument", "tubes", "lab")


def _plate_columns(plates: list[Plate]) -> dict[str, np.ndarray]:
    """The plates' fields as columns, read in one pass over the plate objects."""
    floats = np.array([[getattr(p, f) for f in _PLATE_FLOATS] for p in plates], dtype=float)
    ints = np.array([[getattr(p, f) for f in _PLATE_INTS] for p in plates], dtype=np.int64)
    floats = floats.reshape(len(plates), len(_PLATE_FLOATS))
    ints = ints.reshape(len(plates), len(_PLATE_INTS))
    out = {name: floats[:, k] for k, name in enumerate(_PLATE_FLOATS)}
    out.update({name: ints[:, k] for k, name in enumerate(_PLATE_INTS)})
    return out


def _censor(values: np.ndarray, horizon: float) -> np.ndarray:
    """Times past the horizon did not happen within the simulated round."""
    return np.where(values <= horizon, values, np.nan)


def tube_table(rep: Replication) -> pd.DataFrame:
    """One row per tube with its point, trip, lab, plate and the time of every step."""
    led = rep.ledger
    sc = rep.scenario
    horizon = sc.round.horizon
    plates = _plate_columns(led.plates)
    plate_idx = led.tube_plate
    has_plate = plate_idx >= 0

    def from_plate(name: str) -> np.ndarray:
        out = np.full(led.n_tubes, np.nan)
        if len(led.plates):
            out[has_plate] = plates[name][plate_idx[has_plate]]
        return out

    bag_start = np.full(led.n_tubes, np.nan)
    if led.bags:
        starts = np.array([b[6] for b in led.bags])
        has_bag = led.tube_bag >= 0
        bag_start[has_bag] = starts[led.tube_bag[has_bag]]
    point_ids = np.array([p.id for p in sc.points], dtype=object)
    lab_ids = np.array([lab.id for lab in sc.labs], dtype=object)
    frame = pd.DataFrame(
        {
            "replication": rep.replication,
            "tube": np.arange(led.n_tubes),
            "point": pd.Categorical.from_codes(led.tube_point, categories=point_ids),
            "station": led.tube_station,
            "residents": led.tube_size,
            "first_swab_h": _censor(led.tube_first, horizon) / H,
            "last_swab_h": _censor(led.tube_last, horizon) / H,
            "sealed_h": _censor(led.tube_sealed, horizon) / H,
            "trip": led.tube_trip,
            "vehicle": _vehicle_of_trip(rep)[led.tube_trip + 1],
            "picked_up_h": led.tube_picked_up / H,
            "delivered_h": led.tube_delivered / H,
            "lab": pd.Categorical.from_codes(led.tube_lab, categories=lab_ids),
            "bag": led.tube_bag,
            "receive_start_h": bag_start / H,
            "received_h": led.tube_received / H,
            "plate": plate_idx,
            "plate_formed_h": from_plate("formed") / H,
            "plated_h": from_plate("loaded") / H,
            "extraction_start_h": from_plate("extraction_start") / H,
            "extraction_end_h": from_plate("extraction_end") / H,
            "pcr_start_h": from_plate("pcr_start") / H,
            "pcr_end_h": from_plate("pcr_end") / H,
            "report_start_h": from_plate("report_start") / H,
            "reported_h": from_plate("reported") / H,
        }
    )
    frame["status"] = tube_status(frame)
    return frame


def _vehicle_of_trip(rep: Replication) -> pd.Categorical:
    """Vehicle names indexed by trip + 1 (index 0: no trip), for a per-tube lookup."""
    codes = np.array([-1] + [row[2] for row in rep.ledger.trips], dtype=np.int64)
    return pd.Categorical.from_codes(codes, categories=list(rep.vehicles))


def tube_status(tubes: pd.DataFrame) -> pd.Categorical:
    """Where each tube stands at the horizon: "reported", or the step it was in."""
    steps = [  # the furthest step a tube reached names where it is
        ("at point", "first_swab_h"),  # being filled, or sealed and waiting
        ("in transit", "picked_up_h"),
        ("receiving", "delivered_h"),
        ("waiting for a plate", "received_h"),
        ("loading", "plate_formed_h"),
        ("extraction", "plated_h"),
        ("PCR", "extraction_end_h"),
        ("report", "pcr_end_h"),
        ("reported", "reported_h"),
    ]
    codes = np.full(len(tubes), STATUS_ORDER.index("not swabbed"), dtype=np.int8)
    for label, column in steps:  # steps are reached in order, so later ones overwrite
        codes[tubes[column].notna().to_numpy()] = STATUS_ORDER.index(label)
    return pd.Categorical.from_codes(codes, categories=list(STATUS_ORDER))


def plate_table(rep: Replication) -> pd.DataFrame:
    """One row per plate: its lab, size and the time of each lab step."""
    led = rep.ledger
    lab_ids = np.array([lab.id for lab in rep.scenario.labs], dtype=object)
    if not led.plates:
        return pd.DataFrame(columns=["replication", "plate", "lab", "tubes"])
    cols = _plate_columns(led.plates)
    out = pd.DataFrame(
        {
            "replication": rep.replication,
            "plate": np.arange(len(led.plates)),
            "lab": pd.Categorical.from_codes(cols["lab"], categories=lab_ids),
            "tubes": cols["tubes"],
            "residents": np.bincount(
                led.tube_plate[led.tube_plate >= 0],
                weights=led.tube_size[led.tube_plate >= 0],
                minlength=len(led.plates),
            ).astype(np.int64),
            "loader": cols["loader"],
            "extraction_instrument": cols["extraction_instrument"],
            "pcr_instrument": cols["pcr_instrument"],
        }
    )
    for name in (
        "formed",
        "loaded",
        "extraction_start",
        "extraction_end",
        "pcr_start",
        "pcr_end",
        "report_start",
        "reported",
    ):
        out[f"{name}_h"] = cols[name] / H
    return out


def trip_table(rep: Replication) -> pd.DataFrame:
    """One row per vehicle trip."""
    rows = rep.ledger.trips
    frame = pd.DataFrame(
        rows, columns=["trip", "route", "vehicle", "reason", "depart", "back", "tubes", "stops"]
    )
    frame.insert(0, "replication", rep.replication)
    frame["route"] = [rep.routes[r].id for r in frame["route"]]
    lab_of = {r.id: r.lab for r in rep.routes}
    frame["lab"] = [lab_of[rid] for rid in frame["route"]]
    frame["vehicle"] = [rep.vehicles[v] for v in frame["vehicle"]]
    frame["depart_h"] = frame.pop("depart") / H
    frame["back_h"] = frame.pop("back") / H
    return frame


def stop_table(rep: Replication) -> pd.DataFrame:
    """One row per handover at a point."""
    frame = pd.DataFrame(rep.ledger.stops, columns=["trip", "point", "arrive", "depart", "tubes"])
    frame.insert(0, "replication", rep.replication)
    frame["point"] = [rep.scenario.points[i].id for i in frame["point"]]
    frame["arrive_h"] = frame.pop("arrive") / H
    frame["depart_h"] = frame.pop("depart") / H
    return frame


def bag_table(rep: Replication) -> pd.DataFrame:
    """One row per bag delivered to a lab."""
    cols = ["bag", "lab", "point", "lo", "hi", "delivered", "receive_start", "received", "staff"]
    frame = pd.DataFrame(rep.ledger.bags, columns=cols)
    frame.insert(0, "replication", rep.replication)
    frame["lab"] = [rep.scenario.labs[i].id for i in frame["lab"]]
    frame["point"] = [rep.scenario.points[i].id for i in frame["point"]]
    frame["tubes"] = frame.pop("hi") - frame.pop("lo")
    for name in ("delivered", "receive_start", "received"):
        frame[f"{name}_h"] = frame.pop(name) / H
    return frame


def point_table(rep: Replication) -> pd.DataFrame:
    frame = rep.points.copy()
    frame.insert(0, "replication", rep.replication)
    return frame


def vehicle_table(trips: pd.DataFrame, rep: Replication) -> pd.DataFrame:
    """Trips, tubes and hours on the road per vehicle."""
    names = pd.DataFrame(
        {
            "vehicle": rep.vehicles,
            "route": [r.id for r in rep.routes for _ in range(r.vehicles)],
            "lab": [r.lab for r in rep.routes for _ in range(r.vehicles)],
        }
    )
    t = trips.assign(busy_h=trips["back_h"] - trips["depart_h"])
    agg = t.groupby("vehicle").agg(
        trips=("trip", "size"),
        tubes=("tubes", "sum"),
        busy_h=("busy_h", "sum"),
        first_depart_h=("depart_h", "min"),
        last_back_h=("back_h", "max"),
    )
    out = names.merge(agg, left_on="vehicle", right_index=True, how="left")
    out[["trips", "tubes"]] = out[["trips", "tubes"]].fillna(0).astype(int)
    out["busy_h"] = out["busy_h"].fillna(0.0)
    out.insert(0, "replication", rep.replication)
    return out
