"""Assemble report.json from a run's summary.json (plus file sizes on disk) and the config.

Pure: ``build_report(summary, config, disk)`` takes plain dicts, so the report's numbers are
pinned by tests on a hand-made summary. Every section says ``"status": "not run"`` (with why)
when its data is absent instead of printing zeros. ``budget_section`` is shared with the
``plan`` verb so both print exactly the same numbers.
"""
from __future__ import annotations

import math
from typing import Any, Iterable

from pipeline.report import formulas as f
from pipeline.report.config import ReportConfig

SCHEMA_VERSION = 1
# Languages written without spaces between words: tokens/word is undefined for them.
UNSPACED_LANGS = frozenset({"zh", "ja", "th", "lo", "km", "my", "bo", "yue", "wuu"})

DEFINITIONS = {
    "chars_per_token": "Unicode code points / tokens (higher = fewer tokens per text)",
    "bytes_per_token": "UTF-8 bytes / tokens (The Pile's measure)",
    "tokens_per_char": "tokens / Unicode code points (lower = better; the magnitude of "
                       "Baichuan's 'compress rate', which its sources do not define)",
    "tokens_per_word": "tokens / whitespace-separated words, over languages written with spaces "
                       "(fertility; undefined for zh/ja/th...)",
}
BAICHUAN_NOTE = ("Baichuan-7B's README and Baichuan 2 (arXiv 2309.10305, Table 2) publish a "
                 "'compress rate' (lower is better) without defining it; its magnitudes fit tokens "
                 "per character on Chinese-heavy text. This report prints tokens/char under that "
                 "name only, with the definition beside it.")
REFERENCE_COMPRESSION = [
    {"tokenizer": "Llama 2", "text": "English (botchan.txt)", "chars_per_token": 3.65,
     "source": "REFERENCE.md §6, sentencepiece encode, no BOS/EOS"},
    {"tokenizer": "Llama 2", "text": "Chinese news", "chars_per_token": 0.70,
     "source": "REFERENCE.md §6"},
]


def sig(value: float | None, digits: int = 6) -> float | None:
    """Round to significant digits so report.json stays readable and byte-stable."""
    if value is None or not math.isfinite(value):
        return None
    if value == 0:
        return 0.0
    return float(f"{value:.{digits}g}")


def _ratio(a: float | None, b: float | None) -> float | None:
    return sig(a / b) if a is not None and b else None


def not_run(why: str) -> dict[str, Any]:
    return {"status": "not run", "why": why}


# ------------------------------------------------------------------ budget (shared with `plan`)
def model_budget(name: str, unique_tokens: float, train_tokens: float | None, gpu: str, gpus: int,
                 mfu: float, mfu_range: tuple[float, float]) -> dict[str, Any]:
    """Epochs, effective data, verdict, compute, time and memory for one target model."""
    params = f.parse_size(name)
    optimal = f.chinchilla_tokens(params)
    needed = train_tokens if train_tokens is not None else optimal
    rep = f.repetition_penalty(params, needed, unique_tokens)
    verdict, source = f.verdict(rep["epochs"])
    kaplan = f.kaplan_min_tokens(params)
    peak = f.GPU_PEAK_FLOPS[gpu]
    day = 86400.0
    mem = f.train_memory(params)
    flops = f.train_flops(params, needed)
    seconds = f.train_seconds(params, needed, gpus, peak, mfu)
    return {
        "model": name,
        "params": sig(params),
        "chinchilla_tokens": sig(optimal),
        "chinchilla_flops": sig(f.chinchilla_compute(params)),
        "tokens_20x": sig(f.TOKENS_PER_PARAM_RULE * params),
        "kaplan_min_tokens": sig(kaplan),
        "unique_meets_kaplan": unique_tokens >= kaplan,
        "needed_tokens": sig(needed),
        "needed_source": "chinchilla" if train_tokens is None else "config",
        "epochs": sig(rep["epochs"], 4),
        "effective_tokens": sig(rep["effective_tokens"]),
        "effective_fraction": sig(rep["effective_fraction"], 4),
        "loss_unique": sig(rep["loss_unique"], 5),
        "loss_repeated": sig(rep["loss_repeated"], 5),
        "loss_penalty_pct": sig(rep["loss_penalty_pct"], 4),
        "verdict": verdict,
        "verdict_source": source,
        "flops_6nd": sig(flops),
        "flops_8nd": sig(f.train_flops(params, needed, recompute=True)),
        "gopher_units_6nd": sig(f.gopher_units(flops), 4),
        "days": sig(seconds / day, 4),
        "days_range": [sig(f.train_seconds(params, needed, gpus, peak, mfu_range[1]) / day, 4),
                       sig(f.train_seconds(params, needed, gpus, peak, mfu_range[0]) / day, 4)],
        "gpu_hours": sig(seconds * gpus / 3600, 4),
        "memory_gb": {"16": sig(mem.bytes_16 / 1e9, 4), "18": sig(mem.bytes_18 / 1e9, 4),
                      "20": sig(mem.bytes_20 / 1e9, 4)},
        "min_gpus_for_states": math.ceil(mem.bytes_16 / f.GPU_MEMORY_BYTES[gpu]),
    }


