"""The building blocks of every natsim page (``report.html``): style, escaping, tables,
embedded figures and the document around them.

A page is one self-contained file: the CSS is inline, there is no JavaScript,
no font, style sheet or picture is fetched from anywhere (every figure is a PNG
in a ``data:`` URI), so the file alone can be mailed, copied or opened offline.
It reads on a screen (wide tables scroll inside their box instead of widening
the page) and prints on A4: figures scaled to the width of the paper, table
rows never split, table headers repeated on every page, and each section of the
page starting on a new sheet. Every piece of text that comes from a scenario or
a folder (names, ids, paths) is HTML-escaped by :func:`e`.
"""

from __future__ import annotations

import base64
import math
import struct
from collections.abc import Iterable, Sequence
from html import escape
from typing import Any

from .units import format_share

#: P(met) at or above this reads as met (green), as the terminal and the figures colour it
P_GOOD = 0.9
#: P(met) at or above this (and below P_GOOD) reads as uncertain (amber)
P_FAIR = 0.5

CSS = """
* { box-sizing: border-box; }
html { color-scheme: light; }
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans",
       "Helvetica Neue", Arial, sans-serif; color: #1d1d1f; background: #fff;
       max-width: 1150px; margin: 1.5em auto; padding: 0 1em; line-height: 1.45; }
h1 { font-size: 1.6em; margin: 0 0 0.2em; overflow-wrap: anywhere; }
h2 { font-size: 1.25em; border-bottom: 2px solid #ddd; padding-bottom: 0.2em; margin-top: 1.8em; }
h3 { font-size: 1.05em; margin: 1.2em 0 0.4em; }
.meta { color: #555; margin: 0.2em 0 0.8em; }
.verdict { font-size: 1.2em; font-weight: 600; padding: 0.6em 0.9em; border-radius: 6px;
           margin: 0.5em 0 0.6em; overflow-wrap: anywhere; }
.verdict.good { background: #e7f5e7; border-left: 6px solid #1b6e1b; }
.verdict.bad { background: #fbe9e9; border-left: 6px solid #b01010; }
.verdict.fair { background: #fff4e0; border-left: 6px solid #d08000; }
.verdict.info { background: #eaf1fb; border-left: 6px solid #2a5db0; }
.verdict .sep { color: #888; font-weight: 400; }
.verdict small { font-weight: 400; }
.v { font-weight: 700; letter-spacing: 0.02em; }
.v.met, .p.good { color: #1b6e1b; }
.v.missed, .p.bad { color: #b01010; }
.p.fair { color: #a05a00; }
.p { font-weight: 700; }
.badge { display: inline-block; padding: 0.05em 0.5em; border-radius: 4px; color: #fff;
         font-weight: 700; font-size: 0.9em; letter-spacing: 0.03em; }
.badge.met { background: #1b6e1b; }
.badge.missed { background: #b01010; }
.wide { max-width: 100%; overflow-x: auto; margin: 0.5em 0 1em; }
table { border-collapse: collapse; font-size: 0.93em; }
th, td { padding: 0.3em 0.6em; border-bottom: 1px solid #e3e3e3; text-align: left;
         vertical-align: top; }
th { background: #f4f4f6; font-weight: 600; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
td.num { white-space: nowrap; }
tr.chosen td { background: #e7f5e7; font-weight: 600; }
.facts { display: grid; grid-template-columns: repeat(auto-fit, minmax(320px, 1fr));
         gap: 0 2em; }
.facts p { margin: 0.35em 0; }
.warn { background: #fff4e0; border-left: 6px solid #d08000; padding: 0.5em 0.9em;
        border-radius: 6px; margin: 0.8em 0; }
code, .cmd { font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace;
             font-size: 0.9em; overflow-wrap: anywhere; }
.cmd { display: block; background: #f4f4f6; padding: 0.5em 0.8em; border-radius: 4px; }
ul.changes { columns: 2 26em; margin: 0.4em 0 1em; padding-left: 1.2em; }
ul.changes li { break-inside: avoid; overflow-wrap: anywhere; }
figure { margin: 1.2em 0 2em; }
figure img { display: block; max-width: 100%; height: auto; border: 1px solid #e3e3e3; }
figcaption { color: #444; font-size: 0.93em; margin-top: 0.3em; }
.missing { border: 1px dashed #bbb; color: #666; padding: 1.5em; text-align: center; }
footer { color: #777; font-size: 0.85em; margin-top: 3em; border-top: 1px solid #ddd;
         padding-top: 0.5em; overflow-wrap: anywhere; }
@page { size: A4; margin: 14mm 12mm 16mm 12mm; }
@media print {
  body { max-width: none; margin: 0; padding: 0; font-size: 9.5pt; }
  section + section { break-before: page; }
  h1, h2, h3 { break-after: avoid; }
  h2 { margin-top: 0.6em; }
  .verdict, .warn, figure, tr, .facts p, li { break-inside: avoid; }
  .verdict, .warn, .badge, th, tr.chosen td { -webkit-print-color-adjust: exact;
                                              print-color-adjust: exact; }
  .wide { overflow: visible; }
  table { width: 100%; font-size: 7.5pt; }
  thead { display: table-header-group; }
  th, td, td.num { padding: 0.15em 0.35em; overflow-wrap: break-word; white-space: normal; }
  .facts { display: block; }
  figure { margin: 0.6em 0 1em; }
  figure img { width: 100%; max-height: 235mm; object-fit: contain; border: none; }
  ul.changes { columns: 2; }
  footer { margin-top: 1.5em; }
}
"""


# -- text --------------------------------------------------------------------------
def e(value: Any) -> str:
    """``value`` as HTML text (escaped, quotes too)."""
    return escape(str(value), quote=True)


