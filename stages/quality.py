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
  Both line rules apply only to documents of at least ``line_rules_min_lines`` (4) non-blank
  lines: below that one line decides the ratio (a 3-line review whose title ends in "…" is 33 %
  ellipsis lines), which says nothing about the page being a list of teasers.
- "We also require that 80% of words in a document contain at least one alphabetic
  character" -> ``gopher_alpha_words``: words (stages.text: tokens with surrounding
  punctuation/symbols stripped) with at least one ``str.isalpha`` character (any script's
  letters; CJK ideographs are letters), over words. Numbers ("2019") are words without a letter;
  a token made only of punctuation or symbols is no word, so the separators and markup the
  extraction adds (table cells rendered "a | b | c", bullet markers, "--", "»") neither help nor
  hurt the share.
- "and apply a 'stop word' filter, to remove documents that do not contain at least two of the
  following English words: the, be, to, of, and, that, have, with" -> ``gopher_stop_words``:
  *distinct* stop words among the words, case-insensitive.

A rule whose threshold is null is off. Which rule set judges a document: stages/rule_sets.py;
the one that did is written to ``doc.meta["rule_sets"]["quality"]``.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Any, Callable, ClassVar

from pydantic import Field, model_validator

from stages import text as tx
from stages.base import Stage
from stages.record import Doc, Drop, Verdict
from stages.statistics import statistics_report
from stages.rule_sets import NO_RULE_SET, PerLanguageRuleSets, RuleFile
from stages.settings import Section

STAGE = "quality"

DEFAULT_BULLETS = ("-", "•", "*", "·", "●", "○", "◦", "▪", "■", "‣", "⁃", "∙", "–")


class QualityRules(Section):
    """One language's thresholds; defaults are the paper's (English)."""

    # Written to doc.meta["rule_sets"]["quality"]; null: named after where the set comes from.
    name: str | None = None
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
    # the two line rules above apply from this many non-blank lines on (below, one line decides
    # the ratio: one title ending in "..." makes a 3-line page 33 % ellipsis lines)
    line_rules_min_lines: int = Field(default=4, ge=0)
    # fraction of words with an alphabetic character below this -> gopher_alpha_words
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


# Chinese, measured on THUCNews with jieba words (docs/rules.md §4); omitted keys: the paper's.
ZH_THUCNEWS = QualityRules(
    name="zh_thucnews",
    min_words=30,                # news p0.5 = 34 words (rejects 4/1,000 news)
    min_mean_word_length=1.4,    # news p0.5 = 1.61; reviews p0.5 = 1.20 (char-by-char junk)
    max_mean_word_length=3.5,    # news p99.5 = 2.95, max 4.01
    min_alpha_words=0.75,        # news p0.5 = 0.80 (digits and Latin codes in finance news)
    min_stop_words=1,            # of stages.text.STOP_WORDS["zh"]; news p1 = 1
)

# For languages without a set of their own (other_languages: generic): the rules that do not
# depend on knowing the language. No stop words (no list), no mean word length (scripts differ:
# 1 character per word in unspaced scripts, 8+ in agglutinative ones); the rest the paper's.
GENERIC = QualityRules(name="generic", min_mean_word_length=None, max_mean_word_length=None,
                       min_stop_words=None)


def rules_from_fineweb2(rule_file: RuleFile) -> QualityRules:
    """FineWeb-2's GopherQualityFilter settings for one language (fineweb-2-pipeline.py): its
    mean word length bounds, alphabetic-word share (datatrove calls it
    max_non_alpha_words_ratio, but it is the minimum share of words with a letter) and stop
    words with min_stop_words=2; word count, symbol ratios and line rules keep datatrove's
    defaults, which are the paper's. line_punct_thr / new_line_ratio belong to
    FineWebQualityFilter, which this project does not have (docs/rules.md §4)."""
    v = rule_file.values
    rules: dict[str, Any] = {"name": rule_file.name}
    if "min_avg_word_length" in v:
        rules["min_mean_word_length"] = float(v["min_avg_word_length"])
    if "max_avg_word_length" in v:
        rules["max_mean_word_length"] = float(v["max_avg_word_length"])
    if "max_non_alpha_words_ratio" in v:
        rules["min_alpha_words"] = float(v["max_non_alpha_words_ratio"])
    if "stopwords" in v:
        rules["stop_words"] = list(v["stopwords"])
    return QualityRules(**rules)


class Config(PerLanguageRuleSets, QualityRules):
    MEASURED: ClassVar[dict[str, Section]] = {"zh": ZH_THUCNEWS}
    GENERIC: ClassVar[Section | None] = GENERIC

    # Per-language rule sets, e.g. {zh: {min_words: 40, ...}}; omitted keys take the paper's.
    # They win over the measured and the rule-file sets (stages/rule_sets.py).
    languages: dict[str, QualityRules] = Field(default_factory=dict)

    def from_rule_file(self, rule_file: RuleFile) -> QualityRules:
        return rules_from_fineweb2(rule_file)


@dataclass(slots=True)
class QualityStats:
    """The statistic behind each rule (fractions in [0, 1]; symbol ratios >= 0)."""

    words: int
    lines: int
    mean_word_length: float
    hash_ratio: float
    ellipsis_ratio: float
    bullet_lines: float
    ellipsis_lines: float
    alpha_words: float
    stop_words: int


