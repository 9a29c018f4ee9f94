"""Pure text units the rule stages count: words per language, lines, paragraphs, stop words.

Why one module: the quality and repetition rules (Gopher, Rae et al. 2021, App. A) are defined
over "words", "lines" and "paragraphs" without saying what those are; every choice here changes
which documents survive, so each is made once, documented once (docs/rules.md) and shared.

Choices (all single-pass, C-level string methods, no regex per word):

- *tokens*: for spaced languages ``text.split()`` (any Unicode whitespace; the separators
  \\x1c..\\x1f count as whitespace too). For unspaced languages (zh, ja by default) tokens come from
  jieba (zh) or from characters: each CJK character is a token, runs of other non-space
  characters (Latin words, numbers inside Chinese text) stay one token.
- *words*: tokens with leading/trailing punctuation and symbols stripped (``str.strip(PUNCT)``),
  empty results dropped. So ``"end."`` is the word ``end`` and a lone ``"|"`` or ``"--"`` is no
  word. This approximates a tokenizer that splits punctuation off (datatrove uses spaCy/NLTK)
  at a fraction of the cost.
- *lines*: ``str.splitlines()``, each stripped, blank lines dropped (blank lines are layout, not
  content; counting them would dilute the bullet/ellipsis/duplicate-line fractions).
- *paragraphs*: maximal runs of non-blank lines (separated by one or more blank lines), the
  stripped lines joined with "\\n".
"""
from __future__ import annotations

import re
from functools import lru_cache
import unicodedata
from typing import Callable, Iterable, Literal, Sequence

from pydantic import Field

from stages.settings import Section, StageSection

# --------------------------------------------------------------------------- punctuation ---


def _build_punct() -> str:
    """Every BMP character of Unicode category P* (punctuation) or S* (symbols), plus controls.

    Symbols count as punctuation here because a token like "©", "|", "→" or "$" is not a word
    for the word-count and mean-length rules; alphanumerics inside a token are never stripped.
    """
    chars = []
    for code in range(0x10000):
        if 0xD800 <= code <= 0xDFFF:
            continue
        cat = unicodedata.category(chr(code))
        if cat[0] in "PS" or cat in ("Cc", "Cf"):
            chars.append(chr(code))
    return "".join(chars)


PUNCT: str = _build_punct()
_ASCII_PUNCT = "".join(c for c in PUNCT if c < "\x80")

# --------------------------------------------------------------------------- stop words ----

# Gopher (App. A): "does not contain at least two of the following English words".
# Chinese: the ten function words (particles, prepositions, conjunctions, copula, adverbs) with
# the highest document frequency among jieba words of zh_thucnews (docs/rules.md; the
# localisers 中/上 and the noun 月 rank among them but were skipped as content-like).
STOP_WORDS: dict[str, tuple[str, ...]] = {
    "en": ("the", "be", "to", "of", "and", "that", "have", "with"),
    "zh": ("的", "在", "了", "是", "和", "也", "有", "为", "都", "就"),
}

# ------------------------------------------------------------------------------ config -----

WordMode = Literal["jieba", "chars"]


class Segmentation(Section):
    """How words are made for languages written without spaces."""

    # language code (as the language stage writes doc.lang) -> "jieba" (zh word segmenter) or
    # "chars" (each CJK character is a word). Languages not listed are split on whitespace.
    unspaced: dict[str, WordMode] = Field(default_factory=lambda: {"zh": "jieba", "ja": "chars"})


# ------------------------------------------------------------------------------ units ------

# CJK ideographs (incl. extensions A/B, compatibility), kana, CJK symbols; each is one token in
# "chars" mode. Hangul is excluded: Korean is written with spaces.
_CJK = ("\u3000-\u303f\u3040-\u30ff\u31f0-\u31ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
        "\uff00-\uffef\U00020000-\U0002ebef")
_CHAR_TOKENS = re.compile(f"[{_CJK}]|[^\\s{_CJK}]+")

_jieba_cut: Callable[[str], list[str]] | None = None


def load_jieba() -> Callable[[str], list[str]]:
    """jieba's segmenter, dictionary loaded once per process (call from DoFn.setup)."""
    global _jieba_cut
    if _jieba_cut is None:
        import logging

        import jieba

        jieba.setLogLevel(logging.WARNING)
        jieba.initialize()
        _jieba_cut = jieba.lcut
    return _jieba_cut


def word_mode(lang: str | None, segmentation: Segmentation) -> str:
    """'space', 'jieba' or 'chars' for a document language."""
    if lang is None:
        return "space"
    return segmentation.unspaced.get(lang, "space")


def tokens_of(text: str, mode: str = "space") -> list[str]:
    """Non-whitespace tokens (see module docstring)."""
    if mode == "space":
        return text.split()
    if mode == "chars":
        return _CHAR_TOKENS.findall(text)
    if mode == "jieba":
        return list(_jieba_tokens(text))
    raise ValueError(f"unknown word mode {mode!r}")


