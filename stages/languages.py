"""Language concepts, one owner: the code scheme, the scripts written without spaces, and the
word segmenter each language needs. Every stage that asks "which language is this, and what is
a word in it" imports from here (language ID, quality/repetition rules, safety word lists,
dedup shingles, tokenizer compression ratios).

Code scheme: the short labels the language identifiers emit (fastText lid.176 and py3langid
both use ISO 639-1 where a code exists, else ISO 639-3: en, de, zh, no, ceb, arz), with
:data:`LABEL_ALIASES` folding variety labels into the language the rules and reports treat as
one (wuu, yue -> zh). External tags (FineWeb-2's ``deu_Latn``, ``nob_Latn``, ``cmn_Hani``) are
mapped onto that scheme by :func:`code_of` (BCP 47 canonical form via langcodes, macrolanguage
folded, then the identifiers' spelling: nb -> no, fil -> tl).
"""
from __future__ import annotations

import logging
import re
from functools import cache
from typing import Callable, Literal

UNDETERMINED = "und"

# Identifier labels folded into one pipeline code (config default of language.aliases).
# py3langid calls 9 of 1,000 THUCNews articles "wuu" (docs/rules.md §6); every later stage
# (rules, shingles, report) wants one Chinese code.
LABEL_ALIASES: dict[str, str] = {"wuu": "zh", "yue": "zh"}

# BCP 47 canonical forms that the identifiers spell differently. Both identifiers label
# Norwegian (Bokmål) "no" and Tagalog "tl"; langcodes says nb / fil.
_IDENTIFIER_SPELLING: dict[str, str] = {"nb": "no", "fil": "tl", **LABEL_ALIASES}


@cache
def code_of(tag: str) -> str:
    """Pipeline code of a language tag in any common form: ``deu_Latn`` -> de, ``nob`` -> no,
    ``cmn_Hani`` -> zh, ``arb_Arab`` -> ar, ``en`` -> en. Raises ValueError for a non-tag."""
    import langcodes

    base = tag.replace("_", "-").split("-")[0].strip().lower()
    if not base:
        raise ValueError(f"not a language tag: {tag!r}")
    try:
        language = langcodes.standardize_tag(base, macro=True).split("-")[0]
    except (ValueError, LookupError) as error:  # langcodes raises LanguageTagError(ValueError)
        raise ValueError(f"not a language tag: {tag!r} ({error})") from None
    return _IDENTIFIER_SPELLING.get(language, language)


# ---------------------------------------------------------------------------- scripts ----
# Character-class bodies (for re) of Unicode blocks. Why here: whether a script separates
# words with spaces decides word splitting (rules), term matching (safety), shingles (dedup)
# and whether "tokens per word" means anything (tokenize); one table serves all of them.

HAN_KANA = ("\u3040-\u30ff\u31f0-\u31ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
            "\U00020000-\U0003134f")          # kana, CJK ideographs (+ ext. A-H, compatibility)
CJK_SYMBOLS = "\u3000-\u303f\uff00-\uffef"    # CJK punctuation, full/halfwidth forms
BOPOMOFO = "\u3100-\u312f"
SOUTHEAST_ASIAN = ("\u0e00-\u0e7f"            # Thai
                   "\u0e80-\u0eff"            # Lao
                   "\u0f00-\u0fff"            # Tibetan
                   "\u1000-\u109f"            # Myanmar
                   "\u1780-\u17ff")           # Khmer
HANGUL = "\u1100-\u11ff\u3130-\u318f\uac00-\ud7af"

# Scripts written without spaces between words.
UNSPACED_SCRIPTS = SOUTHEAST_ASIAN + BOPOMOFO + HAN_KANA
# Scripts where a term must be matched as a substring, not as a whole whitespace token:
# unspaced scripts, and Hangul, whose space-separated units (eojeol) carry attached particles
# (a word appears inside a longer token: 학교 in 학교에서).
SUBSTRING_MATCH_SCRIPTS = UNSPACED_SCRIPTS + HANGUL

UNSPACED_SCRIPT_RE = re.compile(f"[{UNSPACED_SCRIPTS}]")
SUBSTRING_MATCH_RE = re.compile(f"[{SUBSTRING_MATCH_SCRIPTS}]")

# Languages written without spaces between words: whitespace tokens are not words, so
# "tokens per word" is undefined for them and their rules need a segmenter (or characters).
UNSPACED_LANGUAGES: frozenset[str] = frozenset({"zh", "yue", "wuu", "ja", "th", "lo", "km",
                                                "my", "bo"})
