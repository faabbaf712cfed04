"""The run folder: what a planner keeps and an analyst reopens.

::

    runs/<scenario>-<timestamp>/
      summary.json        headline KPIs (targets met, completion, stages, bottleneck)
      tables/*.parquet    tubes, plates, points, trips, stops, bags, vehicles, labs, timeline, kpis
      scenario.yaml       the scenario as resolved (defaults filled in, overrides applied)
      zones.parquet       the zone table the run used
      manifest.json       natsim version, seed, replications, command line, timings
      figures/*.png       pictures (written by sim.plots)

``load_run(folder)`` gives the tables back as DataFrames.

Tables are written by :func:`write_parquet`, which hands pyarrow the frame's
numpy columns as they are (no pandas conversion), and picks an encoding per
column: categoricals and repetitive text dictionary-encoded, numbers plain
(sorted integer columns, like ``tube``, delta-encoded), Snappy throughout, min/max statistics
for numbers only. Numeric columns are required fields: a missing time is stored
as NaN, as in the DataFrame. Each file carries pandas' schema metadata, so
``pd.read_parquet`` (and ``load_run``) give back the same dtypes.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import tempfile
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

if TYPE_CHECKING:
    from ..scenario.schema import Scenario


def default_folder(scenario_name: str, root: str | Path = "runs") -> Path:
    slug = "".join(c if c.isalnum() else "-" for c in scenario_name.lower()).strip("-")
    slug = "-".join(part for part in slug.split("-") if part)[:40] or "run"
    stamp = datetime.now().strftime("%Y-%m-%dT%H%M%S")
    return Path(root) / f"{slug}-{stamp}"


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write(path: Path, data: bytes) -> None:
    """Write a file so that a reader never sees half of it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes files private; run folders are shared
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _arrow_column(column: pd.Series) -> tuple[pa.Array, str]:
    """One column as an Arrow array without copying where possible, and its kind.

    Kinds: "dictionary" (categoricals), "number" (numpy bool, int, float: NaN
    stays a value), "other" (text and anything else, converted by pyarrow with
    NaN and None as nulls).
    """
    dtype = column.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        codes = column.cat.codes.to_numpy()
        indices = pa.array(codes, mask=codes < 0) if (codes < 0).any() else pa.array(codes)
        categories = pa.array(dtype.categories, from_pandas=True)
        return pa.DictionaryArray.from_arrays(indices, categories, ordered=dtype.ordered), (
            "dictionary"
        )
    if isinstance(dtype, np.dtype) and dtype.kind in "biuf":
        return pa.array(column.to_numpy()), "number"
    return pa.array(column, from_pandas=True), "other"


def _repetitive(array: pa.Array | pa.ChunkedArray, sample: int = 1024) -> bool:
    """Whether a text column repeats its values (judged on its first rows), so that a
    dictionary pays: hashing a column of distinct ids (the zone table's) costs more
    than it saves."""
    head = array.slice(0, sample)
    return len(head) < 2 or pc.count_distinct(head).as_py() * 2 <= len(head)


def _sorted(values: np.ndarray) -> bool:
    """Whether an integer column never decreases (delta encoding stores it in a few bytes)."""
    return len(values) > 1 and bool((values[1:] >= values[:-1]).all())


def write_parquet(frame: pd.DataFrame, path: Path) -> None:
    """``frame`` (a tidy table, no index) as a Parquet file that reads back as the same DataFrame.

    A million-row tube table is written in a fraction of the time ``to_parquet``
    takes: no pandas-to-Arrow conversion pass (numeric columns are shared, not
    copied), no dictionary encoding of columns whose values are mostly distinct,
    and no statistics of categorical and text columns (computing them decodes
    every value). The pandas metadata comes from the frame's empty slice, so it
    records the same dtypes ``to_parquet`` would.
    """
    if len(set(frame.columns)) != len(frame.columns) or not all(
        isinstance(c, str) for c in frame.columns
    ):
        frame.to_parquet(path, index=False)  # not a tidy table: let pandas handle it
        return
    arrays, fields = [], []
    dictionary, statistics, delta = [], [], {}
    for name in frame.columns:
        array, kind = _arrow_column(frame[name])
        arrays.append(array)
        fields.append(pa.field(name, array.type, nullable=kind != "number"))
        if kind == "number":
            statistics.append(name)
            if array.type in (pa.int32(), pa.int64()) and _sorted(frame[name].to_numpy()):
                delta[name] = "DELTA_BINARY_PACKED"
        elif kind == "dictionary" or _repetitive(array):
            dictionary.append(name)
    meta = pa.Schema.from_pandas(frame.iloc[:0], preserve_index=False).metadata
    table = pa.Table.from_arrays(arrays, schema=pa.schema(fields, metadata=meta))
    pq.write_table(
        table,
        path,
        compression="snappy",
        use_dictionary=dictionary,
        write_statistics=statistics,
        column_encoding=delta or None,
    )


def to_json(data: Any) -> str:
    """JSON with NaN written as null and numpy scalars as numbers."""

    def clean(x: Any) -> Any:
        if isinstance(x, dict):
            return {str(k): clean(v) for k, v in x.items()}
        if isinstance(x, list | tuple):
            return [clean(v) for v in x]
        if isinstance(x, np.generic):
            x = x.item()
        if isinstance(x, float) and not np.isfinite(x):
            return None
        return x

    return json.dumps(clean(data), indent=2, ensure_ascii=False)


def manifest_basics(command: str | None) -> dict[str, Any]:
    """What every manifest.json starts with: natsim version, command line, when, where."""
    from ..version import __version__

    return {
        "natsim": __version__,
        "command": command if command is not None else " ".join(sys.argv),
        "written": datetime.now().isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "machine": platform.platform(),
    }


def write_scenario(scenario: Scenario, folder: Path) -> None:
    """``folder/scenario.yaml`` (resolved, reloadable) and ``folder/zones.parquet``."""
    from ..scenario.dumping import scenario_yaml

    folder.mkdir(parents=True, exist_ok=True)
    atomic_write(
        folder / "scenario.yaml",
        (
            "# the scenario as this run resolved it (defaults filled in, --set applied)\n"
            + scenario_yaml(scenario, {"parquet": "zones.parquet"})
        ).encode(),
    )
    write_parquet(scenario.demand.zones.to_frame(), folder / "zones.parquet")


def load_run(folder: str | Path) -> dict[str, Any]:
    """A finished run folder as ``{"summary": dict, "manifest": dict, <table>: DataFrame}``."""
    folder = Path(folder)
    out: dict[str, Any] = {
        "summary": json.loads((folder / "summary.json").read_text()),
        "manifest": json.loads((folder / "manifest.json").read_text()),
    }
    for path in sorted((folder / "tables").glob("*.parquet")):
        out[path.stem] = pd.read_parquet(path)
    return out
