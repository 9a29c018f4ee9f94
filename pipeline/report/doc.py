"""A tiny document model the report is written in, with two serialisers (Markdown, HTML).

Why not build Markdown and convert it: record content (ids, URLs, sample text, error messages,
file names) ends up in the report, and Markdown that carries ``<script>`` is live HTML in most
viewers. Here every string is plain text until a serialiser escapes it for its own format, so
neither output can be injected into and the HTML never double-escapes.

Blocks: ``H(text)``, ``P(*spans)``, ``Note(*spans)``, ``Warn(*spans)``, ``NotRun(text)``,
``Table(header, rows)``, ``Figure(key)`` (an SVG the HTML renderer draws; Markdown skips it).
Spans are plain ``str`` or ``B(text)`` (bold) / ``Code(text)``.
"""
from __future__ import annotations

import html
import re
import unicodedata
from dataclasses import dataclass, field
from typing import Callable, Union


@dataclass(frozen=True)
class B:
    text: str


@dataclass(frozen=True)
class Code:
    text: str


Span = Union[str, B, Code]


@dataclass(frozen=True)
class H:
    text: str


@dataclass(frozen=True)
class P:
    spans: tuple[Span, ...]

    def __init__(self, *spans: Span) -> None:
        object.__setattr__(self, "spans", tuple(spans))


class Note(P):
    """A grey footnote-style paragraph."""


class Warn(P):
    """A paragraph the reader must not miss (demo resources, extrapolations)."""


@dataclass(frozen=True)
class NotRun:
    text: str


@dataclass(frozen=True)
class Table:
    header: list[str]
    rows: list[list[Span | list[Span]]] = field(default_factory=list)


@dataclass(frozen=True)
class Figure:
    key: str


Block = Union[H, P, NotRun, Table, Figure]

# ------------------------------------------------------------------ shared: visible characters
_INVISIBLE = {"Cc", "Cf", "Zl", "Zp"}


def visible(text: object) -> str:
    """Record text made safe to look at: line breaks and tabs become spaces, control and
    format characters (bidi overrides, zero-width spaces, NUL...) become ``{U+XXXX}`` so a
    right-to-left override cannot reorder the report and a zero-width space is seen."""
    out = []
    for char in str(text):
        if char in "\r\n\t":
            out.append(" ")
        elif unicodedata.category(char) in _INVISIBLE:
            out.append(f"{{U+{ord(char):04X}}}")
        else:
            out.append(char)
    return "".join(out)


# ------------------------------------------------------------------ Markdown
_MD_ESCAPE = {"\\": "\\\\", "`": "\\`", "*": "\\*", "[": "\\[", "]": "\\]", "|": "\\|",
              "~": "\\~", "&": "&amp;", "<": "&lt;"}
# Characters Markdown treats as syntax anywhere in a line; "<" only where it could open raw HTML
# or an autolink (followed by a letter, "/", "!" or "?"), "&" only where it could be an entity.
_MD_RE = re.compile(r"[\\`*\[\]|~]|<(?=[A-Za-z/!?])|&(?=#|[A-Za-z][A-Za-z0-9]*;)")
_UNDERSCORE = re.compile(r"(?<![0-9A-Za-z])_|_(?![0-9A-Za-z])")  # emphasis-capable underscores
_LINE_START = re.compile(r"^(\s*)([#>+=-]|\d+[.)])")  # headings, quotes, lists at a line start


def md_escape(text: object) -> str:
    """Plain text -> Markdown that renders as exactly that text (GFM / CommonMark): anything
    that could open raw HTML, an autolink or an entity becomes an entity, Markdown punctuation
    is backslash-escaped, underscores inside words (``gopher_word_count``) are left alone since
    they cannot start emphasis. Line-start syntax is handled per block (``_line_start``)."""
    out = _MD_RE.sub(lambda m: _MD_ESCAPE[m.group(0)[0]], visible(text))
    return _UNDERSCORE.sub(r"\\_", out)


def _line_start(line: str) -> str:
    """Escape a heading / quote / list marker that a paragraph would otherwise start with."""
    def fix(m: re.Match) -> str:
        mark = m.group(2)
        if mark[0].isdigit():  # "1." starts an ordered list: escape the punctuation
            return m.group(1) + mark[:-1] + "\\" + mark[-1]
        return m.group(1) + "\\" + mark
    return _LINE_START.sub(fix, line, count=1)


