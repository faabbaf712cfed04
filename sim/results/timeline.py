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


def _counts(
    sorted_times: np.ndarray, grid: np.ndarray, weights: np.ndarray | None = None
) -> np.ndarray:
    if weights is None:
        return np.searchsorted(sorted_times, grid, side="right").astype(float)
    cum = np.concatenate([[0.0], np.cumsum(weights)])
    return cum[np.searchsorted(sorted_times, grid, side="right")]


def _sorted(
    values: pd.Series, weights: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray | None]:
    v = values.to_numpy(dtype=float)
    keep = np.isfinite(v)
    order = np.argsort(v[keep], kind="stable")
    return v[keep][order], None if weights is None else weights[keep][order]


def build_timeline(
    replication: int,
    tubes: pd.DataFrame,
    plates: pd.DataFrame,
    point_queues: pd.DataFrame,
    swabbed: np.ndarray,
) -> pd.DataFrame:
    """``swabbed[k]``: residents swabbed by ``k * STEP_H`` hours (see ``Replication.swabbed``)."""
    grid = np.arange(len(swabbed)) * STEP_H
    frames = []
    residents = tubes["residents"].to_numpy(dtype=float)

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
        add("district", "all", metric, _counts(_sorted(tubes[column])[0], grid))
    times, weights = _sorted(tubes["reported_h"], residents)
    add("district", "all", "residents reported", _counts(times, grid, weights))

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
    for lab in tubes["lab"].dropna().unique():
        t = tubes[tubes["lab"] == lab]
        arrived = _counts(_sorted(t["delivered_h"])[0], grid)
        add(
            "lab",
            str(lab),
            "tubes without result",
            arrived - _counts(_sorted(t["reported_h"])[0], grid),
        )
        add(
            "lab",
            str(lab),
            "tubes waiting for a plate",
            _counts(_sorted(t["received_h"])[0], grid)
            - _counts(_sorted(t["plate_formed_h"])[0], grid),
        )
        p = plates[plates["lab"] == lab] if len(plates) else plates
        if len(p):
            running = _counts(_sorted(p["pcr_start_h"])[0], grid) - _counts(
                _sorted(p["pcr_end_h"])[0], grid
            )
            add("lab", str(lab), "PCR instruments running", running)
    out = pd.concat(frames, ignore_index=True)
    out.insert(0, "replication", replication)
    out["kind"] = out["kind"].astype("category")
    out["metric"] = out["metric"].astype("category")
    return out
