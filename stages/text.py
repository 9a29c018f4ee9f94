"""Pure text units the rule stages count: words per language, lines, paragraphs, stop words.

Why one module: the quality and repetition rules (Gopher, Rae et al. 2021, App. A) are defined
over "words", "lines" and "paragraphs" without saying what those are; every choice here changes
which documents survive, so each is made once, documented once (docs/rules.md §1) and shared.
Which segmenter a language needs is a language concept: stages/languages.py.

Choices (all single-pass, C-level string methods, no regex per word):

- *tokens*: for spaced languages ``text.split()`` (any Unicode whitespace; the separators
  \\x1c..\\x1f count as whitespace too). Languages with a segmenter
  (``languages.SEGMENTERS``: zh jieba, ja SudachiPy, th PyThaiNLP, ko Kiwi) get its segments;
  other unspaced languages get one token per character of their script ("chars").
- *words*: tokens with leading/trailing punctuation and symbols stripped (``str.strip(PUNCT)``),
  empty results dropped. So ``"end."`` is the word ``end``, while a token made only of
  punctuation or symbols (a table-cell separator ``|`` the extraction added, a bullet marker,
  ``--``, ``→``, ``★``) is no word at all. Every rule counts these words: word count, mean
  length, the alphabetic-word share, stop words, n-grams.
- *lines*: ``str.splitlines()``, each stripped, blank lines dropped (blank lines are layout, not
  content; counting them would dilute the bullet/ellipsis/duplicate-line fractions).
- *paragraphs*: maximal runs of non-blank lines (separated by one or more blank lines), the
  stripped lines joined with "\\n".
"""
from __future__ import annotations

import unicodedata
from functools import lru_cache
from typing import Iterable, NamedTuple, Sequence

from pydantic import Field

from stages import languages
from stages.settings import Section

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


def strip_table(chars: str) -> bytes:
    """One bit per BMP code point, set for ``chars``: the compiled word splitter's PUNCT.
    BMP only (as PUNCT is): a character beyond it could not be flagged, and the compiled
    splitter would silently keep it where :func:`words_of` strips it."""
    table = bytearray(0x10000 // 8)
    for char in chars:
        code = ord(char)
        if code >= 0x10000:
            raise ValueError(f"strip_table: U+{code:X} is outside the BMP")
        table[code >> 3] |= 1 << (code & 7)
    return bytes(table)


_STRIP_TABLE = strip_table(PUNCT)

try:  # the compiled word splitter and n-gram statistics (setup.py); None: not built
    from stages import _textstats as textstats
except ImportError:  # pragma: no cover - a source tree that was never `pip install`ed
    textstats = None

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


class Segmentation(Section):
    """How a language's text is split into tokens (the words come from the tokens)."""

    # language code (as the language stage writes doc.lang) -> segmenter, overriding
    # stages.languages.SEGMENTERS (zh jieba, ja sudachi, th pythainlp, ko kiwi, other unspaced
    # languages chars); "space" splits on whitespace. Languages not listed there or here are
    # split on whitespace.
    segmenters: dict[str, languages.Segmenter] = Field(default_factory=dict)

    def mode(self, lang: str | None) -> str:
        """The segmenter name for a document language."""
        return languages.segmenter_for(lang, self.segmenters)

    def load(self, langs: Iterable[str | None]) -> None:
        """Load the segmenters these languages need (dictionaries once per process; called in
        the stage factory, i.e. DoFn.setup)."""
        for name in {self.mode(lang) for lang in langs}:
            languages.load_segmenter(name)


# ------------------------------------------------------------------------------ units ------


def tokens_of(text: str, mode: str = "space") -> list[str]:
    """Non-whitespace tokens of a text for a segmenter name (see module docstring)."""
    return list(languages.load_segmenter(mode)(text))


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


class WordUnits(NamedTuple):
    tokens: tuple[str, ...]
    words: tuple[str, ...]
    alpha_words: int  # words with an alphabetic character (count_alpha_words)


@lru_cache(maxsize=16)
def tokens_and_words(text: str, mode: str = "space") -> WordUnits:
    """(tokens, words, alpha_words) of a text, memoised for the last 16 texts.

    Why: Beam fuses the quality and repetition stages, so the same ``str`` object (its hash
    cached, equality by identity) reaches both in a row; this halves the tokenization work.
    Tuples, so no caller can change what the next one sees. Words and the alphabetic count come
    from the compiled module (``stages/_textstats.c``, one pass) when it is built;
    :func:`words_of` and :func:`count_alpha_words` are the reference it is tested against.
    """
    tokens = tokens_of(text, mode)
    if textstats is not None:
        words, alpha = textstats.strip_words(tokens, _STRIP_TABLE)
    else:
        words = tuple(words_of(tokens))
        alpha = count_alpha_words(words)
    return WordUnits(tuple(tokens), words, alpha)


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


def count_alpha_words(words: Sequence[str]) -> int:
    """Words with at least one alphabetic character; pure-letter words take the C fast path."""
    count = 0
    isalpha = str.isalpha
    for word in words:
        if isalpha(word) or any(map(isalpha, word)):
            count += 1
    return count


def is_symbol_only(term: str) -> bool:
    """True for a non-empty string made only of punctuation/symbols (it can never be a word)."""
    return bool(term) and not term.strip(PUNCT)


def distinct_stop_words(words: Iterable[str], stop_words: Iterable[str], text: str = "") -> int:
    """How many *distinct* stop words occur among the words, case-insensitively.

    A stop word made only of punctuation (FineWeb-2's lists hold "،", "·", "・": datatrove's
    tokens keep punctuation) can never be one of our words; it counts when it occurs in the text.
    """
    stop, symbols, longest = _stop_sets(tuple(stop_words))
    found_symbols = sum(1 for s in symbols if s in text)
    if not stop:
        return found_symbols
    found = {w.lower() for w in set(words) if len(w) <= longest}
    return len(found & stop) + found_symbols


@lru_cache(maxsize=64)
def _stop_sets(stop_words: tuple[str, ...]) -> tuple[frozenset[str], frozenset[str], int]:
    """(lower-cased stop words that can be words, symbol-only ones, longest word's length):
    built once per list, not once per document."""
    stop = frozenset(s.lower() for s in stop_words)
    symbols = frozenset(s for s in stop if is_symbol_only(s))
    words = stop - symbols
    return words, symbols, max(map(len, words), default=0)


def stop_words_for(lang: str | None, configured: Sequence[str] | None) -> tuple[str, ...]:
    """The configured list, else the built-in list for the language (English when unknown)."""
    if configured is not None:
        return tuple(configured)
    return STOP_WORDS.get(lang or "en", ())