def _md_code(text: str, in_table: bool) -> str:
    body = visible(text)
    ticks = "`" * (max((len(m) for m in re.findall(r"`+", body)), default=0) + 1)
    if in_table:
        body = body.replace("|", "\\|")
    pad = " " if body.startswith("`") or body.endswith("`") else ""
    return f"{ticks}{pad}{body}{pad}{ticks}"


def _md_spans(spans: tuple[Span, ...] | list[Span], in_table: bool = False) -> str:
    out = []
    for span in spans:
        if isinstance(span, B):
            out.append(f"**{md_escape(span.text)}**")
        elif isinstance(span, Code):
            out.append(_md_code(span.text, in_table))
        else:
            out.append(md_escape(span))
    return "".join(out)


def _md_cell(cell: Span | list[Span]) -> str:
    spans = cell if isinstance(cell, list) else [cell]
    text = _md_spans(spans, in_table=True)
    return text if text else " "


def to_markdown(blocks: list[Block]) -> str:
    lines: list[str] = []
    for block in blocks:
        if isinstance(block, H):
            lines += [f"## {md_escape(block.text)}", ""]
        elif isinstance(block, Warn):
            lines += [f"> **Warning:** {_md_spans(block.spans)}", ""]
        elif isinstance(block, Note):
            lines += [f"_{_md_spans(block.spans)}_", ""]
        elif isinstance(block, P):
            lines += [_line_start(_md_spans(block.spans)), ""]
        elif isinstance(block, NotRun):
            lines += [f"_not run_: {md_escape(block.text)}", ""]
        elif isinstance(block, Table):
            lines.append("| " + " | ".join(_md_cell(c) for c in block.header) + " |")
            lines.append("|" + "---|" * len(block.header))
            lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in block.rows]
            lines.append("")
    return "\n".join(lines)


# ------------------------------------------------------------------ HTML
def esc(value: object) -> str:
    return html.escape(visible(value), quote=True)


def _html_spans(spans: tuple[Span, ...] | list[Span]) -> str:
    out = []
    for span in spans:
        if isinstance(span, B):
            out.append(f"<b>{esc(span.text)}</b>")
        elif isinstance(span, Code):
            out.append(f"<code>{esc(span.text)}</code>")
        else:
            out.append(esc(span))
    return "".join(out)


_NUMERIC = re.compile(r"^[≈~+\-]?[0-9][0-9,.]*(e[+-]?[0-9]+)?\s*(%|[KMBT]|days?|hours?|minutes?)?"
                      r"(\s*\(est\.\))?$")


def _numeric(cell: Span | list[Span]) -> bool:
    return isinstance(cell, str) and bool(_NUMERIC.match(cell.strip()))


def to_html(blocks: list[Block], figures: Callable[[str], str | None] = lambda key: None) -> str:
    out: list[str] = []
    for block in blocks:
        if isinstance(block, H):
            out.append(f"<h2>{esc(block.text)}</h2>")
        elif isinstance(block, Warn):
            out.append(f'<p class="warn"><b>Warning:</b> {_html_spans(block.spans)}</p>')
        elif isinstance(block, Note):
            out.append(f'<p class="note">{_html_spans(block.spans)}</p>')
        elif isinstance(block, P):
            out.append(f"<p>{_html_spans(block.spans)}</p>")
        elif isinstance(block, NotRun):
            out.append(f'<p class="notrun"><b>not run</b>: {esc(block.text)}</p>')
        elif isinstance(block, Table):
            out.append('<div class="scroll"><table><thead><tr>'
                       + "".join(f"<th>{esc(c)}</th>" for c in block.header)
                       + "</tr></thead><tbody>")
            for row in block.rows:
                cells = []
                for cell in row:
                    inner = _html_spans(cell if isinstance(cell, list) else [cell])
                    cls = ' class="num"' if _numeric(cell) else ""
                    cells.append(f"<td{cls}>{inner}</td>")
                out.append("<tr>" + "".join(cells) + "</tr>")
            out.append("</tbody></table></div>")
        elif isinstance(block, Figure):
            svg = figures(block.key)
            if svg:
                out.append(f'<div class="figure">{svg}</div>')
    return "\n".join(out)
