"""repetition: the Gopher repetition rules (Rae et al. 2021, App. A, Table A1), one reason per rule.

Paper wording beside our counting (units from stages/text.py: non-blank stripped lines,
paragraphs = runs of non-blank lines, words = punctuation-stripped tokens, per language):

- "duplicate line fraction 0.30 / duplicate paragraph fraction 0.30" ->
  ``gopher_dup_line_frac`` / ``gopher_dup_para_frac``: lines (paragraphs) that repeat an
  earlier identical one, over all lines (paragraphs). With ``count_first_occurrence: true``
  every copy of a repeated line counts, the first one too (stricter).
- "duplicate line character fraction 0.20 / duplicate paragraph character fraction 0.20" ->
  ``gopher_dup_line_char_frac`` / ``gopher_dup_para_char_frac``: characters in those
  duplicate lines (paragraphs) over characters in all lines (paragraphs), same
  first-occurrence setting. Denominator = characters of the units, not ``len(text)``, so
  blank-line runs and indentation do not dilute the fraction and it stays within [0, 1].
- "top 2-gram / 3-gram / 4-gram character fraction 0.20 / 0.18 / 0.16" ("the fraction of
  characters contained within the most frequently-occurring n-gram") ->
  ``gopher_top_{n}gram_char_frac``: the most frequent word n-gram (overlapping n-grams; ties:
  the one covering most characters); characters of the words covered by *any* of its
  occurrences (overlapping occurrences count each word once) over characters of all words.
  An n-gram that occurs only once is not repetition: the statistic is then 0.
- "duplicate 5..10-gram character fraction 0.15 .. 0.10" ("taking care not to count characters
  that occur in overlapping n-grams more than once") -> ``gopher_dup_{n}gram_char_frac``:
  characters of the words covered by repeated occurrences of any n-gram that occurs more than
  once (the first occurrence not counted unless ``count_first_occurrence``), each word counted
  once however many duplicate n-grams cover it, over characters of all words.

Characters are code points of words (no whitespace), so numerator and denominator agree.
Which rule set judges a document: stages/rule_sets.py; the one that did is written to
``doc.meta["rule_sets"]["repetition"]``.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from functools import partial
from typing import Annotated, Any, Callable, ClassVar, Sequence

import numpy as np
from pydantic import Field

from stages import text as tx
from stages.base import Stage
from stages.record import Doc, Drop, Verdict
from stages.statistics import statistics_report
from stages.rule_sets import NO_RULE_SET, PerLanguageRuleSets, RuleFile
from stages.settings import Section

# the compiled word n-gram statistics (setup.py); ngram_fractions falls back to NumPy
_compiled = tx.textstats

STAGE = "repetition"

NGramN = Annotated[int, Field(ge=1, le=50)]
Frac = Annotated[float, Field(ge=0, le=1)]


class RepetitionRules(Section):
    """One language's thresholds (max allowed); defaults are Table A1. null switches a rule off."""

    # Written to doc.meta["rule_sets"]["repetition"]; null: named after where the set comes from.
    name: str | None = None

    max_dup_para_frac: Frac | None = 0.30
    max_dup_para_char_frac: Frac | None = 0.20
    max_dup_line_frac: Frac | None = 0.30
    max_dup_line_char_frac: Frac | None = 0.20
    # n -> max fraction of word characters in the most frequent n-gram
    max_top_ngram_char_frac: dict[NGramN, Frac | None] = Field(
        default_factory=lambda: {2: 0.20, 3: 0.18, 4: 0.16})
    # n -> max fraction of word characters in duplicated n-grams
    max_dup_ngram_char_frac: dict[NGramN, Frac | None] = Field(
        default_factory=lambda: {5: 0.15, 6: 0.14, 7: 0.13, 8: 0.12, 9: 0.11, 10: 0.10})
    # false: only repeats count (the first copy of a line/paragraph/n-gram is "original");
    # true: every copy of something that occurs twice or more counts.
    count_first_occurrence: bool = False


# Chinese (jieba words): the paper's values sit above the THUCNews p95 of every n-gram
# statistic and reject the news whose body is printed twice (docs/rules.md §4).
ZH_THUCNEWS = RepetitionRules(name="zh_thucnews")
# Languages without a set of their own (other_languages: generic): Table A1, which counts
# repeats of lines, paragraphs and word n-grams and so needs no language knowledge.
GENERIC = RepetitionRules(name="generic")


