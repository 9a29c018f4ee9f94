"""quality: the Gopher quality rules (Rae et al. 2021, App. A), one reject reason per rule.

Paper wording (App. A, "Quality filtering") beside our counting (stages/text.py defines the units):

- "any doc that does not contain between 50 and 100,000 words" -> ``gopher_word_count``:
  words = whitespace tokens with surrounding punctuation/symbols stripped, empties dropped
  (for zh: jieba words, for ja: characters; see stages.text).
- "or whose mean word length is outside the range of 3 to 10 characters" ->
  ``gopher_mean_word_length``: mean ``len(word)`` over those words (code points).
- "any document with a symbol-to-word ratio greater than 0.1 for either the hash symbol or the
  ellipsis" -> ``gopher_symbol_ratio``: ``text.count("#") / words`` and
  ``(text.count("...") + text.count("…")) / words``; each checked (the detail names which).
  Not a fraction: it can exceed 1.
- "more than 90% of lines starting with a bullet point" -> ``gopher_bullet_lines``: non-blank
  stripped lines starting with one of ``bullet_prefixes``, over non-blank lines.
- "or more than 30% ending with an ellipsis" -> ``gopher_ellipsis_lines``: non-blank lines whose
  stripped text ends with "..." or "…", over non-blank lines.
- "We also require that 80% of words in a document contain at least one alphabetic
  character" -> ``gopher_alpha_words``: whitespace tokens (punctuation kept, so "end." counts as
  alphabetic and "|" or "2019" do not), str.isalpha per character (CJK ideographs are letters).
  For jieba/chars segmentation punctuation marks are segments of their own, so there the base
  is the words (punctuation-only segments dropped), which keeps the statistic comparable.
  A bullet marker standing alone at the start of a bullet line ("- item") is left out of the
  base: bullet pages are judged by the bullet rule, not punished a second time here.
- "and apply a 'stop word' filter, to remove documents that do not contain at least two of the
  following English words: the, be, to, of, and, that, have, with" -> ``gopher_stop_words``:
  *distinct* stop words among the words, case-insensitive.

A rule whose threshold is null is off. Which documents the rules apply to: see ``Config``.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from functools import partial
from typing import Any, Callable

from pydantic import Field, model_validator

from stages import text as tx
from stages.base import PerDocumentStage
from stages.record import Doc, Drop
from stages.settings import Section

STAGE = "quality"
REASONS = ("gopher_word_count", "gopher_mean_word_length", "gopher_symbol_ratio",
           "gopher_bullet_lines", "gopher_ellipsis_lines", "gopher_alpha_words",
           "gopher_stop_words")

DEFAULT_BULLETS = ("-", "•", "*", "·", "●", "○", "◦", "▪", "■", "‣", "⁃", "∙", "–")


class QualityRules(Section):
    """One language's thresholds; defaults are the paper's (English)."""

    # words outside [min_words, max_words] -> gopher_word_count
    min_words: int | None = Field(default=50, ge=0)
    max_words: int | None = Field(default=100_000, ge=1)
    # mean word length (characters) outside [min, max] -> gopher_mean_word_length
    min_mean_word_length: float | None = Field(default=3.0, ge=0)
    max_mean_word_length: float | None = Field(default=10.0, ge=0)
    # "#" per word, and ("..." + "…") per word, above this -> gopher_symbol_ratio
    max_hash_ratio: float | None = Field(default=0.1, ge=0)
    max_ellipsis_ratio: float | None = Field(default=0.1, ge=0)
    # fraction of non-blank lines starting with a bullet above this -> gopher_bullet_lines
    max_bullet_lines: float | None = Field(default=0.9, ge=0, le=1)
    # fraction of non-blank lines ending with an ellipsis above this -> gopher_ellipsis_lines
    max_ellipsis_lines: float | None = Field(default=0.3, ge=0, le=1)
    # fraction of tokens with an alphabetic character below this -> gopher_alpha_words
    min_alpha_words: float | None = Field(default=0.8, ge=0, le=1)
    # fewer distinct stop words than this -> gopher_stop_words
    min_stop_words: int | None = Field(default=2, ge=0)
    # null: the built-in list for the language (en: the paper's 8 words; zh: stages.text);
    # the rule is off for a language without a list.
    stop_words: list[str] | None = None
    bullet_prefixes: list[str] = Field(default_factory=lambda: list(DEFAULT_BULLETS), min_length=1)

    @model_validator(mode="after")
    def _ranges(self) -> "QualityRules":
        """A range whose minimum exceeds its maximum rejects every document: a config error."""
        for low, high in (("min_words", "max_words"),
                          ("min_mean_word_length", "max_mean_word_length")):
            lo, hi = getattr(self, low), getattr(self, high)
            if lo is not None and hi is not None and lo > hi:
                raise ValueError(f"{low} {lo} is above {high} {hi}: every document would be "
                                 "rejected")
        return self


class Config(tx.PerLanguageRuleSets, QualityRules):
    # Per-language rule sets, e.g. {zh: {min_words: 40, ...}}; omitted keys take the paper's.
    languages: dict[str, QualityRules] = Field(default_factory=dict)


@dataclass(slots=True)
class QualityStats:
    """The statistic behind each rule (fractions in [0, 1]; symbol ratios >= 0)."""

    words: int
    mean_word_length: float
    hash_ratio: float
    ellipsis_ratio: float
    bullet_lines: float
    ellipsis_lines: float
    alpha_words: float
    stop_words: int


def quality_stats(text: str, mode: str = "space", stop_words: tuple[str, ...] = tx.STOP_WORDS["en"],
                  bullets: tuple[str, ...] = DEFAULT_BULLETS) -> QualityStats:
    """All quality statistics of one text in one pass per unit (tokens, words, lines)."""
    tokens, words = tx.tokens_and_words(text, mode)
    n_words = len(words)
    # Spaced text: whitespace tokens (punctuation rides on its word). Segmented text: segments
    # are punctuation marks on their own, so the words (punctuation dropped) are the base.
    alpha_base = tokens if mode == "space" else words
    per_word = max(n_words, 1)
    lines, _ = tx.lines_and_paragraphs_memo(text)
    n_lines = len(lines)
    markers = 0  # bullet markers standing alone as a token ("- item"): not words, not non-words
    if n_lines:
        bullet_lines = [line for line in lines if line.startswith(bullets)]
        if mode == "space":
            for line in bullet_lines:
                if not line.split(maxsplit=1)[0].strip(tx.PUNCT):
                    markers += 1
        bullet = len(bullet_lines) / n_lines
        ellipsis = sum(1 for line in lines if line.endswith(("...", "…"))) / n_lines
    else:
        bullet = ellipsis = 0.0
    alpha_total = len(alpha_base) - markers
    return QualityStats(
        words=n_words,
        mean_word_length=(sum(map(len, words)) / n_words) if n_words else 0.0,
        hash_ratio=text.count("#") / per_word,
        ellipsis_ratio=(text.count("...") + text.count("…")) / per_word,
        bullet_lines=bullet,
        ellipsis_lines=ellipsis,
        alpha_words=(tx.count_alpha_tokens(alpha_base) / alpha_total) if alpha_total > 0 else 0.0,
        stop_words=tx.distinct_stop_words(words, stop_words) if stop_words else 0,
    )


def failures(stats: QualityStats, rules: QualityRules, has_stop_list: bool = True) -> list[Drop]:
    """Every rule the statistics fail, in the paper's order (the stage keeps the first)."""
    out: list[Drop] = []
    r = rules
    if (r.min_words is not None and stats.words < r.min_words) or (
            r.max_words is not None and stats.words > r.max_words):
        out.append(Drop("gopher_word_count", f"{stats.words} words"))
    mwl = stats.mean_word_length
    if (r.min_mean_word_length is not None and mwl < r.min_mean_word_length) or (
            r.max_mean_word_length is not None and mwl > r.max_mean_word_length):
        out.append(Drop("gopher_mean_word_length", f"mean {mwl:.3f} chars"))
    if r.max_hash_ratio is not None and stats.hash_ratio > r.max_hash_ratio:
        out.append(Drop("gopher_symbol_ratio", f"hash/word {stats.hash_ratio:.3f}"))
    elif r.max_ellipsis_ratio is not None and stats.ellipsis_ratio > r.max_ellipsis_ratio:
        out.append(Drop("gopher_symbol_ratio", f"ellipsis/word {stats.ellipsis_ratio:.3f}"))
    if r.max_bullet_lines is not None and stats.bullet_lines > r.max_bullet_lines:
        out.append(Drop("gopher_bullet_lines", f"{stats.bullet_lines:.3f} of lines"))
    if r.max_ellipsis_lines is not None and stats.ellipsis_lines > r.max_ellipsis_lines:
        out.append(Drop("gopher_ellipsis_lines", f"{stats.ellipsis_lines:.3f} of lines"))
    if r.min_alpha_words is not None and stats.alpha_words < r.min_alpha_words:
        out.append(Drop("gopher_alpha_words", f"{stats.alpha_words:.3f} of words"))
    if has_stop_list and r.min_stop_words is not None and stats.stop_words < r.min_stop_words:
        out.append(Drop("gopher_stop_words", f"{stats.stop_words} distinct stop words"))
    return out


def evaluate(text: str, lang: str | None, config: Config) -> tuple[QualityStats, list[Drop]] | None:
    """Statistics and failed rules for a text in a language; None when its language is skipped."""
    rules = config.rules_for(lang)
    if rules is None:
        return None
    assert isinstance(rules, QualityRules)
    stop = tx.stop_words_for(lang, rules.stop_words)
    stats = quality_stats(text, tx.word_mode(lang, config.segmentation), stop,
                          tuple(rules.bullet_prefixes))
    return stats, failures(stats, rules, has_stop_list=bool(stop))


def quality_doc(doc: Doc, config: Config) -> Doc | Drop:
    """The stage core: the first failing rule's Drop, else the document unchanged."""
    result = evaluate(doc.text or "", doc.lang, config)
    if result is None:
        return doc
    failed = result[1]
    return failed[0] if failed else doc


def make_core(config: Config) -> Callable[[Doc], Doc | Drop]:
    config.load_segmenters()
    return partial(quality_doc, config=config)


def stats_dict(stats: QualityStats) -> dict[str, Any]:
    return asdict(stats)


class Stage(PerDocumentStage):
    stage_name = STAGE
    core_factory = staticmethod(make_core)
