"""The fast paths of summarising and writing give what the plain pandas ways give.

* Parquet written by ``write_parquet`` reads back (``pd.read_parquet``,
  ``load_run``) as the same DataFrame, dtypes included;
* the last tubes are ``nlargest``'s rows in ``nlargest``'s order;
* lab use and busy shares equal the pandas computations they replaced, to the bit;
* timeline counts equal counting by comparison;
* the resolved scenario reloads to the same round when points differ from the
  defaults in nested fields.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd
import pytest

import sim
from sim.results.io import write_parquet
from sim.results.kpis import last_tubes, resource_use
from sim.results.result import TABLES
from sim.results.timeline import STEP_H, _cells, _group_offsets, _running, _running_by_group
from sim.scenario.schema import Lab
from sim.stages import DEFAULT

from .conftest import HAND_ROUND, SCENARIOS

STAGE_NAMES = DEFAULT.names


@pytest.fixture(scope="module")
def unfinished() -> sim.Result:
    """The tiny round stopped with tubes at points, on the road and in the lab."""
    sc = sim.load_scenario(SCENARIOS / "tiny.yaml").with_changes(
        {"round.horizon": "6h", "labs.L.pcr.run": "4h"}
    )
    return sim.run(sc)


@pytest.fixture(scope="module")
def finished() -> sim.Result:
    return sim.run(sim.load_scenario(SCENARIOS / "tiny.yaml"))


@pytest.mark.parametrize("which", ["finished", "unfinished"])
def test_saved_run_reads_back_as_the_same_tables(
    which: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    result: sim.Result = request.getfixturevalue(which)
    result.save(tmp_path / "run")
    run = sim.results.read_run(tmp_path / "run")
    for name in TABLES:
        if not result.has_table(name):  # kept only by some rounds (recalls, teams)
            assert name not in run
            continue
        pd.testing.assert_frame_equal(run[name], result.table(name), check_exact=True)
    assert run["tubes"]["reported_h"].isna().any() == (which == "unfinished")
    zones = pd.read_parquet(tmp_path / "run" / "zones.parquet")
    pd.testing.assert_frame_equal(zones, result.scenario.demand.zones.to_frame(), check_exact=True)


def test_write_parquet_keeps_every_kind_of_column(tmp_path: Path) -> None:
    n = 3000
    rng = np.random.default_rng(1)
    floats = rng.random(n)
    floats[::7] = np.nan
    codes = rng.integers(-1, 3, n).astype(np.int8)
    frame = pd.DataFrame(
        {
            "sorted": np.arange(n, dtype=np.int64),  # delta-encoded
            "unsorted": rng.integers(-5, 5, n),
            "small": rng.integers(0, 9, n).astype(np.int32),
            "time_h": floats,
            "flag": rng.random(n) < 0.5,
            "cat": pd.Categorical.from_codes(codes, categories=["a", "b", "c"]),
            "ordered": pd.Categorical.from_codes(
                np.abs(codes), categories=["lo", "mid", "hi"], ordered=True
            ),
            "text": pd.array(rng.choice(["x", "y", None], n), dtype="str"),
            "unique_text": pd.array([f"id-{i}" for i in range(n)], dtype="str"),
            "nullable": pd.array(np.where(floats > 0.5, 1, None), dtype="Int64"),
        }
    )
    path = tmp_path / "t.parquet"
    write_parquet(frame, path)
    back = pd.read_parquet(path)
    pd.testing.assert_frame_equal(back, frame, check_exact=True)
    assert np.isnan(back["time_h"].to_numpy()[::7]).all()


def test_write_parquet_of_an_empty_table(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {
            "plate": np.empty(0, dtype=np.int64),
            "reported_h": np.empty(0),
            "lab": pd.Categorical.from_codes(np.empty(0, dtype=np.int8), categories=["L"]),
        }
    )
    write_parquet(frame, tmp_path / "e.parquet")
    frame.to_parquet(tmp_path / "pandas.parquet", index=False)
    # as with to_parquet: no rows, so no dictionary, so the categories are not kept
    pd.testing.assert_frame_equal(
        pd.read_parquet(tmp_path / "e.parquet"), pd.read_parquet(tmp_path / "pandas.parquet")
    )


@pytest.mark.parametrize("n", [1, 7, 150, 5000])
def test_last_tubes_are_nlargest_rows_in_nlargest_order(n: int) -> None:
    rng = np.random.default_rng(n)
    # few distinct values: ties everywhere, also across the cut
    tubes = pd.DataFrame({"reported_h": rng.integers(0, 5, n) / 4.0, "tube": np.arange(n)})
    k = max(1, int(np.ceil(0.01 * n)))
    pd.testing.assert_frame_equal(last_tubes(tubes), tubes.nlargest(k, "reported_h"))


def test_last_tubes_of_an_unfinished_round_are_the_unreported() -> None:
    tubes = pd.DataFrame({"reported_h": [1.0, np.nan, 3.0, np.nan], "tube": range(4)})
    assert last_tubes(tubes)["tube"].tolist() == [1, 3]


def _lab_frames(seed: int) -> tuple[pd.DataFrame, pd.DataFrame, Any]:
    """Plates and bags of two labs with shared extraction runs, NaN steps and odd sums."""
    rng = np.random.default_rng(seed)
    n = 400
    labs = ["L1", "L2"]
    formed = np.cumsum(rng.random(n)) / 3.0
    start = np.round(formed + rng.random(n), 1)  # equal starts: runs of several plates
    plates = pd.DataFrame(
        {
            "lab": pd.Categorical.from_codes(rng.integers(0, 2, n), categories=labs),
            "extraction_instrument": rng.integers(0, 3, n),
            "formed_h": formed,
            "loaded_h": formed + rng.random(n) / 7,
            "extraction_start_h": start,
            "extraction_end_h": start + 0.5,
            "pcr_start_h": start + 0.5 + rng.random(n),
            "pcr_end_h": start + 2.0 + rng.random(n) / 3,
            "report_start_h": start + 2.5,
            "reported_h": start + 2.5 + rng.random(n) / 11,
        }
    )
    for column in ("extraction_start_h", "pcr_end_h", "reported_h"):
        plates.loc[rng.random(n) < 0.1, column] = np.nan  # not reached by the horizon
    m = 300
    bag_start = np.cumsum(rng.random(m)) / 5
    bags = pd.DataFrame(
        {
            "lab": pd.array(rng.choice(labs, m), dtype="str"),
            "receive_start_h": bag_start,
            "received_h": np.where(rng.random(m) < 0.1, np.nan, bag_start + rng.random(m) / 9),
        }
    )

    def lab(lab_id: str, opens: float | None) -> Lab:
        return Lab.model_validate(
            {
                "id": lab_id,
                "opens": opens,
                "receiving": {"staff": 2},
                "loading": {"staff": 3},
                "extraction": {"instruments": 3},
                "pcr": {"instruments": 4},
                "report": {"staff": 1},
            }
        )

    scenario = SimpleNamespace(
        labs=[lab("L1", None), lab("L2", 8 * 3600.0)],
        round=SimpleNamespace(start=7 * 3600.0),
        process=DEFAULT,
    )
    return plates, bags, scenario


def _resource_use_by_pandas(plates: pd.DataFrame, bags: pd.DataFrame, scenario: Any) -> list[Any]:
    """Lab use as it was computed with pandas filters and drop_duplicates (the reference)."""
    rows = []
    for lab in scenario.labs:
        p = plates[plates["lab"] == lab.id]
        b = bags[bags["lab"] == lab.id]
        opens = 0.0 if lab.opens is None else (lab.opens - scenario.round.start) / 3600.0
        ends = [x for x in (p["reported_h"].max(), b["received_h"].max()) if np.isfinite(x)]
        span = (max(ends) - opens) if ends else 0.0
        runs = p.drop_duplicates(["extraction_instrument", "extraction_start_h"])
        busy = [
            float((b["received_h"] - b["receive_start_h"]).sum()),
            float((p["loaded_h"] - p["formed_h"]).sum()),
            float((runs["extraction_end_h"] - runs["extraction_start_h"]).sum()),
            float((p["pcr_end_h"] - p["pcr_start_h"]).sum()),
            float((p["reported_h"] - p["report_start_h"]).sum()),
        ]
        rows += [(lab.id, stage, h, span) for stage, h in zip(STAGE_NAMES, busy, strict=True)]
    return rows


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_lab_use_equals_the_pandas_computation(seed: int) -> None:
    plates, bags, scenario = _lab_frames(seed)
    use = resource_use(plates, bags, scenario)
    got = list(zip(use["lab"], use["pool"], use["busy_h"], use["span_h"], strict=True))
    assert got == _resource_use_by_pandas(plates, bags, scenario)  # exact, not approx


def test_timeline_counts_equal_counting_by_comparison() -> None:
    rng = np.random.default_rng(5)
    steps = 40
    times = rng.random(2000) * 12.0  # some past the grid (10 h)
    times[::9] = np.nan
    times[::13] = np.round(times[::13] / STEP_H) * STEP_H  # exactly on grid times
    grid = np.arange(steps) * STEP_H
    by_comparison = (times[None, :] <= grid[:, None]).sum(axis=1)
    cells = _cells(times, steps)
    assert _running(cells, steps).tolist() == by_comparison.tolist()

    lab = rng.integers(-1, 3, len(times)).astype(np.int8)  # -1: no lab
    per_lab = _running_by_group(_cells(times, steps), _group_offsets(lab, 4, steps), 4, steps)
    for code in range(3):
        mine = times[lab == code]
        expected = (mine[None, :] <= grid[:, None]).sum(axis=1)
        assert per_lab[code].tolist() == expected.tolist()


NESTED_POINTS = (
    HAND_ROUND.replace(
        "points:\n  - {id: A}\n",
        "points:\n"
        "  - {id: A}\n"
        "  - {id: B, stations: 3, service: {dist: lognormal, mean: 40s, sd: 5s}}\n"
        '  - {id: C, window: ["07:30", "09:00"], relief: {every: 1h, for: 10min}}\n',
    )
    .replace(
        "{id: Z1, population: 20, point: A}",
        "{id: Z1, population: 20, point: A}\n"
        "    - {id: Z2, population: 30, point: B}\n"
        "    - {id: Z3, population: 10, point: C}",
    )
    .replace(
        "matrix: {L: {A: 10min}, A: {L: 10min}}",
        "matrix: {L: {A: 10min, C: 10min}, A: {B: 5min}, B: {C: 5min}}",
    )
    .replace("{id: R, points: [A], lab: L}", "{id: R, points: [A, B, C], lab: L}")
)


def test_resolved_scenario_keeps_points_that_differ_in_nested_fields(
    write_scenario: Callable[..., Path], tmp_path: Path
) -> None:
    original = sim.load_scenario(write_scenario(NESTED_POINTS))
    assert original.point("B").service != original.point_defaults.service
    folder = tmp_path / "run"
    from sim.results.io import write_scenario as write_resolved

    write_resolved(original, folder)
    text = (folder / "scenario.yaml").read_text()
    assert '- {"id": "A", "lat": null, "lon": null}\n' in text  # A: all defaults
    reloaded = sim.load_scenario(folder / "scenario.yaml")
    assert reloaded.points == original.points
    assert reloaded.point_defaults == original.point_defaults
