"""Assemble report.json from a run's summary.json (plus file sizes and sample rows) and the config.

Pure: ``build_report(summary, config, disk, output, samples)`` takes plain dicts, so the report's
numbers are pinned by tests on a hand-made summary. Every section says ``"status": "not run"``
(with why) when its data is absent instead of printing zeros, and ``"not given"`` when an
optional input (a language mix, a compute budget) was not supplied. ``budget_section`` and
``planning_section`` are shared with the ``plan`` verb so both print exactly the same numbers.
"""
from __future__ import annotations

import math
from typing import Any

from pipeline.report import formulas as f
from pipeline.report.config import ReportConfig

SCHEMA_VERSION = 2
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


def not_given(why: str) -> dict[str, Any]:
    return {"status": "not given", "why": why}


# ------------------------------------------------------------------ hardware and utilisation
def hardware_section(config: ReportConfig) -> dict[str, Any]:
    kind, value = config.utilisation
    peak, peak_source = config.peak
    k = f.flops_per_param_token(kind, config.recompute)
    memory = config.gpu_memory_bytes
    if kind == "mfu":
        why = ("MFU is defined on the model's 6ND FLOPs whatever the implementation recomputes "
               "(PaLM, Chowdhery et al. 2022, App. B)")
    elif config.recompute:
        why = ("HFU counts the FLOPs the hardware executes: 8ND with activation recomputation "
               "(an extra forward pass; Narayanan et al. 2021, eq. 4)")
    else:
        why = "HFU without activation recomputation executes the model's 6ND FLOPs (HFU = MFU)"
    return {"gpu": config.gpu, "gpus": config.gpus, "peak_flops": peak, "peak_source": peak_source,
            "gpu_memory_gb": sig(memory / 1e9, 4) if memory else None,
            "utilisation": {"kind": kind, "value": value, "range": list(config.mfu_range),
                            "recompute": config.recompute},
            "flops_per_param_token": k,
            "time_formula": f"time = {k:g}·N·D / (GPUs × peak FLOP/s × {kind.upper()})",
            "time_formula_why": why}


def _days(params: float, tokens: float, config: ReportConfig, utilisation: float | None = None) -> float:
    kind, value = config.utilisation
    peak, _ = config.peak
    seconds = f.train_seconds(params, tokens, config.gpus, peak,
                              value if utilisation is None else utilisation, kind, config.recompute)
    return seconds / f.DAY_SECONDS


# ------------------------------------------------------------------ budget (shared with `plan`)
def model_budget(name: str, unique_tokens: float, train_tokens: float | None,
                 config: ReportConfig, vocab: int) -> dict[str, Any]:
    """Epochs, effective data, verdict, compute, time and memory for one target model."""
    params = f.parse_size(name)
    fit = config.fit_law
    optimal = fit.tokens_for_params(params)
    needed = train_tokens if train_tokens is not None else optimal
    rep = f.repetition_penalty(params, needed, unique_tokens)
    verdict, source = f.verdict(rep["epochs"])
    non_emb, d_model, extrapolated = f.non_embedding_params(params, vocab)
    kaplan = f.kaplan_min_tokens(non_emb) if non_emb else None
    mem = f.train_memory(params)
    flops = f.train_flops(params, needed)
    days = _days(params, needed, config)
    low, high = config.mfu_range
    gpu_mem = config.gpu_memory_bytes
    return {
        "model": name,
        "params": sig(params),
        "optimal_tokens": sig(optimal),
        "optimal_tokens_by_fit": {key: sig(law.tokens_for_params(params))
                                  for key, law in f.FITS.items()},
        "tokens_20x": sig(f.TOKENS_PER_PARAM_RULE * params),
        "kaplan": {"non_embedding_params": sig(non_emb), "d_model": sig(d_model, 4),
                   "d_model_extrapolated": extrapolated, "vocab": vocab,
                   "embedding_params": sig(vocab * d_model),
                   "min_tokens": sig(kaplan),
                   "min_tokens_total_params": sig(f.kaplan_min_tokens(params)),
                   "unique_meets": None if kaplan is None else unique_tokens >= kaplan},
        "needed_tokens": sig(needed),
        "needed_source": "fit" if train_tokens is None else "given",
        "epochs": sig(rep["epochs"], 4),
        "effective_tokens": sig(rep["effective_tokens"]),
        "effective_fraction": sig(rep["effective_fraction"], 4),
        "effective_params": sig(rep["effective_params"]),
        "loss_unique": sig(rep["loss_unique"]),
        "loss_repeated": sig(rep["loss_repeated"]),
        "loss_penalty_pct": sig(rep["loss_penalty_pct"], 4),
        "verdict": verdict,
        "verdict_source": source,
        "flops_6nd": sig(flops),
        "flops_8nd": sig(f.train_flops(params, needed, recompute=True)),
        "gopher_units_6nd": sig(f.gopher_units(flops), 4),
        "days": sig(days, 4),
        "days_range": [sig(_days(params, needed, config, high), 4),
                       sig(_days(params, needed, config, low), 4)],
        "gpu_hours": sig(days * 24 * config.gpus, 4),
        "memory_gb": {"16": sig(mem.bytes_16 / 1e9, 4), "18": sig(mem.bytes_18 / 1e9, 4),
                      "20": sig(mem.bytes_20 / 1e9, 4)},
        "min_gpus_for_states": math.ceil(mem.bytes_16 / gpu_mem) if gpu_mem else None,
    }


