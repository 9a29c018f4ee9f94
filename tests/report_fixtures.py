"""Hand-made summaries for the report tests: ``fixed_summary`` (numbers chosen so every report
figure can be checked by hand), ``rich_summary`` (adds every key other stages will publish:
rule statistics, tokenizer identity, demo resources, per-language tokens and rule sets) and
hostile strings that must come out of report.md / report.html as text, never as markup."""
from __future__ import annotations

import copy

HOSTILE = ("<script>console.log('pwned-1')</script><img src=x onerror=console.log('pwned-2')> | "
           "**bold** [link](javascript:x) `tick`")
HOSTILE_SOURCE = "evil<script>console.log('pwned-source')</script>.jsonl"
HOSTILE_REASON = "bad<img src=x onerror=console.log('pwned-reason')>"


def fixed_summary() -> dict:
    """10B kept tokens at exactly 4 bytes/token; dedup ran."""
    stages = [
        {"stage": "read", "docs_in": 1000, "docs_out": 990, "rejected": 5, "dead_letter": 5,
         "bytes_in": 30_000_000_000, "bytes_out": 90_000_000_000,
         "reasons": {"empty_record": {"docs": 5, "bytes": 100}},
         "dead_letter_kinds": {"bad json": {"docs": 5, "examples": []}}},
        {"stage": "extract", "docs_in": 990, "docs_out": 900, "rejected": 90, "dead_letter": 0,
         "bytes_in": 90_000_000_000, "bytes_out": 48_000_000_000,
         "reasons": {"empty_extraction": {"docs": 90, "bytes": 4_000_000}}, "dead_letter_kinds": {}},
        {"stage": "dedup", "docs_in": 900, "docs_out": 800, "rejected": 100, "dead_letter": 0,
         "bytes_in": 48_000_000_000, "bytes_out": 40_000_000_000,
         "reasons": {"exact_duplicate": {"docs": 100, "bytes": 8_000_000_000}},
         "dead_letter_kinds": {}},
        {"stage": "tokenize", "docs_in": 800, "docs_out": 800, "rejected": 0, "dead_letter": 0,
         "bytes_in": 40_000_000_000, "bytes_out": 40_000_000_000, "reasons": {},
         "dead_letter_kinds": {}},
    ]
    group = {"docs": 800, "bytes": 40_000_000_000, "chars": 32_000_000_000,
             "tokens": 10_000_000_000, "words": 8_000_000_000, "docs_with_tokens": 800}
    zh = {"docs": 200, "bytes": 12_000_000_000, "chars": 4_000_000_000,
          "tokens": 4_000_000_000, "words": 100, "docs_with_tokens": 200}
    en = {k: group[k] - zh[k] for k in group}
    return {
        "schema_version": 1,
        "input": {"files": 1, "records": 1000, "bytes": 30_000_000_000},
        "conservation": {"input": 1000, "kept": 800, "rejected": 195, "dead_letter": 5,
                         "holds": True},
        "stages": stages,
        "kept": {"total": group, "by_lang": {"en": en, "zh": zh},
                 "by_source": {"crawl": group},
                 "length_edges": [0, 16, 32], "token_hist": [0, 300, 500],
                 "char_hist": [0, 100, 700]},
        "languages": {"en": {"docs": 700, "kept": 600, "rejected": 100,
                             "rejected_by_stage": {"dedup": {"docs": 100, "bytes": 8_000_000_000}}},
                      "zh": {"docs": 200, "kept": 200, "rejected": 0, "rejected_by_stage": {}}},
        "reports": {"dedup": {"minhash": {"bands": 18, "rows": 7, "num_perm": 128,
                                          "threshold": 0.8, "s_curve_threshold": 0.6617,
                                          "p_candidate_at_threshold": 0.985542,
                                          "exact": {"docs_removed": 100, "bytes_removed": 8e9},
                                          "near": {"docs_removed": 0, "bytes_removed": 0},
                                          "cluster_sizes": {"1": 700, "2": 100}}}},
        "config": {"report": {"models": ["1B", "7B"], "gpu": "h100", "gpus": 64, "mfu": 0.4}},
    }


