"""``natsim``: a thin command line over the same API the notebooks use.

Exit codes: 0 done, 2 the scenario or the command line is wrong (one line on
stderr naming file, line and field; no traceback), 130 interrupted (Ctrl-C;
finished replications are kept and ``--resume`` completes the run).

A run folder (``--out``) is complete or absent: it is written under a temporary
name and renamed when every file is there (:func:`sim.results.io.staged`). An
``--out`` that already holds something is refused unless ``--force`` (the old
folder is replaced once the new one is complete) or ``--resume`` into the
folder of the interrupted run; one that cannot be written (a file, no
permission, a full disk) exits 2 with one line and leaves nothing behind.

``run`` simulates one replication, or many (``--reps``, ``--precision``) with
probabilities of meeting the targets; ``sweep`` runs a grid of variants;
``compare`` sets two runs side by side; ``plan`` searches for the cheapest
capacity meeting a target with confidence. Replications run in local worker
processes (``--workers``) or on Dask (``--dask``); see docs/experiments.md.
"""

from __future__ import annotations

import os
import shlex
import shutil
import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer
from rich.console import Console
from rich.markup import escape

from .scenario import ScenarioError, load_scenario
from .terminal import terminal

if TYPE_CHECKING:
    from .experiment.executors import Executor
    from .experiment.replicate import ProgressFn
    from .results.result import Result
    from .scenario import Scenario

app = typer.Typer(
    add_completion=True,
    no_args_is_help=True,
    help="Simulate a citywide mass nucleic-acid testing round: collect, transport, test, report.",
)
err = terminal(stderr=True)
LEVER_BUDGET_S = 5.0  # levers are measured by default when they take no longer (seconds)

ScenarioArg = Annotated[
    Path, typer.Argument(help="Scenario YAML file, e.g. scenarios/zhaoling.yaml")
]
SetOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--set",
        help="Change a value: PATH=VALUE, e.g. labs.luohe-cdc.pcr.instruments=30 (repeatable)",
    ),
]


WorkersOpt = Annotated[
    int | None,
    typer.Option(
        help="Local worker processes (default: one per core; 1 runs in this process)", min=1
    ),
]
DaskOpt = Annotated[
    str | None,
    typer.Option(
        help="Run on Dask: 'local' starts a cluster here, or tcp://HOST:PORT of a running scheduler"
    ),
]
ResumeOpt = Annotated[
    bool,
    typer.Option(help="Reuse the replications already finished in --out (after an interruption)"),
]
ForceOpt = Annotated[
    bool,
    typer.Option(
        "--force", help="Replace --out if it holds something (once the new folder is complete)"
    ),
]
OutOpt = Annotated[
    Path | None, typer.Option("--out", "-o", help="Results folder (default runs/<name>-<time>)")
]
SeedOpt = Annotated[
    int | None, typer.Option(help="Random seed (default: round.seed in the scenario)")
]


def _fail(message: str) -> NoReturn:
    """One line on stderr per problem (``message`` may hold several lines), exit code 2."""
    for line in message.splitlines() or [""]:
        err.print(f"[red]error:[/red] {escape(line)}", highlight=False, soft_wrap=True)
    raise typer.Exit(2)


def _load(path: Path, overrides: list[str] | None) -> object:
    try:
        return load_scenario(path, overrides or [])
    except ScenarioError as exc:
        _fail(str(exc))


def _command() -> str:
    return "natsim " + " ".join(shlex.quote(a) for a in sys.argv[1:])


@contextmanager
def _executor(workers: int | None, dask: str | None) -> Iterator[Executor]:
    """The executor the options ask for; a Dask scheduler that cannot be reached exits 2."""
    from .experiment.executors import make_executor

    try:
        executor = make_executor(workers, dask)
    except (OSError, TimeoutError, ValueError) as exc:
        _fail(f"--dask {dask}: cannot start or reach the cluster: {exc}")
    try:
        yield executor
    finally:
        executor.close()


@contextmanager
def _progress() -> Iterator[ProgressFn | None]:
    """A progress bar on stderr (replications done, elapsed, ETA) when stderr is a terminal."""
    console = terminal(stderr=True)
    if not console.is_terminal:
        yield None
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task("replications", total=None)
        state = {"label": ""}

        def update(done: int, total: int, label: str) -> None:
            if label != state["label"]:
                state["label"] = label
                bar.reset(task, total=total, completed=done, description=label)
            else:
                bar.update(task, total=total, completed=done)

        yield update


def _interrupted(folder: Path, out_given: bool) -> NoReturn:
    """Ctrl-C: say what was kept and how to finish, exit 130."""
    from .experiment.store import ReplicationStore

    store = ReplicationStore(folder)
    kept = sum(store.count(k) for k in store.variants())
    again = _command()
    if "--resume" not in sys.argv:
        again += " --resume"
    if not out_given:
        again += f" --out {shlex.quote(str(folder))}"
    err.print(
        f"interrupted: {kept} finished replications are kept in {folder}/replications; "
        f"to finish, run: {again}",
        highlight=False,
        soft_wrap=True,
    )
    raise typer.Exit(130)