def budget_rules(config: ReportConfig, hardware: dict[str, Any]) -> list[dict[str, str]]:
    fit = config.fit_law
    return [
        {"rule": "compute-optimal tokens (" + fit.label + ")",
         "formula": ("N_opt = 0.099349 C^0.49809, D_opt = C / (6 N)" if fit.key == "approach1"
                     else f"N_opt = G (C/6)^a, a = beta/(alpha+beta) = {fit.a:.4f}, "
                          f"G = {fit.G:.4g}, D_opt = C / (6 N)"),
         "source": fit.source},
        {"rule": "≈ 20 tokens per parameter", "formula": "D = 20 N",
         "source": "reading of Chinchilla Table 3 (70B params, 1.4T tokens)"},
        {"rule": "Kaplan overfitting bound", "formula": "D ≥ 5e3 N_ne^0.74, N_ne = N - vocab × "
         "d_model (tied embeddings; d_model interpolated from published model sizes)",
         "source": "Kaplan et al. 2020 (arXiv 2001.08361), eq. 4.4; d_model from GPT-3 Table 2.1, "
                   "Chinchilla, Gopher"},
        {"rule": "epochs", "formula": "needed tokens / unique tokens", "source": "definition"},
        {"rule": "effective data after repetition",
         "formula": "D' = U + U R*_D (1 - exp(-(E-1)/R*_D)), R*_D = 15.388",
         "source": f.DATA_CONSTRAINED_SOURCE},
        {"rule": "effective parameters",
         "formula": "N' = U_N + U_N R*_N (1 - exp(-(N/U_N - 1)/R*_N)), U_N = min(N, N_opt(U)), "
                    "R*_N = 5.31", "source": f.DATA_CONSTRAINED_SOURCE},
        {"rule": "loss penalty vs unique data",
         "formula": "L(N', D') - L(N, D) with L = E + A/N^a + B/D^b (data-constrained fit)",
         "source": f.DATA_CONSTRAINED_SOURCE},
        {"rule": "verdict bands", "formula": "≤ 1 fine, ≤ 4 negligible, ≤ 16 diminishing, "
         "> 16 get more data", "source": "Muennighoff et al. 2023"},
        {"rule": "training FLOPs", "formula": "6 N D (8 N D executed with activation "
         "recomputation); Gopher unit = 5.76e23 FLOPs", "source": "Kaplan et al. 2020; "
         "Chinchilla Table 3"},
        {"rule": "training time", "formula": hardware["time_formula"],
         "source": hardware["time_formula_why"]},
        {"rule": "GPU peak", "formula": f"{hardware['peak_flops'] / 1e12:,.6g} TFLOP/s per GPU",
         "source": hardware["peak_source"]},
        {"rule": "training memory", "formula": "16 bytes/param (2 weights + 2 grads + 12 "
         "Adam fp32 states); 18-20 with fp32 gradients; activations extra",
         "source": "ZeRO (Rajbhandari et al., arXiv 1910.02054)"},
    ]


