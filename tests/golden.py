"""Golden results: the KPIs and table digests of three reference rounds, pinned in golden.json.

The rounds: ``scenarios/zhaoling.yaml`` (seed 1) as written and with every
duration at its mean (``--deterministic``: simultaneous events everywhere),
``scenarios/tiny.yaml`` and a generated city of one million people (``natsim
generate --population 1000000 --seed 1``), each replication 0 of its scenario's
seed. A digest hashes a
table's columns in a fixed order, times rounded to the microsecond (so that a
last-bit difference in a libm function on another machine does not count, while
any change of a rule does).

When a rule changes on purpose, regenerate the file and say in the commit which
rule moved which number and why::

    .venv/bin/python -m tests.golden --update
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

import sim
from sim.generate import generate_city

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = Path(__file__).with_name("golden.json")
# Zhaoling with every duration at its mean and no travel noise: many events fall on the same
# instant, so this round pins the order in which simultaneous events are taken
DETERMINISTIC = "zhaoling-deterministic"

# the columns each digest covers: the tables as they were when the results were pinned, so a
# new column never moves a digest, and a renamed or dropped one fails loudly
COLUMNS = {
    "tubes": (
        "tube", "point", "station", "residents", "first_swab_h", "last_swab_h", "sealed_h",
        "trip", "vehicle", "picked_up_h", "delivered_h", "lab", "bag", "receive_start_h",
        "received_h", "plate", "plate_formed_h", "plated_h", "extraction_start_h",
        "extraction_end_h", "pcr_start_h", "pcr_end_h", "report_start_h", "reported_h", "status",
    ),
    "plates": (
        "plate", "lab", "tubes", "residents", "loader", "extraction_instrument", "pcr_instrument",
        "formed_h", "loaded_h", "extraction_start_h", "extraction_end_h", "pcr_start_h",
        "pcr_end_h", "report_start_h", "reported_h",
    ),
    "trips": ("trip", "route", "vehicle", "reason", "tubes", "stops", "depart_h", "back_h"),
    "bags": ("bag", "lab", "point", "staff", "tubes", "delivered_h", "receive_start_h", "received_h"),
}  # fmt: skip

KPIS = (
    "residents_arrived",
    "residents_swabbed",
    "tubes",
    "plates",
    "trips",
    "finished",
    "completion_h",
)


def digest(frame: pd.DataFrame, columns: tuple[str, ...]) -> str:
    """A short hash of ``columns`` of ``frame``: numbers exactly, hours to the microsecond."""
    h = hashlib.sha256()
    for name in columns:
        column = frame[name]
        h.update(name.encode())
        if name.endswith("_h"):
            seconds = column.to_numpy(dtype=float) * 3600.0
            micro = np.where(np.isnan(seconds), -(2**62), np.round(seconds * 1e6)).astype(np.int64)
            h.update(micro.tobytes())
        elif isinstance(column.dtype, np.dtype) and column.dtype.kind in "biu":
            h.update(column.to_numpy().astype(np.int64).tobytes())
        else:
            h.update("\0".join("" if pd.isna(v) else str(v) for v in column).encode())
    return h.hexdigest()[:20]


def scenarios(workdir: Path) -> dict[str, Path]:
    """The scenario file of every golden round (the city is generated into ``workdir``)."""
    city = generate_city(1_000_000, seed=1).write(workdir / "city-1m.yaml")
    return {
        "zhaoling": ROOT / "scenarios" / "zhaoling.yaml",
        "tiny": ROOT / "scenarios" / "tiny.yaml",
        "city-1m": city,
    }


def measure(path: Path, deterministic: bool = False) -> dict[str, Any]:
    """What is pinned of one round: its headline KPIs and its table digests."""
    scenario = sim.load_scenario(path)
    result = sim.run(scenario.deterministic() if deterministic else scenario)
    s = result.summary()
    out: dict[str, Any] = {k: s[k] for k in KPIS}
    out["stages_h"] = s["stages_h"]
    out["share_reported"] = [t["share_reported"] for t in s["targets"]]
    out["digests"] = {name: digest(result.table(name), cols) for name, cols in COLUMNS.items()}
    return out


def measure_all() -> dict[str, dict[str, Any]]:
    with tempfile.TemporaryDirectory() as tmp:
        found = {name: measure(path) for name, path in scenarios(Path(tmp)).items()}
    found[DETERMINISTIC] = measure(ROOT / "scenarios" / "zhaoling.yaml", deterministic=True)
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--update", action="store_true", help="rewrite tests/golden.json")
    args = parser.parse_args(argv)
    found = measure_all()
    text = json.dumps(found, indent=2, sort_keys=True) + "\n"
    if args.update:
        GOLDEN.write_text(text)
        print(f"wrote {GOLDEN}")
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