def rules_from_fineweb2(rule_file: RuleFile) -> RepetitionRules:
    """FineWeb-2's GopherRepetitionFilter settings for one language (fineweb-2-pipeline.py):
    its duplicate-line fraction and top / duplicate n-gram fractions. FineWeb-2 switched the
    paragraph rules and the duplicate-line *character* rule off (trafilatura keeps few
    paragraphs; FineWebQualityFilter's char_duplicates_ratio 0.1 replaced the latter); this
    project has paragraphs and no FineWebQualityFilter, so those keep the paper's values."""
    v = rule_file.values
    rules: dict[str, Any] = {"name": rule_file.name}
    if "dup_line_frac" in v:
        rules["max_dup_line_frac"] = float(v["dup_line_frac"])
    if "top_n_grams" in v:
        rules["max_top_ngram_char_frac"] = {int(n): float(x) for n, x in v["top_n_grams"]}
    if "dup_n_grams" in v:
        rules["max_dup_ngram_char_frac"] = {int(n): float(x) for n, x in v["dup_n_grams"]}
    return RepetitionRules(**rules)


class Config(PerLanguageRuleSets, RepetitionRules):
    MEASURED: ClassVar[dict[str, Section]] = {"zh": ZH_THUCNEWS}
    GENERIC: ClassVar[Section | None] = GENERIC

    # Per-language rule sets, e.g. {zh: {max_top_ngram_char_frac: {2: 0.3}}}; they win over
    # the measured and the rule-file sets (stages/rule_sets.py).
    languages: dict[str, RepetitionRules] = Field(default_factory=dict)

    def from_rule_file(self, rule_file: RuleFile) -> RepetitionRules:
        return rules_from_fineweb2(rule_file)


@dataclass(slots=True)
class RepetitionStats:
    """The statistic behind each rule; every value is a fraction in [0, 1]."""

    dup_para_frac: float = 0.0
    dup_para_char_frac: float = 0.0
    dup_line_frac: float = 0.0
    dup_line_char_frac: float = 0.0
    top_ngram_char_frac: dict[int, float] = field(default_factory=dict)
    dup_ngram_char_frac: dict[int, float] = field(default_factory=dict)


def duplicate_fractions(units: Sequence[str], count_first: bool = False) -> tuple[float, float]:
    """(duplicate units / units, chars in duplicate units / chars in units)."""
    if not units:
        return 0.0, 0.0
    counts = Counter(units)
    if len(counts) == len(units):
        return 0.0, 0.0
    dup = dup_chars = 0
    for unit, count in counts.items():
        if count > 1:
            copies = count if count_first else count - 1
            dup += copies
            dup_chars += copies * len(unit)
    total_chars = sum(map(len, units))
    return dup / len(units), (dup_chars / total_chars) if total_chars else 0.0


# splitmix64 constants: word ids are mixed into 64-bit values so n-gram hashes (a polynomial
# over the mixed values, wrapping mod 2**64) are well spread; a collision between two distinct
# n-grams of one document has probability ~ pairs / 2**64.
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_POLY = np.uint64(0x100000001B3)


def _mix(ids: np.ndarray) -> np.ndarray:
    z = (ids.astype(np.uint64) + np.uint64(1)) * _GOLDEN
    z = (z ^ (z >> np.uint64(30))) * _M1
    z = (z ^ (z >> np.uint64(27))) * _M2
    return z ^ (z >> np.uint64(31))