def budget_section(unique_tokens: float, config: ReportConfig, *, vocab: int | None = None,
                   vocab_source: str = "", dataset_tokens: float | None = None,
                   unique_source: str = "measured", dataset_source: str | None = None) -> dict:
    """The epochs + compute section, with the warnings for inputs outside the fitted ranges."""
    if not unique_tokens > 0:
        raise ValueError(f"unique tokens must be positive, got {unique_tokens}")
    if vocab is None:
        vocab, vocab_source = f.DEFAULT_VOCAB, f"default {f.DEFAULT_VOCAB:,} (Llama 2)"
    train_tokens = f.parse_size(config.train_tokens) if config.train_tokens is not None else None
    hardware = hardware_section(config)
    rows = [model_budget(m, unique_tokens, train_tokens, config, vocab) for m in config.models]
    rows.sort(key=lambda row: row["params"])
    warnings = budget_warnings(rows, unique_tokens)
    return {
        "status": "ok",
        "fit": config.fit,
        "dataset_tokens": sig(dataset_tokens if dataset_tokens is not None else unique_tokens),
        "dataset_source": dataset_source,
        "unique_tokens": sig(unique_tokens),
        "unique_source": unique_source,
        "vocab": vocab, "vocab_source": vocab_source,
        "hardware": hardware,
        "models": rows,
        "warnings": warnings,
        "kaplan_flagged": any(r["kaplan"]["unique_meets"] is False for r in rows),
        "rules": budget_rules(config, hardware),
    }


def budget_warnings(rows: list[dict], unique_tokens: float) -> list[str]:
    params = [r["params"] for r in rows]
    needed = [r["needed_tokens"] for r in rows]
    out = f.range_warnings("chinchilla", params=params, tokens=needed)
    out += f.range_warnings("data_constrained", params=params, tokens=needed,
                            epochs=[r["epochs"] for r in rows])
    out += f.range_warnings("kaplan", params=[r["kaplan"]["non_embedding_params"] for r in rows
                                              if r["kaplan"]["non_embedding_params"]])
    extrapolated = [r["model"] for r in rows if r["kaplan"]["d_model_extrapolated"]]
    if extrapolated:
        out.append(f"d_model for {', '.join(extrapolated)} is extrapolated beyond the published "
                   f"sizes (125M-280B) along d ∝ N^(1/3)")
    return out


# ------------------------------------------------------------------ inverse planning
def planning_section(unique_tokens: float, config: ReportConfig, unique_source: str) -> dict:
    """The questions asked the other way round: the largest compute-optimal model for the
    unique tokens at ≤ 1/4/16 epochs, the unique tokens a named model needs, and the
    compute-optimal model for a fixed budget with the repetition penalty included."""
    fit = config.fit_law
    bands = []
    for epochs in f.EPOCH_BANDS:
        tokens = epochs * unique_tokens
        params = fit.params_for_tokens(tokens)
        rep = f.repetition_penalty(params, tokens, unique_tokens)
        bands.append({"max_epochs": epochs, "train_tokens": sig(tokens), "params": sig(params),
                      "effective_tokens": sig(rep["effective_tokens"]),
                      "loss_penalty_pct": sig(rep["loss_penalty_pct"], 4),
                      "flops_6nd": sig(f.train_flops(params, tokens)),
                      "days": sig(_days(params, tokens, config), 4),
                      "verdict": f.verdict(epochs)[0]})
    train_tokens = f.parse_size(config.train_tokens) if config.train_tokens is not None else None
    needed = []
    for name in config.models:
        params = f.parse_size(name)
        tokens = train_tokens if train_tokens is not None else fit.tokens_for_params(params)
        met = next((e for e in f.EPOCH_BANDS if tokens / e <= unique_tokens), None)
        needed.append({"model": name, "params": sig(params), "train_tokens": sig(tokens),
                       "unique_needed": {f"{e:g}": sig(tokens / e) for e in f.EPOCH_BANDS},
                       "band_met": met})
    needed.sort(key=lambda row: row["params"])
    warnings = f.range_warnings("chinchilla", params=[b["params"] for b in bands],
                                tokens=[b["train_tokens"] for b in bands])
    return {"status": "ok", "fit": config.fit, "fit_source": fit.source,
            "unique_tokens": sig(unique_tokens), "unique_source": unique_source,
            "epoch_bands": bands, "unique_needed": needed,
            "compute_budget": compute_budget_section(unique_tokens, config),
            "warnings": warnings,
            "method": {"epoch_bands": f"largest N whose compute-optimal tokens ({fit.label}) "
                                      f"fit in E × U; bands from Muennighoff et al. 2023",
                       "unique_needed": "training tokens / E for E = 1, 4, 16 epochs"}}