def quality_stats(text: str, mode: str = "space", stop_words: tuple[str, ...] = tx.STOP_WORDS["en"],
                  bullets: tuple[str, ...] = DEFAULT_BULLETS) -> QualityStats:
    """All quality statistics of one text in one pass per unit (words, lines)."""
    units = tx.tokens_and_words(text, mode)
    words = units.words
    n_words = len(words)
    per_word = max(n_words, 1)
    lines, _ = tx.lines_and_paragraphs_memo(text)
    n_lines = len(lines)
    if n_lines:
        bullet = sum(1 for line in lines if line.startswith(bullets)) / n_lines
        ellipsis = sum(1 for line in lines if line.endswith(("...", "…"))) / n_lines
    else:
        bullet = ellipsis = 0.0
    return QualityStats(
        words=n_words,
        lines=n_lines,
        mean_word_length=(sum(map(len, words)) / n_words) if n_words else 0.0,
        hash_ratio=text.count("#") / per_word,
        ellipsis_ratio=(text.count("...") + text.count("…")) / per_word,
        bullet_lines=bullet,
        ellipsis_lines=ellipsis,
        alpha_words=(units.alpha_words / n_words) if n_words else 0.0,
        stop_words=tx.distinct_stop_words(words, stop_words, text) if stop_words else 0,
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
    enough_lines = stats.lines >= r.line_rules_min_lines
    if enough_lines and r.max_bullet_lines is not None and stats.bullet_lines > r.max_bullet_lines:
        out.append(Drop("gopher_bullet_lines", f"{stats.bullet_lines:.3f} of lines"))
    if (enough_lines and r.max_ellipsis_lines is not None
            and stats.ellipsis_lines > r.max_ellipsis_lines):
        out.append(Drop("gopher_ellipsis_lines", f"{stats.ellipsis_lines:.3f} of lines"))
    if r.min_alpha_words is not None and stats.alpha_words < r.min_alpha_words:
        out.append(Drop("gopher_alpha_words", f"{stats.alpha_words:.3f} of words"))
    if has_stop_list and r.min_stop_words is not None and stats.stop_words < r.min_stop_words:
        out.append(Drop("gopher_stop_words", f"{stats.stop_words} distinct stop words"))
    return out


def evaluate(text: str, lang: str | None, config: Config) -> tuple[QualityStats, list[Drop]] | None:
    """Statistics and failed rules for a text in a language; None when it is not judged."""
    rules = config.rules_for(lang)
    if rules is None:
        return None
    assert isinstance(rules, QualityRules)
    stop = tx.stop_words_for(lang, rules.stop_words)
    stats = quality_stats(text, config.segmentation.mode(lang), stop, tuple(rules.bullet_prefixes))
    return stats, failures(stats, rules, has_stop_list=bool(stop))


def judge(doc: Doc, config: Config) -> Doc | Drop | Verdict:
    """The stage core: PerLanguageRuleSets.judge_document with this stage\'s rules."""
    return config.judge_document(doc, STAGE, evaluate, rule_statistics)


def quality_doc(doc: Doc, config: Config) -> Doc | Drop:
    """The rule alone: the first failing rule's Drop, else the document (see :func:`judge`)."""
    result = judge(doc, config)
    return result.result if isinstance(result, Verdict) else result


def make_core(config: Config, context: object = None) -> Callable[[Doc], Doc | Drop | Verdict]:
    config.load_segmenters()
    return partial(judge, config=config)


# Statistic name -> the reject reason of the rule that thresholds it.
STATISTIC_REASONS: dict[str, str] = {
    "words": "gopher_word_count", "mean_word_length": "gopher_mean_word_length",
    "hash_ratio": "gopher_symbol_ratio", "ellipsis_ratio": "gopher_symbol_ratio",
    "bullet_lines": "gopher_bullet_lines", "ellipsis_lines": "gopher_ellipsis_lines",
    "alpha_words": "gopher_alpha_words", "stop_words": "gopher_stop_words",
}


def rule_statistics(stats: QualityStats) -> dict[str, float]:
    """The statistic each rule thresholds, by name (the keys of :func:`rule_thresholds`), for
    histograms in the report's tuning views."""
    return {name: float(getattr(stats, name)) for name in STATISTIC_REASONS}


def rule_thresholds(rules: QualityRules) -> dict[str, tuple[float | None, float | None, str]]:
    """Statistic name -> (min allowed or None, max allowed or None, reject reason). The line
    rules hold from ``rules.line_rules_min_lines`` lines on."""
    r = rules
    bounds = {
        "words": (r.min_words, r.max_words), "mean_word_length": (r.min_mean_word_length,
                                                                  r.max_mean_word_length),
        "hash_ratio": (None, r.max_hash_ratio), "ellipsis_ratio": (None, r.max_ellipsis_ratio),
        "bullet_lines": (None, r.max_bullet_lines), "ellipsis_lines": (None, r.max_ellipsis_lines),
        "alpha_words": (r.min_alpha_words, None), "stop_words": (r.min_stop_words, None),
    }
    return {name: (None if lo is None else float(lo), None if hi is None else float(hi),
                   STATISTIC_REASONS[name]) for name, (lo, hi) in bounds.items()}


SPEC = Stage(name=STAGE, make_core=make_core,
             reasons=(*dict.fromkeys(STATISTIC_REASONS.values()), NO_RULE_SET),
             reads=frozenset({"text", "lang", "meta"}), writes=frozenset({"meta"}),
             report=partial(statistics_report, QualityRules, rule_thresholds), report_name="statistics")
