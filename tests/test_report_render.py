"""What report.md / report.html show: record content escaped (never live markup), numbers a person
can read (no scientific-notation epochs, no fractional days, exact non-overlapping axis
labels), the tuning views, the tokenizer and demo-resource notices, per-language rule sets and
the sample rejected rows read from Parquet."""
from __future__ import annotations

import re
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipeline.report import write_reports
from pipeline.report.budget import build_report
from pipeline.report.config import ReportConfig
from pipeline.report.doc import md_escape, visible
from pipeline.report.render_html import CHAR_PX, H, PAD_B, histogram_chart, render_html, thin_labels
from pipeline.report.render_md import duration, render_markdown
from pipeline.report.samples import sample_rejections
from tests.report_fixtures import HOSTILE, fixed_summary, hostile_samples, rich_summary


@pytest.fixture(scope="module")
def rich() -> dict:
    return build_report(rich_summary(), ReportConfig(models=["1B", "7B"], mix={"en": 0.6, "zh": 0.4}),
                        {"kept": 16e9, "tokens": None}, "/out/<b>run</b>", hostile_samples())


def _unescaped_pipes(line: str) -> int:
    return len(re.findall(r"(?<!\\)\|", line))


# ------------------------------------------------------------------ escaping (issue 14)
def test_markdown_carries_no_live_markup(rich):
    md = render_markdown(rich)
    outside_code = re.sub(r"(`+)(?!`).*?(?<!`)\1(?!`)", "", md)  # code spans are literal text
    assert not re.search(r"<\s*(script|img|b)\b", outside_code, re.I)
    assert "`/out/<b>run</b>`" in md
    assert "&lt;script>console.log('pwned-1')&lt;/script>" in md  # shown as text, not dropped
    assert "javascript:x" in md and not re.search(r"(?<!\\)\]\(javascript", outside_code)  # no live link
    # every table row keeps the header's column count: a "|" in the data cannot add a column
    lines = md.splitlines()
    for i, line in enumerate(lines):
        if line.startswith("|---"):
            columns = _unescaped_pipes(lines[i - 1])
            for row in lines[i + 1:]:
                if not row.startswith("|"):
                    break
                assert _unescaped_pipes(row) == columns, row
    # bidi overrides and zero-width characters are made visible instead of acting
    assert "\u202e" not in md and "{U+202E}" in md and "{U+200B}" in md


def test_html_carries_no_live_markup(rich):
    page = render_html(rich)
    assert page.count("<script>") == 1  # the page's own chart script only
    assert not re.search(r"<img\b", page, re.I)
    assert "&lt;script&gt;console.log(&#x27;pwned-1&#x27;)&lt;/script&gt;" in page
    assert "&amp;lt;" not in page  # escaped once, not twice
    assert "\u202e" not in page and "{U+202E}" in page


@pytest.mark.parametrize("text", [HOSTILE, "# heading", "- item", "1. item", "> quote",
                                  "a_b *c* _d_ ~e~ [f](g) `h` <i> &amp; \\", "~~x~~"])
def test_md_escape_leaves_no_syntax(text):
    escaped = md_escape(text)
    assert "<" not in escaped.replace("&lt;", "") or not re.search(r"<[A-Za-z/!?]", escaped)
    for char in "`*[]|~":
        assert re.search(rf"(?<!\\)\{char}", escaped) is None, (char, escaped)
    assert "a_b" in md_escape("a_b")  # intraword underscores stay readable


def test_visible_marks_control_and_format_characters():
    assert visible("a\u202eb\u200bc\x00d\ne") == "a{U+202E}b{U+200B}c{U+0000}d e"


# ------------------------------------------------------------------ formatting
def test_no_scientific_notation_or_fractional_days():
    summary = fixed_summary()
    summary["kept"]["total"]["tokens"] = 129_327  # the demo's size: thousands of epochs
    report = build_report(summary, ReportConfig(), {"kept": None, "tokens": None})
    md = render_markdown(report)
    assert not re.search(r"\d\.?\d*e[+-]\d", md.replace("model FLOPs", "")
                         .split("## 6. Compute")[0])  # FLOPs keep engineering notation (1.86e18)
    assert "e+" not in md
    assert not re.search(r"\d+\.\d+ days", md)
    page = render_html(report)
    assert "e+" not in page


