"""The stage registry: every lab stage and every segment of a tube's life, described once.

A lab step is one :class:`Stage`: its name (the key in tables, stream names
and ``--set`` paths), what a planner calls it, what one run works on (a bag or
plates), the record fields and tube-table columns it stamps, the status word of
a tube waiting for or in it, and the segments of the critical path it adds. A
lab that lists no ``steps:`` runs the five default stages (receiving, plate
loading, extraction, PCR, report: :data:`STAGES`, which also say where each
one's servers and durations sit in the lab's sections); a lab that lists its
own gets one entry a step (:func:`custom_stage`). A scenario's labs share one
list of step names, so a scenario has one :class:`Process`: the stages in order
and the segments, statuses and labels derived from them, which the lab
(:mod:`sim.model.lab`), the tables, utilisation, critical path, bottleneck,
console and figures all read.

A :class:`Segment` is a stretch of a tube's life between two tube-table
columns: the four before the lab (its first resident's wait in line, filling,
pickup wait, transit) are listed here; each stage adds its wait and its run.
The groups of segments carry the colours of the critical-path figure.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal


@dataclass(frozen=True)
class Stage:
    """One step of a lab's process, as the tables, figures and terminal name it."""

    name: str  # "pcr": the step's name, the key in tables and streams
    label: str  # "PCR": what a planner calls it
    resource: str  # "PCR": the resource, in a bottleneck line ("bottleneck: PCR at ...")
    unit: Literal["bag", "plate"]  # what one run works on: one bag, or one or more plates
    start: str  # the record field stamped when a run starts (bag or plate)
    end: str  # and when it ends
    tube_start: str  # the tube-table columns (without "_h") holding those times
    tube_end: str
    server_column: str | None  # the bag- or plate-table column naming the server
    status: str  # a tube waiting for this stage, or in it
    wait: str  # the critical-path segment of the wait before a run: name, label
    wait_label: str
    process: str  # and of the run itself
    process_label: str
    process_group: str = "in process"
    in_process: str | None = None  # a status of its own once the run has begun
    forms_plates: bool = False  # the stage whose run takes waiting tubes onto a new plate
    batched: bool = False  # a run may take several items (it counts once, in busy time)
    amplifies: bool = False  # the PCR: a tube's result is known when it ends
    #: the default stages only: the lab section's fields counting its servers, giving the
    #: duration of a run and the most plates a run takes (None: one)
    servers: Literal["staff", "instruments"] = "staff"
    duration: str = ""
    batch: str | None = None

    def section(self, lab: Any) -> Any:
        """The lab's settings of this default stage (``lab.pcr`` ...)."""
        return getattr(lab, self.name)

    def units(self, lab: Any) -> int:
        """How many servers (staff or instruments) the lab has for this default stage."""
        return int(getattr(self.section(lab), self.servers))

    def run_time(self, lab: Any) -> Any:
        """The duration distribution of one run of this default stage."""
        return getattr(self.section(lab), self.duration)

    def per_run(self, lab: Any) -> int:
        """The most items one run of this default stage takes."""
        return 1 if self.batch is None else int(getattr(self.section(lab), self.batch))


def _default(name: str, label: str, resource: str, unit: Literal["bag", "plate"], servers: Any,
             duration: str, batch: str | None, fields: tuple[str, str, str, str, str | None],
             **kw: Any) -> Stage:  # fmt: skip
    start, end, tube_start, tube_end, server = fields
    return Stage(
        name, label, resource, unit, start, end, tube_start, tube_end, server,
        servers=servers, duration=duration, batch=batch, batched=batch is not None, **kw,
    )  # fmt: skip