@contextmanager
def _writing(folder: Path) -> Iterator[None]:
    """Exit 2 with one line when the run folder is taken or cannot be written (a file in the
    way, no permission, a full disk); the half-written copy is removed by then."""
    from .results.io import FolderTaken, RunFolderError

    try:
        yield
    except FolderTaken as exc:
        if exc.interrupted:
            _fail(
                f"{folder} holds the replications of an interrupted run: --resume completes "
                "it, --force replaces it"
            )
        _fail(f"{folder} exists and is not empty: --force replaces it")
    except RunFolderError as exc:
        _fail(str(exc))
    except OSError as exc:
        kept = _tidy_store(folder)
        more = f"; its {kept} finished replications are kept for --resume" if kept else ""
        _fail(f"{folder}: cannot write the run folder: {exc.strerror or exc}{more}")


def _tidy_store(folder: Path) -> int:
    """After a failed write, how many finished replications the store in ``folder`` keeps
    (for --resume once the disk has room); a store of none is removed, and ``folder`` with
    it if that leaves it empty, so a failed run leaves no folder behind."""
    from .experiment.store import ReplicationStore

    store = ReplicationStore(folder)
    kept = sum(store.count(key) for key in store.variants())
    if not kept:
        shutil.rmtree(store.root, ignore_errors=True)
        with suppress(OSError):
            folder.rmdir()
    return kept


def _prepare_out(folder: Path, force: bool, resume: bool) -> None:
    """Refuse, before anything runs, an --out that cannot become the run folder: a file, a
    folder that cannot be written, or one that holds something already (unless --force, or
    --resume into the interrupted run's own folder). --resume first finds that run's
    replications; --force drops the old folder's, so the new folder holds only its own."""
    from .results.io import STORE, check_target, recover_store

    with _writing(folder):
        if resume:
            recover_store(folder)
        check_target(folder, replace=force or resume, store_ok=force or resume)
        if force and not resume:
            shutil.rmtree(folder / STORE, ignore_errors=True)


def _warning(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: object = None,
    line: str | None = None,
) -> None:
    """A warning (e.g. a corrupt stored replication skipped) as one line on stderr."""
    err.print(f"[yellow]warning:[/yellow] {escape(str(message))}", highlight=False, soft_wrap=True)


@app.callback(invoke_without_command=True)
def _every_command(
    version: Annotated[
        bool,
        typer.Option("--version", is_eager=True, help="Print natsim's version and exit"),
    ] = False,
) -> None:
    # Python warnings (numpy, pandas, natsim's own) as one "warning:" line each on stderr,
    # like the errors: nothing else goes there
    warnings.showwarning = _warning
    if version:
        from .version import __version__

        terminal().print(f"natsim {__version__}")
        raise typer.Exit(0)


@contextmanager
def _experiment(
    workers: int | None, dask: str | None, folder: Path, out_given: bool
) -> Iterator[tuple[Executor, ProgressFn | None]]:
    """The executor and progress bar of a run, sweep or plan; Ctrl-C keeps what finished.

    On Ctrl-C the finished replications are already stored in ``folder``; the
    command exits with the ``--resume`` command that completes it.
    """
    with _executor(workers, dask) as executor, _progress() as progress:
        try:
            with warnings.catch_warnings():
                warnings.showwarning = _warning
                yield executor, progress
        except KeyboardInterrupt:
            _interrupted(folder, out_given)


@app.command()
def validate(scenario: ScenarioArg, set_: SetOpt = None) -> None:
    """Check a scenario file without running it."""
    sc = _load(scenario, set_)
    from .scenario import Scenario

    assert isinstance(sc, Scenario)
    from .checks import check
    from .console import print_warnings
    from .footprint import TooBig, estimate, refuse_if_too_big
    from .model.capacity import capacity_table

    zones = sc.demand.zones
    console = terminal()
    console.print(
        f"{scenario}: valid — {sc.round.name}: {len(zones):,} zones, {zones.total_population:,} people, "
        f"{len(sc.points):,} points, {sum(p.stations for p in sc.points):,} stations, {len(sc.labs)} labs"
    )
    console.print(f"  size: {estimate(sc).describe()} (estimated)")
    for row in capacity_table(sc):
        console.print(f"  lab {row.describe()}")
    found = [f.message for f in check(sc)]
    try:
        refuse_if_too_big(sc)
    except TooBig as exc:
        found.insert(0, f"natsim run would refuse this scenario: {exc}")
    print_warnings(found, console)


