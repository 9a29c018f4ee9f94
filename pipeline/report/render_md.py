"""report.json -> document blocks (pipeline.report.doc) -> Markdown.

``report_blocks`` lays out every section once; ``render_markdown`` and the HTML renderer both
serialise those blocks, so the two formats always carry the same content and every string
from the data is escaped by the serialiser of its format.
"""
from __future__ import annotations

import math
from typing import Any

from pipeline.report.doc import (B, Block, Code, Figure, H, Note, NotRun, P, Table, Warn,
                                 to_markdown)
from pipeline.report.formulas import FITS, format_count, format_decimal, format_epochs


# ------------------------------------------------------------------ number formatting
def n(value: Any) -> str:
    """Counts and ratios for tables: 1,234 / 0.2658 / 573,000 (never scientific notation)."""
    if value is None:
        return "n/a"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if not math.isfinite(value):
            return "n/a"
        if value != 0 and abs(value) < 1e-6:
            return "< 0.000001" if value > 0 else "> -0.000001"
        return format_decimal(value, 4)
    return str(value)


def nbytes(value: int | float | None) -> str:
    if value is None:
        return "n/a"
    for unit, scale in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("KB", 1e3)):
        if value >= scale:
            return f"{value / scale:.3g} {unit}"
    return f"{int(value)} B"


def flops(value: float | None) -> str:
    """FLOPs stay in engineering form (1.86e18): that is how budgets are quoted."""
    if value is None:
        return "n/a"
    mantissa, exponent = f"{value:.3g}".split("e") if "e" in f"{value:.3g}" else (f"{value:.3g}", "0")
    return f"{mantissa}e{int(exponent)}" if exponent != "0" else mantissa


def duration(days: float | None) -> str:
    """Training time a person can read: minutes, hours, or whole days (no '0.0011 days')."""
    if days is None:
        return "n/a"
    hours = days * 24
    if hours < 1:
        minutes = max(round(hours * 60), 1)
        return f"{minutes} minute{'s' if minutes != 1 else ''}"
    if hours < 48:
        return f"{hours:.2g} hours" if hours < 10 else f"{hours:.0f} hours"
    return f"{days:,.0f} days"


def duration_range(pair: list[float | None]) -> str:
    lo, hi = pair
    if lo is None or hi is None:
        return "n/a"
    a, b = duration(lo), duration(hi)
    unit_a, unit_b = a.split(" ", 1)[1].rstrip("s"), b.split(" ", 1)[1].rstrip("s")
    if unit_a == unit_b:
        return f"{a.split(' ', 1)[0]}-{b}"
    return f"{a} - {b}"


def pct(value: float | None) -> str:
    """A signed percentage without scientific notation: +0.12 %, +26.5 %, +1,030 %."""
    if value is None:
        return "n/a"
    return ("+" if value >= 0 else "-") + format_decimal(abs(value)) + " %"


def tok(value: int | None, estimated: bool) -> str:
    if value is None:
        return "n/a"
    return f"≈{value:,} (est.)" if estimated else f"{value:,}"


def _not_run(section: dict) -> list[Block]:
    if section.get("status") == "not given":
        return [Note(section.get("why", ""))]
    return [NotRun(section.get("why", ""))]


def _warnings(items: list[str]) -> list[Block]:
    return [Warn(text) for text in items]


