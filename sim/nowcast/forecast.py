"""Stop a round at a clock time and save its state; forecast the rest of a round from a state.

:func:`stop_and_save` is ``natsim run SCENARIO --until 10:00``: one replication run
to that time, its state written as a folder (:mod:`sim.nowcast.files`).

:func:`nowcast` is ``natsim nowcast SCENARIO --state DIR``: replications that carry
the round on from the state, each with draws of its own from then on (the residents
still to come, swab and travel times, lab durations), as a
:class:`~sim.results.Result` with completion and P(met) and their intervals, the
share reported by each hour and, on request, the levers from then on
(:func:`sim.experiment.levers.levers` with ``state_for``). A state natsim saved keeps
its own replication: replication r of the nowcast with the state's seed, r being the
state's replication, is the round exactly as it went on; the others are other
futures from the same morning. A state built from observed counts has no replication
of its own; the rules that filled it in (:data:`sim.nowcast.observed.RULES`) are
recorded in the result.

What a nowcast does not redraw: breakdowns (``failures:``) and disruptions still to
come are the state's calendar (the saved round's draws, or the scenario's own
replication 0 for observed counts) in every replication; a scenario with
``failures:`` is warned so.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

from ..experiment.executors import Executor
from ..experiment.levers import levers as measure_levers
from ..experiment.replicate import ProgressFn, replicate
from ..model.state import RoundState
from ..model.world import Round
from ..results.io import atomic_write, manifest_basics, staged, to_json, write_scenario
from ..results.result import Result
from ..scenario import Scenario
from ..units import format_clock
from .codec import ARRAYS_NAME, JSON_NAME
from .files import STATE_FILE, StateFolder, read_state, readable_counts, write_state


def until_seconds(scenario: Scenario, clock: str) -> float:
    """Seconds from the round's start of ``clock`` ("10:00", "02:00+1"), inside the round."""
    from .files import _round_time

    t = _round_time(scenario, clock)
    if not 0 < t < scenario.round.horizon:
        raise ValueError(f"'{clock}' is not inside the round (it starts at "
                         f"{format_clock(scenario.round.start)} and runs "
                         f"{scenario.round.horizon / 3600:g} h)")  # fmt: skip
    return t


def state_totals(scenario: Scenario, state: RoundState) -> dict[str, int]:
    """Where the round's residents and tubes are at the state's time (a few totals)."""
    counts = readable_counts(scenario, state)
    points, vehicles, labs = counts["points.csv"], counts["vehicles.csv"], counts["labs.csv"]
    in_labs = sum(r["waiting"] + r["running"] for r in labs)
    on_road = sum(r["tubes"] for r in vehicles)
    sealed = sum(r["tubes_sealed"] for r in points)
    waiting = sum(r["tubes_waiting"] for r in points)
    return {
        "swabbed": sum(r["swabbed"] for r in points),
        "in_line": sum(r["in_line"] for r in points),
        "tubes_sealed": sealed,
        "tubes_at_points": waiting,
        "tubes_on_road": on_road,
        "tubes_in_labs": in_labs,
        "tubes_reported": sealed - waiting - on_road - in_labs,
        "vehicles_on_road": len(vehicles),
    }


def stop_and_save(
    scenario: Scenario,
    until: str,
    folder: str | Path,
    *,
    seed: int | None = None,
    replication: int = 0,
    replace: bool = False,
    command: str | None = None,
) -> dict[str, Any]:
    """Run replication ``replication`` of ``scenario`` to the clock time ``until`` and write
    the run folder: ``state/`` (the state's files), ``scenario.yaml``, a summary of where
    everything is (``summary.json``, kind ``state``); the summary."""
    at = until_seconds(scenario, until)
    seed = scenario.round.seed if seed is None else int(seed)
    round_ = Round(scenario, replication, seed)
    round_.run(at)
    state = round_.save()
    summary = {
        "kind": "state",
        "scenario": scenario.round.name,
        "seed": seed,
        "replication": replication,
        "at": format_clock(scenario.round.start + at),
        **state_totals(scenario, state),
    }
    with staged(folder, replace) as tmp:
        write_state(tmp / "state", scenario, state)
        write_scenario(scenario, tmp)
        atomic_write(tmp / "summary.json", to_json(summary).encode())
        manifest = {**manifest_basics(command), "kind": "state", "scenario": scenario.round.name,
                    "seed": seed, "replications": 1}  # fmt: skip
        atomic_write(tmp / "manifest.json", to_json(manifest).encode())
    return summary


