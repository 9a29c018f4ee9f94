"""Two runs side by side (``python -m pipeline report A B``): what a config change did to the
funnel, the tokens and the budget. Both reports are built with the same report config so the
budget columns differ only by what the runs measured."""
from __future__ import annotations

from typing import Any

from pipeline.report.budget import SCHEMA_VERSION
from pipeline.report.doc import B, Block, Code, H, Note, P, Table, esc, to_html, to_markdown
from pipeline.report.formulas import format_count, format_epochs
from pipeline.report.render_md import n, nbytes

MAX_CONFIG_ROWS = 200


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key in sorted(value):
            out.update(_flatten(value[key], f"{prefix}.{key}" if prefix else str(key)))
        return out
    return {prefix: value}


def config_diff(summary_a: dict, summary_b: dict) -> list[dict[str, Any]]:
    """Config keys whose resolved values differ between the two runs."""
    a, b = _flatten(summary_a.get("config") or {}), _flatten(summary_b.get("config") or {})
    rows = []
    for key in sorted(set(a) | set(b)):
        if a.get(key, "<absent>") != b.get(key, "<absent>"):
            rows.append({"key": key, "a": a.get(key, "<absent>"), "b": b.get(key, "<absent>")})
    return rows


def _delta(a: float | None, b: float | None) -> str:
    if a is None or b is None:
        return "n/a"
    diff = b - a
    if isinstance(a, int) and isinstance(b, int):
        text = f"{diff:+,}"
    else:
        text = f"{diff:+,.4g}"
    return text + (f" ({100 * diff / a:+.3g} %)" if a else "")


def compare_data(report_a: dict, report_b: dict, summary_a: dict, summary_b: dict,
                 label_a: str, label_b: str) -> dict[str, Any]:
    return {"schema_version": SCHEMA_VERSION, "labels": [label_a, label_b],
            "config_diff": config_diff(summary_a, summary_b),
            "reports": [report_a, report_b]}


def _stage_map(report: dict) -> dict[str, dict]:
    funnel = report.get("funnel") or {}
    return {s["stage"]: s for s in funnel.get("stages") or []} if funnel.get("status") == "ok" else {}


def compare_blocks(data: dict) -> list[Block]:
    a, b = data["reports"]
    la, lb = data["labels"]
    out: list[Block] = [P("A = ", Code(la), "; B = ", Code(lb), ". Both budgets use the same "
                          "report settings (A's, with any options given), so their differences "
                          "come from what the runs measured.")]
    ca, cb = a.get("conservation") or {}, b.get("conservation") or {}
    ta, tb = a.get("tokens") or {}, b.get("tokens") or {}
    tok_a = ta.get("total_tokens") if ta.get("status") == "ok" else None
    tok_b = tb.get("total_tokens") if tb.get("status") == "ok" else None
    rows = [["input records", n(ca.get("input")), n(cb.get("input")), _delta(ca.get("input"), cb.get("input"))],
            ["kept", n(ca.get("kept")), n(cb.get("kept")), _delta(ca.get("kept"), cb.get("kept"))],
            ["rejected", n(ca.get("rejected")), n(cb.get("rejected")),
             _delta(ca.get("rejected"), cb.get("rejected"))],
            ["dead-lettered", n(ca.get("dead_letter")), n(cb.get("dead_letter")),
             _delta(ca.get("dead_letter"), cb.get("dead_letter"))],
            ["kept tokens", n(tok_a), n(tok_b), _delta(tok_a, tok_b)],
            ["unique tokens are", (a.get("run") or {}).get("unique_tokens_label", "n/a"),
             (b.get("run") or {}).get("unique_tokens_label", "n/a"), ""]]
    for name, key in (("tokenizer vocab", "vocab_size"), ("tokenizer sha256", "sha256")):
        va = ((a.get("run") or {}).get("tokenizer") or {}).get(key)
        vb = ((b.get("run") or {}).get("tokenizer") or {}).get(key)
        rows.append([name, n(va) if va is not None else "n/a", n(vb) if vb is not None else "n/a",
                     "same" if va == vb else "differs"])
    out += [H("Runs"), Table(["", "A", "B", "B - A"], rows)]

    diff = data["config_diff"]
    out.append(H("Config differences"))
    if diff:
        out.append(Table(["key", "A", "B"], [[d["key"], Code(repr(d["a"])), Code(repr(d["b"]))]
                                             for d in diff[:MAX_CONFIG_ROWS]]))
        if len(diff) > MAX_CONFIG_ROWS:
            out.append(Note(f"{len(diff) - MAX_CONFIG_ROWS:,} more differences not shown."))
    else:
        out.append(P("The resolved configs are identical."))

    sa, sb = _stage_map(a), _stage_map(b)
    stages = list(sa) + [s for s in sb if s not in sa]
    out += [H("Funnel"), Table(["stage", "docs out A", "docs out B", "B - A", "removed A",
                                "removed B", "bytes out A", "bytes out B"],
                               [[s, n(sa.get(s, {}).get("docs_out")), n(sb.get(s, {}).get("docs_out")),
                                 _delta(sa.get(s, {}).get("docs_out"), sb.get(s, {}).get("docs_out")),
                                 n(_removed(sa.get(s))), n(_removed(sb.get(s))),
                                 nbytes(sa.get(s, {}).get("bytes_out")),
                                 nbytes(sb.get(s, {}).get("bytes_out"))] for s in stages])]
    rules_a, rules_b = _rules(sa), _rules(sb)
    keys = list(rules_a) + [k for k in rules_b if k not in rules_a]
    if keys:
        out += [P("Removed by rule:"),
                Table(["stage", "rule", "docs A", "docs B", "B - A"],
                      [[k[0], k[1], n(rules_a.get(k)), n(rules_b.get(k)),
                        _delta(rules_a.get(k, 0), rules_b.get(k, 0))] for k in keys])]

    la_rows = {r["name"]: r for r in ta.get("by_lang") or []}
    lb_rows = {r["name"]: r for r in tb.get("by_lang") or []}
    langs = sorted(set(la_rows) | set(lb_rows))
    out.append(H("Tokens per language"))
    if langs:
        out.append(Table(["language", "tokens A", "tokens B", "B - A", "docs A", "docs B"],
                         [[lg, n(la_rows.get(lg, {}).get("tokens")), n(lb_rows.get(lg, {}).get("tokens")),
                           _delta(la_rows.get(lg, {}).get("tokens"), lb_rows.get(lg, {}).get("tokens")),
                           n(la_rows.get(lg, {}).get("docs")), n(lb_rows.get(lg, {}).get("docs"))]
                          for lg in langs]))
    else:
        out.append(Note("No token counts in either run."))

    ma = {m["model"]: m for m in _models(a)}
    mb = {m["model"]: m for m in _models(b)}
    out.append(H("Budget"))
    if ma or mb:
        out.append(Table(["model", "epochs A", "epochs B", "loss penalty A", "loss penalty B",
                          "verdict A", "verdict B"],
                         [[m, format_epochs(ma.get(m, {}).get("epochs")),
                           format_epochs(mb.get(m, {}).get("epochs")),
                           _pct(ma.get(m, {}).get("loss_penalty_pct")),
                           _pct(mb.get(m, {}).get("loss_penalty_pct")),
                           ma.get(m, {}).get("verdict", "n/a"), mb.get(m, {}).get("verdict", "n/a")]
                          for m in list(ma) + [x for x in mb if x not in ma]]))
        ua = (a.get("budget") or {}).get("unique_tokens")
        ub = (b.get("budget") or {}).get("unique_tokens")
        out.append(P(B("Unique tokens: "), f"A {format_count(ua)}, B {format_count(ub)}."))
    else:
        out.append(Note("No budget in either run (no token counts)."))
    return out


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:+,.3g} %"


