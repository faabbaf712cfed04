"""City-scale benchmark: natsim end to end against the per-resident SimPy reference.

    .venv/bin/python benchmarks/city_scale.py                    # 0.1 M, 1 M, 10 M
    .venv/bin/python benchmarks/city_scale.py --sizes 25000000   # one size
    .venv/bin/python benchmarks/city_scale.py --sizes 10000000 --against ../other-checkout

For each size a synthetic city is generated (``natsim generate``, not timed) and
run in fresh Python processes pinned to one core (one untimed warm-up, then
``--repeats`` timed runs; the median run is reported), timed stage by stage:
load (YAML, CSVs, validation), simulate, summarise (tables and KPIs) and write
(the run folder without figures). Peak RSS is that process's. The reference is the plain
per-resident SimPy model of tests/reference_point.py, run on the same draws of
the city's points (every point up to ``--reference-residents``; beyond that a
whole-point sample, as its cost per resident does not depend on city size).
Also: one Zhaoling replication, median of five. Prints a Markdown table.
With ``--against DIR`` (another checkout, e.g. a ``git worktree`` of an older
commit) it times both instead, alternating run by run, and prints both and their
paired ratio: on a shared machine whose speed drifts, that is the comparison
to quote.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHILD = r"""
import json, os, resource, sys, time
# one core: every thread the libraries start (numba, pyarrow, BLAS) shares it
os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
t0 = time.perf_counter()
import sim
from sim.model.world import run_replication
from sim.results.result import Result, tabulate
t1 = time.perf_counter()
scenario = sim.load_scenario(sys.argv[1])
t2 = time.perf_counter()
rep = run_replication(scenario)
t3 = time.perf_counter()
part = tabulate(rep)
t4 = time.perf_counter()
Result(scenario, scenario.round.seed, [part]).save(sys.argv[2])
t5 = time.perf_counter()
print(json.dumps({
    "import_s": t1 - t0, "load_s": t2 - t1, "simulate_s": t3 - t2, "summarise_s": t4 - t3, "write_s": t5 - t4,
    "collect_s": rep.wall["collect_s"], "transport_lab_s": rep.wall["transport_lab_s"],
    "events": rep.wall.get("events", float("nan")),
    "residents": part.kpis["residents_swabbed"], "tubes": part.kpis["tubes"],
    "completion_h": part.kpis["completion_h"],
    "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
}))
"""


def run_child(scenario: Path, out: Path, tree: Path = ROOT) -> dict[str, float]:
    """One timed run in a fresh process, of the natsim in ``tree`` (a checkout)."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, str(scenario), str(out)],
        capture_output=True,
        text=True,
        check=True,
        cwd=tree,  # the child imports the sim package of that checkout
        env=env,
    )
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _total(run: dict[str, float]) -> float:
    return run["load_s"] + run["simulate_s"] + run["summarise_s"] + run["write_s"]


def compare(sizes: list[int], against: Path, repeats: int, work: Path) -> None:
    """This checkout against another (``against``), runs alternating A B A B ..., so that a
    machine whose speed drifts slows both alike: the medians and the median of the paired
    ratios per size, stage by stage."""
    from sim.generate import generate_city

    stages = ("load_s", "simulate_s", "collect_s", "transport_lab_s", "summarise_s", "write_s")
    print(f"A = {ROOT}\nB = {against}\n")
    print("| population | version | " + " | ".join(s.removesuffix("_s") + " s" for s in stages)
          + " | end to end s | residents/s | events/resident |")  # fmt: skip
    print("|" + "---|" * (len(stages) + 5))
    for n in sizes:
        path = generate_city(n, seed=1).write(work / f"city-{n}.yaml")
        for name, tree in (("a", ROOT), ("b", against)):  # a run folder is never overwritten
            run_child(path, work / f"warm-{name}-{n}", tree)
        runs: dict[str, list[dict[str, float]]] = {"A": [], "B": []}
        for k in range(repeats):
            runs["A"].append(run_child(path, work / f"a-{n}-{k}", ROOT))
            runs["B"].append(run_child(path, work / f"b-{n}-{k}", against))
        for name in ("A", "B"):
            rs = runs[name]
            med = {s: statistics.median(r[s] for r in rs) for s in stages}
            total = statistics.median(_total(r) for r in rs)
            residents = rs[0]["residents"]
            print(
                f"| {n:,} | {name} | " + " | ".join(f"{med[s]:.2f}" for s in stages)
                + f" | {total:.2f} | {residents / total:,.0f} | {rs[0]['events'] / residents:.4f} |"
            )  # fmt: skip
        ratios = [_total(a) / _total(b) for a, b in zip(runs["A"], runs["B"], strict=True)]
        print(
            f"| {n:,} | A/B end to end, paired | median {statistics.median(ratios):.3f} "
            f"(min {min(ratios):.3f}, max {max(ratios):.3f}) |" + " |" * (len(stages) + 1)
        )


def reference_rate(scenario_path: Path, budget: int) -> tuple[float, float, int]:
    """Residents per second and SimPy events per resident of the per-resident reference."""
    sys.path.insert(0, str(ROOT))
    import sim
    from sim.model.calendars import point_calendar
    from sim.model.demand import ZoneIndex, draw_point_demand
    from sim.random import Streams
    from tests.reference_point import reference_point

    scenario = sim.load_scenario(scenario_path)
    index = ZoneIndex(scenario)
    streams = Streams(scenario.round.seed, 0)
    residents = events = 0
    elapsed = 0.0
    for i, point in enumerate(scenario.points):
        if residents >= budget:
            break
        window = point.window or scenario.demand.arrivals.window
        open_t, close_t = window.open - scenario.round.start, window.close - scenario.round.start
        d = draw_point_demand(scenario, point, index.rows(i), streams)
        calendar = point_calendar(scenario, i, open_t, close_t)
        t = time.perf_counter()
        ref = reference_point(
            d.arrivals,
            d.service,
            point.stations,
            open_t,
            close_t,
            point.pool,
            d.tube_change,
            calendar,
        )
        elapsed += time.perf_counter() - t
        residents += d.arrivals.size
        events += ref.events
    return residents / elapsed, events / residents, residents


