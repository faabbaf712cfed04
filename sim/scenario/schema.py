"""The scenario schema: a district's testing round as frozen, typed, validated data.

Every model forbids unknown keys (a misspelt ``statoins: 3`` must not be silently
ignored) and is frozen (variants are made as copies, see
:meth:`Scenario.with_changes`). Durations are seconds, clock times are seconds
after midnight; both are written with units in YAML (see :mod:`sim.units`).
Cross-references (a zone's point, a route's points and lab) are checked here and
raise :class:`Misplaced` with the path of the offending field, so the loader can
name its file and line.
"""

from __future__ import annotations

import itertools
import math
import re
from typing import Annotated, Any, Literal

import numpy as np
import pandas as pd
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_serializer,
    model_validator,
)

from ..distributions import Duration, DurationDist, PositiveDuration, duration_dist
from ..stages import STAGES, Process, process_of
from ..units import DAY, HOUR, MINUTE, format_clock, parse_clock, parse_speed
from .errors import Misplaced
from .overrides import apply_changes, fix_distributions
from .zones import ZoneTable

Clock = Annotated[
    float,
    BeforeValidator(
        lambda v: parse_clock(v) if isinstance(v, str) else v, json_schema_input_type=str
    ),
    PlainSerializer(format_clock, return_type=str),
]
"""Seconds after midnight, written "HH:MM" in YAML."""

Speed = Annotated[
    float,
    BeforeValidator(parse_speed, json_schema_input_type=str),
    PlainSerializer(lambda v: f"{v!r}m/s", return_type=str),
    Field(gt=0),
]
"""Metres per second, written "30km/h" in YAML."""

Share = Annotated[float, Field(ge=0.0, le=1.0)]
#: a count of servers, vehicles, tubes...: at least one, and at most a number that can be
#: meant (a city's busiest point has tens of stations, its fleet thousands of vehicles)
MAX_COUNT = 100_000
MAX_HORIZON = 31 * 24 * HOUR  # a round that runs a month is a campaign
Count = Annotated[int, Field(ge=1, le=MAX_COUNT)]

FRONT_LOADED = (0.30, 0.25, 0.20, 0.15, 0.10)  # docs/sources.md, Collect: arrival profile (EST)


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    def __eq__(self, other: object) -> bool:
        """Equal when the settings are equal: what loading noted about where they came from
        (private attributes: a point's own settings, a scenario's notes) does not count."""
        if not isinstance(other, BaseModel):
            return NotImplemented
        return type(self) is type(other) and self.__dict__ == other.__dict__


def _pair_to_window(value: Any) -> Any:
    if isinstance(value, list | tuple) and len(value) == 2:
        return {"open": value[0], "close": value[1]}
    return value


class Window(Frozen):
    """An opening window, written ``["07:00", "12:00"]``."""

    open: Clock
    close: Clock

    @model_validator(mode="after")
    def _ordered(self) -> Window:
        if self.close <= self.open:
            raise ValueError("close must be after open")
        return self


WindowField = Annotated[
    Window, BeforeValidator(_pair_to_window, json_schema_input_type=tuple[str, str] | Window)
]


def _span(self: Any) -> Any:
    """With ``windows``, ``window`` is their span (first opening to last closing): set it,
    or check a given one (a scenario written back out gives both)."""
    windows = self.windows
    if not windows:
        return self
    for a, b in itertools.pairwise(windows):
        if b.open < a.close:
            raise ValueError("windows must be in order and must not overlap")
    span = Window(open=windows[0].open, close=windows[-1].close)
    if "window" in self.model_fields_set and self.window is not None and self.window != span:
        raise ValueError("give windows or window, not both (window would be their span)")
    object.__setattr__(self, "window", span)  # frozen: set once, here
    return self


def windows_of(window: Window, windows: tuple[Window, ...]) -> list[tuple[float, float]]:
    """The (open, close) clock times of sampling: ``windows``, or the one ``window``."""
    return [(w.open, w.close) for w in windows] if windows else [(window.open, window.close)]


class RoundSpec(Frozen):
    """What the round is and what it is judged against."""

    name: str = Field(min_length=1)
    start: Clock = 7 * HOUR
    targets: tuple[PositiveDuration, ...] = (14 * HOUR, 16 * HOUR)
    horizon: PositiveDuration = 36 * HOUR
    seed: int = Field(default=1, ge=0)

    @model_validator(mode="after")
    def _targets_inside_horizon(self) -> RoundSpec:
        if any(t > self.horizon for t in self.targets):
            raise ValueError("every target must lie within the horizon")
        if self.horizon > MAX_HORIZON:
            raise Misplaced(
                ("horizon",),
                f"{self.horizon / HOUR:,.0f} h: a round is simulated for at most "
                f"{MAX_HORIZON / HOUR:,.0f} h ({MAX_HORIZON / (24 * HOUR):.0f} days)",
            )
        return self


Profile = Literal["flat", "front-loaded"] | tuple[Annotated[float, Field(ge=0)], ...]


class Arrivals(Frozen):
    """When residents come: a window and how the arrivals are spread over it.

    ``profile`` is "flat", "front-loaded" (30/25/20/15/10 %), or a list of
    shares, one per equal slice of the window (five shares over a five-hour
    window are hourly shares). Shares are normalised. ``spacing`` "random"
    draws arrival times (uniform within a slice: a Poisson stream given the
    count); "even" spaces the residents of each slice equally, as appointments
    would, and draws nothing.
    """

    window: WindowField | None = None
    windows: tuple[WindowField, ...] = ()
    profile: Profile = "front-loaded"
    spacing: Literal["random", "even"] = "random"

    @model_validator(mode="after")
    def _one_window_or_several(self) -> Arrivals:
        if self.window is None and not self.windows:
            raise ValueError("give window (or windows: several, with nights or breaks between)")
        return _span(self)

    @property
    def span(self) -> Window:
        """From the first opening to the last closing."""
        assert self.window is not None  # set by the validator
        return self.window

    @property
    def times(self) -> list[tuple[float, float]]:
        """Every sampling window as (open, close) clock times."""
        return windows_of(self.span, self.windows)

    @field_validator("profile")
    @classmethod
    def _some_share(cls, v: Profile) -> Profile:
        if isinstance(v, tuple) and (len(v) == 0 or sum(v) <= 0):
            raise ValueError("the profile needs at least one positive share")
        return v

    @property
    def shares(self) -> np.ndarray:
        if self.profile == "flat":
            return np.array([1.0])
        if self.profile == "front-loaded":
            return np.array(FRONT_LOADED)
        shares = np.asarray(self.profile, dtype=float)
        return shares / shares.sum()


