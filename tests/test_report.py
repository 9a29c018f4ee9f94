"""Token-budget report: formulas pinned to published numbers, report numbers for a fixed summary,
the plan/report verbs (errors, speed, re-render)."""
from __future__ import annotations

import json
import math
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pipeline.report import formulas as f
from pipeline.report import rerender, write_reports
from pipeline.report.budget import build_report, budget_section
from pipeline.report.config import ReportConfig
from pipeline.report.render_html import render_html
from pipeline.report.render_md import render_markdown

PROJECT = Path(__file__).resolve().parent.parent


# ------------------------------------------------------------------ formulas vs publications
@pytest.mark.parametrize("params,flops,tokens", [r for r in f.CHINCHILLA_TABLE3 if r[0] != 67e9])
def test_chinchilla_table3_rows_within_2_percent(params, flops, tokens):
    assert f.chinchilla_tokens(params) == pytest.approx(tokens, rel=0.02)
    assert f.chinchilla_compute(params) == pytest.approx(flops, rel=0.02)
    assert f.chinchilla_params(flops) == pytest.approx(params, rel=0.02)


def test_chinchilla_gopher_row_compute_first():
    # The 67B row is Gopher's budget: params from FLOPs within 2 %; its printed 1.5T contradicts
    # C = 6ND (5.76e23 / (6 * 67e9) = 1.43T), so tokens are checked against C / (6 N) instead.
    assert f.chinchilla_params(5.76e23) == pytest.approx(67e9, rel=0.02)
    assert f.chinchilla_tokens(67e9) == pytest.approx(5.76e23 / (6 * 67e9), rel=0.03)


def test_chinchilla_constants_are_the_table3_fit():
    a, g = f.fit_table3()
    assert a == pytest.approx(f.CHINCHILLA_A, rel=1e-6)
    assert g == pytest.approx(f.CHINCHILLA_G, rel=1e-6)
    assert 0.488 <= a <= 0.502  # the paper's Approach 1 confidence interval for a


def test_twenty_tokens_per_param_reading():
    for params in (1e9, 10e9, 70e9):
        assert 19.5 <= f.chinchilla_tokens(params) / params <= 21.5
    assert f.TOKENS_PER_PARAM_RULE * 70e9 == 1.4e12  # Chinchilla: 70B params, 1.4T tokens


def test_kaplan_bound():
    assert f.kaplan_min_tokens(1e9) == pytest.approx(5e3 * 1e9 ** 0.74)
    assert f.kaplan_min_tokens(1e9) == pytest.approx(2.29e10, rel=0.01)


@pytest.mark.parametrize("epochs,ratio", [(2, 1.97), (4, 3.73), (8, 6.62), (16, 10.58), (40, 15.17)])
def test_muennighoff_effective_data(epochs, ratio):
    assert f.effective_data(1.0, epochs) == pytest.approx(ratio, abs=0.006)


def test_muennighoff_limit_and_no_repeat():
    assert f.effective_data(1.0, 1e6) == pytest.approx(1 + f.R_STAR_D, rel=1e-6)  # -> 16.39
    assert round(1 + f.R_STAR_D, 2) == 16.39
    assert f.effective_data(5.0, 0.5) == 5.0


def test_repetition_penalty_grows_with_epochs():
    small = f.repetition_penalty(7e9, 140e9, 70e9)["loss_penalty_pct"]
    large = f.repetition_penalty(7e9, 140e9, 5e9)["loss_penalty_pct"]
    assert 0 < small < 0.1 < large  # 2 epochs: negligible; 28 epochs: visible
    assert f.repetition_penalty(7e9, 140e9, 200e9)["loss_penalty_pct"] == 0.0


@pytest.mark.parametrize("epochs,word", [(0.5, "fine"), (1.0, "fine"), (3.9, "negligible"),
                                         (4.0, "negligible"), (10, "diminishing"),
                                         (16.5, "get more data")])
def test_verdict_bands(epochs, word):
    text, source = f.verdict(epochs)
    assert word in text and source


def test_worked_training_time_narayanan():
    # Narayanan et al. 2021: GPT-3 175B, 300B tokens, 1024 A100 at 140 TFLOP/s -> ~34 days;
    # 1T params, 450B tokens, 3072 A100 at 163 TFLOP/s -> ~84 days.
    days = f.train_seconds(175e9, 300e9, 1024, 312e12, 140 / 312) / 86400
    assert days == pytest.approx(34, rel=0.02)
    days = f.train_seconds(1e12, 450e9, 3072, 312e12, 163 / 312) / 86400
    assert days == pytest.approx(84, rel=0.02)


def test_flops_gopher_units_memory():
    assert f.train_flops(70e9, 1.4e12) == pytest.approx(5.88e23)
    assert f.train_flops(70e9, 1.4e12, recompute=True) == pytest.approx(7.84e23)
    assert f.gopher_units(5.76e23) == 1.0
    mem = f.train_memory(7e9)
    assert (mem.bytes_16, mem.bytes_18, mem.bytes_20) == (112e9, 126e9, 140e9)