def bare_reference_rate(scenario_path: Path, budget: int) -> float:
    """Residents per second of the plainest per-resident SimPy model of the same points.

    One process per resident requesting one of ``stations`` servers for its service
    time: no pooling, sealing or breaks. It is the textbook cost of a resident as a
    SimPy process (the design guide's ~15 us), a floor for any per-resident model.
    """
    import simpy

    import sim
    from sim.model.demand import ZoneIndex, draw_point_demand
    from sim.random import Streams

    scenario = sim.load_scenario(scenario_path)
    index = ZoneIndex(scenario)
    streams = Streams(scenario.round.seed, 0)
    residents = 0
    elapsed = 0.0
    for i, point in enumerate(scenario.points):
        if residents >= budget:
            break
        d = draw_point_demand(scenario, point, index.rows(i), streams)
        t = time.perf_counter()
        env = simpy.Environment()
        desks = simpy.Resource(env, capacity=point.stations)

        def resident(
            arrival: float,
            service: float,
            env: simpy.Environment = env,
            desks: simpy.Resource = desks,
        ):
            yield env.timeout(arrival)
            with desks.request() as turn:
                yield turn
                yield env.timeout(service)

        for a, s in zip(d.arrivals.tolist(), d.service.tolist(), strict=True):
            env.process(resident(a, s))
        env.run()
        elapsed += time.perf_counter() - t
        residents += d.arrivals.size
    return residents / elapsed


def zhaoling_seconds(repeats: int = 5) -> float:
    import sim
    from sim.model.world import run_replication

    scenario = sim.load_scenario(ROOT / "scenarios" / "zhaoling.yaml")
    run_replication(scenario, 0)  # compile / load the kernel cache
    times = []
    for r in range(repeats):
        t = time.perf_counter()
        run_replication(scenario, r)
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000, 10_000_000])
    parser.add_argument("--reference-residents", type=int, default=300_000)
    parser.add_argument("--keep", type=Path, help="keep generated cities and runs here")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per size (median kept)")
    parser.add_argument(
        "--against", type=Path, help="another checkout of natsim to compare with, run by run"
    )
    args = parser.parse_args()
    from sim.generate import generate_city

    work = args.keep or Path(tempfile.mkdtemp(prefix="natsim-bench-"))
    if args.against is not None:
        compare(args.sizes, args.against.resolve(), args.repeats, work)
        return
    cpu = platform.processor() or platform.machine()
    print(f"machine: {cpu}, {platform.platform()}, Python {platform.python_version()}")
    z = zhaoling_seconds()
    print(f"zhaoling: one replication simulated in {z:.3f} s (median of 5)")
    rows = []
    ref_rate = ref_events = None
    bare = None
    for n in args.sizes:
        path = generate_city(n, seed=1).write(work / f"city-{n}.yaml")
        run_child(path, work / f"warm-{n}")  # compiles or loads the numba caches; not timed
        runs = [run_child(path, work / f"run-{n}-{k}") for k in range(args.repeats)]
        totals = [r["load_s"] + r["simulate_s"] + r["summarise_s"] + r["write_s"] for r in runs]
        end_to_end = statistics.median(totals)
        result = runs[totals.index(sorted(totals)[(len(totals) - 1) // 2])]  # the median run
        if ref_rate is None or n <= args.reference_residents * 10:
            ref_rate, ref_events, ref_n = reference_rate(path, args.reference_residents)
            bare = bare_reference_rate(path, args.reference_residents)
        rows.append(
            (n, result, end_to_end, ref_rate, ref_events, ref_n, bare, min(totals), max(totals))
        )
        print(
            f"  {n:,}: {result['residents'] / end_to_end:,.0f} residents/s end to end "
            f"(median of {len(totals)}: {', '.join(f'{t:.2f}' for t in totals)} s)",
            flush=True,
        )
    print()
    print(
        "| population | residents | load s | simulate s | summarise s | write s | end to end s | residents/s "
        "| events/resident | peak RSS MB | reference residents/s (events/resident, residents run) | ratio "
        "| bare SimPy residents/s | ratio |"
    )
    print("|" + "---|" * 14)
    for n, r, total, rate, ev, ref_n, plain, _, _ in rows:
        rps = r["residents"] / total
        print(
            f"| {n:,} | {r['residents']:,} | {r['load_s']:.2f} | {r['simulate_s']:.2f} | {r['summarise_s']:.2f} "
            f"| {r['write_s']:.2f} | {total:.2f} | {rps:,.0f} | {r['events'] / r['residents']:.4f} "
            f"| {r['peak_rss_mb']:,.0f} | {rate:,.0f} ({ev:.1f}, {ref_n:,}) | {rps / rate:.0f}x "
            f"| {plain:,.0f} | {rps / plain:.1f}x |"
        )
    print()
    print(
        "| population | fastest end to end s | slowest s | of simulate: collection s | transport and labs s |"
    )
    print("|" + "---|" * 5)
    for n, r, _, _, _, _, _, fastest, slowest in rows:
        print(
            f"| {n:,} | {fastest:.2f} | {slowest:.2f} | {r['collect_s']:.2f} | {r['transport_lab_s']:.2f} |"
        )


if __name__ == "__main__":
    main()
