"""Time series of a replication in long form: time_h, kind, entity, metric, value.

* district: cumulative residents swabbed and reported, tubes sealed, delivered,
  tested (PCR done) — the curves a planner puts against the target lines;
* point: people waiting in line (every 15 minutes while the point has a line);
* lab: tubes in the lab without a result (backlog), tubes waiting for a plate,
  PCR instruments running.

Every curve is a running count over the grid k * STEP_H: each time goes to the
first grid cell at or after it, cells are counted with ``bincount`` (per lab:
one ``bincount`` over lab x cell for all labs at once) and summed up. The
series are concatenated as arrays and become one DataFrame at the end.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

from ..stages import DEFAULT, Process

STEP_H = 0.25


def _cells(times_h: np.ndarray, steps: int, scratch: np.ndarray | None = None) -> np.ndarray:
    """The grid cell of each time (the first grid time at or after it); ``steps`` when
    the time is missing (NaN) or past the grid, so it is not counted.

    ``scratch``, a float array as long as ``times_h``, saves allocating one.
    """
    cell = np.divide(times_h, STEP_H, out=scratch)
    np.ceil(cell, out=cell)
    np.fmin(cell, steps, out=cell)  # fmin takes ``steps`` over NaN too
    return cell.astype(np.int64)


def _running(cells: np.ndarray, steps: int, weights: np.ndarray | None = None) -> np.ndarray:
    """Running count (or weight) of ``cells`` over the grid; cell ``steps`` is not counted."""
    return np.cumsum(np.bincount(cells, weights=weights, minlength=steps + 1)[:steps]).astype(float)


def _running_by_group(cells: np.ndarray, group: np.ndarray, groups: int, steps: int) -> np.ndarray:
    """:func:`_running` for each group at once: row g holds the counts of the rows with ``group == g``.

    ``group`` is each row's group times ``steps + 1`` (see :func:`_group_offsets`);
    it is added to ``cells`` in place, so ``cells`` cannot be used afterwards.
    """
    cells += group
    flat = np.bincount(cells, minlength=groups * (steps + 1))
    return np.cumsum(flat.reshape(groups, steps + 1)[:, :steps], axis=1).astype(float)


def _group_offsets(codes: np.ndarray, groups: int, steps: int) -> np.ndarray:
    """Each row's group (codes; -1 goes to the last group) as an offset into group x cell counts."""
    row = codes.astype(np.int64)
    row[row < 0] = groups - 1
    row *= steps + 1
    return row


class _Series:
    """The long table, collected series by series as arrays."""

    def __init__(self) -> None:
        self.times: list[np.ndarray] = []
        self.values: list[np.ndarray] = []
        self.kinds: list[tuple[str, int]] = []
        self.metrics: list[tuple[str, int]] = []
        self.names: list[str] = []  # entity names; each row holds a code into them
        self.codes: list[np.ndarray] = []

    def add(
        self, kind: str, entity: str, metric: str, times: np.ndarray, values: np.ndarray
    ) -> None:
        """A series of one entity."""
        self.add_coded(kind, [entity], np.zeros(len(values), dtype=np.int64), metric, times, values)

    def add_coded(
        self,
        kind: str,
        names: list[str],
        codes: np.ndarray,
        metric: str,
        times: np.ndarray,
        values: np.ndarray,
    ) -> None:
        """Series of several entities: row i is of entity ``names[codes[i]]``."""
        n = len(values)
        self.times.append(times)
        self.values.append(values)
        self.kinds.append((kind, n))
        self.metrics.append((metric, n))
        self.codes.append(codes.astype(np.int64) + len(self.names))
        self.names.extend(names)

    def frame(self, replication: int) -> pd.DataFrame:
        time_h = np.concatenate(self.times)
        return pd.DataFrame(
            {
                "replication": np.full(len(time_h), replication, dtype=np.int64),
                "time_h": time_h,
                "kind": _labels(self.kinds),
                # names taken by code in Arrow: no Python string per row
                "entity": pd.array(
                    pa.array(self.names, pa.large_string()).take(np.concatenate(self.codes)),
                    dtype="str",
                ),
                "metric": _labels(self.metrics),
                "value": np.concatenate(self.values),
            },
            copy=False,
        )


