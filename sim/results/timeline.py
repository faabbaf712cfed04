"""Time series of a replication in long form: time_h, kind, entity, metric, value.

* district: cumulative residents swabbed and reported, tubes sealed, delivered,
  tested (PCR done) — the curves a planner puts against the target lines;
* point: people waiting in line (every 15 minutes while the point has a line);
* lab: tubes in the lab without a result (backlog), tubes waiting for a plate,
  PCR instruments running.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

STEP_H = 0.25


def _counts(times_h: np.ndarray, steps: int, weights: np.ndarray | None = None) -> np.ndarray:
    """How many (or how much weight) of ``times_h`` fall at or before each grid time k * STEP_H.

    One pass: each time goes to the first grid cell at or after it, then a running sum.
    Times past the grid or missing (NaN) are not counted.
    """
    ok = np.isfinite(times_h)
    cell = np.ceil(times_h[ok] / STEP_H).astype(np.int64)
    inside = cell < steps
    w = None if weights is None else weights[ok][inside]
    return np.cumsum(np.bincount(cell[inside], weights=w, minlength=steps)[:steps]).astype(float)


def build_timeline(
    replication: int,
    tubes: pd.DataFrame,
    plates: pd.DataFrame,
    point_queues: pd.DataFrame,
    swabbed: np.ndarray,
) -> pd.DataFrame:
    """``swabbed[k]``: residents swabbed by ``k * STEP_H`` hours (see ``Replication.swabbed``)."""
    steps = len(swabbed)
    grid = np.arange(steps) * STEP_H
    frames = []
    residents = tubes["residents"].to_numpy(dtype=float)

    def col(name: str, rows: np.ndarray | None = None) -> np.ndarray:
        values = tubes[name].to_numpy(dtype=float)
        return values if rows is None else values[rows]

    def add(
        kind: str, entity: str, metric: str, values: np.ndarray, times: np.ndarray = grid
    ) -> None:
        frames.append(
            pd.DataFrame(
                {"time_h": times, "kind": kind, "entity": entity, "metric": metric, "value": values}
            )
        )

    add("district", "all", "residents swabbed", swabbed.astype(float))
    for column, metric in (
        ("sealed_h", "tubes sealed"),
        ("delivered_h", "tubes delivered"),
        ("pcr_end_h", "tubes tested"),
        ("reported_h", "tubes reported"),
    ):
        add("district", "all", metric, _counts(col(column), steps))
    add("district", "all", "residents reported", _counts(col("reported_h"), steps, residents))

    if len(point_queues):
        frames.append(
            pd.DataFrame(
                {
                    "time_h": point_queues["time"].to_numpy() / 3600,
                    "kind": "point",
                    "entity": point_queues["point"].to_numpy(),
                    "metric": "people in line",
                    "value": point_queues["queue"].to_numpy(dtype=float),
                }
            )
        )
    tube_lab = tubes["lab"].cat.codes.to_numpy()
    plate_lab = plates["lab"].cat.codes.to_numpy() if len(plates) else np.empty(0, dtype=np.int64)
    for code, lab in enumerate(tubes["lab"].cat.categories):
        rows = tube_lab == code
        if not rows.any():
            continue
        backlog = _counts(col("delivered_h", rows), steps) - _counts(col("reported_h", rows), steps)
        add("lab", str(lab), "tubes without result", backlog)
        waiting = _counts(col("received_h", rows), steps) - _counts(
            col("plate_formed_h", rows), steps
        )
        add("lab", str(lab), "tubes waiting for a plate", waiting)
        on_lab = plate_lab == code
        if on_lab.any():
            pcr_start = plates["pcr_start_h"].to_numpy(dtype=float)[on_lab]
            pcr_end = plates["pcr_end_h"].to_numpy(dtype=float)[on_lab]
            add(
                "lab",
                str(lab),
                "PCR instruments running",
                _counts(pcr_start, steps) - _counts(pcr_end, steps),
            )
    out = pd.concat(frames, ignore_index=True)
    out.insert(0, "replication", replication)
    out["kind"] = out["kind"].astype("category")
    out["metric"] = out["metric"].astype("category")
    return out