def budget_section(unique_tokens: float, models: Iterable[str], gpu: str, gpus: int, mfu: float,
                   mfu_range: tuple[float, float], train_tokens: float | None = None,
                   dataset_tokens: float | None = None, tokens_source: str = "measured") -> dict:
    """The epochs + compute section (sections 5 and 6 of issue 6)."""
    if unique_tokens <= 0:
        raise ValueError(f"unique tokens must be positive, got {unique_tokens}")
    if gpu not in f.GPU_PEAK_FLOPS:
        raise ValueError(f"unknown GPU {gpu!r}; allowed: {', '.join(sorted(f.GPU_PEAK_FLOPS))}")
    rows = [model_budget(m, unique_tokens, train_tokens, gpu, gpus, mfu, mfu_range) for m in models]
    rows.sort(key=lambda row: row["params"])
    return {
        "status": "ok",
        "dataset_tokens": sig(dataset_tokens if dataset_tokens is not None else unique_tokens),
        "unique_tokens": sig(unique_tokens),
        "tokens_source": tokens_source,
        "hardware": {"gpu": gpu, "gpus": gpus, "peak_flops": f.GPU_PEAK_FLOPS[gpu], "mfu": mfu,
                     "mfu_range": list(mfu_range), "gpu_memory_gb": f.GPU_MEMORY_BYTES[gpu] / 1e9},
        "models": rows,
        "rules": [
            {"rule": "Chinchilla compute-optimal tokens",
             "formula": f"N_opt = {f.CHINCHILLA_G:.5g} C^{f.CHINCHILLA_A:.5g}, D_opt = C / (6 N)",
             "source": "Hoffmann et al. 2022 (arXiv 2203.15556), Approach 1 / Table 3"},
            {"rule": "~20 tokens per parameter", "formula": "D = 20 N",
             "source": "reading of Chinchilla Table 3 (70B params, 1.4T tokens)"},
            {"rule": "Kaplan overfitting bound", "formula": "D >= 5e3 N^0.74",
             "source": "Kaplan et al. 2020 (arXiv 2001.08361)"},
            {"rule": "epochs", "formula": "needed tokens / unique tokens", "source": "definition"},
            {"rule": "effective data after repetition",
             "formula": "D' = U + U R*_D (1 - exp(-(E-1)/R*_D)), R*_D = 15.388",
             "source": "Muennighoff et al. 2023 (arXiv 2305.16264), huggingface/datablations fit"},
            {"rule": "loss penalty vs unique data",
             "formula": "L(N, D') - L(N, D), L = E + A/N^a + B/D^b (data-constrained fit)",
             "source": "Muennighoff et al. 2023; parameters taken as given (no excess-N decay)"},
            {"rule": "verdict bands", "formula": "<=1 fine, <=4 negligible, <=16 diminishing, "
             ">16 get more data", "source": "Muennighoff et al. 2023"},
            {"rule": "training FLOPs", "formula": "6 N D (8 N D with activation recomputation); "
             "Gopher unit = 5.76e23 FLOPs", "source": "Kaplan et al. 2020; Chinchilla Table 3"},
            {"rule": "training time", "formula": "8 N D / (GPUs x peak FLOP/s x MFU)",
             "source": "Narayanan et al. 2021 (arXiv 2104.04473), eq. 4"},
            {"rule": "training memory", "formula": "16 bytes/param (2 weights + 2 grads + 12 "
             "Adam fp32 states); 18-20 with fp32 gradients; activations extra",
             "source": "ZeRO (Rajbhandari et al., arXiv 1910.02054)"},
        ],
    }


