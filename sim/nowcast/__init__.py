"""Stop a round and save its state; forecast the rest of a round from a state (a nowcast).

``natsim run SCENARIO --until 10:00`` (:func:`stop_and_save`) writes a round's state
at 10:00 as a folder of readable files; ``natsim nowcast SCENARIO --state DIR``
(:func:`nowcast`) forecasts the rest of the round from such a folder, or from one a
planner fills in with the counts of the day (:mod:`.files`, :mod:`.observed`).
See docs/nowcast.md.
"""

from .files import StateFolder, read_state, write_state
from .forecast import nowcast, stop_and_save

__all__ = ["StateFolder", "nowcast", "read_state", "stop_and_save", "write_state"]