#: the five stages of a lab that does not list its own steps
STAGES: tuple[Stage, ...] = (
    _default(
        "receiving", "receiving", "receiving", "bag", "staff", "per_bag", None,
        ("receive_start", "received", "receive_start", "received", "staff"),
        status="receiving", wait="receiving wait", wait_label="receiving queue",
        process="receiving", process_label="receiving",
    ),
    _default(
        "loading", "plate loading", "plate loading", "plate", "staff", "per_plate", None,
        ("formed", "loaded", "plate_formed", "plated", "loader"),
        status="waiting for a plate", wait="plate wait", wait_label="waiting for a plate",
        process="loading", process_label="plate loading", in_process="loading",
        forms_plates=True,
    ),
    _default(
        "extraction", "extraction", "extraction", "plate", "instruments", "run", "plates_per_run",
        ("extraction_start", "extraction_end", "extraction_start", "extraction_end",
         "extraction_instrument"),
        status="extraction", wait="extraction wait", wait_label="extraction queue",
        process="extraction", process_label="extraction",
    ),
    _default(
        "pcr", "PCR", "PCR", "plate", "instruments", "run", None,
        ("pcr_start", "pcr_end", "pcr_start", "pcr_end", "pcr_instrument"),
        status="PCR", wait="PCR wait", wait_label="PCR queue", process="PCR", process_label="PCR",
        amplifies=True,
    ),
    _default(
        "report", "report", "reporting", "plate", "staff", "per_plate", None,
        ("report_start", "reported", "report_start", "reported", None),
        status="report", wait="report wait", wait_label="report queue",
        process="report", process_label="report", process_group="reporting",
    ),
)  # fmt: skip


def custom_stage(
    name: str, label: str, on: str, batched: bool, amplifies: bool, last: bool, after_pcr: bool
) -> Stage:
    """The registry entry of a step a lab lists itself: its columns are ``<name>_start``,
    ``<name>_end`` (the last step's end is ``reported``) and ``<name>_unit``."""
    end = "reported" if last else f"{name}_end"
    forms = on == "tube"
    return Stage(
        name, label, label, "bag" if on == "bag" else "plate",
        f"{name}_start", end, f"{name}_start", end, f"{name}_unit",
        status="waiting for a plate" if forms else label,
        wait=f"{name} wait", wait_label="waiting for a plate" if forms else f"{label} queue",
        process=name, process_label=label,
        process_group="reporting" if after_pcr else "in process",
        in_process=name if forms else None, forms_plates=forms, batched=batched,
        amplifies=amplifies,
    )  # fmt: skip


def stage(name: str) -> Stage:
    """The default stage called ``name``."""
    for s in STAGES:
        if s.name == name:
            return s
    raise KeyError(f"no lab stage '{name}' (stages: {', '.join(s.name for s in STAGES)})")


@dataclass(frozen=True)
class Segment:
    """A stretch of a tube's life, from one tube-table column to another."""

    name: str  # "PCR wait"
    label: str  # what the terminal calls it: "PCR queue"
    group: str  # the kind of time it is ("lab queue", "in process" ...): the figure's colour
    start: str  # tube-table columns
    end: str
    resource: str | None  # what a wait waits for: "sampling", "transport" or a stage; None: a run


#: the stretches of a tube's life before the lab
BEFORE_LAB = (
    Segment(
        "line wait", "waiting in line", "waiting in line", "first_arrival_h", "first_swab_h",
        "sampling",
    ),
    Segment("filling", "filling tubes", "filling the tube", "first_swab_h", "sealed_h", None),
    Segment(
        "pickup wait", "pickup wait", "waiting for pickup", "sealed_h", "picked_up_h",
        "transport",
    ),
    Segment("transit", "transit", "in transit", "picked_up_h", "delivered_h", None),
)  # fmt: skip
GROUP_COLOURS = {
    "waiting in line": "#17becf",
    "filling the tube": "#1f77b4",
    "waiting for pickup": "#ff7f0e",
    "in transit": "#bcbd22",
    "lab queue": "#d62728",
    "in process": "#7f7f7f",
    "reporting": "#9467bd",
}


