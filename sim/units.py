"""Durations, clock times and speeds as planners write them, as seconds inside the model.

Inside natsim every time is a float number of seconds; the round starts at 0.
Scenario files speak the planner's language instead: durations carry units
("25s", "75min", "2h", "1h30min"), clock times are "HH:MM" (optionally "+1"
for the next day, e.g. "02:00+1"), speeds are "30km/h". A bare number is refused
for a duration because "30" could be seconds or minutes, and guessing wrong
silently changes the answer by a factor of 60.
"""

from __future__ import annotations

import math
import re

SECOND = 1.0
MINUTE = 60.0
HOUR = 3600.0
DAY = 86400.0

_UNIT_SECONDS = {
    "s": SECOND,
    "sec": SECOND,
    "min": MINUTE,
    "m": MINUTE,
    "h": HOUR,
    "d": DAY,
}
_PART = re.compile(r"\s*(\d+(?:\.\d+)?|\.\d+)\s*(s|sec|min|m|h|d)\s*")
_CLOCK = re.compile(r"^\s*(\d{1,2}):(\d{2})(?::(\d{2}))?\s*(\+\d+)?\s*$")
_SPEED = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(km/h|kmh|m/s)\s*$")


def parse_duration(text: str | float | int) -> float:
    """Seconds in a duration such as "25s", "75min", "2h" or "1h30min".

    Numbers without a unit are rejected (see the module docstring); 0 is the one
    exception because it means the same in every unit.
    """
    if isinstance(text, bool):
        raise ValueError("a duration needs a unit, e.g. '25s', '75min', '2h'")
    if isinstance(text, int | float):
        if text == 0:
            return 0.0
        raise ValueError(f"'{text}' has no unit: write e.g. '{text}s', '{text}min' or '{text}h'")
    s = str(text).strip()
    if s in ("0", "0.0"):
        return 0.0
    pos = 0
    total = 0.0
    while pos < len(s):
        m = _PART.match(s, pos)
        if not m or m.end() == pos:
            raise ValueError(
                f"'{text}' is not a duration: write e.g. '25s', '75min', '2h' or '1h30min'"
            )
        total += float(m.group(1)) * _UNIT_SECONDS[m.group(2)]
        pos = m.end()
    if not s:
        raise ValueError("empty duration")
    return total


def parse_clock(text: str) -> float:
    """Seconds after midnight of a clock time "HH:MM" (or "HH:MM:SS"; "+1" for the next day)."""
    m = _CLOCK.match(str(text))
    if not m:
        raise ValueError(f"'{text}' is not a clock time: write 'HH:MM', e.g. '07:00'")
    hh, mm, ss = int(m.group(1)), int(m.group(2)), int(m.group(3) or 0)
    if hh > 23 or mm > 59 or ss > 59:
        raise ValueError(f"'{text}' is not a valid clock time")
    days = int(m.group(4)) if m.group(4) else 0
    return days * DAY + hh * HOUR + mm * MINUTE + ss


def parse_speed(text: str | float | int) -> float:
    """Metres per second in a speed such as "30km/h" or "8m/s"."""
    if isinstance(text, int | float) and not isinstance(text, bool):
        raise ValueError(f"'{text}' has no unit: write e.g. '{text}km/h'")
    m = _SPEED.match(str(text))
    if not m:
        raise ValueError(f"'{text}' is not a speed: write e.g. '30km/h'")
    value = float(m.group(1))
    return value / 3.6 if m.group(2) in ("km/h", "kmh") else value


def format_duration(seconds: float) -> str:
    """A compact unit string that parses back to the same value ("1h30min", "25s")."""
    if seconds == 0:
        return "0s"
    if seconds % HOUR == 0:
        return f"{int(seconds // HOUR)}h"
    if seconds % MINUTE == 0:
        if seconds > HOUR:
            return f"{int(seconds // HOUR)}h{int(seconds % HOUR // MINUTE)}min"
        return f"{int(seconds // MINUTE)}min"
    if float(seconds).is_integer():
        return f"{int(seconds)}s"
    return f"{seconds!r}s"


def format_clock(seconds_after_midnight: float) -> str:
    """The time of day as "HH:MM", with "+N" when it falls on a later day."""
    whole = round(seconds_after_midnight)
    days, secs = divmod(whole, int(DAY))
    text = f"{secs // 3600:02d}:{secs % 3600 // 60:02d}"
    if secs % 60:
        text += f":{secs % 60:02d}"
    return f"{text}+{days}" if days else text


def format_minute(seconds_after_midnight: float) -> str:
    """The time of day to the minute, "HH:MM" ("+N" on a later day): what a planner reads."""
    return format_clock(math.floor(seconds_after_midnight / MINUTE + 1e-6) * MINUTE)


def hours(seconds: float) -> float:
    """Seconds as hours (for tables and figures a planner reads)."""
    return seconds / HOUR


def format_share(share: float, digits: int = 1) -> str:
    """A share as a percentage that never shows 100 % unless it is all, nor 0 % unless it
    is none ("99.9 %" for 0.99997: a missed target must not read "100.0 % reported")."""
    scale = 10**digits
    value = float(round(100 * share * scale))
    if 0 < share < 1:  # rounded, but never to all or none
        value = min(max(value, 1.0), 100 * scale - 1.0)
    return f"{value / scale:.{digits}f} %"