def statistics() -> dict:
    """reports.<stage>.statistics: {lang: {statistic: {edges, counts, reason, min, max}}}."""
    return {
        "quality": {"en": {
            "word_count": {"edges": [0, 25, 50, 100, 1000, 10000, 100000, 1000000],
                           "counts": [4, 6, 30, 500, 200, 9, 1],
                           "reason": "gopher_word_count", "min": 50, "max": 100000},
            "mean_word_length": {"edges": [0, 1, 2, 3, 4, 5, 6, 8, 10, 12, 20],
                                 "counts": [0, 1, 2, 40, 400, 250, 50, 5, 1, 1],
                                 "reason": "gopher_mean_word_length", "min": 3, "max": 10},
            "stop_words": {"edges": [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
                           "counts": [7, 3, 10, 20, 40, 80, 200, 300, 90],
                           "reason": "gopher_stop_words", "min": 2, "max": None}}},
        "repetition": {"en": {
            "dup_line_frac": {"edges": [0, 0.1, 0.2, 0.3, 0.4, 0.5, 1.0],
                              "counts": [600, 100, 40, 10, 3, 7],
                              "reason": "gopher_dup_line_frac", "min": None, "max": 0.3}},
            "zh": {"dup_line_frac": {"edges": [0, 0.1, 0.2, 0.3, 0.4, 0.5, 1.0],
                                     "counts": [150, 30, 10, 5, 3, 2],
                                     "reason": "gopher_dup_line_frac", "min": None, "max": 0.3}}},
    }


def rich_summary() -> dict:
    """fixed_summary plus every key other stages publish, and hostile strings in record fields."""
    s = copy.deepcopy(fixed_summary())
    stats = statistics()
    s["reports"]["quality"] = {"statistics": stats["quality"]}
    s["reports"]["repetition"] = {"statistics": stats["repetition"]}
    s["reports"]["tokenize"] = {"summary": {
        "model": {"kind": "sentencepiece", "file": "artefacts/tokenizer.model",
                  "sha256": "ab" * 32, "vocab_size": 32000, "trained_in_run": True,
                  "model_type": "unigram"},
        "trained_vs_reference": {"reference": "Llama 2", "tokens_ratio": 0.93,
                                 "note": "measured on held-back kept text"}}}
    from pipeline.config import load_config
    from pipeline.resources import demo_resources

    s["resources"] = {"demo": demo_resources(load_config())}  # the shape run.py stores
    s["languages"] = {
        "en": {"docs": 700, "kept": 600, "rejected": 100, "tokens": 7_000_000_000,
               "kept_tokens": 6_000_000_000,
               "rejected_by_stage": {"dedup": {"docs": 100, "bytes": 8_000_000_000}},
               "rule_sets": {"quality": "en", "repetition": "en"},
               "unjudged_docs": 0, "unjudged_tokens": 0},
        "zh": {"docs": 200, "kept": 200, "rejected": 0, "tokens": 4_000_000_000,
               "kept_tokens": 4_000_000_000, "rejected_by_stage": {},
               "rule_sets": {"quality": None, "repetition": None},
               "unjudged_docs": 200, "unjudged_tokens": 4_000_000_000},
    }
    group = s["kept"]["total"]
    many = {f"file-{i:03d}.jsonl": {"docs": 1, "bytes": 10, "chars": 10, "tokens": 10 + i,
                                    "words": 2, "docs_with_tokens": 1} for i in range(25)}
    many[HOSTILE_SOURCE] = dict(group)
    s["kept"]["by_source"] = many
    s["stages"][0]["reasons"][HOSTILE_REASON] = {"docs": 1, "bytes": 5}
    s["stages"][0]["dead_letter_kinds"][HOSTILE] = {"docs": 1, "examples": [HOSTILE]}
    s["reports"]["decontaminate"] = {"contamination": {
        "mode": "span", "ngram": 13, "index": {"ngrams": 10, "bytes": 99},
        "ignored_common_ngrams": 0,
        "benchmarks": {"bench": {"items": 10, "dirty_items": 1, "docs_touched": 1, "docs_dropped": 0,
                                 "chars_removed": 400, "words_removed": 70, "tokens_removed": None,
                                 "examples": [HOSTILE]}}}}
    return s


def hostile_samples() -> list[dict]:
    return [{"stage": "quality", "reason": "gopher_stop_words",
             "rows": [{"id": "id-<b>1</b>", "url": "https://x.example/<script>",
                       "text": HOSTILE + " \u202ereversed\u202c zero\u200bwidth"}]},
            {"stage": "read", "reason": HOSTILE_REASON,
             "rows": [{"id": "`", "url": None, "text": "<script>console.log('pwned-sample')</script>"}]}]