class Process:
    """The registry of one scenario's lab process: its stages in order, and everything
    derived from them (segments, statuses, labels) that tables, figures, the terminal and
    the advice read. Built once per step list (:func:`process_of`)."""

    def __init__(self, stages: tuple[Stage, ...]) -> None:
        self.stages = stages
        self.bag_stages = tuple(s for s in stages if s.unit == "bag")
        self.plate_stages = tuple(s for s in stages if s.unit == "plate")
        assert list(stages) == [*self.bag_stages, *self.plate_stages], "bag stages come first"
        assert self.plate_stages[0].forms_plates and sum(s.forms_plates for s in stages) == 1
        assert sum(s.amplifies for s in stages) == 1
        assert stages[-1].tube_end == "reported"
        self.names = tuple(s.name for s in stages)
        self.forming = self.plate_stages[0]
        self.tested = next(s for s in stages if s.amplifies)  # the PCR
        self.last = stages[-1]
        segments = list(BEFORE_LAB)
        before = "delivered_h"
        for st in stages:
            start, end = f"{st.tube_start}_h", f"{st.tube_end}_h"
            segments.append(Segment(st.wait, st.wait_label, "lab queue", before, start, st.name))
            segments.append(
                Segment(st.process, st.process_label, st.process_group, start, end, None)
            )
            before = end
        self.segments = tuple(segments)
        assert {seg.group for seg in self.segments} <= set(GROUP_COLOURS)
        self.segment_labels = {seg.name: seg.label for seg in self.segments}
        #: what a bottleneck line calls the resource behind a wait
        self.resource_labels = {
            "sampling": "sampling", "transport": "transport",
            **{st.name: st.resource for st in stages},
        }  # fmt: skip
        steps = [("at point", "first_swab_h"), ("in transit", "picked_up_h")]
        before = "delivered_h"
        for st in stages:
            steps.append((st.status, before))
            if st.in_process is not None:
                steps.append((st.in_process, f"{st.tube_start}_h"))
            before = f"{st.tube_end}_h"
        steps.append(("reported", before))
        #: where a tube stands: the furthest of these columns it reached names its status
        self.status_steps = tuple(steps)
        self.status_order = tuple(
            dict.fromkeys(["reported", "not swabbed", *(w for w, _ in steps if w != "reported")])
        )

    def stage(self, name: str) -> Stage:
        """The stage called ``name``."""
        for st in self.stages:
            if st.name == name:
                return st
        raise KeyError(f"no lab step '{name}' (steps: {', '.join(self.names)})")

    def label(self, name: str) -> str:
        """What a planner calls the step (or pool) ``name``."""
        return next((st.label for st in self.stages if st.name == name), name)

    def utilisation_label(self, key: str) -> str:
        """A ``summary.json`` utilisation key as a planner reads it ("lab pcr" -> "lab PCR")."""
        head, _, name = key.partition(" ")
        return f"{head} {self.label(name)}" if head == "lab" else key

    def __repr__(self) -> str:
        return f"Process({', '.join(self.names)})"


#: the registry of labs that keep the five default stages
DEFAULT = Process(STAGES)
_BUILT: dict[tuple[Any, ...], Process] = {}


def process_of(process: Any) -> Process:
    """The registry of a lab process (:class:`sim.scenario.schema.LabProcess`: its step
    specifications, each with name, title, works_on, batch, combine, amplifies); a lab that keeps
    the default five stages gives :data:`DEFAULT`."""
    if process.default:
        return DEFAULT
    steps = process.steps
    # a run may take several plates: a batch, or every step from a combining one on
    first_combine = next((i for i, s in enumerate(steps) if s.combine), len(steps))
    key = tuple(
        (s.name, s.title, s.works_on, s.batch.size > 1 or i >= first_combine, s.amplifies)
        for i, s in enumerate(steps)
    )
    if key not in _BUILT:
        pcr = next(i for i, s in enumerate(steps) if s.amplifies)
        _BUILT[key] = Process(
            tuple(
                custom_stage(name, title, on, batched, amp, i == len(key) - 1, i > pcr)
                for i, (name, title, on, batched, amp) in enumerate(key)
            )
        )
    return _BUILT[key]


def utilisation_label(key: str) -> str:
    """A default ``summary.json`` utilisation key as a planner reads it ("lab pcr" -> "lab PCR")."""
    return DEFAULT.utilisation_label(key)


def segment_label(summary: dict[str, Any] | None, name: str) -> str:
    """What the terminal and pages call critical-path segment ``name`` of a run whose
    ``summary`` (``summary.json``) may carry its lab's own labels (``labels``)."""
    own = ((summary or {}).get("labels") or {}).get("segments") or {}
    return str(own.get(name) or DEFAULT.segment_labels.get(name, name))


def resource_label(summary: dict[str, Any] | None, name: str) -> str:
    """What a bottleneck line calls the resource behind a wait (``pcr`` -> "PCR")."""
    own = ((summary or {}).get("labels") or {}).get("resources") or {}
    return str(own.get(name) or DEFAULT.resource_labels.get(name, name))


def summary_labels(process: Process) -> dict[str, dict[str, str]] | None:
    """The labels a summary carries for a lab's own steps (None for the default stages,
    whose labels every reader knows)."""
    if process is DEFAULT:
        return None
    return {"segments": dict(process.segment_labels), "resources": dict(process.resource_labels)}