def compute_budget_section(unique_tokens: float, config: ReportConfig) -> dict:
    if config.flops is None and config.days is None:
        return not_given("no compute budget given (plan/report --flops C, or --days D with "
                         "--gpus/--gpu and the utilisation)")
    kind, value = config.utilisation
    peak, _ = config.peak
    if config.flops is not None:
        flops = f.parse_size(config.flops)
        source = "given as model FLOPs (6ND)"
    else:
        flops = f.model_flops_for_time(config.days * f.DAY_SECONDS, config.gpus, peak, value, kind,
                                       config.recompute)
        source = (f"{config.gpus:,} × {config.gpu} for {config.days:g} days at {kind.upper()} "
                  f"{value:g}")
    fit = config.fit_law
    fit_params = fit.params_for_compute(flops)
    fit_tokens = flops / (6.0 * fit_params)
    unlimited = f.data_constrained_optimum(flops, None)
    limited = f.data_constrained_optimum(flops, unique_tokens)
    naive_loss = f.data_constrained_loss(fit_params, fit_tokens, unique_tokens)
    penalty = 100.0 * (limited["loss"] - unlimited["loss"]) / unlimited["loss"]
    days = flops * f.flops_per_param_token(kind, config.recompute) / 6.0 / (
        config.gpus * peak * value) / f.DAY_SECONDS
    warnings = f.range_warnings("data_constrained", params=[limited["params"]],
                                tokens=[limited["tokens"]], epochs=[limited["epochs"]])
    return {"status": "ok", "flops": sig(flops), "source": source, "days": sig(days, 4),
            "unlimited_data": {"fit": config.fit, "params": sig(fit_params),
                               "tokens": sig(fit_tokens), "epochs": sig(fit_tokens / unique_tokens, 4),
                               "loss_with_repetition": sig(naive_loss)},
            "data_constrained_unlimited": {k: sig(v, 6) for k, v in unlimited.items()
                                           if v is not None},
            "data_constrained": {"params": sig(limited["params"]), "tokens": sig(limited["tokens"]),
                                 "epochs": sig(limited["epochs"], 4), "loss": sig(limited["loss"])},
            "loss_penalty_pct": sig(penalty, 4),
            "method": ("minimise the data-constrained loss L(N, C/(6N), U) over N "
                       "(Muennighoff et al. 2023, datablations fit); C = 6ND"),
            "warnings": warnings}


def mix_section(mix: dict[str, float] | None, lang_unique: dict[str, float], rows: list[dict],
                unique_source: str) -> dict:
    """Tokens and epochs per language for each target model under a language mix: a
    multilingual model repeats its small languages first."""
    if not mix:
        return not_given("no language mix given (report.mix, or --mix en=0.7,zh=0.2,code=0.1)")
    out = []
    for row in rows:
        langs = []
        for lang, weight in mix.items():
            tokens = row["needed_tokens"] * weight
            unique = lang_unique.get(lang) or 0
            epochs = tokens / unique if unique else None
            langs.append({"lang": lang, "weight": weight, "tokens": sig(tokens),
                          "unique_tokens": unique or None, "epochs": sig(epochs, 4),
                          "effective_tokens": sig(f.effective_data(unique, epochs) if epochs > 1
                                                  else tokens) if unique else None,
                          "verdict": f.verdict(epochs)[0] if epochs is not None
                          else "no tokens of this language in the data"})
        out.append({"model": row["model"], "needed_tokens": row["needed_tokens"], "languages": langs})
    return {"status": "ok", "mix": mix, "models": out, "unique_source": unique_source,
            "not_in_mix": sorted(set(lang_unique) - set(mix)),
            "warnings": f.range_warnings("data_constrained", epochs=[
                lg["epochs"] for m in out for lg in m["languages"] if lg["epochs"] is not None])}


# ------------------------------------------------------------------ what the run was
def stage_names(summary: dict) -> list[str]:
    return [s.get("stage") for s in summary.get("stages") or []]


def dedup_ran(summary: dict) -> bool:
    """True when dedup removed duplicates by some method in this run (so kept tokens are the
    unique tokens); False when the stage was off or both methods were disabled."""
    if "dedup" not in stage_names(summary):
        return False
    minhash = ((summary.get("reports") or {}).get("dedup") or {}).get("minhash") or {}
    enabled = minhash.get("enabled")
    return not (isinstance(enabled, dict) and not any(enabled.values()))


