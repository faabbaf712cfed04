"""The stage registry: every lab stage and every segment of a tube's life, described once.

A lab stage (receiving, plate loading, extraction, PCR, report) is one
:class:`Stage`: its name (the key in tables, stream names and ``--set`` paths),
what a planner calls it, what one run works on (a bag or plates), where its
servers, durations and batch size come from in the lab's section of the
scenario, the record fields and tube-table columns it stamps, the status word
of a tube waiting for or in it, and the segments of the critical path it adds.
The lab (:mod:`sim.model.lab`) runs the stages in this order; the tables,
utilisation, critical path, bottleneck, console labels and figures are all
derived from the same entries, so adding a stage is one entry here plus its
rule in the lab.

A :class:`Segment` is a stretch of a tube's life between two tube-table
columns: the four before the lab (its first resident's wait in line, filling,
pickup wait, transit) are listed here; each stage adds its wait and its run. The groups of segments carry the
colours of the critical-path figure.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal


@dataclass(frozen=True)
class Stage:
    """One step of a lab's process."""

    name: str  # "pcr": the lab's section in the scenario, the key in tables and streams
    label: str  # "PCR": what a planner calls it
    resource: str  # "PCR": the resource, in a bottleneck line ("bottleneck: PCR at ...")
    unit: Literal["bag", "plate"]  # what one run works on: one bag, or one or more plates
    servers: Literal["staff", "instruments"]  # the section's field counting its servers
    duration: str  # the section's field with the duration of one run
    batch: str | None  # the section's field with the most plates a run takes (None: one)
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

    def section(self, lab: Any) -> Any:
        """The lab's settings of this stage (``lab.pcr`` ...)."""
        return getattr(lab, self.name)

    def units(self, lab: Any) -> int:
        """How many servers (staff or instruments) the lab has for this stage."""
        return int(getattr(self.section(lab), self.servers))

    def run_time(self, lab: Any) -> Any:
        """The duration distribution of one run."""
        return getattr(self.section(lab), self.duration)

    def per_run(self, lab: Any) -> int:
        """The most items one run takes (a bag, a plate, or a batch of plates)."""
        return 1 if self.batch is None else int(getattr(self.section(lab), self.batch))


STAGES: tuple[Stage, ...] = (
    Stage(
        "receiving", "receiving", "receiving", "bag", "staff", "per_bag", None,
        "receive_start", "received", "receive_start", "received", "staff",
        status="receiving", wait="receiving wait", wait_label="receiving queue",
        process="receiving", process_label="receiving",
    ),
    Stage(
        "loading", "plate loading", "plate loading", "plate", "staff", "per_plate", None,
        "formed", "loaded", "plate_formed", "plated", "loader",
        status="waiting for a plate", wait="plate wait", wait_label="waiting for a plate",
        process="loading", process_label="plate loading", in_process="loading",
        forms_plates=True,
    ),
    Stage(
        "extraction", "extraction", "extraction", "plate", "instruments", "run", "plates_per_run",
        "extraction_start", "extraction_end", "extraction_start", "extraction_end",
        "extraction_instrument",
        status="extraction", wait="extraction wait", wait_label="extraction queue",
        process="extraction", process_label="extraction",
    ),
    Stage(
        "pcr", "PCR", "PCR", "plate", "instruments", "run", None,
        "pcr_start", "pcr_end", "pcr_start", "pcr_end", "pcr_instrument",
        status="PCR", wait="PCR wait", wait_label="PCR queue", process="PCR", process_label="PCR",
    ),
    Stage(
        "report", "report", "reporting", "plate", "staff", "per_plate", None,
        "report_start", "reported", "report_start", "reported", None,
        status="report", wait="report wait", wait_label="report queue",
        process="report", process_label="report", process_group="reporting",
    ),
)  # fmt: skip
BAG_STAGES = tuple(s for s in STAGES if s.unit == "bag")
PLATE_STAGES = tuple(s for s in STAGES if s.unit == "plate")
STAGE_NAMES = tuple(s.name for s in STAGES)
assert [s.unit for s in STAGES] == sorted(s.unit for s in STAGES), "bag stages come first"
assert PLATE_STAGES[0].forms_plates and sum(s.forms_plates for s in STAGES) == 1


def stage(name: str) -> Stage:
    """The stage called ``name``."""
    for s in STAGES:
        if s.name == name:
            return s
    raise KeyError(f"no lab stage '{name}' (stages: {', '.join(STAGE_NAMES)})")


@dataclass(frozen=True)
class Segment:
    """A stretch of a tube's life, from one tube-table column to another."""

    name: str  # "PCR wait"
    label: str  # what the terminal calls it: "PCR queue"
    group: str  # the kind of time it is ("lab queue", "in process" ...): the figure's colour
    start: str  # tube-table columns
    end: str
    resource: str | None  # what a wait waits for: "sampling", "transport" or a stage; None: a run


def _segments() -> tuple[Segment, ...]:
    out = [
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
    ]  # fmt: skip
    before = "delivered_h"
    for s in STAGES:
        start, end = f"{s.tube_start}_h", f"{s.tube_end}_h"
        out.append(Segment(s.wait, s.wait_label, "lab queue", before, start, s.name))
        out.append(Segment(s.process, s.process_label, s.process_group, start, end, None))
        before = end
    return tuple(out)


SEGMENTS = _segments()
SEGMENT_LABELS = {seg.name: seg.label for seg in SEGMENTS}
#: what a bottleneck line calls the resource behind a wait
RESOURCE_LABELS = {
    "sampling": "sampling",
    "transport": "transport",
    **{s.name: s.resource for s in STAGES},
}
GROUP_COLOURS = {
    "waiting in line": "#17becf",
    "filling the tube": "#1f77b4",
    "waiting for pickup": "#ff7f0e",
    "in transit": "#bcbd22",
    "lab queue": "#d62728",
    "in process": "#7f7f7f",
    "reporting": "#9467bd",
}
assert {seg.group for seg in SEGMENTS} <= set(GROUP_COLOURS)


def utilisation_label(key: str) -> str:
    """A ``summary.json`` utilisation key as a planner reads it ("lab pcr" -> "lab PCR")."""
    head, _, name = key.partition(" ")
    labels = {s.name: s.label for s in STAGES}
    return f"{head} {labels[name]}" if head == "lab" and name in labels else key


def _status_steps() -> tuple[tuple[str, str], ...]:
    steps = [("at point", "first_swab_h"), ("in transit", "picked_up_h")]
    before = "delivered_h"
    for s in STAGES:
        steps.append((s.status, before))
        if s.in_process is not None:
            steps.append((s.in_process, f"{s.tube_start}_h"))
        before = f"{s.tube_end}_h"
    steps.append(("reported", before))
    return tuple(steps)


#: where a tube stands: the furthest of these columns it reached names its status (in order)
STATUS_STEPS = _status_steps()
STATUS_ORDER = (
    "reported",
    "not swabbed",
    *(word for word, _ in STATUS_STEPS if word != "reported"),
)
