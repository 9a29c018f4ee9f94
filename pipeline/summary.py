"""Build ``summary.json`` from the passes' statistics and the rows actually written.

Every count comes from the data: each pass counts what it reads and writes per file, and the
driver has already checked those counts against the Parquet footers (:func:`pipeline.run.
verify_evidence`). Conservation is computed from the rows in the files. Only the ``timing``
section is wall-clock; everything else is byte-identical across reruns and runners.
"""
from __future__ import annotations

from typing import Any

SCHEMA_VERSION = 2


def _merged_stages(stats: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Per stage, its entries of every pass added up: a two-pass stage appears in two passes
    (its prepare's time and dead letters in the first, its apply in the second)."""
    from pipeline.passes import add_stage, stage_stats

    stages: dict[str, dict[str, Any]] = {}
    for key in sorted(k for k in stats if k.startswith("pass")):
        for name, entry in stats[key]["stages"].items():
            add_stage(stages.setdefault(name, stage_stats()), entry)
    return stages


def _merged_acc(stats: dict[str, Any], name: str) -> Any:
    """A run-wide combiner's output over every pass (accumulators merged, then extracted)."""
    from pipeline.passes import COMBINERS

    fn = COMBINERS[name]
    parts = [stats[k]["acc"][name] for k in sorted(stats) if k.startswith("pass")]
    return fn.extract_output(fn.merge_accumulators(parts))


def build_summary(stage_names: list[str], stats: dict[str, Any], written: dict[str, Any],
                  config: dict[str, Any], wall_seconds: float, runner: str,
                  finalizers: dict[str, Any] | None = None) -> dict[str, Any]:
    """The run summary: funnel per stage, reasons, conservation, kept stats, stage reports."""
    pass0 = stats["pass0"]
    records = sum(entry["records"] for entry in pass0["input"].values())
    input_bytes = sum(entry["bytes"] for entry in pass0["input"].values())
    input_stats = {"files": len(pass0["input"]), "records": records, "bytes": input_bytes}
    per_stage = _merged_stages(stats)
    kept = _merged_acc(stats, "kept") or {}
    dead = _merged_acc(stats, "dead_letter") or {}
    rejected_by_lang = _merged_acc(stats, "rejected_by_lang") or {}
    rows = written["rows"]

    stages = []
    docs_in = records
    for name in ["read", *stage_names]:
        entry = per_stage.get(name) or {"docs_in": 0, "bytes_in": 0, "docs_out": 0,
                                        "bytes_out": 0, "dead_letter": 0, "micros": 0,
                                        "reasons": {}}
        reasons = {reason: {"docs": docs, "bytes": size}
                   for reason, (docs, size) in sorted(entry["reasons"].items())}
        removed = sum(r["docs"] for r in reasons.values())
        dead_here = entry["dead_letter"]
        docs_out = docs_in - removed - dead_here
        stages.append({
            "stage": name,
            "docs_in": docs_in,
            "docs_out": docs_out,
            "rejected": removed,
            "dead_letter": dead_here,
            "bytes_in": entry["bytes_in"],
            "bytes_out": entry["bytes_out"],
            "reasons": reasons,
            "dead_letter_kinds": dead.get(name, {}),
        })
        docs_in = docs_out

    conservation = {"input": records, "kept": rows["kept"], "rejected": rows["rejected"],
                    "dead_letter": rows["dead_letter"],
                    "holds": records == rows["kept"] + rows["rejected"] + rows["dead_letter"]}
    timing = {"wall_seconds": round(wall_seconds, 3), "runner": runner, "stages": {}}
    for name in ["read", *stage_names]:
        entry = per_stage.get(name) or {}
        seconds = entry.get("micros", 0) / 1e6
        docs = entry.get("docs_in", 0)
        mb = (entry.get("bytes_in") or 0) / 1e6
        timing["stages"][name] = {
            "cpu_seconds": round(seconds, 3),
            "docs_per_second": round(docs / seconds, 1) if seconds else None,
            "mb_per_second": round(mb / seconds, 3) if seconds else None,
        }
    finalizers = finalizers or {}
    reports: dict[str, dict[str, Any]] = {}
    named = {key: value for key, value in stats.items() if not key.startswith("pass")}
    for key in sorted(stats):
        if key.startswith("pass"):
            named.update(stats[key].get("reports", {}))
    for key in sorted(named):
        stage, _, name = key.partition(".")
        reports.setdefault(stage, {})[name] = named[key]
    for stage, spec in finalizers.items():
        if stage in reports:
            reports[stage] = spec(reports[stage])
    return {
        "schema_version": SCHEMA_VERSION,
        "input": input_stats,
        "conservation": conservation,
        "stages": stages,
        "kept": kept,
        "languages": language_funnel(kept.get("by_lang") or {}, rejected_by_lang,
                                     kept.get("rule_sets") or {}),
        "dead_letter": dead,
        "reports": reports,
        "config": config,
        "timing": timing,
    }


def language_funnel(kept_by_lang: dict[str, dict], rejected_by_lang: dict[str, dict],
                    rule_sets: dict[str, dict] | None = None) -> dict:
    """Per language: documents seen (kept + rejected with that language), removed per stage
    and per reason, kept documents and tokens, the rule sets that judged it, and what passed
    without one. Dead letters have no language and are not split."""
    out = {}
    for lang in sorted(set(kept_by_lang) | set(rejected_by_lang)):
        removed = rejected_by_lang.get(lang, {})
        kept = kept_by_lang.get(lang) or {}
        by_stage = {stage: {"docs": sum(r["docs"] for r in reasons.values()),
                            "bytes": sum(r["bytes"] for r in reasons.values())}
                    for stage, reasons in sorted(removed.items())}
        rejected = sum(v["docs"] for v in by_stage.values())
        out[lang] = {"docs": kept.get("docs", 0) + rejected, "kept": kept.get("docs", 0),
                     "rejected": rejected, "rejected_by_stage": by_stage,
                     "rejected_by_reason": {stage: removed[stage] for stage in sorted(removed)},
                     "kept_tokens": kept.get("tokens", 0),
                     "unjudged_docs": kept.get("unjudged_docs", 0),
                     "unjudged_tokens": kept.get("unjudged_tokens", 0),
                     "rule_sets": (rule_sets or {}).get(lang, {})}
    return out


def without_timing(summary: dict[str, Any]) -> dict[str, Any]:
    """The deterministic part of a summary (what reruns must reproduce byte for byte)."""
    return {k: v for k, v in summary.items() if k != "timing"}