def why_no_tokens(summary: dict) -> str:
    kept_docs = ((summary.get("kept") or {}).get("total") or {}).get("docs") or 0
    read = (summary.get("conservation") or {}).get("input")
    if "tokenize" not in stage_names(summary):
        return "the tokenize stage did not run (tokenize.enabled: false), so nothing was counted"
    if kept_docs == 0:
        return (f"the run kept 0 of {read:,} documents: there is nothing to count"
                if isinstance(read, int) else "the run kept 0 documents: there is nothing to count")
    return "tokenize ran but counted no tokens"


def unique_label(summary: dict) -> tuple[str, bool]:
    if dedup_ran(summary):
        return "measured: kept tokens after dedup", False
    return ("measured kept tokens; dedup did not run, so this is an upper bound on the unique "
            "tokens"), True


def tokenizer_info(reports: dict) -> dict[str, Any] | None:
    """The tokenizer the counts come from, as the tokenize stage describes it."""
    summary = ((reports.get("tokenize") or {}).get("summary") or {})
    model = summary.get("model")
    if not isinstance(model, dict):
        return None
    trained = model.get("trained_in_run")
    if trained is None and model.get("source") is not None:
        trained = model.get("source") == "trained"
    info = {"kind": model.get("kind"), "file": model.get("file") or model.get("artefact"),
            "sha256": model.get("sha256"), "vocab_size": model.get("vocab_size"),
            "model_type": model.get("model_type"), "trained_in_run": trained,
            "trained_vs_reference": summary.get("trained_vs_reference")}
    if trained:
        info["note"] = ("the tokenizer was trained in this run on its own kept text: token counts "
                        "with your tokenizer may differ")
        typical = typical_difference_text(model.get("typical_difference"))
        if typical:
            info["note"] += f"; {typical}"
    return info


def typical_difference_text(typical: Any) -> str | None:
    """"counts with <reference> typically differ by X to Y % (en), ..." from the tokenize
    stage's measured table (``model.typical_difference``), or None when nothing applies."""
    if not isinstance(typical, dict) or not typical.get("by_lang"):
        return None
    parts = [f"{lang}: {row['low'] * 100:+.0f} % to {row['high'] * 100:+.0f} %"
             for lang, row in sorted(typical["by_lang"].items())]
    text = (f"measured against the {typical.get('reference', 'reference tokenizer')}, counts "
            f"typically differ by {'; '.join(parts)} ({typical.get('basis', '')}, "
            f"{typical.get('command', '')})")
    missing = typical.get("not_measured") or []
    if missing:
        text += f"; not measured for {', '.join(missing)}"
    return text


def run_section(summary: dict) -> dict[str, Any]:
    reports = summary.get("reports") or {}
    demo = (summary.get("resources") or {}).get("demo") or []
    label, upper = unique_label(summary)
    return {"tokenizer": tokenizer_info(reports), "demo_resources": list(demo),
            "unique_tokens_label": label, "unique_tokens_upper_bound": upper,
            "dedup_ran": dedup_ran(summary)}


# ------------------------------------------------------------------ sections from a summary
def _stage_bytes_are_text(stage: str, names: list[str], side: str) -> bool:
    """True when a stage's bytes_<side> count UTF-8 text (after extraction), not raw records."""
    if stage == "read":
        return side == "out" and "extract" not in names
    if "extract" not in names:
        return True
    index, extract = names.index(stage), names.index("extract")
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
                    if bytes_per_token else f"no token counts: {why_no_tokens(summary)}"}


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


def _top_with_other(rows: list[dict[str, Any]], top: int, total_tokens: int) -> list[dict]:
    """The ``top`` largest rows and one "other" row summing the rest (a crawl has tens of
    thousands of input files)."""
    if len(rows) <= top:
        return rows
    rest = rows[top:]
    other = {key: sum(r[key] for r in rest) for key in ("docs", "bytes", "chars", "tokens")}
    other.update({"name": f"other ({len(rest):,} sources)", "other": True,
                  "share": _ratio(other["tokens"], total_tokens),
                  "tokens_per_doc": _ratio(other["tokens"], other["docs"])})
    return rows[:top] + [other]


