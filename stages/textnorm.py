"""Text normalisation shared by every rule that *matches* text against a list.

Why one owner: a word list (safety), a benchmark index (decontamination) and anything else that
asks "does this text contain that phrase" must normalise both sides the same way, or a soft
hyphen, a zero-width space or fullwidth letters inside a word walk the text around the rule.
The normal form is NFKC (fullwidth/compatibility characters folded to their plain forms) with
every Unicode *format* character (category Cf: soft hyphen, zero-width space/joiners, word
joiner, BOM, bidi controls, ...) removed. Case folding and word splitting stay with the caller,
which knows its own unit.
"""
from __future__ import annotations

import re
import sys
import unicodedata


def _format_class() -> str:
    """A regex character class of every code point in Unicode category Cf."""
    ranges: list[tuple[int, int]] = []
    for code in range(sys.maxunicode + 1):
        if unicodedata.category(chr(code)) == "Cf":
            if ranges and ranges[-1][1] == code - 1:
                ranges[-1] = (ranges[-1][0], code)
            else:
                ranges.append((code, code))
    parts = [re.escape(chr(lo)) if lo == hi else f"{re.escape(chr(lo))}-{re.escape(chr(hi))}"
             for lo, hi in ranges]
    return "[" + "".join(parts) + "]"


FORMAT_CHARS = re.compile(_format_class())


def strip_format_chars(text: str) -> str:
    """``text`` without Unicode format characters (a search first: most texts have none)."""
    if FORMAT_CHARS.search(text) is None:
        return text
    return FORMAT_CHARS.sub("", text)


def normalize_for_matching(text: str) -> str:
    """Format characters removed, then NFKC. Idempotent; cheap on already-normal text (a C
    quick check decides whether NFKC has anything to do)."""
    text = strip_format_chars(text)
    if not unicodedata.is_normalized("NFKC", text):
        text = unicodedata.normalize("NFKC", text)
        text = strip_format_chars(text)  # NFKC never makes Cf today; cheap insurance
    return text