@app.command()
def campaign(
    file: Annotated[Path, typer.Argument(help="Campaign file (a base scenario and its rounds)")],
    reps: Annotated[int, typer.Option("--reps", min=1, help="Replications of every round")] = 1,
    seed: Annotated[int, typer.Option(help="Seed (round k draws from seed + 1009 k)")] = 1,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Folder (default runs/<campaign>-<time>)")
    ] = None,
    force: Annotated[bool, typer.Option(help="Replace --out if it holds a natsim folder")] = False,
) -> None:
    """Run consecutive rounds, the work each leaves unfinished carried into the next: a
    table by round (last result, P(met) at each target, tubes carried over), a figure and
    a page."""
    from .experiment.campaign import load_campaign, run_campaign
    from .results.io import FolderTaken, default_folder
    from .scenario import ScenarioError

    try:
        plan = load_campaign(file)
    except ScenarioError as exc:
        _fail(str(exc))
    folder = out or default_folder(f"{plan.name} campaign")
    with _progress() as progress:
        result = run_campaign(plan, reps=reps, seed=seed, progress=progress)
    try:
        result.save(folder, replace=force)
    except FolderTaken as exc:
        _fail(str(exc))
    console = terminal()
    rounds = result.rounds()
    for _, r in rounds.iterrows():
        mets = "  ".join(
            f"P(met {c.removeprefix('p_met_')}) {r[c]:.2f}"
            for c in rounds.columns
            if c.startswith("p_met_") and not c.endswith(("_low", "_high"))
        )
        console.print(
            f"  round {r['round']:>2}  day {r['day']:>2} {r['start']}  last result "
            f"{r['completion_h']:.2f} h  {mets}  carried in {r['carried_tubes']:,.0f} tubes"
        )
    console.print(f"  results in {folder}/  (report.html)")


@app.command()
def show(scenario: ScenarioArg, set_: SetOpt = None) -> None:
    """Describe a scenario in one screen: demand, the busiest points, each lab's tubes
    against its capacity, the fleet, what is planned to go wrong, and the warnings."""
    sc = _load(scenario, set_)
    from .scenario import Scenario
    from .show import show as describe

    assert isinstance(sc, Scenario)
    describe(sc, terminal())


def _fits(sc: Scenario, detail: str = "tubes", at_once: int = 1) -> None:
    """Refuse at once, with the figures, a run that would not fit in this machine."""
    from .footprint import TooBig, refuse_if_too_big

    try:
        refuse_if_too_big(sc, detail, at_once)
    except TooBig as exc:
        _fail(str(exc))


@app.command()
def run(
    scenario: ScenarioArg,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Run folder (default runs/<scenario>-<time>)")
    ] = None,
    seed: Annotated[
        int | None, typer.Option(help="Random seed (default: round.seed in the scenario)")
    ] = None,
    set_: SetOpt = None,
    detail: Annotated[
        str, typer.Option(help="'tubes' (default) or 'residents' to also keep one row per resident")
    ] = "tubes",
    deterministic: Annotated[
        bool, typer.Option(help="Replace every random duration by its mean")
    ] = False,
    figures: Annotated[bool, typer.Option(help="Write figures and report.html")] = True,
    reps: Annotated[
        int,
        typer.Option(
            "--reps",
            min=1,
            help="Replications: with more than one, P(met) for every target and confidence intervals",
        ),
    ] = 1,
    precision: Annotated[
        str | None,
        typer.Option(
            help="Add replications until the 95 % CI of the mean completion time is this narrow "
            "(half-width), e.g. 0.1h or 5min; starts from --reps (at least 2)"
        ),
    ] = None,
    max_reps: Annotated[
        int, typer.Option("--max-reps", min=2, help="Most replications --precision may run")
    ] = 500,
    workers: WorkersOpt = None,
    dask: DaskOpt = None,
    resume: ResumeOpt = False,
    force: ForceOpt = False,
    levers: Annotated[
        bool | None,
        typer.Option(
            "--levers/--no-levers",
            help="Measure what a step more and a step fewer of every resource does, and name "
            "the bottleneck from it (default: only when that takes under "
            f"{LEVER_BUDGET_S:g} s)",
        ),
    ] = None,
    lever_reps: Annotated[
        int | None,
        typer.Option(
            "--lever-reps", min=1, help="Replications for the levers (default: the run's)"
        ),
    ] = None,
    cost: Annotated[
        list[str] | None,
        typer.Option(
            "--cost",
            help="NAME=COST of one unit, for the levers: a lever (labs.L.pcr.instruments) or a "
            "class (pcr.instruments, stations, vehicles, opens per hour earlier); repeatable",
        ),
    ] = None,
    until: Annotated[
        str | None,
        typer.Option(
            help="Stop at this clock time (e.g. 10:00) and write the round's state into the run "
            "folder (state/), for natsim nowcast"
        ),
    ] = None,
) -> None:
    """Simulate a round and write its run folder (one replication, or many with --reps)."""
    from .api import run as run_round
    from .console import print_summary
    from .results.io import default_folder
    from .scenario import Scenario

    if detail not in ("tubes", "residents"):
        _fail(f"--detail: '{detail}' is not one of tubes, residents")
    sc = _load(scenario, set_)
    assert isinstance(sc, Scenario)
    if deterministic:
        sc = sc.deterministic()
    if until is not None:
        if reps > 1 or precision is not None or resume or detail != "tubes":
            _fail("--until stops one replication: leave out --reps, --precision, --resume and "
                  "--detail (natsim nowcast then runs many from the state)")  # fmt: skip
        _stop_at(sc, until, out, seed, force)
        return
    costs = _lever_costs(sc, cost)
    # replications, a precision target and the levers run one replication per worker
    parallel = reps > 1 or precision is not None or levers is not False
    _fits(sc, detail, (workers or os.cpu_count() or 1) if parallel else 1)
    lever_options = (levers, lever_reps, costs)
    if reps > 1 or precision is not None or resume:
        _run_replications(
            sc, out, seed, detail, figures, reps, precision, max_reps, workers, dask, resume,
            force, lever_options,
        )  # fmt: skip
        return
    folder = out or default_folder(sc.round.name)
    _prepare_out(folder, force, resume)
    result = run_round(sc, seed=seed, detail=detail)  # type: ignore[arg-type]
    if levers is not False:
        with _experiment(workers, dask, folder, out is not None) as (executor, progress):
            _measure_levers(result, lever_options, executor, progress)
    with _writing(folder):
        result.save(folder, command=_command(), report=figures, replace=force)
    print_summary(result.summary(), sc.round.start, str(folder), report=figures)