def word_arrays(words: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """(mixed word values, word lengths): a word's id is the order of its first occurrence."""
    table = {w: i for i, w in enumerate(dict.fromkeys(words))}
    ids = np.fromiter(map(table.__getitem__, words), dtype=np.int64, count=len(words))
    return _mix(ids), np.fromiter(map(len, words), dtype=np.int64, count=len(words))


class WordIndex:
    """Per-document word arrays: mixed word values, lengths, and n-gram hashes by n.

    ``gram_hash(n)[i]`` identifies words[i:i+n]; built incrementally (h_n = h_{n-1} * P +
    v[i+n-1]) so all n from 2 to 10 cost one vectorised multiply-add each.
    """

    def __init__(self, words: Sequence[str]) -> None:
        if _compiled is not None:  # the same arrays (tests/test_textstats.py)
            values, lengths = _compiled.word_values(words)
            self.values = np.frombuffer(values, dtype=np.uint64)
            self.lengths = np.frombuffer(lengths, dtype=np.int64)
        else:
            self.values, self.lengths = word_arrays(words)
        self.total = int(self.lengths.sum())
        self._hashes: dict[int, np.ndarray] = {1: self.values}

    def __len__(self) -> int:
        return len(self.values)

    def gram_hash(self, n: int) -> np.ndarray:
        if n in self._hashes:
            return self._hashes[n]
        prev = self.gram_hash(n - 1)
        h = prev[:-1] * _POLY + self.values[n - 1:]
        self._hashes[n] = h
        return h

    def covered(self, starts: np.ndarray, n: int) -> int:
        """Characters of words covered by spans [s, s+n), each word counted once."""
        if not len(starts):
            return 0
        m = len(self.values)
        diff = np.bincount(starts, minlength=m + 1)[: m + 1] - np.bincount(
            starts + n, minlength=m + 1)[: m + 1]
        mask = np.cumsum(diff[:m]) > 0
        return int(self.lengths[mask].sum())


def _groups(grams: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """(order, group, first) for equal hashes, or None when all are distinct.

    ``order`` sorts positions by hash (one argsort; introsort, 2x cheaper than a stable sort),
    ``group[k]`` is the group id of sorted entry k and ``first[g]`` the first position (the
    original occurrence) of group g.
    """
    if len(grams) < 2:
        return None
    quick = np.sort(grams)  # cheap exit when nothing repeats (most n for most documents)
    if not (quick[1:] == quick[:-1]).any():
        return None
    order = np.argsort(grams)
    ordered = grams[order]
    is_new = np.empty(len(ordered), dtype=bool)
    is_new[0] = True
    np.not_equal(ordered[1:], ordered[:-1], out=is_new[1:])
    first = np.minimum.reduceat(order, np.flatnonzero(is_new))
    return order, np.cumsum(is_new) - 1, first


def _ngram_groups(index: WordIndex, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """:func:`_groups` of the document's word n-grams; None when there are no n-grams, no word
    characters, or no repeats (every n-gram rule is then 0)."""
    if n < 1 or len(index) < n or not index.total:
        return None
    return _groups(index.gram_hash(n))


def top_ngram_fraction(index: WordIndex, n: int) -> float:
    """Word chars covered by the most frequent n-gram's occurrences / all word chars.

    Ties between equally frequent n-grams: the one with most characters, then the earliest.
    """
    groups = _ngram_groups(index, n)
    if groups is None:
        return 0.0
    order, group, first = groups
    counts = np.bincount(group)
    candidates = np.flatnonzero(counts == counts.max())
    cand_first = first[candidates]
    cum = np.concatenate(([0], np.cumsum(index.lengths)))
    chars = cum[cand_first + n] - cum[cand_first]
    winner = candidates[np.lexsort((cand_first, -chars))[0]]
    return index.covered(order[group == winner], n) / index.total


def dup_ngram_fraction(index: WordIndex, n: int, count_first: bool = False) -> float:
    """Word chars covered by repeated n-gram occurrences / all word chars."""
    groups = _ngram_groups(index, n)
    if groups is None:
        return 0.0
    order, group, first = groups
    if count_first:
        starts = order[np.bincount(group)[group] > 1]
    else:
        starts = order[order != first[group]]
    return index.covered(starts, n) / index.total


def ngram_fractions(index: WordIndex, top_ns: Sequence[int], dup_ns: Sequence[int],
                    count_first: bool = False) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Top n-gram fractions for ``top_ns`` and duplicate n-gram fractions for ``dup_ns`` (both
    strictly increasing), by :func:`top_ngram_fraction` / :func:`dup_ngram_fraction`.

    A repeated (n+1)-gram contains a repeated n-gram: once a length has none, longer ones have
    none either (not computed). The compiled module (``stages/_textstats.c``, built by
    ``pip install``) returns the same floats, faster (docs/rules.md §8); these NumPy functions
    are the reference it is tested against, and the fallback when it is not built.
    """
    if _compiled is not None:
        return _compiled.ngram_fractions(index.values, index.lengths, top_ns, dup_ns, count_first)
    top = tuple(top_ngram_fraction(index, n) for n in top_ns)
    dup: list[float] = []
    none_from: int | None = None
    for n in dup_ns:
        if none_from is not None and n >= none_from:
            dup.append(0.0)
            continue
        value = dup_ngram_fraction(index, n, count_first)
        dup.append(value)
        if value == 0.0:
            none_from = n
    return top, tuple(dup)


def repetition_stats(text: str, rules: RepetitionRules, mode: str = "space") -> RepetitionStats:
    """All repetition statistics for the n values the rules name."""
    first = rules.count_first_occurrence
    lines, paragraphs = tx.lines_and_paragraphs_memo(text)
    stats = RepetitionStats()
    stats.dup_para_frac, stats.dup_para_char_frac = duplicate_fractions(paragraphs, first)
    stats.dup_line_frac, stats.dup_line_char_frac = duplicate_fractions(lines, first)
    index = WordIndex(tx.tokens_and_words(text, mode)[1])
    top_ns, dup_ns = sorted(rules.max_top_ngram_char_frac), sorted(rules.max_dup_ngram_char_frac)
    top, dup = ngram_fractions(index, top_ns, dup_ns, first)
    stats.top_ngram_char_frac = dict(zip(top_ns, top))
    stats.dup_ngram_char_frac = dict(zip(dup_ns, dup))
    return stats


def failures(stats: RepetitionStats, rules: RepetitionRules) -> list[Drop]:
    """Every rule the statistics fail, paragraphs, lines, top n-grams, duplicate n-grams."""
    out: list[Drop] = []
    for name in ("dup_para_frac", "dup_para_char_frac", "dup_line_frac", "dup_line_char_frac"):
        limit = getattr(rules, "max_" + name)
        value = getattr(stats, name)
        if limit is not None and value > limit:
            out.append(Drop("gopher_" + name, f"{value:.3f} > {limit}"))
    for kind, limits, values in (("top", rules.max_top_ngram_char_frac, stats.top_ngram_char_frac),
                                 ("dup", rules.max_dup_ngram_char_frac, stats.dup_ngram_char_frac)):
        for n in sorted(limits):
            limit = limits[n]
            value = values.get(n, 0.0)
            if limit is not None and value > limit:
                out.append(Drop(f"gopher_{kind}_{n}gram_char_frac", f"{value:.3f} > {limit}"))
    return out


def evaluate(text: str, lang: str | None,
             config: Config) -> tuple[RepetitionStats, list[Drop]] | None:
    """Statistics and failed rules; None when the document's language is not judged."""
    rules = config.rules_for(lang)
    if rules is None:
        return None
    assert isinstance(rules, RepetitionRules)
    stats = repetition_stats(text, rules, config.segmentation.mode(lang))
    return stats, failures(stats, rules)


def judge(doc: Doc, config: Config) -> Doc | Drop | Verdict:
    """The stage core: PerLanguageRuleSets.judge_document with this stage\'s rules."""
    return config.judge_document(doc, STAGE, evaluate, rule_statistics)


def repetition_doc(doc: Doc, config: Config) -> Doc | Drop:
    """The rule alone: the first failing rule's Drop, else the document (see :func:`judge`)."""
    result = judge(doc, config)
    return result.result if isinstance(result, Verdict) else result


def make_core(config: Config, context: object = None) -> Callable[[Doc], Doc | Drop | Verdict]:
    config.load_segmenters()
    return partial(judge, config=config)


def rule_statistics(stats: RepetitionStats) -> dict[str, float]:
    """The statistic each rule thresholds, by name (the keys of :func:`rule_thresholds`), for
    histograms in the report's tuning views."""
    out: dict[str, float] = {name: getattr(stats, name) for name in
                             ("dup_para_frac", "dup_para_char_frac", "dup_line_frac",
                              "dup_line_char_frac")}
    out.update({f"top_{n}gram_char_frac": v for n, v in stats.top_ngram_char_frac.items()})
    out.update({f"dup_{n}gram_char_frac": v for n, v in stats.dup_ngram_char_frac.items()})
    return out


def rule_thresholds(rules: RepetitionRules) -> dict[str, tuple[float | None, float | None, str]]:
    """Statistic name -> (None, max allowed or None, reject reason): every repetition rule is
    an upper bound."""
    out: dict[str, tuple[float | None, float | None, str]] = {}
    for name in ("dup_para_frac", "dup_para_char_frac", "dup_line_frac", "dup_line_char_frac"):
        out[name] = (None, getattr(rules, "max_" + name), "gopher_" + name)
    for kind, limits in (("top", rules.max_top_ngram_char_frac),
                         ("dup", rules.max_dup_ngram_char_frac)):
        for n in sorted(limits):
            key = f"{kind}_{n}gram_char_frac"
            out[key] = (None, limits[n], f"gopher_{key}")
    return out


SPEC = Stage(name=STAGE, make_core=make_core,
             reasons=(*(reason for _, _, reason in rule_thresholds(RepetitionRules()).values()),
                      NO_RULE_SET),
             reads=frozenset({"text", "lang", "meta"}), writes=frozenset({"meta"}),
             report=partial(statistics_report, RepetitionRules, rule_thresholds), report_name="statistics")