def tokens_section(summary: dict, top_sources: int) -> dict[str, Any]:
    kept = summary.get("kept") or {}
    total = kept.get("total") or {}
    edges = kept.get("length_edges") or []
    if not total.get("docs_with_tokens"):
        section = not_run(f"no token counts: {why_no_tokens(summary)}")
        if kept.get("char_hist") and edges and any(kept["char_hist"]):
            section["char_histogram"] = {"edges": edges, "counts": kept["char_hist"]}
        return section
    tokens = total["tokens"]
    sources = _group_rows(kept.get("by_source") or {}, tokens)
    return {
        "status": "ok", "total_tokens": tokens, "docs": total["docs"],
        "docs_with_tokens": total["docs_with_tokens"],
        "mean_tokens_per_doc": _ratio(tokens, total["docs_with_tokens"]),
        "by_lang": _group_rows(kept.get("by_lang") or {}, tokens),
        "by_source": _top_with_other(sources, top_sources, tokens),
        "sources_total": len(sources),
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


def compression_section(summary: dict) -> dict[str, Any]:
    kept = summary.get("kept") or {}
    total = kept.get("total") or {}
    if not total.get("tokens"):
        return not_run(f"no token counts: {why_no_tokens(summary)}")
    by_lang = kept.get("by_lang") or {}
    spaced = {k: v for k, v in by_lang.items() if k not in UNSPACED_LANGS}
    overall = _compression(total, words_defined=False)
    spaced_tokens = sum(g.get("tokens", 0) for g in spaced.values())
    spaced_words = sum(g.get("words", 0) for g in spaced.values())
    overall["tokens_per_word"] = _ratio(spaced_tokens, spaced_words)
    overall["words"] = spaced_words
    langs = {lang: _compression(g, lang not in UNSPACED_LANGS) for lang, g in by_lang.items()}
    return {"status": "ok", "total": overall, "by_lang": langs, "definitions": DEFINITIONS,
            "tokenizer": tokenizer_info(summary.get("reports") or {}),
            "baichuan_note": BAICHUAN_NOTE, "reference": REFERENCE_COMPRESSION,
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
            "note": None if tokens else f"no token counts: {why_no_tokens(summary)}"}


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
            "index": report.get("index"),
            "ignored_common_ngrams": report.get("ignored_common_ngrams"), "benchmarks": rows}


# Rules of thumb for Chinese text checked against the measured numbers (issue 9).
ZH_CHARS_PER_TOKEN = (1.4, 1.7)   # "1 token ~ 1.4-1.7 Chinese characters" (REFERENCE.md §6)
ZH_BYTES_PER_CHAR = 3.0           # CJK ideographs take 3 bytes in UTF-8


def _top_rejections(entry: dict, limit: int = 3) -> list[dict[str, Any]]:
    """The largest rejection causes of one language: per reason when the summary splits them
    (``rejected_by_reason``: {stage: {reason: {docs}}}), else per stage."""
    by_reason = entry.get("rejected_by_reason")
    items: list[tuple[str, int]] = []
    if isinstance(by_reason, dict) and by_reason:
        for stage, reasons in by_reason.items():
            for reason, value in (reasons or {}).items():
                items.append((f"{stage}:{reason}", (value or {}).get("docs", 0)))
        kind = "reason"
    else:
        for stage, value in (entry.get("rejected_by_stage") or {}).items():
            items.append((stage, (value or {}).get("docs", 0) if isinstance(value, dict) else value))
        kind = "stage"
    items.sort(key=lambda item: (-item[1], item[0]))
    return [{"what": name, "docs": docs, "kind": kind} for name, docs in items[:limit] if docs]