def _stop_at(sc: Scenario, until: str, out: Path | None, seed: int | None, force: bool) -> None:
    """``natsim run --until``: one replication to that time, its state in the run folder."""
    from .console import print_state
    from .nowcast import stop_and_save
    from .results.io import default_folder

    folder = out or default_folder(f"{sc.round.name} at {until.replace(':', '')}")
    _prepare_out(folder, force, False)
    try:
        with _writing(folder):
            summary = stop_and_save(
                sc, until, folder, seed=seed, replace=force, command=_command()
            )
    except ValueError as exc:
        _fail(f"--until: {exc}")
    print_state(summary, str(folder))


@app.command()
def nowcast(
    scenario: ScenarioArg,
    state: Annotated[
        Path,
        typer.Option(
            "--state",
            help="The state: a run folder written by natsim run --until, or a folder of counts "
            "(state.yaml, points.csv, vehicles.csv, labs.csv; see docs/nowcast.md)",
        ),
    ],
    reps: Annotated[int, typer.Option("--reps", min=1, help="Replications of the future")] = 20,
    seed: Annotated[
        int | None,
        typer.Option(help="Seed (default: the saved state's, or round.seed for counts)"),
    ] = None,
    set_: SetOpt = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="Run folder (default runs/<scenario> nowcast-<time>)"),
    ] = None,
    levers: Annotated[
        bool,
        typer.Option(
            "--levers/--no-levers",
            help="Measure what a step more of each lab's staff or instruments does from then on",
        ),
    ] = False,
    lever_reps: Annotated[
        int | None, typer.Option("--lever-reps", min=1, help="Replications for the levers")
    ] = None,
    figures: Annotated[bool, typer.Option(help="Write figures and report.html")] = True,
    workers: WorkersOpt = None,
    dask: DaskOpt = None,
    force: ForceOpt = False,
) -> None:
    """Forecast the rest of a round from its state at a moment: the last result and P(met)
    with intervals, the share reported by each hour, the levers from then on."""
    from .console import print_replications
    from .nowcast import read_state
    from .nowcast.forecast import copy_state
    from .nowcast.forecast import nowcast as forecast
    from .results.io import default_folder
    from .scenario import Scenario

    sc = _load(scenario, set_)
    assert isinstance(sc, Scenario)
    try:
        found = read_state(state, sc)
    except ScenarioError as exc:
        _fail(str(exc))
    folder = out or default_folder(f"{sc.round.name} nowcast {found.at.replace(':', '')}")
    _prepare_out(folder, force, False)
    with (
        _writing(folder),
        _experiment(workers, dask, folder, out is not None) as (executor, progress),
    ):
        try:
            result = forecast(
                sc, found, reps, seed=seed, levers=levers, lever_reps=lever_reps,
                executor=executor, progress=progress,
            )  # fmt: skip
        except ValueError as exc:
            _fail(str(exc))
        manifest = {"executor": executor.description, "kind": "nowcast"}
        result.save(folder, command=_command(), manifest=manifest, report=figures, replace=force)
        copy_state(found, folder)
    print_replications(result.summary(), sc.round.start, str(folder), report=figures)