class Demand(Frozen):
    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)

    zones: ZoneTable
    participation: Share = 0.95  # docs/sources.md, Collect: participation 0.95 (OBS/EST)
    arrivals: Arrivals

    @model_validator(mode="after")
    def _someone_comes(self) -> Demand:
        """A round nobody comes to has no answer (no completion, no share): say so now,
        not as a crash in the labs or an empty report."""
        if not len(self.zones):
            raise Misplaced(("zones",), "no zones: the table has no rows")
        if self.zones.total_population == 0:
            raise Misplaced(("zones",), "every zone's population is 0: nobody would come")
        if self.participation == 0:
            raise Misplaced(("participation",), "0: nobody would come")
        return self


class Relief(Frozen):
    """Staff relief breaks: each station closes ``for`` every ``every``.

    Station j (0-based) of a point with c stations takes its breaks at
    open + every·(m+1) + j·every/c for m = 0, 1, ... (staggered), or all at
    open + every·(m+1) when ``stagger`` is false. A busy station finishes its
    resident (and any tube change) first. No break starts after closing.
    """

    every: PositiveDuration
    for_: PositiveDuration = Field(alias="for")
    stagger: bool = True

    @model_validator(mode="after")
    def _shorter_than_interval(self) -> Relief:
        if self.for_ >= self.every:
            raise ValueError("a break must be shorter than the interval between breaks")
        return self


class Shift(Frozen):
    """One shift of a daily roster (``shifts:`` of a lab stage): from, to (``07:00+1`` for
    the next morning), how many staff (or instruments run) on duty, and ``handover``: how
    long it stays past ``to`` to hand over, on duty together with the next shift."""

    from_: Clock = Field(alias="from")
    to: Clock
    staff: Count | None = None
    instruments: Count | None = None
    stations: Count | None = None
    handover: Duration = 0.0

    @model_validator(mode="after")
    def _one_day_at_most(self) -> Shift:
        if not self.from_ < self.to <= self.from_ + DAY:
            raise ValueError("a shift ends after it starts and within a day (write 07:00+1)")
        given = [v for v in (self.staff, self.instruments, self.stations) if v is not None]
        if len(given) != 1:
            raise ValueError(
                "a shift gives staff (or, for instruments, instruments; at a point, stations) "
                "on duty"
            )
        return self

    @property
    def on_duty(self) -> int:
        return int(next(v for v in (self.staff, self.instruments, self.stations) if v is not None))