def finite(value: Any) -> bool:
    """Whether ``value`` is a number that is not None, NaN or infinite."""
    try:
        return value is not None and math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


def pct(share: float | None, digits: int = 0) -> str:
    """A share as a percentage ("--" when unknown)."""
    if not finite(share):
        return "--"
    assert share is not None
    return format_share(float(share), digits)


def hours(value: float | None, digits: int = 2, sign: bool = False) -> str:
    """Hours with ``digits`` decimals ("--" when unknown)."""
    if not finite(value):
        return "--"
    assert value is not None
    return f"{float(value):{'+' if sign else ''}.{digits}f}"


def interval(low: float | None, high: float | None, digits: int = 2, sign: bool = False) -> str:
    """``[low, high]`` ("--" when either end is unknown)."""
    if not (finite(low) and finite(high)):
        return "--"
    return f"[{hours(low, digits, sign)}, {hours(high, digits, sign)}]"


def p_class(p: float | None) -> str:
    """The colour class of a P(met): good from 0.9, fair from 0.5, bad below."""
    if not finite(p):
        return "bad"
    assert p is not None
    return "good" if p >= P_GOOD else ("fair" if p >= P_FAIR else "bad")


def verdict_word(met: bool) -> str:
    """MET / MISSED as the verdict line shows it (not a table badge)."""
    return '<b class="v met">MET</b>' if met else '<b class="v missed">MISSED</b>'


def p_met(p: float | None, low: float | None, high: float | None) -> str:
    """``P(met) 0.95 [0.83, 0.99]`` coloured by :func:`p_class`."""
    shown = hours(p, 2)
    return f'<span class="p {p_class(p)}">P(met) {e(shown)}</span> {e(interval(low, high))}'


def p_cell(p: float | None, low: float | None, high: float | None) -> str:
    """A table cell's P(met): ``0.95 [0.83, 0.99]``, the estimate coloured."""
    return f'<span class="p {p_class(p)}">{e(hours(p, 2))}</span> {e(interval(low, high))}'


def verdict(parts: Sequence[str], kind: str) -> str:
    """The one-line answer at the top of a page: ``parts`` (HTML) joined by dots;
    ``kind`` is good, bad, fair or info."""
    joined = ' <span class="sep">&middot;</span> '.join(p for p in parts if p)
    return f'<p class="verdict {kind}" id="verdict">{joined}</p>'


# -- tables ------------------------------------------------------------------------
def table(
    header: Sequence[str],
    rows: Iterable[Sequence[str]],
    numeric: Sequence[int] = (),
    row_classes: Sequence[str] | None = None,
) -> str:
    """An HTML table in a box that scrolls sideways on a narrow screen (never in print);
    ``header`` and ``rows`` must already be escaped HTML."""

    def cell(tag: str, i: int, text: str) -> str:
        cls = ' class="num"' if i in numeric else ""
        return f"<{tag}{cls}>{text}</{tag}>"

    head = "".join(cell("th", i, h) for i, h in enumerate(header))
    lines = []
    for n, row in enumerate(rows):
        cls = row_classes[n] if row_classes is not None and n < len(row_classes) else ""
        attr = f' class="{cls}"' if cls else ""
        lines.append(f"<tr{attr}>" + "".join(cell("td", i, c) for i, c in enumerate(row)) + "</tr>")
    body = "\n".join(lines)
    return (
        f'<div class="wide"><table>\n<thead><tr>{head}</tr></thead>\n<tbody>\n{body}\n'
        "</tbody>\n</table></div>"
    )


# -- figures -----------------------------------------------------------------------
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) of a PNG from its header, None if ``data`` is not a PNG."""
    if len(data) < 24 or not data.startswith(PNG_SIGNATURE) or data[12:16] != b"IHDR":
        return None
    width, height = struct.unpack(">II", data[16:24])
    return int(width), int(height)


def data_uri(data: bytes) -> str:
    """A PNG as a ``data:`` URI, for an ``<img>`` that needs no file beside the page."""
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")


def figure(data: bytes | None, title: str, caption: str, name: str = "") -> str:
    """A figure embedded in the page (``data`` a PNG), with its caption; without ``data``
    (or not a PNG) a box that says the picture is missing (never a link to a file)."""
    size = png_size(data) if data is not None else None
    head = f"<b>{e(title)}.</b> {e(caption)}" if caption else f"<b>{e(title)}.</b>"
    if data is None or size is None:
        what = f" ({e(name)})" if name else ""
        return (
            f'<figure><div class="missing">figure not available{what}: natsim report '
            "draws the figures a run folder lacks</div>"
            f"<figcaption>{head}</figcaption></figure>"
        )
    width, height = size
    return (
        f'<figure><img src="{data_uri(data)}" width="{width}" height="{height}" '
        f'alt="{e(title)}"><figcaption>{head}</figcaption></figure>'
    )


# -- the document ------------------------------------------------------------------
def document(title: str, sections: Sequence[str], footer: str) -> str:
    """The whole page: ``sections`` (HTML, each printed from a new sheet) and a footer."""
    body = "\n".join(f"<section>\n{s}\n</section>" for s in sections if s)
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{e(title)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n"
        f"{body}\n<footer>{footer}</footer>\n</body>\n</html>\n"
    )


def footer(manifest: dict[str, Any] | None, files: str) -> str:
    """The footer: the natsim version and when the folder was written (from its manifest,
    so rebuilding a page gives the same page), and which files hold the numbers."""
    from datetime import datetime

    from .version import __version__

    manifest = manifest or {}
    version = manifest.get("natsim") or __version__
    written = str(manifest.get("written") or datetime.now().isoformat(timespec="seconds"))
    return (
        f"natsim {e(version)} &middot; written {e(written.replace('T', ' ')[:16])} &middot; {files}"
    )
