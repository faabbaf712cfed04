"""The scenario JSON Schema (``natsim schema``) and the reference page generated from it."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml

from sim.scenario.json_schema import reference_markdown, scenario_schema

from .conftest import SCENARIOS
from .test_cli import natsim

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft202012Validator:
    schema = scenario_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def test_the_reference_page_is_current() -> None:
    """docs/scenario-reference.md is regenerated here: commit the new page when it moves."""
    assert (ROOT / "docs" / "scenario-reference.md").read_text() == reference_markdown()


@pytest.mark.parametrize(
    "name", ["zhaoling.yaml", "tiny.yaml", "zhaoling-rain.yaml", "zhaoling-outage.yaml"]
)
def test_the_shipped_scenarios_are_valid_by_the_schema(
    validator: jsonschema.Draft202012Validator, name: str
) -> None:
    data = yaml.safe_load((SCENARIOS / name).read_text())
    assert [e.message for e in validator.iter_errors(data)] == []


def test_the_schema_catches_what_an_editor_should(
    validator: jsonschema.Draft202012Validator,
) -> None:
    data = yaml.safe_load((SCENARIOS / "tiny.yaml").read_text())
    data["round"]["horizon"] = 12  # no unit
    data["labs"][0]["pcr"]["instrumnets"] = 3  # misspelt
    messages = sorted(e.message for e in validator.iter_errors(data))
    assert messages == [
        "12 is not of type 'string'",
        "Additional properties are not allowed ('instrumnets' was unexpected)",
    ]


def test_defaults_are_written_as_a_file_writes_them() -> None:
    round_spec = scenario_schema()["$defs"]["RoundSpec"]["properties"]
    assert round_spec["start"]["default"] == "07:00"
    assert round_spec["targets"]["default"] == ["14h", "16h"]
    assert "gt" not in round_spec["horizon"]


def test_natsim_schema_prints_or_writes_it(tmp_path: Path) -> None:
    printed = json.loads(natsim("schema").stdout)
    assert printed["title"] == "natsim scenario"
    natsim("schema", "-o", str(tmp_path / "s.json"))
    assert json.loads((tmp_path / "s.json").read_text()) == printed