def languages_section(summary: dict, disk_kept: int | None) -> dict[str, Any]:
    """Every per-language figure: documents and tokens in and kept, top rejections, compression,
    storage, whether a rule set judged the language, plus the Chinese rules of thumb."""
    kept_by_lang = (summary.get("kept") or {}).get("by_lang") or {}
    funnel = summary.get("languages") or {}
    if not kept_by_lang and not funnel:
        return not_run("no language statistics (language stage off and no kept documents)")
    compression = ((((summary.get("reports") or {}).get("tokenize") or {}).get("summary") or {})
                   .get("compression") or {}).get("by_lang") or {}
    total_bytes = sum(v.get("bytes", 0) for v in kept_by_lang.values()) or None
    total_tokens = sum(v.get("tokens", 0) for v in kept_by_lang.values()) or None
    rows = []
    for lang in sorted(set(kept_by_lang) | set(funnel)):
        k = kept_by_lang.get(lang) or {}
        f_ = funnel.get(lang) or {}
        tokens = k.get("tokens") or f_.get("kept_tokens") or None
        share = k.get("bytes", 0) / total_bytes if total_bytes else None
        cpt = _ratio(k.get("chars"), tokens) if k.get("chars") else \
            (compression.get(lang) or {}).get("chars_per_token")
        row = {
            "lang": lang, "docs_seen": f_.get("docs", k.get("docs", 0)),
            "tokens_in": f_.get("tokens"),
            "rejected": f_.get("rejected", 0), "rejected_by_stage": {
                stage: (v["docs"] if isinstance(v, dict) else v)
                for stage, v in (f_.get("rejected_by_stage") or {}).items()},
            "top_rejections": _top_rejections(f_),
            "kept": k.get("docs", f_.get("kept", 0)), "tokens": tokens,
            "token_share": _ratio(tokens, total_tokens), "chars": k.get("chars"),
            "text_bytes": k.get("bytes"),
            "chars_per_token": cpt,
            "bytes_per_token": _ratio(k.get("bytes"), tokens),
            "tokens_per_char": _ratio(tokens, k.get("chars")),
            "tokens_per_word": None if lang in UNSPACED_LANGS else _ratio(tokens, k.get("words")),
            "bytes_per_char": _ratio(k.get("bytes"), k.get("chars")),
            "text_gb_per_billion_tokens": _ratio(k.get("bytes"), tokens),
            "parquet_bytes_estimated": round(disk_kept * share) if disk_kept and share is not None else None,
            "rule_sets": f_.get("rule_sets"),
            "unjudged_docs": f_.get("unjudged_docs"), "unjudged_tokens": f_.get("unjudged_tokens"),
        }
        if lang == "zh" and tokens and row["chars_per_token"] is not None:
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
                                                       "of kept text bytes (estimated)",
                            "rule_sets": "the quality / repetition rule sets that judged the "
                                         "language; none = its documents passed unjudged"}}


# ------------------------------------------------------------------ tuning views
def _beyond(edges: list[float], counts: list[int], low: float | None, high: float | None) -> int:
    """Documents in histogram bins lying wholly outside [low, high] (a lower bound on what the
    thresholds cut, at the histogram's resolution)."""
    total = 0
    for i, count in enumerate(counts):
        left = edges[i] if i < len(edges) else None
        right = edges[i + 1] if i + 1 < len(edges) else math.inf
        if left is None:
            continue
        if (low is not None and right <= low) or (high is not None and left > high):
            total += count
    return total


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) \
        and math.isfinite(value) else None


def tuning_section(reports: dict) -> dict[str, Any]:
    """Per rule statistic and language: its distribution over the documents the stage saw and
    the thresholds, so a user moving a threshold sees what it cuts."""
    out: list[dict[str, Any]] = []
    for stage in ("quality", "repetition"):
        statistics = (reports.get(stage) or {}).get("statistics")
        if not isinstance(statistics, dict):
            continue
        for lang in sorted(statistics):
            for name in sorted(statistics[lang] or {}):
                h = statistics[lang][name]
                if not isinstance(h, dict):
                    continue
                edges, counts = list(h.get("edges") or []), list(h.get("counts") or [])
                if (not counts or len(edges) not in (len(counts), len(counts) + 1)
                        or any(_number(e) is None for e in edges)
                        or any(not isinstance(c, int) or isinstance(c, bool) or c < 0 for c in counts)):
                    continue  # malformed: skipped rather than drawn wrong
                low, high = _number(h.get("min")), _number(h.get("max"))
                out.append({"stage": stage, "lang": str(lang), "statistic": str(name),
                            "reason": h.get("reason"), "min": low, "max": high,
                            "edges": edges, "counts": counts, "docs": sum(counts),
                            "docs_beyond": _beyond(edges, counts, low, high)})
    if not out:
        return not_run("no rule statistics in summary.json (reports.quality.statistics / "
                       "reports.repetition.statistics)")
    return {"status": "ok", "statistics": out,
            "note": "docs_beyond counts documents in bins wholly outside the thresholds, a lower "
                    "bound on what the rule cut at this bin resolution"}


def samples_section(samples: list[dict] | str | None, config: ReportConfig) -> dict[str, Any]:
    """``samples``: the rows, None when no output was read, or why reading failed."""
    if config.samples_per_reason == 0:
        return not_given("samples_per_reason is 0")
    if isinstance(samples, str):
        return not_run(samples)
    if samples is None:
        return not_run("rejected rows were not read (no output directory)")
    if not samples:
        return not_run("no rejected rows in this run")
    return {"status": "ok", "per_reason": config.samples_per_reason, "chars": config.sample_chars,
            "reasons": samples}