# ------------------------------------------------------------------ header
def header_blocks(report: dict) -> list[Block]:
    out: list[Block] = []
    run = report.get("run") or {}
    demo = run.get("demo_resources") or []
    if demo:
        names = []
        for item in demo:  # summary.json -> resources.demo (pipeline.resources.demo_resources)
            if isinstance(item, dict):
                text = str(item.get("description") or item.get("resource") or item.get("key") or "")
                where = ", ".join(str(item[k]) for k in ("key", "resource") if item.get(k))
                names.append(f"{text} ({where}; use {item['instead']} instead)"
                             if item.get("instead") else f"{text} ({where})")
            else:
                names.append(str(item))
        out.append(Warn("this run used bundled demo resources, which are stand-ins, not real "
                        "data, lists or benchmarks: ", "; ".join(names),
                        ". Replace them in the config before trusting what it removed."))
    tok = run.get("tokenizer")
    if tok:
        parts = [B("Tokenizer:"), " "]
        desc = ", ".join(x for x in (
            tok.get("kind"), tok.get("model_type") and f"{tok['model_type']} model",
            tok.get("vocab_size") is not None and f"vocab {n(tok['vocab_size'])}") if x)
        parts.append(desc or "unnamed")
        if tok.get("file"):
            parts += ["; file ", Code(str(tok["file"]))]
        if tok.get("sha256"):
            parts += ["; sha256 ", Code(str(tok["sha256"]))]
        parts.append(".")
        out.append(P(*parts))
        if tok.get("note"):
            out.append(Warn(tok["note"] + "."))
        ref = tok.get("trained_vs_reference")
        if ref:
            if isinstance(ref, dict):
                out.append(Table(["trained vs reference tokenizer", "value"],
                                 [[str(k), n(v) if isinstance(v, (int, float)) else str(v)]
                                  for k, v in ref.items()]))
            else:
                out.append(P("Trained vs reference tokenizer: ", str(ref)))
    elif report.get("stages_run"):
        out.append(Note("No tokenizer information in summary.json (tokenize did not run)."))
    budget = report.get("budget") or {}
    if budget.get("status") == "ok":
        parts: list = [B("Unique tokens:"), " ", format_count(budget["unique_tokens"]),
                       f" ({budget['unique_source']})."]
        out.append(P(*parts))
        for m in budget["models"]:
            out.append(P(B(f"{m['model']}:"), f" {format_epochs(m['epochs'])} epochs, "
                         f"{m['verdict']}; {duration(m['days'])} on the given GPUs."))
    warnings = report.get("warnings") or []
    if warnings:
        out.append(Note(f"Some planning inputs fall outside the ranges the fitted laws were "
                        f"measured on ({len(warnings)} warning{'s' if len(warnings) != 1 else ''} "
                        f"in sections 5, 10 and 11): those figures are extrapolations."))
    return out


# ------------------------------------------------------------------ sections
def funnel_blocks(section: dict) -> list[Block]:
    out: list[Block] = [H("1. Funnel")]
    if section.get("status") != "ok":
        return out + _not_run(section)
    rows = [[s["stage"], n(s["docs_in"]), n(s["docs_out"]), n(s["rejected"]), n(s["dead_letter"]),
             f"{nbytes(s['bytes_in'])} ({s['bytes_in_kind']})", nbytes(s["bytes_out"]),
             tok(s["tokens_in"], True), tok(s["tokens_out"], s["tokens_out_estimated"])]
            for s in section["stages"]]
    out.append(Table(["stage", "docs in", "docs out", "rejected", "dead", "bytes in", "bytes out",
                      "tokens in", "tokens out"], rows))
    rules = [[s["stage"], r["rule"], n(r["docs"]), nbytes(r["bytes"]),
              tok(r["tokens"], r["tokens_estimated"])]
             for s in section["stages"] for r in s["rules"]]
    if rules:
        out += [P("Removed by rule:"), Table(["stage", "rule", "docs", "bytes", "tokens"], rules)]
    bpt = section.get("bytes_per_token")
    out.append(Note(section["note"] + (f"; measured bytes/token: {bpt}" if bpt else "")))
    return out


def tokens_blocks(section: dict) -> list[Block]:
    out: list[Block] = [H("2. Token counts")]
    if section.get("status") != "ok":
        return out + _not_run(section)
    out.append(P(B(f"{section['total_tokens']:,} tokens"), f" in {section['docs']:,} kept documents "
                 f"(mean {n(section['mean_tokens_per_doc'])} tokens/doc)."))
    for key, title in (("by_lang", "language"), ("by_source", "source")):
        out.append(Table([title, "docs", "tokens", "share", "tokens/doc"],
                         [[r["name"], n(r["docs"]), n(r["tokens"]),
                           f"{100 * (r['share'] or 0):.1f} %", n(r["tokens_per_doc"])]
                          for r in section[key]]))
    if section.get("sources_total", 0) > len([r for r in section["by_source"] if not r.get("other")]):
        out.append(Note(f"{section['sources_total']:,} sources in all; the largest are listed."))
    hist = section["histogram"]
    edges, counts = hist["edges"], hist["counts"]
    peak = max(counts) if counts else 0
    nonzero = [i for i, c in enumerate(counts) if c]
    rows = []
    if nonzero:
        for i in range(nonzero[0], nonzero[-1] + 1):
            upper = f"{edges[i + 1]:,}" if i + 1 < len(edges) else "∞"
            bar = "█" * round(30 * counts[i] / peak) if peak else ""
            rows.append([f"{edges[i]:,} - {upper}", n(counts[i]), bar])
    out += [P("Document length (tokens per document; empty bins at either end omitted):"),
            Table(["tokens", "docs", ""], rows)]
    return out