def _run_replications(
    sc: Scenario,
    out: Path | None,
    seed: int | None,
    detail: str,
    figures: bool,
    reps: int,
    precision: str | None,
    max_reps: int,
    workers: int | None,
    dask: str | None,
    resume: bool,
    force: bool,
    lever_options: tuple[bool | None, int | None, dict[str, float] | None],
) -> None:
    """``natsim run --reps N``: replications on the chosen executor, resumable."""
    from .console import print_replications
    from .experiment.replicate import replicate
    from .experiment.store import ReplicationStore, fingerprint
    from .results.io import default_folder
    from .units import parse_duration

    precision_h = None
    if precision is not None:
        try:
            precision_h = parse_duration(precision) / 3600.0
        except ValueError as exc:
            _fail(f"--precision: {exc}")
        if precision_h <= 0:
            _fail("--precision: must be a positive duration, e.g. 0.1h")
    if resume and out is None:
        _fail("--resume needs --out FOLDER: the folder of the interrupted run")
    folder = out or default_folder(sc.round.name)
    _prepare_out(folder, force, resume)
    seed = sc.round.seed if seed is None else seed
    if resume:
        keys = ReplicationStore(folder).variants()
        if keys and fingerprint(sc, seed) not in keys:
            _fail(
                f"--resume: {folder} holds replications of another scenario, seed or natsim "
                "version; run without --resume, or choose another --out"
            )
    with (
        _writing(folder),
        _experiment(workers, dask, folder, out is not None) as (executor, progress),
    ):
        result = replicate(
            sc,
            reps,
            seed=seed,
            precision=precision_h,
            max_reps=max_reps,
            detail=detail,  # type: ignore[arg-type]
            executor=executor,
            folder=folder,
            resume=resume,
            progress=progress,
        )
        if lever_options[0] is not False:
            _measure_levers(result, lever_options, executor, progress)
        manifest = {"executor": executor.description}
        # the report also draws the completion distribution of the replications
        result.save(
            folder, command=_command(), manifest=manifest, report=figures, replace=force or resume
        )
    print_replications(result.summary(), sc.round.start, str(folder), report=figures)


def _lever_costs(sc: Scenario, texts: list[str] | None) -> dict[str, float] | None:
    """``--cost NAME=COST`` for the levers, each name checked against the scenario's levers."""
    if not texts:
        return None
    from .experiment.levers import find_levers
    from .experiment.plan import parse_cost

    known = {key for lever in find_levers(sc) for key in lever.cost_keys}
    try:
        costs = dict(parse_cost(text) for text in texts)
    except ScenarioError as exc:
        _fail(str(exc))
    for name in costs:
        if name not in known:
            shown = ", ".join(sorted(k for k in known if "." not in k or k.count(".") == 1))
            _fail(
                f"--cost: {name}: not a lever of this scenario (classes: {shown}; or a "
                "lever's path such as labs.<lab>.pcr.instruments)"
            )
    return costs


def _measure_levers(
    result: Result,
    options: tuple[bool | None, int | None, dict[str, float] | None],
    executor: Executor,
    progress: ProgressFn | None,
) -> None:
    """Measure the levers on ``result``'s scenario and seed and attach them; by default only
    when the estimate is under the budget (otherwise say how many runs it would take)."""
    from .experiment.levers import estimate_seconds, find_levers
    from .experiment.levers import levers as measure

    wanted, reps, costs = options
    reps = reps or result.replications
    found = find_levers(result.scenario)
    estimate = estimate_seconds(result, found, reps, executor.workers)
    if wanted is None and estimate > LEVER_BUDGET_S:
        # the count of runs, not the estimate, goes into summary.json: same run, same summary
        runs = reps * sum((lever.more is not None) + (lever.fewer is not None) for lever in found)
        result.skip_levers(
            f"not measured by default: {runs} more runs of the round, over the "
            f"{LEVER_BUDGET_S:g} s budget; natsim run --levers measures them"
        )
        return
    lv = measure(
        result.scenario, reps, seed=result.seed, costs=costs, executor=executor, progress=progress
    )
    result.attach_levers(lv.table, lv.summary())


@app.command()
def sweep(
    scenario: ScenarioArg,
    vary: Annotated[
        list[str],
        typer.Option(
            "--vary",
            help="PATH=V1,V2,... e.g. labs.luohe-cdc.pcr.instruments=6,8,10 (repeat for a grid)",
        ),
    ],
    reps: Annotated[int, typer.Option("--reps", min=1, help="Replications per variant")] = 10,
    seed: SeedOpt = None,
    set_: SetOpt = None,
    out: OutOpt = None,
    workers: WorkersOpt = None,
    dask: DaskOpt = None,
    resume: ResumeOpt = False,
    force: ForceOpt = False,
    figures: Annotated[bool, typer.Option(help="Write figures/sweep.png")] = True,
) -> None:
    """Run every combination of the --vary values with the same replications (common random numbers)."""
    from .console import print_sweep
    from .experiment.sweep import grid
    from .experiment.sweep import sweep as run_sweep
    from .results.io import default_folder
    from .scenario import Scenario

    sc = _load(scenario, set_)
    assert isinstance(sc, Scenario)
    try:
        grid(sc, vary)  # check every path and value before anything runs
        _fits(sc, at_once=workers or os.cpu_count() or 1)
    except ScenarioError as exc:
        _fail(str(exc))
    if resume and out is None:
        _fail("--resume needs --out FOLDER: the folder of the interrupted sweep")
    folder = out or default_folder(f"{sc.round.name} sweep")
    _prepare_out(folder, force, resume)
    with (
        _writing(folder),
        _experiment(workers, dask, folder, out is not None) as (executor, progress),
    ):
        result = run_sweep(
            sc,
            vary,
            reps,
            seed=seed,
            executor=executor,
            folder=folder,
            resume=resume,
            progress=progress,
        )
        manifest = {"executor": executor.description}
        result.save(
            folder, command=_command(), manifest=manifest, figures=figures, replace=force or resume
        )
        from .report_pages import write_sweep_page

        page = write_sweep_page(folder, sc)  # the grid with its intervals, and the figure
    print_sweep(result, str(folder))
    terminal().print(f"  page: {page}")