def _labels(runs: list[tuple[str, int]]) -> pd.Categorical:
    """A categorical of ``count`` repeats of each label, categories sorted (as ``astype("category")``)."""
    categories = sorted({label for label, _ in runs})
    code = {label: k for k, label in enumerate(categories)}
    codes = np.repeat(
        np.array([code[label] for label, _ in runs], dtype=np.int8),
        [count for _, count in runs],
    )
    return pd.Categorical.from_codes(codes, categories=categories)


def build_timeline(
    replication: int,
    tubes: pd.DataFrame,
    plates: pd.DataFrame,
    point_queues: pd.DataFrame,
    swabbed: np.ndarray,
    process: Process = DEFAULT,
) -> pd.DataFrame:
    """``swabbed[k]``: residents swabbed by ``k * STEP_H`` hours (see ``Replication.swabbed``);
    ``process``: the scenario's steps (the PCR step's runs are the instruments running, a
    tube is reported when its plate leaves the last step, and waits for a plate from its
    receipt until the tube step takes it)."""
    pcr, last, forming = process.tested, process.last, process.forming
    received = f"{process.bag_stages[-1].tube_end}_h" if process.bag_stages else "delivered_h"
    steps = len(swabbed)
    grid = np.arange(steps) * STEP_H
    out = _Series()
    scratch = np.empty(len(tubes))

    def cells(name: str) -> np.ndarray:
        return _cells(tubes[name].to_numpy(dtype=float), steps, scratch)

    out.add("district", "all", "residents swabbed", grid, swabbed.astype(float))
    out.add("district", "all", "tubes sealed", grid, _running(cells("sealed_h"), steps))
    delivered = cells("delivered_h")
    out.add("district", "all", "tubes delivered", grid, _running(delivered, steps))
    out.add("district", "all", "tubes tested", grid, _running(cells(f"{pcr.tube_end}_h"), steps))
    reported = cells(f"{last.tube_end}_h")
    out.add("district", "all", "tubes reported", grid, _running(reported, steps))
    residents = tubes["residents"].to_numpy(dtype=float)
    out.add("district", "all", "residents reported", grid, _running(reported, steps, residents))

    if len(point_queues):
        codes, names = pd.factorize(point_queues["point"])
        out.add_coded(
            "point",
            [str(name) for name in names],
            codes,
            "people in line",
            point_queues["time"].to_numpy() / 3600,
            point_queues["queue"].to_numpy(dtype=float),
        )

    labs = tubes["lab"].cat.categories
    groups = len(labs) + 1  # tubes without a lab: one extra group
    tube_lab = tubes["lab"].cat.codes.to_numpy()
    row = _group_offsets(tube_lab, groups, steps)

    def per_lab(column_cells: np.ndarray) -> np.ndarray:
        return _running_by_group(column_cells, row, groups, steps)

    backlog = per_lab(delivered) - per_lab(reported)
    waiting = per_lab(cells(received)) - per_lab(cells(f"{forming.tube_start}_h"))
    has_tubes = np.bincount(tube_lab[tube_lab >= 0], minlength=groups) > 0
    if len(plates):
        plate_lab = plates["lab"].cat.codes.to_numpy()
        plate_row = _group_offsets(plate_lab, groups, steps)
        runs = plates
        if pcr.batched and pcr.server_column:  # a run of several plates is one instrument
            runs = plates.drop_duplicates(["lab", pcr.server_column, f"{pcr.start}_h"])
            plate_row = _group_offsets(runs["lab"].cat.codes.to_numpy(), groups, steps)
        pcr_start = _cells(runs[f"{pcr.start}_h"].to_numpy(dtype=float), steps)
        pcr_end = _cells(runs[f"{pcr.end}_h"].to_numpy(dtype=float), steps)
        running = _running_by_group(pcr_start, plate_row, groups, steps) - _running_by_group(
            pcr_end, plate_row, groups, steps
        )
        has_plates = np.bincount(plate_lab[plate_lab >= 0], minlength=groups) > 0
    else:
        has_plates = np.zeros(groups, dtype=bool)
    for code, lab in enumerate(labs):
        if not has_tubes[code]:
            continue
        out.add("lab", str(lab), "tubes without result", grid, backlog[code])
        out.add("lab", str(lab), "tubes waiting for a plate", grid, waiting[code])
        if has_plates[code]:
            out.add("lab", str(lab), "PCR instruments running", grid, running[code])
    return out.frame(replication)
