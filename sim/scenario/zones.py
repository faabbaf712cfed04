"""The district's zones (grids, communities, villages) as one columnar table.

A city has tens of thousands of zones, so they are not validated one pydantic
object at a time: the table is checked column by column with numpy, and a
problem is reported with the row it sits on (the loader turns the row into the
CSV or YAML line). Zones need not come from a file: an analyst can build the
table from a DataFrame.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..units import format_clock, parse_clock

REQUIRED = ("id", "population", "point")
MAX_POPULATION = 100_000_000  # people in one zone: more than the largest city
OPTIONAL = ("lat", "lon", "open", "close", "homebound")


class ZoneProblem(ValueError):
    """A bad value in the zone table: ``row`` (0-based) and ``column`` say where."""

    def __init__(self, row: int | None, column: str, message: str) -> None:
        super().__init__(message)
        self.row = row
        self.column = column


@dataclass(frozen=True, eq=False)
class ZoneTable:
    """Validated zones; every array has one entry per zone.

    ``open``/``close`` are seconds after midnight of the zone's own arrival
    window (NaN: the demand's window applies); ``lat``/``lon`` are NaN when absent.
    ``homebound`` is how many of the zone's people are swabbed at home by the
    door-to-door teams (``door_to_door:``), NaN where the table does not say (the
    section's share applies).
    """

    id: np.ndarray
    population: np.ndarray
    point: np.ndarray
    lat: np.ndarray
    lon: np.ndarray
    open: np.ndarray
    close: np.ndarray
    homebound: np.ndarray = field(default_factory=lambda: np.empty(0))

    def __post_init__(self) -> None:
        if self.homebound.size != len(self.id):  # not given: no zone says (frozen: set here)
            object.__setattr__(self, "homebound", np.full(len(self.id), np.nan))

    def __len__(self) -> int:
        return len(self.id)

    @property
    def total_population(self) -> int:
        return int(self.population.sum())

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "id": self.id,
                "population": self.population,
                "point": self.point,
                "lat": self.lat,
                "lon": self.lon,
                "open": self.open,
                "close": self.close,
                "homebound": self.homebound,
            }
        )

    @classmethod
    def from_records(cls, records: list[dict[str, Any]]) -> ZoneTable:
        """From inline YAML zones (a list of mappings)."""
        for i, rec in enumerate(records):
            if not isinstance(rec, dict):
                raise ZoneProblem(i, "", "each zone must be a mapping with id, population, point")
            unknown = set(rec) - set(REQUIRED) - set(OPTIONAL) - {"window"}
            if unknown:
                raise ZoneProblem(i, sorted(unknown)[0], "unknown zone field")
            if "window" in rec:
                window = rec["window"]
                if not (isinstance(window, list | tuple) and len(window) == 2):
                    raise ZoneProblem(i, "window", "window must be [open, close]")
        rows = []
        for rec in records:
            rec = dict(rec)
            if "window" in rec:
                rec["open"], rec["close"] = rec.pop("window")
            rows.append(rec)
        return cls.from_frame(pd.DataFrame(rows, columns=[*REQUIRED, *OPTIONAL]))

    @classmethod
    def from_frame(cls, frame: pd.DataFrame) -> ZoneTable:
        """From a DataFrame with columns id, population, point and optionally lat, lon, open,
        close and homebound."""
        if {"open", "close"} <= set(frame.columns) and frame["open"].dtype.kind == "f":
            # a table written by natsim keeps windows as seconds after midnight
            frame = frame.assign(
                open=[None if np.isnan(v) else format_clock(v) for v in frame["open"]],
                close=[None if np.isnan(v) else format_clock(v) for v in frame["close"]],
            )
        unknown = [c for c in frame.columns if c not in REQUIRED + OPTIONAL]
        if unknown:
            raise ZoneProblem(None, str(unknown[0]), "unknown zone column")
        for col in REQUIRED:
            if col not in frame.columns:
                raise ZoneProblem(None, col, "missing zone column")
            missing = frame[col].isna().to_numpy()
            if missing.any():
                raise ZoneProblem(int(np.argmax(missing)), col, "missing value")
        n = len(frame)
        ids = frame["id"].astype(str).to_numpy(dtype=object)
        dup = pd.Series(ids).duplicated().to_numpy()
        if dup.any():
            row = int(np.argmax(dup))
            raise ZoneProblem(row, "id", f"duplicate zone id '{ids[row]}'")
        population = _integers(frame["population"], "population")
        if (population < 0).any():
            raise ZoneProblem(int(np.argmax(population < 0)), "population", "must be >= 0")
        point = frame["point"].astype(str).to_numpy(dtype=object)
        lat = _floats(frame, "lat", n)
        lon = _floats(frame, "lon", n)
        if ((np.abs(lat) > 90) & ~np.isnan(lat)).any():
            raise ZoneProblem(int(np.argmax(np.abs(lat) > 90)), "lat", "latitude out of range")
        if ((np.abs(lon) > 180) & ~np.isnan(lon)).any():
            raise ZoneProblem(int(np.argmax(np.abs(lon) > 180)), "lon", "longitude out of range")
        open_ = _clocks(frame, "open", n)
        close = _clocks(frame, "close", n)
        if (np.isnan(open_) != np.isnan(close)).any():
            row = int(np.argmax(np.isnan(open_) != np.isnan(close)))
            raise ZoneProblem(row, "open", "give both open and close, or neither")
        bad = ~np.isnan(open_) & (close <= open_)
        if bad.any():
            raise ZoneProblem(int(np.argmax(bad)), "close", "close must be after open")
        homebound = _floats(frame, "homebound", n)
        given = ~np.isnan(homebound)
        bad = given & ((homebound < 0) | (homebound % 1 != 0))
        if bad.any():
            row = int(np.argmax(bad))
            raise ZoneProblem(row, "homebound", f"'{frame['homebound'].iloc[row]}' is not a count")
        over = given & (homebound > population)
        if over.any():
            row = int(np.argmax(over))
            raise ZoneProblem(
                row, "homebound", f"{int(homebound[row])} homebound of {population[row]} people"
            )
        return cls(ids, population, point, lat, lon, open_, close, homebound)


def _integers(series: pd.Series, column: str) -> np.ndarray:
    values = pd.to_numeric(series, errors="coerce")
    numbers = values.to_numpy(dtype=float)
    huge = np.abs(numbers) > MAX_POPULATION  # before the cast: 1e30 is no int64
    if huge.any():
        row = int(np.argmax(huge))
        raise ZoneProblem(
            row, column, f"'{series.iloc[row]}' is more than {MAX_POPULATION:,}: cannot be meant"
        )
    bad = values.isna().to_numpy() | (numbers % 1 != 0)
    if bad.any():
        raise ZoneProblem(
            int(np.argmax(bad)),
            column,
            f"'{series.iloc[int(np.argmax(bad))]}' is not a whole number",
        )
    return values.to_numpy(dtype=np.int64)


def _floats(frame: pd.DataFrame, column: str, n: int) -> np.ndarray:
    if column not in frame.columns:
        return np.full(n, np.nan)
    values = pd.to_numeric(frame[column], errors="coerce")
    bad = values.isna().to_numpy() & frame[column].notna().to_numpy()
    if bad.any():
        row = int(np.argmax(bad))
        raise ZoneProblem(row, column, f"'{frame[column].iloc[row]}' is not a number")
    return values.to_numpy(dtype=float)


def _clocks(frame: pd.DataFrame, column: str, n: int) -> np.ndarray:
    out = np.full(n, np.nan)
    if column not in frame.columns:
        return out
    for row, value in enumerate(frame[column].to_numpy(dtype=object)):
        if value is None or (isinstance(value, float) and np.isnan(value)) or value == "":
            continue
        try:
            out[row] = parse_clock(str(value))
        except ValueError as exc:
            raise ZoneProblem(row, column, str(exc)) from None
    return out
