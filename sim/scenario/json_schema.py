"""The scenario file's JSON Schema (for editors) and the reference page generated from it.

``natsim schema`` prints :func:`scenario_schema`; ``docs/scenario-reference.md`` is
:func:`reference_markdown` of it, and a test regenerates the page and fails when the
committed one is not current. The schema describes the file as it is written, not
the validated model: durations, clock times and speeds are text with units
(``25s``, ``07:00``, ``30km/h``), a window is a pair, a bare duration is a fixed
distribution, and the zone table is a list or ``{csv: file}``. Defaults are shown
as a file would write them. Cross-references (a zone's point, a route's lab) and
the rules that need several fields at once are checked by natsim, not by the
schema.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, TypeAdapter
from pydantic.json_schema import GenerateJsonSchema

from .. import distributions
from . import schema as model_schema
from .zones import ZoneTable

_ZONES = {
    "description": "The zones: a list of {id, population, point, lat, lon, window, homebound}, "
    "or {csv: file} (columns id, population, point, and optionally lat, lon, open, close, "
    "homebound), or {parquet: file} (a run folder's zones.parquet).",
    "anyOf": [
        {"type": "array", "items": {"type": "object"}},
        {"type": "object", "properties": {"csv": {"type": "string"}}, "required": ["csv"]},
        {"type": "object", "properties": {"parquet": {"type": "string"}}, "required": ["parquet"]},
    ],
}
_BOUNDS = ("gt", "ge", "lt", "le", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum")


class _Generator(GenerateJsonSchema):
    def dataclass_schema(self, schema: Any) -> Any:
        if schema.get("cls") is ZoneTable:  # validated column by column, written as a table
            return dict(_ZONES)
        return super().dataclass_schema(schema)

    def handle_invalid_for_json_schema(self, schema: Any, error_info: str) -> Any:
        return dict(_ZONES)


def _models() -> dict[str, type[BaseModel]]:
    out: dict[str, type[BaseModel]] = {}
    for module in (model_schema, distributions):
        for value in vars(module).values():
            if isinstance(value, type) and issubclass(value, BaseModel):
                out[value.__name__] = value
    return out


def _clean(node: Any) -> Any:
    """Bounds that pydantic leaves on text (a duration's ``gt: 0``) are no JSON Schema."""
    if isinstance(node, dict):
        out = {k: _clean(v) for k, v in node.items()}
        if out.get("type") == "string":
            for key in _BOUNDS:
                out.pop(key, None)
        return out
    if isinstance(node, list):
        return [_clean(v) for v in node]
    return node


def scenario_schema() -> dict[str, Any]:
    """The JSON Schema of a scenario file (draft 2020-12)."""
    out = model_schema.Scenario.model_json_schema(schema_generator=_Generator, by_alias=True)
    models = _models()
    for name, definition in out.get("$defs", {}).items():
        cls = models.get(name)
        if cls is None:
            continue
        by_alias = {(f.alias or key): f for key, f in cls.model_fields.items()}
        for prop, body in definition.get("properties", {}).items():
            field = by_alias.get(prop)
            if field is None or "default" not in body:
                continue
            # the default as a file writes it ("07:00", "14h"), not as seconds
            adapter: TypeAdapter[Any] = TypeAdapter(field.rebuild_annotation())
            body["default"] = adapter.dump_python(
                field.get_default(call_default_factory=True), mode="json", by_alias=True
            )
    out["properties"]["extends"] = {
        "type": "string",
        "description": "A scenario file this one is laid over (relative to this file).",
    }
    full = _clean(out)
    defs = full.pop("$defs")
    # tables a file may give as a CSV beside it
    csv = {"type": "object", "properties": {"csv": {"type": "string"}}, "required": ["csv"]}
    full["properties"]["points"] = {"anyOf": [full["properties"]["points"], csv]}
    matrix = defs["Travel"]["properties"]["matrix"]
    defs["Travel"]["properties"]["matrix"] = {"anyOf": [matrix, csv], "default": None}
    # a file that extends another may give any part of any section: only its keys are known
    loose = {"type": "object", "properties": {key: {} for key in full["properties"]}}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "natsim scenario",
        "description": full.get("description", ""),
        "$defs": defs,
        "if": {"required": ["extends"]},
        "then": {**loose, "additionalProperties": False},
        "else": full,
    }


def _type(body: dict[str, Any]) -> str:
    if "$ref" in body:
        return body["$ref"].rsplit("/", 1)[-1]
    if "enum" in body:
        return " | ".join(f"`{v}`" for v in body["enum"])
    if "const" in body:
        return f"`{body['const']}`"
    for key in ("anyOf", "oneOf"):
        if key in body:
            return " or ".join(_type(b) for b in body[key] if b.get("type") != "null")
    kind = body.get("type", "any")
    if kind == "array":
        items = body.get("items") or body.get("prefixItems")
        if isinstance(items, list):
            return "[" + ", ".join(_type(i) for i in items) + "]"
        return f"list of {_type(items)}" if isinstance(items, dict) else "list"
    if (
        kind == "object"
        and "additionalProperties" in body
        and isinstance(body["additionalProperties"], dict)
    ):
        return f"mapping to {_type(body['additionalProperties'])}"
    return str(kind)


def reference_markdown(schema: dict[str, Any] | None = None) -> str:
    """docs/scenario-reference.md: every section of a scenario file, its keys, their types
    and defaults, from the schema."""
    schema = schema or scenario_schema()
    defs = schema.get("$defs", {})
    lines = [
        "# Scenario reference",
        "",
        "Generated from the scenario schema (`natsim schema`) by",
        "`sim.scenario.json_schema.reference_markdown`; a test fails when this page is not",
        "current. Durations are written with a unit (`25s`, `75min`, `2h`), clock times",
        '`"HH:MM"` (`"07:00+1"` the next day), speeds `30km/h`, windows as a pair',
        '`["07:00", "12:00"]`; a bare duration is a fixed distribution. The rules natsim',
        "applies are in [model.md](model.md); the errors it gives, in [errors.md](errors.md).",
        "",
    ]
    for name in ["Scenario", *sorted(defs)]:
        body = schema["else"] if name == "Scenario" else defs[name]
        lines += [f"## {name}", ""]
        description = " ".join((body.get("description") or "").split())
        if description:
            lines += [description, ""]
        props = body.get("properties", {})
        if not props:
            continue
        required = set(body.get("required", []))
        lines += ["| key | type | default |", "|---|---|---|"]
        for key, prop in props.items():
            default = ""
            if key in required:
                default = "required"
            elif "default" in prop:
                value = prop["default"]
                short = not isinstance(value, dict) and len(str(value)) <= 40
                default = f"`{value}`" if short else "see its section"
            shown = _type(prop).replace("|", "\\|")
            lines.append(f"| `{key}` | {shown} | {str(default).replace('|', '/')} |")
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"