# ------------------------------------------------------------------ sections from a summary
def _stage_bytes_are_text(stage: str, stage_names: list[str], side: str) -> bool:
    """True when a stage's bytes_<side> count UTF-8 text (after extraction), not raw records."""
    if stage == "read":
        return side == "out" and "extract" not in stage_names
    if "extract" not in stage_names:
        return True
    index, extract = stage_names.index(stage), stage_names.index("extract")
    return index > extract or (index == extract and side == "out")


def funnel_section(summary: dict, bytes_per_token: float | None) -> dict[str, Any]:
    stages = summary.get("stages") or []
    if not stages:
        return not_run("summary has no stages")
    names = [s["stage"] for s in stages]
    measured_tokens = (summary.get("kept") or {}).get("total", {}).get("tokens") or None
    tokenized = "tokenize" in names and measured_tokens is not None

    def estimate(size: int | None, text: bool) -> int | None:
        if size is None or not text or not bytes_per_token:
            return None
        return round(size / bytes_per_token)

    rows = []
    for stage in stages:
        name = stage["stage"]
        text_in = _stage_bytes_are_text(name, names, "in")
        text_out = _stage_bytes_are_text(name, names, "out")
        tokens_out = estimate(stage.get("bytes_out"), text_out)
        out_estimated = True
        if tokenized and name == names[-1]:
            tokens_out, out_estimated = measured_tokens, False
        rules = []
        for reason, value in (stage.get("reasons") or {}).items():
            rules.append({"rule": reason, "docs": value.get("docs", 0), "bytes": value.get("bytes"),
                          "tokens": estimate(value.get("bytes"), text_in), "tokens_estimated": True})
        for kind, value in (stage.get("dead_letter_kinds") or {}).items():
            rules.append({"rule": f"dead letter: {kind}", "docs": value.get("docs", 0),
                          "bytes": None, "tokens": None, "tokens_estimated": True})
        rows.append({
            "stage": name, "docs_in": stage.get("docs_in"), "docs_out": stage.get("docs_out"),
            "rejected": stage.get("rejected", 0), "dead_letter": stage.get("dead_letter", 0),
            "bytes_in": stage.get("bytes_in"), "bytes_out": stage.get("bytes_out"),
            "bytes_in_kind": "input files" if name == "read" else ("text" if text_in else "records"),
            "tokens_in": estimate(stage.get("bytes_in"), text_in), "tokens_out": tokens_out,
            "tokens_out_estimated": out_estimated, "rules": rules,
        })
    return {"status": "ok", "stages": rows, "bytes_per_token": bytes_per_token,
            "note": "tokens are measured for kept documents after tokenize; every other token "
                    "figure is estimated as bytes / measured bytes-per-token, and only where the "
                    "bytes are extracted text (raw HTML/record bytes are not converted)"
                    if bytes_per_token else "no token counts: tokenize did not run"}


def _group_rows(groups: dict[str, dict], total_tokens: int) -> list[dict[str, Any]]:
    rows = []
    for name, g in groups.items():
        tokens = g.get("tokens", 0)
        rows.append({"name": name, "docs": g.get("docs", 0), "bytes": g.get("bytes", 0),
                     "chars": g.get("chars", 0), "tokens": tokens,
                     "share": _ratio(tokens, total_tokens),
                     "tokens_per_doc": _ratio(tokens, g.get("docs", 0))})
    rows.sort(key=lambda row: (-row["tokens"], -row["docs"], row["name"]))
    return rows


