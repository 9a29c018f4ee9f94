"""Data-derived counts for the summary, computed with Beam combiners (no single-worker collect).

These counts come from the records themselves, not from metrics, so conservation
(``input = kept + rejected + dead-lettered``) is checked on exactly what was written, on any
runner. Each combiner's accumulator is small and fixed-size (bounded maps and histograms).
"""
from __future__ import annotations

from typing import Any

import apache_beam as beam

from stages.record import DeadLetter, Doc, Rejected

# Token-length histogram edges (tokens per document), log-spaced, shared with the report.
LENGTH_EDGES = (0, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768, 65536, 131072)


def _bucket(value: int) -> int:
    for index in range(len(LENGTH_EDGES) - 1, -1, -1):
        if value >= LENGTH_EDGES[index]:
            return index
    return 0


def _empty_group() -> dict[str, int]:
    return {"docs": 0, "bytes": 0, "chars": 0, "tokens": 0, "words": 0, "docs_with_tokens": 0,
            "unjudged_docs": 0, "unjudged_tokens": 0}


def _judged_by(doc: Doc) -> dict[str, str | None] | None:
    """The rule sets that judged a document (quality/repetition record them), or None when no
    rule stage ran on it."""
    rule_sets = doc.meta.get("rule_sets")
    return rule_sets if isinstance(rule_sets, dict) else None


class KeptStats(beam.CombineFn):
    """Docs, bytes, characters, tokens and words of kept documents, overall/by language/source."""

    def create_accumulator(self) -> dict[str, Any]:
        return {"total": _empty_group(), "by_lang": {}, "by_source": {},
                "token_hist": [0] * len(LENGTH_EDGES), "char_hist": [0] * len(LENGTH_EDGES)}

    @staticmethod
    def _add(group: dict[str, int], doc: Doc, size: int, chars: int, words: int,
             unjudged: bool) -> None:
        group["docs"] += 1
        group["bytes"] += size
        group["chars"] += chars
        group["words"] += words
        if doc.token_count is not None:
            group["tokens"] += doc.token_count
            group["docs_with_tokens"] += 1
        if unjudged:  # rule stages ran but no rule set applied to this language
            group["unjudged_docs"] += 1
            group["unjudged_tokens"] += doc.token_count or 0

    def add_input(self, acc: dict[str, Any], doc: Doc) -> dict[str, Any]:
        text = doc.text or ""
        size, chars = len(text.encode("utf-8", "replace")), len(text)
        words = len(text.split())
        judged = _judged_by(doc)
        unjudged = judged is not None and not any(judged.values())
        self._add(acc["total"], doc, size, chars, words, unjudged)
        lang = doc.lang or "unknown"
        self._add(acc["by_lang"].setdefault(lang, _empty_group()), doc, size, chars, words, unjudged)
        self._add(acc["by_source"].setdefault(doc.source or "unknown", _empty_group()), doc, size,
                  chars, words, unjudged)
        if judged is not None:
            names = acc.setdefault("rule_sets", {}).setdefault(lang, {})
            for stage, name in judged.items():
                names.setdefault(stage, name)
        if doc.token_count is not None:
            acc["token_hist"][_bucket(doc.token_count)] += 1
        acc["char_hist"][_bucket(chars)] += 1
        return acc

    def merge_accumulators(self, accs: Any) -> dict[str, Any]:
        merged = self.create_accumulator()
        for acc in accs:
            for key, value in acc["total"].items():
                merged["total"][key] += value
            for table in ("by_lang", "by_source"):
                for name, group in acc[table].items():
                    target = merged[table].setdefault(name, _empty_group())
                    for key, value in group.items():
                        target[key] += value
            for hist in ("token_hist", "char_hist"):
                merged[hist] = [a + b for a, b in zip(merged[hist], acc[hist])]
            for lang, names in acc.get("rule_sets", {}).items():
                target = merged.setdefault("rule_sets", {}).setdefault(lang, {})
                for stage, name in names.items():
                    target.setdefault(stage, name)
        return merged

    def extract_output(self, acc: dict[str, Any]) -> dict[str, Any]:
        acc = dict(acc)
        acc["by_lang"] = dict(sorted(acc["by_lang"].items()))
        acc["by_source"] = dict(sorted(acc["by_source"].items()))
        acc["rule_sets"] = {lang: dict(sorted(names.items()))
                            for lang, names in sorted(acc.get("rule_sets", {}).items())}
        acc["length_edges"] = list(LENGTH_EDGES)
        return acc


class RejectStats(beam.CombineFn):
    """Docs and bytes per (stage, reason). Subclasses change only the key's labels."""

    def key(self, rejected: Rejected) -> str:
        """Labels joined by tabs: the output nests each label above the next."""
        return f"{rejected.stage}\t{rejected.reason}"

    def create_accumulator(self) -> dict[str, list[int]]:
        return {}

    def add_input(self, acc: dict[str, list[int]], rejected: Rejected) -> dict[str, list[int]]:
        entry = acc.setdefault(self.key(rejected), [0, 0])
        entry[0] += 1
        entry[1] += rejected.bytes or rejected.doc.raw_bytes
        return acc

    def merge_accumulators(self, accs: Any) -> dict[str, list[int]]:
        merged: dict[str, list[int]] = {}
        for acc in accs:
            for key, (docs, size) in acc.items():
                entry = merged.setdefault(key, [0, 0])
                entry[0] += docs
                entry[1] += size
        return merged

    def extract_output(self, acc: dict[str, list[int]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key in sorted(acc):
            *outer, inner = key.split("\t")
            node = out
            for label in outer:
                node = node.setdefault(label, {})
            node[inner] = {"docs": acc[key][0], "bytes": acc[key][1]}
        return out


class RejectByLangStats(RejectStats):
    """Docs and bytes removed per (language, stage, reason): the per-language funnel. Documents
    rejected before the language stage have no language yet and count under "unknown"."""

    def key(self, rejected: Rejected) -> str:
        return f"{rejected.doc.lang or 'unknown'}\t{rejected.stage}\t{rejected.reason}"


def _error_kind(error: str) -> str:
    """A short, stable label for a dead letter's error (its first clause)."""
    head = error.split(":", 1)[0] if ": " in error else error
    return head[:80]


class DeadLetterStats(beam.CombineFn):
    """Dead letters per (stage, error kind); keeps up to 3 example messages per kind."""

    def create_accumulator(self) -> dict[str, Any]:
        return {}

    def add_input(self, acc: dict[str, Any], dead: DeadLetter) -> dict[str, Any]:
        entry = acc.setdefault(f"{dead.stage}\t{_error_kind(dead.error)}", [0, []])
        entry[0] += 1
        entry[1] = sorted(set(entry[1]) | {dead.error[:300]})[:3]  # order-independent sample
        return acc

    def merge_accumulators(self, accs: Any) -> dict[str, Any]:
        merged: dict[str, Any] = {}
        for acc in accs:
            for key, (count, examples) in acc.items():
                entry = merged.setdefault(key, [0, []])
                entry[0] += count
                entry[1] = sorted(set(entry[1] + examples))[:3]
        return merged

    def extract_output(self, acc: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key in sorted(acc):
            stage, kind = key.split("\t", 1)
            out.setdefault(stage, {})[kind] = {"docs": acc[key][0], "examples": sorted(acc[key][1])}
        return out