def _measured_bytes_per_token(kept: dict) -> float | None:
    total = kept.get("total") or {}
    return _ratio(total.get("bytes"), total.get("tokens")) if total.get("tokens") else None


def _vocab(run: dict, config: ReportConfig) -> tuple[int, str]:
    if config.vocab_size is not None:
        return config.vocab_size, "given (vocab_size)"
    tok = run.get("tokenizer") or {}
    if isinstance(tok.get("vocab_size"), int) and tok["vocab_size"] > 0:
        return tok["vocab_size"], "the run's tokenizer"
    return f.DEFAULT_VOCAB, f"default {f.DEFAULT_VOCAB:,} (Llama 2): no tokenizer in the run"


def build_report(summary: dict, config: ReportConfig, disk: dict[str, int | None],
                 output: str = "", samples: list[dict] | str | None = None) -> dict[str, Any]:
    """report.json content; deterministic (no timing, no wall clock)."""
    kept = summary.get("kept") or {}
    reports = summary.get("reports") or {}
    tokens = (kept.get("total") or {}).get("tokens") or None
    bpt = _measured_bytes_per_token(kept)
    run = run_section(summary)
    if tokens:
        vocab, vocab_source = _vocab(run, config)
        source = run["unique_tokens_label"]
        budget = budget_section(float(tokens), config, vocab=vocab, vocab_source=vocab_source,
                                unique_source=source)
        planning = planning_section(float(tokens), config, source)
        lang_unique = {lang: g.get("tokens", 0) for lang, g in (kept.get("by_lang") or {}).items()}
        mix = mix_section(config.mix, lang_unique, budget["models"], source)
        largest = max(m["needed_tokens"] for m in budget["models"])
    else:
        why = (f"no token counts: {why_no_tokens(summary)}; "
               f"`python -m pipeline plan --tokens N --model 7B` answers without a run")
        budget = planning = mix = not_run(why)
        largest = None
    warnings = [w for section in (budget, planning, mix) for w in section.get("warnings", [])]
    if planning.get("status") == "ok":
        warnings += planning["compute_budget"].get("warnings", [])
    return {
        "schema_version": SCHEMA_VERSION,
        "output": output,
        "inputs": config.model_dump(mode="json"),
        "run": run,
        "warnings": list(dict.fromkeys(warnings)),
        "conservation": summary.get("conservation"),
        "stages_run": stage_names(summary),
        "funnel": funnel_section(summary, bpt),
        "tokens": tokens_section(summary, config.top_sources),
        "storage": storage_section(summary, disk, tokens, largest),
        "compression": compression_section(summary),
        "budget": budget,
        "planning": planning,
        "mix": mix,
        "dedup": dedup_section(reports),
        "decontamination": decontam_section(reports, _ratio(tokens, (kept.get("total") or {}).get("chars"))),
        "languages": languages_section(summary, disk.get("kept")),
        "tuning": tuning_section(reports),
        "samples": samples_section(samples, config),
    }


def plan_report(dataset_tokens: float, unique_tokens: float | None, config: ReportConfig,
                lang_tokens: dict[str, float] | None = None, vocab: int | None = None) -> dict:
    """What ``plan`` prints: the budget, planning and mix sections for numbers given by hand."""
    if unique_tokens is None:
        unique, source = dataset_tokens, ("--unique-tokens not given: assumes every token of "
                                          "--tokens is unique")
    else:
        if unique_tokens > dataset_tokens:
            raise ValueError(f"--unique-tokens ({unique_tokens:g}) exceeds --tokens "
                             f"({dataset_tokens:g})")
        unique, source = unique_tokens, "given: --unique-tokens"
    budget = budget_section(unique, config, vocab=vocab,
                            vocab_source="given: --vocab" if vocab else "",
                            dataset_tokens=dataset_tokens, dataset_source="given: --tokens",
                            unique_source=source)
    planning = planning_section(unique, config, source)
    mix = mix_section(config.mix, lang_tokens or {}, budget["models"], "given: --lang-tokens")
    if config.mix and not lang_tokens:
        mix = not_given("--mix needs the unique tokens per language: --lang-tokens en=300B,zh=20B")
    warnings = budget["warnings"] + planning["warnings"] + mix.get("warnings", []) + \
        planning["compute_budget"].get("warnings", [])
    return {"schema_version": SCHEMA_VERSION, "inputs": config.model_dump(mode="json"),
            "budget": budget, "planning": planning, "mix": mix,
            "warnings": list(dict.fromkeys(warnings))}

