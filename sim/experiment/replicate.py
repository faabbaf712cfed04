"""Replications of one scenario: the loop every experiment is built on.

:class:`Runner` runs replications of one or more scenario variants on an
executor (:mod:`.executors`), reuses finished ones from memory or, when
resuming, from the run folder's store (:mod:`.store`), writes each new one to
the store the moment it finishes, and reports progress. Workers run
:func:`simulate`, which returns only the replication's KPI dict — a few
kilobytes — except for the one replication whose full tables a run keeps for
its figures and report.

:func:`replicate` is the analyst's entry point (``sim.replicate``): a fixed
number of replications, or as many as it takes for the 95 % interval of the mean
completion time to be narrower than ``precision`` (sequential rule: run n,
estimate the n needed from the interval's half-width, run the difference,
repeat, up to ``max_reps``). Every decision depends only on the replications'
numbers, so the same seed gives the same replications, the same count and the
same summary on every executor, interrupted and resumed or not.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..gc_pause import collector_paused
from ..model.state import RoundState
from ..model.world import Detail, Round, run_replication
from ..results.io import recover_store
from ..results.result import ReplicationResult, Result, kpis_only, tabulate
from ..scenario import Scenario, load_scenario
from ..stats import describe
from ..units import parse_duration
from .executors import Executor, make_executor
from .store import ReplicationStore, fingerprint, normalise

#: progress callback: (replications done, replications wanted, what is running)
ProgressFn = Callable[[int, int, str], None]

DEFAULT_MAX_REPS = 500


@dataclass(frozen=True)
class Job:
    """A scenario variant to replicate, and the changes that made it (for the record).

    With ``state``, every replication carries the round on from that state (a nowcast,
    :mod:`sim.nowcast`): the state's own replication exactly as it went on, the others
    with draws of their own from then on; ``state_key`` tells states apart in the store.
    """

    scenario: Scenario
    seed: int
    changes: tuple[tuple[str, Any], ...] = field(default=())
    state: RoundState | None = field(default=None, compare=False, repr=False)
    state_key: str = ""


#: a unit of work: (job index, replication, detail of the full tables or None for KPIs only)
Item = tuple[int, int, Detail | None]


def simulate(jobs: tuple[Job, ...], item: Item) -> ReplicationResult:
    """Run one replication of ``jobs[item[0]]`` (the worker-side function; pure)."""
    index, replication, detail = item
    job = jobs[index]
    if job.state is not None:
        with collector_paused():
            round_ = Round(job.scenario, replication, job.seed, state=job.state,
                           allow_redraw=True)  # fmt: skip
            round_.run()
            rep = round_.records()
    else:
        rep = run_replication(job.scenario, replication, seed=job.seed, detail=detail or "tubes")
    return tabulate(rep) if detail else kpis_only(rep)


class Runner:
    """Runs replications of scenario variants on one executor, with memory, store and progress.

    ``executor`` is used as given (and left open); otherwise one is made from
    ``workers``/``dask`` (see :func:`.executors.make_executor`) and closed by
    :meth:`close`. ``folder`` enables the store: every finished replication is
    written there; with ``resume`` the ones already there are read instead of
    run. Replications run earlier by the same runner are never run twice.
    """

    def __init__(
        self,
        executor: Executor | None = None,
        *,
        workers: int | None = None,
        dask: str | None = None,
        folder: str | Path | None = None,
        resume: bool = False,
        progress: ProgressFn | None = None,
    ) -> None:
        self._own = executor is None
        self.executor = executor if executor is not None else make_executor(workers, dask)
        if folder is not None and resume:
            recover_store(Path(folder))  # left beside the folder by a run killed as it finished
        self.store = ReplicationStore(folder) if folder is not None else None
        self.resume = resume
        self.progress = progress
        self._memory: dict[tuple[str, int], ReplicationResult] = {}
        self._loaded: set[str] = set()
        self._contexts: dict[tuple[str, ...], tuple[Job, ...]] = {}
        self._keys: dict[int, tuple[Job, str]] = {}
        #: replications simulated (not reused) by this runner
        self.simulated = 0

    def key(self, job: Job) -> str:
        """The store key of ``job`` (computed once per job object)."""
        known = self._keys.get(id(job))
        if known is not None and known[0] is job:
            return known[1]
        key = fingerprint(job.scenario, job.seed)
        if job.state_key:
            key = f"{key}-{job.state_key}"
        self._keys[id(job)] = (job, key)
        return key

    def _recall(self, key: str, job: Job) -> None:
        """Load the stored replications of ``key`` into memory (once, when resuming)."""
        if key in self._loaded:
            return
        self._loaded.add(key)
        if self.store is None:
            return
        self.store.describe(
            key,
            {
                "scenario": job.scenario.round.name,
                "seed": job.seed,
                "changes": {path: value for path, value in job.changes},
            },
        )
        if self.resume:
            for r, part in self.store.load(key).items():
                self._memory.setdefault((key, r), part)

    def run(
        self,
        jobs: Sequence[Job],
        wanted: Iterable[tuple[int, int]],
        full: dict[tuple[int, int], Detail] | None = None,
        label: str = "replications",
    ) -> dict[tuple[int, int], ReplicationResult]:
        """Results for every (job index, replication) in ``wanted``.

        ``full`` names the replications whose full tables are wanted (with the
        detail level); those are simulated again if only their KPIs are known.
        """
        full = full or {}
        keys = [self.key(job) for job in jobs]
        for key, job in zip(keys, jobs, strict=True):
            self._recall(key, job)
        wanted = list(dict.fromkeys(wanted))
        out: dict[tuple[int, int], ReplicationResult] = {}
        todo: list[Item] = []
        for v, r in wanted:
            known = self._memory.get((keys[v], r))
            if known is not None and ((v, r) not in full or known.tables):
                out[(v, r)] = known
            else:
                todo.append((v, r, full.get((v, r))))
        total = len(wanted)
        if self.progress:
            self.progress(len(out), total, label)
        if not todo:
            return out
        context = self._contexts.setdefault(tuple(keys), tuple(jobs))
        # submit the replications wanted with tables first: they take longest to ship
        todo.sort(key=lambda item: (item[2] is None, item[1], item[0]))
        for (v, r, _), part in self.executor.map(simulate, context, todo):
            part = normalise(part)
            out[(v, r)] = part
            known_before = (keys[v], r) in self._memory  # only re-run for its tables
            self._memory[(keys[v], r)] = part
            self.simulated += 1
            if self.store is not None and not known_before:
                self.store.save(keys[v], part)
            if self.progress:
                self.progress(len(out), total, label)
        return out

    def close(self) -> None:
        if self._own:
            self.executor.close()

    def __enter__(self) -> Runner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _hours(value: float | str | None) -> float | None:
    """Hours from a number of hours or a duration text such as "0.1h" or "6min"."""
    if value is None:
        return None
    if isinstance(value, str):
        return parse_duration(value) / 3600.0
    return float(value)


def replicate(
    scenario: Scenario | str | Path,
    reps: int = 10,
    *,
    seed: int | None = None,
    precision: float | str | None = None,
    max_reps: int = DEFAULT_MAX_REPS,
    detail: Detail = "tubes",
    keep_tables: bool = True,
    workers: int | None = None,
    dask: str | None = None,
    executor: Executor | None = None,
    folder: str | Path | None = None,
    resume: bool = False,
    progress: ProgressFn | None = None,
    state: RoundState | None = None,
    state_key: str = "",
) -> Result:
    """Replications 0 .. n-1 of ``scenario`` as a :class:`~sim.results.Result`.

    ``result.kpis`` is the DataFrame of per-replication KPIs,
    ``result.statistics()`` the DataFrame of means, intervals and quantiles,
    ``result.summary()`` what ``summary.json`` holds. The first replication
    keeps its full tables (``result.tubes`` ...) when ``keep_tables``.

    ``precision`` (hours, or a duration such as ``"0.1h"``) keeps adding
    replications, starting from ``reps``, until the half-width of the 95 %
    interval of the mean completion time is at most that, or ``max_reps`` is
    reached; ``result.summary()["experiment"]`` says how many it took and
    whether it got there.

    Where it runs: ``executor``, or ``dask`` ("local" or a scheduler address),
    or ``workers`` local processes (default one per core; 1 = this process).
    With ``folder`` every finished replication is stored there
    (``folder/replications/``) and ``resume=True`` reuses them. With ``state`` every
    replication carries on from it (see :class:`Job`; :func:`sim.nowcast.nowcast`).
    """
    if not isinstance(scenario, Scenario):
        scenario = load_scenario(scenario)
    seed = scenario.round.seed if seed is None else int(seed)
    target = _hours(precision)
    if reps < 1:
        raise ValueError(f"reps must be at least 1, got {reps}")
    if target is not None and target <= 0:
        raise ValueError("precision must be a positive duration")
    job = Job(scenario, seed, state=state, state_key=state_key)
    full: dict[tuple[int, int], Detail] = {(0, 0): detail} if keep_tables else {}
    with Runner(
        executor, workers=workers, dask=dask, folder=folder, resume=resume, progress=progress
    ) as runner:
        n = reps if target is None else max(2, reps)
        experiment: dict[str, Any] = {}
        while True:
            done = runner.run([job], [(0, r) for r in range(n)], full)
            parts = [done[(0, r)] for r in range(n)]
            if target is None:
                break
            completion = [p.kpis["completion_h"] for p in parts]
            stats = describe(completion, censored=True)
            half = stats["half_width"]
            reached = half is not None and half <= target
            experiment = {
                "precision_h": target,
                "half_width_h": half,
                "reached": reached,
                "max_replications": max_reps,
            }
            if reached or n >= max_reps:
                break
            if stats.get("unfinished"):
                experiment["note"] = (
                    f"{stats['unfinished']} of {n} replications did not finish by the horizon: "
                    "the mean completion time is unknown, so no number of replications reaches "
                    "the precision"
                )
                break
            assert half is not None
            # the n the current spread suggests, at most doubling: a few early
            # replications can overstate the spread and would overshoot
            needed = math.ceil(1.1 * n * (half / target) ** 2)
            n = min(max_reps, 2 * n, max(n + 1, needed))
    return Result(scenario, seed, parts, experiment=experiment or None)