@app.command()
def compare(
    run_a: Annotated[Path, typer.Argument(help="Run folder A (written by natsim run)")],
    run_b: Annotated[Path, typer.Argument(help="Run folder B")],
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Also write the table as CSV here")
    ] = None,
    page: Annotated[
        Path | None,
        typer.Option(
            "--page",
            help="Also write a comparison folder here: report.html (what differs, the paired "
            "differences with their intervals), summary.json, tables/comparison.parquet",
        ),
    ] = None,
    force: Annotated[
        bool,
        typer.Option("--force", help="Replace --page if it holds a natsim folder (once complete)"),
    ] = False,
) -> None:
    """Paired differences B - A of two runs' KPIs, and which is better at each target."""
    from .console import print_comparison
    from .experiment.compare import compare as compare_runs
    from .results.io import RunFolderError

    if page is not None:
        if page.resolve() in (run_a.resolve(), run_b.resolve()):
            _fail(f"--page {page}: is one of the runs compared; choose another folder")
        _prepare_out(page, force, resume=False)
    try:  # refuses a folder that is not complete, and names a corrupt file
        table = compare_runs(run_a, run_b)
    except RunFolderError as exc:
        _fail(str(exc))
    if out is not None:
        try:
            out.parent.mkdir(parents=True, exist_ok=True)
            table.to_csv(out, index=False)
        except OSError as exc:
            _fail(f"--out {out}: cannot write: {exc.strerror or exc}")
    print_comparison(table)
    # what was changed between the two, beside what it did
    scenario_a, scenario_b = _scenario_of(run_a), _scenario_of(run_b)
    _print_diff(scenario_a, scenario_b, terminal())
    if page is not None:
        from .report_pages import write_compare
        from .scenario.diff import scenario_diff

        changes = scenario_diff(scenario_a, scenario_b)
        with _writing(page):
            write_compare(page, table, changes, run_a, run_b, _command(), replace=force)
        terminal().print(f"  page: {page / 'report.html'}")


def _scenario_of(path: Path) -> Scenario:
    """A scenario file, or the scenario a run folder was run with (its scenario.yaml)."""
    from .scenario import Scenario

    folder = path / "scenario.yaml" if path.is_dir() else path
    if path.is_dir() and not folder.exists():
        _fail(f"{path}: a folder without scenario.yaml is not a run folder")
    sc = _load(folder, None)
    assert isinstance(sc, Scenario)
    return sc


def _print_diff(a: Scenario, b: Scenario, console: Console) -> None:
    from .scenario.diff import scenario_diff

    changes = scenario_diff(a, b)
    if not changes:
        console.print("  the two scenarios are the same", highlight=False)
        return
    console.print(f"  {len(changes):,} settings differ (A -> B):", highlight=False)
    for change in changes[:MAX_SHOWN_CHANGES]:
        console.print(f"    {change.describe()}", highlight=False, soft_wrap=True)
    if len(changes) > MAX_SHOWN_CHANGES:
        console.print(f"    ... and {len(changes) - MAX_SHOWN_CHANGES:,} more", highlight=False)


MAX_SHOWN_CHANGES = 40  # settings a diff lists before it says how many more


@app.command()
def runs(
    folder: Annotated[Path, typer.Argument(help="Where the run folders are")] = Path("runs"),
    sort: Annotated[
        str, typer.Option(help="written (newest first), completion (fastest), scenario, folder")
    ] = "written",
) -> None:
    """List the run folders: when, scenario, seed, replications, the last result, each
    target's verdict (P(met) over replications), and what was changed from the file."""
    from rich.table import Table

    from .results.io import RunFolderError
    from .results.runs import run_index

    try:
        index = run_index(folder, sort)
    except (RunFolderError, ValueError) as exc:
        _fail(str(exc))
    # piped into a file or another program, a row stays on one line
    console = terminal()
    if index.empty:
        console.print(f"{folder}: no run folders")
        return
    targets = [c for c in index.columns if c.startswith("met_")]
    table = Table(show_edge=False, pad_edge=False)
    for name in [
        "folder",
        "written",
        "scenario",
        "seed",
        "reps",
        "last result",
        *targets,
        "changes",
    ]:
        table.add_column(name.replace("met_", "met "), overflow="fold")
    for row in index.to_dict("records"):
        if row.get("status") != "complete":
            blank = [""] * (5 + len(targets))
            status = f"[yellow]{escape(str(row['status']))}[/yellow]"
            table.add_row(escape(str(row["folder"])), *blank, status)
            continue
        done = row.get("completion_h")
        verdicts = []
        for t in targets:
            v = row.get(t)
            verdicts.append(
                ""
                if v is None or v != v
                else f"{v:.2f}"
                if row["replications"] > 1
                else ("met" if v else "missed")
            )
        table.add_row(
            escape(str(row["folder"])), str(row.get("written") or ""), escape(str(row.get("scenario"))),
            str(row.get("seed")), str(row.get("replications")),
            str(row["kind"]) if row.get("kind") not in (None, "run")
            else "unfinished" if done is None or done != done else f"{done:.1f} h", *verdicts,
            escape(str(row.get("changes") or "")),
        )  # fmt: skip
    console.print(table)


