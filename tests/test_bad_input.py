"""Every class of bad or degenerate input gives a clear located error (or a correct run),
never a traceback, a hang or a silently wrong answer.

One test per class of problem, not per file that showed it: files that are not text,
YAML that is not plain, CSVs that are not tables, keys that are misspelt, values that
cannot be meant, runs that cannot fit, rounds nobody comes to, drives without a time.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

import sim
from sim.footprint import TooBig, estimate, refuse_if_too_big
from sim.scenario.errors import MAX_ERRORS, ScenarioErrors

from .conftest import SCENARIOS
from .test_cli import natsim

TINY = (SCENARIOS / "tiny.yaml").read_text()
ZONES = """\
  zones:
    - {id: Z1, population: 40, point: A}
    - {id: Z2, population: 20, point: B}"""


def error_of(path: Path) -> sim.ScenarioError:
    with pytest.raises(sim.ScenarioError) as raised:
        sim.load_scenario(path)
    return raised.value


def write(tmp_path: Path, data: str | bytes, name: str = "s.yaml") -> Path:
    path = tmp_path / name
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


# -- files that are not UTF-8 text ---------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "words", "line"),
    [
        (bytes(range(256)) * 4, "a binary file, not text", 2),  # 0x0a comes before 0x80
        (TINY.replace("Tiny hand-checkable", "Tiny ronde é").encode("latin-1"), "not UTF-8", 5),
        (b"\x00\x01" + TINY.encode(), "a binary file, not text (a NUL byte)", 1),
    ],
    ids=["binary", "latin-1", "nul"],
)
def test_a_file_that_is_not_text(tmp_path: Path, data: bytes, words: str, line: int) -> None:
    err = error_of(write(tmp_path, data))
    assert (words in err.message and "save it as UTF-8" in err.message) or "NUL" in err.message
    assert err.line == line


def test_utf16_and_a_utf8_bom_are_read(tmp_path: Path) -> None:
    tiny = sim.load_scenario(SCENARIOS / "tiny.yaml")
    for i, data in enumerate((TINY.encode("utf-16"), b"\xef\xbb\xbf" + TINY.encode())):
        loaded = sim.load_scenario(write(tmp_path, data, f"s{i}.yaml"))
        assert (loaded.round, loaded.points, loaded.labs) == (tiny.round, tiny.points, tiny.labs)
        assert loaded.demand.zones.to_frame().equals(tiny.demand.zones.to_frame())


# -- YAML that is not plain data ------------------------------------------------------------


def test_an_unknown_tag_is_refused_not_constructed(tmp_path: Path) -> None:
    text = TINY.replace("participation: 1.0", "participation: !!python/object:os.system 1.0")
    err = error_of(write(tmp_path, text))
    assert "unknown YAML tag" in err.message and err.field == "demand.participation"
    assert (err.line, err.column) == (10, 18)


def test_an_alias_bomb_is_refused_quickly(tmp_path: Path) -> None:
    lines = ['a: &a ["x","x","x","x","x","x","x","x","x"]']
    for i in range(9):
        prev, name = chr(97 + i), chr(98 + i)
        lines.append(f"{name}: &{name} [{','.join(['*' + prev] * 9)}]")
    started = time.monotonic()
    err = error_of(write(tmp_path, "\n".join(lines) + "\n"))
    assert "expands to more than" in err.message
    assert time.monotonic() - started < 10


# -- CSVs that are not tables ---------------------------------------------------------------


def csv_scenario(tmp_path: Path, ref: str) -> Path:
    return write(tmp_path, TINY.replace(ZONES, f"  zones: {{csv: {ref}}}"))


@pytest.mark.parametrize(
    ("content", "line", "words"),
    [
        ("", 1, "the file is empty"),
        ("id,population,point\nZ1,40,A\n\nZ2,20,B,9\n", 4, "4 fields where the header has 3"),
        ('id,population,point\n"Z\n1",40,A\nZ2,20,B,9\n', 4, "4 fields where the header has 3"),
        ("id,population,point\n", 15, "no zones: the table has no rows"),
    ],
    ids=["empty", "extra field", "extra field after a quoted line break", "header only"],
)
def test_a_zone_csv_that_is_not_a_table(
    tmp_path: Path, content: str, line: int, words: str
) -> None:
    (tmp_path / "zones.csv").write_text(content)
    err = error_of(csv_scenario(tmp_path, "zones.csv"))
    assert words in err.message and err.line == line, str(err)


def test_a_csv_path_that_is_a_directory_or_a_device(tmp_path: Path) -> None:
    (tmp_path / "dir.csv").mkdir()
    assert "is a directory" in error_of(csv_scenario(tmp_path, "dir.csv")).message
    started = time.monotonic()
    assert "not a regular file" in error_of(csv_scenario(tmp_path, "/dev/zero")).message
    assert time.monotonic() - started < 10
    err = error_of(csv_scenario(tmp_path, "missing.csv"))
    assert "no such file 'missing.csv'" in err.message and err.field == "demand.zones"


def test_a_latin1_csv(tmp_path: Path) -> None:
    (tmp_path / "zones.csv").write_bytes(
        "id,population,point\nZé,40,A\nZ2,20,B\n".encode("latin-1")
    )
    err = error_of(csv_scenario(tmp_path, "zones.csv"))
    assert err.file.endswith("zones.csv") and err.line == 2 and "not UTF-8" in err.message


# -- keys and messages ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("old", "new", "field", "suggestion"),
    [
        ("participation:", "participaton:", "demand.participaton", "participation"),
        ("round:", "rund:", "rund", "round"),
        ("  - id: L\n", '  - id: L\n    open: "08:00"\n', "labs.L.open", "opens"),
        ("    pcr: {", "    pcr: {instrumnets: 3, ", "labs.L.pcr.instrumnets", "instruments"),
    ],
)
def test_an_unknown_key_gets_the_nearest_valid_one(
    tmp_path: Path, old: str, new: str, field: str, suggestion: str
) -> None:
    assert old in TINY
    err = error_of(write(tmp_path, TINY.replace(old, new, 1)))
    found = {e.field: e.message for e in err.problems}
    assert found[field] == f"unknown key; did you mean '{suggestion}'?", found


def test_every_error_of_a_file_at_once_in_file_order(tmp_path: Path) -> None:
    text = TINY.replace("participation: 1.0", "participation: 2.0").replace(
        "handover: 5min", "handover: 5 parsecs"
    )
    err = error_of(write(tmp_path, text))
    assert isinstance(err, ScenarioErrors)
    assert [e.field for e in err.problems] == ["demand.participation", "transport.handover.value"]
    lines = str(err).splitlines()
    assert len(lines) == 2 and all(re.match(r".*s\.yaml:\d+:\d+: ", line) for line in lines)


def test_many_errors_are_capped(tmp_path: Path) -> None:
    points = "\n".join(f"  - {{id: P{i}, pool: 7}}" for i in range(MAX_ERRORS + 5))
    text = TINY.replace(
        "  - {id: A, lat: 33.570, lon: 114.040}\n  - {id: B, lat: 33.580, lon: 114.050, stations: 2}",
        points,
    )
    err = error_of(write(tmp_path, text))
    assert isinstance(err, ScenarioErrors) and len(err.problems) == MAX_ERRORS
    assert str(err).splitlines()[-1].endswith("more problems")


def test_the_cli_prints_only_the_messages(tmp_path: Path) -> None:
    text = TINY.replace("participation: 1.0", "participaton: 1.0").replace("pool: 10", "pool: 7")
    proc = natsim("validate", str(write(tmp_path, text)))
    assert proc.returncode == 2 and proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 2 and all(line.startswith("error: ") for line in lines), proc.stderr


# -- values that cannot be meant, runs that cannot fit --------------------------------------


@pytest.mark.parametrize(
    ("old", "new", "words"),
    [
        ("population: 40", "population: 1e30", "more than 100,000,000"),
        ("population: 40", "population: 1000000000", "more than 100,000,000"),
        ("  stations: 1\n", "  stations: 100000000\n", "less than or equal to 100000"),
        ("vehicles: 1}", "vehicles: 10000000}", "less than or equal to 100000"),
    ],
)
def test_sizes_that_cannot_be_meant(tmp_path: Path, old: str, new: str, words: str) -> None:
    assert old in TINY
    err = error_of(write(tmp_path, TINY.replace(old, new, 1)))
    assert words in err.message


def test_a_billion_residents_is_refused_at_once_with_the_estimate(tmp_path: Path) -> None:
    zones = "\n".join(
        f"    - {{id: Z{i}, population: 100000000, point: {'AB'[i % 2]}}}" for i in range(10)
    )
    path = write(tmp_path, TINY.replace(ZONES, "  zones:\n" + zones))
    started = time.monotonic()
    proc = natsim("run", str(path), "--no-figures", "--out", str(tmp_path / "run"))
    assert time.monotonic() - started < 10
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "too big for this machine: about 1,000,000,000 residents" in proc.stderr
    assert "GB of memory" in proc.stderr and not (tmp_path / "run").exists()
    with pytest.raises(TooBig):
        sim.run(path)


def test_the_estimate_follows_the_measured_rates() -> None:
    zhaoling = sim.load_scenario(SCENARIOS / "zhaoling.yaml")
    found = estimate(zhaoling)
    assert found.residents == pytest.approx(0.95 * 400_875, rel=1e-3)
    assert 0.3 * 2**30 < found.memory_bytes < 1 * 2**30  # measured: ~0.3 GB at 400 k
    assert estimate(zhaoling, "residents").memory_bytes > found.memory_bytes
    assert refuse_if_too_big(zhaoling, available=8 * 2**30) == found
    with pytest.raises(TooBig, match="x 4 workers"):
        refuse_if_too_big(zhaoling, at_once=4, available=found.memory_bytes * 2)


# -- rounds that are valid but degenerate ---------------------------------------------------


def test_a_round_nobody_comes_to_is_an_error(tmp_path: Path) -> None:
    for old, new, words in (
        ("participation: 1.0", "participation: 0.0", "nobody would come"),
        ("population: 40", "population: 0", None),
    ):
        text = TINY.replace(old, new)
        if words is None:
            text = text.replace("population: 20", "population: 0")
            words = "every zone's population is 0"
        assert words in error_of(write(tmp_path, text)).message


@pytest.mark.parametrize(
    ("changes", "unfinished_at"),
    [
        ({"labs.L.opens": "23:00"}, "receiving"),  # the only lab opens after the horizon
        ({"round.horizon": "30min", "round.targets": ["20min"]}, "not swabbed"),
        ({"points.*.service": "5h"}, "not swabbed"),  # service of hours
    ],
    ids=["lab after the horizon", "horizon shorter than the window", "service of hours"],
)
def test_a_degenerate_round_runs_and_says_what_is_unfinished(
    changes: dict[str, object], unfinished_at: str
) -> None:
    tiny = sim.load_scenario(SCENARIOS / "tiny.yaml").with_changes(changes)
    s = sim.run(tiny).summary()
    assert not s["finished"] and s["completion_h"] is None
    assert any(w["status"] == unfinished_at for w in s["unfinished"]["where"])
    horizon = tiny.round.horizon / 3600
    assert all(h is None or h <= horizon for h in s["stages_h"].values())
    assert s["stages_h"]["last_report"] is None
    assert any("horizon" in w for w in s["warnings"])


def test_a_point_without_coordinates_on_a_listed_route(tmp_path: Path) -> None:
    text = TINY.replace("  - {id: A, lat: 33.570, lon: 114.040}", "  - {id: A}")
    err = error_of(write(tmp_path, text))
    assert err.field == "points.A.lat" and "no travel time between 'L' and 'A'" in err.message
    # a matrix entry is as good as coordinates
    matrix = text.replace(
        "  travel: {speed: 30km/h, detour: 1.0, noise_cv: 0.0}",
        "  travel: {speed: 30km/h, detour: 1.0, noise_cv: 0.0, matrix: {A: {L: 10min, B: 5min}}}",
    )
    assert matrix != text
    sim.load_scenario(write(tmp_path, matrix, "m.yaml"))


def test_a_refused_dask_address_fails_in_seconds() -> None:
    started = time.monotonic()
    proc = natsim(
        "run", str(SCENARIOS / "tiny.yaml"), "--reps", "2", "--dask", "tcp://127.0.0.1:9",
        "--no-figures", "--out", "/nonexistent/never-written",
    )  # fmt: skip
    assert time.monotonic() - started < 15
    assert proc.returncode == 2 and "nothing answers at 127.0.0.1:9" in proc.stderr


def test_every_missing_key_of_an_entry_is_named(tmp_path: Path) -> None:
    text = TINY.replace(
        "    - {id: R1, points: [A, B], lab: L, vehicles: 1}", "    - {vehicles: 1}"
    )
    err = error_of(write(tmp_path, text))
    assert [e.field for e in err.problems] == [
        "transport.routes[0].id", "transport.routes[0].points", "transport.routes[0].lab",
    ]  # fmt: skip


def test_a_short_row_then_a_long_row_blames_the_long_one(tmp_path: Path) -> None:
    (tmp_path / "zones.csv").write_text("id,population,point\nZ1,40\nZ2,20,B\nZ3,5,A,9\n")
    err = error_of(csv_scenario(tmp_path, "zones.csv"))
    assert err.line == 4 and "4 fields where the header has 3" in err.message
