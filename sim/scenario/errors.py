"""Scenario problems located at a file, a line and a field.

A leaf of the scenario package: the schema raises :class:`Misplaced` for a
cross-reference problem, pydantic raises ``ValidationError`` for the rest, and
:func:`translate` turns either into one :class:`ScenarioError` that names the
file, the line and the dotted field, using the origins the loader recorded
(every value's file and line, by its path in the data).
"""

from __future__ import annotations

from pydantic import ValidationError

Loc = tuple[str | int, ...]
Origin = tuple[str, int | None]
CSV_ROWS = "<csv rows>"  # origins key: the file of a CSV table and the line of its first row


class ScenarioError(Exception):
    """A scenario problem located at a file, a line and a field."""

    def __init__(self, file: str, line: int | None, field: str, message: str) -> None:
        self.file, self.line, self.field, self.message = file, line, field, message
        super().__init__(str(self))

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        field = f" {self.field}:" if self.field else ""
        return f"{where}:{field} {self.message}"


class Misplaced(ValueError):
    """A cross-reference problem at ``loc`` (a path into the scenario data)."""

    def __init__(self, loc: tuple[str | int, ...], message: str) -> None:
        super().__init__(message)
        self.loc = loc


def dotted(loc: Loc) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def translate(exc: ValidationError, origins: dict[Loc, Origin], name: str) -> ScenarioError:
    errors = exc.errors(include_url=False)
    # a union reports one error per member; the deepest path is the member that fitted best
    top = tuple(errors[0]["loc"][:2])
    error = max(
        (e for e in errors if tuple(e["loc"][:2]) == top),
        key=lambda e: len(data_path(tuple(e["loc"]))),
    )
    loc = data_path(tuple(error["loc"]))
    message = error["msg"]
    original = (error.get("ctx") or {}).get("error")
    if isinstance(original, Misplaced):
        loc = (*loc, *original.loc)
        message = str(original)
    elif message.startswith("Value error, "):
        message = message[len("Value error, ") :]
    if (
        error["type"] not in ("missing", "extra_forbidden")
        and "input" in error
        and not isinstance(error["input"], dict | list)
    ):
        message += f" (got {error['input']!r})"
    file, line = nearest_origin(loc, origins, name)
    return ScenarioError(file, line, dotted(loc), message)


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
    return tuple(
        part
        for part in loc
        if isinstance(part, int)
        or not (part in _UNION_TAGS or "[" in part or part in ("AutoRoutes", "str", "float", "int"))
    )


def nearest_origin(loc: Loc, origins: dict[Loc, Origin], name: str) -> Origin:
    for n in range(len(loc)):
        if isinstance(loc[n], int) and (*loc[:n], CSV_ROWS) in origins:  # a row of a CSV table
            file, first = origins[(*loc[:n], CSV_ROWS)]
            return file, (first or 0) + int(loc[n])
    for n in range(len(loc), -1, -1):
        if loc[:n] in origins:
            return origins[loc[:n]]
    return (name, None)
