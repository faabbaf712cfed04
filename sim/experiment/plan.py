"""Capacity planning: the cheapest combination of resources that meets a target with confidence.

The question: how many PCR instruments (staff, stations, vehicles ...) does the
round need so that the last result is out within ``target`` hours with
probability at least ``confidence``, at the lowest cost? A brute-force grid
would simulate every combination; this search uses the problem's structure:

* **Monotonicity.** More capacity never makes the round later (in the sense
  that matters here: P(met) does not fall as a resource rises). Everything
  below relies on it, and common random numbers make it hold replication by
  replication in practice, not only on average.
* **Bounds by bisection.** For each resource alone, with the others at the top
  of their ranges, bisection finds the least value that can still meet the
  target. No feasible combination goes below it, so these minima are a lower
  bound; if the minima together are feasible, they are the answer (the
  cheapest, whatever the costs).
* **Marginal gain per unit cost.** Otherwise, starting from the minima, each
  step tries adding a block of each resource and keeps the one that shortens
  the ``confidence``-quantile of the completion time most per unit of cost
  (the quantity that must fall below the target), until the combination is
  feasible.
* **Trimming and exchanges.** Then each resource, most expensive first, is
  lowered by bisection as far as it stays feasible, and one pass of trades
  between pairs (add a few units of one, bisect the other down) keeps any
  that lowers the cost — the greedy steps are coarse and can step over a
  cheaper mix.

Each candidate is judged on replications 0 .. n-1 of the same seed (common
random numbers), in batches: with the default ``rule="lower"`` a candidate is
feasible when the lower end of the Wilson 95 % interval of P(met) reaches the
confidence, infeasible when the upper end is below it, and otherwise gets
another batch, up to ``max_reps``; still undecided, it counts as infeasible (a
conservative answer). ``rule="point"`` judges one batch by its estimate alone.
Every candidate, its replications and its verdict are in the evidence table.
The limits are written down in docs/experiments.md.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from ..results.io import atomic_write, manifest_basics, staged, to_json, write_scenario
from ..scenario import Scenario, ScenarioError, load_scenario
from ..stats import LEVEL, normal_quantile, quantile, wilson
from .executors import Executor
from .replicate import Job, ProgressFn, Runner, _hours
from .variants import current, variant

Rule = Literal["lower", "point"]
_RANGE = re.compile(r"^\s*(\d+)\s*\.\.\s*(\d+)\s*$")


@dataclass(frozen=True)
class Resource:
    """A count the plan may change, its range, and its cost per unit."""

    path: str
    low: int
    high: int
    cost: float = 1.0
    current: int | None = None  # the scenario's value (None if it differs across a '*')

    @property
    def name(self) -> str:
        return self.path


@dataclass
class Evaluation:
    """One candidate combination and what its replications said."""

    values: tuple[int, ...]
    cost: float
    replications: int
    met: int
    p_met: float
    p_low: float
    p_high: float
    completion_mean_h: float | None
    completion_quantile_h: float  # the confidence-quantile; unfinished runs count as the horizon
    feasible: bool
    decided: bool
    why: str = ""


def default_reps(confidence: float, level: float = LEVEL) -> int:
    """The fewest replications for which all meeting the target clears the Wilson lower bound.

    With every replication meeting the target the Wilson lower end is
    n / (n + z²); it reaches ``confidence`` at n = z² c / (1 - c): 35 for 0.9,
    73 for 0.95, 381 for 0.99.
    """
    z = normal_quantile(0.5 + level / 2)
    return max(10, math.ceil(z * z * confidence / (1 - confidence) - 1e-9))


def parse_resource(text: str, scenario: Scenario) -> Resource:
    """``"labs.L.pcr.instruments=20..60"`` (or just the path: 1 .. twice the current value)."""
    path, _, raw = text.partition("=")
    path = path.strip()
    if not path:
        raise ScenarioError("--resource", None, text, "expected PATH or PATH=MIN..MAX")
    values = current(scenario, path, "--resource")
    if not values or not all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        shown = values[0] if values else None
        raise ScenarioError(
            "--resource",
            None,
            path,
            f"not a count (it is {shown!r}); plan varies counts such as staff, instruments, "
            "stations or vehicles",
        )
    now = values[0] if len(set(values)) == 1 else None
    if raw.strip():
        match = _RANGE.match(raw)
        if not match:
            raise ScenarioError("--resource", None, path, f"expected MIN..MAX, got '{raw}'")
        low, high = int(match.group(1)), int(match.group(2))
        if low > high:
            raise ScenarioError("--resource", None, path, f"MIN {low} is above MAX {high}")
    else:
        top = max(values)
        low, high = 1, max(2 * top, top + 1)
    for value in {low, high}:
        variant(scenario, {path: value}, "--resource")
    return Resource(path, low, high, 1.0, now)


def parse_cost(text: str) -> tuple[str, float]:
    """``"labs.L.pcr.instruments=3.5"`` -> the path and its cost per unit (positive)."""
    path, _, raw = text.partition("=")
    try:
        cost = float(raw)
    except ValueError:
        cost = math.nan
    if not path.strip() or not math.isfinite(cost) or cost <= 0:
        raise ScenarioError("--cost", None, text, "expected PATH=COST with a positive number")
    return path.strip(), cost


class Search:
    """The search over combinations (see the module notes), independent of the simulation.

    ``evaluate(values, why)`` judges one combination; results are remembered,
    so a combination is never judged twice. :attr:`evidence` lists them in the
    order they were judged.
    """

    def __init__(
        self, resources: Sequence[Resource], evaluate: Callable[[tuple[int, ...], str], Evaluation]
    ) -> None:
        self.resources = list(resources)
        self._evaluate = evaluate
        self.seen: dict[tuple[int, ...], Evaluation] = {}
        self.evidence: list[Evaluation] = []

    def judge(self, values: tuple[int, ...], why: str) -> Evaluation:
        known = self.seen.get(values)
        if known is not None:
            return known
        result = self._evaluate(values, why)
        self.seen[values] = result
        self.evidence.append(result)
        return result

    def _lowest(self, x: tuple[int, ...], i: int, low: int, why: str) -> int:
        """The least value of resource ``i`` in [low, x[i]] keeping ``x`` feasible (x is)."""
        a, b = low, x[i]
        if a >= b:
            return b
        if self.judge(_with(x, i, a), why).feasible:
            return a
        while b - a > 1:
            mid = (a + b) // 2
            if self.judge(_with(x, i, mid), why).feasible:
                b = mid
            else:
                a = mid
        return b

    def run(self) -> tuple[tuple[int, ...] | None, str]:
        """The cheapest feasible combination found (None if none) and how it was found."""
        res = self.resources
        top = tuple(r.high for r in res)
        if not self.judge(top, "every resource at the top of its range").feasible:
            return None, "not reachable: even every resource at the top of its range misses"
        bottom = tuple(r.low for r in res)
        if self.judge(bottom, "every resource at the bottom of its range").feasible:
            return bottom, "the bottom of every range already meets the target"
        alone = len(res) == 1
        minima = tuple(
            self._lowest(
                top, i, r.low, f"bisection on {r.name}" + ("" if alone else ", others at the top")
            )
            for i, r in enumerate(res)
        )
        x = minima
        if self.judge(x, "each resource at its own minimum").feasible:
            if alone:
                return x, "bisection: the least value that meets the target"
            return x, "each resource at its own minimum (a lower bound for any feasible plan)"
        while True:
            base = self.judge(x, "greedy step")
            candidates: list[tuple[Evaluation, float, int]] = []
            for i, r in enumerate(res):
                if x[i] >= r.high:
                    continue
                step = max(1, math.ceil((r.high - x[i]) / 4))
                y = _with(x, i, x[i] + step)
                ev = self.judge(y, f"greedy: {r.name} +{step}")
                gain = (base.completion_quantile_h - ev.completion_quantile_h) / (r.cost * step)
                candidates.append((ev, gain, i))
            if not candidates:  # pragma: no cover - the top is feasible, so x reaches it
                break
            if any(gain > 0 for _, gain, _ in candidates):
                chosen = max(candidates, key=lambda c: (c[1], -c[0].cost, -c[2]))[0]
            else:  # no step shortens completion: take the most likely to meet, then the cheapest
                chosen = max(candidates, key=lambda c: (c[0].p_met, -c[0].cost, -c[2]))[0]
            x = chosen.values
            if chosen.feasible:
                break
        x = self._trim(x, minima)
        x = self._exchange(x, minima)
        return x, (
            "greedy by gain per unit cost from the minima, trimmed by bisection, "
            "then improved by exchanges"
        )

    def _cost(self, x: tuple[int, ...]) -> float:
        return sum(r.cost * v for r, v in zip(self.resources, x, strict=True))

    def _trim(self, x: tuple[int, ...], minima: tuple[int, ...]) -> tuple[int, ...]:
        """Lower each resource (most expensive first) as far as ``x`` stays feasible."""
        res = self.resources
        order = sorted(range(len(res)), key=lambda i: -res[i].cost)
        for _ in range(3):
            before = x
            for i in order:
                x = _with(x, i, self._lowest(x, i, minima[i], f"trim {res[i].name}"))
            if x == before:
                break
        return x

    def _exchange(self, x: tuple[int, ...], minima: tuple[int, ...]) -> tuple[int, ...]:
        """One pass of trades between pairs of resources, each kept if it lowers the cost.

        For each pair (i, j): add 1, 2, 4 ... units of j (while they cost less
        than the units of i they could replace), and where that is feasible
        lower i by bisection; the first cheaper trade is kept. The greedy steps
        are coarse, and this finds cheaper mixes they stepped over.
        """
        res = self.resources
        for i, j in itertools.permutations(range(len(res)), 2):
            step = 1
            while (
                x[i] > minima[i]
                and x[j] + step <= res[j].high
                and res[j].cost * step < res[i].cost * (x[i] - minima[i])
            ):
                why = f"exchange {res[j].name} +{step} for {res[i].name}"
                y = _with(x, j, x[j] + step)
                if self.judge(y, why).feasible:
                    y = _with(y, i, self._lowest(y, i, minima[i], why))
                    if self._cost(y) < self._cost(x):
                        x = y
                        break
                step *= 2
        return x


def _with(x: tuple[int, ...], i: int, value: int) -> tuple[int, ...]:
    return (*x[:i], value, *x[i + 1 :])


@dataclass
class Plan:
    """The answer of :func:`plan` and the evidence for it."""

    scenario: Scenario
    seed: int
    target_h: float
    confidence: float
    rule: Rule
    resources: list[Resource]
    best: dict[str, int] | None
    best_evaluation: Evaluation | None
    method: str
    evaluations: list[Evaluation] = field(default_factory=list)

    @property
    def found(self) -> bool:
        return self.best is not None

    @property
    def cost(self) -> float | None:
        return None if self.best_evaluation is None else self.best_evaluation.cost

    @property
    def evidence(self) -> pd.DataFrame:
        """One row per combination tried, in order: values, replications, P(met), verdict."""
        rows = []
        q = f"completion_p{round(100 * self.confidence):d}_h"
        for k, ev in enumerate(self.evaluations, start=1):
            row: dict[str, Any] = {"step": k, "why": ev.why}
            row.update({r.path: v for r, v in zip(self.resources, ev.values, strict=True)})
            row.update(
                {
                    "cost": ev.cost,
                    "replications": ev.replications,
                    "met": ev.met,
                    "p_met": ev.p_met,
                    "p_met_low": ev.p_low,
                    "p_met_high": ev.p_high,
                    "completion_mean_h": ev.completion_mean_h,
                    q: ev.completion_quantile_h,
                    "verdict": "meets"
                    if ev.feasible
                    else ("does not meet" if ev.decided else "undecided: counted as not"),
                }
            )
            rows.append(row)
        return pd.DataFrame(rows)

    def summary(self) -> dict[str, Any]:
        """What ``plan.json`` holds: the question, the answer, the method, the evidence."""
        answer = None
        if self.best is not None and self.best_evaluation is not None:
            ev = self.best_evaluation
            answer = {
                "values": self.best,
                "cost": ev.cost,
                "change": {
                    r.path: self.best[r.path] - r.current
                    for r in self.resources
                    if r.current is not None
                },
                "replications": ev.replications,
                "p_met": ev.p_met,
                "p_met_ci": [ev.p_low, ev.p_high],
                "completion_mean_h": ev.completion_mean_h,
            }
        return {
            "scenario": self.scenario.round.name,
            "seed": self.seed,
            "target_h": self.target_h,
            "confidence": self.confidence,
            "rule": self.rule,
            "resources": [asdict(r) for r in self.resources],
            "found": self.found,
            "answer": answer,
            "method": self.method,
            "evaluations": len(self.evaluations),
            "replications_simulated": sum(e.replications for e in self.evaluations),
            "evidence": self.evidence.to_dict("records"),
        }

    def save(
        self,
        folder: str | Path,
        command: str | None = None,
        manifest: dict[str, Any] | None = None,
        *,
        replace: bool = False,
    ) -> Path:
        """Write ``plan.json``, ``evidence.csv``/``.parquet``, the scenario and the manifest:
        complete or not at all, as :meth:`sim.Result.save` (``replace`` likewise)."""
        with staged(folder, replace) as tmp:
            atomic_write(tmp / "plan.json", to_json(self.summary()).encode())
            evidence = self.evidence
            atomic_write(tmp / "evidence.csv", evidence.to_csv(index=False).encode())
            evidence.to_parquet(tmp / "evidence.parquet", index=False)
            write_scenario(self.scenario, tmp)
            info = {
                **manifest_basics(command),
                "scenario": self.scenario.round.name,
                "seed": self.seed,
                **(manifest or {}),
            }
            atomic_write(tmp / "manifest.json", to_json(info).encode())
        return Path(folder)


def plan(
    scenario: Scenario | str | Path,
    target: float | str,
    confidence: float = 0.9,
    resources: Sequence[Resource | str] = (),
    costs: Mapping[str, float] | Sequence[str] | None = None,
    *,
    rule: Rule = "lower",
    reps: int | None = None,
    max_reps: int | None = None,
    seed: int | None = None,
    workers: int | None = None,
    dask: str | None = None,
    executor: Executor | None = None,
    folder: str | Path | None = None,
    resume: bool = False,
    progress: ProgressFn | None = None,
) -> Plan:
    """The cheapest combination of ``resources`` with P(completion <= target) >= confidence.

    ``target`` is hours or a duration ("14h"); ``resources`` are
    :class:`Resource` objects or ``"PATH=MIN..MAX"`` texts; ``costs`` maps a
    path to its cost per unit (default 1; or ``"PATH=COST"`` texts). ``reps``
    is the batch of replications per judgement (default: the fewest that can
    pass the lower-bound rule, see :func:`default_reps`), ``max_reps`` the most
    one candidate gets (default four batches). Returns a :class:`Plan` with
    ``.best`` (path -> value, or None), ``.evidence`` (a DataFrame of every
    combination tried) and ``.summary()``.
    """
    if not isinstance(scenario, Scenario):
        scenario = load_scenario(scenario)
    target_h = _hours(target)
    if target_h is None or target_h <= 0:
        raise ValueError("target must be a positive duration")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie strictly between 0 and 1, got {confidence}")
    if rule not in ("lower", "point"):
        raise ValueError(f"rule must be 'lower' or 'point', got {rule!r}")
    parsed = [r if isinstance(r, Resource) else parse_resource(r, scenario) for r in resources]
    if not parsed:
        raise ValueError("name at least one resource to plan")
    paths = [r.path for r in parsed]
    if len(set(paths)) != len(paths):
        dup = next(p for p in paths if paths.count(p) > 1)
        raise ScenarioError("--resource", None, dup, "listed twice")
    cost_map = dict(costs) if isinstance(costs, Mapping) else dict(map(parse_cost, costs or []))
    for path in cost_map:
        if path not in paths:
            raise ScenarioError("--cost", None, path, "not one of the --resource paths")
    parsed = [
        Resource(r.path, r.low, r.high, float(cost_map.get(r.path, r.cost)), r.current)
        for r in parsed
    ]
    seed = scenario.round.seed if seed is None else int(seed)
    batch = reps or default_reps(confidence)
    cap = max_reps or 4 * batch
    if batch < 1 or cap < batch:
        raise ValueError("reps must be at least 1 and max_reps at least reps")
    horizon_h = scenario.round.horizon / 3600.0

    with Runner(
        executor, workers=workers, dask=dask, folder=folder, resume=resume, progress=progress
    ) as runner:

        def evaluate(values: tuple[int, ...], why: str) -> Evaluation:
            changes = {r.path: v for r, v in zip(parsed, values, strict=True)}
            job = Job(variant(scenario, changes, "--resource"), seed, tuple(changes.items()))
            shown = ", ".join(
                f"{r.path.split('.', 1)[-1]}={v}" for r, v in zip(parsed, values, strict=True)
            )
            n = batch
            while True:
                done = runner.run([job], [(0, r) for r in range(n)], label=shown)
                completion = [done[(0, r)].kpis["completion_h"] for r in range(n)]
                met = sum(1 for c in completion if c is not None and c <= target_h + 1e-12)
                low, high = wilson(met, n)
                if rule == "point":
                    feasible, decided = met / n >= confidence, True
                    break
                if low >= confidence or high < confidence:
                    feasible, decided = low >= confidence, True
                    break
                if n >= cap:
                    feasible, decided = False, False
                    break
                n = min(cap, n + batch)
            finished = [c for c in completion if c is not None]
            censored = [horizon_h if c is None else c for c in completion]
            return Evaluation(
                values=values,
                cost=sum(r.cost * v for r, v in zip(parsed, values, strict=True)),
                replications=n,
                met=met,
                p_met=met / n,
                p_low=low,
                p_high=high,
                completion_mean_h=sum(finished) / n if len(finished) == n else None,
                completion_quantile_h=quantile(censored, confidence),
                feasible=feasible,
                decided=decided,
                why=why,
            )

        search = Search(parsed, evaluate)
        best, method = search.run()
    best_eval = search.seen[best] if best is not None else None
    return Plan(
        scenario=scenario,
        seed=seed,
        target_h=target_h,
        confidence=confidence,
        rule=rule,
        resources=parsed,
        best=None if best is None else {r.path: v for r, v in zip(parsed, best, strict=True)},
        best_evaluation=best_eval,
        method=method,
        evaluations=search.evidence,
    )
