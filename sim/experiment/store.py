"""Finished replications on disk, so an interrupted experiment resumes where it stopped.

Layout, inside a run (or sweep, or plan) folder::

    replications/
      <key>/                 one folder per scenario variant and seed
        variant.json         what the key stands for: scenario name, seed, changes
        000000.json          replication 0: {"replication": 0, "kpis": {...}, "wall": {...}}
        000001.json          ...

``key`` is a fingerprint of everything a replication's numbers depend on: the
resolved scenario (every field and the zone table), the seed, and the code —
the natsim version and a hash of the package's source files, so a development
checkout that changed never mixes old and new replications. A stored
replication is therefore reused only for the same variant, seed and code; a
changed scenario gets a new key and is simulated afresh.

Each file is written atomically (temporary file, then rename) as soon as the
replication finishes, so a run killed at any moment — even with SIGKILL —
leaves only complete files behind. A file damaged later (truncated, edited) is
skipped with a :class:`StoreWarning` when the store is read, so that
replication is simulated again and its file rewritten. The KPIs are stored as JSON; Python writes
floats with ``repr`` (shortest round-trip), so they read back bit for bit.
:func:`normalise` passes fresh results through the same JSON round trip, so an
uninterrupted run and a resumed one aggregate exactly the same values.
"""

from __future__ import annotations

import functools
import hashlib
import json
import warnings
from pathlib import Path
from typing import Any

import pandas as pd

from ..results.io import STORE, atomic_write, to_json
from ..results.result import ReplicationResult
from ..scenario.schema import Scenario

FOLDER = STORE
#: what every stored replication's KPIs hold (what :attr:`sim.Result.kpis` reads)
KPI_KEYS = ("finished", "completion_h", "residents_swabbed", "tubes", "stages_h", "targets")


class StoreWarning(UserWarning):
    """A stored replication that cannot be read: it is simulated again."""


@functools.cache
def code_version() -> str:
    """The natsim version and a hash of every source file of the ``sim`` package."""
    from ..version import __version__

    root = Path(__file__).resolve().parents[1]
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        digest.update(path.relative_to(root).as_posix().encode())
        digest.update(path.read_bytes())
    return f"{__version__}+{digest.hexdigest()[:12]}"


def fingerprint(scenario: Scenario, seed: int) -> str:
    """A short stable key of (scenario, seed, code); see the module notes."""
    digest = _scenario_hash(scenario)
    digest.update(f"seed={int(seed)};natsim={code_version()}".encode())
    return digest.hexdigest()[:16]


def scenario_digest(scenario: Scenario) -> str:
    """A short stable key of the scenario alone (what a saved state was saved from)."""
    return _scenario_hash(scenario).hexdigest()[:16]


def _scenario_hash(scenario: Scenario) -> Any:
    digest = hashlib.sha256()
    body = scenario.model_dump(mode="json", by_alias=True, exclude={"demand": {"zones"}})
    digest.update(json.dumps(body, sort_keys=True, default=str).encode())
    zones = scenario.demand.zones.to_frame()
    digest.update(json.dumps(list(map(str, zones.columns))).encode())
    digest.update(pd.util.hash_pandas_object(zones, index=False).to_numpy().tobytes())
    return digest


def normalise(part: ReplicationResult) -> ReplicationResult:
    """``part`` with its KPIs and wall times as they read back from the store."""
    kpis = json.loads(to_json(part.kpis))
    wall = json.loads(to_json(part.wall))
    return ReplicationResult(part.replication, part.tables, kpis, part.residents, wall)


class ReplicationStore:
    """The ``replications/`` folder of one run, sweep or plan folder."""

    def __init__(self, folder: str | Path) -> None:
        self.root = Path(folder) / FOLDER

    def _dir(self, key: str) -> Path:
        return self.root / key

    def variants(self) -> list[str]:
        """The variant keys with a folder here."""
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if p.is_dir())

    def describe(self, key: str, about: dict[str, Any]) -> None:
        """Record what ``key`` stands for (written once, for people reading the folder)."""
        path = self._dir(key) / "variant.json"
        if not path.exists():
            atomic_write(path, to_json(about).encode())

    def about(self, key: str) -> dict[str, Any]:
        """What :meth:`describe` recorded for ``key`` (empty if nothing)."""
        path = self._dir(key) / "variant.json"
        return json.loads(path.read_text()) if path.exists() else {}

    def save(self, key: str, part: ReplicationResult) -> None:
        """Write one finished replication's KPIs (atomically)."""
        record = {"replication": part.replication, "kpis": part.kpis, "wall": part.wall}
        atomic_write(self._dir(key) / f"{part.replication:06d}.json", to_json(record).encode())

    def load(self, key: str) -> dict[int, ReplicationResult]:
        """Every stored replication of ``key``, by replication number (KPIs only).

        A file that is not a complete record (truncated, corrupt, another file's
        number) is left out with a :class:`StoreWarning` naming it: the caller runs
        that replication again, and saving it replaces the file.
        """
        folder = self._dir(key)
        if not folder.is_dir():
            return {}
        out: dict[int, ReplicationResult] = {}
        for path in sorted(folder.glob("[0-9]*.json")):
            try:
                record = json.loads(path.read_text(encoding="utf-8"))
                r, kpis, wall = int(record["replication"]), record["kpis"], record.get("wall", {})
                if path.stem != f"{r:06d}" or not all(k in kpis for k in KPI_KEYS):
                    raise ValueError("not the record its name says")
            except (ValueError, KeyError, TypeError) as exc:
                warnings.warn(
                    f"{path}: corrupt stored replication ({exc}); simulating it again",
                    StoreWarning,
                    stacklevel=2,
                )
                continue
            out[r] = ReplicationResult(r, {}, kpis, None, wall)
        return out

    def count(self, key: str) -> int:
        """How many replications of ``key`` are stored."""
        folder = self._dir(key)
        return len(list(folder.glob("[0-9]*.json"))) if folder.is_dir() else 0