def _jieba_tokens(text: str) -> tuple[str, ...]:
    """jieba segments without whitespace (memoised through tokens_and_words)."""
    return tuple(t for t in load_jieba()(text) if t and not t.isspace())


def words_of(tokens: Iterable[str]) -> list[str]:
    """Tokens with surrounding punctuation/symbols stripped; empty ones dropped.

    Equal to ``[t.strip(PUNCT) for t in tokens if t.strip(PUNCT)]``, but ``str.strip`` with
    a 4,500-character set costs ~1 us per call, so pure-alphanumeric tokens skip it and ASCII
    punctuation goes first; the full set only runs when a non-alphanumeric edge remains.
    """
    out: list[str] = []
    append = out.append
    strip = str.strip
    for token in tokens:
        if token.isalnum():
            append(token)
            continue
        word = strip(token, _ASCII_PUNCT)
        if word and not (word[0].isalnum() and word[-1].isalnum()):
            word = strip(word, PUNCT)
        if word:
            append(word)
    return out


@lru_cache(maxsize=16)
def tokens_and_words(text: str, mode: str = "space") -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(tokens, words) of a text, memoised for the last 16 texts.

    Why: Beam fuses the quality and repetition stages, so the same ``str`` object (its hash
    cached, equality by identity) reaches both in a row; this halves the tokenization work.
    Tuples, so no caller can change what the next one sees.
    """
    tokens = tokens_of(text, mode)
    return tuple(tokens), tuple(words_of(tokens))


def lines_and_paragraphs(text: str) -> tuple[list[str], list[str]]:
    """Stripped non-blank lines, and paragraphs (runs of non-blank lines), in one pass."""
    lines: list[str] = []
    paragraphs: list[str] = []
    current: list[str] = []
    for raw in text.splitlines():
        line = raw.strip()
        if line:
            lines.append(line)
            current.append(line)
        elif current:
            paragraphs.append("\n".join(current))
            current = []
    if current:
        paragraphs.append("\n".join(current))
    return lines, paragraphs


@lru_cache(maxsize=16)
def lines_and_paragraphs_memo(text: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """:func:`lines_and_paragraphs` memoised as tuples, for the reason given at
    :func:`tokens_and_words` (quality and repetition split the same text in a row)."""
    lines, paragraphs = lines_and_paragraphs(text)
    return tuple(lines), tuple(paragraphs)


def count_alpha_tokens(tokens: Sequence[str]) -> int:
    """Tokens with at least one alphabetic character; pure-letter tokens take the C fast path."""
    count = 0
    isalpha = str.isalpha
    for token in tokens:
        if isalpha(token) or any(map(isalpha, token)):
            count += 1
    return count


def distinct_stop_words(words: Iterable[str], stop_words: Iterable[str]) -> int:
    """How many *distinct* stop words occur among the words, case-insensitively."""
    stop = frozenset(s.lower() for s in stop_words)
    if not stop:
        return 0
    longest = max(map(len, stop))
    found = {w.lower() for w in set(words) if len(w) <= longest}
    return len(found & stop)


def stop_words_for(lang: str | None, configured: Sequence[str] | None) -> tuple[str, ...]:
    """The configured list, else the built-in list for the language (English when unknown)."""
    if configured is not None:
        return tuple(configured)
    return STOP_WORDS.get(lang or "en", ())


def rule_set_for(lang: str | None, default_languages: Sequence[str], other_languages: str,
                 languages: dict, default: object) -> object | None:
    """The rule set for a document language, or None when the document passes through.

    Order: a language-specific section; else the default (English) rules for the languages
    listed for them, and for documents without a language (language stage off); else the
    ``other_languages`` policy: "apply_default" or "skip".
    """
    if lang is not None and lang in languages:
        return languages[lang]
    if lang is None or lang in default_languages or other_languages == "apply_default":
        return default
    return None


class PerLanguageRuleSets(StageSection):
    """Config shared by stages whose rules come in per-language sets (quality, repetition).

    A subclass declares ``languages: dict[str, <its rule section>]``; its own top-level fields
    are the default (the paper's English) rule set.
    """

    # The top-level (paper) thresholds apply to these languages and to documents without a
    # language (language stage off).
    default_languages: list[str] = Field(default_factory=lambda: ["en"])
    # Documents in other languages: "skip" (pass untouched) or "apply_default" (English rules).
    other_languages: Literal["skip", "apply_default"] = "skip"
    segmentation: Segmentation = Field(default_factory=Segmentation)

    def load_segmenters(self) -> None:
        """Runs in DoFn.setup: load jieba's dictionary once when a language uses it."""
        if "jieba" in self.segmentation.unspaced.values():
            load_jieba()

    def rules_for(self, lang: str | None) -> object | None:
        """The rule set for a document's language, or None when it passes through."""
        return rule_set_for(lang, self.default_languages, self.other_languages,
                            self.languages, self)  # type: ignore[attr-defined]