# Languages whose near-duplicate shingles are character n-grams: the unspaced ones, and Korean
# (particles attached to words make word shingles of the same sentence differ).
CHAR_SHINGLE_LANGUAGES: frozenset[str] = UNSPACED_LANGUAGES | {"ko"}

# ------------------------------------------------------------------------- segmenters ----

Segmenter = Literal["space", "chars", "jieba", "sudachi", "pythainlp", "kiwi"]
SEGMENTER_NAMES: tuple[str, ...] = ("space", "chars", "jieba", "sudachi", "pythainlp", "kiwi")

# The word segmenter per language (others: whitespace). The same segmenters datatrove uses
# for FineWeb-2, so FineWeb-2's word-based thresholds mean what they were tuned for: zh jieba
# (spaCy zh with jieba), ja SudachiPy split mode A (spaCy ja), th PyThaiNLP newmm-safe, ko Kiwi.
# Other unspaced languages (no segmenter chosen): one token per character of their script.
SEGMENTERS: dict[str, Segmenter] = {"zh": "jieba", "ja": "sudachi", "th": "pythainlp",
                                    "ko": "kiwi", **{lang: "chars" for lang in
                                                     ("yue", "wuu", "lo", "km", "my", "bo")}}

# "chars": each character of an unspaced script (or CJK punctuation) is a token; runs of other
# non-space characters (Latin words, numbers inside Chinese text) stay one token.
_CHAR_CLASS = UNSPACED_SCRIPTS + CJK_SYMBOLS
_CHAR_TOKENS = re.compile(f"[{_CHAR_CLASS}]|[^\\s{_CHAR_CLASS}]+")

# SudachiPy refuses inputs over ~49 KB; chunks are cut at line ends below this many characters.
_SUDACHI_CHUNK_CHARS = 12_000
# Kiwi misbehaves on very long digit/comma runs (datatrove strips them before Kiwi too).
_KIWI_LONG_NUMBERS = re.compile("[0-9,]{20,}")


@cache
def load_segmenter(name: str) -> Callable[[str], list[str]]:
    """``text -> tokens`` (no whitespace tokens) for a segmenter name; its dictionary loads
    once per process (call from the stage factory, i.e. DoFn.setup)."""
    if name == "space":
        return str.split
    if name == "chars":
        return _CHAR_TOKENS.findall
    if name == "jieba":
        import jieba

        jieba.setLogLevel(logging.WARNING)
        jieba.initialize()
        cut = jieba.lcut
        return lambda text: [t for t in cut(text) if t and not t.isspace()]
    if name == "sudachi":
        from sudachipy import Dictionary, SplitMode

        tokenizer = Dictionary(dict="core").create(SplitMode.A)
        return lambda text: [m.surface() for chunk in _chunks(text, _SUDACHI_CHUNK_CHARS)
                             for m in tokenizer.tokenize(chunk)
                             if not m.surface().isspace() and m.surface()]
    if name == "pythainlp":
        from pythainlp.tokenize import word_tokenize

        return lambda text: [t for t in word_tokenize(text, engine="newmm-safe",
                                                      keep_whitespace=False)
                             if t and not t.isspace()]
    if name == "kiwi":
        from kiwipiepy import Kiwi

        kiwi = Kiwi(num_workers=0)

        def kiwi_tokens(text: str) -> list[str]:
            clean = _KIWI_LONG_NUMBERS.sub("", text)
            spans = (clean[t.start:t.start + t.len] for t in kiwi.tokenize(clean))
            return [s for s in spans if s and not s.isspace()]
        return kiwi_tokens
    raise ValueError(f"unknown segmenter {name!r}; allowed: {', '.join(SEGMENTER_NAMES)}")


def _chunks(text: str, size: int) -> list[str]:
    """Pieces of at most ``size`` characters, cut after a newline where there is one."""
    if len(text) <= size:
        return [text]
    out = []
    start = 0
    while start < len(text):
        end = min(start + size, len(text))
        if end < len(text):
            cut = text.rfind("\n", start, end)
            if cut > start:
                end = cut + 1
        out.append(text[start:end])
        start = end
    return out


def segmenter_for(lang: str | None, overrides: dict[str, str] | None = None) -> str:
    """Segmenter name for a document language: the override, else :data:`SEGMENTERS`, else
    whitespace (also for documents without a language)."""
    if lang is None:
        return "space"
    if overrides and lang in overrides:
        return overrides[lang]
    return SEGMENTERS.get(lang, "space")