def _state_key(folder: StateFolder) -> str:
    """A short digest of the state's files (the store tells nowcasts of two states apart)."""
    digest = hashlib.sha256()
    for path in sorted(folder.folder.iterdir()):
        if path.is_file():
            digest.update(path.name.encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def nowcast(
    scenario: Scenario,
    state: str | Path | StateFolder,
    reps: int = 10,
    *,
    seed: int | None = None,
    levers: bool = False,
    lever_reps: int | None = None,
    costs: dict[str, float] | None = None,
    executor: Executor | None = None,
    workers: int | None = None,
    folder: str | Path | None = None,
    progress: ProgressFn | None = None,
) -> Result:
    """Forecast the rest of the round from ``state`` (a state folder, or a run folder written
    by ``natsim run --until``): ``reps`` replications from then on, and the levers from
    then on with ``levers``. ``result.experiment["nowcast"]`` says from when, from what
    and by which rules."""
    if not isinstance(state, StateFolder):
        state = read_state(Path(state), scenario)
    saved = state.state
    seed = (saved.seed if state.exact else scenario.round.seed) if seed is None else int(seed)
    key = _state_key(state)
    result = replicate(
        scenario, reps, seed=seed, executor=executor, workers=workers, folder=folder,
        progress=progress, state=saved, state_key=key,
    )  # fmt: skip
    warnings = []
    failing = [f"{lab.id}/{name}" for lab in scenario.labs
               for name, pool in lab.process.pools.items() if pool.failures is not None]  # fmt: skip
    if failing or scenario.transport.failures is not None:
        warnings.append(
            "breakdowns after the state's time are the state's calendar in every replication "
            f"({', '.join(failing) or 'vehicles'}): the spread of the forecast leaves out "
            "that of breakdowns still to come"
        )
    info: dict[str, Any] = {
        "from": state.at,
        "state": str(state.folder),
        "exact": state.exact,
        "rules": list(state.rules),
        "warnings": warnings,
        "totals": state_totals(scenario, saved),
    }
    if state.exact:
        info["replication_as_saved"] = saved.replication if seed == saved.seed else None
    if state.note:
        info["note"] = state.note
    result.experiment["nowcast"] = info
    if levers:
        observed_counts = None
        if not state.exact:
            from .files import read_counts

            observed_counts = read_counts(state.folder, scenario, saved.time)

        def state_for(variant: Scenario) -> RoundState:
            if observed_counts is None:
                return saved
            from .observed import build_state

            return build_state(variant, observed_counts)

        lv = measure_levers(
            scenario, lever_reps or reps, seed=seed, costs=costs, executor=executor,
            workers=workers, progress=progress, state_for=state_for,
        )  # fmt: skip
        result.attach_levers(lv.table, lv.summary())
    else:
        result.skip_levers("not measured: natsim nowcast --levers measures what a step more of "
                           "each lab's staff or instruments buys from then on")  # fmt: skip
    return result


def copy_state(state: StateFolder, folder: str | Path) -> None:
    """Copy the state's files into ``folder/state/`` (the nowcast's run folder keeps them)."""
    target = Path(folder) / "state"
    target.mkdir(parents=True, exist_ok=True)
    for name in (STATE_FILE, "points.csv", "vehicles.csv", "labs.csv", JSON_NAME, ARRAYS_NAME):
        source = state.folder / name
        if source.is_file():
            shutil.copy2(source, target / name)
    (target / "read.json").write_text(
        json.dumps({"exact": state.exact, "rules": list(state.rules)}, indent=1),
        encoding="utf-8",
    )