@pytest.mark.parametrize("days,text", [(0.0001, "1 minute"), (0.01, "14 minutes"), (0.2, "4.8 hours"),
                                       (1.5, "36 hours"), (67.69, "68 days"), (1234.4, "1,234 days")])
def test_duration(days, text):
    assert duration(days) == text


def test_histogram_labels_exact_and_not_overlapping():
    edges = [0] + [2 ** i for i in range(4, 18)]
    tokens = {"status": "ok", "histogram": {"edges": edges, "counts": [1] * len(edges)}}
    svg = histogram_chart(tokens)
    labels = re.findall(rf'<text x="([0-9.]+)" y="{H - PAD_B + 14}" text-anchor="middle">([^<]+)</text>',
                        svg)
    assert labels and all(re.fullmatch(r"[0-9,]+", text) for _, text in labels)  # no "1.02K"
    assert "65,536" in [text for _, text in labels] or "131,072" in [text for _, text in labels]
    spans = sorted((float(x) - len(t) * CHAR_PX / 2, float(x) + len(t) * CHAR_PX / 2) for x, t in labels)
    assert all(a[1] < b[0] for a, b in zip(spans, spans[1:]))


def test_thin_labels_keeps_first_and_drops_collisions():
    kept = thin_labels([(10, "1,000,000"), (20, "2,000,000"), (200, "3")])
    assert [t for _, t in kept] == ["1,000,000", "3"]


# ------------------------------------------------------------------ tuning views
def test_tuning_section_and_charts(rich):
    tuning = rich["tuning"]
    assert tuning["status"] == "ok"
    by = {(s["stage"], s["lang"], s["statistic"]): s for s in tuning["statistics"]}
    assert by[("quality", "en", "word_count")]["docs_beyond"] == 4 + 6
    assert by[("quality", "en", "mean_word_length")]["docs_beyond"] == 3 + 1
    assert by[("quality", "en", "stop_words")]["docs_beyond"] == 10
    assert by[("repetition", "en", "dup_line_frac")]["docs_beyond"] == 3 + 7
    assert by[("repetition", "zh", "dup_line_frac")]["docs"] == 200
    md = render_markdown(rich)
    assert "## 12. Tuning" in md and "| word_count | gopher_word_count | rejects < 50 or > 100,000 |" in md
    page = render_html(rich)
    for i in range(len(tuning["statistics"])):
        chart = re.search(rf'<svg class="chart" id="chart-tuning-{i}".*?</svg>', page).group(0)
        assert "stroke-dasharray" in chart  # the threshold is marked
    assert 'fill="#e45756"' in re.search(r'id="chart-tuning-0".*?</svg>', page).group(0)


def test_malformed_statistics_are_skipped_not_crashing():
    summary = fixed_summary()
    summary["reports"]["quality"] = {"statistics": {"en": {"x": {"edges": [0, 1], "counts": [1, 2, 3]},
                                                           "y": {}, "z": None,
                                                           "w": {"edges": ["a", "b"], "counts": [1]},
                                                           "v": {"edges": [0, 1], "counts": [-1]}}}}
    report = build_report(summary, ReportConfig(), {})
    assert report["tuning"]["status"] == "not run"


# ------------------------------------------------------------------ first screen
def test_tokenizer_and_demo_resources_on_the_first_screen(rich):
    md = render_markdown(rich)
    first = md.split("## 1. Funnel")[0]
    assert "bundled demo resources" in first
    assert "demo domain blocklist: 1 entry (unsafe-demo.example.com)" in first
    assert "safety.domain_lists.0.path, bundled:configs/lists/domains/demo.txt" in first
    assert "GSM8K sample: the first 20 of the 1,319 test items" in first
    assert "use a real blocklist" in first
    assert "sentencepiece" in first and "vocab 32,000" in first and "ab" * 32 in first
    assert "artefacts/tokenizer.model" in first
    assert "token counts with your tokenizer may differ" in first
    assert "trained vs reference tokenizer" in first and "0.93" in first
    page = render_html(rich)
    assert page.index("bundled demo resources") < page.index("1. Funnel")


def test_no_demo_notice_without_demo_resources():
    md = render_markdown(build_report(fixed_summary(), ReportConfig(), {}))
    assert "demo resources" not in md


