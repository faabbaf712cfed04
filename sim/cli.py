"""``natsim``: a thin command line over the same API the notebooks use.

Exit codes: 0 done, 2 the scenario or the command line is wrong (one line on
stderr naming file, line and field; no traceback).
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from .scenario import ScenarioError, load_scenario

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Simulate a citywide mass nucleic-acid testing round: collect, transport, test, report.",
)
err = Console(stderr=True)

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


def _load(path: Path, overrides: list[str] | None) -> object:
    try:
        return load_scenario(path, overrides or [])
    except ScenarioError as exc:
        err.print(f"[red]error:[/red] {exc}", highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None


@app.command()
def validate(scenario: ScenarioArg, set_: SetOpt = None) -> None:
    """Check a scenario file without running it."""
    sc = _load(scenario, set_)
    from .scenario import Scenario

    assert isinstance(sc, Scenario)
    zones = sc.demand.zones
    Console().print(
        f"{scenario}: valid — {sc.round.name}: {len(zones):,} zones, {zones.total_population:,} people, "
        f"{len(sc.points):,} points, {sum(p.stations for p in sc.points):,} stations, {len(sc.labs)} labs"
    )


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
) -> None:
    """Simulate a round and write its run folder."""
    from .api import run as run_round
    from .console import print_summary
    from .results.io import default_folder
    from .scenario import Scenario

    if detail not in ("tubes", "residents"):
        err.print(f"[red]error:[/red] --detail: '{detail}' is not one of tubes, residents")
        raise typer.Exit(2)
    sc = _load(scenario, set_)
    assert isinstance(sc, Scenario)
    if deterministic:
        sc = sc.deterministic()
    result = run_round(sc, seed=seed, detail=detail)  # type: ignore[arg-type]
    folder = out or default_folder(sc.round.name)
    command = "natsim " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    result.save(folder, command=command)
    if figures:
        from .report import write_figures_and_report

        write_figures_and_report(result, folder)
    print_summary(result.summary(), sc.round.start, str(folder))


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
) -> None:
    """Write a synthetic city scenario sized from the published ratios (plus its zone and point CSVs)."""
    from .generate import generate_city

    if population < 1_000:
        err.print("[red]error:[/red] --population: a generated city needs at least 1,000 people")
        raise typer.Exit(2)
    city = generate_city(population, seed=seed)
    path = city.write(output)
    Console().print(
        f"wrote {path} ({len(city.zones):,} zones, {len(city.points):,} points, "
        f"{int(city.points['stations'].sum()):,} stations) and its CSVs beside it"
    )


def main() -> None:  # pragma: no cover - console entry point
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
