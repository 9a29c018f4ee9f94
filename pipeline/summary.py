"""Build ``summary.json`` from data-derived counts and Beam metrics.

Document counts, reasons and conservation come from the records themselves (exact on every
runner); bytes in/out per stage and time per stage come from the stages' Beam counters. Only
the ``timing`` section is wall-clock; everything else is byte-identical across reruns.
"""
from __future__ import annotations

from collections import defaultdict
from typing import Any

from apache_beam.metrics.metric import MetricsFilter

from stages.base import BOOKKEEPING

SCHEMA_VERSION = 1


def metric_totals(result: Any) -> dict[str, dict[str, int]]:
    """Counters summed across steps: {namespace: {name: value}}; committed, else attempted."""
    totals: dict[str, dict[str, int]] = defaultdict(dict)
    try:
        counters = result.metrics().query(MetricsFilter())["counters"]
    except Exception:  # noqa: BLE001 - some runners expose no metrics
        return {}
    for counter in counters:
        value = counter.committed if counter.committed is not None else counter.attempted
        key = counter.key.metric
        bucket = totals[key.namespace]
        bucket[key.name] = bucket.get(key.name, 0) + int(value or 0)
    return dict(totals)


def build_summary(stage_names: list[str], counted: dict[str, Any], metrics: dict[str, dict[str, int]],
                  reports: dict[str, Any], config: dict[str, Any], wall_seconds: float,
                  runner: str) -> dict[str, Any]:
    """The run summary: funnel per stage, reasons, conservation, kept stats, stage reports."""
    input_stats = counted.get("input") or {"files": 0, "records": 0, "bytes": 0}
    kept = counted.get("kept") or {}
    rejected = counted.get("rejected") or {}
    dead = counted.get("dead_letter") or {}
    kept_docs = (kept.get("total") or {}).get("docs", 0)
    rejected_docs = sum(r["docs"] for reasons in rejected.values() for r in reasons.values())
    dead_docs = sum(d["docs"] for kinds in dead.values() for d in kinds.values())

    stages = []
    docs_in = input_stats["records"]
    for name in ["read", *stage_names]:
        reasons = rejected.get(name, {})
        removed = sum(r["docs"] for r in reasons.values())
        dead_here = sum(d["docs"] for d in dead.get(name, {}).values())
        counters = metrics.get(name, {})
        docs_out = docs_in - removed - dead_here
        stages.append({
            "stage": name,
            "docs_in": docs_in,
            "docs_out": docs_out,
            "rejected": removed,
            "dead_letter": dead_here,
            "bytes_in": counters.get("bytes_in", input_stats["bytes"] if name == "read" else None),
            "bytes_out": counters.get("bytes_out"),
            "reasons": {reason: reasons[reason] for reason in sorted(reasons)},
            "dead_letter_kinds": dead.get(name, {}),
            "counters": {k: v for k, v in sorted(counters.items())
                         if k not in BOOKKEEPING and k not in reasons and k != "records"},
        })
        docs_in = docs_out

    total_in = input_stats["records"]
    conservation = {"input": total_in, "kept": kept_docs, "rejected": rejected_docs,
                    "dead_letter": dead_docs, "holds": total_in == kept_docs + rejected_docs + dead_docs}
    timing = {"wall_seconds": round(wall_seconds, 3), "runner": runner, "stages": {}}
    for name in ["read", *stage_names]:
        counters = metrics.get(name, {})
        seconds = counters.get("micros", 0) / 1e6
        docs = counters.get("docs_in", counters.get("records", 0))  # read counts records
        mb = (counters.get("bytes_in") or 0) / 1e6
        timing["stages"][name] = {
            "cpu_seconds": round(seconds, 3),
            "docs_per_second": round(docs / seconds, 1) if seconds else None,
            "mb_per_second": round(mb / seconds, 3) if seconds else None,
        }
    languages = language_funnel(kept.get("by_lang") or {}, counted.get("rejected_by_lang") or {})
    return {
        "schema_version": SCHEMA_VERSION,
        "input": input_stats,
        "conservation": conservation,
        "stages": stages,
        "kept": kept,
        "languages": languages,
        "dead_letter": dead,
        "reports": reports,
        "config": config,
        "timing": timing,
    }


def language_funnel(kept_by_lang: dict[str, dict], rejected_by_lang: dict[str, dict]) -> dict:
    """Per language: documents seen (kept + rejected with that language), removed per stage,
    kept. Dead letters have no language and are not split."""
    out = {}
    for lang in sorted(set(kept_by_lang) | set(rejected_by_lang)):
        removed = rejected_by_lang.get(lang, {})
        kept_docs = (kept_by_lang.get(lang) or {}).get("docs", 0)
        rejected = sum(v["docs"] for v in removed.values())
        out[lang] = {"docs": kept_docs + rejected, "kept": kept_docs, "rejected": rejected,
                     "rejected_by_stage": {stage: removed[stage] for stage in sorted(removed)}}
    return out


def without_timing(summary: dict[str, Any]) -> dict[str, Any]:
    """The deterministic part of a summary (what reruns must reproduce byte for byte)."""
    return {k: v for k, v in summary.items() if k != "timing"}
