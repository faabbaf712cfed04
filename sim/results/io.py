"""The run folder: what a planner keeps and an analyst reopens.

::

    runs/<scenario>-<timestamp>/
      summary.json        headline KPIs (targets met, completion, stages, bottleneck)
      tables/*.parquet    tubes, plates, points, trips, stops, bags, vehicles, labs, timeline, kpis
      scenario.yaml       the scenario as resolved (defaults filled in, overrides applied)
      zones.parquet       the zone table the run used
      manifest.json       natsim version, seed, replications, command line, timings
      parts.json          each replication's KPIs (what reopening the run needs)
      figures/*.png       pictures (written by sim.plots)

A run folder is complete or absent: :func:`staged` has it written under a
temporary sibling name (``.<name>.partial-<pid>``) that becomes ``<name>`` by
one rename once every file is written, so a run killed at any moment leaves no
half folder under the name asked for. The one thing kept in ``<name>`` while
the run goes on is an experiment's replications store (``replications/``, see
:mod:`sim.experiment.store`), which a killed run leaves for ``--resume``.
``read_run(folder)`` gives the files back (tables as DataFrames), and refuses
(with :class:`RunFolderError`) a folder that is not complete or a file that is
corrupt; ``sim.load_run`` reopens the folder as the ``Result`` it was written from.

Tables are written by :func:`write_parquet`, which hands pyarrow the frame's
numpy columns as they are (no pandas conversion), and picks an encoding per
column: categoricals and repetitive text dictionary-encoded, numbers plain
(sorted integer columns, like ``tube``, delta-encoded), Snappy throughout, min/max statistics
for numbers only. Numeric columns are required fields: a missing time is stored
as NaN, as in the DataFrame. Each file carries pandas' schema metadata, so
``pd.read_parquet`` (and ``read_run``) give back the same dtypes.
"""

from __future__ import annotations

import glob
import json
import os
import platform
import re
import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
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

#: the replications store of an experiment inside its folder (:mod:`sim.experiment.store`)
STORE = "replications"
#: what a complete run folder always holds (written by every ``save``)
REQUIRED = ("manifest.json", "summary.json")


#: every name natsim writes at the top of a run, sweep or plan folder: replacing (--force)
#: never removes a folder that holds anything else
RUN_NAMES = {
    STORE, *REQUIRED, "tables", "figures", "scenario.yaml", "zones.parquet", "report.html",
    "levers.csv", "evidence.csv", "evidence.parquet", "plan.json", "sweep.csv", "sweep.parquet",
    "replications.parquet", "parts.json",
}  # fmt: skip