def storage_blocks(section: dict) -> list[Block]:
    out: list[Block] = [H("3. Storage")]
    largest = section.get("largest_needed_tokens")
    rows = [[r["item"], nbytes(r["bytes"]), n(r["bytes_per_token"]), n(r["gb_per_billion_tokens"]),
             n(r["tb_at_largest_budget"]), r["what"]] for r in section["rows"]]
    out.append(Table(["item", "size", "bytes/token", "GB per 1B tokens",
                      f"TB at {format_count(largest)} tokens" if largest else "TB at largest budget",
                      "what"], rows))
    if section.get("note"):
        out.append(Note(section["note"]))
    return out


def compression_blocks(section: dict) -> list[Block]:
    out: list[Block] = [H("4. Compression")]
    if section.get("status") != "ok":
        return out + _not_run(section)
    t = section["total"]
    defs = section["definitions"]
    out.append(Table(["measure", "value", "definition"], [[k, n(t[k]), defs[k]] for k in defs]))
    out.append(P("Per language:"))
    out.append(Table(["lang", "docs", "tokens", "chars/token", "bytes/token", "tokens/char",
                      "tokens/word"],
                     [[lang, n(g["docs"]), n(g["tokens"]), n(g["chars_per_token"]),
                       n(g["bytes_per_token"]), n(g["tokens_per_char"]),
                       n(g["tokens_per_word"]) if g["tokens_per_word"] is not None else "undefined"]
                      for lang, g in section["by_lang"].items()]))
    out += [P("Reference points: " + "; ".join(
        f"{r['tokenizer']} {r['chars_per_token']} chars/token on {r['text']}"
        for r in section["reference"]) + "."),
        Note(section["words_note"] + "."), Note(section["baichuan_note"])]
    return out


def _fit_label(key: str) -> str:
    return FITS[key].label if key in FITS else key