def tokens_section(kept: dict) -> dict[str, Any]:
    total = kept.get("total") or {}
    edges = kept.get("length_edges") or []
    if not total.get("docs_with_tokens"):
        section = not_run("no token counts: the tokenize stage did not run (or kept nothing)")
        if kept.get("char_hist") and edges:
            section["char_histogram"] = {"edges": edges, "counts": kept["char_hist"]}
        return section
    tokens = total["tokens"]
    return {
        "status": "ok", "total_tokens": tokens, "docs": total["docs"],
        "docs_with_tokens": total["docs_with_tokens"],
        "mean_tokens_per_doc": _ratio(tokens, total["docs_with_tokens"]),
        "by_lang": _group_rows(kept.get("by_lang") or {}, tokens),
        "by_source": _group_rows(kept.get("by_source") or {}, tokens),
        "histogram": {"unit": "tokens per document", "edges": edges,
                      "counts": kept.get("token_hist") or []},
        "char_histogram": {"edges": edges, "counts": kept.get("char_hist") or []},
    }


def _compression(g: dict, words_defined: bool) -> dict[str, Any]:
    tokens = g.get("tokens", 0)
    return {"docs": g.get("docs", 0), "tokens": tokens, "chars": g.get("chars", 0),
            "bytes": g.get("bytes", 0), "words": g.get("words", 0) if words_defined else None,
            "chars_per_token": _ratio(g.get("chars"), tokens),
            "bytes_per_token": _ratio(g.get("bytes"), tokens),
            "tokens_per_char": _ratio(tokens, g.get("chars")),
            "tokens_per_word": _ratio(tokens, g.get("words")) if words_defined else None}


def compression_section(kept: dict, tokenize_report: dict | None) -> dict[str, Any]:
    total = kept.get("total") or {}
    if not total.get("tokens"):
        return not_run("no token counts: the tokenize stage did not run")
    by_lang = kept.get("by_lang") or {}
    spaced = {k: v for k, v in by_lang.items() if k not in UNSPACED_LANGS}
    overall = _compression(total, words_defined=False)
    spaced_tokens = sum(g.get("tokens", 0) for g in spaced.values())
    spaced_words = sum(g.get("words", 0) for g in spaced.values())
    overall["tokens_per_word"] = _ratio(spaced_tokens, spaced_words)
    overall["words"] = spaced_words
    langs = {lang: _compression(g, lang not in UNSPACED_LANGS) for lang, g in by_lang.items()}
    model = ((tokenize_report or {}).get("summary") or {}).get("model")
    return {"status": "ok", "total": overall, "by_lang": langs, "definitions": DEFINITIONS,
            "tokenizer": model, "baichuan_note": BAICHUAN_NOTE,
            "reference": REFERENCE_COMPRESSION,
            "words_note": "tokens_per_word counts only languages written with spaces "
                          f"(excluded: {', '.join(sorted(UNSPACED_LANGS))})"}


def storage_section(summary: dict, disk: dict[str, int | None], tokens: int | None,
                    largest_needed: float | None) -> dict[str, Any]:
    stages = {s["stage"]: s for s in summary.get("stages") or []}
    kept_bytes = (summary.get("kept") or {}).get("total", {}).get("bytes")
    rows = [
        {"item": "raw input files", "bytes": (summary.get("input") or {}).get("bytes"),
         "what": "bytes of the input files as read (compressed if the files are)"},
        {"item": "records read", "bytes": (stages.get("read") or {}).get("bytes_out"),
         "what": "decompressed record bytes (HTML or text) leaving the reader"},
        {"item": "extracted text", "bytes": (stages.get("extract") or {}).get("bytes_out"),
         "what": "UTF-8 text leaving extract" if "extract" in stages else "extract not run"},
        {"item": "kept text", "bytes": kept_bytes, "what": "UTF-8 text of kept documents"},
        {"item": "kept Parquet on disk", "bytes": disk.get("kept"),
         "what": "sum of files under kept/ (text, metadata, compressed)"},
        {"item": "tokenized binary", "bytes": disk.get("tokens"),
         "what": "sum of files under tokens/ (ids + index)" if disk.get("tokens")
         else "not written (tokenize.write_token_ids off or tokenize not run)"},
    ]
    for row in rows:
        row["bytes_per_token"] = _ratio(row["bytes"], tokens)
        # GB per billion tokens equals bytes per token; spelled out for readers who plan in GB.
        row["gb_per_billion_tokens"] = row["bytes_per_token"]
        row["tb_at_largest_budget"] = (sig(row["bytes_per_token"] * largest_needed / 1e12, 4)
                                       if row["bytes_per_token"] and largest_needed else None)
    return {"status": "ok" if tokens else "partial", "rows": rows, "tokens": tokens,
            "largest_needed_tokens": sig(largest_needed) if largest_needed else None,
            "note": None if tokens else "no token counts: per-token figures need tokenize"}


