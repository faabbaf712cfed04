"""Scenario problems located at a file, a line, a column and a field.

A leaf of the scenario package: the schema raises :class:`Misplaced` for a
cross-reference problem, pydantic raises ``ValidationError`` for the rest, and
:func:`translate` turns either into :class:`ScenarioError` (one problem) or
:class:`ScenarioErrors` (several, up to :data:`MAX_ERRORS`) that name the file,
the line and the dotted field, using the origins the loader recorded (every
value's file, line and column, by its path in the data). A list entry with an
``id`` is named by it (``labs.mobile-2.opens``, as ``--set`` writes it), and an
unknown key comes with the nearest valid one.
"""

from __future__ import annotations

import difflib
import types
import typing
from typing import Any

from pydantic import BaseModel, ValidationError

Loc = tuple[str | int, ...]
Origin = tuple[str, int | None, int | None]  # file, line, column (1-based; None: unknown)
CSV_ROWS = "<csv rows>"  # origins key: the file of a CSV table and the line of its first row
MAX_ERRORS = 20  # a file's problems shown at once; the rest are counted


class ScenarioError(Exception):
    """A scenario problem located at a file, a line (and column) and a field."""

    def __init__(
        self, file: str, line: int | None, field: str, message: str, column: int | None = None
    ) -> None:
        self.file, self.line, self.field, self.message = file, line, field, message
        self.column = column
        super().__init__(str(self))

    def __str__(self) -> str:
        where = self.file
        if self.line:
            where += f":{self.line}" + (f":{self.column}" if self.column else "")
        field = f" {self.field}:" if self.field else ""
        return f"{where}:{field} {self.message}"

    @property
    def problems(self) -> list[ScenarioError]:
        """Every problem this error stands for (one, here)."""
        return [self]


class ScenarioErrors(ScenarioError):
    """Several problems of one file, in file order; behaves as the first for one-line use."""

    def __init__(self, errors: list[ScenarioError], more: int = 0) -> None:
        self.errors, self.more = errors, more
        first = errors[0]
        self.file, self.line, self.field, self.message = (
            first.file, first.line, first.field, first.message,
        )  # fmt: skip
        self.column = first.column
        Exception.__init__(self, str(self))

    def __str__(self) -> str:
        lines = [str(e) for e in self.errors]
        if self.more:
            lines.append(f"{self.file}: ... and {self.more} more problems")
        return "\n".join(lines)

    @property
    def problems(self) -> list[ScenarioError]:
        return list(self.errors)


class Misplaced(ValueError):
    """A cross-reference problem at ``loc`` (a path into the scenario data)."""

    def __init__(self, loc: tuple[str | int, ...], message: str) -> None:
        super().__init__(message)
        self.loc = loc


def dotted(loc: Loc, data: Any = None) -> str:
    """``loc`` as a dotted field: list entries by their ``id`` when ``data`` gives one
    (``labs.mobile-2.opens``), else by position (``demand.zones[1].population``)."""
    out = ""
    node = data
    for part in loc:
        item = None
        if isinstance(part, int):
            if isinstance(node, list | tuple) and 0 <= part < len(node):
                item = node[part]
            entry_id = item.get("id") if isinstance(item, dict) else getattr(item, "id", None)
            if isinstance(entry_id, str) and entry_id:
                out += f".{entry_id}"
            else:
                out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
            item = node.get(part) if isinstance(node, dict) else getattr(node, str(part), None)
        node = item
    return out


def translate(
    exc: ValidationError,
    origins: dict[Loc, Origin],
    name: str,
    data: Any = None,
    model: type[BaseModel] | None = None,
) -> ScenarioError:
    """Every problem of ``exc`` as located errors (one :class:`ScenarioError`, or
    :class:`ScenarioErrors`), with ``data`` naming list entries by id and ``model``
    giving the valid keys for an unknown one."""
    errors = exc.errors(include_url=False)
    # a list whose entries all failed is also "too short": that says nothing more
    locs = [tuple(e["loc"]) for e in errors]
    errors = [
        e
        for e in errors
        if e["type"] != "too_short"
        or not any(len(o) > len(e["loc"]) and o[: len(e["loc"])] == tuple(e["loc"]) for o in locs)
    ]
    # a union reports its errors per member: keep every error of the member that fitted
    # best (the one whose deepest error goes deepest)
    groups: dict[Loc, list[Any]] = {}
    for e in errors:
        groups.setdefault(_before_union(tuple(e["loc"])), []).append(e)
    found = []
    for head, group in groups.items():
        best = max(group, key=lambda e: len(data_path(tuple(e["loc"]))))
        member = _member(tuple(best["loc"]), len(head))
        found += [
            _one(e, origins, name, data, model)
            for e in group
            if _member(tuple(e["loc"]), len(head)) == member
        ]
    # one value written once and wrong at many entries (a default every point takes): once
    same: dict[tuple[str, int | None, int | None, str, str], list[ScenarioError]] = {}
    for problem in found:
        leaf = problem.field.rsplit(".", 1)[-1]
        key = (problem.file, problem.line, problem.column, problem.message, leaf)
        same.setdefault(key, []).append(problem)
    out = []
    for group in same.values():
        first = group[0]
        if len(group) > 1:
            first = ScenarioError(
                first.file, first.line, first.field,
                f"{first.message} (and at {len(group) - 1} more "
                f"{'entry' if len(group) == 2 else 'entries'})", first.column,
            )  # fmt: skip
        out.append(first)
    out.sort(key=lambda p: (p.file != name, p.file, p.line or 0, p.column or 0))
    if len(out) == 1:
        return out[0]
    return ScenarioErrors(out[:MAX_ERRORS], max(0, len(out) - MAX_ERRORS))


