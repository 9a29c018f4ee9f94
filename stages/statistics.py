"""Histograms of the statistics rules threshold, per language: the report's tuning views.

A user moving a threshold wants to see what it cuts. The quality and repetition cores return
their statistics with each verdict (:class:`stages.record.Verdict`), so the numbers the rule
decided on are the numbers counted here - one evaluation, no second pass. Bins are fixed per
kind of statistic (fractions, ratios, counts, lengths), so accumulators merge by addition and
the output is identical whatever the worker count.
"""
from __future__ import annotations

from typing import Any, Callable, Iterable

import apache_beam as beam
import numpy as np

FRACTION_EDGES = tuple(round(i * 0.05, 2) for i in range(21))
RATIO_EDGES = (0.0, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0)
COUNT_EDGES = (0, 10, 25, 50, 100, 200, 500, 1_000, 2_000, 5_000, 10_000, 50_000, 100_000,
               1_000_000)
LENGTH_EDGES = tuple(range(16)) + (20, 50)
SMALL_COUNT_EDGES = tuple(range(11)) + (20,)


def edges_for(statistic: str) -> tuple[float, ...]:
    """The bins of a statistic, by what it measures."""
    if statistic == "words":
        return COUNT_EDGES
    if statistic == "mean_word_length":
        return LENGTH_EDGES
    if statistic == "stop_words":
        return SMALL_COUNT_EDGES
    if statistic.endswith("_ratio"):
        return RATIO_EDGES
    return FRACTION_EDGES


def bucket(value: float, edges: tuple[float, ...]) -> int:
    """Index of the bin holding ``value``: [edges[i], edges[i+1]); the last bin is open."""
    return max(0, int(np.searchsorted(edges, value, side="right")) - 1)


class RuleHistograms(beam.CombineFn):
    """(doc, outcome, info) with info = (rule set name, {statistic: value}) -> per language and
    statistic: bin edges, counts and the rule's thresholds (from ``thresholds_for(lang)``)."""

    def __init__(self, thresholds_for: Callable[[str | None], dict[str, tuple]]) -> None:
        self.thresholds_for = thresholds_for

    def create_accumulator(self) -> dict[str, Any]:
        return {}

    def add_input(self, acc: dict[str, Any], item: tuple[Any, Any, Any]) -> dict[str, Any]:
        doc, _, info = item
        if info is None:
            return acc
        rule_set, values = info
        lang = doc.lang or "unknown"
        entry = acc.setdefault(lang, {"rule_set": rule_set, "docs": 0, "counts": {}})
        entry["docs"] += 1
        for statistic, value in values.items():
            edges = edges_for(statistic)
            counts = entry["counts"].setdefault(statistic, [0] * len(edges))
            counts[bucket(value, edges)] += 1
        return acc

    def merge_accumulators(self, accs: Iterable[dict[str, Any]]) -> dict[str, Any]:
        merged: dict[str, Any] = {}
        for acc in accs:
            for lang, entry in acc.items():
                target = merged.setdefault(lang, {"rule_set": entry["rule_set"], "docs": 0,
                                                  "counts": {}})
                target["docs"] += entry["docs"]
                for statistic, counts in entry["counts"].items():
                    into = target["counts"].setdefault(statistic, [0] * len(counts))
                    target["counts"][statistic] = [a + b for a, b in zip(into, counts)]
        return merged

    def extract_output(self, acc: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for lang in sorted(acc):
            entry = acc[lang]
            thresholds = self.thresholds_for(None if lang == "unknown" else lang)
            table = {}
            for statistic in sorted(entry["counts"]):
                low, high, reason = thresholds.get(statistic, (None, None, None))
                table[statistic] = {"edges": list(edges_for(statistic)),
                                    "counts": entry["counts"][statistic], "reason": reason,
                                    "min": low, "max": high}
            out[lang] = {"rule_set": entry["rule_set"], "docs": entry["docs"], "statistics": table}
        return out


class RuleSetThresholds:
    """Picklable ``lang -> thresholds``: ``thresholds(rules)`` of the language's rule set when
    that set is of ``rules_type`` (a language judged by another kind of rules has none here)."""

    def __init__(self, config: Any, rules_type: type,
                 thresholds: Callable[[Any], dict[str, tuple]]) -> None:
        self.config, self.rules_type, self.thresholds = config, rules_type, thresholds

    def __call__(self, lang: str | None) -> dict[str, tuple]:
        _, rules = self.config.rule_set(lang)
        return self.thresholds(rules) if isinstance(rules, self.rules_type) else {}


def statistics_report(rules_type: type, thresholds: Callable[[Any], dict[str, tuple]],
                      config: Any, context: object = None) -> RuleHistograms:
    """The report a statistics stage declares, bound with ``functools.partial`` to its rules
    type and its ``rule_thresholds``."""
    return RuleHistograms(RuleSetThresholds(config, rules_type, thresholds))