def _removed(stage: dict | None) -> int | None:
    if not stage:
        return None
    return (stage.get("rejected") or 0) + (stage.get("dead_letter") or 0)


def _rules(stages: dict[str, dict]) -> dict[tuple[str, str], int]:
    return {(name, r["rule"]): r["docs"] for name, s in stages.items() for r in s.get("rules") or []}


def _models(report: dict) -> list[dict]:
    budget = report.get("budget") or {}
    return budget.get("models") or [] if budget.get("status") == "ok" else []


def compare_markdown(data: dict) -> str:
    return ("# Two runs side by side\n\n" + to_markdown(compare_blocks(data))).rstrip() + "\n"


def compare_chart(data: dict) -> str | None:
    """Documents out of each stage, A and B as paired bars."""
    from pipeline.report.render_html import _svg

    sa, sb = (_stage_map(r) for r in data["reports"])
    stages = list(sa) + [s for s in sb if s not in sa]
    if not stages:
        return None
    width, height, left = 640, 40 + 26 * len(stages), 110
    top = max([s.get("docs_in") or 0 for s in (*sa.values(), *sb.values())] or [1]) or 1
    scale = (width - left - 90) / top
    body = []
    for i, name in enumerate(stages):
        y = 28 + i * 26
        body.append(f'<text x="{left - 6}" y="{y + 14}" text-anchor="end">{esc(name)}</text>')
        for j, (stage_map, colour, tag) in enumerate(((sa, "#4c78a8", "A"), (sb, "#f58518", "B"))):
            docs = (stage_map.get(name) or {}).get("docs_out")
            if docs is None:
                continue
            body.append(f'<rect data-tip="1" x="{left}" y="{y + j * 11}" width="{docs * scale:.1f}" '
                        f'height="10" fill="{colour}"><title>{tag} {esc(name)}: {docs:,} docs out'
                        f'</title></rect><text x="{left + docs * scale + 4:.1f}" y="{y + j * 11 + 9}">'
                        f'{tag} {docs:,}</text>')
    return _svg("Documents out of each stage: A (blue) vs B (orange)", body,
                "chart-compare-funnel", width, height)


def compare_html(data: dict) -> str:
    from pipeline.report.render_html import page

    chart = compare_chart(data)
    body = (f'<div class="card">{chart}</div>' if chart else "") + "".join(
        f'<div class="card">{to_html(card)}</div>' for card in _split(compare_blocks(data)))
    return page("Two runs side by side", "", body)


def _split(blocks: list[Block]) -> list[list[Block]]:
    cards: list[list[Block]] = []
    for block in blocks:
        if isinstance(block, H) or not cards:
            cards.append([])
        cards[-1].append(block)
    return cards