@pytest.mark.parametrize("text,value", [("1.4T", 1.4e12), ("300B", 3e11), ("7B", 7e9),
                                        ("125M", 1.25e8), ("1000", 1000.0), ("3e11", 3e11), (7, 7.0)])
def test_parse_size(text, value):
    assert f.parse_size(text) == value


@pytest.mark.parametrize("bad", ["7X", "-5", "0", "", "B", "1.4TT", "nan"])
def test_parse_size_rejects(bad):
    with pytest.raises(ValueError):
        f.parse_size(bad)


# ------------------------------------------------------------------ report on a fixed summary
def fixed_summary() -> dict:
    """A hand-made summary: 10B kept tokens at exactly 4 bytes/token."""
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
        "reports": {"dedup": {"minhash": {"bands": 18, "rows": 7, "num_perm": 128,
                                          "threshold": 0.8, "s_curve_threshold": 0.6617,
                                          "p_candidate_at_threshold": 0.985542,
                                          "exact": {"docs_removed": 100, "bytes_removed": 8e9},
                                          "near": {"docs_removed": 0, "bytes_removed": 0},
                                          "cluster_sizes": {"1": 700, "2": 100}}}},
    }


@pytest.fixture()
def report() -> dict:
    disk = {"kept": 16_000_000_000, "tokens": 20_000_000_000}
    return build_report(fixed_summary(), ReportConfig(models=["1B", "7B"]), disk, "/x")


def test_funnel_numbers(report):
    funnel = report["funnel"]
    assert funnel["bytes_per_token"] == 4.0
    by = {s["stage"]: s for s in funnel["stages"]}
    assert by["read"]["tokens_in"] is None and by["read"]["tokens_out"] is None  # raw bytes
    assert by["extract"]["tokens_in"] is None and by["extract"]["tokens_out"] == 12_000_000_000
    assert by["dedup"]["rules"] == [{"rule": "exact_duplicate", "docs": 100, "bytes": 8_000_000_000,
                                     "tokens": 2_000_000_000, "tokens_estimated": True}]
    assert by["extract"]["rules"][0]["tokens"] is None  # rejected as HTML: not converted
    assert by["tokenize"]["tokens_out"] == 10_000_000_000
    assert by["tokenize"]["tokens_out_estimated"] is False
    assert by["read"]["rules"][1]["rule"] == "dead letter: bad json"


def test_tokens_and_compression_numbers(report):
    tokens = report["tokens"]
    assert tokens["total_tokens"] == 10_000_000_000
    assert [(r["name"], r["tokens"], r["share"]) for r in tokens["by_lang"]] == [
        ("en", 6_000_000_000, 0.6), ("zh", 4_000_000_000, 0.4)]
    assert tokens["histogram"]["counts"] == [0, 300, 500]
    comp = report["compression"]
    assert comp["total"]["chars_per_token"] == 3.2
    assert comp["total"]["bytes_per_token"] == 4.0
    assert comp["total"]["tokens_per_char"] == 0.3125
    # fertility over spaced languages only: en 6e9 tokens / (8e9 - 100) words
    assert comp["total"]["tokens_per_word"] == 0.75
    assert comp["by_lang"]["zh"]["tokens_per_word"] is None
    assert comp["by_lang"]["zh"]["tokens_per_char"] == 1.0
    assert "compress" in comp["baichuan_note"]


def test_storage_numbers(report):
    rows = {r["item"]: r for r in report["storage"]["rows"]}
    assert rows["kept Parquet on disk"]["bytes_per_token"] == 1.6
    assert rows["kept Parquet on disk"]["gb_per_billion_tokens"] == 1.6
    assert rows["tokenized binary"]["bytes_per_token"] == 2.0
    assert rows["raw input files"]["bytes"] == 30_000_000_000
    assert rows["extracted text"]["bytes"] == 48_000_000_000


def test_budget_numbers(report):
    budget = report["budget"]
    assert budget["unique_tokens"] == 1e10
    one_b, seven_b = budget["models"]
    assert one_b["chinchilla_tokens"] == 20145400000.0
    assert one_b["epochs"] == 2.015
    assert one_b["effective_tokens"] == 19818100000.0
    assert one_b["verdict"].startswith("repeat <= 4 epochs")
    assert seven_b["epochs"] == 14.31
    assert seven_b["verdict"].startswith("4-16")
    assert seven_b["flops_6nd"] == 6.01171e21
    assert seven_b["memory_gb"] == {"16": 112.0, "18": 126.0, "20": 140.0}
    assert seven_b["min_gpus_for_states"] == 2  # 112 GB over 80 GB H100s
    lo, hi = seven_b["days_range"]
    assert lo < seven_b["days"] < hi


def test_dedup_section_curve(report):
    dedup = report["dedup"]
    point = {p["jaccard"]: p["p_candidate"] for p in dedup["s_curve"]}
    assert point[0.8] == pytest.approx(1 - (1 - 0.8 ** 7) ** 18, abs=1e-6)
    assert point[0.0] == 0.0 and point[1.0] == 1.0


