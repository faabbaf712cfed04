"""Reading a planner's files safely: regular files only, bounded in size, decoded as text.

Scenario files and the CSVs beside them are edited by hand and passed around, so
anything can arrive under a ``.yaml`` or ``.csv`` name: a directory, a device
such as ``/dev/zero`` (which never ends), a spreadsheet saved as Latin-1 or
UTF-16, a binary file. Each is refused here with one line that says what the
file is and what to do, before a parser sees it (a parser would raise a
traceback, or read forever).

Text is UTF-8 (a leading byte-order mark is dropped). UTF-16 with its
byte-order mark, which spreadsheet programs write as "Unicode text", is read
too. Anything else is an error naming the line and column of the first byte
that is not UTF-8.
"""

from __future__ import annotations

import codecs
import os
import stat
from pathlib import Path

from .errors import ScenarioError

MAX_YAML_BYTES = 64 * 2**20  # a scenario is kilobytes; big tables belong in CSV files
MAX_CSV_BYTES = 4 * 2**30  # a 25-million-resident city's zones are ~100 MB


def regular_file(path: Path, shown: str, limit: int) -> int:
    """The size of ``path`` after checking it is a regular file under ``limit`` bytes."""
    try:
        info = path.stat()
    except FileNotFoundError:
        raise ScenarioError(shown, None, "", "no such file") from None
    except OSError as exc:
        raise ScenarioError(shown, None, "", f"cannot read: {exc.strerror}") from None
    if stat.S_ISDIR(info.st_mode):
        raise ScenarioError(shown, None, "", "is a directory, not a file")
    if not stat.S_ISREG(info.st_mode):
        raise ScenarioError(shown, None, "", "is not a regular file (a device, a pipe or a socket)")
    if info.st_size > limit:
        raise ScenarioError(
            shown,
            None,
            "",
            f"is {info.st_size / 2**20:,.0f} MB, more than the {limit / 2**20:,.0f} MB "
            "natsim reads from a file of this kind",
        )
    if not os.access(path, os.R_OK):
        raise ScenarioError(shown, None, "", "cannot read: permission denied")
    return info.st_size


def read_text(path: Path, shown: str, limit: int) -> str:
    """The text of ``path`` (see the module notes); ``shown`` names it in errors."""
    regular_file(path, shown, limit)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ScenarioError(shown, None, "", f"cannot read: {exc.strerror}") from None
    return decode(data, shown)


def decode(data: bytes, shown: str) -> str:
    """UTF-8 (or UTF-16 with a byte-order mark) bytes as text, or a located error."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError:
            raise ScenarioError(
                shown, None, "", "starts as UTF-16 but is not: save it as UTF-8"
            ) from None
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8) :]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        before = data[: exc.start]
        line = before.count(b"\n") + 1
        column = exc.start - (before.rfind(b"\n") + 1) + 1
        what = "a binary file, not text" if b"\x00" in data[:8192] else "not UTF-8 text"
        raise ScenarioError(
            shown,
            line,
            "",
            f"{what} (byte 0x{data[exc.start]:02x} at column {column}): save it as UTF-8",
        ) from None
    if "\x00" in text:
        line = text[: text.index("\x00")].count("\n") + 1
        raise ScenarioError(shown, line, "", "a binary file, not text (a NUL byte)")
    return text