def _one(
    error: Any,
    origins: dict[Loc, Origin],
    name: str,
    data: Any,
    model: type[BaseModel] | None,
) -> ScenarioError:
    raw = tuple(error["loc"])
    loc = data_path(raw)
    message = error["msg"]
    original = (error.get("ctx") or {}).get("error")
    if isinstance(original, Misplaced):
        loc = (*loc, *original.loc)
        message = str(original)
    elif message.startswith("Value error, "):
        message = message[len("Value error, ") :]
    if error["type"] == "extra_forbidden":
        message = "unknown key"
        allowed = _keys_at(model, raw[:-1]) if model is not None else set()
        close = difflib.get_close_matches(str(raw[-1]), sorted(allowed), n=1, cutoff=0.6)
        if close:
            message += f"; did you mean '{close[0]}'?"
        elif allowed:
            message += f" (valid here: {', '.join(sorted(allowed))})"
    elif error["type"] == "missing":
        message = "missing: this key is required"
    if (
        error["type"] not in ("missing", "extra_forbidden")
        and "input" in error
        and not isinstance(error["input"], dict | list)
    ):
        message += f" (got {error['input']!r})"
    file, line, column = nearest_origin(loc, origins, name)
    return ScenarioError(file, line, dotted(loc, data), message, column)


def _before_union(loc: Loc) -> Loc:
    """The part of a pydantic location before the first union member name."""
    for n, part in enumerate(loc):
        if isinstance(part, str) and _is_member(part):
            return loc[:n]
    return loc


def _member(loc: Loc, at: int) -> str | int | None:
    """The union member an error's location names at position ``at`` (None: no union)."""
    return loc[at] if len(loc) > at else None


def _is_member(part: str) -> bool:
    return part in _UNION_TAGS or "[" in part or part in ("AutoRoutes", "str", "float", "int")


def _keys_at(model: type[BaseModel], loc: Loc) -> set[str]:
    """The keys valid at ``loc`` (a pydantic location) in ``model``: the fields (by their
    names as written, i.e. aliases) of every model that can stand there."""
    here: list[Any] = [model]
    for part in loc:
        if isinstance(part, str) and _is_member(part):
            named = [t for t in here if getattr(t, "__name__", None) == part]
            here = named or here
            continue
        nxt: list[Any] = []
        for kind in _models_in(here):
            if isinstance(part, int):
                continue
            for field_name, info in kind.model_fields.items():
                if part in (field_name, info.alias):
                    nxt.extend(_flatten(info.annotation))
        for t in here:  # tuples, lists and dicts of models
            origin = typing.get_origin(t)
            if origin in (tuple, list) and isinstance(part, int):
                nxt.extend(
                    a for arg in typing.get_args(t) if arg is not Ellipsis for a in _flatten(arg)
                )
            elif origin is dict and isinstance(part, str):
                nxt.extend(_flatten(typing.get_args(t)[-1]))
        here = nxt
        if not here:
            return set()
    keys: set[str] = set()
    for kind in _models_in(here):
        for field_name, info in kind.model_fields.items():
            keys.add(info.alias or field_name)
    return keys


def _flatten(annotation: Any) -> list[Any]:
    """The types an annotation admits: unions, Optional and Annotated opened up."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _flatten(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        return [t for arg in typing.get_args(annotation) for t in _flatten(arg)]
    return [annotation]


def _models_in(kinds: list[Any]) -> list[type[BaseModel]]:
    return [t for t in kinds if isinstance(t, type) and issubclass(t, BaseModel)]


_UNION_TAGS = {
    "fixed",
    "uniform",
    "triangular",
    "exponential",
    "normal",
    "lognormal",
    "gamma",
    "empirical",
}


def data_path(loc: Loc) -> Loc:
    """The path in the data: without the member names pydantic inserts for unions."""
    return tuple(part for part in loc if isinstance(part, int) or not _is_member(part))


def nearest_origin(loc: Loc, origins: dict[Loc, Origin], name: str) -> Origin:
    """Where ``loc`` was written: its own origin, a CSV row's line, or its nearest parent's."""
    for n in range(len(loc)):
        if isinstance(loc[n], int) and (*loc[:n], CSV_ROWS) in origins:  # a row of a CSV table
            file, first, _ = origins[(*loc[:n], CSV_ROWS)]
            return file, (first or 0) + int(loc[n]), None
    for n in range(len(loc), -1, -1):
        if loc[:n] in origins:
            return origins[loc[:n]]
    return (name, None, None)