def test_sections_say_not_run_when_absent():
    summary = fixed_summary()
    summary["kept"] = {"total": {"docs": 3, "bytes": 10, "chars": 10, "tokens": 0, "words": 2,
                                 "docs_with_tokens": 0}, "by_lang": {}, "by_source": {},
                       "length_edges": [0, 16], "token_hist": [0, 0], "char_hist": [3, 0]}
    summary["reports"] = {}
    report = build_report(summary, ReportConfig(), {"kept": None, "tokens": None})
    for key in ("tokens", "compression", "budget", "dedup", "decontamination"):
        assert report[key]["status"] == "not run", key
    md = render_markdown(report)
    assert md.count("_not run_") >= 5
    page = render_html(report)
    assert "not run" in page and "chart-scurve" not in page


def test_report_deterministic_and_renders(report):
    again = build_report(fixed_summary(), ReportConfig(models=["1B", "7B"]),
                         {"kept": 16_000_000_000, "tokens": 20_000_000_000}, "/x")
    assert json.dumps(report, sort_keys=True) == json.dumps(again, sort_keys=True)
    md = render_markdown(report)
    assert "| dedup | exact_duplicate | 100 | 8 GB | ~2,000,000,000 (est.) |" in md
    page = render_html(report)
    for chart in ("chart-funnel", "chart-epochs", "chart-lengths", "chart-scurve"):
        assert f'id="{chart}"' in page
    assert "http://" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")


def test_write_and_rerender(tmp_path):
    summary = fixed_summary()
    written = write_reports(None, str(tmp_path), summary)
    assert written == ["report.json", "report.md", "report.html"]
    assert summary["report_files"] == written
    data = json.loads((tmp_path / "report.json").read_text())
    assert data["schema_version"] == 1
    (tmp_path / "report.md").unlink()
    (tmp_path / "report.html").write_text("stale")
    assert rerender(str(tmp_path)) == ["report.md", "report.html"]
    assert "Token-budget report" in (tmp_path / "report.html").read_text()
    data["schema_version"] = 99
    (tmp_path / "report.json").write_text(json.dumps(data))
    with pytest.raises(ValueError, match="schema_version"):
        rerender(str(tmp_path))


def test_budget_section_rejects_bad_input():
    with pytest.raises(ValueError, match="allowed"):
        budget_section(1e9, ["7B"], "tpu", 8, 0.4, (0.3, 0.55))
    with pytest.raises(ValueError, match="positive"):
        budget_section(-1, ["7B"], "h100", 8, 0.4, (0.3, 0.55))


# ------------------------------------------------------------------ CLI
def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pipeline", *args], cwd=PROJECT,
                          capture_output=True, text=True, timeout=60)


def test_plan_answers_fast():
    started = time.perf_counter()
    result = _cli("plan", "--tokens", "1.4T", "--model", "125M", "--model", "1B", "--model", "7B",
                  "--model", "70B", "--gpus", "64", "--gpu", "h100", "--mfu", "0.4")
    elapsed = time.perf_counter() - started
    assert result.returncode == 0, result.stderr
    assert "| 70B |" in result.stdout and "Chinchilla" in result.stdout
    assert elapsed < 1.0 or pytest.fail(f"plan took {elapsed:.2f} s")


def test_plan_in_process_under_a_second():
    from pipeline.cli import main

    started = time.perf_counter()
    assert main(["plan", "--tokens", "300B", "--model", "7B", "--json"]) == 0
    assert time.perf_counter() - started < 1.0


@pytest.mark.parametrize("args,needle", [
    (["--tokens", "-5B"], "positive"),
    (["--tokens", "-5"], "positive"),
    (["--tokens", "5B", "--gpu", "tpu"], "allowed: a10, a100, a10g, h100, h200, v100"),
    (["--tokens", "5B", "--model", "7X"], "cannot parse size '7X'"),
    (["--tokens", "5B", "--unique-tokens", "6B"], "exceeds"),
    (["--tokens", "5B", "--mfu", "1.5"], "MFU"),
])
def test_plan_errors(args, needle):
    result = _cli("plan", *args)
    assert result.returncode == 2
    assert needle in result.stderr


def test_plan_json_matches_library():
    result = _cli("plan", "--tokens", "300B", "--model", "70B", "--json")
    data = json.loads(result.stdout)
    row = data["models"][0]
    assert row["epochs"] == pytest.approx(f.chinchilla_tokens(70e9) / 3e11, rel=1e-3)
    assert math.isclose(row["effective_tokens"],
                        f.effective_data(3e11, f.chinchilla_tokens(70e9) / 3e11), rel_tol=1e-5)


def test_help_and_report_verb(tmp_path):
    for verb in ("plan", "report"):
        assert _cli(verb, "--help").returncode == 0
    missing = _cli("report", str(tmp_path))
    assert missing.returncode == 2 and "report.json" in missing.stderr
    write_reports(None, str(tmp_path), fixed_summary())
    (tmp_path / "report.md").unlink()
    ok = _cli("report", str(tmp_path))
    assert ok.returncode == 0, ok.stderr
    assert (tmp_path / "report.md").exists()
