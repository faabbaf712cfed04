"""Property tests: random valid rounds keep every invariant; random damage to valid files
gives a clean error or a valid run, never anything else.

The number of examples is a few hundred by default; set ``NATSIM_EXAMPLES`` for more
(``NATSIM_EXAMPLES=5000 make test``). A failure prints the smallest example found.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import sim
from sim.footprint import TooBig

from .conftest import SCENARIOS

EXAMPLES = int(os.environ.get("NATSIM_EXAMPLES", "200"))
SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    derandomize=os.environ.get("NATSIM_EXAMPLES") is None,  # the default run is repeatable
)
STEPS = [
    "first_arrival_h", "first_swab_h", "last_swab_h", "sealed_h", "picked_up_h", "delivered_h",
    "receive_start_h", "received_h", "plate_formed_h", "plated_h", "extraction_start_h",
    "extraction_end_h", "pcr_start_h", "pcr_end_h", "report_start_h", "reported_h",
]  # fmt: skip


def minutes(low: int, high: int) -> st.SearchStrategy[str]:
    return st.integers(low, high).map(lambda m: f"{m}min")


def duration() -> st.SearchStrategy[Any]:
    fixed = minutes(1, 90)
    spread = st.tuples(st.integers(5, 60), st.integers(1, 30)).map(
        lambda t: {"dist": "lognormal", "mean": f"{t[0]}min", "sd": f"{t[1]}min"}
    )
    return st.one_of(fixed, spread)


@st.composite
def rounds(draw: st.DrawFn) -> dict[str, Any]:
    """A small valid round: 1-3 points, 1-2 labs, every size and duration random."""
    n_points = draw(st.integers(1, 3))
    n_labs = draw(st.integers(1, 2))
    points = [f"P{i}" for i in range(n_points)]
    labs = [f"L{k}" for k in range(n_labs)]
    window_h = draw(st.integers(1, 4))
    zones = [
        {
            "id": f"Z{i}",
            "population": draw(st.integers(1, 400)),
            "point": draw(st.sampled_from(points)),
        }
        for i in range(draw(st.integers(1, 5)))
    ]
    matrix = {
        a: {b: f"{draw(st.integers(5, 60))}min" for b in points + labs if b != a}
        for a in points + labs
    }
    lab_specs = [
        {
            "id": lab,
            "opens": draw(st.sampled_from(["07:00", "08:00", "10:00"])),
            "receiving": {"staff": draw(st.integers(1, 4)), "per_bag": draw(minutes(1, 20))},
            "loading": {"staff": draw(st.integers(1, 4)), "per_plate": draw(duration())},
            "extraction": {
                "instruments": draw(st.integers(1, 4)),
                "plates_per_run": draw(st.integers(1, 2)),
                "run": draw(duration()),
            },
            "pcr": {"instruments": draw(st.integers(1, 4)), "run": draw(duration())},
            "report": {"staff": draw(st.integers(1, 3)), "per_plate": draw(minutes(1, 20))},
            "partial_plate_after": draw(minutes(10, 120)),
        }
        for lab in labs
    ]
    per_route = draw(st.integers(1, n_points))
    routes = [
        {"id": f"R{j}", "points": points[j : j + per_route], "lab": draw(st.sampled_from(labs)),
         "vehicles": draw(st.integers(1, 2))}
        for j in range(0, n_points, per_route)
    ]  # fmt: skip
    return {
        "round": {
            "name": "Random round",
            "start": "07:00",
            "targets": [f"{draw(st.integers(2, 10))}h"],
            "horizon": f"{draw(st.integers(10, 30))}h",
            "seed": draw(st.integers(0, 1000)),
        },
        "demand": {
            "participation": draw(st.floats(0.2, 1.0)),
            "arrivals": {
                "window": ["07:00", f"{7 + window_h:02d}:00"],
                "profile": draw(st.sampled_from(["flat", "front-loaded"])),
            },
            "zones": zones,
        },
        "point_defaults": {
            "stations": draw(st.integers(1, 3)),
            "service": draw(
                st.sampled_from(["20s", "40s", {"dist": "lognormal", "mean": "25s", "sd": "10s"}])
            ),
            "pool": draw(st.sampled_from([1, 5, 10, 20])),
            "tube_change": "30s",
            "tubes_per_bag": draw(st.integers(3, 50)),
        },
        "points": [{"id": p} for p in points],
        "transport": {
            "pickups": {"every": draw(st.sampled_from(["30min", "1h", "2h"])), "final_sweep": True},
            "travel": {"noise_cv": draw(st.sampled_from([0.0, 0.2])), "matrix": matrix},
            "handover": "5min",
            "routes": routes,
            "dispatch": draw(st.sampled_from(["route", "nearest", "earliest_finish"])),
        },
        "labs": lab_specs,
    }


@SETTINGS
@given(data=rounds())
def test_a_random_valid_round_keeps_every_invariant(data: dict[str, Any], tmp_path: Path) -> None:
    path = tmp_path / "round.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    scenario = sim.load_scenario(path)
    result = sim.run(scenario)
    s = result.summary()
    tubes, points = result.tubes, result.points
    horizon = scenario.round.horizon / 3600
    # everyone who came is in exactly one tube; tubes hold at most a pool
    assert int(tubes["residents"].sum()) == s["residents_arrived"] == int(points["residents"].sum())
    pools = {p.id: p.pool for p in scenario.points}
    limit = np.array([pools[p] for p in tubes["point"].astype(str)], dtype=np.int64)
    assert (tubes["residents"].to_numpy() <= limit).all()
    # one result or unfinished; the unfinished count is the rest
    reported = tubes["reported_h"].notna()
    assert ((tubes["status"] == "reported") == reported).all()
    assert s["unfinished"]["tubes"] == int((~reported).sum())
    assert s["finished"] == bool(reported.all())
    if s["finished"] and not len(tubes):  # nobody came: finished at the start
        assert s["completion_h"] == 0.0 and s["residents_arrived"] == 0
    elif s["finished"]:
        assert s["completion_h"] == float(tubes["reported_h"].max()) <= horizon
    else:
        assert s["completion_h"] is None
    # each step after the one before, and nothing after the horizon
    values = tubes[STEPS].to_numpy(dtype=float)
    for a in range(len(STEPS) - 1):
        both = ~np.isnan(values[:, a]) & ~np.isnan(values[:, a + 1])
        assert (values[both, a + 1] >= values[both, a] - 1e-9).all(), STEPS[a : a + 2]
    assert not (values > horizon + 1e-9).any()
    assert all(h is None or h <= horizon + 1e-9 for h in s["stages_h"].values())
    # the shares by hour never fall, and the share reported at a target is the target's
    table = result.by_hour
    for step in ("swabbed", "delivered", "tested", "reported"):
        assert (np.diff(table[step].to_numpy()) >= -1e-12).all()
    # plates hold at most the sample wells
    wells = {lab.id: lab.pcr.wells - lab.pcr.controls for lab in scenario.labs}
    held = np.array([wells[lab] for lab in result.plates["lab"].astype(str)], dtype=np.int64)
    assert (result.plates["tubes"].to_numpy() <= held).all()


# -- damage to valid files -------------------------------------------------------------------

TINY = (SCENARIOS / "tiny.yaml").read_bytes()
ZONES_CSV = b"id,population,point\nZ1,40,A\nZ2,20,B\n"
GARBAGE = st.one_of(
    st.text(max_size=12),
    st.sampled_from(["1e30", "-1", "0", "nan", "inf", "99999999999", "[]", "{}", "~", "&a", "*a",
                     "!!binary AAAA", "07:99", "25:00+1", "'", '"', "- x", ": :", "\t"]),
)  # fmt: skip


@st.composite
def damaged(draw: st.DrawFn, original: bytes) -> bytes:
    """``original`` with one random kind of damage."""
    lines = original.split(b"\n")
    kind = draw(st.sampled_from(["delete", "value", "duplicate", "truncate", "bytes", "encoding"]))
    i = draw(st.integers(0, len(lines) - 1))
    if kind == "delete":
        del lines[i]
    elif kind == "value":
        line = lines[i].decode("utf-8", "replace")
        if ":" in line:
            key, _, _ = line.partition(":")
            line = f"{key}: {draw(GARBAGE)}"
        else:
            line = line.replace(",", f",{draw(GARBAGE)}", 1) if "," in line else draw(GARBAGE)
        lines[i] = line.encode("utf-8", "surrogatepass")
    elif kind == "duplicate":
        lines.insert(i, lines[i])
    elif kind == "truncate":
        return original[: draw(st.integers(0, len(original)))]
    elif kind == "bytes":
        at = draw(st.integers(0, len(original)))
        return original[:at] + draw(st.binary(min_size=1, max_size=8)) + original[at:]
    else:
        return original.decode().encode(
            draw(st.sampled_from(["latin-1", "utf-16", "utf-32", "cp1252"]))
        )
    return b"\n".join(lines)


def load_and_run(path: Path) -> None:
    """A clean error, or a scenario that runs: nothing else may happen."""
    try:
        scenario = sim.load_scenario(path)
    except sim.ScenarioError as exc:
        assert str(exc) and "Traceback" not in str(exc)
        return
    try:
        result = sim.run(scenario)
    except TooBig:
        return
    assert result.summary()["residents_arrived"] >= 0


@SETTINGS
@given(data=damaged(TINY))
def test_a_damaged_scenario_file_gives_an_error_or_a_run(data: bytes, tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_bytes(data)
    load_and_run(path)


@SETTINGS
@given(data=damaged(ZONES_CSV))
def test_a_damaged_zone_csv_gives_an_error_or_a_run(data: bytes, tmp_path: Path) -> None:
    text = TINY.replace(
        b"  zones:\n    - {id: Z1, population: 40, point: A}\n    - {id: Z2, population: 20, point: B}",
        b"  zones: {csv: zones.csv}",
    )
    (tmp_path / "zones.csv").write_bytes(data)
    path = tmp_path / "s.yaml"
    path.write_bytes(text)
    load_and_run(path)
