"""report.json -> Markdown (terminal- and PR-friendly). Pure string building."""
from __future__ import annotations

from typing import Any

from pipeline.report.formulas import format_count


def _n(value: Any) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if value != 0 and (abs(value) >= 1e6 or abs(value) < 1e-3):
            return f"{value:.3g}"
        return f"{value:,.4g}"
    return str(value)


def _bytes(value: int | float | None) -> str:
    if value is None:
        return "n/a"
    for unit, scale in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("KB", 1e3)):
        if value >= scale:
            return f"{value / scale:.3g} {unit}"
    return f"{int(value)} B"


def _table(header: list[str], rows: list[list[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return lines + [""]


def _not_run(section: dict) -> list[str]:
    return [f"_not run_: {section.get('why', '')}", ""]


def _tok(value: int | None, estimated: bool) -> str:
    if value is None:
        return "n/a"
    return f"~{value:,} (est.)" if estimated else f"{value:,}"


def funnel_md(section: dict) -> list[str]:
    out = ["## 1. Funnel", ""]
    if section.get("status") != "ok":
        return out + _not_run(section)
    rows = []
    for s in section["stages"]:
        rows.append([s["stage"], _n(s["docs_in"]), _n(s["docs_out"]), _n(s["rejected"]),
                     _n(s["dead_letter"]), f"{_bytes(s['bytes_in'])} ({s['bytes_in_kind']})",
                     _bytes(s["bytes_out"]), _tok(s["tokens_in"], True),
                     _tok(s["tokens_out"], s["tokens_out_estimated"])])
    out += _table(["stage", "docs in", "docs out", "rejected", "dead", "bytes in", "bytes out",
                   "tokens in", "tokens out"], rows)
    rules = [[s["stage"], r["rule"], _n(r["docs"]), _bytes(r["bytes"]),
              _tok(r["tokens"], r["tokens_estimated"])]
             for s in section["stages"] for r in s["rules"]]
    if rules:
        out += ["Removed by rule:", ""]
        out += _table(["stage", "rule", "docs", "bytes", "tokens"], rules)
    bpt = section.get("bytes_per_token")
    out += [f"_{section['note']}" + (f"; measured bytes/token: {bpt}" if bpt else "") + "_", ""]
    return out


def tokens_md(section: dict) -> list[str]:
    out = ["## 2. Token counts", ""]
    if section.get("status") != "ok":
        return out + _not_run(section)
    out += [f"**{section['total_tokens']:,} tokens** in {section['docs']:,} kept documents "
            f"(mean {_n(section['mean_tokens_per_doc'])} tokens/doc).", ""]
    for key, title in (("by_lang", "language"), ("by_source", "source")):
        out += _table([title, "docs", "tokens", "share", "tokens/doc"],
                      [[r["name"], _n(r["docs"]), _n(r["tokens"]),
                        f"{100 * (r['share'] or 0):.1f} %", _n(r["tokens_per_doc"])]
                       for r in section[key]])
    hist = section["histogram"]
    edges, counts = hist["edges"], hist["counts"]
    rows = []
    peak = max(counts) if counts else 0
    for i, count in enumerate(counts):
        upper = f"{edges[i + 1]:,}" if i + 1 < len(edges) else "inf"
        bar = "#" * round(30 * count / peak) if peak else ""
        rows.append([f"[{edges[i]:,}, {upper})", _n(count), bar])
    out += ["Document length (tokens):", ""] + _table(["tokens", "docs", ""], rows)
    return out


def storage_md(section: dict) -> list[str]:
    out = ["## 3. Storage", ""]
    rows = [[r["item"], _bytes(r["bytes"]), _n(r["bytes_per_token"]),
             _n(r["gb_per_billion_tokens"]), _n(r["tb_at_largest_budget"]), r["what"]]
            for r in section["rows"]]
    largest = section.get("largest_needed_tokens")
    out += _table(["item", "size", "bytes/token", "GB per 1B tokens",
                   f"TB at {format_count(largest)} tokens" if largest else "TB at largest budget",
                   "what"], rows)
    if section.get("note"):
        out += [f"_{section['note']}_", ""]
    return out


def compression_md(section: dict) -> list[str]:
    out = ["## 4. Compression", ""]
    if section.get("status") != "ok":
        return out + _not_run(section)
    tok = section.get("tokenizer") or {}
    if tok:
        out += [f"Tokenizer: {tok.get('source', '?')} {tok.get('model_type', '')} model, vocab "
                f"{_n(tok.get('vocab_size'))}, {tok.get('artefact', '')}", ""]
    t = section["total"]
    defs = section["definitions"]
    out += _table(["measure", "value", "definition"],
                  [[k, _n(t[k]), defs[k]] for k in defs])
    out += ["Per language:", ""]
    out += _table(["lang", "docs", "tokens", "chars/token", "bytes/token", "tokens/char",
                   "tokens/word"],
                  [[lang, _n(g["docs"]), _n(g["tokens"]), _n(g["chars_per_token"]),
                    _n(g["bytes_per_token"]), _n(g["tokens_per_char"]),
                    _n(g["tokens_per_word"]) if g["tokens_per_word"] is not None else "undefined"]
                   for lang, g in section["by_lang"].items()])
    out += ["Reference points: " + "; ".join(
        f"{r['tokenizer']} {r['chars_per_token']} chars/token on {r['text']}"
        for r in section["reference"]) + ".", "",
        f"_{section['words_note']}._", "", f"_{section['baichuan_note']}_", ""]
    return out


def budget_md(section: dict, title: str = "## 5. Epochs for target models",
              compute_title: str = "## 6. Compute") -> list[str]:
    out = [title, ""]
    if section.get("status") != "ok":
        return out + _not_run(section) + [compute_title, "",
                                          "_not run_: needs token counts (see section 5).", ""]
    src = section["tokens_source"]
    out += [f"Unique tokens: **{format_count(section['unique_tokens'])}** ({src}); needed tokens "
            f"per model: {'Chinchilla compute-optimal' if section['models'][0]['needed_source'] == 'chinchilla' else 'from config'}.",
            ""]
    rows = []
    for m in section["models"]:
        rows.append([m["model"], format_count(m["chinchilla_tokens"]), format_count(m["tokens_20x"]),
                     format_count(m["kaplan_min_tokens"]) + ("" if m["unique_meets_kaplan"] else " (!)"),
                     format_count(m["needed_tokens"]), _n(m["epochs"]),
                     format_count(m["effective_tokens"]), f"{_n(m['effective_fraction'])}",
                     f"+{_n(m['loss_penalty_pct'])} %", m["verdict"]])
    out += _table(["model", "Chinchilla D_opt", "20 x N", "Kaplan min D", "needed", "epochs",
                   "effective D'", "D'/needed", "loss penalty", "verdict"], rows)
    out += ["(!) unique tokens below Kaplan's overfitting bound for this size.", ""]
    hw = section["hardware"]
    out += [compute_title, "",
            f"{hw['gpus']} x {hw['gpu'].upper()} ({hw['peak_flops'] / 1e12:g} TFLOP/s peak dense "
            f"bf16), MFU {hw['mfu']} (range {hw['mfu_range'][0]}-{hw['mfu_range'][1]}).", ""]
    rows = []
    for m in section["models"]:
        lo, hi = m["days_range"]
        mem = m["memory_gb"]
        rows.append([m["model"], format_count(m["needed_tokens"]), f"{m['flops_6nd']:.3g}",
                     f"{m['flops_8nd']:.3g}", _n(m["gopher_units_6nd"]), _n(m["days"]),
                     f"{_n(lo)}-{_n(hi)}", _n(m["gpu_hours"]),
                     f"{_n(mem['16'])} / {_n(mem['18'])}-{_n(mem['20'])}",
                     _n(m["min_gpus_for_states"])])
    out += _table(["model", "tokens", "FLOPs 6ND", "FLOPs 8ND", "Gopher units", "days",
                   "days (MFU range)", "GPU-hours", "train-state GB (16 / 18-20 B/param)",
                   "min GPUs for states"], rows)
    out += ["Sources:", ""] + _table(["rule", "formula", "source"],
                                    [[r["rule"], r["formula"], r["source"]] for r in section["rules"]])
    out += ["Verdict sources: " + "; ".join(sorted({m["verdict"] + ": " + m["verdict_source"]
                                                  for m in section["models"]})), ""]
    return out


def dedup_md(section: dict) -> list[str]:
    out = ["## 7. Deduplication", ""]
    if section.get("status") != "ok":
        return out + _not_run(section)
    exact, near = section.get("exact") or {}, section.get("near") or {}
    out += [f"Exact: {_n(exact.get('docs_removed'))} docs removed ({_bytes(exact.get('bytes_removed'))}). "
            f"Near (MinHash LSH, {section['bands']} bands x {section['rows']} rows, "
            f"{section['num_perm']} permutations, Jaccard threshold {section['threshold']}): "
            f"{_n(near.get('docs_removed'))} docs removed ({_bytes(near.get('bytes_removed'))}).",
            "",
            f"S-curve {section['formula']}: 50 % point ~ J = {section['s_curve_threshold']}, "
            f"P(candidate | J = threshold) = {section['p_candidate_at_threshold']}.", ""]
    if section.get("cluster_sizes"):
        out += _table(["cluster size", "clusters"],
                      [[k, _n(v)] for k, v in section["cluster_sizes"].items()])
    return out


def decontam_md(section: dict) -> list[str]:
    out = ["## 8. Decontamination", ""]
    if section.get("status") != "ok":
        return out + _not_run(section)
    index = section.get("index") or {}
    out += [f"Mode {section['mode']}, {section['ngram']}-gram matching; index: "
            f"{section.get('index_path')} ({_n(index.get('ngrams'))} n-grams, "
            f"{_n(index.get('bytes'))} bytes); common n-grams ignored: "
            f"{_n(section.get('ignored_common_ngrams'))}.", ""]
    out += _table(["benchmark", "items", "dirty items", "dirty %", "docs touched", "docs dropped",
                   "chars removed", "words removed", "tokens removed", "examples"],
                  [[r["benchmark"], _n(r["items"]), _n(r["dirty_items"]), _n(r["dirty_pct"]),
                    _n(r["docs_touched"]), _n(r["docs_dropped"]), _n(r["chars_removed"]),
                    _n(r["words_removed"]),
                    _n(r["tokens_removed"]) + (" (est.)" if r.get("tokens_removed_estimated")
                                               and r["tokens_removed"] is not None else ""),
                    "; ".join(f"`{e}`" for e in r.get("examples") or [])]
                   for r in section["benchmarks"]])
    out += ["", "Estimated tokens = characters removed x tokens/char of the kept text.", ""]
    return out


def languages_md(section: dict) -> list[str]:
    out = ["## 9. Per language", ""]
    if section.get("status") != "ok":
        return out + _not_run(section)
    rows = section["languages"]
    out += ["Funnel:", ""]
    out += _table(["lang", "docs seen", "rejected", "rejected by stage", "kept"],
                  [[r["lang"], _n(r["docs_seen"]), _n(r["rejected"]),
                    ", ".join(f"{k} {v:,}" for k, v in r["rejected_by_stage"].items()) or "-",
                    _n(r["kept"])] for r in rows])
    out += ["Tokens, compression and storage:", ""]
    out += _table(["lang", "tokens", "share", "chars/token", "bytes/token", "tokens/char",
                   "tokens/word", "bytes/char", "text GB per 1B tokens", "Parquet (est.)"],
                  [[r["lang"], _n(r["tokens"]), _n(r["token_share"]), _n(r["chars_per_token"]),
                    _n(r["bytes_per_token"]), _n(r["tokens_per_char"]), _n(r["tokens_per_word"]),
                    _n(r["bytes_per_char"]), _n(r["text_gb_per_billion_tokens"]),
                    _bytes(r["parquet_bytes_estimated"])] for r in rows])
    for r in rows:
        thumb = r.get("rule_of_thumb")
        if thumb:
            cpt, bpc = thumb["chars_per_token"], thumb["bytes_per_char"]
            out += [f"Rule of thumb ({r['lang']}): 1 token ~ {cpt['expected'][0]}-{cpt['expected'][1]} "
                    f"characters -> measured {_n(cpt['measured'])} chars/token "
                    f"({'holds' if cpt['holds'] else 'does not hold'}); {bpc['expected']:g} bytes per "
                    f"character -> measured {_n(bpc['measured'])} "
                    f"({'holds' if bpc['holds'] else 'does not hold'}: {thumb['note']}).", ""]
    out += [f"{k}: {v}." for k, v in section["definitions"].items()] + [""]
    return out


def report_sections(report: dict) -> list[list[str]]:
    """The report's numbered sections as Markdown lines; both renderers lay out these."""
    sections = [funnel_md(report["funnel"]), tokens_md(report["tokens"]),
                storage_md(report["storage"]), compression_md(report["compression"]),
                budget_md(report["budget"]), dedup_md(report["dedup"]),
                decontam_md(report["decontamination"])]
    if "languages" in report:
        sections.append(languages_md(report["languages"]))
    return sections


def render_markdown(report: dict) -> str:
    cons = report.get("conservation") or {}
    lines = ["# Token-budget report", "",
             f"Output `{report.get('output', '')}`; stages: {' -> '.join(report.get('stages_run', []))}; "
             f"schema v{report['schema_version']}.", ""]
    if cons:
        lines += [f"Input records {_n(cons.get('input'))} = kept {_n(cons.get('kept'))} + rejected "
                  f"{_n(cons.get('rejected'))} + dead-lettered {_n(cons.get('dead_letter'))}: "
                  f"{'conservation holds' if cons.get('holds') else 'MISMATCH'}.", ""]
    for section in report_sections(report):
        lines += section
    return "\n".join(lines).rstrip() + "\n"