def budget_blocks(section: dict, title: str = "5. Epochs for target models",
                  compute_title: str = "6. Compute") -> list[Block]:
    out: list[Block] = [H(title)]
    if section.get("status") != "ok":
        return out + _not_run(section) + [H(compute_title),
                                          NotRun("needs token counts (see section 5)")]
    if section.get("dataset_source"):
        out.append(P(B("Dataset tokens:"), " ", format_count(section["dataset_tokens"]),
                     f" ({section['dataset_source']}); ", B("unique tokens:"), " ",
                     format_count(section["unique_tokens"]), f" ({section['unique_source']})."))
    else:
        out.append(P(B("Unique tokens:"), " ", format_count(section["unique_tokens"]),
                     f" ({section['unique_source']})."))
    models = section["models"]
    given = models[0]["needed_source"] == "given"
    out.append(P("Training tokens per model: " + (
        f"given ({format_count(models[0]['needed_tokens'])})" if given
        else f"compute-optimal under {_fit_label(section['fit'])}") + "."))
    out.append(Table(["model", "compute-optimal D", "20 × N", "training tokens", "epochs",
                      "effective D'", "D'/tokens", "loss penalty", "verdict"],
                     [[m["model"], format_count(m["optimal_tokens"]), format_count(m["tokens_20x"]),
                       format_count(m["needed_tokens"]), format_epochs(m["epochs"]),
                       format_count(m["effective_tokens"]), n(m["effective_fraction"]),
                       pct(m["loss_penalty_pct"]), m["verdict"]] for m in models]))
    out.append(P(f"Kaplan's overfitting bound uses non-embedding parameters: N_ne = N - vocab × "
                 f"d_model, vocab {section['vocab']:,} ({section['vocab_source']}), d_model "
                 f"interpolated from published model sizes:"))
    flagged = section.get("kaplan_flagged")
    krows = []
    for m in models:
        k = m["kaplan"]
        meets = k["unique_meets"]
        krows.append([m["model"], n(k["d_model"]) + (" (extrapolated)" if k["d_model_extrapolated"] else ""),
                      format_count(k["embedding_params"]), format_count(k["non_embedding_params"]),
                      format_count(k["min_tokens"]) + (" (!)" if meets is False else ""),
                      format_count(k["min_tokens_total_params"])])
    out.append(Table(["model", "d_model", "embedding params", "non-embedding N",
                      "Kaplan min D (N_ne)", "same with total N"], krows))
    if flagged:
        out.append(Note("(!) the unique tokens are below Kaplan's overfitting bound for this size."))
    out.append(P("Compute-optimal training tokens by fit (the table above uses "
                 f"{_fit_label(section['fit'])}):"))
    out.append(Table(["model"] + [_fit_label(key) for key in FITS] + ["20 × N"],
                     [[m["model"]] + [format_count(m["optimal_tokens_by_fit"][key]) for key in FITS]
                      + [format_count(m["tokens_20x"])] for m in models]))
    out += _warnings(section.get("warnings") or [])
    hw = section["hardware"]
    u = hw["utilisation"]
    out += [H(compute_title),
            P(f"{hw['gpus']:,} × {hw['gpu'].upper()}, peak {hw['peak_flops'] / 1e12:,.4g} TFLOP/s "
              f"dense bf16 ({hw['peak_source']}); {u['kind'].upper()} {u['value']:g} (range "
              f"{u['range'][0]:g}-{u['range'][1]:g}), activation recomputation "
              f"{'on' if u['recompute'] else 'off'}"
              + (" (an MFU-based time does not depend on it)." if u["kind"] == "mfu" else ".")),
            P("Time formula used: ", Code(hw["time_formula"]), f" ({hw['time_formula_why']}).")]
    rows = []
    for m in models:
        mem = m["memory_gb"]
        rows.append([m["model"], format_count(m["needed_tokens"]), flops(m["flops_6nd"]),
                     flops(m["flops_6nd"] * hw["flops_per_param_token"] / 6.0),
                     n(m["gopher_units_6nd"]), duration(m["days"]), duration_range(m["days_range"]),
                     n(m["gpu_hours"]), f"{n(mem['16'])} / {n(mem['18'])}-{n(mem['20'])}",
                     n(m["min_gpus_for_states"])])
    out.append(Table(["model", "tokens", "model FLOPs (6ND)",
                      f"executed FLOPs ({hw['flops_per_param_token']:g}ND)", "Gopher units", "time",
                      f"time ({u['kind'].upper()} range)", "GPU-hours",
                      "train-state GB (16 / 18-20 B/param)", "min GPUs for states"], rows))
    out += [P("Sources:"), Table(["rule", "formula", "source"],
                                 [[r["rule"], Code(r["formula"]), r["source"]] for r in section["rules"]]),
            Note("Verdict sources: " + "; ".join(sorted({m["verdict"] + ": " + m["verdict_source"]
                                                         for m in models})))]
    return out