@app.command()
def schema(
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Write it here instead of printing it")
    ] = None,
) -> None:
    """The JSON Schema of scenario files, for editors (see the README)."""
    import json

    from .scenario.json_schema import scenario_schema

    text = json.dumps(scenario_schema(), indent=1, ensure_ascii=False) + "\n"
    if out is None:
        sys.stdout.write(text)
        return
    try:
        out.write_text(text, encoding="utf-8")
    except OSError as exc:
        _fail(f"--out {out}: cannot write: {exc.strerror or exc}")


@app.command()
def diff(
    a: Annotated[Path, typer.Argument(help="Scenario file or run folder A")],
    b: Annotated[Path, typer.Argument(help="Scenario file or run folder B")],
) -> None:
    """What differs between two scenarios (or the scenarios of two run folders), setting by
    setting, as --set would write it."""
    sa, sb = _scenario_of(a), _scenario_of(b)
    console = terminal()
    console.print(f"A = {a}\nB = {b}", highlight=False)
    _print_diff(sa, sb, console)


@app.command()
def plan(
    scenario: ScenarioArg,
    target: Annotated[str, typer.Option(help="The target, e.g. 14h")],
    resource: Annotated[
        list[str],
        typer.Option(
            "--resource",
            help="PATH[=MIN..MAX], a count to plan, e.g. labs.luohe-cdc.pcr.instruments=4..20 "
            "(repeatable; default range 1 .. twice the current value)",
        ),
    ],
    confidence: Annotated[
        float, typer.Option(help="Required probability of meeting the target", min=0.0, max=1.0)
    ] = 0.9,
    cost: Annotated[
        list[str] | None,
        typer.Option("--cost", help="PATH=COST per unit (default 1 for every resource)"),
    ] = None,
    rule: Annotated[
        str,
        typer.Option(
            help="'lower': the Wilson 95 % lower bound of P(met) must reach the confidence; "
            "'point': the estimate must"
        ),
    ] = "lower",
    reps: Annotated[
        int | None,
        typer.Option(
            "--reps", min=1, help="Replications per batch (default: the fewest the rule can pass)"
        ),
    ] = None,
    max_reps: Annotated[
        int | None,
        typer.Option(
            "--max-reps", min=1, help="Most replications per candidate (default 4 batches)"
        ),
    ] = None,
    seed: SeedOpt = None,
    set_: SetOpt = None,
    out: OutOpt = None,
    workers: WorkersOpt = None,
    dask: DaskOpt = None,
    resume: ResumeOpt = False,
    force: ForceOpt = False,
) -> None:
    """Find the cheapest combination of resources meeting the target with the confidence."""
    from .console import print_plan
    from .experiment.plan import parse_cost, parse_resource
    from .experiment.plan import plan as run_plan
    from .results.io import default_folder
    from .scenario import Scenario
    from .units import parse_duration

    sc = _load(scenario, set_)
    assert isinstance(sc, Scenario)
    _fits(sc, at_once=workers or os.cpu_count() or 1)
    try:
        target_h = parse_duration(target) / 3600.0
    except ValueError as exc:
        _fail(f"--target: {exc}")
    if target_h <= 0:
        _fail("--target: must be a positive duration, e.g. 14h")
    if not 0 < confidence < 1:
        _fail(f"--confidence: must lie strictly between 0 and 1, got {confidence}")
    if rule not in ("lower", "point"):
        _fail(f"--rule: '{rule}' is not one of lower, point")
    if resume and out is None:
        _fail("--resume needs --out FOLDER: the folder of the interrupted plan")
    try:
        resources = [parse_resource(text, sc) for text in resource]
        costs = [parse_cost(text) for text in cost or []]
        paths = [r.path for r in resources]
        for path in paths:
            if paths.count(path) > 1:
                raise ScenarioError("--resource", None, path, "listed twice")
        for path, _ in costs:
            if path not in paths:
                raise ScenarioError("--cost", None, path, "not one of the --resource paths")
    except ScenarioError as exc:
        _fail(str(exc))
    if max_reps is not None and reps is not None and max_reps < reps:
        _fail("--max-reps: must be at least --reps")
    folder = out or default_folder(f"{sc.round.name} plan")
    _prepare_out(folder, force, resume)
    with (
        _writing(folder),
        _experiment(workers, dask, folder, out is not None) as (executor, progress),
    ):
        result = run_plan(
            sc,
            target_h,
            confidence,
            resources,
            dict(costs),
            rule=rule,  # type: ignore[arg-type]
            reps=reps,
            max_reps=max_reps,
            seed=seed,
            executor=executor,
            folder=folder,
            resume=resume,
            progress=progress,
        )
        manifest = {"executor": executor.description}
        result.save(folder, command=_command(), manifest=manifest, replace=force or resume)
        from .report_pages import write_plan_page

        page = write_plan_page(folder, sc)  # the chosen combination first, then the evidence
    print_plan(result, str(scenario), str(folder))
    terminal().print(f"  page: {page}")


