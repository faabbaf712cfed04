"""Capacity planning: the search on known answers, and on a round whose answer is known by construction."""

from __future__ import annotations

import itertools
import json
import random
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

import sim
from sim.experiment import Resource, plan
from sim.experiment.plan import Evaluation, Search, default_reps, parse_resource
from sim.scenario import ScenarioError

from .experiment_rounds import LAB_BOUND, load
from .test_cli import natsim


def oracle(
    feasible: Callable[[tuple[int, ...]], bool],
    completion: Callable[[tuple[int, ...]], float],
    costs: list[float],
) -> Callable[[tuple[int, ...], str], Evaluation]:
    """An evaluator without simulation: a known feasible region and completion time."""

    def evaluate(values: tuple[int, ...], why: str) -> Evaluation:
        ok = feasible(values)
        return Evaluation(
            values=values,
            cost=sum(c * v for c, v in zip(costs, values, strict=True)),
            replications=10,
            met=10 if ok else 0,
            p_met=1.0 if ok else 0.0,
            p_low=0.7 if ok else 0.0,
            p_high=1.0 if ok else 0.3,
            completion_mean_h=completion(values),
            completion_quantile_h=completion(values),
            feasible=ok,
            decided=True,
            why=why,
        )

    return evaluate


def brute_force(resources: list[Resource], feasible: Callable[[tuple[int, ...]], bool]) -> float:
    grid = itertools.product(*(range(r.low, r.high + 1) for r in resources))
    return min(
        sum(r.cost * v for r, v in zip(resources, x, strict=True)) for x in grid if feasible(x)
    )


def test_one_resource_is_found_by_bisection_in_few_evaluations() -> None:
    resources = [Resource("pcr", 1, 100)]
    search = Search(resources, oracle(lambda x: x[0] >= 37, lambda x: 500 / x[0], [1.0]))
    best, _ = search.run()
    assert best == (37,)
    assert len(search.evidence) <= 2 + 7  # the two ends, then bisection of 1..100


def test_separable_requirements_are_met_at_the_minima() -> None:
    """Feasible iff every resource reaches its own threshold: the minima are the answer."""
    resources = [Resource("a", 1, 40, 3.0), Resource("b", 0, 30, 1.0), Resource("c", 2, 9, 7.0)]
    need = (17, 4, 6)
    feasible = lambda x: all(v >= n for v, n in zip(x, need, strict=True))  # noqa: E731
    best, method = Search(
        resources, oracle(feasible, lambda x: 20 - sum(x) / 10, [3.0, 1.0, 7.0])
    ).run()
    assert best == need and "minimum" in method


@pytest.mark.parametrize(
    ("costs", "need"),
    [((1.0, 1.0), 24), ((1.0, 3.0), 24), ((4.0, 1.0), 30), ((2.0, 2.0), 18)],
)
def test_trade_offs_reach_the_brute_force_optimum(costs: tuple[float, float], need: int) -> None:
    """Two labs sharing the load: feasible iff the weighted capacity reaches ``need``.

    Completion falls with capacity (it is the load over the capacity), so the
    greedy step follows the cheaper capacity and trimming removes the overshoot.
    """
    resources = [Resource("x", 1, 20, costs[0]), Resource("y", 1, 20, costs[1])]

    def feasible(v: tuple[int, ...]) -> bool:
        return 2 * v[0] + v[1] >= need

    search = Search(resources, oracle(feasible, lambda v: 100 / (2 * v[0] + v[1]), list(costs)))
    best, _ = search.run()
    assert best is not None and feasible(best)
    cost = sum(c * v for c, v in zip(costs, best, strict=True))
    assert cost == brute_force(resources, feasible)
    assert len(search.evidence) < 20 * 20 / 4  # far fewer than the grid


def test_random_monotone_problems_are_solved_nearly_optimally_with_few_evaluations() -> None:
    """80 random problems, 2-3 resources, capacity linear, bottlenecked or mixed.

    The search is a heuristic: it must find the cheapest plan in most of them,
    come close in the rest, and judge far fewer combinations than the grid.
    """
    rng = random.Random(11)
    gaps, evaluations, grids = [], [], []
    for _ in range(80):
        k = rng.choice([2, 3])
        resources = [
            Resource(f"r{i}", rng.randint(0, 3), rng.randint(8, 25), rng.choice([1, 2, 3, 5]))
            for i in range(k)
        ]
        weights = [rng.uniform(0.5, 3) for _ in range(k)]
        kind = rng.choice(["linear", "bottleneck", "mixed"])

        def capacity(x: tuple[int, ...], w: list[float] = weights, kind: str = kind) -> float:
            linear = sum(wi * xi for wi, xi in zip(w, x, strict=True))
            bottleneck = len(w) * min(wi * xi for wi, xi in zip(w, x, strict=True))
            return {"linear": linear, "bottleneck": bottleneck}.get(kind, (linear + bottleneck) / 2)

        need = rng.uniform(0.2, 0.9) * capacity(tuple(r.high for r in resources))

        def feasible(
            x: tuple[int, ...],
            need: float = need,
            capacity: Callable[[tuple[int, ...]], float] = capacity,
        ) -> bool:
            return capacity(x) >= need

        def completion(
            x: tuple[int, ...], capacity: Callable[[tuple[int, ...]], float] = capacity
        ) -> float:
            return 100 / max(capacity(x), 1e-9)

        search = Search(resources, oracle(feasible, completion, [r.cost for r in resources]))
        best, _ = search.run()
        assert best is not None and feasible(best)
        cost = sum(r.cost * v for r, v in zip(resources, best, strict=True))
        optimum = brute_force(resources, feasible)
        gaps.append((cost - optimum) / optimum)
        evaluations.append(len(search.evidence))
        grids.append(np.prod([r.high - r.low + 1 for r in resources]))
    assert np.mean(np.array(gaps) < 1e-9) >= 0.85
    assert np.mean(gaps) < 0.02 and max(gaps) < 0.3
    assert np.mean(np.array(evaluations) / np.array(grids)) < 0.1