def planning_blocks(section: dict) -> list[Block]:
    out: list[Block] = [H("10. Planning: the same questions the other way round")]
    if section.get("status") != "ok":
        return out + _not_run(section)
    u = format_count(section["unique_tokens"])
    out.append(P(f"Largest compute-optimal model ({_fit_label(section['fit'])}) for the {u} unique "
                 f"tokens ({section['unique_source']}), repeating them at most 1, 4 or 16 times "
                 f"(Muennighoff et al.'s bands):"))
    out.append(Table(["at most", "training tokens", "largest model", "effective D'",
                      "loss penalty", "time on the given GPUs", "band"],
                     [[f"{b['max_epochs']:g} epoch" + ("s" if b["max_epochs"] != 1 else ""),
                       format_count(b["train_tokens"]), format_count(b["params"]),
                       format_count(b["effective_tokens"]), pct(b["loss_penalty_pct"]),
                       duration(b["days"]), b["verdict"]] for b in section["epoch_bands"]]))
    out.append(P("Unique tokens the target models need:"))
    out.append(Table(["model", "training tokens", "unique for ≤ 1 epoch", "≤ 4 epochs",
                      "≤ 16 epochs", f"this data ({u})"],
                     [[r["model"], format_count(r["train_tokens"]),
                       format_count(r["unique_needed"]["1"]), format_count(r["unique_needed"]["4"]),
                       format_count(r["unique_needed"]["16"]),
                       (f"enough at ≤ {r['band_met']:g} epochs" if r["band_met"] != 1
                        else "enough at 1 epoch") if r["band_met"]
                       else "not enough at ≤ 16 epochs"] for r in section["unique_needed"]]))
    out.append(Note(f"Fit: {section['fit_source']}."))
    cb = section["compute_budget"]
    out.append(P(B("Fixed compute budget.")))
    if cb.get("status") != "ok":
        out += _not_run(cb)
    else:
        fit = cb["unlimited_data"]
        dcu = cb["data_constrained_unlimited"]
        dc = cb["data_constrained"]
        out.append(P(f"Budget {flops(cb['flops'])} model FLOPs ({cb['source']}); "
                     f"{duration(cb['days'])} on the given GPUs."))
        out.append(Table(["allocation", "parameters", "training tokens", "epochs over the data",
                          "predicted loss (data-constrained law)"],
                         [[f"{_fit_label(fit['fit'])}, as if data were unlimited",
                           format_count(fit["params"]), format_count(fit["tokens"]),
                           format_epochs(fit["epochs"]), n(fit["loss_with_repetition"])],
                          ["data-constrained law, unlimited unique data", format_count(dcu["params"]),
                           format_count(dcu["tokens"]), "n/a", n(dcu["loss"])],
                          [[B("data-constrained law, this data (recommended)")],
                           format_count(dc["params"]), format_count(dc["tokens"]),
                           format_epochs(dc["epochs"]), n(dc["loss"])]]))
        out.append(P(f"Repetition penalty at the recommended allocation: {pct(cb['loss_penalty_pct'])} "
                     f"loss vs unlimited unique data. Method: {cb['method']}."))
        out += _warnings(cb.get("warnings") or [])
    out += _warnings(section.get("warnings") or [])
    return out


def mix_blocks(section: dict) -> list[Block]:
    out: list[Block] = [H("11. Per-language budgets for a language mix")]
    if section.get("status") != "ok":
        return out + _not_run(section)
    mix = ", ".join(f"{k} {v:g}" for k, v in section["mix"].items())
    out.append(P(f"Mix {mix}; unique tokens per language: {section['unique_source']}. A "
                 f"multilingual model repeats its small languages first."))
    for m in section["models"]:
        out.append(P(B(f"{m['model']}"), f" ({format_count(m['needed_tokens'])} training tokens):"))
        out.append(Table(["language", "share", "training tokens", "unique tokens", "epochs",
                          "effective D'", "verdict"],
                         [[lg["lang"], f"{100 * lg['weight']:.3g} %", format_count(lg["tokens"]),
                           format_count(lg["unique_tokens"]), format_epochs(lg["epochs"]),
                           format_count(lg["effective_tokens"]), lg["verdict"]]
                          for lg in m["languages"]]))
    if section.get("not_in_mix"):
        out.append(Note("Languages in the data but not in the mix: "
                        + ", ".join(section["not_in_mix"]) + "."))
    out += _warnings(section.get("warnings") or [])
    return out


def dedup_blocks(section: dict) -> list[Block]:
    out: list[Block] = [H("7. Deduplication")]
    if section.get("status") != "ok":
        return out + _not_run(section)
    exact, near = section.get("exact") or {}, section.get("near") or {}
    out += [P(f"Exact: {n(exact.get('docs_removed'))} docs removed ({nbytes(exact.get('bytes_removed'))}). "
              f"Near (MinHash LSH, {section['bands']} bands × {section['rows']} rows, "
              f"{section['num_perm']} permutations, Jaccard threshold {section['threshold']}): "
              f"{n(near.get('docs_removed'))} docs removed ({nbytes(near.get('bytes_removed'))})."),
            P("S-curve ", Code(section["formula"]), f": 50 % point ≈ J = {section['s_curve_threshold']}, "
              f"P(candidate | J = threshold) = {section['p_candidate_at_threshold']}.")]
    if section.get("cluster_sizes"):
        out.append(Table(["cluster size", "clusters"],
                         [[str(k), n(v)] for k, v in section["cluster_sizes"].items()]))
    return out