def roster(
    shifts: tuple[Shift, ...], start: float, horizon: float
) -> list[tuple[float, float, int]]:
    """(from, to, on duty) pieces, seconds from the round's start, of a daily roster over
    the round: each shift every day (its handover added), the counts of overlapping
    shifts summed; nobody outside every shift."""
    edges: dict[float, int] = {}
    for shift in shifts:
        for day in range(-1, int(horizon // DAY) + 2):
            a = shift.from_ + day * DAY - start
            b = shift.to + shift.handover + day * DAY - start
            if b <= 0 or a >= horizon:
                continue
            a, b = max(a, 0.0), min(b, horizon)
            edges[a] = edges.get(a, 0) + shift.on_duty
            edges[b] = edges.get(b, 0) - shift.on_duty
    pieces = []
    on, last = 0, 0.0
    for t in sorted({0.0, *edges, horizon}):
        if t > last:
            pieces.append((last, t, on))
        on += edges.get(t, 0)
        last = t
    return [p for p in pieces if p[1] > p[0]]


class PointParams(Frozen):
    """What every point has unless it says otherwise (``point_defaults``)."""

    stations: Count = 2
    window: WindowField | None = None
    windows: tuple[WindowField, ...] = ()
    service: DurationDist = duration_dist({"dist": "lognormal", "mean": "25s", "sd": "10s"})
    pool: Literal[1, 5, 10, 20] = 10
    tube_change: DurationDist = duration_dist("40s")
    tubes_per_bag: Count = 50
    relief: Relief | None = None
    #: samplers instead of stations: a station is one sampler (and a registrar) of each of
    #: ``teams_per_station`` teams taking turns (docs/sources.md: 1 sampler + 1 registrar,
    #: 2-3 teams a station for rotation, OBS)
    samplers: Count | None = None
    teams_per_station: Count = 2
    shifts: tuple[Shift, ...] = ()

    @model_validator(mode="after")
    def _windows_span(self) -> PointParams:
        return _span(self)

    @model_validator(mode="after")
    def _stations_from_samplers(self) -> PointParams:
        if self.samplers is None:
            return self
        if self.shifts:
            raise ValueError("give samplers or shifts of stations, not both")
        stations = max(1, self.samplers // self.teams_per_station)
        if "stations" in self.model_fields_set and self.stations != stations:
            raise ValueError(
                f"stations is {self.stations} but {self.samplers} samplers in teams of "
                f"{self.teams_per_station} a station make {stations}: give one of them"
            )
        object.__setattr__(self, "stations", stations)
        return self

    @model_validator(mode="after")
    def _stations_from_shifts(self) -> PointParams:
        return _servers_from_shifts(self, "stations", "point")


class Point(PointParams):
    """A sampling point: stations fed by one line, pooling k residents a tube.

    A point holds its effective settings; ``own`` names those it set itself (in
    its CSV row or its entry in the file) rather than took from
    ``point_defaults``, which is what a change of a default does not touch.
    """

    id: str = Field(min_length=1)
    lat: float | None = Field(default=None, ge=-90, le=90)
    lon: float | None = Field(default=None, ge=-180, le=180)
    _own: frozenset[str] = PrivateAttr(default=frozenset())

    @property
    def own(self) -> frozenset[str]:
        """The settings this point gave itself (not from ``point_defaults``)."""
        return self._own

    @property
    def location(self) -> tuple[float, float] | None:
        return None if self.lat is None or self.lon is None else (self.lat, self.lon)


class Pickups(Frozen):
    """When vehicles set out: on a schedule, when a point holds enough tubes, at closing."""

    every: PositiveDuration | None = 2 * HOUR  # docs/sources.md, Transport: every 2 h (OBS)
    first: Clock | None = None
    when_tubes: Count | None = None
    final_sweep: bool = True


class Travel(Frozen):
    """Travel time = great-circle distance x detour / speed x noise, or from a matrix.

    Noise is a mean-one gamma factor with coefficient of variation ``noise_cv``.
    ``matrix`` maps origin id -> destination id -> duration and wins where it
    has the pair.
    """

    speed: Speed = 30 / 3.6
    detour: float = Field(default=1.3, ge=1.0)
    noise_cv: float = Field(default=0.2, ge=0.0)
    matrix: dict[str, dict[str, Duration]] | None = None


class Route(Frozen):
    """An ordered list of points, ending at a lab, driven by ``vehicles`` vehicles."""

    id: str = Field(min_length=1)
    points: tuple[str, ...] = Field(min_length=1)
    lab: str
    vehicles: Count = 1


class AutoRoutes(Frozen):
    """Group points to labs, ``points_per_vehicle`` to a route.

    ``assign``: ``nearest`` sends every point to its nearest lab; ``capacity``
    gives each lab a share of the expected tubes in proportion to its capacity
    over the round (tubes an hour times the hours it is open before the last
    target), nearest points first (see :mod:`sim.model.geo`).
    """

    points_per_vehicle: Count = 3  # docs/sources.md, Transport: about 3 points a vehicle (OBS)
    vehicles_per_route: Count = 1
    assign: Literal["nearest", "capacity"] = "nearest"


class Dispatch(Frozen):
    """Which lab a vehicle takes its tubes to, chosen as it leaves its last point.

    ``route``: the route's own lab (the nearest one for automatic routes).
    ``nearest``: the lab nearest to the last point visited. ``earliest_finish``:
    the lab expected to report these tubes first, counting the drive there, the
    work it already has (delivered or on the way) and its capacity. With
    ``overflow_after``, a lab whose work in hand would take longer than that
    hands the tubes on: the vehicle drives to the lab expected to finish them
    first instead (see :mod:`sim.model.dispatch`).
    """

    rule: Literal["route", "nearest", "earliest_finish"] = "route"
    overflow_after: PositiveDuration | None = None


def _rule_only(value: Any) -> Any:
    return {"rule": value} if isinstance(value, str) else value


def _auto(value: Any) -> Any:
    return {} if value == "auto" else value


class Failures(Frozen):
    """Random breakdowns of each instrument or vehicle (``failures:``): each unit is up
    for a ``between`` draw, then down for a ``repair`` draw, over and over from the
    round's start, from a stream of its own. ``rule`` is what becomes of the work under
    way when a unit breaks: ``finish`` it first (the breakdown is found after the
    run or trip), or ``resume`` it when the unit is repaired."""

    between: DurationDist
    repair: DurationDist
    rule: Literal["finish", "resume"] = "finish"

    @model_validator(mode="after")
    def _positive_means(self) -> Failures:
        for name in ("between", "repair"):
            if float(getattr(self, name).mean) <= 0:
                raise ValueError(f"{name} must have a positive mean")
        return self

    @property
    def availability(self) -> float:
        """The long-run share of time a unit is up: MTBF / (MTBF + MTTR)."""
        up, down = float(self.between.mean), float(self.repair.mean)
        return up / (up + down)


class Transport(Frozen):
    pickups: Pickups = Pickups()
    travel: Travel = Travel()
    handover: DurationDist = duration_dist("5min")  # docs/sources.md: 3-10 min (EST)
    routes: (
        Annotated[
            AutoRoutes, BeforeValidator(_auto, json_schema_input_type=Literal["auto"] | AutoRoutes)
        ]
        | tuple[Route, ...]
    ) = AutoRoutes()
    dispatch: Annotated[
        Dispatch,
        BeforeValidator(
            _rule_only,
            json_schema_input_type=Literal["route", "nearest", "earliest_finish"] | Dispatch,
        ),
    ] = Dispatch()
    failures: Failures | None = None  # every vehicle's breakdowns


class Staffed(Frozen):
    """A lab stage's settings with an optional daily roster (``shifts``): the stage's
    staff (or instruments) is then the most on duty at once, and who is on duty at a
    time is what works (docs/model.md, *Shifts*)."""

    shifts: tuple[Shift, ...] = ()

    @model_validator(mode="after")
    def _servers_from_shifts(self) -> Staffed:
        servers = "staff" if "staff" in type(self).model_fields else "instruments"
        return _servers_from_shifts(self, servers, "stage")


def _servers_from_shifts(model: Any, servers: str, what: str) -> Any:
    """With ``shifts``, the ``servers`` field is the most on duty at once (given or left
    out): set it here (frozen models: set once, at validation)."""
    if not model.shifts:
        return model
    if any(getattr(shift, servers) is None for shift in model.shifts):
        raise ValueError(f"every shift of this {what} gives its {servers} on duty")
    most = max(on for _, _, on in roster(model.shifts, 0.0, 2 * DAY))
    if servers in model.model_fields_set and getattr(model, servers) != most:
        raise ValueError(
            f"{servers} is {getattr(model, servers)} but the shifts have at most {most} on "
            f"duty at once: leave {servers} out (the shifts set it)"
        )
    object.__setattr__(model, servers, most)
    return model


class Receiving(Staffed):
    """Unpack, disinfect and scan: one staff member per bag."""

    staff: Count = 4
    per_bag: DurationDist = duration_dist("10min")  # 20 min per rack of 94 (EST) ~ 50 tubes


class Loading(Staffed):
    """Open tubes and load a plate: one staff member per plate."""

    staff: Count = 6
    per_plate: DurationDist = duration_dist("30min")  # docs/sources.md: 20-45 min (EST)


class Extraction(Staffed):
    instruments: Count = 8
    plates_per_run: Count = 1
    run: DurationDist = duration_dist("30min")  # docs/sources.md: 12-40 min (OBS)
    failures: Failures | None = None


class Pcr(Staffed):
    """Amplification of whole plates; a run cannot be interrupted."""

    instruments: Count = 8
    wells: Count = 96
    controls: Annotated[int, Field(ge=0)] = 2
    run: DurationDist = duration_dist("75min")  # docs/sources.md: 60-100 min (OBS)
    failures: Failures | None = None

    @model_validator(mode="after")
    def _room_for_samples(self) -> Pcr:
        if self.controls >= self.wells:
            raise ValueError("controls must leave wells for samples")
        return self

    @property
    def samples_per_plate(self) -> int:
        return self.wells - self.controls


class Report(Staffed):
    """Analysis and upload of a finished plate."""

    staff: Count = 2
    per_plate: DurationDist = duration_dist("10min")  # docs/sources.md: 5-20 min (EST)


#: published capacity -> stages (docs/model.md, *Capacity as published*): every stage but PCR
#: gets this much more than the published rate, so that PCR sets it
HEADROOM = 1.25
#: tubes in a bag as bags form (not full: a vehicle takes what has been sealed since its last
#: visit; Zhaoling's bags average 36 of 50, generated cities' 20-33): what receiving is sized by
BAG_TUBES = 25
MAX_TUBES_A_DAY = 10_000_000


#: a step's or pool's name: a column, stream and ``--set`` name (lower case, digits, ``_``)
Name = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$", max_length=40)]
#: names a step or pool may not take: disruption targets and the segments before the lab
RESERVED = frozenset({"sampling", "lab", "vehicle", "filling", "transit", "reported"})


class PoolSpec(Frozen):
    """Staff or instruments of a lab, declared once (an entry of ``pools:``) and shared
    by every step that names it: ``staff`` or ``instruments`` (how many; with
    ``shifts`` the most on duty at once), an optional daily roster and, for
    instruments, random breakdowns."""

    staff: Count | None = None
    instruments: Count | None = None
    shifts: tuple[Shift, ...] = ()
    failures: Failures | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> PoolSpec:
        if self.shifts and self.staff is None and self.instruments is None:
            kind = "staff" if all(s.staff is not None for s in self.shifts) else "instruments"
            _servers_from_shifts(self, kind, "pool")
        elif self.shifts:
            _servers_from_shifts(self, self.kind, "pool")
        if (self.staff is None) == (self.instruments is None):
            raise ValueError("a pool has either staff or instruments (how many)")
        if self.failures is not None and self.staff is not None:
            raise ValueError("failures are for instruments, not staff")
        return self

    @property
    def kind(self) -> Literal["staff", "instruments"]:
        return "staff" if self.staff is not None else "instruments"

    @property
    def units(self) -> int:
        return int(self.staff if self.staff is not None else self.instruments)  # type: ignore[arg-type]


class Batch(Frozen):
    """How a step gathers its items into runs: a run takes up to ``size`` items; it starts
    once ``min`` wait (default 1: at once), or, with fewer, once the oldest has waited
    ``wait`` (none: it waits for ``min``); with ``tick``, runs start only on the tick
    (every ``tick`` from the lab's opening, as a lab that moves batches on a clock)."""

    size: Count = 1
    min: Count = 1
    wait: Duration | None = None
    tick: PositiveDuration | None = None

    @model_validator(mode="after")
    def _fits(self) -> Batch:
        if self.min > self.size:
            raise ValueError(f"min ({self.min}) is more than size ({self.size})")
        if self.wait is not None and self.min == 1:
            raise ValueError("wait is how long a run waits for min items: set min above 1")
        return self


class StepSpec(Frozen):
    """One step of a lab's process (an entry of ``steps:``).

    ``works_on``: a ``bag`` (as delivered), ``tube`` (the step
    that puts received tubes on plates: a plate's worth, or fewer once the oldest
    has waited ``partial_plate_after``) or ``plate`` (one, or a batch of them).
    ``needs``: the pools it takes, and how many units of each, for the whole run.
    ``duration``: the time of one run. ``batch``: how plates (or bags) gather into
    runs; ``combine``: the plates of a run go on as one (4 x 96 stamped into a 384).
    ``amplifies``: the PCR step (a tube's result is known when it ends).
    """

    name: Name
    label: str | None = None
    works_on: Literal["bag", "tube", "plate"]
    needs: dict[Name, Count] = Field(min_length=1)
    duration: DurationDist
    batch: Batch = Batch()
    combine: bool = False
    amplifies: bool = False

    @model_validator(mode="after")
    def _consistent(self) -> StepSpec:
        if self.name in RESERVED:
            raise ValueError(f"'{self.name}' is a reserved name; call the step something else")
        if self.works_on == "tube" and self.batch != Batch():
            raise ValueError(
                "the tube step fills one plate a run (partial_plate_after sets its wait): no batch"
            )
        if self.combine and (self.works_on != "plate" or self.batch.size == 1):
            raise ValueError("combine merges the plates of a batch: a plate step with size > 1")
        if self.amplifies and self.works_on != "plate":
            raise ValueError("the PCR step (amplifies) works on plates")
        return self

    @property
    def title(self) -> str:
        """What a planner calls it (its label, or its name)."""
        return self.label or self.name.replace("_", " ")


class LabProcess(Frozen):
    """A lab's steps, in order, and the pools they share: what the lab runs (either its
    ``steps:`` or the five default stages made from its sections)."""

    steps: tuple[StepSpec, ...]
    pools: dict[str, PoolSpec]
    default: bool = False

    def step(self, name: str) -> StepSpec:
        return next(s for s in self.steps if s.name == name)


def _check_steps(steps: tuple[StepSpec, ...], pools: dict[str, PoolSpec]) -> None:
    """Bag steps, then the one tube step, then plate steps with one PCR step; every need a
    declared pool and every pool needed (nothing declared and quietly unused)."""
    order = {"bag": 0, "tube": 1, "plate": 2}
    names: set[str] = set()
    for i, st in enumerate(steps):
        if st.name in names:
            raise Misplaced(("steps", i, "name"), f"two steps called '{st.name}'")
        names.add(st.name)
        if i and order[st.works_on] < order[steps[i - 1].works_on]:
            raise Misplaced(
                ("steps", i, "works_on"),
                "bag steps come first, then the tube step, then plate steps",
            )
        for pool in st.needs:
            if pool not in pools:
                known = ", ".join(pools) or "none"
                raise Misplaced(("steps", i, "needs", pool), f"no pool '{pool}' (pools: {known})")
            if st.needs[pool] > pools[pool].units:
                raise Misplaced(
                    ("steps", i, "needs", pool),
                    f"needs {st.needs[pool]} but the pool has {pools[pool].units}",
                )
    if sum(st.works_on == "tube" for st in steps) != 1:
        raise Misplaced(("steps",), "one step puts tubes on plates (works_on: tube)")
    if sum(st.amplifies for st in steps) != 1:
        raise Misplaced(("steps",), "one step is the PCR (amplifies: true)")
    for name in pools:
        if name in RESERVED:
            raise Misplaced(("pools", name), f"'{name}' is a reserved name")
        if not any(name in st.needs for st in steps):
            raise Misplaced(("pools", name), f"pool '{name}' is needed by no step")


class Plating(Frozen):
    """The plates of a lab with its own ``steps:``: wells and the controls among them."""

    wells: Count = 96
    controls: Annotated[int, Field(ge=0)] = 2

    @model_validator(mode="after")
    def _room_for_samples(self) -> Plating:
        if self.controls >= self.wells:
            raise ValueError("controls must leave wells for samples")
        return self


#: the default stages' sections, which a lab with ``steps:`` does not have
SECTIONS = ("receiving", "loading", "extraction", "pcr", "report")


class Lab(Frozen):
    """A laboratory: receiving, plate loading, extraction, PCR, reporting.

    Either every stage is described (staff or instruments and their times), or the
    lab is described as it is published: ``tubes_per_day`` (and, to be checked,
    ``turnaround``), from which the number of staff and instruments of every stage
    not given is derived (:func:`_stages_from_capacity`; stated in docs/model.md);
    or the lab lists its own process: ``steps:`` sharing ``pools:``, with ``plate:``.
    """

    id: str = Field(min_length=1)
    location: (
        tuple[Annotated[float, Field(ge=-90, le=90)], Annotated[float, Field(ge=-180, le=180)]]
        | None
    ) = None
    opens: Clock | None = None
    tubes_per_day: Annotated[int, Field(ge=1, le=MAX_TUBES_A_DAY)] | None = None
    turnaround: PositiveDuration | None = None
    #: the stages whose staff or instruments were derived from tubes_per_day (natsim
    #: writes it when it writes a scenario back out; leave it out)
    derived: tuple[Literal["receiving", "loading", "extraction", "pcr", "report"], ...] = ()
    receiving: Receiving = Receiving()
    loading: Loading = Loading()
    extraction: Extraction = Extraction()
    pcr: Pcr = Pcr()
    report: Report = Report()
    partial_plate_after: PositiveDuration = 45 * MINUTE
    steps: tuple[StepSpec, ...] = ()
    pools: dict[Name, PoolSpec] = {}
    plate: Plating = Plating()
    _process: LabProcess | None = PrivateAttr(default=None)

    @model_validator(mode="before")
    @classmethod
    def _from_published(cls, data: Any) -> Any:
        if not isinstance(data, dict) or data.get("tubes_per_day") is None:
            return data
        if data.get("steps"):
            raise ValueError(
                "tubes_per_day sizes the default stages: a lab with its own steps gives its "
                "pools instead"
            )
        return _stages_from_capacity(data)

    @model_validator(mode="after")
    def _own_steps(self) -> Lab:
        if not self.steps:
            if self.pools:
                raise Misplaced(("pools",), "pools are shared by steps: list the lab's steps")
            if "plate" in self.model_fields_set:
                raise Misplaced(("plate",), "the default stages take their plate from pcr")
            return self
        given = [name for name in SECTIONS if name in self.model_fields_set]
        if given:
            raise Misplaced(
                (given[0],),
                f"a lab with steps describes its process there; '{given[0]}' would be ignored",
            )
        _check_steps(self.steps, self.pools)
        return self

    @model_serializer(mode="wrap")
    def _what_applies(self, handler: Any) -> Any:
        """Written out (``--set``, a saved scenario): the default stages' sections, or the
        lab's own steps, pools and plate, never both (the other would be refused)."""
        data = handler(self)
        if isinstance(data, dict):
            for name in SECTIONS if self.steps else ("steps", "pools", "plate"):
                data.pop(name, None)
        return data

    @property
    def samples_per_plate(self) -> int:
        """Tubes a plate holds (wells less controls)."""
        plate = self.plate if self.steps else self.pcr
        return plate.wells - plate.controls

    @property
    def process(self) -> LabProcess:
        """The lab's steps and pools: its own, or the five default stages of its sections."""
        if self._process is None:
            self._process = (
                LabProcess(steps=self.steps, pools=self.pools)
                if self.steps
                else default_process(self)
            )
        return self._process


def _stages_from_capacity(data: dict[str, Any]) -> dict[str, Any]:
    """Staff and instruments for the stages of a lab given as ``tubes_per_day``.

    The lab works round the clock: r = tubes_per_day / 24 an hour. PCR gets the
    instruments that amplify r at its mean run time (wells less controls a plate),
    rounded up; every other stage ``HEADROOM`` x r at its mean time a run (a bag of
    ``BAG_TUBES`` tubes, a plate, or a run of ``plates_per_run`` plates), at least one.
    A stage whose staff or instruments are given keeps them; its times (given or the
    defaults) are those the count is worked out from. ``derived`` lists the stages
    derived: a scenario written back out (or changed with ``--set``) derives them again
    from its ``tubes_per_day``, instead of taking the counts as given.
    """
    try:
        per_hour = float(data["tubes_per_day"]) / 24.0
    except (TypeError, ValueError):
        return data  # the field's own validation says what is wrong
    out = dict(data)
    again = set(data.get("derived") or ())
    derived = []
    given = data.get("pcr")
    try:
        pcr = Pcr.model_validate({k: v for k, v in (given or {}).items() if k != "instruments"})
    except (ValidationError, AttributeError):
        return data  # validated again below, with the error in its place
    for st in STAGES:
        section = data.get(st.name) or {}
        if isinstance(section, dict) and st.name in again:
            section = {k: v for k, v in section.items() if k != st.servers}
        if not isinstance(section, dict) or st.servers in section or section.get("shifts"):
            continue
        model = Lab.model_fields[st.name].annotation
        assert isinstance(model, type) and issubclass(model, Frozen)
        try:
            settled = model.model_validate(section)
        except ValidationError:
            continue
        hours = float(getattr(settled, st.duration).mean) / HOUR
        batch = int(getattr(settled, st.batch)) if st.batch else 1
        tubes = BAG_TUBES if st.unit == "bag" else pcr.samples_per_plate * batch
        rate = per_hour if st.name == "pcr" else HEADROOM * per_hour
        out[st.name] = {**section, st.servers: max(1, math.ceil(rate * hours / tubes - 1e-9))}
        derived.append(st.name)
    out["derived"] = tuple(derived)
    return out


def default_process(lab: Lab) -> LabProcess:
    """The five default stages of ``lab`` as steps and pools: each stage a step on a pool of
    its own (named as the stage), from its section's staff or instruments, shifts,
    failures, duration and plates a run."""
    steps, pools = [], {}
    for st in STAGES:
        section = st.section(lab)
        counts: dict[str, Any] = {st.servers: st.units(lab)}
        pools[st.name] = PoolSpec.model_construct(
            shifts=section.shifts, failures=getattr(section, "failures", None), **counts
        )
        steps.append(
            StepSpec.model_construct(
                name=st.name, label=st.label, works_on="tube" if st.forms_plates else st.unit,
                needs={st.name: 1}, duration=st.run_time(lab),
                batch=Batch.model_construct(size=st.per_run(lab), min=1, wait=None, tick=None),
                combine=False, amplifies=st.amplifies,
            )
        )  # fmt: skip
    return LabProcess.model_construct(steps=tuple(steps), pools=pools, default=True)


#: what a disruption takes out besides a lab's pools (a default lab's pools are its stages)
DISRUPTED = ("sampling", "lab", "vehicle")


class Disruption(Frozen):
    """Something out of service for a while (an entry of ``disruptions:``).

    ``what``: ``sampling`` (stations of a point), a lab stage (its staff or
    instruments), ``lab`` (every stage of a lab) or ``vehicle``; ``where``: the
    point, lab, route or vehicle, or ``*`` for all of them; ``units``: how many
    stations, staff or instruments (default all; the highest-numbered ones).
    ``rule`` says what happens to work under way when it starts: ``finish`` it
    first (a swab, a run or a trip under way ends as it would; the unit is then
    out until the end), or ``resume``: stop it and carry on when the unit is
    back (not for sampling: a swab is never cut short).
    """

    what: str
    where: str = "*"
    from_: Clock = Field(alias="from")
    for_: PositiveDuration = Field(alias="for")
    units: Count | None = None
    rule: Literal["finish", "resume"] = "finish"
    #: why (shown with it): a campaign marks the units busy with an earlier round's tubes
    note: str | None = None

    @field_validator("what")
    @classmethod
    def _known(cls, v: str) -> str:
        if v not in DISRUPTED and not re.fullmatch(r"[a-z][a-z0-9_]*", v):
            raise ValueError(
                f"'{v}' is not one of {', '.join(DISRUPTED)} or a lab's pool (stage) name"
            )
        return v

    @model_validator(mode="after")
    def _consistent(self) -> Disruption:
        if self.what == "sampling" and self.rule == "resume":
            raise ValueError("sampling can only 'finish': a swab under way is never cut short")
        if self.what in ("lab", "vehicle") and self.units is not None:
            raise ValueError(f"'units' counts stations, staff or instruments, not a {self.what}")
        return self

    @property
    def until(self) -> float:
        """Clock time the disruption ends (seconds after midnight)."""
        return self.from_ + self.for_

    def describe(self) -> str:
        """What a planner reads: "15 PCR instruments out at henan-mobile-1, 12:00-15:00"."""
        where = (
            "every point"
            if self.what == "sampling" and self.where == "*"
            else ("everywhere" if self.where == "*" else self.where)
        )
        if self.what == "sampling":
            units = "all stations" if self.units is None else f"{self.units} stations"
            what = f"sampling paused ({units})"
        elif self.what in ("lab", "vehicle"):
            what = f"{self.what} out of service"
        else:
            count = "all" if self.units is None else str(self.units)
            st = next((st for st in STAGES if st.name == self.what), None)
            what = (
                f"{count} {st.label} {st.servers} out"
                if st is not None
                else f"{count} of {self.what} out"
            )
        rule = " (work under way resumes after)" if self.rule == "resume" else ""
        note = f" ({self.note})" if self.note else ""
        return (
            f"{what} at {where}, {format_clock(self.from_)}-{format_clock(self.until)}{rule}{note}"
        )


PoolSize = Literal[1, 5, 10, 20]


class Households(Frozen):
    """Residents come in households: members are swabbed one after another at one station,
    so they tend to share a tube; a member of a household with a case is positive with
    ``secondary_rate``."""

    sizes: tuple[Count, ...] = Field(min_length=1)
    weights: tuple[Annotated[float, Field(gt=0)], ...] | None = None
    secondary_rate: Share = 0.0

    @model_validator(mode="after")
    def _weights_match(self) -> Households:
        if self.weights is not None and len(self.weights) != len(self.sizes):
            raise ValueError(f"{len(self.weights)} weights for {len(self.sizes)} sizes")
        return self

    @property
    def shares(self) -> np.ndarray:
        """The probability of each size."""
        w = np.ones(len(self.sizes)) if self.weights is None else np.array(self.weights)
        return w / w.sum()


class Followup(Frozen):
    """How the residents of a positive pooled tube are tested again (``positives.followup``).

    ``notify_after`` the pooled result, the recall joins the response teams' queue
    (first come, first served); a free team drives from where it is (``base``
    at first, then the point of its last recall; without a base a team starts at
    the point it is sent to) and swabs each member into a single tube
    (``per_person``); the single tubes go at once by their own courier to the
    lab that tested the pooled tube (``carry: courier``), or wait at the point
    for the route's next trip and go to the lab it goes to (``carry: next_trip``;
    when no trip will come any more, one sets out for them). With ``lab: kept`` it reports them
    ``lab_turnaround`` later on capacity kept for them (the screening work is
    not slowed); with ``lab: first`` they go through the lab's own stages ahead
    of all screening work, on the same staff and instruments.
    """

    notify_after: Duration = 0.0
    teams: Count
    base: str | None = None
    per_person: PositiveDuration
    lab: Literal["kept", "first"] = "kept"
    lab_turnaround: PositiveDuration | None = None
    carry: Literal["courier", "next_trip"] = "courier"

    @model_validator(mode="after")
    def _turnaround_when_kept(self) -> Followup:
        if self.lab == "kept" and self.lab_turnaround is None:
            raise ValueError("lab: kept needs lab_turnaround (the kept capacity's time)")
        if self.lab == "first" and self.lab_turnaround is not None:
            raise ValueError("lab: first runs the lab's own stages: drop lab_turnaround")
        return self


class Positives(Frozen):
    """Who is positive and what the test reads (``positives:``).

    Each resident is a case with probability ``prevalence`` (``zones`` overrides it
    per zone id), independently, or in ``households``; a tube with a case reads
    positive with the ``sensitivity`` of its pool size (dilution: given per pool
    size, 1 when not given), a tube without one with ``false_positive_rate``. A
    positive pooled tube's residents are recalled and tested one a tube (each
    single tube read by the same rules). All of it is drawn from its own
    streams: changing it moves no arrival, swab or lab time.
    """

    prevalence: Share = 0.0
    zones: dict[str, Share] = Field(default_factory=dict)
    households: Households | None = None
    sensitivity: dict[PoolSize, Share] = Field(default_factory=dict)
    false_positive_rate: Share = 0.0
    followup: Followup | None = None

    @property
    def active(self) -> bool:
        """Whether anything can read positive (otherwise nothing is drawn at all)."""
        return (
            self.prevalence > 0
            or any(v > 0 for v in self.zones.values())
            or (self.false_positive_rate > 0)
        )

    @field_validator("sensitivity", mode="before")
    @classmethod
    def _pool_keys(cls, value: Any) -> Any:
        """YAML keys are read as text: ``{10: 0.95}`` in a file arrives as ``{"10": 0.95}``."""
        if isinstance(value, dict):
            return {
                int(k) if isinstance(k, str) and k.isdigit() else k: v for k, v in value.items()
            }
        return value

    def sensitivity_of(self, pool: int) -> float:
        return float(self.sensitivity.get(pool, 1.0))  # type: ignore[call-overload]


class DoorBase(Frozen):
    """Door-to-door teams working from one point (``door_to_door.teams``)."""

    base: str = Field(min_length=1)
    teams: Count = 1


class DoorToDoor(Frozen):
    """Homebound residents swabbed at home by teams (``door_to_door:``).

    A zone's homebound residents are its ``homebound`` column, or ``zones``'s
    share of its people, or ``share`` of them (the share rounded so that the
    district's total is the rounded total of the shares, largest remainders
    first); they are not among those who walk to a point. They live in
    households of ``household_size`` (the last one of a zone smaller), one tube
    a household (docs/sources.md, later rounds: "10-in-1 one household a tube for
    home-isolated", OFF). A zone is served from the nearest base; a base's teams
    start at ``start`` and take its households nearest zone first, each free team
    the next household: ``between`` from one household to the next in a zone,
    a drive (the transport's travel times and noise) to another zone, then
    ``3600 / households_per_hour`` seconds at the door. After ``households_per_trip``
    households (or its last), a team's tubes go: with ``tubes: base`` it drives
    back to its base and hands them over there, where they join the point's
    sealed tubes and bags; with ``tubes: courier`` a courier takes them from the
    door straight to the lab of the base's route and the team goes on.
    """

    share: Share = 0.0
    zones: dict[str, Share] = Field(default_factory=dict)
    household_size: Annotated[int, Field(ge=1, le=20)] = 2
    teams: tuple[DoorBase, ...] = Field(min_length=1)
    households_per_hour: Annotated[float, Field(gt=0, le=3600)]
    between: DurationDist = duration_dist("5min")
    start: Clock | None = None
    households_per_trip: Count = 20
    tubes: Literal["base", "courier"] = "base"


class Scenario(Frozen):
    """One district's round: demand, points, transport, labs. Frozen; copy to vary."""

    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)

    round: RoundSpec
    demand: Demand
    point_defaults: PointParams = PointParams()
    points: tuple[Point, ...] = Field(min_length=1)
    transport: Transport = Transport()
    labs: tuple[Lab, ...] = Field(min_length=1)
    disruptions: tuple[Disruption, ...] = ()
    positives: Positives = Positives()
    door_to_door: DoorToDoor | None = None
    _notes: tuple[str, ...] = PrivateAttr(default=())

    @property
    def notes(self) -> tuple[str, ...]:
        """What loading the file and applying changes noticed (a default no point uses, a
        change that some points' own settings kept out): shown with the warnings."""
        return self._notes

    @model_validator(mode="after")
    def _references(self) -> Scenario:
        _check_unique(self.points, "points")
        _check_unique(self.labs, "labs")
        point_ids = {p.id for p in self.points}
        lab_ids = {lab.id for lab in self.labs}
        unknown = pd.Index([p.id for p in self.points]).get_indexer(self.demand.zones.point) < 0
        if unknown.any():
            row = int(np.argmax(unknown))
            raise Misplaced(
                ("demand", "zones", row, "point"),
                f"zone '{self.demand.zones.id[row]}' names unknown point "
                f"'{self.demand.zones.point[row]}'",
            )
        start = self.round.start
        for i, p in enumerate(self.points):
            if p.window is not None and p.window.open < start:
                raise Misplaced(("points", i, "window"), "opens before the round starts")
        zones = self.demand.zones
        if len(zones) and not np.isnan(zones.open).all():
            has = ~np.isnan(zones.open)
            early = has & (zones.open < start)
            if early.any():
                row = int(np.argmax(early))
                raise Misplaced(("demand", "zones", row, "open"), "before the round starts")
        if self.demand.arrivals.span.open < start:
            raise Misplaced(("demand", "arrivals", "window"), "opens before the round starts")
        self._check_arrivals_before_closing()
        for i, lab in enumerate(self.labs):
            if lab.opens is not None and lab.opens < start:
                raise Misplaced(("labs", i, "opens"), "before the round starts")
        if self.transport.pickups.first is not None and self.transport.pickups.first < start:
            raise Misplaced(("transport", "pickups", "first"), "before the round starts")
        routes = self.transport.routes
        if isinstance(routes, tuple):
            seen: dict[str, str] = {}
            for r, route in enumerate(routes):
                if route.lab not in lab_ids:
                    raise Misplaced(("transport", "routes", r, "lab"), f"unknown lab '{route.lab}'")
                for k, pid in enumerate(route.points):
                    if pid not in point_ids:
                        raise Misplaced(
                            ("transport", "routes", r, "points", k), f"unknown point '{pid}'"
                        )
                    if pid in seen:
                        raise Misplaced(
                            ("transport", "routes", r, "points", k),
                            f"point '{pid}' is already on route '{seen[pid]}'",
                        )
                    seen[pid] = route.id
            missing = [p.id for p in self.points if p.id not in seen]
            if missing:
                raise Misplaced(("transport", "routes"), f"point '{missing[0]}' is on no route")
            self._check_travel(routes)
        else:
            for i, p in enumerate(self.points):
                if p.location is None:
                    raise Misplaced(
                        ("points", i, "lat"), "automatic routes need every point's lat and lon"
                    )
            for i, lab in enumerate(self.labs):
                if lab.location is None:
                    raise Misplaced(("labs", i, "location"), "automatic routes need lab locations")
        self._check_processes()
        self._check_disruptions(point_ids, lab_ids)
        base = self.positives.followup.base if self.positives.followup else None
        if base is not None and base not in point_ids:
            raise Misplaced(("positives", "followup", "base"), f"no point '{base}'")
        if self.positives.followup is not None:
            self._check_team_drives("response teams (positives.followup)")
        self._check_door_to_door(point_ids)
        if self.positives.zones:
            known = set(self.demand.zones.id)
            for zone in self.positives.zones:
                if zone not in known:
                    raise Misplaced(("positives", "zones", zone), f"no zone '{zone}'")
        return self

    def _check_door_to_door(self, point_ids: set[str]) -> None:
        door = self.door_to_door
        if door is None:
            if not np.isnan(self.demand.zones.homebound).all():
                row = int(np.argmax(~np.isnan(self.demand.zones.homebound)))
                raise Misplaced(
                    ("demand", "zones", row, "homebound"),
                    "homebound residents but no door_to_door section to swab them",
                )
            return
        seen: set[str] = set()
        for i, team in enumerate(door.teams):
            if team.base not in point_ids:
                raise Misplaced(("door_to_door", "teams", i, "base"), f"no point '{team.base}'")
            if team.base in seen:
                raise Misplaced(("door_to_door", "teams", i, "base"), "listed twice")
            seen.add(team.base)
        if door.zones:
            known = set(self.demand.zones.id)
            for zone in door.zones:
                if zone not in known:
                    raise Misplaced(("door_to_door", "zones", zone), f"no zone '{zone}'")
        if door.start is not None and door.start < self.round.start:
            raise Misplaced(("door_to_door", "start"), "before the round starts")
        self._check_team_drives("door-to-door teams (door_to_door)")

    def _check_travel(self, routes: tuple[Route, ...]) -> None:
        """Every drive a listed route needs has a time: a matrix entry (either way) or the
        coordinates of both ends; otherwise the run would stop at the first such drive."""
        matrix = self.transport.travel.matrix or {}
        where = {p.id: p.location for p in self.points}
        where.update({lab.id: lab.location for lab in self.labs})
        point_index = {p.id: i for i, p in enumerate(self.points)}
        lab_index = {lab.id: i for i, lab in enumerate(self.labs)}
        any_lab = self.transport.dispatch.rule != "route" or (
            self.transport.dispatch.overflow_after is not None
        )

        def known(a: str, b: str) -> bool:
            return (
                a == b
                or b in matrix.get(a, {})
                or a in matrix.get(b, {})
                or (where.get(a) is not None and where.get(b) is not None)
            )

        for route in routes:
            labs = [lab.id for lab in self.labs] if any_lab else [route.lab]
            legs = list(zip((route.lab, *route.points), (*route.points, route.lab), strict=True))
            legs += [(route.points[-1], lab) for lab in labs] + [(lab, route.lab) for lab in labs]
            for a, b in legs:
                if known(a, b):
                    continue
                end = a if where.get(a) is None else b
                loc: tuple[str | int, ...] = (
                    ("points", point_index[end], "lat")
                    if end in point_index
                    else ("labs", lab_index[end], "location")
                )
                raise Misplaced(
                    loc,
                    f"no travel time between '{a}' and '{b}' (route {route.id}): give "
                    f"{end}'s coordinates, or a transport.travel.matrix entry",
                )

    def _check_team_drives(self, who: str) -> None:
        """Teams (``who``) drive between any two points: each pair needs coordinates at both
        ends or a matrix entry."""
        matrix = self.transport.travel.matrix or {}
        unplaced = [i for i, p in enumerate(self.points) if p.location is None]
        for i in unplaced:
            a = self.points[i].id
            for p in self.points:
                if p.id != a and p.id not in matrix.get(a, {}) and a not in matrix.get(p.id, {}):
                    raise Misplaced(
                        ("points", i, "lat"),
                        f"{who} drive between points: no travel "
                        f"time between '{a}' and '{p.id}': give {a}'s coordinates, or a "
                        "transport.travel.matrix entry",
                    )

    def _check_arrivals_before_closing(self) -> None:
        """Residents must arrive while their point is open: closing stops service, so a zone
        whose residents would come after its point closed is an error (coming early is fine:
        they wait for the opening)."""
        zones = self.demand.zones
        if not len(zones):
            return
        default = self.demand.arrivals.span
        closes = np.array([(p.window or default).close for p in self.points])
        index = pd.Index([p.id for p in self.points]).get_indexer(zones.point)
        arrive_until = np.where(np.isnan(zones.close), default.close, zones.close)
        late = arrive_until > closes[index]
        if not late.any():
            return
        row = int(np.argmax(late))
        point = self.points[int(index[row])]
        where = "its own close" if not np.isnan(zones.close[row]) else "demand.arrivals.window"
        loc: tuple[str | int, ...] = ("demand", "zones", row, "close")
        if point.window is not None:
            loc = ("points", int(index[row]), "window")
        raise Misplaced(
            loc,
            f"point '{point.id}' closes at {format_clock(float(closes[index[row]]))} but the "
            f"residents of zone '{zones.id[row]}' arrive until {format_clock(float(arrive_until[row]))} "
            f"({where}); closing stops service: open the point longer or end the arrivals earlier "
            f"({int(late.sum()):,} zones in all)",
        )

    def _check_processes(self) -> None:
        """The labs share one list of steps (names, what each works on, the PCR step): the
        tables have one column a step; counts, pools, durations and batches may differ."""
        first = self.labs[0].process
        for i, lab in enumerate(self.labs[1:], 1):
            if _shape(lab.process) != _shape(first):
                names = ", ".join(s.name for s in first.steps)
                raise Misplaced(
                    ("labs", i, "steps"),
                    f"lab '{lab.id}' lists other steps than lab '{self.labs[0].id}' ({names}): "
                    "a scenario's labs share one list of step names (give every lab the "
                    "same steps, each with its own pools and times)",
                )

    @property
    def process(self) -> Process:
        """The registry of the labs' steps (:class:`sim.stages.Process`): columns, segments,
        statuses and labels of this scenario's tables."""
        return process_of(self.labs[0].process)

    def _check_disruptions(self, point_ids: set[str], lab_ids: set[str]) -> None:
        routes = self.transport.routes
        for i, d in enumerate(self.disruptions):
            if d.from_ < self.round.start:
                raise Misplaced(("disruptions", i, "from"), "before the round starts")
            if d.what not in DISRUPTED:  # a pool of the labs it names
                chosen = [lab for lab in self.labs if d.where in ("*", lab.id)]
                lacking = [lab.id for lab in chosen if d.what not in lab.process.pools]
                if lacking:
                    pools = ", ".join(self.labs[0].process.pools)
                    raise Misplaced(
                        ("disruptions", i, "what"),
                        f"'{d.what}' is not one of {', '.join(DISRUPTED)} or a pool (stage) of "
                        f"lab '{lacking[0]}' (pools: {pools})",
                    )
            if d.where == "*":
                continue
            if d.what == "sampling":
                known, kind = point_ids, "point"
            elif d.what == "vehicle":
                if not isinstance(routes, tuple):
                    continue  # automatic routes are built with the model: checked there
                known = {r.id for r in routes} | {
                    f"{r.id}/v{k + 1}" for r in routes for k in range(r.vehicles)
                }
                kind = "route or vehicle"
            else:
                known, kind = lab_ids, "lab"
            if d.where not in known:
                raise Misplaced(("disruptions", i, "where"), f"no {kind} '{d.where}'")

    # -- conveniences for analysts -------------------------------------------------
    @property
    def start(self) -> float:
        """Clock time of the round start, seconds after midnight."""
        return self.round.start

    def point(self, point_id: str) -> Point:
        return next(p for p in self.points if p.id == point_id)

    def lab(self, lab_id: str) -> Lab:
        return next(lab for lab in self.labs if lab.id == lab_id)

    def with_changes(self, changes: dict[str, Any] | None = None, **kwargs: Any) -> Scenario:
        """A validated copy with dotted-path changes, e.g.
        ``{"labs.city-cdc.pcr.instruments": 30, "points.*.stations": 3}``."""
        return apply_changes(self, {**(changes or {}), **kwargs})

    def deterministic(self) -> Scenario:
        """The same scenario with every random duration replaced by its mean."""
        return fix_distributions(self)

    def __repr__(self) -> str:
        """One line: what an analyst needs to tell scenarios apart in a notebook (the
        settings themselves: ``model_dump()``, or ``natsim show``)."""
        window = self.demand.arrivals.span
        return (
            f"<Scenario {self.round.name!r}: {self.demand.zones.total_population:,} people in "
            f"{len(self.demand.zones):,} zones, {len(self.points):,} points, "
            f"{len(self.labs)} labs ({', '.join(lab.id for lab in self.labs[:4])}"
            f"{', ...' if len(self.labs) > 4 else ''}), arrivals "
            f"{format_clock(window.open)}-{format_clock(window.close)}, "
            f"targets {', '.join(f'{t / HOUR:g} h' for t in self.round.targets)}>"
        )


def _shape(process: LabProcess) -> tuple[tuple[str, str, str, bool], ...]:
    return tuple((s.name, s.title, s.works_on, s.amplifies) for s in process.steps)


def _check_unique(items: tuple[Any, ...], where: str) -> None:
    seen: set[str] = set()
    for i, item in enumerate(items):
        if item.id in seen:
            raise Misplaced((where, i, "id"), f"duplicate id '{item.id}'")
        seen.add(item.id)
