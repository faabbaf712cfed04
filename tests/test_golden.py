"""Backtest: the reference rounds give the pinned KPIs and table digests (tests/golden.json).

A failure here means a number moved. If a rule was changed on purpose, regenerate
the file (``python -m tests.golden --update``) and say in the commit which rule
moved which number and why; otherwise it is drift, and a bug.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from .golden import DETERMINISTIC, GOLDEN, ROOT, measure, scenarios


@pytest.fixture(scope="module")
def paths(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return scenarios(tmp_path_factory.mktemp("golden"))


@pytest.fixture(scope="module")
def pinned() -> dict[str, dict[str, Any]]:
    return json.loads(GOLDEN.read_text())


def _close(a: Any, b: Any) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        return a is not None and b is not None and math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)
    return bool(a == b)


@pytest.mark.parametrize("name", ["zhaoling", DETERMINISTIC, "tiny", "city-1m"])
def test_golden_round(name: str, paths: dict[str, Path], pinned: dict[str, dict[str, Any]]) -> None:
    if name == DETERMINISTIC:
        found = measure(ROOT / "scenarios" / "zhaoling.yaml", deterministic=True)
    else:
        found = measure(paths[name])
    want = pinned[name]
    for key in ("residents_arrived", "residents_swabbed", "tubes", "plates", "trips", "finished"):
        assert found[key] == want[key], key
    assert _close(found["completion_h"], want["completion_h"])
    for stage, hours in want["stages_h"].items():
        assert _close(found["stages_h"][stage], hours), stage
    for got, share in zip(found["share_reported"], want["share_reported"], strict=True):
        assert _close(got, share)
    assert found["digests"] == want["digests"]