def decontam_blocks(section: dict) -> list[Block]:
    out: list[Block] = [H("8. Decontamination")]
    if section.get("status") != "ok":
        return out + _not_run(section)
    index = section.get("index") or {}
    out.append(P(f"Mode {section['mode']}, {section['ngram']}-gram matching; index: "
                 f"{n(index.get('ngrams'))} n-grams, {n(index.get('bytes'))} bytes, held by every "
                 f"worker; common n-grams ignored: "
                 f"{n(section.get('ignored_common_ngrams'))}."))
    rows = []
    for r in section["benchmarks"]:
        examples: list = []
        for i, e in enumerate(r.get("examples") or []):
            examples += (["; "] if i else []) + [Code(str(e))]
        rows.append([r["benchmark"], n(r["items"]), n(r["dirty_items"]), n(r["dirty_pct"]),
                     n(r["docs_touched"]), n(r["docs_dropped"]), n(r["chars_removed"]),
                     n(r["words_removed"]),
                     n(r["tokens_removed"]) + (" (est.)" if r.get("tokens_removed_estimated")
                                               and r["tokens_removed"] is not None else ""),
                     examples or "-"])
    out += [Table(["benchmark", "items", "dirty items", "dirty %", "docs touched", "docs dropped",
                   "chars removed", "words removed", "tokens removed", "examples"], rows),
            Note("Estimated tokens = characters removed × tokens/char of the kept text.")]
    return out


def _rule_sets(r: dict) -> str:
    sets = r.get("rule_sets")
    if not isinstance(sets, dict):
        return "n/a"
    parts = [f"{stage}: {name}" if name else f"{stage}: none" for stage, name in sets.items()]
    return ", ".join(parts) or "n/a"


def languages_blocks(section: dict) -> list[Block]:
    out: list[Block] = [H("9. Per language")]
    if section.get("status") != "ok":
        return out + _not_run(section)
    rows = section["languages"]
    out.append(P("Documents and tokens in and kept, what removed them, and which rule sets judged "
                 "them:"))
    out.append(Table(["lang", "docs in", "docs kept", "tokens in", "tokens kept", "top rejections",
                      "rule sets", "passed unjudged"],
                     [[r["lang"], n(r["docs_seen"]), n(r["kept"]), n(r.get("tokens_in")),
                       n(r["tokens"]),
                       ", ".join(f"{t['what']} {t['docs']:,}" for t in r.get("top_rejections") or [])
                       or "-", _rule_sets(r),
                       "n/a" if r.get("unjudged_docs") is None else
                       f"{n(r['unjudged_docs'])} docs, {n(r.get('unjudged_tokens'))} tokens"]
                      for r in rows]))
    out.append(P("Tokens, compression and storage:"))
    out.append(Table(["lang", "tokens", "share", "chars/token", "bytes/token", "tokens/char",
                      "tokens/word", "bytes/char", "text GB per 1B tokens", "Parquet (est.)"],
                     [[r["lang"], n(r["tokens"]), n(r["token_share"]), n(r["chars_per_token"]),
                       n(r["bytes_per_token"]), n(r["tokens_per_char"]), n(r["tokens_per_word"]),
                       n(r["bytes_per_char"]), n(r["text_gb_per_billion_tokens"]),
                       nbytes(r["parquet_bytes_estimated"])] for r in rows]))
    for r in rows:
        thumb = r.get("rule_of_thumb")
        if thumb:
            cpt, bpc = thumb["chars_per_token"], thumb["bytes_per_char"]
            out.append(P(f"Rule of thumb ({r['lang']}): 1 token ≈ {cpt['expected'][0]}-{cpt['expected'][1]} "
                         f"characters → measured {n(cpt['measured'])} chars/token "
                         f"({'holds' if cpt['holds'] else 'does not hold'}); {bpc['expected']:g} bytes per "
                         f"character → measured {n(bpc['measured'])} "
                         f"({'holds' if bpc['holds'] else 'does not hold'}: {thumb['note']})."))
    out += [Note(f"{k}: {v}.") for k, v in section["definitions"].items()]
    return out


SPARK = "▁▂▃▄▅▆▇█"


def sparkline(counts: list[int]) -> str:
    peak = max(counts) if counts else 0
    if not peak:
        return ""
    return "".join(" " if c == 0 else SPARK[min(7, int(7 * c / peak + 0.999))] for c in counts)


def _threshold(s: dict) -> str:
    parts = []
    if s.get("min") is not None:
        parts.append(f"< {n(s['min'])}")
    if s.get("max") is not None:
        parts.append(f"> {n(s['max'])}")
    return "rejects " + " or ".join(parts) if parts else "no threshold"