def dedup_section(reports: dict) -> dict[str, Any]:
    minhash = (reports.get("dedup") or {}).get("minhash")
    if not minhash:
        return not_run("dedup did not run (no dedup report in summary.json)")
    bands, rows = minhash.get("bands"), minhash.get("rows")
    curve = None
    if bands and rows:
        curve = [{"jaccard": j / 100, "p_candidate": sig(1 - (1 - (j / 100) ** rows) ** bands, 6)}
                 for j in range(0, 101, 2)]
    return {"status": "ok", "bands": bands, "rows": rows, "num_perm": minhash.get("num_perm"),
            "threshold": minhash.get("threshold"),
            "s_curve_threshold": minhash.get("s_curve_threshold"),
            "p_candidate_at_threshold": minhash.get("p_candidate_at_threshold"),
            "exact": minhash.get("exact"), "near": minhash.get("near"),
            "cluster_sizes": minhash.get("cluster_sizes"),
            "candidate_edges": minhash.get("candidate_edges"), "verify": minhash.get("verify"),
            "survivor_rule": minhash.get("survivor_rule"), "s_curve": curve,
            "formula": "P(candidate | J) = 1 - (1 - J^r)^b"}


def decontam_section(reports: dict, tokens_per_char: float | None = None) -> dict[str, Any]:
    """Per-benchmark table; tokens removed are estimated from characters removed x the kept
    text's measured tokens/char (the stage runs before tokenize), and labelled as estimated."""
    report = (reports.get("decontaminate") or {}).get("contamination")
    if not report:
        return not_run("decontaminate did not run (no contamination report in summary.json)")
    rows = []
    for name, b in sorted((report.get("benchmarks") or {}).items()):
        row = {"benchmark": name, **{k: b.get(k) for k in (
            "items", "dirty_items", "docs_touched", "docs_dropped", "chars_removed",
            "words_removed", "tokens_removed")},
            "dirty_pct": sig(100 * b["dirty_items"] / b["items"], 4)
            if b.get("items") and b.get("dirty_items") is not None else None,
            "examples": list(b.get("examples") or [])[:3]}
        row["tokens_removed_estimated"] = row["tokens_removed"] is None
        if row["tokens_removed"] is None and tokens_per_char and b.get("chars_removed") is not None:
            row["tokens_removed"] = round(b["chars_removed"] * tokens_per_char)
        rows.append(row)
    return {"status": "ok", "mode": report.get("mode"), "ngram": report.get("ngram"),
            "index_path": report.get("index_path"), "index": report.get("index"),
            "ignored_common_ngrams": report.get("ignored_common_ngrams"), "benchmarks": rows}


# Rules of thumb for Chinese text checked against the measured numbers (issue 9).
ZH_CHARS_PER_TOKEN = (1.4, 1.7)   # "1 token ~ 1.4-1.7 Chinese characters" (REFERENCE.md §6)
ZH_BYTES_PER_CHAR = 3.0           # CJK ideographs take 3 bytes in UTF-8
UNSPACED = ("zh", "ja", "th", "lo", "km", "my", "bo")