@app.command()
def report(
    folder: Annotated[
        Path,
        typer.Argument(help="A folder written by natsim run, sweep, plan or compare --page"),
    ],
) -> None:
    """Write a folder's report.html again from its files, without running anything: a run,
    a run with replications, a sweep, a plan or a comparison (figures it lacks are drawn)."""
    from .report_pages import KINDS, rebuild_page
    from .results.io import RunFolderError

    try:
        path, kind = rebuild_page(folder)
    except RunFolderError as exc:
        _fail(str(exc))
    except OSError as exc:
        _fail(f"{folder}: cannot write the page: {exc.strerror or exc}")
    terminal().print(f"wrote {path} (the page of {KINDS[kind]})")


@app.command()
def generate(
    population: Annotated[
        int, typer.Option("--population", "-n", help="People in the city, e.g. 10000000")
    ],
    output: Annotated[
        Path, typer.Option("--output", "-o", help="Scenario file to write, e.g. city.yaml")
    ],
    seed: Annotated[
        int, typer.Option(help="Seed of the map and sizes (same seed, same files)")
    ] = 1,
    points: Annotated[
        int | None,
        typer.Option(metavar="N", help="Sampling points (default: one per ~2,500 residents)"),
    ] = None,
    stations: Annotated[
        int | None,
        typer.Option(
            metavar="N",
            help="Stations at EVERY point, not in all (default: one per ~550 residents, "
            "2-12 a point); or --samplers",
        ),
    ] = None,
    samplers: Annotated[
        int | None,
        typer.Option(
            metavar="N",
            help="Samplers at every point: natsim derives the stations (samplers / "
            "teams_per_station, teams of 2); or --stations",
        ),
    ] = None,
    labs: Annotated[
        int | None, typer.Option(metavar="N", help="Labs (default: one per ~500,000 people)")
    ] = None,
    lab_capacity: Annotated[
        int | None,
        typer.Option(
            "--lab-capacity",
            metavar="TUBES_A_DAY",
            help="Tubes a day EACH lab tests, as published: natsim derives its stages "
            "(default: sized for its nearest points' tubes)",
        ),
    ] = None,
    vehicles: Annotated[
        int | None,
        typer.Option(
            metavar="N",
            help="Vehicles in the whole fleet, spread over the routes (default: one per ~3 points)",
        ),
    ] = None,
    window: Annotated[
        str | None,
        typer.Option(
            metavar="HH:MM-HH:MM",
            help="Sampling window; the round starts when it opens (default 07:00-12:00)",
        ),
    ] = None,
    density: Annotated[
        float | None,
        typer.Option(
            metavar="PEOPLE_PER_KM2", help="People a km2: sets the city's extent (default 8,000)"
        ),
    ] = None,
    area: Annotated[
        float | None,
        typer.Option(metavar="KM2", help="The city's area in km2 (instead of --density)"),
    ] = None,
) -> None:
    """Write a synthetic city scenario sized from the published ratios (plus its zone and point CSVs).

    A district's published figures (--points, --stations or --samplers, --labs,
    --lab-capacity, --vehicles, --window, --density or --area) replace the ratios one by
    one; the scenario's header says where each figure came from, and the city is checked
    as `natsim validate` checks it."""
    from .generate import GenerateError, generate_city

    if population < 1_000:
        err.print("[red]error:[/red] --population: a generated city needs at least 1,000 people")
        raise typer.Exit(2)
    try:
        city = generate_city(
            population,
            seed=seed,
            points=points,
            stations=stations,
            samplers=samplers,
            labs=labs,
            lab_capacity=lab_capacity,
            vehicles=vehicles,
            window=window,
            density=density,
            area=area,
        )
    except GenerateError as exc:
        _fail(str(exc))
    path = city.write(output)
    terminal().print(
        f"wrote {path} ({len(city.zones):,} zones, {len(city.points):,} points, "
        f"{city.stations:,} stations) and its CSVs beside it"
    )
    given = (points, stations, samplers, labs, lab_capacity, vehicles, window, density, area)
    found = list(city.warnings)
    if any(v is not None for v in given):  # figures given: check them as validate does
        from .checks import check
        from .console import print_warnings

        try:
            found += [f.message for f in check(load_scenario(path))]
        except ScenarioError as exc:  # pragma: no cover - a generator bug, said plainly
            _fail(f"the generated scenario does not validate: {exc}")
        print_warnings(found, terminal())


def main() -> None:  # pragma: no cover - console entry point
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
