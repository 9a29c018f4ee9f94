"""report.json -> one self-contained HTML page: inline CSS, inline SVG charts drawn in Python.

No network, no CDN: the page opens offline. A few lines of inline JS only mark each chart as
drawn (``data-shapes``) and add hover highlighting, which the headless-browser test checks.
The text comes from the same document blocks as report.md (``render_md.report_blocks``),
escaped for HTML by ``pipeline.report.doc``; axis labels are thinned so none overlap.
"""
from __future__ import annotations

import math
from typing import Any, Callable

from pipeline.report.doc import H as Heading
from pipeline.report.doc import esc, to_html
from pipeline.report.formulas import format_count, format_epochs
from pipeline.report.render_md import duration, intro_blocks, report_blocks

W, H = 640, 300
PAD_L, PAD_R, PAD_T, PAD_B = 64, 16, 20, 44
CHAR_PX = 6.4  # average glyph width of the 11px chart font, for label-overlap checks
BAND_COLOURS = (("fine", "#d9f2d9"), ("negligible", "#eef7d0"), ("diminishing", "#fde9c8"),
                ("get more data", "#f9d0cc"))

CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;color:#1d2330;background:#f6f7f9}
main{max-width:1180px;margin:0 auto;padding:24px}
h1{font-size:24px;margin:0 0 4px}h2{font-size:18px;margin:28px 0 8px;border-bottom:2px solid #dde1e7;padding-bottom:4px}
.card{background:#fff;border:1px solid #e1e4ea;border-radius:8px;padding:14px 18px;margin:10px 0}
.kpis{display:flex;flex-wrap:wrap;gap:10px}.kpi{flex:1 1 160px;background:#fff;border:1px solid #e1e4ea;border-radius:8px;padding:10px 14px}
.kpi b{display:block;font-size:22px}.kpi span{color:#5b6475;font-size:12px}
.scroll{overflow-x:auto}
table{border-collapse:collapse;width:100%;font-size:13px;margin:6px 0 10px}th,td{padding:4px 8px;border-bottom:1px solid #eceef2;text-align:left;vertical-align:top;overflow-wrap:anywhere}
th{background:#f0f2f5;font-weight:600}td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.notrun{color:#8a5a00;background:#fff7e6;border:1px solid #f3d9a4;border-radius:6px;padding:8px 12px}
.warn{color:#7a1b12;background:#fdecea;border:1px solid #f5c2bc;border-radius:6px;padding:8px 12px}
.note{color:#5b6475;font-size:12px}.charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(560px,1fr));gap:12px}
.figure{display:inline-block;width:32%;min-width:280px;vertical-align:top;margin:4px 1% 4px 0}
svg.chart{width:100%;height:auto;background:#fff}svg.chart text{font-size:11px;fill:#3b4252}
svg.chart .hl{opacity:.75}code{font-size:12px;background:#f3f4f6;padding:0 3px;border-radius:3px}
"""

JS = """
(function(){
  var charts=document.querySelectorAll('svg.chart');var drawn=0;
  charts.forEach(function(svg){
    var shapes=svg.querySelectorAll('rect,path,circle,line,polyline').length;
    svg.setAttribute('data-shapes',String(shapes));if(shapes>0){drawn++;}
    svg.querySelectorAll('[data-tip]').forEach(function(el){
      el.addEventListener('mouseenter',function(){el.classList.add('hl');});
      el.addEventListener('mouseleave',function(){el.classList.remove('hl');});
    });
  });
  document.body.setAttribute('data-charts-drawn',String(drawn));
  document.body.setAttribute('data-charts-total',String(charts.length));
})();
"""


# ------------------------------------------------------------------ SVG helpers
class Axis:
    """Linear or log10 mapping from data to pixels."""

    def __init__(self, lo: float, hi: float, a: float, b: float, log: bool = False) -> None:
        if log:
            lo, hi = math.log10(lo), math.log10(hi)
        if hi <= lo:
            hi = lo + 1
        self.lo, self.hi, self.a, self.b, self.log = lo, hi, a, b, log

    def __call__(self, value: float) -> float:
        v = math.log10(max(value, 1e-300)) if self.log else value
        return self.a + (v - self.lo) / (self.hi - self.lo) * (self.b - self.a)


def thin_labels(items: list[tuple[float, str]], horizontal: bool = True, gap: float = 6.0,
                char_px: float = CHAR_PX, line_px: float = 12.0) -> list[tuple[float, str]]:
    """Keep labels (position, text) left to right so that no two overlap: a label is dropped
    when its box would touch the previous kept one's (text width on x axes, line height on y)."""
    kept: list[tuple[float, str]] = []
    last_end = -math.inf
    for pos, text in sorted(items):
        half = (len(text) * char_px / 2) if horizontal else line_px / 2
        if pos - half >= last_end + gap:
            kept.append((pos, text))
            last_end = pos + half
    return kept


def _svg(title: str, body: list[str], chart_id: str, width: int = W, height: int = H) -> str:
    return (f'<svg class="chart" id="{esc(chart_id)}" viewBox="0 0 {width} {height}" role="img" '
            f'aria-label="{esc(title)}" xmlns="http://www.w3.org/2000/svg">'
            f'<text x="{width / 2}" y="14" text-anchor="middle" font-weight="600">{esc(title)}</text>'
            + "".join(body) + "</svg>")


def _frame(xlabel: str, ylabel: str) -> list[str]:
    return [f'<line x1="{PAD_L}" y1="{H - PAD_B}" x2="{W - PAD_R}" y2="{H - PAD_B}" stroke="#888"/>',
            f'<line x1="{PAD_L}" y1="{PAD_T}" x2="{PAD_L}" y2="{H - PAD_B}" stroke="#888"/>',
            f'<text x="{(PAD_L + W - PAD_R) / 2}" y="{H - 6}" text-anchor="middle">{esc(xlabel)}</text>',
            f'<text x="14" y="{(PAD_T + H - PAD_B) / 2}" text-anchor="middle" '
            f'transform="rotate(-90 14 {(PAD_T + H - PAD_B) / 2})">{esc(ylabel)}</text>']


def _log_ticks(axis: Axis, horizontal: bool, fmt: Callable[[float], str] = format_count) -> list[str]:
    candidates = []
    for p in range(math.floor(axis.lo), math.ceil(axis.hi) + 1):
        pos = axis(10.0 ** p)
        if min(axis.a, axis.b) - 0.5 <= pos <= max(axis.a, axis.b) + 0.5:
            candidates.append((pos, fmt(10.0 ** p)))
    out = []
    for pos, label in thin_labels(candidates, horizontal):
        if horizontal:
            out.append(f'<line x1="{pos:.1f}" y1="{H - PAD_B}" x2="{pos:.1f}" y2="{H - PAD_B + 4}" stroke="#888"/>'
                       f'<text x="{pos:.1f}" y="{H - PAD_B + 16}" text-anchor="middle">{esc(label)}</text>')
        else:
            out.append(f'<line x1="{PAD_L - 4}" y1="{pos:.1f}" x2="{W - PAD_R}" y2="{pos:.1f}" stroke="#eee"/>'
                       f'<text x="{PAD_L - 6}" y="{pos + 4:.1f}" text-anchor="end">{esc(label)}</text>')
    return out


def _epoch_tick(value: float) -> str:
    return format_count(value) if value >= 1e4 else f"{value:g}"


def funnel_chart(funnel: dict) -> str | None:
    if funnel.get("status") != "ok":
        return None
    stages = funnel["stages"]
    top = max(s["docs_in"] or 0 for s in stages) or 1
    row_h = (H - PAD_T - 30) / len(stages)
    x = Axis(0, top, 110, W - PAD_R - 90)
    body = []
    for i, s in enumerate(stages):
        y = PAD_T + 10 + i * row_h
        kept, gone = s["docs_out"] or 0, (s["rejected"] or 0) + (s["dead_letter"] or 0)
        body.append(f'<text x="104" y="{y + row_h * 0.6:.1f}" text-anchor="end">{esc(s["stage"])}</text>')
        body.append(f'<rect data-tip="1" x="110" y="{y:.1f}" width="{max(x(kept) - 110, 0):.1f}" '
                    f'height="{row_h * 0.7:.1f}" fill="#4c78a8"><title>{esc(s["stage"])}: {kept:,} docs out'
                    f'</title></rect>')
        if gone:
            body.append(f'<rect data-tip="1" x="{x(kept):.1f}" y="{y:.1f}" width="{x(kept + gone) - x(kept):.1f}" '
                        f'height="{row_h * 0.7:.1f}" fill="#e45756"><title>{esc(s["stage"])}: {gone:,} removed'
                        f'</title></rect>')
        body.append(f'<text x="{x(kept + gone) + 4:.1f}" y="{y + row_h * 0.6:.1f}">{kept:,}'
                    f'{f" (-{gone:,})" if gone else ""}</text>')
    body.append(f'<text x="110" y="{H - 6}">documents kept (blue) and removed (red) per stage</text>')
    return _svg("Funnel: documents per stage", body, "chart-funnel")


def epochs_chart(budget: dict) -> str | None:
    if budget.get("status") != "ok":
        return None
    models = budget["models"]
    params = [m["params"] for m in models]
    epochs = [m["epochs"] for m in models]
    eff = [m["effective_tokens"] / budget["unique_tokens"] for m in models]
    x = Axis(min(params) / 2, max(params) * 2, PAD_L, W - PAD_R, log=True)
    ys = epochs + eff + [0.5, 32.0]
    y = Axis(min(ys) / 2, max(ys) * 2, H - PAD_B, PAD_T, log=True)
    body = []
    bounds = [y.lo, 0.0, math.log10(4), math.log10(16), y.hi]
    for i, (name, colour) in enumerate(BAND_COLOURS):
        lo, hi = max(bounds[i], y.lo), min(bounds[i + 1], y.hi)
        if hi <= lo:
            continue
        top, bottom = y(10 ** hi), y(10 ** lo)
        label = (f'<text x="{W - PAD_R - 4}" y="{bottom - 4:.1f}" text-anchor="end" fill="#777">'
                 f'{esc(name)}</text>') if bottom - top >= 14 else ""
        body.append(f'<rect x="{PAD_L}" y="{top:.1f}" width="{W - PAD_R - PAD_L}" height="{bottom - top:.1f}" '
                    f'fill="{colour}"><title>{esc(name)}</title></rect>{label}')
    body += _frame("model parameters (log)", "epochs over unique data (log)")
    body += _log_ticks(x, True) + _log_ticks(y, False, _epoch_tick)
    for series, colour, label in ((epochs, "#d62728", "epochs = training tokens / unique"),
                                  (eff, "#1f77b4", "effective data D'/U (Muennighoff)")):
        pts = " ".join(f"{x(p):.1f},{y(v):.1f}" for p, v in zip(params, series))
        body.append(f'<polyline points="{pts}" fill="none" stroke="{colour}" stroke-width="2"/>')
        for m, p, v in zip(models, params, series):
            body.append(f'<circle data-tip="1" cx="{x(p):.1f}" cy="{y(v):.1f}" r="4" fill="{colour}">'
                        f'<title>{esc(m["model"])}: {esc(label)} = {esc(format_epochs(v))} '
                        f'({esc(m["verdict"])})</title></circle>')
    body.append(f'<rect x="{PAD_L + 8}" y="{PAD_T + 4}" width="10" height="3" fill="#d62728"/>'
                f'<text x="{PAD_L + 22}" y="{PAD_T + 9}">epochs needed</text>'
                f'<rect x="{PAD_L + 8}" y="{PAD_T + 16}" width="10" height="3" fill="#1f77b4"/>'
                f'<text x="{PAD_L + 22}" y="{PAD_T + 21}">effective epochs D\'/U</text>')
    return _svg("Epochs and effective data vs model size", body, "chart-epochs")


def histogram_chart(tokens: dict) -> str | None:
    hist = tokens.get("histogram") if tokens.get("status") == "ok" else tokens.get("char_histogram")
    if not hist or not hist.get("counts") or not any(hist["counts"]):
        return None
    unit = "tokens" if tokens.get("status") == "ok" else "characters"
    counts, edges = hist["counts"], hist["edges"]
    last = max(i for i, c in enumerate(counts) if c)
    first = min(i for i, c in enumerate(counts) if c)
    idx = list(range(first, last + 1))
    top = max(counts) or 1
    bw = (W - PAD_L - PAD_R) / max(len(idx), 1)
    y = Axis(0, top, H - PAD_B, PAD_T + 10)
    body = _frame(f"document length ({unit}, lower bin edge, log bins)", "documents")
    labels = []
    for k, i in enumerate(idx):
        x0 = PAD_L + k * bw
        upper = f"{edges[i + 1]:,}" if i + 1 < len(edges) else "∞"
        body.append(f'<rect data-tip="1" x="{x0 + 2:.1f}" y="{y(counts[i]):.1f}" width="{bw - 4:.1f}" '
                    f'height="{y(0) - y(counts[i]):.1f}" fill="#59a14f"><title>{edges[i]:,} - {upper} '
                    f'{unit}: {counts[i]:,} docs</title></rect>')
        if counts[i]:
            body.append(f'<text x="{x0 + bw / 2:.1f}" y="{y(counts[i]) - 3:.1f}" '
                        f'text-anchor="middle">{counts[i]:,}</text>')
        labels.append((x0 + bw / 2, f"{edges[i]:,}"))
    for pos, label in thin_labels(labels):
        body.append(f'<text x="{pos:.1f}" y="{H - PAD_B + 14}" text-anchor="middle">{esc(label)}</text>')
    return _svg(f"Document length distribution ({unit})", body, "chart-lengths")


def s_curve_chart(dedup: dict) -> str | None:
    if dedup.get("status") != "ok" or not dedup.get("s_curve"):
        return None
    x = Axis(0, 1, PAD_L, W - PAD_R)
    y = Axis(0, 1, H - PAD_B, PAD_T + 10)
    body = _frame("Jaccard similarity J", "P(candidate pair)")
    for t in (0, 0.25, 0.5, 0.75, 1.0):
        body.append(f'<text x="{x(t):.1f}" y="{H - PAD_B + 14}" text-anchor="middle">{t:g}</text>'
                    f'<text x="{PAD_L - 6}" y="{y(t) + 4:.1f}" text-anchor="end">{t:g}</text>'
                    f'<line x1="{PAD_L}" y1="{y(t):.1f}" x2="{W - PAD_R}" y2="{y(t):.1f}" stroke="#eee"/>')
    pts = " ".join(f"{x(p['jaccard']):.1f},{y(p['p_candidate']):.1f}" for p in dedup["s_curve"])
    body.append(f'<polyline points="{pts}" fill="none" stroke="#4c78a8" stroke-width="2.5"/>')
    if dedup.get("threshold") is not None:
        t = dedup["threshold"]
        body.append(f'<line data-tip="1" x1="{x(t):.1f}" y1="{PAD_T + 10}" x2="{x(t):.1f}" y2="{H - PAD_B}" '
                    f'stroke="#e45756" stroke-dasharray="4 3"><title>threshold J = {esc(t)}: P = '
                    f'{esc(dedup.get("p_candidate_at_threshold"))}</title></line>'
                    f'<text x="{x(t) - 4:.1f}" y="{PAD_T + 24}" text-anchor="end">threshold {esc(t)}</text>')
    body.append(f'<text x="{PAD_L + 8}" y="{PAD_T + 24}">b = {esc(dedup["bands"])} bands × '
                f'r = {esc(dedup["rows"])} rows: 1 - (1 - J^r)^b</text>')
    return _svg("Dedup S-curve: P(candidate | J)", body, "chart-scurve")


def _short(value: float) -> str:
    return f"{value:.3g}" if abs(value) < 1e4 else format_count(value)


def tuning_chart(stat: dict, index: int) -> str:
    """One rule statistic: its histogram, bins beyond the thresholds in red, thresholds dashed."""
    w, h, pl, pr, pt, pb = 320, 170, 36, 10, 24, 30
    edges, counts = stat["edges"], stat["counts"]
    nb = len(counts)
    bw = (w - pl - pr) / nb
    top = max(counts) or 1
    low, high = stat.get("min"), stat.get("max")

    def x_of(value: float) -> float | None:
        for i in range(nb):
            left = edges[i]
            right = edges[i + 1] if i + 1 < len(edges) else None
            if right is None:
                return pl + (i + 0.5) * bw if value >= left else None
            if left <= value <= right:
                frac = (value - left) / (right - left) if right > left else 0.0
                return pl + (i + frac) * bw
        return None

    body = [f'<line x1="{pl}" y1="{h - pb}" x2="{w - pr}" y2="{h - pb}" stroke="#888"/>']
    for i, count in enumerate(counts):
        left = edges[i]
        right = edges[i + 1] if i + 1 < len(edges) else math.inf
        cut = (low is not None and right <= low) or (high is not None and left > high)
        bar = (h - pb - pt) * count / top
        body.append(f'<rect data-tip="1" x="{pl + i * bw + 0.5:.1f}" y="{h - pb - bar:.1f}" '
                    f'width="{max(bw - 1, 0.5):.1f}" height="{bar:.1f}" '
                    f'fill="{"#e45756" if cut else "#4c78a8"}"><title>{esc(_short(left))} - '
                    f'{esc(_short(right) if right != math.inf else "∞")}: {count:,} docs</title></rect>')
    for value, name in ((low, "min"), (high, "max")):
        if value is None:
            continue
        pos = x_of(float(value))
        if pos is None:
            continue
        body.append(f'<line x1="{pos:.1f}" y1="{pt}" x2="{pos:.1f}" y2="{h - pb}" stroke="#b42318" '
                    f'stroke-dasharray="4 3"><title>{name} threshold {esc(value)}</title></line>')
    labels = [(pl, _short(edges[0])), (w - pr, _short(edges[-1]))]
    for value in (low, high):
        if value is not None and x_of(float(value)) is not None:
            labels.append((x_of(float(value)), _short(float(value))))
    for pos, label in thin_labels(labels):
        body.append(f'<text x="{min(max(pos, pl + 10), w - pr - 10):.1f}" y="{h - pb + 14}" '
                    f'text-anchor="middle">{esc(label)}</text>')
    body.append(f'<text x="{pl - 4}" y="{pt + 8}" text-anchor="end">{top:,}</text>')
    title = f"{stat['statistic']} ({stat['lang']})"
    return _svg(title, body, f"chart-tuning-{index}", w, h)


# ------------------------------------------------------------------ page
def _kpis(report: dict) -> str:
    tokens = report["tokens"]
    budget = report["budget"]
    cons = report.get("conservation") or {}
    items = [(f"{cons.get('kept', 0):,} / {cons.get('input', 0):,}", "documents kept / read")]
    if tokens.get("status") == "ok":
        upper = (report.get("run") or {}).get("unique_tokens_upper_bound")
        items.append((format_count(tokens["total_tokens"]),
                      "tokens kept (upper bound on unique: no dedup)" if upper else
                      "tokens kept after dedup"))
    comp = report["compression"]
    if comp.get("status") == "ok":
        items.append((f"{comp['total']['bytes_per_token']}", "UTF-8 bytes per token"))
    if budget.get("status") == "ok":
        for m in budget["models"]:
            items.append((f"{format_epochs(m['epochs'])} epochs",
                          f"{m['model']}: {m['verdict']}; {duration(m['days'])}"))
    items.append(("holds" if cons.get("holds") else "MISMATCH", "conservation"))
    return '<div class="kpis">' + "".join(
        f'<div class="kpi"><b>{esc(v)}</b><span>{esc(k)}</span></div>' for v, k in items) + "</div>"


def page(title: str, subtitle_html: str, body_html: str) -> str:
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>{esc(title)}</title><style>{CSS}</style></head>
<body><main>
<h1>{esc(title)}</h1>
{subtitle_html}
{body_html}
</main>
<script>{JS}</script>
</body></html>
"""


def render_html(report: dict) -> str:
    charts = [c for c in (funnel_chart(report["funnel"]), epochs_chart(report["budget"]),
                          histogram_chart(report["tokens"]), s_curve_chart(report["dedup"])) if c]
    missing = []
    if report["dedup"].get("status") != "ok":
        missing.append("dedup S-curve: dedup not run")
    if report["budget"].get("status") != "ok":
        missing.append("epochs chart: no token counts")
    tuning = report.get("tuning") or {}
    figures: dict[str, str] = {}
    if tuning.get("status") == "ok":
        for i, stat in enumerate(tuning["statistics"]):
            figures[f"tuning-{i}"] = tuning_chart(stat, i)
    blocks = report_blocks(report)
    intro = to_html(intro_blocks(report))
    body = (_kpis(report) + "\n" + to_html(blocks[:_first_section(blocks)])
            + "\n<h2>Charts</h2>\n<div class=\"charts\">"
            + "".join(f'<div class="card">{c}</div>' for c in charts) + "</div>\n"
            + "".join(f'<p class="notrun"><b>not drawn</b>: {esc(m)}</p>' for m in missing)
            + "\n" + _cards(blocks[_first_section(blocks):], figures.get))
    return page("Token-budget report", intro, body)


def _first_section(blocks: list[Any]) -> int:
    return next((i for i, b in enumerate(blocks) if isinstance(b, Heading)), len(blocks))


def _cards(blocks: list[Any], figures: Callable[[str], str | None]) -> str:
    """One card per numbered section (a heading starts a new card)."""
    cards, current = [], []
    for block in blocks:
        if isinstance(block, Heading) and current:
            cards.append(current)
            current = []
        current.append(block)
    if current:
        cards.append(current)
    return "\n".join(f'<div class="card">{to_html(card, figures)}</div>' for card in cards)