def tuning_blocks(section: dict) -> list[Block]:
    out: list[Block] = [H("12. Tuning: rule statistics and thresholds")]
    if section.get("status") != "ok":
        return out + _not_run(section)
    groups: dict[tuple[str, str], list[tuple[int, dict]]] = {}
    for i, s in enumerate(section["statistics"]):
        groups.setdefault((s["stage"], s["lang"]), []).append((i, s))
    for (stage, lang), items in groups.items():
        out.append(P(B(f"{stage}, language {lang}:")))
        out.append(Table(["statistic", "rule", "threshold", "docs", "docs beyond (bins)",
                          "range", "distribution"],
                         [[s["statistic"], s.get("reason") or "-", _threshold(s), n(s["docs"]),
                           n(s["docs_beyond"]), f"{n(float(s['edges'][0]))} - {n(float(s['edges'][-1]))}"
                           + ("" if len(s["edges"]) > len(s["counts"]) else "+"),
                           Code(sparkline(s["counts"]))] for _, s in items]))
        out += [Figure(f"tuning-{i}") for i, _ in items]
    out.append(Note(section["note"]))
    return out


def samples_blocks(section: dict, stage_order: list[str]) -> list[Block]:
    out: list[Block] = [H("13. Sample rejected rows")]
    if section.get("status") != "ok":
        return out + _not_run(section)
    order = {name: i for i, name in enumerate(stage_order)}
    reasons = sorted(section["reasons"], key=lambda r: (order.get(r["stage"], len(order)),
                                                        r["stage"], r["reason"]))
    out.append(P(f"Up to {section['per_reason']} rows per rejection reason, first "
                 f"{section['chars']} characters, escaped (read from rejected/):"))
    rows = []
    for r in reasons:
        for row in r["rows"]:
            rows.append([f"{r['stage']}: {r['reason']}", Code(row.get("id") or ""),
                         row.get("url") or "-", row.get("text") or "-"])
    out.append(Table(["rule", "id", "url", "text"], rows))
    return out


def report_blocks(report: dict) -> list[Block]:
    """Every section of the report as blocks, in reading order."""
    blocks: list[Block] = []
    blocks += header_blocks(report)
    blocks += funnel_blocks(report["funnel"])
    blocks += tokens_blocks(report["tokens"])
    blocks += storage_blocks(report["storage"])
    blocks += compression_blocks(report["compression"])
    blocks += budget_blocks(report["budget"])
    blocks += dedup_blocks(report["dedup"])
    blocks += decontam_blocks(report["decontamination"])
    blocks += languages_blocks(report["languages"])
    blocks += planning_blocks(report["planning"])
    blocks += mix_blocks(report["mix"])
    blocks += tuning_blocks(report["tuning"])
    blocks += samples_blocks(report["samples"], report.get("stages_run") or [])
    return blocks


def intro_blocks(report: dict) -> list[Block]:
    cons = report.get("conservation") or {}
    out: list[Block] = [P("Output ", Code(str(report.get("output", ""))), "; stages: "
                          + " → ".join(report.get("stages_run", [])) + f"; schema v{report['schema_version']}.")]
    if cons:
        out.append(P(f"Input records {n(cons.get('input'))} = kept {n(cons.get('kept'))} + rejected "
                     f"{n(cons.get('rejected'))} + dead-lettered {n(cons.get('dead_letter'))}: "
                     f"{'conservation holds' if cons.get('holds') else 'MISMATCH'}."))
    return out


def render_markdown(report: dict) -> str:
    text = "# Token-budget report\n\n" + to_markdown(intro_blocks(report) + report_blocks(report))
    return text.rstrip() + "\n"


def plan_markdown(plan: dict) -> str:
    """What ``plan`` prints: sections 5, 6, 10 and 11 plus the warnings."""
    blocks = (budget_blocks(plan["budget"], "Epochs for target models", "Compute")
              + planning_blocks(plan["planning"]) + mix_blocks(plan["mix"]))
    # plan prints unnumbered headings (the numbers refer to a run's report)
    blocks = [H(b.text.split(". ", 1)[-1]) if isinstance(b, H) and b.text[:1].isdigit() else b
              for b in blocks]
    return to_markdown(blocks).rstrip() + "\n"