def languages_section(summary: dict, disk_kept: int | None) -> dict[str, Any]:
    """Every per-language figure: funnel (seen, removed per stage, kept), tokens, compression and
    storage, plus the Chinese rules of thumb checked against what was measured."""
    kept_by_lang = (summary.get("kept") or {}).get("by_lang") or {}
    funnel = summary.get("languages") or {}
    if not kept_by_lang and not funnel:
        return not_run("no language statistics (language stage off and no kept documents)")
    total_bytes = sum(v.get("bytes", 0) for v in kept_by_lang.values()) or None
    total_tokens = sum(v.get("tokens", 0) for v in kept_by_lang.values()) or None
    rows = []
    for lang in sorted(set(kept_by_lang) | set(funnel)):
        k = kept_by_lang.get(lang) or {}
        f_ = funnel.get(lang) or {}
        tokens = k.get("tokens") or None
        share = k.get("bytes", 0) / total_bytes if total_bytes else None
        row = {
            "lang": lang, "docs_seen": f_.get("docs", k.get("docs", 0)),
            "rejected": f_.get("rejected", 0), "rejected_by_stage": {
                stage: v["docs"] for stage, v in (f_.get("rejected_by_stage") or {}).items()},
            "kept": k.get("docs", 0), "tokens": tokens,
            "token_share": _ratio(tokens, total_tokens), "chars": k.get("chars"),
            "text_bytes": k.get("bytes"),
            "chars_per_token": _ratio(k.get("chars"), tokens),
            "bytes_per_token": _ratio(k.get("bytes"), tokens),
            "tokens_per_char": _ratio(tokens, k.get("chars")),
            "tokens_per_word": None if lang in UNSPACED else _ratio(tokens, k.get("words")),
            "bytes_per_char": _ratio(k.get("bytes"), k.get("chars")),
            "text_gb_per_billion_tokens": _ratio(k.get("bytes"), tokens),
            "parquet_bytes_estimated": round(disk_kept * share) if disk_kept and share is not None else None,
        }
        if lang == "zh" and tokens:
            low, high = ZH_CHARS_PER_TOKEN
            cpt, bpc = row["chars_per_token"], row["bytes_per_char"]
            row["rule_of_thumb"] = {
                "chars_per_token": {"expected": [low, high], "measured": cpt,
                                    "holds": bool(cpt is not None and low <= cpt <= high)},
                "bytes_per_char": {"expected": ZH_BYTES_PER_CHAR, "measured": bpc,
                                   "holds": bool(bpc is not None and abs(bpc - ZH_BYTES_PER_CHAR) <= 0.3)},
                "note": "bytes/char below 3 means ASCII (digits, Latin, punctuation) mixed into the text",
            }
        rows.append(row)
    return {"status": "ok", "languages": rows,
            "definitions": {"docs_seen": "kept + rejected documents carrying this language; documents "
                                         "rejected before language ID count under 'unknown'",
                            "parquet_bytes_estimated": "kept Parquet on disk x this language's share "
                                                       "of kept text bytes (estimated)"}}


def _measured_bytes_per_token(kept: dict) -> float | None:
    total = kept.get("total") or {}
    return _ratio(total.get("bytes"), total.get("tokens")) if total.get("tokens") else None


def build_report(summary: dict, config: ReportConfig, disk: dict[str, int | None],
                 output: str = "") -> dict[str, Any]:
    """report.json content; deterministic (no timing, no wall clock)."""
    kept = summary.get("kept") or {}
    reports = summary.get("reports") or {}
    tokens = (kept.get("total") or {}).get("tokens") or None
    bpt = _measured_bytes_per_token(kept)
    train_tokens = f.parse_size(config.train_tokens) if config.train_tokens else None
    if tokens:
        budget = budget_section(float(tokens), config.models, config.gpu, config.gpus, config.mfu,
                                config.mfu_range, train_tokens)
        largest = max(m["needed_tokens"] for m in budget["models"])
    else:
        budget = not_run("no token counts (tokenize did not run); "
                         "use `python -m pipeline plan --tokens N --model 7B`")
        largest = None
    return {
        "schema_version": SCHEMA_VERSION,
        "output": output,
        "conservation": summary.get("conservation"),
        "stages_run": [s["stage"] for s in summary.get("stages") or []],
        "funnel": funnel_section(summary, bpt),
        "tokens": tokens_section(kept),
        "storage": storage_section(summary, disk, tokens, largest),
        "compression": compression_section(kept, reports.get("tokenize")),
        "budget": budget,
        "dedup": dedup_section(reports),
        "decontamination": decontam_section(reports, _ratio(tokens, (kept.get("total") or {}).get("chars"))),
        "languages": languages_section(summary, disk.get("kept")),
    }