# ------------------------------------------------------------------ per language
def test_languages_show_tokens_rule_sets_and_unjudged(rich):
    rows = {r["lang"]: r for r in rich["languages"]["languages"]}
    assert rows["en"]["tokens_in"] == 7_000_000_000 and rows["en"]["tokens"] == 6_000_000_000
    assert rows["zh"]["rule_sets"] == {"quality": None, "repetition": None}
    assert rows["zh"]["unjudged_docs"] == 200
    assert rows["en"]["top_rejections"] == [{"what": "dedup", "docs": 100, "kind": "stage"}]
    md = render_markdown(rich)
    assert "| zh | 200 | 200 | 4,000,000,000 | 4,000,000,000 | - | quality: none, repetition: none | " \
           "200 docs, 4,000,000,000 tokens |" in md
    # absent keys say n/a, never 0
    plain = render_markdown(build_report(fixed_summary(), ReportConfig(), {}))
    assert "| zh | 200 | 200 | n/a | 4,000,000,000 | - | n/a | n/a |" in plain


def test_mix_section_rendered(rich):
    md = render_markdown(rich)
    assert "## 11. Per-language budgets" in md and "| zh | 40 % |" in md


# ------------------------------------------------------------------ sample rows from Parquet
def _write_rejected(output: Path, rows: list[dict]) -> None:
    (output / "rejected").mkdir(parents=True)
    table = pa.Table.from_pylist(rows)
    pq.write_table(table, output / "rejected" / "part-00000-of-00002.parquet")
    pq.write_table(table.slice(0, 1), output / "rejected" / "part-00001-of-00002.parquet")


def test_sample_rejections_caps_and_cuts(tmp_path):
    rows = [{"id": f"q{i}", "url": f"https://x/{i}", "source": "s", "stage": "quality",
             "reason": "gopher_stop_words", "detail": "", "bytes": 10, "text": "x" * 500, "lang": "en",
             "meta": "{}"} for i in range(5)]
    rows.append({"id": "r0", "url": None, "source": "s", "stage": "read", "reason": "empty_record",
                 "detail": "", "bytes": 0, "text": None, "lang": None, "meta": "{}"})
    _write_rejected(tmp_path, rows)
    picked = sample_rejections(str(tmp_path), per_reason=3, chars=160, batch_rows=2)
    assert [(p["stage"], p["reason"], len(p["rows"])) for p in picked] == [
        ("quality", "gopher_stop_words", 3), ("read", "empty_record", 1)]
    assert [r["id"] for r in picked[0]["rows"]] == ["q0", "q1", "q2"]
    assert picked[0]["rows"][0]["text"] == "x" * 160 + "…"
    assert picked[1]["rows"][0] == {"id": "r0", "url": None, "text": None}
    assert sample_rejections(str(tmp_path / "nowhere")) == []
    # with the summary's reasons known, the scan stops once each has its rows: the same pick
    early = sample_rejections(str(tmp_path), per_reason=1, chars=160, batch_rows=1,
                              expected={("quality", "gopher_stop_words")})
    assert [(p["reason"], [r["id"] for r in p["rows"]]) for p in early] == [("gopher_stop_words", ["q0"])]


def test_written_report_shows_escaped_samples(tmp_path):
    _write_rejected(tmp_path, [{"id": "h1", "url": "https://x/<script>", "source": "s",
                                "stage": "quality", "reason": "gopher_stop_words", "detail": "",
                                "bytes": 1, "text": "<script>alert('x')</script> body", "lang": "en",
                                "meta": "{}"}])
    write_reports(None, str(tmp_path), fixed_summary())
    md = (tmp_path / "report.md").read_text()
    assert "## 13. Sample rejected rows" in md
    assert "| quality: gopher_stop_words | `h1` | https://x/&lt;script> | &lt;script>alert('x')&lt;/script> body |" in md
    page = (tmp_path / "report.html").read_text()
    assert page.count("<script>") == 1 and "&lt;script&gt;alert(&#x27;x&#x27;)" in page


def test_unreadable_rejected_rows_do_not_fail_the_report(tmp_path):
    (tmp_path / "rejected").mkdir()
    (tmp_path / "rejected" / "part-00000-of-00001.parquet").write_bytes(b"not parquet")
    write_reports(None, str(tmp_path), fixed_summary())
    md = (tmp_path / "report.md").read_text()
    assert "_not run_: could not read rejected/:" in md