def _natsim_manifest(path: Path) -> bool:
    """Whether ``path`` is a manifest natsim wrote (a JSON object naming natsim's version)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and "natsim" in data


class RunFolderError(ValueError):
    """A folder that is not a complete run folder, a corrupt file in one, or a folder that
    cannot become one; the message is one line naming the folder or file."""


class FolderTaken(RunFolderError):
    """The folder to write holds something already; ``replace`` (``--force``) replaces it."""

    def __init__(self, folder: Path, interrupted: bool) -> None:
        #: whether it holds only the replications store of an unfinished run
        self.interrupted = interrupted
        super().__init__(f"{folder} exists and is not empty; save(..., replace=True) replaces it")


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


# -- complete or absent --------------------------------------------------------
LEFTOVER = re.compile(r"\.(?P<name>.+)\.(?:partial|replaced)-(?P<pid>[0-9]+)")


def partial_folder(folder: Path) -> Path:
    """The temporary sibling this process writes ``folder`` under."""
    return folder.parent / f".{folder.name}.partial-{os.getpid()}"


def _alive(pid: int) -> bool:
    """Whether process ``pid`` may still be writing (when in doubt: yes)."""
    if pid <= 0 or pid == os.getpid() or os.name != "posix":
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # another user's process
        pass
    return True


def _leftovers(folder: Path) -> list[Path]:
    """Temporary siblings of ``folder`` left by processes that no longer run (killed)."""
    if not folder.parent.is_dir():
        return []
    out = []
    for path in folder.parent.glob(f".{glob.escape(folder.name)}.*-*"):
        match = LEFTOVER.fullmatch(path.name)
        if match and match["name"] == folder.name and not _alive(int(match["pid"])):
            out.append(path)
    return sorted(out)


def check_target(folder: Path, replace: bool = False, store_ok: bool = True) -> None:
    """Raise :class:`RunFolderError` unless ``folder`` may be written as a run folder.

    It may when it is absent or empty, or holds only an experiment's replications
    store (unless not ``store_ok``); with ``replace`` also when it is a natsim folder
    (never a folder of other files: replacing removes it). The nearest existing
    folder on the way must be writable, so a run does not fail only at its end.
    """
    if folder.exists() and not folder.is_dir():
        raise RunFolderError(f"{folder}: is a file, not a folder")
    names = set(os.listdir(folder)) if folder.is_dir() else set()
    others = names - ({STORE} if store_ok else set())
    if others and not replace:
        raise FolderTaken(folder, interrupted=names == {STORE})
    if names - {STORE}:
        foreign = sorted(names - RUN_NAMES)
        if foreign or not _natsim_manifest(folder / "manifest.json"):
            what = f" ({', '.join(foreign[:3])}{', ...' if len(foreign) > 3 else ''})"
            raise RunFolderError(
                f"{folder}: holds files that are not a natsim run's"
                f"{what if foreign else ' (no natsim manifest.json)'}; choose another folder"
            )
    for place in (folder.parent, folder):
        existing = next((p for p in (place, *place.parents) if p.exists()), Path("."))
        if not existing.is_dir():
            raise RunFolderError(f"{folder}: {existing} is a file, not a folder")
        if not os.access(existing, os.W_OK | os.X_OK):
            raise RunFolderError(f"{folder}: cannot write in {existing} (permission denied)")


@contextmanager
def staged(folder: str | Path, replace: bool = False) -> Iterator[Path]:
    """Write a run folder completely or not at all: yields the empty folder to write it in.

    That is a temporary sibling (:func:`partial_folder`); when the block ends
    without error it is renamed to ``folder``, taking along the replications store
    an experiment kept in ``folder``; an existing ``folder`` is replaced (only with
    ``replace``, see :func:`check_target`). On any error, Ctrl-C included, the
    temporary folder is removed and ``folder`` is left as it was.
    """
    folder = Path(os.path.abspath(folder))  # a name to rename to, even for "."
    check_target(folder, replace)
    tmp = partial_folder(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(tmp, ignore_errors=True)  # left by an earlier process with this pid
    tmp.mkdir()
    try:
        yield tmp
        _publish(tmp, folder, replace)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    for path in _leftovers(folder):
        shutil.rmtree(path, ignore_errors=True)


def _publish(tmp: Path, folder: Path, replace: bool) -> None:
    """Rename ``tmp`` to ``folder``, with the store ``folder`` holds moved into it first.

    A folder holding nothing else (or absent) is replaced by one atomic rename;
    an old run folder is renamed aside first and removed after. Killed between
    those renames, ``folder`` is absent or still the old run, and the store is in
    ``tmp``, where :func:`recover_store` finds it.
    """
    check_target(folder, replace)  # nothing else has taken it meanwhile
    store, aside = folder / STORE, folder.parent / f".{folder.name}.replaced-{os.getpid()}"
    moved = store.is_dir()
    if moved:
        os.rename(store, tmp / STORE)
    try:
        try:
            os.replace(tmp, folder)  # folder absent or (POSIX) an empty directory
        except OSError:
            if not folder.is_dir():
                raise
            shutil.rmtree(aside, ignore_errors=True)  # left by an earlier process with this pid
            os.rename(folder, aside)
            os.rename(tmp, folder)
    except BaseException:
        with suppress(OSError):  # put back what was there
            if aside.exists() and not folder.exists():
                os.rename(aside, folder)
            if moved:
                os.rename(tmp / STORE, store)
        raise
    shutil.rmtree(aside, ignore_errors=True)


def recover_store(folder: Path) -> bool:
    """Move back into ``folder`` the replications store a run killed while renaming its
    finished folder left in its temporary sibling (see :func:`_publish`), so that
    ``--resume`` finds it; whether there was one."""
    folder = Path(os.path.abspath(folder))
    if (folder / STORE).is_dir():
        return False
    found = [p for p in _leftovers(folder) if (p / STORE).is_dir()]
    if not found:
        return False
    newest = max(found, key=lambda p: (p / STORE).stat().st_mtime)
    folder.mkdir(parents=True, exist_ok=True)
    os.rename(newest / STORE, folder / STORE)
    shutil.rmtree(newest, ignore_errors=True)
    return True


def check_run_folder(folder: Path) -> None:
    """Raise :class:`RunFolderError` unless ``folder`` is a complete run folder: a folder
    under its own name (not a temporary one) holding manifest.json and summary.json."""
    if LEFTOVER.fullmatch(folder.name):
        raise RunFolderError(
            f"{folder}: a run folder being written, or left half-written by a killed run "
            "(a temporary name); not a complete run folder"
        )
    if not folder.is_dir():
        raise RunFolderError(f"{folder}: not a run folder (no such folder)")
    for name in REQUIRED:
        if not (folder / name).is_file():
            why = f"{folder}: not a complete run folder (no {name})"
            if (folder / STORE).is_dir():
                why += f": an interrupted run; --resume --out {folder} completes it"
            raise RunFolderError(why)


def read_json(path: Path) -> Any:
    """A JSON file of a run folder; :class:`RunFolderError` naming it if it is corrupt."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:  # not JSON, or not UTF-8
        raise RunFolderError(f"{path}: corrupt JSON ({exc})") from None


def read_parquet(path: Path) -> pd.DataFrame:
    """A Parquet table of a run folder; :class:`RunFolderError` naming it if it is corrupt."""
    try:
        return pd.read_parquet(path)
    except (OSError, ValueError, pa.ArrowException) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise RunFolderError(f"{path}: not a readable Parquet file ({reason})") from None


def read_run(folder: str | Path) -> dict[str, Any]:
    """A complete run folder's files as ``{"summary": dict, "manifest": dict, <table>:
    DataFrame}`` (``sim.load_run`` makes a :class:`~sim.results.result.Result` of them).

    Raises :class:`RunFolderError` (one line, naming the folder or file) for a
    folder that is not complete — absent, under a temporary name, or without its
    manifest or summary, as a run killed before it finished leaves it — and for a
    corrupt JSON or Parquet file.
    """
    folder = Path(folder)
    check_run_folder(folder)
    out: dict[str, Any] = {
        "summary": read_json(folder / "summary.json"),
        "manifest": read_json(folder / "manifest.json"),
    }
    for path in sorted((folder / "tables").glob("*.parquet")):
        out[path.stem] = read_parquet(path)
    return out
