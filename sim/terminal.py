"""The console natsim prints to (kept apart so the command line starts without pandas)."""

from __future__ import annotations

import sys

from rich.console import Console

#: columns of output that is not a terminal (a file, a pipe, CI's log): wide enough that
#: no line natsim prints is wrapped
PIPE_WIDTH = 240


def terminal(stderr: bool = False) -> Console:
    """The terminal's width, or :data:`PIPE_WIDTH` columns when the output is a file or a
    pipe (a log is not wrapped at 80 columns), and no automatic highlighting (which would
    colour the digits inside a point's id)."""
    stream = sys.stderr if stderr else sys.stdout
    return Console(stderr=stderr, width=None if stream.isatty() else PIPE_WIDTH, highlight=False)