def test_unreachable_target_says_so() -> None:
    search = Search([Resource("a", 1, 5)], oracle(lambda x: False, lambda x: 30.0, [1.0]))
    best, method = search.run()
    assert best is None and "not reachable" in method and len(search.evidence) == 1


def test_default_batch_is_the_least_that_can_pass_the_lower_bound_rule() -> None:
    assert default_reps(0.9) == 35 and default_reps(0.95) == 73 and default_reps(0.8) == 16
    n = default_reps(0.9)
    assert sim.stats.wilson(n, n)[0] >= 0.9 > sim.stats.wilson(n - 1, n - 1)[0]


@pytest.fixture(scope="module")
def lab_round(tmp_path_factory: pytest.TempPathFactory) -> sim.Scenario:
    return load(LAB_BOUND, tmp_path_factory.mktemp("lab"))


def test_plan_finds_the_answer_known_by_construction(
    lab_round: sim.Scenario, tmp_path: Path
) -> None:
    """Six plates of one-hour PCR: 4.5 h needs two waves at most, so three instruments.

    Report staff do not matter within the target (six 5-minute reports), so the
    cheapest plan keeps the fewest, whatever they cost.
    """
    result = plan(
        lab_round,
        "4.5h",
        confidence=0.8,
        resources=["labs.L.pcr.instruments=1..8", "labs.L.report.staff=1..5"],
        costs={"labs.L.report.staff": 2.0},
        workers=2,
        folder=tmp_path / "plan",
    )
    assert result.best == {"labs.L.pcr.instruments": 3, "labs.L.report.staff": 1}
    assert result.cost == 3 * 1.0 + 1 * 2.0
    ev = result.best_evaluation
    assert ev is not None and ev.p_met == 1.0 and ev.p_low >= 0.8 and ev.replications == 16
    evidence = result.evidence
    tried = {
        tuple(row) for row in evidence[["labs.L.pcr.instruments", "labs.L.report.staff"]].values
    }
    assert (2, 5) in tried  # the bisection saw that two instruments miss even with every reporter
    assert (evidence["verdict"] == "meets").sum() >= 2
    assert len(evidence) <= 10
    summary = result.summary()
    assert summary["found"] and summary["answer"]["change"] == {
        "labs.L.pcr.instruments": 2,
        "labs.L.report.staff": -4,
    }
    result.save(tmp_path / "plan")
    saved = json.loads((tmp_path / "plan" / "plan.json").read_text())
    assert saved["answer"]["values"] == result.best
    assert (tmp_path / "plan" / "evidence.csv").exists()
    # resuming reuses every stored replication: the same answer, nothing simulated twice
    again = plan(
        lab_round, 4.5, 0.8, ["labs.L.pcr.instruments=1..8", "labs.L.report.staff=1..5"],
        {"labs.L.report.staff": 2.0}, workers=1, folder=tmp_path / "plan", resume=True,
    )  # fmt: skip
    assert again.best == result.best
    assert again.evidence.drop(columns="why").equals(evidence.drop(columns="why"))


def test_resource_paths_are_checked(lab_round: sim.Scenario) -> None:
    r = parse_resource("labs.L.pcr.instruments", lab_round)
    assert (r.low, r.high, r.current) == (1, 2, 1)
    with pytest.raises(ScenarioError, match=r"--resource.*no element 'Q'"):
        parse_resource("labs.Q.pcr.instruments=1..4", lab_round)
    with pytest.raises(ScenarioError, match="not a count"):
        parse_resource("labs.L.pcr.run=1..4", lab_round)
    with pytest.raises(ScenarioError, match="MIN 5 is above MAX 2"):
        parse_resource("labs.L.pcr.instruments=5..2", lab_round)
    with pytest.raises(ScenarioError, match=r"--resource.*labs\.L\.pcr\.instruments"):
        parse_resource("labs.L.pcr.instruments=0..4", lab_round)
    with pytest.raises(ScenarioError, match="--cost"):
        plan(lab_round, 4.5, 0.8, ["labs.L.pcr.instruments=1..3"], {"labs.L.loading.staff": 2.0})


def test_cli_plan_prints_the_answer_and_bad_resource_exits_2(tmp_path: Path) -> None:
    path = tmp_path / "round.yaml"
    path.write_text(LAB_BOUND)
    out = tmp_path / "plan"
    proc = natsim(
        "plan", str(path), "--target", "4.5h", "--confidence", "0.8",
        "--resource", "labs.L.pcr.instruments=1..6", "--rule", "point", "--reps", "4",
        "--workers", "2", "--out", str(out),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "cheapest found: labs.L.pcr.instruments=3" in proc.stdout
    assert json.loads((out / "plan.json").read_text())["answer"]["values"] == {
        "labs.L.pcr.instruments": 3
    }
    bad = natsim(
        "plan", str(path), "--target", "4.5h", "--resource", "labs.L.pcr.nothing=1..6",
        "--out", str(tmp_path / "bad"),
    )  # fmt: skip
    assert bad.returncode == 2
    lines = bad.stderr.strip().splitlines()
    assert len(lines) == 1 and "--resource: labs.L.pcr.nothing" in lines[0], bad.stderr
