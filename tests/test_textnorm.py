"""The shared matching normal form: the spellings that walked around word lists and the
benchmark index all fold to the plain word."""
from __future__ import annotations

import pytest

from stages.textnorm import normalize_for_matching, strip_format_chars


@pytest.mark.parametrize("spelling", [
    "bad\u00adword",          # soft hyphen
    "bad\u200bword",          # zero-width space
    "bad\u200cword",          # zero-width non-joiner
    "bad\u200dword",          # zero-width joiner
    "bad\u2060word",          # word joiner
    "\ufeffbadword",          # BOM
    "bad\u202eword",          # bidi override
    "ｂａｄｗｏｒｄ",            # fullwidth
    "ｂａｄ\u00adｗｏｒｄ",      # both
])
def test_spellings_fold_to_the_plain_word(spelling: str) -> None:
    assert normalize_for_matching(spelling) == "badword"


def test_plain_text_is_returned_unchanged_and_idempotent() -> None:
    text = "The quick brown fox — 狐狸 — jumps.\nSecond line."
    assert normalize_for_matching(text) is text or normalize_for_matching(text) == text
    once = normalize_for_matching("ﬁle ｘ\u00ad")
    assert once == "file x"
    assert normalize_for_matching(once) == once


def test_strip_keeps_ordinary_characters() -> None:
    assert strip_format_chars("a\u00adb c\td\ne") == "ab c\td\ne"
